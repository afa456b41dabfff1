// The generated OpenAPI document for configs the example repository does not cover.
import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { loadRepository } from '../../src/config/load.js';
import { buildOpenApiDocument } from '../../src/http/openapi.js';
import { operationIdNames } from '../../src/protocols/oip/openapi.js';
import { BOOK_MODEL, EXAMPLES, tempDir, writeBookModelFolder } from '../helpers/paths.js';
import { writeIdentityModels } from '../helpers/onnx.js';
import { assertUniqueOperationIds, openApiContract } from '../helpers/openapi-contract.js';
import { exampleModel, newRepo, WEATHER_ROW, writeConfig } from '../pipelines/helpers.js';
import { freePort } from '../helpers/net.js';
import { startServer } from '../../src/server.js';
import { request } from 'undici';

test('a model whose fields may all be absent: valid OpenAPI 3.0 (no empty `required`)', async () => {
  const dir = writeBookModelFolder();
  const file = join(dir, 'model.yaml');
  writeFileSync(file, readFileSync(file, 'utf8').replaceAll('{ type: number,', '{ type: number, required: false, default: 0,'));
  const configs = loadRepository(dirname(dir));
  assert.ok(configs[0]!.fields.every((f) => !f.required), 'every field optional');
  const doc = buildOpenApiDocument(configs, { title: 'modelserve', version: '0' }) as { components: { schemas: Record<string, { required?: string[] }> } };
  assert.equal(doc.components.schemas.BookWeatherRequest!.required, undefined);
  await SwaggerParser.validate(structuredClone(doc) as never);
});

test('predict operations document every status the route answers, 500 (MS_ERR_INFERENCE) included', () => {
  const configs = loadRepository(dirname(writeBookModelFolder()));
  const doc = buildOpenApiDocument(configs, { title: 'modelserve', version: '0' }) as { paths: Record<string, { post: { responses: Record<string, unknown> } }> };
  for (const path of ['/models/book-weather/predict', '/models/book-weather/versions/{version}/predict']) {
    assert.deepEqual(Object.keys(doc.paths[path]!.post.responses).sort(), ['200', '400', '413', '415', '422', '500', '502', '503', '504', ...(path.includes('{version}') ? ['404'] : [])].sort(), path);
  }
});

test('with auth on, the document says what the key check answers: probes need no key, other operations can be 401, and 429 with rate limits; /v2 errors in their own shape', async () => {
  const { buildApp } = await import('../../src/http/app.js');
  const { InProcessRuntime } = await import('../../src/runtime/in-process.js');
  const key = 'k-openapi-openapi-openapi-1';
  const configs = loadRepository(dirname(writeBookModelFolder()));
  const app = await buildApp({ configs, runtime: new InProcessRuntime({ intraOpThreads: 1, interOpThreads: 1 }), auth: { keys: [key], rateLimits: new Map([[key, { rate: 1, burst: 1 }]]) } });
  try {
    await app.ready();
    type Operation = { security?: unknown[]; responses: Record<string, { headers?: unknown; content?: Record<string, { schema: { $ref?: string } }> }> };
    const doc = (await app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, Record<string, Operation>> };
    await SwaggerParser.validate(structuredClone(doc) as never);
    for (const path of ['/healthz', '/readyz', '/v2/health/live', '/v2/health/ready']) assert.deepEqual(doc.paths[path]!.get!.security, [], `${path} needs no key`);
    const schemaOf = (op: Operation, status: string) => op.responses[status]?.content?.['application/json']?.schema.$ref;
    const predict = doc.paths['/models/book-weather/predict']!.post!;
    assert.equal(schemaOf(predict, '401'), '#/components/schemas/Error');
    assert.equal(schemaOf(predict, '429'), '#/components/schemas/Error');
    assert.deepEqual(predict.responses['429']!.headers, { 'X-Request-Id': { $ref: '#/components/headers/RequestId' }, 'Retry-After': { $ref: '#/components/headers/RateLimitRetryAfter' } });
    assert.equal(schemaOf(doc.paths['/v2/models/book-weather/infer']!.post!, '401'), '#/components/schemas/OipError');
    assert.equal(schemaOf(doc.paths['/models']!.get!, '401'), '#/components/schemas/Error');
    // The repository API: admin keys are never limited; its errors are in the /v2 shape, as sent.
    const load = doc.paths['/v2/repository/models/{name}/load']!.post!;
    assert.equal(load.responses['429'], undefined);
    for (const status of ['400', '401', '403', '404']) assert.equal(schemaOf(load, status), '#/components/schemas/OipError', status);
    // What the document says is what the server sends.
    const refused = await app.inject({ method: 'POST', url: '/models/book-weather/predict', payload: {} });
    assert.equal(refused.statusCode, 401);
    assert.ok(refused.headers['x-request-id']);
    const limited = [];
    for (let i = 0; i < 2; i++) limited.push(await app.inject({ method: 'POST', url: '/models/book-weather/predict', headers: { 'x-api-key': key }, payload: {} }));
    assert.equal(limited[1]!.statusCode, 429);
    assert.match(String(limited[1]!.headers['retry-after']), /^\d+$/);
    assert.deepEqual(Object.keys(refused.json()).sort(), ['code', 'detail', 'request_id']);
    const repo = await app.inject({ method: 'POST', url: '/v2/repository/index' });
    assert.deepEqual(Object.keys(repo.json()).sort(), ['code', 'error', 'request_id']);
  } finally {
    await app.close();
  }
});

