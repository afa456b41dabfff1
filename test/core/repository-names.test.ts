// Which model a folder is, under --watch: a model keeps its name while its folder changes. Two
// folders claiming one name, a broken edit of a folder whose name differs from its config's, and a
// new version whose config names another model are problems of that folder or version — reported
// once, while the model that served keeps serving — never a rename, a removal or a model that
// flips between two configs on every scan. Start-up and `check` reject the same layouts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadRepository } from '../../src/config/load.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { call } from '../helpers/http.js';
import { sample } from '../helpers/prom.js';
import { BOOK_MODEL, bookModelYaml, tempDir } from '../helpers/paths.js';
import { BOOK_ROW, bookConfig, labelsOf, writeBookVersion } from './fixtures.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await sleep(50);
  }
}

/** A version folder <repo>/<folder>/<v> whose config names the model `name`. */
function writeNamedVersion(repo: string, folder: string, v: number, name: string, extra = ''): string {
  const dir = join(repo, folder, String(v));
  mkdirSync(dir, { recursive: true });
  copyFileSync(BOOK_MODEL, join(dir, 'model.onnx'));
  writeFileSync(join(dir, 'model.yaml'), bookConfig(name, v, extra));
  return dir;
}

type Status = { state: string; serving_version?: number; versions: Array<{ version: number; state: string; reason?: string }> };

