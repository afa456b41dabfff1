import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelConfig } from '../../src/config/types.js';
import { testConfig } from '../helpers/config.js';
import { compileRequestValidator } from '../../src/validation/request-validator.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from '../../src/server.js';
import { writeIdentityModels } from '../helpers/onnx.js';
import { binaryBody, bytesElements, grpcClients, rpc } from '../helpers/oip.js';
import { tempDir } from '../helpers/paths.js';
import { checkRepository } from '../../src/check/repository.js';

function config(overrides: Partial<ModelConfig> = {}): ModelConfig {
  return testConfig({
    fields: [
      { name: 'temp_c', type: 'number', required: true, minimum: -60, maximum: 60 },
      { name: 'Term', type: 'integer', required: true },
      { name: 'City', type: 'string', required: true },
      { name: 'is_new', type: 'boolean', required: false, default: false },
      { name: 'State', type: 'string', required: false, default: 'NA', enum: ['NA', 'CA', 'NY'] },
    ],
    ...overrides,
  });
}

const good = () => ({ temp_c: 8.75, Term: 84, City: 'Austin' });

test('a valid object gives one row, with defaults filled in', () => {
  const r = compileRequestValidator(config())(good());
  assert.equal(r.ok, true);
  if (r.ok) {
    assert.equal(r.batch, false);
    assert.deepEqual(r.rows, [{ temp_c: 8.75, Term: 84, City: 'Austin', is_new: false, State: 'NA' }]);
  }
});

test('an array gives rows in order and is marked as a batch', () => {
  const r = compileRequestValidator(config())([good(), { ...good(), Term: 1 }]);
  assert.ok(r.ok && r.batch && r.rows.length === 2 && r.rows[1]!.Term === 1);
});

test('every bad field is named, in FastAPI/pydantic-1 shape (snapshot)', () => {
  const r = compileRequestValidator(config())({ temp_c: 99, Term: 'x', State: 'TX' });
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.deepEqual(r.issues, [
      { loc: ['body', 'City'], msg: 'field required', type: 'value_error.missing' },
      { loc: ['body', 'temp_c'], msg: 'ensure this value is less than or equal to 60', type: 'value_error.number.not_le', ctx: { limit_value: 60 } },
      { loc: ['body', 'Term'], msg: 'value is not a valid integer', type: 'type_error.integer' },
      { loc: ['body', 'State'], msg: 'value is not a valid enumeration member; permitted: "NA", "CA", "NY"', type: 'type_error.enum', ctx: { enum_values: ['NA', 'CA', 'NY'] } },
    ]);
  }
});

test('array errors carry the row index in loc', () => {
  const r = compileRequestValidator(config())([good(), { ...good(), temp_c: 'hot' }, 7]);
  assert.ok(!r.ok);
  if (!r.ok) {
    assert.deepEqual(r.issues.map((i) => i.loc), [['body', 1, 'temp_c'], ['body', 2]]);
    assert.equal(r.issues[1]!.type, 'type_error.dict');
  }
});

test('an empty array and a non-object body are 422 issues', () => {
  const v = compileRequestValidator(config());
  const empty = v([]);
  assert.ok(!empty.ok && empty.issues[0]!.type === 'value_error.list.min_items');
  for (const body of [null, 5, 'text']) {
    const r = v(body);
    assert.ok(!r.ok && r.issues[0]!.type === 'type_error.dict', JSON.stringify(body));
  }
});

test('lax parsing converts as pydantic 1 did', () => {
  const r = compileRequestValidator(config())({ temp_c: '8.5', Term: '84', City: true, is_new: 'yes' });
  assert.ok(r.ok);
  if (r.ok) assert.deepEqual(r.rows[0], { temp_c: 8.5, Term: 84, City: 'True', is_new: true, State: 'NA' });
  const f = compileRequestValidator(config())({ temp_c: 8, Term: 84.9, City: false });
  assert.ok(f.ok && f.rows[0]!.Term === 84 && f.rows[0]!.City === 'False');
});