test('models whose names give the same PascalCase (my-model, my_model, oip-inference) or end like a versioned route\'s id (my_model_version) keep their own schemas and operation ids', async () => {
  const repo = tempDir();
  for (const name of ['my-model', 'my_model', 'oip-inference', 'my_model_version', 'my_model_byversion']) {
    cpSync(join(EXAMPLES, 'weather'), join(repo, name), { recursive: true });
    let yaml = readFileSync(join(repo, name, 'model.yaml'), 'utf8').replace('name: weather', `name: ${name}`);
    if (name !== 'my-model') yaml = yaml.replace('default: true\n', '');
    // my_model answers the label only: its response schema differs from my-model's.
    if (name === 'my_model') yaml = yaml.replace(/\n {2}rain_probability:\n(?: {4}.*\n)+/, '\n');
    writeFileSync(join(repo, name, 'model.yaml'), yaml);
  }
  const configs = loadRepository(repo);
  assert.deepEqual(configs.map((c) => c.outputs.length).sort(), [1, 2, 2, 2, 2]);
  type Doc = { paths: Record<string, Record<string, { operationId: string; requestBody?: { content: Record<string, { schema: unknown }> }; responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>; components: { schemas: Record<string, { required?: string[]; properties?: Record<string, unknown> }> } };
  const doc = buildOpenApiDocument(configs, { title: 'modelserve', version: '0', defaultModel: configs.find((c) => c.name === 'my-model') }) as Doc;
  await SwaggerParser.validate(structuredClone(doc) as never);
  const refIn = (schema: unknown): string => JSON.stringify(schema).match(/#\/components\/schemas\/([^"]+)/)![1]!;
  for (const config of configs) {
    for (const path of [`/models/${config.name}/predict`, `/models/${config.name}/versions/{version}/predict`, ...(config.name === 'my-model' ? ['/predict'] : [])]) {
      const op = doc.paths[path]!.post!;
      const response = doc.components.schemas[refIn(op.responses['200']!.content!['application/json']!.schema)]!;
      assert.deepEqual(response.required, config.outputs.map((o) => o.field), `${path} documents ${config.name}'s outputs`);
      const request = doc.components.schemas[refIn(op.requestBody!.content['application/json']!.schema)]!;
      assert.deepEqual(Object.keys(request.properties!), config.fields.map((f) => f.name), path);
    }
  }
  // The OIP schemas stay the protocol's own.
  assert.ok(doc.components.schemas.OipInferenceRequest!.properties!.inputs);
  assertUniqueOperationIds(doc);
  // Stable and readable: a model's own ids hold its name; its versioned routes' add _byVersion.
  const id = (path: string) => (doc.paths[path]!.post ?? doc.paths[path]!.get)!.operationId;
  assert.equal(id('/models/my_model_version/predict'), 'predict_my_model_version');
  assert.equal(id('/models/oip-inference/versions/{version}/predict'), 'predict_oip-inference_byVersion');
  // Names whose ids a generated client folds to one method name (my-model and my_model are both
  // predictMyModel; my_model_byversion's predict is my_model's versioned one): the first by name keeps its ids, each other gets _2.
  assert.equal(id('/models/my-model/predict'), 'predict_my-model');
  assert.equal(id('/models/my-model/versions/{version}/predict'), 'predict_my-model_byVersion');
  assert.equal(id('/models/my_model/predict'), 'predict_my_model_2');
  assert.equal(id('/models/my_model/versions/{version}/predict'), 'predict_my_model_2_byVersion');
  assert.equal(id('/v2/models/my_model/versions/{version}/infer'), 'oip_infer_my_model_2_byVersion');
  assert.equal(id('/models/my_model_byversion/predict'), 'predict_my_model_byversion_2');
});

test('operation ids of names that fold alike (a-b, a_b, a-b_; a and a-by-version; a raw model among them) are unique as a generator folds them, whatever the order of the models; other names keep theirs', async () => {
  const names = ['a-b', 'a_b', 'a-b_', 'a', 'a-by-version', 'a_2', 'weather'];
  const parts = operationIdNames(names);
  assert.deepEqual(Object.fromEntries(parts), { 'a-b': 'a-b', 'a-b_': 'a-b__2', 'a_b': 'a_b_3', a: 'a', 'a-by-version': 'a-by-version_2', 'a_2': 'a_2', weather: 'weather' });
  assert.deepEqual(Object.fromEntries(operationIdNames([...names].reverse())), Object.fromEntries(parts));
  // A repository of them, one a raw model (OIP operations only).
  const repo = tempDir();
  for (const name of names.filter((n) => n !== 'a_b')) {
    cpSync(join(EXAMPLES, 'weather'), join(repo, name), { recursive: true });
    writeFileSync(join(repo, name, 'model.yaml'), readFileSync(join(repo, name, 'model.yaml'), 'utf8').replace('name: weather', `name: ${name}`).replace('default: true\n', ''));
  }
  mkdirSync(join(repo, 'a_b', '1'), { recursive: true });
  copyFileSync(BOOK_MODEL, join(repo, 'a_b', '1', 'model.onnx'));
  const configs = loadRepository(repo);
  assert.equal(configs.find((c) => c.name === 'a_b')!.kind, 'raw');
  const doc = buildOpenApiDocument(configs, { title: 'modelserve', version: '0' }) as { paths: Record<string, Record<string, { operationId: string }>> };
  await SwaggerParser.validate(structuredClone(doc) as never);
  assertUniqueOperationIds(doc);
  assert.equal(doc.paths['/v2/models/a_b/infer']!.post!.operationId, 'oip_infer_a_b_3');
  assert.equal(doc.paths['/models/weather/predict']!.post!.operationId, 'predict_weather');
  assert.equal(doc.paths['/v2/models/a_2/versions/{version}']!.get!.operationId, 'oip_metadata_a_2_byVersion');
});

test('every documented request example (predict and OIP infer, raw models\' too) is answered 200, as "Try it out" sends it', async () => {
  const { buildApp } = await import('../../src/http/app.js');
  const { InProcessRuntime } = await import('../../src/runtime/in-process.js');
  // Raw models (an .onnx alone): the book's classifier (FP32 [N, 7]) and a BOOL identity graph.
  const raw = writeIdentityModels(tempDir(), [{ file: 'flags/1/model.onnx', elem: 'BOOL', shape: ['N', 3] }]);
  mkdirSync(join(raw, 'svc-raw', '1'), { recursive: true });
  copyFileSync(BOOK_MODEL, join(raw, 'svc-raw', '1', 'model.onnx'));
  for (const repo of [EXAMPLES, join(EXAMPLES, 'pipelines'), raw]) {
    const app = await buildApp({ configs: loadRepository(repo), runtime: new InProcessRuntime({ intraOpThreads: 1, interOpThreads: 1 }) });
    try {
      await app.ready();
      const doc = (await app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, { post?: { requestBody?: { content: Record<string, { example?: unknown }> } } }> };
      const posts = Object.entries(doc.paths).filter(([path, item]) => item.post && (path.endsWith('/predict') || path.endsWith('/infer')));
      assert.ok(posts.length >= (repo === raw ? 2 : 4), repo);
      for (const [path, item] of posts) {
        const example = item.post!.requestBody!.content['application/json']!.example;
        assert.notEqual(example, undefined, `${path} has an example`);
        const res = await app.inject({ method: 'POST', url: path.replace('{version}', '1'), payload: example as object });
        assert.equal(res.statusCode, 200, `${path}: ${res.body}`);
      }
    } finally {
      await app.close();
    }
  }
});

test('every answer of a real server on the example models is one /openapi.json lists, valid against its schema: each operation, bad bodies, the repository API, a model unloaded through it', async () => {
  const server = await startServer({ repo: EXAMPLES, port: 0, grpcPort: 0, workers: 1, logger: false, bodyLimit: 64 * 1024 });
  try {
    const { doc, send } = await openApiContract(server.url);
    // The headers a generated client exposes: the request id on every answer, the answering version on a
    // prediction, Retry-After on a 503 only when it is sent (a model unloaded below answers 503 without it).
    const headerOf = (response: { headers?: Record<string, { $ref?: string }> }, name: string) => doc.components.headers?.[String(response.headers?.[name]?.$ref).replace('#/components/headers/', '')];
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        for (const [status, response] of Object.entries(operation.responses)) assert.equal(headerOf(response, 'X-Request-Id')?.required, true, `${method} ${path} ${status}`);
        if (!/\/(predict|infer)$/.test(path)) continue;
        assert.equal(headerOf(operation.responses['200']!, 'X-Model-Version')?.required, true, path);
        assert.equal(headerOf(operation.responses['503']!, 'Retry-After')?.required, false, path);
      }
    }
    const concrete = (path: string) => path.replace('{version}', '1').replace('{name}', 'weather');
    for (const [path, item] of Object.entries(doc.paths)) {
      if (item.get) await send('GET', concrete(path));
      if (!item.post || path.endsWith('/unload')) continue;
      const example = (item.post as { requestBody?: { content: Record<string, { example?: unknown }> } }).requestBody?.content['application/json']?.example;
      if (example !== undefined) assert.equal((await send('POST', concrete(path), { body: example })).status, 200, path);
      await send('POST', concrete(path), { body: {} });
      await send('POST', concrete(path), { raw: '{"a": ', headers: { 'content-type': 'application/json' } });
      await send('POST', concrete(path), { raw: 'x', headers: { 'content-type': 'text/plain' } });
      await send('POST', concrete(path), { raw: JSON.stringify({ a: 'x'.repeat(100 * 1024) }), headers: { 'content-type': 'application/json' } });
    }
    // A version the model does not have: 404 on the versioned routes, OIP's as JSON REST's.
    for (const path of ['/v2/models/weather/versions/9', '/v2/models/weather/versions/9/ready', '/v2/models/weather/versions/9/config', '/v2/models/weather/versions/9/stats']) assert.equal((await send('GET', path)).status, 404, path);
    for (const path of ['/v2/models/weather/versions/9/infer', '/models/weather/versions/9/predict']) assert.equal((await send('POST', path, { body: {} })).status, 404, path);
    // The repository index refuses a body that is not an object (422 in the /v2 shape).
    assert.equal((await send('POST', '/v2/repository/index', { body: [true] })).status, 422);
    // A model unloaded through the repository API: its OIP metadata and config are 503 until loaded again.
    await send('POST', '/v2/repository/models/weather/unload');
    for (const path of ['/v2/models/weather', '/v2/models/weather/config', '/v2/models/weather/versions/1', '/v2/models/weather/versions/1/config']) assert.equal((await send('GET', path)).status, 503, path);
    for (const path of ['/v2/models/weather/ready', '/v2/models/weather/stats', '/v2/models/weather/versions/1/ready', '/v2/models/weather/versions/1/stats', '/models/weather']) await send('GET', path);
    await send('POST', '/v2/repository/models/weather/load');
  } finally {
    await server.shutdown();
  }
});

