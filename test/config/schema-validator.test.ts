// The config schema's validator generated at build time (ajv standalone code, scripts/
// build-config-validator.mjs) is the one in use, and it judges configs exactly as the schema
// compiled now does: every example's model.yaml, and each of them broken in the ways users break
// them (unknown keys, wrong types, out-of-range numbers, missing required keys, bad patterns).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { MODEL_CONFIG_SCHEMA } from '../../src/config/schema.js';
import { SCHEMA_AJV_OPTIONS, configSchemaValidator, generatedValidator } from '../../src/config/schema-validator.js';
import { EXAMPLES } from '../helpers/paths.js';

function exampleConfigs(dir: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const file = join(dir, entry.name, 'model.yaml');
    if (existsSync(file)) out.push(parse(readFileSync(file, 'utf8')) as Record<string, unknown>);
    out.push(...exampleConfigs(join(dir, entry.name)));
  }
  return out;
}

const BREAKS: Array<(c: Record<string, unknown>) => void> = [
  (c) => { c.unknown_key = 1; },
  (c) => { c.name = 'Bad Name!'; },
  (c) => { c.batching = { max_batch_size: 0, max_queue_delay_ms: 'soon', extra: true }; },
  (c) => { c.queue = { max_rows: -1, timeout_ms: 1.5 }; },
  (c) => { c.fields = { x: { type: 'decimal' }, 'bad name': { type: 'number' } }; },
  (c) => { c.outputs = { p: { map: {} } }; },
  (c) => { c.version_policy = { latest: 0, all: true }; },
  (c) => { c.traffic = { '0': 150 }; },
  (c) => { c.mqtt = { request_topic: 'a/#' }; },
  (c) => { delete c.model; c.format = 'pickle'; },
  (c) => { c.pipeline = { sequence: [{ remote: { url: 'ftp://x', fields: {}, outputs: {} } }] }; },
];

test('the build generated the config validator, and the server uses it', () => {
  assert.equal(typeof generatedValidator(), 'function', 'dist/src/config/config-schema-validator.cjs missing or built from another schema: run npm run build');
  assert.equal(configSchemaValidator(), generatedValidator());
});

test('the generated validator judges every example config, and each broken one, as the schema compiled now does', () => {
  const generated = generatedValidator()!;
  const compiled = new Ajv(SCHEMA_AJV_OPTIONS).compile(MODEL_CONFIG_SCHEMA);
  const configs = exampleConfigs(EXAMPLES);
  assert.ok(configs.length >= 4, `found ${configs.length} example configs`);
  let invalid = 0;
  for (const config of configs) {
    for (const brk of [undefined, ...BREAKS]) {
      const c = structuredClone(config);
      brk?.(c);
      const ok = generated(c);
      assert.equal(ok, compiled(c), JSON.stringify(c).slice(0, 200));
      assert.deepEqual(generated.errors ?? null, compiled.errors ?? null);
      if (brk === undefined) assert.ok(ok, `example ${String(config.name)} is valid`);
      else if (!ok) invalid++;
    }
  }
  assert.equal(invalid, configs.length * BREAKS.length, 'every broken config is refused');
});
