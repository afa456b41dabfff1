// The generated OpenAPI document for configs the example repository does not cover.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { loadRepository } from '../../src/config/load.js';
import { buildOpenApiDocument } from '../../src/http/openapi.js';
import { writeBookModelFolder } from '../helpers/paths.js';

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
    type Operation = { security?: unknown[]; responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }> };
    const doc = (await app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, Record<string, Operation>> };
    await SwaggerParser.validate(structuredClone(doc) as never);
    for (const path of ['/healthz', '/readyz', '/v2/health/live', '/v2/health/ready']) assert.deepEqual(doc.paths[path]!.get!.security, [], `${path} needs no key`);
    const schemaOf = (op: Operation, status: string) => op.responses[status]?.content?.['application/json']?.schema.$ref;
    const predict = doc.paths['/models/book-weather/predict']!.post!;
    assert.equal(schemaOf(predict, '401'), '#/components/schemas/Error');
    assert.equal(schemaOf(predict, '429'), '#/components/schemas/Error');
    assert.equal(schemaOf(doc.paths['/v2/models/book-weather/infer']!.post!, '401'), '#/components/schemas/OipError');
    assert.equal(schemaOf(doc.paths['/models']!.get!, '401'), '#/components/schemas/Error');
    // The repository API: admin keys are never limited; its errors are in the /v2 shape, as sent.
    const load = doc.paths['/v2/repository/models/{name}/load']!.post!;
    assert.equal(load.responses['429'], undefined);
    for (const status of ['400', '401', '403', '404']) assert.equal(schemaOf(load, status), '#/components/schemas/OipError', status);
    // What the document says is what the server sends.
    const refused = await app.inject({ method: 'POST', url: '/models/book-weather/predict', payload: {} });
    assert.equal(refused.statusCode, 401);
    assert.deepEqual(Object.keys(refused.json()).sort(), ['code', 'detail', 'request_id']);
    const repo = await app.inject({ method: 'POST', url: '/v2/repository/index' });
    assert.deepEqual(Object.keys(repo.json()).sort(), ['code', 'error', 'request_id']);
  } finally {
    await app.close();
  }
});
