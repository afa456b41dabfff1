// Triton's classification extension at its edges, on a real server with raw (config-less) graphs:
// Identity models whose outputs are the values sent (so each answer is known), a Tile graph whose
// output is 1,000,000 elements a row from a one-number input, and the weather example. Checked
// against the extension's specification (docs/protocol/extension_classification.md in
// triton-inference-server/server) and against hostile parameters.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import * as grpc from '@grpc/grpc-js';
import { startServer, type RunningServer } from '../../src/server.js';
import { EXAMPLES, tempDir } from '../helpers/paths.js';
import { writeIdentityModels, writeTileModel } from '../helpers/onnx.js';
import { binaryBody, grpcClients, parseBinaryResponse, readBytesElements, rpc, type GrpcClient } from '../helpers/oip.js';

const WIDE = 1_000_000;
const WEATHER = join(EXAMPLES, 'weather');
let server: RunningServer;
let inference: GrpcClient;
let closeClients: () => void;

before(async () => {
  const repo = tempDir();
  writeIdentityModels(repo, [
    { file: 'f32/1/model.onnx', elem: 'FLOAT', shape: ['N', 4] },
    { file: 'f32-wide/1/model.onnx', elem: 'FLOAT', shape: ['N', 40] },
    { file: 'f32-flat/1/model.onnx', elem: 'FLOAT', shape: [4] },
    { file: 'i64/1/model.onnx', elem: 'INT64', shape: ['N', 3] },
    { file: 'u8/1/model.onnx', elem: 'UINT8', shape: ['N', 3] },
  ]);
  writeTileModel(repo, 'wide/1/model.onnx', WIDE);
  // The weather example answering its whole probabilities output too, beside rain_probability and prediction.
  mkdirSync(join(repo, 'weather-probs'));
  const yaml = readFileSync(join(WEATHER, 'model.yaml'), 'utf8').replace(/^name: weather$/m, 'name: weather-probs').replace(/^model: model.onnx$/m, `model: ${join(WEATHER, 'model.onnx')}`);
  writeFileSync(join(repo, 'weather-probs', 'model.yaml'), `${yaml}  probabilities:\n    from: probabilities\n`);
  // An XGBoost classifier (format: xgboost, converted at load): its probabilities output whole too.
  mkdirSync(join(repo, 'rain-xgboost'));
  const xgb = readFileSync(join(EXAMPLES, 'rain-xgboost', 'model.yaml'), 'utf8').replace(/^model: model.json$/m, `model: ${join(EXAMPLES, 'rain-xgboost', 'model.json')}`);
  writeFileSync(join(repo, 'rain-xgboost', 'model.yaml'), `${xgb}  probabilities:\n    from: probabilities\n`);
  server = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1 });
  ({ inference, close: closeClients } = grpcClients(server.grpcPort!));
});
after(async () => {
  closeClients?.();
  await server?.shutdown();
});

async function post(model: string, body: unknown, headerLength?: number) {
  const headers: Record<string, string> = { 'content-type': headerLength === undefined ? 'application/json' : 'application/octet-stream' };
  if (headerLength !== undefined) headers['inference-header-content-length'] = String(headerLength);
  const res = await request(`${server.url}/v2/models/${model}/infer`, { method: 'POST', body: Buffer.isBuffer(body) || typeof body === 'string' ? body : JSON.stringify(body), headers });
  const bytes = Buffer.from(await res.body.arrayBuffer());
  const length = res.headers['inference-header-content-length'];
  return { status: res.statusCode, bytes, json: () => JSON.parse(bytes.toString()), headerLength: length === undefined ? undefined : Number(length) };
}

const f32 = (data: number[], rows: number) => [{ name: 'x', datatype: 'FP32', shape: [rows, 4], data }];

test("the specification's example: a model without a batch dimension, [1.1, 3.3, 0.5, 2.4] with K = 2, is [\"3.3:1\", \"2.4:3\"] of shape [2]", async () => {
  const res = await post('f32-flat', { inputs: [{ name: 'x', datatype: 'FP32', shape: [4], data: [1.1, 3.3, 0.5, 2.4] }], outputs: [{ name: 'y', parameters: { classification: 2 } }] });
  assert.equal(res.status, 200, res.bytes.toString());
  assert.deepEqual(res.json().outputs[0], { name: 'y', datatype: 'BYTES', shape: [2], data: ['3.3:1', '2.4:3'] });
});