test('a traffic split between versions of different configs: the schemas hold what each version needs and answers (an output only the newest has is not required; a field only the older requires is)', async () => {
  const repo = tempDir();
  const dir = exampleModel(repo, 'weather', 'canary', 'version_policy: { all: true }\ntraffic: { 1: 50, 2: 50 }\n');
  const shared = readFileSync(join(dir, 'model.yaml'), 'utf8');
  mkdirSync(join(dir, '1'));
  mkdirSync(join(dir, '2'));
  // Version 1 requires current_weather_condition and answers the label only; version 2 (the newest) defaults it and adds rain_probability.
  writeFileSync(join(dir, '1', 'model.yaml'), shared.replace(/^traffic:.*$/m, '').replace(/\n {2}rain_probability:\n(?: {4}.*\n)+/, '\n'));
  writeFileSync(join(dir, 'model.yaml'), shared.replace('  current_weather_condition:\n', '  current_weather_condition:\n    required: false\n    default: 0\n'));
  const server = await startServer({ repo, port: 0, grpcPort: 0, workers: 1, logger: false });
  try {
    const { doc, send } = await openApiContract(server.url);
    const schemas = doc.components.schemas as Record<string, { required?: string[] }>;
    assert.deepEqual(schemas.CanaryResponse!.required, ['prediction']);
    assert.ok(schemas.CanaryRequest!.required!.includes('current_weather_condition'), 'version 1 requires it');
    const example = (doc.paths['/models/canary/predict']!.post as unknown as { requestBody: { content: Record<string, { example: object }> } }).requestBody.content['application/json']!.example;
    for (const path of ['/models/canary/versions/1/predict', '/models/canary/versions/2/predict', '/models/canary/predict', '/models/canary/predict']) {
      assert.equal((await send('POST', path, { body: example })).status, 200, path);
    }
  } finally {
    await server.shutdown();
  }
});

