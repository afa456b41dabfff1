// Versions, version policies, the repository API (with admin keys) and the memory budget, against
// real servers on real sockets with the book's svc.onnx in numbered version folders.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/server.js';
import { InferenceCore } from '../../src/core/core.js';
import { InProcessRuntime } from '../../src/runtime/in-process.js';
import { call } from '../helpers/http.js';
import { sample, sampleSum } from '../helpers/prom.js';
import { BOOK_MODEL, EXAMPLES, tempDir } from '../helpers/paths.js';
import { BOOK_ROW, bookConfig, labelsOf, writeBookVersion } from './fixtures.js';

/** Each model's state as GET /models lists it. */
const modelStates = async (url: string): Promise<Record<string, string>> =>
  Object.fromEntries((await call(`${url}/models`)).body.models.map((m: { name: string; state: string }) => [m.name, m.state]));

describe('numbered versions and policies', () => {
  let server: RunningServer;
  before(async () => {
    const repo = tempDir();
    writeBookVersion(repo, 'book', 1);
    writeBookVersion(repo, 'book', 2);
    writeBookVersion(repo, 'book', 3, 'version_policy: { specific: [1, 3] }\n');
    writeBookVersion(repo, 'newest', 1);
    writeBookVersion(repo, 'newest', 2);
    // A shared config at the model level; the version folders hold only the ONNX file.
    for (const v of [4, 7]) {
      mkdirSync(join(repo, 'shared', String(v)), { recursive: true });
      copyFileSync(BOOK_MODEL, join(repo, 'shared', String(v), 'model.onnx'));
    }
    writeFileSync(join(repo, 'shared', 'model.yaml'), 'default: true\n' + bookConfig('shared', 4, 'version_policy: { all: true }\n'));
    server = await startServer({ repo, port: 0, workers: 1, logger: false });
  });
  after(async () => {
    await server?.shutdown();
  });

  test('a policy selects versions; each answers with its own version in x-model-version', async () => {
    const info = await call(`${server.url}/models/book`);
    assert.deepEqual(info.body.versions, [{ version: 1, state: 'ready' }, { version: 3, state: 'ready' }]);
    assert.equal(info.body.serving_version, 3);
    for (const v of [1, 3]) {
      const res = await call(`${server.url}/models/book/versions/${v}/predict`, { body: BOOK_ROW });
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-model-version'], String(v));
      assert.equal(res.body.prediction, labelsOf(v).rain);
    }
    const newest = await call(`${server.url}/models/book/predict`, { body: BOOK_ROW });
    assert.equal(newest.headers['x-model-version'], '3');
  });

  test('latest 1 is the default: only the newest version is loaded', async () => {
    const info = await call(`${server.url}/models/newest`);
    assert.deepEqual(info.body.versions, [{ version: 2, state: 'ready' }]);
    const old = await call(`${server.url}/models/newest/versions/1/predict`, { body: BOOK_ROW });
    assert.equal(old.status, 404);
    assert.equal(old.body.code, 'MS_ERR_MODEL_NOT_FOUND');
    assert.match(old.body.detail, /version 1 is on disk but not served by the model's version policy \(latest: 1\); versions served: 2/);
  });

  test('a config at the model level serves its numbered folders; /predict serves the default model', async () => {
    const res = await call(`${server.url}/predict`, { body: BOOK_ROW });
    assert.equal(res.headers['x-model-version'], '7');
    assert.equal(res.body.prediction, labelsOf(4).rain, 'the shared config (labels of 4) applies to every version');
    const info = await call(`${server.url}/models/shared`);
    assert.deepEqual(info.body.versions.map((v: { version: number }) => v.version), [4, 7]);
  });

  test('bad version paths are clear 404s', async () => {
    for (const path of ['/models/book/versions/0/predict', '/models/book/versions/abc/predict', '/models/book/versions/99/predict', '/models/nope/versions/1/predict']) {
      const res = await call(`${server.url}${path}`, { body: BOOK_ROW });
      assert.equal(res.status, 404, path);
      assert.equal(res.body.code, 'MS_ERR_MODEL_NOT_FOUND', path);
    }
  });

  test('the OpenAPI document has each model with its versioned route and the repository API', async () => {
    const doc = (await call(`${server.url}/openapi.json`)).body;
    for (const name of ['book', 'newest', 'shared']) {
      assert.ok(doc.paths[`/models/${name}/predict`], name);
      assert.ok(doc.paths[`/models/${name}/versions/{version}/predict`], name);
    }
    assert.ok(doc.paths['/v2/repository/index']);
    // The documented field schema is the enforced one, implicit float32 bounds included.
    assert.equal(doc.components.schemas.BookRequest.properties.temp_c.maximum, 3.4028234663852886e38);
    assert.equal(doc.components.schemas.BookRequest.properties.temp_c.example, 1);
    const { default: SwaggerParser } = await import('@apidevtools/swagger-parser');
    await SwaggerParser.validate(structuredClone(doc));
  });

  test('metrics carry the model and the version', async () => {
    await call(`${server.url}/models/book/versions/1/predict`, { body: BOOK_ROW });
    const text = (await call(`${server.url}/metrics`)).text;
    assert.equal(sample(text, 'modelserve_model_loaded', { model: 'book', version: '1' }), 1);
    assert.equal(sample(text, 'modelserve_model_loaded', { model: 'book', version: '3' }), 1);
    assert.ok(sampleSum(text, 'modelserve_batch_size_count', { model: 'book', version: '1' }) >= 1);
    assert.ok(sampleSum(text, 'modelserve_requests_total', { model: 'book', version: '1', status: '200' }) >= 1);
  });
});

test('the flat layout is version 1', async () => {
  const server = await startServer({ repo: EXAMPLES, port: 0, workers: 1, logger: false });
  try {
    const res = await call(`${server.url}/predict`, { body: BOOK_ROW });
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-model-version'], '1');
    const info = await call(`${server.url}/models/weather`);
    assert.deepEqual(info.body.versions, [{ version: 1, state: 'ready' }]);
    assert.equal(info.body.config_version, '1.0.0');
  } finally {
    await server.shutdown();
  }
});

describe('repository API with admin keys', () => {
  let server: RunningServer;
  const user = 'user-key-0123456789abcdef';
  const admin = 'admin-key-0123456789abcdef';
  const as = (key: string) => ({ authorization: `Bearer ${key}` });
  before(async () => {
    const repo = tempDir();
    writeBookVersion(repo, 'book', 1);
    server = await startServer({ repo, port: 0, workers: 1, logger: false, app: { auth: { keys: [user], adminKeys: [admin] } } });
  });
  after(async () => {
    await server?.shutdown();
  });

  test('a predict key gets 403, no key 401, an admin key may load and unload', async () => {
    const index = `${server.url}/v2/repository/index`;
    assert.equal((await call(index, { method: 'POST', headers: {} })).status, 401);
    const forbidden = await call(index, { method: 'POST', headers: as(user) });
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.body.code, 'MS_ERR_FORBIDDEN');
    const listed = await call(index, { method: 'POST', headers: as(admin) });
    assert.deepEqual(listed.body, [{ name: 'book', version: '1', state: 'READY', reason: '' }]);
    // Admin keys work everywhere a key does.
    assert.equal((await call(`${server.url}/models/book/predict`, { body: BOOK_ROW, headers: as(admin) })).status, 200);

    const unloaded = await call(`${server.url}/v2/repository/models/book/unload`, { method: 'POST', headers: as(admin) });
    assert.equal(unloaded.status, 200);
    assert.equal(unloaded.body.state, 'unavailable');
    const refused = await call(`${server.url}/models/book/predict`, { body: BOOK_ROW, headers: as(user) });
    assert.equal(refused.status, 503);
    assert.equal(refused.body.code, 'MS_ERR_MODEL_UNAVAILABLE');
    assert.match(refused.body.detail, /unloaded/);

    const loaded = await call(`${server.url}/v2/repository/models/book/load`, { method: 'POST', headers: as(admin) });
    assert.equal(loaded.status, 200, loaded.text);
    assert.equal(loaded.body.serving_version, 1);
    assert.equal((await call(`${server.url}/models/book/predict`, { body: BOOK_ROW, headers: as(user) })).status, 200);
    const missing = await call(`${server.url}/v2/repository/models/nope/load`, { method: 'POST', headers: as(admin) });
    assert.equal(missing.status, 404);
  });

  test('loading a model whose files are now broken answers 400 naming the file, and the previous load keeps serving', async () => {
    const { repo } = server.core;
    writeFileSync(join(repo!, 'book', '1', 'model.yaml'), 'fields: {x: {type: nope}}\n');
    const res = await call(`${server.url}/v2/repository/models/book/load`, { method: 'POST', headers: as(admin) });
    assert.equal(res.status, 400);
    assert.equal(res.body.code, 'MS_ERR_MODEL_LOAD_FAILED');
    assert.match(res.body.error, /book\/1\/model\.yaml/);
    assert.equal((await call(`${server.url}/models/book/predict`, { body: BOOK_ROW, headers: as(user) })).status, 200);
    const info = await call(`${server.url}/models/book`, { headers: as(user) });
    assert.equal(info.body.versions[0].state, 'ready');
    assert.match(info.body.versions[0].reason, /reload failed/);
  });
});