test('an FP32 value needing all 9 significant digits is written in 9, not as its float64 expansion', async () => {
  // 10.1908455 is the shortest text reading back as this FP32; 8 digits (10.190845) read back as another.
  const value = Math.fround(10.1908455);
  const res = await post('f32', { inputs: f32([value, 0.5, 1, 2], 1), outputs: [{ name: 'y', parameters: { classification: 1 } }] });
  assert.equal(res.status, 200, res.bytes.toString());
  assert.deepEqual(res.json().outputs[0].data, ['10.1908455:0']);
  assert.equal(Math.fround(Number('10.1908455')), value);
});

test('top K per row equals a full sort: ties by lower index, NaN last, for every K up to past the width', async () => {
  // Deterministic rows of quarters 0..2 (many ties) with NaNs, sent as binary data (JSON has no NaN).
  // K small against the width (a heap of K picks them) and near it (the row is sorted) alike.
  const rows = 50;
  const width = 40;
  const values = new Float32Array(rows * width);
  let seed = 7;
  for (let i = 0; i < values.length; i++) {
    seed = (seed * 16807) % 2147483647;
    values[i] = seed % 11 === 0 ? NaN : (seed % 9) / 4;
  }
  for (const k of [1, 2, 3, 5, 9, 10, 11, 39, 40, 41]) {
    const { body, headerLength } = binaryBody([{ name: 'x', datatype: 'FP32', shape: [rows, width], bytes: new Uint8Array(values.buffer) }], { outputs: [{ name: 'y', parameters: { classification: k } }] });
    const res = await post('f32-wide', body, headerLength);
    assert.equal(res.status, 200, res.bytes.toString());
    const answer = JSON.parse(res.bytes.toString()).outputs[0];
    assert.deepEqual(answer.shape, [rows, Math.min(k, width)]);
    const want: string[] = [];
    for (let r = 0; r < rows; r++) {
      const row = Array.from({ length: width }, (_, i) => ({ v: values[r * width + i]!, i }));
      row.sort((a, b) => (Number.isNaN(a.v) || Number.isNaN(b.v) ? Number(Number.isNaN(a.v)) - Number(Number.isNaN(b.v)) || a.i - b.i : b.v - a.v || a.i - b.i));
      for (const { v, i } of row.slice(0, k)) want.push(`${v}:${i}`);
    }
    assert.deepEqual(answer.data, want, `K = ${k}`);
  }
});

test('integer outputs rank in their own type: INT64 past 2^53 exactly (binary data), UINT8', async () => {
  const big = new BigInt64Array([9007199254740993n, 9007199254740992n, -5n]);
  const { body, headerLength } = binaryBody([{ name: 'x', datatype: 'INT64', shape: [1, 3], bytes: new Uint8Array(big.buffer) }], { outputs: [{ name: 'y', parameters: { classification: 3 } }] });
  const res = await post('i64', body, headerLength);
  assert.equal(res.status, 200, res.bytes.toString());
  assert.deepEqual(JSON.parse(res.bytes.toString()).outputs[0].data, ['9007199254740993:0', '9007199254740992:1', '-5:2']);
  const u8 = await post('u8', { inputs: [{ name: 'x', datatype: 'UINT8', shape: [2, 3], data: [5, 200, 7, 1, 1, 1] }], outputs: [{ name: 'y', parameters: { classification: 2 } }] });
  assert.equal(u8.status, 200, u8.bytes.toString());
  assert.deepEqual(u8.json().outputs[0], { name: 'y', datatype: 'BYTES', shape: [2, 2], data: ['200:1', '7:2', '1:0', '1:1'] });
});

test('K past any width (1e18) is every element; 0, negative, fractional, true, "3", 1e400 are 400s naming the output and the value', async () => {
  const huge = await post('f32', { inputs: f32([1, 4, 2, 3], 1), outputs: [{ name: 'y', parameters: { classification: 1e18 } }] });
  assert.equal(huge.status, 200, huge.bytes.toString());
  assert.deepEqual(huge.json().outputs[0], { name: 'y', datatype: 'BYTES', shape: [1, 4], data: ['4:1', '3:3', '2:2', '1:0'] });
  const head = '{"inputs":[{"name":"x","datatype":"FP32","shape":[1,4],"data":[1,2,3,4]}],"outputs":[{"name":"y","parameters":{"classification":';
  for (const [k, shown] of [['0', '0'], ['-1', '-1'], ['2.5', '2.5'], ['true', 'true'], ['"3"', '"3"'], ['null', 'null'], ['1e400', 'Infinity']] as const) {
    const res = await post('f32', `${head}${k}}}]}`);
    assert.equal(res.status, 400, k);
    assert.equal(res.json().code, 'MS_ERR_BAD_TENSOR');
    assert.equal(res.json().error, `output 'y': parameters.classification must be a positive integer (how many classes to return), not ${shown}`);
  }
  // gRPC: a double_param NaN is named as such (JSON.stringify wrote it null).
  const typed = [{ name: 'x', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: [1, 2, 3, 4] } }];
  await assert.rejects(rpc(inference, 'ModelInfer', { model_name: 'f32', inputs: typed, outputs: [{ name: 'y', parameters: { classification: { double_param: NaN } } }] }), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /output 'y': parameters.classification must be a positive integer \(how many classes to return\), not NaN/);
    return true;
  });
});