test('no model served (every folder removed under --watch): valid OpenAPI 3.0 (no empty enum) that says so', async () => {
  const doc = buildOpenApiDocument([], { title: 'modelserve', version: '0' }) as { info: { description: string } };
  assert.equal(doc.info.description, 'Served by modelserve. Models: none.');
  await SwaggerParser.validate(structuredClone(doc) as never);
});

test('a pipeline\'s failures are the document\'s: a step that cannot be reached (502 MS_ERR_STEP_FAILED) and a row no switch branch takes (422 MS_ERR_STEP_VALIDATION), on the JSON REST and OIP routes', async () => {
  const repo = newRepo();
  exampleModel(repo, 'weather');
  // Nothing listens on the port: the remote step fails at once (no retries).
  writeConfig(repo, 'far', `
pipeline:
  sequence:
    - name: away
      remote: { url: "http://127.0.0.1:${await freePort()}/predict", protocol: json, timeout_ms: 2000, retries: 0, fields: { x: { type: number } }, outputs: { y: number } }
`);
  writeConfig(repo, 'gate', `
pipeline:
  switch:
    - name: calm
      when: { field: current_weather_condition, equals: 9 }
      model: weather
`);
  const server = await startServer({ repo, port: 0, grpcPort: 0, workers: 1, logger: false });
  try {
    const { doc, send } = await openApiContract(server.url);
    const responses = (path: string) => (doc.paths[path]!.post as unknown as { responses: Record<string, { description: string }> }).responses;
    for (const path of ['/models/far/predict', '/v2/models/far/infer']) {
      assert.match(responses(path)['502']!.description, /MS_ERR_STEP_FAILED/, path);
      assert.match(responses(path)['503']!.description, /MS_ERR_STEP_UNAVAILABLE/, path);
      assert.match(responses(path)['504']!.description, /MS_ERR_STEP_TIMEOUT/, path);
    }
    const failed = await send('POST', '/models/far/predict', { body: { x: 1 } });
    assert.equal(JSON.parse(failed.text).code, 'MS_ERR_STEP_FAILED', failed.text);
    assert.equal((await send('POST', '/v2/models/far/infer', { body: { inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: [1] }] } })).status, 502);
    const row = { ...WEATHER_ROW, current_weather_condition: 1 };
    assert.equal((await send('POST', '/models/gate/predict', { body: row })).status, 422);
    const inputs = Object.entries(row).map(([name, v]) => ({ name, datatype: name === 'current_weather_condition' ? 'INT64' : 'FP64', shape: [1, 1], data: [v] }));
    const refused = await send('POST', '/v2/models/gate/infer', { body: { inputs } });
    assert.equal(JSON.parse(refused.text).code, 'MS_ERR_STEP_VALIDATION', refused.text);
  } finally {
    await server.shutdown();
  }
});

