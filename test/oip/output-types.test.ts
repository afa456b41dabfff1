// Response fields read from ONNX outputs of every integer element type: a `column:` (one number per
// row) and a label (`map:`, keyed by the value's decimal digits) answer the same over the JSON API
// and OIP REST (columns FP64, labels BYTES). A 64-bit integer past ±(2^53 - 1) is never answered
// rounded: a column of one fails the request (MS_ERR_OUTPUT_RANGE, naming the field), a label keeps
// its exact digits; so does a raw output on the JSON API (over OIP it keeps its datatype). Models:
// Cast graphs from a float64 input (two number fields) to the type.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Ajv } from 'ajv';
import { startServer, type RunningServer } from '../../src/server.js';
import { checkSignature } from '../../src/config/signature.js';
import { checkRepository } from '../../src/check/repository.js';
import type { ModelConfig } from '../../src/config/types.js';
import { tempDir } from '../helpers/paths.js';
import { call } from '../helpers/http.js';
import { writeIdentityModels } from '../helpers/onnx.js';
import { grpcClients, rpc, type GrpcClient } from '../helpers/oip.js';

interface Case {
  model: string;
  /** onnx.TensorProto's name of the output 'y'. */
  elem: string;
  map: Record<string, string>;
  /** Two rows: `a` is cast into the label's column, `b` into the column's (exact doubles all). */
  a: [number, number];
  b: [number, number];
  /** The labels the two rows get: mapped, or the value's own digits. */
  labels: [string, string];
}

const CASES: Case[] = [
  { model: 'out_i8', elem: 'INT8', map: { '-5': 'minus_five' }, a: [-5, 100], b: [-128, 127], labels: ['minus_five', '100'] },
  { model: 'out_i16', elem: 'INT16', map: { '-300': 'low' }, a: [-300, 7], b: [-32768, 32767], labels: ['low', '7'] },
  { model: 'out_i32', elem: 'INT32', map: { '70000': 'high' }, a: [70000, 1], b: [-2147483648, 2147483647], labels: ['high', '1'] },
  // 2^60 is an exact double, but Number -> String writes it 1152921504606847000: the key is the integer's own digits.
  { model: 'out_i64', elem: 'INT64', map: { '1152921504606846976': 'big' }, a: [2 ** 60, -(2 ** 62)], b: [-(2 ** 53 - 1), 2 ** 53 - 1], labels: ['big', '-4611686018427387904'] },
  { model: 'out_u8', elem: 'UINT8', map: { '200': 'u200' }, a: [200, 3], b: [0, 255], labels: ['u200', '3'] },
  { model: 'out_u16', elem: 'UINT16', map: { '65535': 'top' }, a: [65535, 3], b: [0, 65535], labels: ['top', '3'] },
  { model: 'out_u32', elem: 'UINT32', map: { '4294967295': 'top' }, a: [4294967295, 3], b: [0, 4294967295], labels: ['top', '3'] },
  { model: 'out_u64', elem: 'UINT64', map: { '1152921504606846976': 'big' }, a: [2 ** 60, 2 ** 63], b: [0, 2 ** 53 - 1], labels: ['big', '9223372036854775808'] },
];

/** A model.yaml feeding fields a and b as the graph's x [N, 2], with these outputs (YAML lines). */
const writeConfig = (dir: string, model: string, outputs: string) => writeFileSync(join(dir, model, 'model.yaml'), `name: ${model}
fields:
  a: { type: number, example: 1 }
  b: { type: number, example: 1 }
inputs:
  x: { fields: [a, b] }
outputs:
${outputs}
`);

const repo = writeIdentityModels(tempDir(), CASES.map((c) => ({ file: `${c.model}/model.onnx`, elem: c.elem, inputElem: 'DOUBLE', shape: ['N', 2] })));
for (const c of CASES) {
  const map = Object.entries(c.map).map(([k, v]) => `"${k}": ${v}`).join(', ');
  writeConfig(repo, c.model, `  label: { from: y, map: { ${map} } }\n  count: { from: y, column: 1 }`);
}