test('lax off: strings are not numbers and booleans are not strings', () => {
  const r = compileRequestValidator(config({ lax: false }))({ temp_c: '8.5', Term: 84, City: true });
  assert.ok(!r.ok);
  if (!r.ok) assert.deepEqual(r.issues.map((i) => [i.loc[1], i.type]), [['temp_c', 'type_error.float'], ['City', 'type_error.str']]);
});

test('non-finite numbers never pass (NaN, Infinity as strings in lax mode)', () => {
  const v = compileRequestValidator(config());
  for (const value of ['NaN', 'nan', 'Infinity', '-inf', '+Infinity', NaN, Infinity]) {
    const r = v({ ...good(), temp_c: value });
    assert.ok(!r.ok, String(value));
    if (!r.ok) assert.deepEqual(r.issues[0]!.loc, ['body', 'temp_c']);
  }
  const r = v({ ...good(), temp_c: 'Infinity' });
  assert.ok(!r.ok && r.issues[0]!.type === 'value_error.number.not_finite');
});

test('unknown fields: ignored by default, rejected in strict mode', () => {
  assert.equal(compileRequestValidator(config())({ ...good(), extra: 1 }).ok, true);
  const r = compileRequestValidator(config({ strict: true }))({ ...good(), extra: 1 });
  assert.ok(!r.ok);
  if (!r.ok) assert.deepEqual(r.issues, [{ loc: ['body', 'extra'], msg: 'extra fields not permitted', type: 'value_error.extra' }]);
});

test('numbers that are finite in JSON but not in a float32 tensor, and integers past int64 precision, are 422', () => {
  const v = compileRequestValidator(config({ fields: [{ name: 'x', type: 'number', required: true }, { name: 'n', type: 'integer', required: true }] }));
  assert.equal(v({ x: 3.4e38, n: 2 ** 53 - 1 }).ok, true);
  const r = v({ x: -1e300, n: 1e300 });
  assert.ok(!r.ok);
  if (!r.ok) assert.deepEqual(r.issues.map((i) => [i.loc[1], i.type]), [['x', 'value_error.number.not_ge'], ['n', 'value_error.number.not_le']]);
});

test('at most 100 issues are listed, then one saying the list was cut: across rows, in the last row and in one object', () => {
  const strict = compileRequestValidator(config({ strict: true }));
  const manyKeys = (n: number) => ({ ...good(), ...Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 0])) });
  const cutMessage = 'too many errors: the first 100 are listed';
  // One object with 80,000 unknown keys in strict mode (ajv would have listed each).
  const one = strict(manyKeys(80_000));
  assert.ok(!one.ok);
  if (!one.ok) {
    assert.equal(one.issues.length, 101);
    assert.deepEqual(one.issues[0], { loc: ['body', 'k0'], msg: 'extra fields not permitted', type: 'value_error.extra' });
    assert.deepEqual(one.issues[100], { loc: ['body'], msg: cutMessage, type: 'value_error.too_many_errors', ctx: { limit_value: 100 } });
  }
  // The last row of an array, after 66 issues in the rows before it.
  const last = strict([...Array.from({ length: 33 }, () => ({ temp_c: 99, Term: 'x', City: 1 })), manyKeys(500)]);
  assert.ok(!last.ok);
  if (!last.ok) {
    assert.equal(last.issues.length, 101);
    assert.equal(last.issues[100]!.msg, cutMessage);
  }
  // Rows left unchecked are counted; exactly 100 issues in all rows is listed whole.
  const rows = compileRequestValidator(config())(Array.from({ length: 1000 }, () => ({})));
  assert.ok(!rows.ok && rows.issues.length === 101 && rows.issues[100]!.msg === `${cutMessage}; 966 of the 1000 rows were not checked`, JSON.stringify(!rows.ok && rows.issues[100]));
  const exactly = compileRequestValidator(config())(Array.from({ length: 50 }, () => ({ temp_c: 8.75, Term: 'x' })));
  assert.ok(!exactly.ok && exactly.issues.length === 100 && exactly.issues.every((i) => i.type !== 'value_error.too_many_errors'));
});