test('a traffic split whose versions name a field differently: the OIP infer example is one every version accepts, and the predict summary says requests are split', async () => {
  const repo = tempDir();
  const dir = exampleModel(repo, 'weather', 'canary', 'version_policy: { all: true }\ntraffic: { 1: 50, 2: 50 }\n');
  const shared = readFileSync(join(dir, 'model.yaml'), 'utf8').replace('  temp_c:\n', '  temp_c:\n    required: false\n    default: 0\n');
  mkdirSync(join(dir, '1'));
  mkdirSync(join(dir, '2'));
  // The same graph input, named temp_c by version 1 and temperature by version 2 (the newest): an unknown tensor to the other.
  writeFileSync(join(dir, '1', 'model.yaml'), shared.replace(/^traffic:.*$/m, ''));
  writeFileSync(join(dir, 'model.yaml'), shared.replace('  temp_c:\n', '  temperature:\n').replace('fields: [temp_c,', 'fields: [temperature,'));
  const server = await startServer({ repo, port: 0, grpcPort: 0, workers: 1, logger: false });
  try {
    const { doc, send } = await openApiContract(server.url);
    type Post = { summary: string; requestBody: { content: Record<string, { example: { inputs: Array<{ name: string }> } }> } };
    const post = (path: string) => doc.paths[path]!.post as unknown as Post;
    assert.match(post('/models/canary/predict').summary, /traffic split: version 1 50 %, version 2 50 %/);
    const example = post('/v2/models/canary/infer').requestBody.content['application/json']!.example;
    assert.deepEqual(example.inputs.map((i) => i.name).filter((n) => n.startsWith('temp')), [], 'neither name of the renamed field');
    for (const path of ['/v2/models/canary/versions/1/infer', '/v2/models/canary/versions/2/infer', '/v2/models/canary/infer']) {
      assert.equal((await send('POST', path, { body: example })).status, 200, path);
    }
  } finally {
    await server.shutdown();
  }
});

