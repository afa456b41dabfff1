// Every example in the OpenAPI document is true: valid against the schema it illustrates, as a client
// generator or schema validator checks it (Swagger UI's "Try it out" sends the request bodies' as is).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { loadRepository } from '../../src/config/load.js';
import { buildApp } from '../../src/http/app.js';
import { InProcessRuntime } from '../../src/runtime/in-process.js';
import { BOOK_MODEL, EXAMPLES, tempDir } from '../helpers/paths.js';
import { writeIdentityModels } from '../helpers/onnx.js';
import { assertExamplesValid, assertUniqueOperationIds, type OpenApiDocument } from '../helpers/openapi-contract.js';
import { exampleModel } from '../pipelines/helpers.js';
import { startServer } from '../../src/server.js';
import { checkRepository } from '../../src/check/repository.js';

/** The document a server on `repo` serves (its models loaded: a raw model's example comes from its graph). */
async function served(repo: string): Promise<OpenApiDocument> {
  const app = await buildApp({ configs: loadRepository(repo), runtime: new InProcessRuntime({ intraOpThreads: 1, interOpThreads: 1 }) });
  try {
    await app.ready();
    const doc = (await app.inject({ url: '/openapi.json' })).json() as OpenApiDocument;
    await SwaggerParser.validate(structuredClone(doc) as never);
    assertUniqueOperationIds(doc);
    return doc;
  } finally {
    await app.close();
  }
}

test('the check itself: an example its schema refuses is named, in a schema, a request body and a parameter; a property named example is a schema, not an example', () => {
  const doc = {
    paths: {
      '/x/{n}': {
        post: {
          parameters: [{ name: 'n', in: 'path', required: true, schema: { type: 'integer', minimum: 1 }, example: 0 }],
          requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/Row' }, example: { example: 'no' } } } },
          responses: { 200: { description: 'ok' } },
        },
      },
    },
    components: { schemas: { Row: { type: 'object', properties: { example: { type: 'number', maximum: 1, example: 2 } } } } },
  } as unknown as OpenApiDocument;
  assert.throws(() => assertExamplesValid(doc), (err: Error) => {
    for (const where of ['post /x/{n} parameters[0].example', 'post /x/{n} requestBody application/json.example', 'components.schemas.Row.properties.example.example']) assert.ok(err.message.includes(where), `${where} in ${err.message}`);
    return true;
  });
});

test('the example models\' document (weather, loan, rain-xgboost): every example and default is valid against its schema', async () => {
  assert.ok(assertExamplesValid(await served(EXAMPLES)) > 20);
});

test('the example pipelines\' document: every example and default is valid against its schema', async () => {
  assert.ok(assertExamplesValid(await served(join(EXAMPLES, 'pipelines'))) > 20);
});

test('raw models (an .onnx file alone): every example is valid against its schema, the OIP infer bodies\' included', async () => {
  const repo = writeIdentityModels(tempDir(), [
    { file: 'flags/1/model.onnx', elem: 'BOOL', shape: ['N', 3] },
    { file: 'words/1/model.onnx', elem: 'STRING', shape: ['N', 2] },
    { file: 'bytes-u8/1/model.onnx', elem: 'UINT8', shape: ['N', 4] },
  ]);
  mkdirSync(join(repo, 'svc-raw', '1'), { recursive: true });
  copyFileSync(BOOK_MODEL, join(repo, 'svc-raw', '1', 'model.onnx'));
  const doc = await served(repo);
  assert.ok(assertExamplesValid(doc) > 10);
});

test('raw models: every OIP infer example, sent as "Try it out" sends it, is answered 200; an input of no declared shape gets no example (it was x [1] of one zero, which its MatMul refused with a 400)', async () => {
  const repo = writeIdentityModels(tempDir(), [
    { file: 'flags/1/model.onnx', elem: 'BOOL', shape: ['N', 3] },
    { file: 'words/1/model.onnx', elem: 'STRING', shape: ['N', 2] },
    { file: 'wide/1/model.onnx', elem: 'FLOAT', shape: ['N', 'M'] },
  ]);
  mkdirSync(join(repo, 'svc-raw', '1'), { recursive: true });
  copyFileSync(BOOK_MODEL, join(repo, 'svc-raw', '1', 'model.onnx'));
  // x of no declared shape: y = x W, W [3, 2] (only a tensor of a last dimension 3 fits)
  execFileSync('/usr/bin/python3', ['-c', `
import os, sys, onnx
from onnx import TensorProto as T, helper as h
g = h.make_graph([h.make_node('MatMul', ['x', 'W'], ['y'])], 'any_rank', [h.make_tensor_value_info('x', T.FLOAT, None)], [h.make_tensor_value_info('y', T.FLOAT, None)], [h.make_tensor('W', T.FLOAT, [3, 2], [1, 2, 3, 4, 5, 6])])
m = h.make_model(g, opset_imports=[h.make_opsetid('', 13)])
m.ir_version = 8
os.makedirs(os.path.join(sys.argv[1], 'any_rank', '1'))
onnx.save(m, os.path.join(sys.argv[1], 'any_rank', '1', 'model.onnx'))
`, repo], { stdio: 'pipe' });
  const app = await buildApp({ configs: loadRepository(repo), runtime: new InProcessRuntime({ intraOpThreads: 1, interOpThreads: 1 }) });
  try {
    await app.ready();
    const doc = (await app.inject({ url: '/openapi.json' })).json() as OpenApiDocument;
    const sent: string[] = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      if (!/^\/v2\/models\/[^/{]+\/infer$/.test(path)) continue;
      const example = (item as unknown as { post: { requestBody: { content: Record<string, { example?: unknown }> } } }).post.requestBody.content['application/json']?.example;
      if (path.includes('any_rank')) {
        assert.equal(example, undefined, 'no example for an input of no declared shape');
        continue;
      }
      assert.ok(example !== undefined, `${path} has an example`);
      const res = await app.inject({ method: 'POST', url: path, payload: example as object });
      assert.equal(res.statusCode, 200, `${path}: ${res.body}`);
      sent.push(path);
    }
    assert.deepEqual(sent.sort(), ['flags', 'svc-raw', 'wide', 'words'].map((m) => `/v2/models/${m}/infer`));
  } finally {
    await app.close();
  }
});