describe('memory budget', () => {
  test('past --max-loaded-models the least recently used model is evicted; a request loads its model once', async () => {
    const repo = tempDir();
    for (const name of ['a', 'b', 'c']) writeBookVersion(repo, name, 1);
    const server = await startServer({ repo, port: 0, workers: 1, logger: false, maxLoadedModels: 2 });
    try {
        assert.deepEqual(await modelStates(server.url), { a: 'ready', b: 'ready', c: 'unavailable' });
      await call(`${server.url}/models/b/predict`, { body: BOOK_ROW }); // a is now the least recently used
      // Concurrent requests for the unloaded model wait for one load.
      const answers = await Promise.all(Array.from({ length: 8 }, () => call(`${server.url}/models/c/predict`, { body: BOOK_ROW })));
      for (const res of answers) assert.equal(res.status, 200, res.text);
      assert.deepEqual(await modelStates(server.url), { a: 'unavailable', b: 'ready', c: 'ready' });
      const text = (await call(`${server.url}/metrics`)).text;
      assert.equal(sample(text, 'modelserve_model_evictions_total', { model: 'a' }), 1);
      assert.equal(sample(text, 'modelserve_model_loads_total', { model: 'c', outcome: 'ok' }), 1);
      assert.equal(sample(text, 'modelserve_model_unloads_total', { model: 'a', reason: 'evicted' }), 1);
      assert.ok((sample(text, 'modelserve_model_load_seconds_count', { model: 'c' }) ?? 0) >= 1);
      // And back: a is loaded again on request, b (now least recent) goes.
      assert.equal((await call(`${server.url}/models/a/predict`, { body: BOOK_ROW })).status, 200);
      assert.deepEqual(await modelStates(server.url), { a: 'ready', b: 'unavailable', c: 'ready' });
      // The docs still describe every model, loaded or not.
      const doc = (await call(`${server.url}/openapi.json`)).body;
      assert.ok(doc.paths['/models/b/predict']);
    } finally {
      await server.shutdown();
    }
  });
});