describe('model names under --watch', () => {
  let server: RunningServer;
  let repo: string;
  const logs: string[] = [];
  const status = async (name: string) => (await call(`${server.url}/models/${name}`)).body as Status;
  // (delta is added by the last test.)
  const reasons = async (name: string) => (await status(name)).versions.map((v) => v.reason ?? '').join('\n');
  const names = async () => ((await call(`${server.url}/models`)).body.models as Array<{ name: string }>).map((m) => m.name).sort();
  const predict = async (name: string) => (await call(`${server.url}/models/${name}/predict`, { body: BOOK_ROW })).body.prediction as string;

  before(async () => {
    repo = tempDir();
    writeBookVersion(repo, 'alpha', 1);
    writeNamedVersion(repo, 'book-folder', 1, 'named');
    writeBookVersion(repo, 'multi', 1);
    const stream = new Writable({ write(chunk: Buffer, _e, done) { logs.push(chunk.toString()); done(); } });
    server = await startServer({ repo, port: 0, workers: 1, watch: { pollMs: 100, debounceMs: 50, settleMs: 200 }, logger: { level: 'warn', stream } });
  });
  after(async () => {
    await server?.shutdown();
  });

  test('a second folder with a served name is reported once and not served: the model does not flip between the two', async () => {
    const served = await predict('alpha');
    assert.ok([labelsOf(1).rain, labelsOf(1).dry].includes(served));
    const loads = async () => sample((await call(`${server.url}/metrics`)).text, 'modelserve_model_loads_total', { model: 'alpha', outcome: 'ok' }) ?? 0;
    const loadsBefore = await loads();
    writeNamedVersion(repo, 'alpha-copy', 1, 'alpha');
    await until(async () => /alpha-copy\/1\/model\.yaml: name: model name 'alpha' is already used by .*alpha\/1\/model\.yaml; this folder is not served/.test(await reasons('alpha')), 'the clash shown');
    // Twenty scans later: still the first folder's model, loaded no more times.
    for (let i = 0; i < 10; i++) {
      assert.equal(await predict('alpha'), served);
      await sleep(200);
    }
    assert.equal(await loads(), loadsBefore);
    assert.equal((await status('alpha')).state, 'ready');
    assert.equal(logs.filter((l) => l.includes("model name 'alpha' is already used")).length, 1, 'logged once');
  });

  test("a broken edit of a folder named otherwise than its config keeps the model and its name: the previous load serves", async () => {
    writeFileSync(join(repo, 'book-folder', '1', 'model.yaml'), 'fields: [unclosed');
    await until(async () => /book-folder\/1\/model\.yaml.*not valid YAML/s.test(await reasons('named')), 'the YAML problem shown on the model');
    assert.equal((await status('named')).serving_version, 1);
    assert.equal((await call(`${server.url}/models/named/predict`, { body: BOOK_ROW })).status, 200);
    assert.ok(!(await names()).includes('book-folder'), 'no model named after the folder');
  });

  // Its config, broken but still saying `name: keeper`, was read as none: the moved folder was a new model named after
  // it ('keeper-moved', failed) and 'keeper' was removed, though its previous load serves through any broken edit.
  test("a folder whose config is broken but still names its model, renamed: the model keeps its name, and its previous load serves", async () => {
    writeNamedVersion(repo, 'keeper', 1, 'keeper');
    await until(async () => (await call(`${server.url}/models/keeper/predict`, { body: BOOK_ROW })).status === 200, 'keeper served');
    const config = join(repo, 'keeper', '1', 'model.yaml');
    writeFileSync(config, bookConfig('keeper', 1).replace('type: number', 'type: numbr'));
    await until(async () => /keeper\/1\/model\.yaml: fields\.temp_c\.type/.test(await reasons('keeper')), 'the problem shown');
    renameSync(join(repo, 'keeper'), join(repo, 'keeper-moved'));
    const shown = async () => (await call(`${server.url}/models/keeper`)).text;
    await until(async () => /keeper-moved\/1\/model\.yaml: fields\.temp_c\.type/.test(await shown()), `the moved folder's problem shown on keeper: ${await shown()}`);
    assert.ok(!(await names()).includes('keeper-moved'), 'no model named after the folder');
    assert.equal((await status('keeper')).serving_version, 1, await shown());
    assert.equal((await call(`${server.url}/models/keeper/predict`, { body: BOOK_ROW })).status, 200);
    // Fixed: served from its new folder, under its name.
    writeFileSync(join(repo, 'keeper-moved', '1', 'model.yaml'), bookConfig('keeper', 1));
    await until(async () => (await reasons('keeper')) === '', 'keeper reloaded');
    assert.equal((await call(`${server.url}/models/keeper/predict`, { body: BOOK_ROW })).status, 200);
  });

  test('a new version whose config names another model is a problem of that version: the model is not renamed', async () => {
    writeNamedVersion(repo, 'multi', 2, 'other');
    await until(async () => /multi\/2\/model\.yaml: name: names the model 'other', but this model folder serves 'multi'/.test(await reasons('multi')), 'the version problem shown');
    assert.equal((await status('multi')).serving_version, 1);
    assert.equal((await call(`${server.url}/models/multi/predict`, { body: BOOK_ROW })).status, 200);
    assert.equal((await call(`${server.url}/models/other/predict`, { body: BOOK_ROW })).status, 404);
  });

  test('default: true added to a model, then moved to another: POST /predict follows it', async () => {
    const defaultModel = async () => (await call(`${server.url}/`)).body.default_model as string | null;
    assert.equal(await defaultModel(), null);
    writeBookVersion(repo, 'delta', 1);
    await until(async () => (await status('delta')).state === 'ready', 'delta served');
    writeFileSync(join(repo, 'alpha', '1', 'model.yaml'), bookConfig('alpha', 1, 'default: true\n'));
    await until(async () => (await defaultModel()) === 'alpha', 'alpha the default');
    const viaDefault = await call(`${server.url}/predict`, { body: BOOK_ROW });
    assert.equal(viaDefault.status, 200, viaDefault.text);
    writeFileSync(join(repo, 'alpha', '1', 'model.yaml'), bookConfig('alpha', 1));
    writeFileSync(join(repo, 'delta', '1', 'model.yaml'), bookConfig('delta', 1, 'default: true\n'));
    await until(async () => (await defaultModel()) === 'delta', 'delta the default');
    assert.equal((await call(`${server.url}/predict`, { body: BOOK_ROW })).headers['x-model-version'], '1');
  });
});

test('start-up (and check) reject versions of one folder that name different models', () => {
  const repo = tempDir();
  writeBookVersion(repo, 'multi', 1, 'version_policy: { all: true }\n');
  writeNamedVersion(repo, 'multi', 2, 'other', 'version_policy: { all: true }\n');
  assert.throws(() => loadRepository(repo), /multi\/2\/model\.yaml: name: version 2 is named 'other' but version 1 of the same model folder 'multi': the versions of a model folder are one model/);
});