test("classification among the request's own parameters is refused, saying it belongs on a requested output (it was ignored: plain tensors answered)", async () => {
  const res = await post('f32', { inputs: f32([1, 2, 3, 4], 1), parameters: { classification: 2 } });
  assert.equal(res.status, 400, res.bytes.toString());
  assert.match(res.json().error, /parameters.classification is a requested output's parameter, not the request's: ask for it as "outputs": \[\{"name": <output>, "parameters": \{"classification": K\}\}\]/);
  const typed = [{ name: 'x', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: [1, 2, 3, 4] } }];
  await assert.rejects(rpc(inference, 'ModelInfer', { model_name: 'f32', inputs: typed, parameters: { classification: { int64_param: '2' } } }), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /parameters.classification is a requested output's parameter, not the request's/);
    return true;
  });
});

test('a gRPC 64-bit parameter past 2^53 is quoted exactly when refused (it was rounded through a float64), and as a count or timeout that large is answered', async () => {
  const typed = [{ name: 'x', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: [1, 4, 2, 3] } }];
  const refused = async (parameters: unknown, outputs: unknown[], message: string) => {
    await assert.rejects(rpc(inference, 'ModelInfer', { model_name: 'f32', inputs: typed, outputs, parameters }), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
      assert.equal(err.details, message);
      return true;
    });
  };
  await refused({}, [{ name: 'y', parameters: { classification: { int64_param: '-9223372036854775808' } } }], "output 'y': parameters.classification must be a positive integer (how many classes to return), not -9223372036854775808");
  await refused({ timeout: { int64_param: '-9007199254740993' } }, [], 'parameters.timeout must be a non-negative integer (microseconds; 0: no timeout), not -9007199254740993');
  const answer = await rpc<{ outputs: Array<{ datatype: string; shape: string[]; contents: { bytes_contents: Buffer[] } }> }>(inference, 'ModelInfer', {
    model_name: 'f32', inputs: typed, parameters: { timeout: { int64_param: '9223372036854775807' } },
    outputs: [{ name: 'y', parameters: { classification: { uint64_param: '18446744073709551615' } } }],
  });
  assert.deepEqual(answer.outputs[0]!.shape.map(Number), [1, 4]);
  assert.deepEqual(answer.outputs[0]!.contents.bytes_contents.map(String), ['4:1', '3:3', '2:2', '1:0']);
});

test('a 1,000,000-element row: K = 2 the two first of equal values, K past the width every element, as JSON and binary BYTES', async () => {
  const small = await post('wide', { inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 1], data: [0.5, 2] }], outputs: [{ name: 'y', parameters: { classification: 2 } }] });
  assert.equal(small.status, 200, small.bytes.toString());
  assert.deepEqual(small.json().outputs[0], { name: 'y', datatype: 'BYTES', shape: [2, 2], data: ['0.5:0', '0.5:1', '2:0', '2:1'] });
  const all = await post('wide', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 1], data: [3] }], outputs: [{ name: 'y', parameters: { classification: 2 ** 53, binary_data: true } }] });
  assert.equal(all.status, 200, all.bytes.toString().slice(0, 300));
  const { json, binary } = parseBinaryResponse(all.bytes, all.headerLength!);
  assert.deepEqual(json.outputs[0]!.shape, [1, WIDE]);
  const elements = readBytesElements(binary.get('y')!);
  assert.equal(elements.length, WIDE);
  assert.equal(elements[0], '3:0');
  assert.equal(elements[WIDE - 1], `3:${WIDE - 1}`);
});