test('with API keys, a refused key\'s 401 is as documented on every kind of operation: WWW-Authenticate (Bearer, RFC 6750) declared and sent; an admin route\'s 403 too', async () => {
  const key = 'k-openapi-contract-user-1';
  const admin = 'k-openapi-contract-admin-1';
  const server = await startServer({ repo: EXAMPLES, port: 0, grpcPort: 0, workers: 1, logger: false, app: { auth: { keys: [key], adminKeys: [admin] } } });
  try {
    const { doc, send } = await openApiContract(server.url);
    assert.deepEqual((doc as unknown as { components: { securitySchemes: Record<string, { scheme?: string; name?: string }> } }).components.securitySchemes, {
      bearerAuth: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <API key>' },
      apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
    });
    for (const [method, path] of [['POST', '/models/weather/predict'], ['POST', '/models/weather/versions/1/predict'], ['POST', '/predict'], ['POST', '/v2/models/weather/infer'], ['GET', '/v2/models/weather'], ['GET', '/models'], ['POST', '/v2/repository/models/weather/load']] as const) {
      for (const headers of [{}, { authorization: 'Bearer k-not-a-key-not-a-key' }, { 'x-api-key': 'k-not-a-key-not-a-key' }] as Array<Record<string, string>>) {
        const refused = await send(method, path, { body: {}, headers });
        assert.equal(refused.status, 401, `${path} ${JSON.stringify(headers)}`);
        assert.match(String(refused.headers['www-authenticate']), /^Bearer realm="modelserve"/);
      }
    }
    assert.equal((await send('POST', '/v2/repository/models/weather/load', { headers: { 'x-api-key': key } })).status, 403);
    assert.equal((await send('POST', '/models/weather/predict', { body: WEATHER_ROW, headers: { authorization: `Bearer ${key}` } })).status, 200);
  } finally {
    await server.shutdown();
  }
});