test('new pipelines that need each other, added at once, load in one pass over the repository (not one level per pass)', async () => {
  const repo = tempDir();
  writeBookVersion(repo, 'book', 1);
  const server = await startServer({ repo, port: 0, workers: 1, logger: false });
  try {
    const fields = ['temp_c', 'humidity', 'wind_speed_kmph', 'wind_bearing_degree', 'visibility_km', 'pressure_millibars', 'current_weather_condition'];
    const chain = (name: string, next: string) => {
      mkdirSync(join(repo, name));
      writeFileSync(join(repo, name, 'model.yaml'), `pipeline:\n  sequence:\n    - model: ${next}\n`);
    };
    chain('chain-a', 'chain-b');
    chain('chain-b', 'chain-c');
    chain('chain-c', 'book');
    await server.core.reconcile({ force: true });
    const names = ((await call(`${server.url}/models`)).body.models as Array<{ name: string; state: string }>).map((m) => `${m.name}:${m.state}`).sort();
    assert.deepEqual(names, ['book:ready', 'chain-a:ready', 'chain-b:ready', 'chain-c:ready']);
    const row = Object.fromEntries(fields.map((f) => [f, (BOOK_ROW as Record<string, number>)[f]]));
    assert.equal((await call(`${server.url}/models/chain-a/predict`, { body: row })).status, 200);
  } finally {
    await server.shutdown();
  }
});

test('every version of a folder renamed: the model goes by its new name in one pass; a second default added later is the newcomer\'s problem, the served default keeps taking updates', async () => {
  const repo = tempDir();
  writeBookVersion(repo, 'ren', 1);
  writeBookVersion(repo, 'first', 1, 'default: true\n');
  const server = await startServer({ repo, port: 0, workers: 1, logger: false });
  const names = async () => ((await call(`${server.url}/models`)).body.models as Array<{ name: string; state: string }>).map((m) => `${m.name}:${m.state}`).sort();
  try {
    writeFileSync(join(repo, 'ren', '1', 'model.yaml'), bookConfig('renamed', 1));
    await server.core.reconcile({ force: true });
    assert.deepEqual(await names(), ['first:ready', 'renamed:ready']);
    // A second default arrives: refused, named on the newcomer; the first one still reloads its edits.
    writeBookVersion(repo, 'second', 1, 'default: true\n');
    writeFileSync(join(repo, 'first', '1', 'model.yaml'), bookConfig('first', 7, 'default: true\n'));
    await server.core.reconcile({ force: true });
    assert.ok([labelsOf(7).rain, labelsOf(7).dry].includes((await call(`${server.url}/predict`, { body: BOOK_ROW })).body.prediction as string), 'the served default took its edit');
    assert.ok(!(await names()).includes('second:ready'));
    assert.equal((await call(`${server.url}/`)).body.default_model, 'first');
  } finally {
    await server.shutdown();
  }
});

test('a served model that also says default: true while another is the default: its load is a 400 naming its config, what it served keeps serving, POST /predict stays on the default; moving the mark in one pass moves the default', async () => {
  const repo = tempDir();
  writeBookVersion(repo, 'first', 1, 'default: true\n');
  writeBookVersion(repo, 'second', 1);
  const server = await startServer({ repo, port: 0, workers: 1, logger: false });
  const load = (name: string) => call(`${server.url}/v2/repository/models/${name}/load`, { method: 'POST' });
  const predict = async (path: string) => (await call(`${server.url}${path}`, { body: BOOK_ROW })).body.prediction as string;
  try {
    // second's edit (labels of 'version 5') marks it default too: before, the load answered 200 and
    // both models said default, while POST /predict went on answering from first.
    writeFileSync(join(repo, 'second', '1', 'model.yaml'), bookConfig('second', 5, 'default: true\n'));
    const refused = await load('second');
    assert.equal(refused.status, 400, refused.text);
    assert.equal(refused.body.code, 'MS_ERR_MODEL_LOAD_FAILED');
    assert.match(refused.body.error as string, /second\/1\/model\.yaml: default: only one model may be the default; first already is/);
    assert.ok([labelsOf(1).rain, labelsOf(1).dry].includes(await predict('/models/second/predict')), 'second keeps its previous config');
    assert.equal((await call(`${server.url}/`)).body.default_model, 'first');
    // The mark moved in one pass (first's edit read with second's): second becomes the default.
    writeFileSync(join(repo, 'first', '1', 'model.yaml'), bookConfig('first', 1));
    await server.core.reconcile({ force: true });
    assert.equal((await call(`${server.url}/`)).body.default_model, 'second');
    assert.ok([labelsOf(5).rain, labelsOf(5).dry].includes(await predict('/predict')), 'POST /predict answered by second as edited');
  } finally {
    await server.shutdown();
  }
});