test('fields named like members of every object (constructor, toString) are fields like any other: one missing is "field required", an optional one gets its default (both read the inherited member)', () => {
  const validate = compileRequestValidator(testConfig({
    fields: [
      { name: 'constructor', type: 'number', required: true },
      { name: 'toString', type: 'string', required: false, default: 'x' },
    ],
  }));
  const missing = validate({});
  assert.equal(missing.ok, false);
  if (!missing.ok) assert.deepEqual(missing.issues, [{ loc: ['body', 'constructor'], msg: 'field required', type: 'value_error.missing' }]);
  const given = validate({ constructor: 2 });
  assert.equal(given.ok, true);
  if (given.ok) assert.deepEqual({ ...given.rows[0] }, { constructor: 2, toString: 'x' });
});

test("a value past what the model's integer input holds is a 422 / 400 naming the field on every front door (3e9 reached an int32 input as -1294967296, -1e19 an int64 one as 8446744073709551616), and OpenAPI documents those bounds", async () => {
  // Identity graphs: 'count' (integer) feeds an int32 input, 'amount' (number) an int64 one.
  const repo = writeIdentityModels(tempDir(), [{ file: 'i32/model.onnx', elem: 'INT32', shape: ['N', 1] }, { file: 'i64/model.onnx', elem: 'INT64', shape: ['N', 1] }]);
  writeFileSync(join(repo, 'i32', 'model.yaml'), 'fields:\n  count: { type: integer, example: 3 }\ninputs:\n  x: { fields: [count] }\noutputs:\n  y: { from: y }\n');
  writeFileSync(join(repo, 'i64', 'model.yaml'), 'fields:\n  amount: { type: number, example: 3 }\ninputs:\n  x: { fields: [amount] }\noutputs:\n  y: { from: y }\n');
  const server = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, logger: false });
  const { inference, close } = grpcClients(server.grpcPort!);
  try {
    const cases = [
      { model: 'i32', field: 'count', datatype: 'INT64', bad: 3e9, limit: 'less than or equal to 2147483647', edge: -(2 ** 31) },
      { model: 'i64', field: 'amount', datatype: 'FP64', bad: -1e19, limit: 'greater than or equal to -9223372036854776000', edge: 2 ** 53 - 1 },
    ];
    for (const c of cases) {
      const json = await fetch(`${server.url}/models/${c.model}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ [c.field]: c.bad }) });
      assert.equal(json.status, 422, c.model);
      assert.deepEqual((await json.json() as { detail: Array<{ loc: unknown[]; msg: string }> }).detail.map((d) => [d.loc, d.msg]), [[['body', c.field], `ensure this value is ${c.limit}`]]);
      const oip = await fetch(`${server.url}/v2/models/${c.model}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: [{ name: c.field, datatype: c.datatype, shape: [2, 1], data: [c.edge, c.bad] }] }) });
      assert.equal(oip.status, 400, c.model);
      assert.equal((await oip.json() as { error: string }).error, `input '${c.field}' element 1: ensure this value is ${c.limit}`);
      const contents = c.datatype === 'INT64' ? { int64_contents: [String(c.edge), String(c.bad)] } : { fp64_contents: [c.edge, c.bad] };
      await assert.rejects(rpc(inference, 'ModelInfer', { model_name: c.model, inputs: [{ name: c.field, datatype: c.datatype, shape: [2, 1], contents }] }), (err: Error) => err.message.includes(`input '${c.field}' element 1: ensure this value is ${c.limit}`));
      // Values within still pass, exactly (int32's own extreme among them).
      const edge = await fetch(`${server.url}/models/${c.model}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ [c.field]: c.edge }) });
      assert.deepEqual(await edge.json(), { y: c.edge });
    }
    // The OpenAPI document gives the bounds enforced (it gave ±2^53 - 1 for the int32 input's field).
    const doc = await (await fetch(`${server.url}/openapi.json`)).json() as { components: { schemas: Record<string, { properties: Record<string, { minimum?: number; maximum?: number }> }> } };
    assert.deepEqual(doc.components.schemas.I32Request!.properties.count, { ...doc.components.schemas.I32Request!.properties.count, minimum: -(2 ** 31), maximum: 2 ** 31 - 1 });
  } finally {
    close();
    await server.shutdown();
  }
});

test("a default past what the model's integer input holds stops the load, naming the field (every request that left the field out was a 422 naming a field it never sent, and OpenAPI showed a default its own maximum refused)", async () => {
  const repo = writeIdentityModels(tempDir(), [{ file: 'i32/model.onnx', elem: 'INT32', shape: ['N', 1] }]);
  writeFileSync(join(repo, 'i32', 'model.yaml'), 'fields:\n  count: { type: number, required: false, default: 3000000000, example: 3 }\ninputs:\n  x: { fields: [count] }\noutputs:\n  y: { from: y }\n');
  const refused = await startServer({ repo, port: 0, grpcPort: 0, workers: 1, logger: false }).then(async (served) => { await served.shutdown(); return undefined; }, (err: Error & { code?: string }) => err);
  assert.equal(refused?.code, 'MS_ERR_MODEL_SIGNATURE', 'the load is refused');
  assert.match(refused.message, /fields\.count\.default: is 3000000000, outside what the model's int32 input 'x' holds \(-2147483648 to 2147483647\)/);
  // Within: it serves, and a request without the field takes the default.
  writeFileSync(join(repo, 'i32', 'model.yaml'), 'fields:\n  count: { type: number, required: false, default: 2147483647, example: 3 }\ninputs:\n  x: { fields: [count] }\noutputs:\n  y: { from: y }\n');
  const server = await startServer({ repo, port: 0, grpcPort: 0, workers: 1, logger: false });
  try {
    const res = await fetch(`${server.url}/models/i32/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.deepEqual(await res.json(), { y: 2147483647 });
  } finally {
    await server.shutdown();
  }
});