test('/openapi.json and /docs/json are built and serialised once per change of the models: again after a repository API load or unload (the events --watch raises too), not between reads', async () => {
  const repo = tempDir();
  exampleModel(repo, 'weather');
  const server = await startServer({ repo, port: 0, grpcPort: 0, workers: 1, logger: false });
  // Each serialisation of an OpenAPI document (Fastify's of an object, or the cache's) goes through JSON.stringify.
  const stringify = mock.method(JSON, 'stringify');
  const serialisations = () => stringify.mock.calls.filter((call) => (call.arguments[0] as { openapi?: unknown } | null)?.openapi === '3.0.3').length;
  type Doc = { paths: Record<string, { post?: { summary?: string } }> };
  const read = async (path = '/openapi.json') => JSON.parse(await (await request(`${server.url}${path}`)).body.text()) as Doc;
  try {
    const builds = () => server.app.openApiDocument.builds;
    const first = await read();
    assert.deepEqual(await read(), first);
    assert.deepEqual(await read('/docs/json'), first);
    assert.equal(serialisations(), 1, 'three reads, one serialisation');
    const built = builds();
    // A model loaded through the repository API (its folder added after start): in the next read, once.
    cpSync(join(EXAMPLES, 'loan'), join(repo, 'loan'), { recursive: true });
    assert.equal((await request(`${server.url}/v2/repository/models/loan/load`, { method: 'POST' })).statusCode, 200);
    assert.ok((await read()).paths['/models/loan/predict'], 'loaded: documented');
    await read('/docs/json');
    assert.equal(builds(), built + 1);
    assert.equal((await request(`${server.url}/v2/repository/models/loan/unload`, { method: 'POST' })).statusCode, 200);
    assert.equal((await read()).paths['/models/loan/predict'], undefined, 'unloaded: no longer documented');
    assert.equal(builds(), built + 2);
    const afterUnload = builds();
    const count = serialisations();
    await read();
    await read('/docs/json');
    assert.equal(builds(), afterUnload, 'no change: not built again');
    assert.equal(serialisations(), count, 'no change: not serialised again');
  } finally {
    stringify.mock.restore();
    await server.shutdown();
  }
});
