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