test("an enum value past what the model's integer input holds stops the load and check, naming it (it was documented as a choice, and every request sending it was a 422 saying the maximum)", async () => {
  const repo = writeIdentityModels(tempDir(), [{ file: 'i32/model.onnx', elem: 'INT32', shape: ['N', 1] }]);
  writeFileSync(join(repo, 'i32', 'model.yaml'), 'fields:\n  count: { type: integer, enum: [1, 3000000000, -2147483649, 2147483647] }\ninputs:\n  x: { fields: [count] }\noutputs:\n  y: { from: y }\n');
  const refused = await startServer({ repo, port: 0, grpcPort: 0, workers: 1, logger: false }).then(async (served) => { await served.shutdown(); return undefined; }, (err: Error & { code?: string }) => err);
  assert.equal(refused?.code, 'MS_ERR_MODEL_SIGNATURE', 'the load is refused');
  const range = "outside what the model's int32 input 'x' holds \\(-2147483648 to 2147483647\\): no request can send it";
  assert.match(refused.message, new RegExp(`fields\\.count\\.enum\\.1: is 3000000000, ${range}`));
  assert.match(refused.message, new RegExp(`fields\\.count\\.enum\\.2: is -2147483649, ${range}`));
  assert.doesNotMatch(refused.message, /enum\.[03]/);
  const report = await checkRepository(repo);
  assert.deepEqual(report.problems.filter((p) => p.severity === 'error').map((p) => p.key), ['fields.count.enum.1', 'fields.count.enum.2']);
});