// Raw outputs of the 64-bit types: JSON numbers on the JSON API (the same rule as a column), their own datatype over OIP.
const RAW_MODELS = [{ model: 'raw_i64', elem: 'INT64' }, { model: 'raw_u64', elem: 'UINT64' }];
writeIdentityModels(repo, RAW_MODELS.map((c) => ({ file: `${c.model}/model.onnx`, elem: c.elem, inputElem: 'DOUBLE', shape: ['N', 2] })));
for (const c of RAW_MODELS) writeConfig(repo, c.model, '  values: { from: y }');
// A bool output: raw values are JSON booleans (as OIP's BOOL), a column 0 or 1.
writeIdentityModels(repo, [{ file: 'raw_bool/model.onnx', elem: 'BOOL', inputElem: 'DOUBLE', shape: ['N', 2] }, { file: 'raw_f64/model.onnx', elem: 'DOUBLE', shape: ['N', 2] }]);
writeConfig(repo, 'raw_bool', '  values: { from: y }\n  first: { from: y, column: 0 }\n  label: { from: y, map: { "1": yes } }');
writeConfig(repo, 'raw_f64', '  values: { from: y }\n  second: { from: y, column: 1 }');
// Its example row's answer is past 2^53: the graph runs, so the model loads (only such JSON answers fail).
writeIdentityModels(repo, [{ file: 'raw_big/model.onnx', elem: 'INT64', inputElem: 'DOUBLE', shape: ['N', 2] }]);
writeFileSync(join(repo, 'raw_big', 'model.yaml'), 'name: raw_big\nfields:\n  a: { type: number, example: 1 }\n  b: { type: number, example: 1152921504606846976 }\ninputs:\n  x: { fields: [a, b] }\noutputs:\n  values: { from: y }\n');

const oipBody = (a: number[], b: number[]) => ({ inputs: [{ name: 'a', datatype: 'FP64', shape: [a.length], data: a }, { name: 'b', datatype: 'FP64', shape: [b.length], data: b }] });