describe('memory budget and the repository API', () => {
  test('--max-loaded-models 1: a load that has nothing to load (its config broken) evicts no model; an unload of a model not loaded says "unloaded by request" as its requests do, not "loads on the next request"', async () => {
    const repo = tempDir();
    for (const name of ['a', 'b']) writeBookVersion(repo, name, 1);
    const server = await startServer({ repo, port: 0, workers: 1, logger: false, maxLoadedModels: 1 });
    try {
      assert.deepEqual(await modelStates(server.url), { a: 'ready', b: 'unavailable' });
      // A version whose config is broken (its model file is there) fails; the one without a model file is never selected.
      writeBookVersion(repo, 'broken', 1);
      writeFileSync(join(repo, 'broken', '1', 'model.yaml'), 'name: broken\nmodel: model.onnx\nfields: [x]\n');
      mkdirSync(join(repo, 'config-only'));
      writeFileSync(join(repo, 'config-only', 'model.yaml'), bookConfig('config-only', 1).replace('model: model.onnx', 'model: missing.onnx'));
      for (const name of ['broken', 'config-only']) {
        const load = await call(`${server.url}/v2/repository/models/${name}/load`, { method: 'POST' });
        assert.equal(load.status, 400, load.text);
        assert.equal((await modelStates(server.url)).a, 'ready', `after the load of ${name}`);
      }
      // b is not loaded (the budget): an unload keeps it from loading on its next request, and says so.
      const unload = await call(`${server.url}/v2/repository/models/b/unload`, { method: 'POST' });
      assert.equal(unload.status, 200, unload.text);
      assert.deepEqual(unload.body.versions, [{ version: 1, state: 'unavailable', reason: 'unloaded by request' }]);
      const index = await call(`${server.url}/v2/repository/index`, { method: 'POST' });
      assert.deepEqual(index.body.find((e: { name: string }) => e.name === 'b'), { name: 'b', version: '1', state: 'UNAVAILABLE', reason: 'unloaded by request' });
      const res = await call(`${server.url}/models/b/predict`, { body: BOOK_ROW });
      assert.equal(res.status, 503, res.text);
      assert.match(res.body.detail, /model 'b' is unloaded/);
    } finally {
      await server.shutdown();
    }
  });
});