test("bounds wholly past what the model's integer input holds stop the load and check, naming the bound (the load was refused for the example row, which the config never wrote)", async () => {
  const repo = writeIdentityModels(tempDir(), [{ file: 'i32/model.onnx', elem: 'INT32', shape: ['N', 2] }]);
  writeFileSync(join(repo, 'i32', 'model.yaml'), 'fields:\n  high: { type: integer, minimum: 3000000000 }\n  low: { type: number, maximum: -3000000000 }\ninputs:\n  x: { fields: [high, low] }\noutputs:\n  y: { from: y }\n');
  const refused = await startServer({ repo, port: 0, grpcPort: 0, workers: 1, logger: false }).then(async (served) => { await served.shutdown(); return undefined; }, (err: Error & { code?: string }) => err);
  assert.equal(refused?.code, 'MS_ERR_MODEL_SIGNATURE', 'the load is refused');
  const holds = "what the model's int32 input 'x' holds \\(-2147483648 to 2147483647\\): no request can send the field";
  assert.match(refused.message, new RegExp(`fields\\.high\\.minimum: is 3000000000, above ${holds}`));
  assert.match(refused.message, new RegExp(`fields\\.low\\.maximum: is -3000000000, below ${holds}`));
  const report = await checkRepository(repo);
  assert.deepEqual(report.problems.filter((p) => p.severity === 'error').map((p) => p.key).sort(), ['fields.high.minimum', 'fields.low.maximum']);
});

test("an example past what the model's integer input holds stops the load and check with MS_ERR_MODEL_SIGNATURE naming fields.<name>.example and the range, once, as a default does (it was MS_ERR_CONFIG_INVALID 'the fields' examples do not form a valid request')", async () => {
  const repo = writeIdentityModels(tempDir(), [{ file: 'i32/model.onnx', elem: 'INT32', shape: ['N', 1] }]);
  writeFileSync(join(repo, 'i32', 'model.yaml'), 'fields:\n  count: { type: integer, example: 3000000000 }\ninputs:\n  x: { fields: [count] }\noutputs:\n  y: { from: y }\n');
  const refused = await startServer({ repo, port: 0, grpcPort: 0, workers: 1, logger: false }).then(async (served) => { await served.shutdown(); return undefined; }, (err: Error & { code?: string }) => err);
  assert.equal(refused?.code, 'MS_ERR_MODEL_SIGNATURE', refused?.message);
  assert.match(refused.message, /fields\.count\.example: is 3000000000, outside what the model's int32 input 'x' holds \(-2147483648 to 2147483647\): the example row \(the load's warm-up, the documented request\) would be refused/);
  const report = await checkRepository(repo);
  assert.deepEqual(report.problems.map((p) => [p.key, p.severity]), [['fields.count.example', 'error']]);
});