describe('column and label outputs of every integer type', () => {
  let server: RunningServer;
  let inference: GrpcClient;
  let closeClients: () => void;

  before(async () => {
    server = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1 });
    ({ inference, close: closeClients } = grpcClients(server.grpcPort!));
  });
  after(async () => {
    closeClients?.();
    await server?.shutdown();
  });

  test('the JSON API: a column is the exact number, a label the mapped name or the digits', async () => {
    for (const c of CASES) {
      const res = await call(`${server.url}/models/${c.model}/predict`, { body: [{ a: c.a[0], b: c.b[0] }, { a: c.a[1], b: c.b[1] }] });
      assert.equal(res.status, 200, `${c.model}: ${res.text}`);
      assert.deepEqual(res.body, [{ label: c.labels[0], count: c.b[0] }, { label: c.labels[1], count: c.b[1] }], c.model);
    }
  });

  test('OIP REST: the same values, a column FP64 (metadata and answer), a label BYTES', async () => {
    for (const c of CASES) {
      const meta = await call(`${server.url}/v2/models/${c.model}`);
      assert.deepEqual(meta.body.outputs, [{ name: 'label', datatype: 'BYTES', shape: [-1, 1] }, { name: 'count', datatype: 'FP64', shape: [-1, 1] }], c.model);
      const res = await call(`${server.url}/v2/models/${c.model}/infer`, { body: oipBody(c.a, c.b) });
      assert.equal(res.status, 200, `${c.model}: ${res.text}`);
      assert.deepEqual(res.body.outputs, [
        { name: 'label', datatype: 'BYTES', shape: [2, 1], data: c.labels },
        { name: 'count', datatype: 'FP64', shape: [2, 1], data: c.b },
      ], c.model);
    }
  });

  test('a 64-bit column past ±(2^53 - 1) fails its request, naming the field, on every front door; other requests are answered', async () => {
    for (const [model, b] of [['out_i64', 2 ** 53], ['out_i64', -(2 ** 60)], ['out_u64', 2 ** 63]] as const) {
      const message = new RegExp(`output 'count' \\(model output 'y'\\), row 1: the model gave ${BigInt(b)}, past ±\\(2\\^53 - 1\\)`);
      // Sent together, so that the good requests may share the bad one's batch.
      const [bad, good, oip, oipGood] = await Promise.all([
        call(`${server.url}/models/${model}/predict`, { body: [{ a: 1, b: 1 }, { a: 1, b }] }),
        call(`${server.url}/models/${model}/predict`, { body: { a: 1, b: 2 } }),
        call(`${server.url}/v2/models/${model}/infer`, { body: oipBody([1, 1], [1, b]) }),
        call(`${server.url}/v2/models/${model}/infer`, { body: oipBody([1], [3]) }),
      ]);
      assert.equal(bad.status, 502, bad.text);
      assert.equal(bad.body.code, 'MS_ERR_OUTPUT_RANGE');
      assert.match(bad.body.detail, message);
      assert.deepEqual(good.body, { label: '1', count: 2 });
      assert.equal(oip.status, 502, oip.text);
      assert.equal(oip.body.code, 'MS_ERR_OUTPUT_RANGE');
      assert.match(oip.body.error, message);
      assert.deepEqual(oipGood.body.outputs[1].data, [3]);
      // Only the column cannot carry it: asked for the label alone, the request is answered.
      const label = await call(`${server.url}/v2/models/${model}/infer`, { body: { ...oipBody([1], [b]), outputs: [{ name: 'label' }] } });
      assert.deepEqual(label.body.outputs, [{ name: 'label', datatype: 'BYTES', shape: [1, 1], data: ['1'] }]);
      await assert.rejects(
        rpc(inference, 'ModelInfer', { model_name: model, inputs: [{ name: 'a', datatype: 'FP64', shape: [1], contents: { fp64_contents: [1] } }, { name: 'b', datatype: 'FP64', shape: [1], contents: { fp64_contents: [b] } }] }),
        (err: grpc.ServiceError) => err.code === grpc.status.OUT_OF_RANGE && /output 'count' \(model output 'y'\), row 0/.test(err.details),
      );
    }
  });

  test('a raw 64-bit output on the JSON API: exact numbers, or the request fails naming the field; over OIP its exact digits', async () => {
    for (const { model, elem } of RAW_MODELS) {
      const safe = await call(`${server.url}/models/${model}/predict`, { body: [{ a: 2 ** 53 - 1, b: 5 }] });
      assert.deepEqual(safe.body, [{ values: [2 ** 53 - 1, 5] }], safe.text);
      const big = await call(`${server.url}/models/${model}/predict`, { body: [{ a: 1, b: 2 }, { a: 7, b: 2 ** 60 }] });
      assert.equal(big.status, 502, big.text);
      assert.equal(big.body.code, 'MS_ERR_OUTPUT_RANGE');
      assert.match(big.body.detail, /output 'values' \(model output 'y'\), row 1: the model gave 1152921504606846976, past ±\(2\^53 - 1\)/);
      const oip = await call(`${server.url}/v2/models/${model}/infer`, { body: oipBody([7], [2 ** 60]) });
      assert.equal(oip.status, 200, oip.text);
      assert.match(oip.text, new RegExp(`"name":"values","datatype":"${elem}","shape":\\[1,2\\],"data":\\[7,1152921504606846976\\]`));
    }
  });

  test('a bool output on the JSON API: raw values true/false (as over OIP), a column 0 or 1', async () => {
    const res = await call(`${server.url}/models/raw_bool/predict`, { body: [{ a: 0, b: 2.5 }, { a: -1, b: 0 }] });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, [{ values: [false, true], first: 0, label: '0' }, { values: [true, false], first: 1, label: 'yes' }]);
    const oip = await call(`${server.url}/v2/models/raw_bool/infer`, { body: { ...oipBody([0, -1], [2.5, 0]), outputs: [{ name: 'values' }] } });
    assert.deepEqual(oip.body.outputs, [{ name: 'values', datatype: 'BOOL', shape: [2, 2], data: [false, true, true, false] }]);
    const single = await call(`${server.url}/models/raw_bool/predict`, { body: { a: 3, b: 0 } });
    assert.deepEqual(single.body, { values: [true, false], first: 1, label: 'yes' });
  });

  test('every JSON API answer fits the response schema /openapi.json documents (unmapped labels, booleans, 64-bit values)', async () => {
    const doc = (await call(`${server.url}/openapi.json`)).body as Record<string, unknown>;
    const ajv = new Ajv({ strict: false, allErrors: true });
    ajv.addSchema(doc, 'openapi.json');
    const answers: Array<[string, unknown]> = [
      ...CASES.map((c): [string, unknown] => [c.model, [{ a: c.a[0], b: c.b[0] }, { a: c.a[1], b: c.b[1] }]]),
      ['raw_i64', { a: 2 ** 53 - 1, b: 5 }], ['raw_u64', [{ a: 1, b: 2 }]],
      ['raw_bool', [{ a: 0, b: 1 }, { a: 1, b: 0 }]], ['raw_bool', { a: 2, b: 0 }],
      ['raw_f64', { a: 1.5, b: -2 }],
    ];
    for (const [model, body] of answers) {
      const res = await call(`${server.url}/models/${model}/predict`, { body });
      assert.equal(res.status, 200, `${model}: ${res.text}`);
      const pointer = `openapi.json#/paths/${`/models/${model}/predict`.replaceAll('/', '~1')}/post/responses/200/content/application~1json/schema`;
      const validate = ajv.getSchema(pointer) ?? ajv.compile({ $ref: pointer });
      assert.ok(validate(res.body), `${model}: ${res.text} does not fit its documented schema: ${ajv.errorsText(validate.errors)}`);
    }
  });

  test('an example row whose answer is past 2^53 does not keep the model from loading; check warns', async () => {
    assert.deepEqual((await call(`${server.url}/v2/models/raw_big/ready`)).body, { name: 'raw_big', ready: true });
    assert.equal((await call(`${server.url}/models/raw_big/predict`, { body: { a: 1, b: 2 ** 60 } })).status, 502);
    const oip = await call(`${server.url}/v2/models/raw_big/infer`, { body: oipBody([1], [2 ** 60]) });
    assert.match(oip.text, /"data":\[1,1152921504606846976\]/);
    const report = await checkRepository(repo);
    const problems = report.problems.filter((p) => p.file.includes('raw_big'));
    assert.equal(problems.length, 1, JSON.stringify(report.problems));
    assert.equal(problems[0]!.severity, 'warning');
    assert.match(problems[0]!.message, /its answer cannot be written as JSON: output 'values' .* past ±\(2\^53 - 1\)/);
    assert.ok(report.ok, 'a warning only');
  });
});

test('a column reads any numeric or bool output; a string one is refused at load', () => {
  const config = { kind: 'fields', fields: [{ name: 'a', type: 'number' }], tensors: [{ name: 'x', fields: ['a'] }], outputs: [{ field: 'n', from: 'y', kind: 'column', column: 0 }] } as unknown as ModelConfig;
  const signature = (type: string) => ({ inputs: [{ name: 'x', type: 'float32', shape: ['N', 1] }], outputs: [{ name: 'y', type, shape: ['N', 1] }] });
  for (const type of ['float32', 'float64', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'bool']) assert.deepEqual(checkSignature(config, signature(type)), [], type);
  assert.deepEqual(checkSignature(config, signature('string')), [`outputs.n.column: output 'y' is string, not numeric`]);
});