test('without --watch, the repository API\'s load of a model whose folder now names another model: 400 naming the file and both names, the model keeps serving; a load of the new name renames it, as --watch does', async () => {
  const repo = tempDir();
  writeBookVersion(repo, 'book', 1);
  writeBookVersion(repo, 'multi', 1);
  writeBookVersion(repo, 'multi', 2);
  const server = await startServer({ repo, port: 0, workers: 1, logger: false });
  const load = (name: string) => call(`${server.url}/v2/repository/models/${name}/load`, { method: 'POST' });
  const names = async () => ((await call(`${server.url}/models`)).body.models as Array<{ name: string; state: string }>).map((m) => `${m.name}:${m.state}`).sort();
  const predict = async (name: string) => (await call(`${server.url}/models/${name}/predict`, { body: BOOK_ROW })).status;
  try {
    // One version of two renamed: a problem of that version (as under --watch), not a rename of the model —
    // though this process has not scanned the repository before.
    writeFileSync(join(repo, 'multi', '2', 'model.yaml'), bookConfig('other', 2));
    const partial = await load('multi');
    assert.equal(partial.status, 400, partial.text);
    assert.match(partial.body.error as string, /multi\/2\/model\.yaml: name: names the model 'other', but this model folder serves 'multi'/);
    assert.deepEqual(await names(), ['book:ready', 'multi:ready']);
    assert.equal(await predict('multi'), 200);

    // Every version renamed: the load names 'book', the folder is 'renamed' now.
    writeFileSync(join(repo, 'book', '1', 'model.yaml'), bookConfig('renamed', 1));
    const refused = await load('book');
    assert.equal(refused.status, 400, refused.text);
    assert.equal(refused.body.code, 'MS_ERR_MODEL_LOAD_FAILED');
    assert.match(refused.body.error as string, /model 'book' failed to load \(version 1 as loaded before keeps serving\): .*book\/1\/model\.yaml: name: names the model 'renamed', not 'book': load 'renamed' to serve this folder under that name/);
    assert.equal(await predict('book'), 200);
    assert.match(((await call(`${server.url}/models/book`)).body as Status).versions.map((v) => v.reason ?? '').join('\n'), /names the model 'renamed'/);
    // Loading the new name renames the model: served under it, the old name gone (one folder, one model).
    const renamed = await load('renamed');
    assert.equal(renamed.status, 200, renamed.text);
    assert.deepEqual(await names(), ['multi:ready', 'renamed:ready']);
    assert.equal(await predict('renamed'), 200);
    assert.equal(await predict('book'), 404);
  } finally {
    await server.shutdown();
  }
});

test('a model.yaml whose model file lies outside its folder (an absolute or ../ path) is reloaded when edited, under --watch and by the repository API\'s load (it was taken for a folder still being copied in: the edit never served)', async () => {
  const repo = tempDir();
  mkdirSync(join(repo, 'shared'));
  copyFileSync(BOOK_MODEL, join(repo, 'shared', 'svc.onnx'));
  const folder = join(repo, 'models', 'book');
  mkdirSync(folder, { recursive: true });
  const write = (model: string, v: number) => writeFileSync(join(folder, 'model.yaml'), bookModelYaml({ name: 'book', model, ...labelsOf(v) }));
  const served = async (server: RunningServer, v: number) => Object.values(labelsOf(v)).includes((await call(`${server.url}/models/book/predict`, { body: BOOK_ROW })).body.prediction as string);
  write(join(repo, 'shared', 'svc.onnx'), 1);
  const watching = await startServer({ repo: join(repo, 'models'), port: 0, workers: 1, logger: false, watch: { pollMs: 100, debounceMs: 50, settleMs: 200 } });
  try {
    assert.ok(await served(watching, 1));
    write('../../shared/svc.onnx', 2);
    await until(() => served(watching, 2), 'the edit served under --watch');
  } finally {
    await watching.shutdown();
  }
  const loading = await startServer({ repo: join(repo, 'models'), port: 0, workers: 1, logger: false });
  try {
    assert.ok(await served(loading, 2));
    write(join(repo, 'shared', 'svc.onnx'), 3);
    const load = await call(`${loading.url}/v2/repository/models/book/load`, { method: 'POST' });
    assert.equal(load.status, 200, JSON.stringify(load.body));
    assert.ok(await served(loading, 3), 'the edit served after the load');
  } finally {
    await loading.shutdown();
  }
});