test("a type: number field feeding an int32/int64 input loads with a warning, from serve's log and from check, that the field should say type: integer: a fraction reaches the model cut to its whole part (0.5 as 0)", async () => {
  const { captureLogLines } = await import('../helpers/logs.js');
  const repo = writeIdentityModels(tempDir(), [{ file: 'i32/model.onnx', elem: 'INT32', shape: ['N', 1] }, { file: 'i64/model.onnx', elem: 'INT64', shape: ['N', 2] }]);
  writeFileSync(join(repo, 'i32', 'model.yaml'), 'fields:\n  count: { type: number, example: 3 }\ninputs:\n  x: { fields: [count] }\noutputs:\n  y: { from: y }\n');
  writeFileSync(join(repo, 'i64', 'model.yaml'), 'fields:\n  amount: { type: number, example: 3 }\n  units: { type: integer, example: 2 }\ninputs:\n  x: { fields: [amount, units] }\noutputs:\n  y: { from: y }\n');
  const { lines, stream } = captureLogLines<{ level: number; msg: string }>();
  const server = await startServer({ repo, port: 0, grpcPort: 0, workers: 1, logger: { level: 'warn', stream } });
  try {
    // It serves as before: the encoder cuts the fraction.
    const res = await fetch(`${server.url}/models/i32/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"count": 3.5}' });
    assert.deepEqual(await res.json(), { y: 3 });
  } finally {
    await server.shutdown();
  }
  const warned = lines.filter((l) => l.msg.startsWith('model config: ')).map((l) => l.msg).sort();
  assert.equal(warned.length, 2, JSON.stringify(warned));
  assert.match(warned[0]!, /i32.model\.yaml: fields\.count\.type: is number, but the field feeds the model's int32 input 'x', which takes whole numbers: a fraction reaches the model cut to its whole part \(0\.5 as 0\), even with lax: false; say type: integer/);
  assert.match(warned[1]!, /i64.model\.yaml: fields\.amount\.type: is number, but the field feeds the model's int64 input 'x'/);
  const report = await checkRepository(repo);
  assert.equal(report.ok, true, 'a warning: the models still load');
  assert.deepEqual(report.problems.map((p) => [p.key, p.severity]).sort(), [['fields.amount.type', 'warning'], ['fields.count.type', 'warning']]);
});

test('a string holding a NUL (\\u0000) is refused on every front door, naming the field or tensor: onnxruntime-node cut it there, so "ab\\u0000cd" reached the model as "ab" and was answered', async () => {
  // 'str' is a fields model (its field 'word' feeds a string input); 'raw' is the graph alone.
  const repo = writeIdentityModels(tempDir(), [{ file: 'str/model.onnx', elem: 'STRING', shape: ['N'] }, { file: 'raw/model.onnx', elem: 'STRING', shape: ['N'] }]);
  writeFileSync(join(repo, 'str', 'model.yaml'), 'fields:\n  word: { type: string, example: ab }\ninputs:\n  x: { fields: [word] }\noutputs:\n  y: { from: y }\n');
  const server = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, logger: false });
  const { inference, close } = grpcClients(server.grpcPort!);
  try {
    const json = await fetch(`${server.url}/models/str/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ word: 'ok' }, { word: 'ab\u0000cd' }]) });
    assert.equal(json.status, 422);
    assert.deepEqual(await json.json(), { detail: [{ loc: ['body', 1, 'word'], msg: "string contains a NUL character (\\u0000), which the model's string input cannot hold (it would be cut there)", type: 'value_error.str.nul' }] });
    const said = "BYTES element 1 contains a NUL byte (\\u0000), which a string tensor cannot hold (it would be cut there)";
    for (const [model, input] of [['str', 'word'], ['raw', 'x']] as const) {
      const oip = await fetch(`${server.url}/v2/models/${model}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: [{ name: input, datatype: 'BYTES', shape: [2], data: ['ok', 'ab\u0000cd'] }] }) });
      assert.equal(oip.status, 400, model);
      assert.equal((await oip.json() as { error: string }).error, `input '${input}': ${said}`, model);
      const { body, headerLength } = binaryBody([{ name: input, datatype: 'BYTES', shape: [2], bytes: bytesElements(['ok', 'ab\u0000cd']) }]);
      const binary = await fetch(`${server.url}/v2/models/${model}/infer`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength) }, body });
      assert.equal(binary.status, 400, model);
      assert.equal((await binary.json() as { error: string }).error, `input '${input}': ${said}`, model);
      await assert.rejects(rpc(inference, 'ModelInfer', { model_name: model, inputs: [{ name: input, datatype: 'BYTES', shape: [2], contents: { bytes_contents: [Buffer.from('ok'), Buffer.from('ab\u0000cd')] } }] }), (err: Error) => err.message.includes(`input '${input}': ${said}`));
    }
    // Other strings pass whole, however unusual.
    const fine = await fetch(`${server.url}/models/str/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ word: 'é😀\u0001' }) });
    assert.deepEqual(await fine.json(), { y: 'é😀\u0001' });
  } finally {
    close();
    await server.shutdown();
  }
});