test('strict models: every example and default is valid against its schema', async () => {
  const repo = tempDir();
  exampleModel(repo, 'weather', 'weather-strict', 'strict: true\n');
  cpSync(join(EXAMPLES, 'rain-xgboost'), join(repo, 'rain-xgboost'), { recursive: true });
  writeFileSync(join(repo, 'rain-xgboost', 'model.yaml'), `${readFileSync(join(repo, 'rain-xgboost', 'model.yaml'), 'utf8')}\nstrict: true\n`);
  assert.ok(assertExamplesValid(await served(repo)) > 10);
});

test('a traffic split whose versions share no output: valid OpenAPI 3.0 (the response schema has no empty `required`), its examples true', async () => {
  const repo = tempDir();
  const dir = exampleModel(repo, 'weather', 'canary', 'version_policy: { all: true }\ntraffic: { 1: 50, 2: 50 }\n');
  const shared = readFileSync(join(dir, 'model.yaml'), 'utf8');
  mkdirSync(join(dir, '1'));
  mkdirSync(join(dir, '2'));
  // Version 1 answers the label only, version 2 the probability only.
  writeFileSync(join(dir, '1', 'model.yaml'), shared.replace(/^traffic:.*$/m, '').replace(/\n {2}rain_probability:\n(?: {4}.*\n)+/, '\n'));
  writeFileSync(join(dir, '2', 'model.yaml'), shared.replace(/^traffic:.*$/m, '').replace(/\n {2}prediction:\n(?: {4}.*\n)+/, '\n'));
  const doc = await served(repo);
  const response = doc.components.schemas.CanaryResponse as { required?: string[]; properties: Record<string, unknown> };
  assert.equal(response.required, undefined);
  assert.deepEqual(Object.keys(response.properties).sort(), ['prediction', 'rain_probability']);
  assertExamplesValid(doc);
});

test("fields with bounds and no example, default or enum load, and their documented example meets the bounds (maximum: -5 got 0, an integer's minimum: 0.5 got 0.5, and the load was refused for an example the config never wrote); modelserve check agrees", async () => {
  const repo = writeIdentityModels(tempDir(), [{ file: 'bounds/model.onnx', elem: 'FLOAT', shape: ['N', 4] }, { file: 'narrow/model.onnx', elem: 'INT32', shape: ['N', 1] }]);
  writeFileSync(join(repo, 'bounds', 'model.yaml'), 'fields:\n  below: { type: number, maximum: -5 }\n  half: { type: integer, minimum: 0.5 }\n  under: { type: integer, minimum: -9.5, maximum: -2.5 }\n  around: { type: number, minimum: -1, maximum: 1 }\ninputs:\n  x: { fields: [below, half, under, around] }\noutputs:\n  y: { from: y }\n');
  // Within the int32 input only near 0: the example is the bound nearest 0, not minimum -5e9 (past the input).
  writeFileSync(join(repo, 'narrow', 'model.yaml'), 'fields:\n  count: { type: integer, minimum: -5000000000, maximum: -10 }\ninputs:\n  x: { fields: [count] }\noutputs:\n  y: { from: y }\n');
  const report = await checkRepository(repo);
  assert.deepEqual(report.problems.filter((p) => p.severity === 'error'), []);
  const server = await startServer({ repo, port: 0, grpcPort: 0, workers: 1, logger: false });
  try {
    const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as OpenApiDocument;
    assertExamplesValid(doc);
    const bodyExample = (model: string) => (doc.paths[`/models/${model}/predict`] as unknown as { post: { requestBody: { content: { 'application/json': { example: unknown } } } } }).post.requestBody.content['application/json'].example;
    assert.deepEqual(bodyExample('bounds'), { below: -5, half: 1, under: -3, around: 0 });
    assert.deepEqual(bodyExample('narrow'), { count: -10 });
    const res = await fetch(`${server.url}/models/bounds/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(bodyExample('bounds')) });
    assert.equal(res.status, 200);
  } finally {
    await server.shutdown();
  }
});