test('several outputs each with its own K and a plain one in one request, and concurrent requests batched together, keep each its own answer', async () => {
  const fields = ['temp_c', 'humidity', 'wind_speed_kmph', 'wind_bearing_degree', 'visibility_km', 'pressure_millibars', 'current_weather_condition'];
  const testset = (JSON.parse(readFileSync(join(WEATHER, 'testset.json'), 'utf8')) as { rows: Array<Record<string, number>> }).rows.slice(0, 12);
  const inputs = (rows: typeof testset) => fields.map((f) => ({ name: f, datatype: 'FP64', shape: [rows.length, 1], data: rows.map((r) => r[f]!) }));
  const plain = (await post('weather-probs', { inputs: inputs(testset) })).json().outputs as Array<{ name: string; data: Array<number | string> }>;
  const column = (name: string) => plain.find((o) => o.name === name)!.data;
  const probabilities = column('probabilities') as number[];
  const rain = column('rain_probability') as number[];
  const labels = ['No_Rain', 'Rain'];
  // One request per row, fired at once (the batcher joins them), each with its own choice of outputs and K.
  const answers = await Promise.all(testset.map((row, i) => post('weather-probs', {
    inputs: inputs([row]),
    outputs: [{ name: 'probabilities', parameters: { classification: (i % 2) + 1 } }, { name: 'prediction' }, ...(i % 3 === 0 ? [{ name: 'rain_probability', parameters: { classification: 5 } }] : [])],
  })));
  answers.forEach((res, i) => {
    assert.equal(res.status, 200, res.bytes.toString());
    const outputs = res.json().outputs as Array<{ name: string; datatype: string; shape: number[]; data: string[] }>;
    assert.deepEqual(outputs.map((o) => o.name), ['probabilities', 'prediction', ...(i % 3 === 0 ? ['rain_probability'] : [])]);
    const [p0, p1] = [probabilities[2 * i]!, probabilities[2 * i + 1]!];
    const ranked = (p1 > p0 ? [1, 0] : [0, 1]).slice(0, (i % 2) + 1);
    assert.deepEqual(outputs[0]!.data.map((s) => s.split(':').slice(1).join(':')), ranked.map((c) => `${c}:${labels[c]}`), `row ${i}`);
    // FP32 values: the classes' shortest text, the plain JSON's float64 expansion.
    assert.equal(Math.fround(Number(outputs[0]!.data[0]!.split(':')[0])), Math.fround(Math.max(p0, p1)));
    assert.deepEqual(outputs[1], { name: 'prediction', datatype: 'BYTES', shape: [1, 1], data: [column('prediction')[i]] });
    if (i % 3 === 0) assert.deepEqual(outputs[2]!.data.map((s) => s.split(':').slice(1).join(':')), ['0:Rain']);
    if (i % 3 === 0) assert.equal(Math.fround(Number(outputs[2]!.data[0]!.split(':')[0])), Math.fround(rain[i]!));
  });
});

test("an XGBoost classifier's classes are its probabilities' columns, named by model.yaml's label map (they were answered without labels)", async () => {
  const inputs = [
    { name: 'temp_c', datatype: 'FP64', shape: [2, 1], data: [8.75, 20] },
    { name: 'humidity', datatype: 'FP64', shape: [2, 1], data: [0.83, 0.3] },
    { name: 'wind_bearing_degree', datatype: 'FP64', shape: [2, 1], data: [259, 10] },
    { name: 'pressure_millibars', datatype: 'FP64', shape: [2, 1], data: [1016.51, 1030] },
    { name: 'current_weather_condition', datatype: 'FP64', shape: [2, 1], data: [1, 0] },
  ];
  const plain = await post('rain-xgboost', { inputs, outputs: [{ name: 'probabilities' }, { name: 'rain_probability' }] });
  assert.equal(plain.status, 200, plain.bytes.toString());
  const [probabilities, rain] = plain.json().outputs as Array<{ data: number[] }>;
  const res = await post('rain-xgboost', { inputs, outputs: [{ name: 'probabilities', parameters: { classification: 2 } }, { name: 'rain_probability', parameters: { classification: 1 } }] });
  assert.equal(res.status, 200, res.bytes.toString());
  const [classes, rainClass] = res.json().outputs as Array<{ shape: number[]; data: string[] }>;
  const labels = ['No_Rain', 'Rain'];
  assert.deepEqual(classes!.shape, [2, 2]);
  for (let r = 0; r < 2; r++) {
    const [p0, p1] = [probabilities!.data[2 * r]!, probabilities!.data[2 * r + 1]!];
    const order = p1 > p0 ? [1, 0] : [0, 1];
    assert.deepEqual(classes!.data.slice(2 * r, 2 * r + 2).map((s) => s.split(':').slice(1).join(':')), order.map((c) => `${c}:${labels[c]}`));
    assert.equal(Math.fround(Number(classes!.data[2 * r]!.split(':')[0])), Math.fround(Math.max(p0, p1)));
    assert.equal(rainClass!.data[r]!.split(':').slice(1).join(':'), '0:Rain');
    assert.equal(Math.fround(Number(rainClass!.data[r]!.split(':')[0])), Math.fround(rain!.data[r]!));
  }
});