describe('memory budget and monitoring', () => {
  test('looking at models (GET /models, GET /models/{name}, readiness, statistics) does not count as using them: the least recently used by requests is evicted', async () => {
    const repo = tempDir();
    for (const name of ['a', 'b', 'c']) writeBookVersion(repo, name, 1);
    const server = await startServer({ repo, port: 0, workers: 1, logger: false, maxLoadedModels: 2 });
    try {
      assert.equal((await call(`${server.url}/models/b/predict`, { body: BOOK_ROW })).status, 200);
      assert.equal((await call(`${server.url}/models/a/predict`, { body: BOOK_ROW })).status, 200); // b is now the least recently used
      // A monitor looks at everything, b last.
      assert.equal((await call(`${server.url}/models`)).status, 200);
      assert.equal((await call(`${server.url}/`)).status, 200);
      for (const path of ['/models/b', '/v2/models/b/ready', '/v2/models/b/versions/1/ready', '/v2/models/b/versions/1/stats']) {
        assert.equal((await call(`${server.url}${path}`)).status, 200, path);
      }
      assert.equal((await call(`${server.url}/models/c/predict`, { body: BOOK_ROW })).status, 200);
      const states = await modelStates(server.url);
      assert.deepEqual(states, { a: 'ready', b: 'unavailable', c: 'ready' });
    } finally {
      await server.shutdown();
    }
  });

  test('a model the budget left unloaded: ready answers false (400 MS_ERR_MODEL_NOT_READY) and loads nothing; metadata and config load it, as a request does (they need its loaded signature), as README says', async () => {
    const repo = tempDir();
    for (const name of ['a', 'b']) writeBookVersion(repo, name, 1);
    const server = await startServer({ repo, port: 0, workers: 1, logger: false, maxLoadedModels: 1 });
    try {
      assert.deepEqual(await modelStates(server.url), { a: 'ready', b: 'unavailable' });
      for (const path of ['/v2/models/b/ready', '/v2/models/b/versions/1/ready']) {
        const ready = await call(`${server.url}${path}`);
        assert.equal(ready.status, 400, path);
        assert.equal(ready.body.code, 'MS_ERR_MODEL_NOT_READY', path);
      }
      assert.deepEqual(await modelStates(server.url), { a: 'ready', b: 'unavailable' });
      const metadata = await call(`${server.url}/v2/models/b`);
      assert.equal(metadata.status, 200, JSON.stringify(metadata.body));
      assert.deepEqual(metadata.body.versions, ['1']);
      assert.deepEqual(await modelStates(server.url), { a: 'unavailable', b: 'ready' });
      assert.equal((await call(`${server.url}/v2/models/a/config`)).status, 200);
      assert.deepEqual(await modelStates(server.url), { a: 'ready', b: 'unavailable' });
    } finally {
      await server.shutdown();
    }
  });
});

test('the core serves with no HTTP layer at all', async () => {
  const repo = tempDir();
  writeBookVersion(repo, 'book', 2);
  const core = await InferenceCore.start({ repo, runtime: new InProcessRuntime() });
  try {
    const version = await core.acquire('book');
    const [prediction] = await version.predict([{ ...BOOK_ROW }]);
    assert.deepEqual(prediction, { prediction: labelsOf(2).rain });
    // The tensor-level call: encoded inputs and a row count.
    const feeds = version.encode([{ ...BOOK_ROW }, { ...BOOK_ROW }]);
    const outputs = await version.infer(feeds, 2);
    assert.deepEqual(Array.from(outputs.label!.data as BigInt64Array, Number), [1, 1]);
  } finally {
    await core.close();
  }
});

test("--watch: a flat model's folder given a numbered folder still arriving (empty, then its config alone) keeps serving its version 1 until version 2 is complete", async () => {
  const repo = tempDir();
  const dir = join(repo, 'book');
  mkdirSync(dir);
  copyFileSync(BOOK_MODEL, join(dir, 'book.onnx'));
  writeFileSync(join(dir, 'model.yaml'), bookConfig('book', 1).replace('model: model.onnx', 'model: book.onnx'));
  const core = await InferenceCore.start({ repo, runtime: new InProcessRuntime() });
  const served = async () => (await (await core.acquire('book')).predict([{ ...BOOK_ROW }]))[0];
  const versions = () => core.status('book')[0]!.versions.map((v) => [v.version, v.state]);
  try {
    core.watch({ pollMs: 3_600_000, debounceMs: 3_600_000, settleMs: 0 });
    mkdirSync(join(dir, '2'));
    await core.reconcile({});
    assert.deepEqual(versions(), [[1, 'ready']], 'an empty 2/ unloaded version 1, leaving nothing to serve');
    assert.deepEqual(await served(), { prediction: labelsOf(1).rain });
    writeFileSync(join(dir, '2', 'model.yaml'), bookConfig('book', 2));
    await core.reconcile({});
    assert.deepEqual(versions(), [[1, 'ready']]);
    copyFileSync(BOOK_MODEL, join(dir, '2', 'model.onnx'));
    await core.reconcile({});
    assert.deepEqual(versions(), [[2, 'ready']]);
    assert.deepEqual(await served(), { prediction: labelsOf(2).rain });
  } finally {
    await core.close();
  }
});
