// The Open Inference Protocol over REST with undici, on real models: the book model (fields view),
// the loan example (string and integer fields), and svc.onnx alone in a Triton-layout folder with
// no config (raw view). JSON tensors and Triton's binary extension, metadata, config, statistics,
// OpenAPI, and every bad input a 400 {"error"} naming the tensor.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import ort from 'onnxruntime-node';
import SwaggerParser from '@apidevtools/swagger-parser';
import { startServer, type RunningServer } from '../../src/server.js';
import { BOOK_FIELDS, BOOK_MODEL, EXAMPLES, bookRows, tempDir, writeBookModelFolder } from '../helpers/paths.js';
import { call } from '../helpers/http.js';
import { binaryBody, bytesElements, fp64, parseBinaryResponse, readBytesElements } from '../helpers/oip.js';

let server: RunningServer;
const rows = bookRows(5);

before(async () => {
  const repo = tempDir();
  writeBookModelFolder(repo, `  rain_score:\n    from: probabilities\n    column: 1\n`);
  mkdirSync(join(repo, 'svc-raw', '1'), { recursive: true });
  symlinkSync(BOOK_MODEL, join(repo, 'svc-raw', '1', 'model.onnx'));
  symlinkSync(join(EXAMPLES, 'loan'), join(repo, 'loan'));
  server = await startServer({ repo, port: 0, workers: 1 });
});
after(async () => {
  await server?.shutdown();
});

async function post(path: string, body: Buffer | string, headers: Record<string, string> = {}) {
  const res = await request(`${server.url}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  const bytes = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, bytes, json: () => JSON.parse(bytes.toString('utf8')) };
}

const columns = (rs: typeof rows) => BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [rs.length, 1], data: rs.map((r) => r[f]!) }));

test('GET /v2 lists the extensions; health live and ready', async () => {
  const meta = await call(`${server.url}/v2`);
  assert.equal(meta.status, 200);
  assert.equal(meta.body.name, 'modelserve');
  for (const e of ['binary_tensor_data', 'classification', 'model_configuration', 'model_repository', 'statistics']) assert.ok(meta.body.extensions.includes(e), e);
  assert.deepEqual((await call(`${server.url}/v2/health/live`)).body, { live: true });
  assert.deepEqual((await call(`${server.url}/v2/health/ready`)).body, { ready: true });
  assert.deepEqual((await call(`${server.url}/v2/models/book-weather/ready`)).body, { name: 'book-weather', ready: true });
  assert.equal((await call(`${server.url}/v2/models/book-weather/versions/1/ready`)).status, 200);
  // Not ready: a 4xx as the protocol says, in the /v2 error shape (it had no code and no request_id).
  assert.equal((await call(`${server.url}/v2/repository/models/loan/unload`, { method: 'POST' })).status, 200);
  try {
    const notReady = await call(`${server.url}/v2/models/loan/ready`);
    assert.equal(notReady.status, 400);
    assert.deepEqual(notReady.body, { error: 'model \'loan\' is not ready: unloaded by request', code: 'MS_ERR_MODEL_NOT_READY', request_id: notReady.headers['x-request-id'], name: 'loan', ready: false });
  } finally {
    assert.equal((await call(`${server.url}/v2/repository/models/loan/load`, { method: 'POST' })).status, 200);
  }
});

test('metadata and config: a model with fields has one tensor per field (fields view); x-model-version as on infer', async () => {
  const meta = await call(`${server.url}/v2/models/book-weather`);
  assert.equal(meta.status, 200);
  assert.equal(meta.body.properties.view, 'fields');
  assert.deepEqual(meta.body.versions, ['1']);
  assert.equal(meta.body.platform, 'onnxruntime_onnx');
  assert.deepEqual(meta.body.inputs.map((i: { name: string }) => i.name), [...BOOK_FIELDS]);
  assert.deepEqual(meta.body.inputs[0], { name: 'temp_c', datatype: 'FP64', shape: [-1, 1] });
  assert.deepEqual(meta.body.outputs, [{ name: 'prediction', datatype: 'BYTES', shape: [-1, 1] }, { name: 'rain_score', datatype: 'FP32', shape: [-1, 1] }]);
  const config = await call(`${server.url}/v2/models/book-weather/versions/1/config`);
  assert.equal(config.body.max_batch_size, 64);
  assert.deepEqual(config.body.input[0], { name: 'temp_c', data_type: 'TYPE_FP64', dims: [1] });
  assert.deepEqual(config.body.output[0], { name: 'prediction', data_type: 'TYPE_STRING', dims: [1] });
  assert.equal(config.body.parameters.view.string_value, 'fields');
  // The metadata and config routes name the version that answered, as the infer routes do (they did not).
  const inferred = await post('/v2/models/book-weather/infer', JSON.stringify({ inputs: columns(rows.slice(0, 1)) }));
  assert.equal(inferred.status, 200);
  assert.equal(inferred.headers['x-model-version'], '1');
  for (const path of ['', '/versions/1', '/config', '/versions/1/config']) {
    assert.equal((await call(`${server.url}/v2/models/book-weather${path}`)).headers['x-model-version'], '1', `GET /v2/models/book-weather${path}`);
  }
  const loan = await call(`${server.url}/v2/models/loan`);
  assert.deepEqual(loan.body.inputs.find((i: { name: string }) => i.name === 'City'), { name: 'City', datatype: 'BYTES', shape: [-1, 1] });
  assert.deepEqual(loan.body.inputs.find((i: { name: string }) => i.name === 'Term'), { name: 'Term', datatype: 'INT64', shape: [-1, 1] });
});

test('metadata and config: a folder with only an .onnx file is served with the graph\'s own tensors (raw view)', async () => {
  const meta = await call(`${server.url}/v2/models/svc-raw`);
  assert.equal(meta.status, 200, meta.text);
  assert.equal(meta.body.properties.view, 'raw');
  assert.deepEqual(meta.body.inputs, [{ name: 'float_input', datatype: 'FP32', shape: [-1, 7] }]);
  assert.deepEqual(meta.body.outputs, [{ name: 'label', datatype: 'INT64', shape: [-1] }, { name: 'probabilities', datatype: 'FP32', shape: [-1, 2] }]);
  const config = await call(`${server.url}/v2/models/svc-raw/config`);
  assert.deepEqual(config.body.input, [{ name: 'float_input', data_type: 'TYPE_FP32', dims: [7] }]);
  assert.equal(config.body.max_batch_size, 64);
  // No JSON fields API for it (and GET /models/{name} says so).
  const predict = await call(`${server.url}/models/svc-raw/predict`, { body: {} });
  assert.equal(predict.status, 404);
  assert.equal(predict.body.code, 'MS_ERR_NO_FIELDS_API');
  const info = await call(`${server.url}/models/svc-raw`);
  assert.equal(info.body.view, 'raw');
  assert.equal(info.body.predict, null);
  // …and neither does the service's index (GET /), which gives every model's OIP route.
  const index = (await call(`${server.url}/`)).body as { models: Array<{ name: string; predict: string | null; infer: string }> };
  assert.deepEqual(index.models.find((m) => m.name === 'svc-raw'), { name: 'svc-raw', version: 1, state: 'ready', predict: null, infer: '/v2/models/svc-raw/infer' });
  assert.equal(index.models.find((m) => m.name === 'book-weather')?.predict, '/models/book-weather/predict');
});

test('JSON tensors: columns [N,1] or [N], flat or nested, answer as the JSON API does; id echoed', async () => {
  const expected = (await call(`${server.url}/models/book-weather/predict`, { body: rows })).body as Array<{ prediction: string; rain_score: number }>;
  const inputs = columns(rows).map((c, i) => (i % 2 === 0 ? { ...c, shape: [rows.length], data: c.data } : { ...c, data: c.data.map((v) => [v]) }));
  const res = await post('/v2/models/book-weather/infer', JSON.stringify({ id: 'req-1', inputs }));
  assert.equal(res.status, 200, res.bytes.toString());
  const body = res.json();
  assert.equal(body.id, 'req-1');
  assert.equal(body.model_name, 'book-weather');
  assert.equal(body.model_version, '1');
  const [prediction, score] = body.outputs;
  assert.deepEqual(prediction, { name: 'prediction', datatype: 'BYTES', shape: [rows.length, 1], data: expected.map((e) => e.prediction) });
  assert.equal(score.datatype, 'FP32');
  score.data.forEach((v: number, i: number) => assert.equal(Math.fround(v), Math.fround(expected[i]!.rain_score)));
});

test('binary tensors both ways (Inference-Header-Content-Length, binary_data_size, binary_data_output)', async () => {
  const expected = (await call(`${server.url}/models/book-weather/predict`, { body: rows })).body as Array<{ prediction: string; rain_score: number }>;
  const { body, headerLength } = binaryBody(BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [rows.length], bytes: fp64(rows.map((r) => r[f]!)) })), { parameters: { binary_data_output: true } });
  const res = await post('/v2/models/book-weather/infer', body, { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength) });
  assert.equal(res.status, 200, res.bytes.toString());
  assert.equal(res.headers['content-type'], 'application/octet-stream');
  const { json, binary } = parseBinaryResponse(res.bytes, Number(res.headers['inference-header-content-length']));
  assert.deepEqual(readBytesElements(binary.get('prediction')!), expected.map((e) => e.prediction));
  const scores = binary.get('rain_score')!;
  assert.equal(json.outputs[1]!.parameters!.binary_data_size, rows.length * 4);
  for (let i = 0; i < rows.length; i++) assert.equal(scores.readFloatLE(i * 4), Math.fround(expected[i]!.rain_score));
  // One output asked for, binary; FP32 inputs accepted for number fields too.
  const asked = binaryBody(BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP32', shape: [rows.length, 1], bytes: new Uint8Array(Float32Array.from(rows.map((r) => r[f]!)).buffer) })));
  const header = JSON.parse(asked.body.subarray(0, asked.headerLength).toString());
  header.outputs = [{ name: 'prediction', parameters: { binary_data: true } }];
  const json2 = Buffer.from(JSON.stringify(header));
  const res2 = await post('/v2/models/book-weather/infer', Buffer.concat([json2, asked.body.subarray(asked.headerLength)]), { 'inference-header-content-length': String(json2.byteLength) });
  assert.equal(res2.status, 200, res2.bytes.toString());
  const parsed = parseBinaryResponse(res2.bytes, Number(res2.headers['inference-header-content-length']));
  assert.deepEqual(parsed.json.outputs.map((o) => o.name), ['prediction']);
  assert.equal(readBytesElements(parsed.binary.get('prediction')!).length, rows.length);
});

test('binary columns are checked as the JSON API checks rows: a non-finite element is a 400 naming the tensor and element', async () => {
  // Numeric columns skip the rows when every value passes (codec.ts numberColumns); these do not.
  for (const [bad, why] of [[NaN, 'value is not a finite number'], [Infinity, 'value is not a finite number'], [-1e39, 'greater than or equal to']] as const) {
    const { body, headerLength } = binaryBody(BOOK_FIELDS.map((f, i) => ({ name: f, datatype: 'FP64', shape: [rows.length], bytes: fp64(rows.map((r, j) => (i === 2 && j === 3 ? bad : r[f]!))) })));
    const res = await post('/v2/models/book-weather/infer', body, { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength) });
    assert.equal(res.status, 400, `${bad}: ${res.bytes.toString()}`);
    assert.match(res.json().error, new RegExp(`input '${BOOK_FIELDS[2]}' element 3: .*${why}`), String(bad));
  }
  // Every element bad: the message shows three and says there were more than the 100 a 422 lists.
  const n = 64;
  const { body, headerLength } = binaryBody(BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [n], bytes: fp64(new Array<number>(n).fill(NaN)) })));
  const res = await post('/v2/models/book-weather/infer', body, { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength) });
  assert.equal(res.status, 400);
  assert.match(res.json().error, /element 0: value is not a finite number; .*\(and more than 97 more\)$/);
});

test('raw view: the ONNX graph\'s tensors in and out, equal to onnxruntime on the same tensor', async () => {
  const x = Float32Array.from(rows.flatMap((r) => BOOK_FIELDS.map((f) => r[f]! / 100)));
  const session = await ort.InferenceSession.create(BOOK_MODEL);
  const direct = await session.run({ float_input: new ort.Tensor('float32', x, [rows.length, 7]) });
  await session.release();
  const res = await post('/v2/models/svc-raw/infer', JSON.stringify({ inputs: [{ name: 'float_input', datatype: 'FP32', shape: [rows.length, 7], data: Array.from(x) }], outputs: [{ name: 'label' }, { name: 'probabilities' }] }));
  assert.equal(res.status, 200, res.bytes.toString());
  const [label, probabilities] = res.json().outputs;
  assert.deepEqual(label, { name: 'label', datatype: 'INT64', shape: [rows.length], data: Array.from(direct.label!.data as BigInt64Array, Number) });
  assert.deepEqual(probabilities.shape, [rows.length, 2]);
  // The server runs the optimised graph (SVM rewritten into dense ops): equal up to float rounding.
  Array.from(direct.probabilities!.data as Float32Array).forEach((v, i) => assert.ok(Math.abs(probabilities.data[i] - v) < 1e-5, `probabilities[${i}]`));
  const bin = binaryBody([{ name: 'float_input', datatype: 'FP32', shape: [rows.length, 7], bytes: new Uint8Array(x.buffer) }], { outputs: [{ name: 'label', parameters: { binary_data: true } }] });
  const res2 = await post('/v2/models/svc-raw/infer', bin.body, { 'inference-header-content-length': String(bin.headerLength) });
  assert.equal(res2.status, 200, res2.bytes.toString());
  const labels = parseBinaryResponse(res2.bytes, Number(res2.headers['inference-header-content-length'])).binary.get('label')!;
  assert.deepEqual(Array.from(new BigInt64Array(labels.buffer.slice(labels.byteOffset, labels.byteOffset + labels.byteLength))), Array.from(direct.label!.data as BigInt64Array));
});

test('string and integer fields (loan): BYTES and INT64 columns, JSON and binary, as the JSON API answers', async () => {
  const samples = [
    { Term: 84, NoEmp: 5, CreateJob: 0, RetainedJob: 5, longitude: -87.6298, latitude: 41.8781, GrAppv: 150000, SBA_Appv: 127500, is_new: 'False', FranchiseCode: '1', UrbanRural: 1, City: 'CHICAGO', State: 'IL', Bank: 'JPMORGAN CHASE BANK NATL ASSOC', BankState: 'OH', RevLineCr: 'N', naics_first_two: '44', same_state: 'False' },
    { Term: 240, NoEmp: 40, CreateJob: 2, RetainedJob: 10, longitude: -122.4, latitude: 37.77, GrAppv: 900000, SBA_Appv: 675000, is_new: 'True', FranchiseCode: '0', UrbanRural: 2, City: 'SAN FRANCISCO', State: 'CA', Bank: 'WELLS FARGO BANK NATL ASSOC', BankState: 'CA', RevLineCr: 'Y', naics_first_two: '72', same_state: 'True' },
  ];
  const expected = (await call(`${server.url}/models/loan/predict`, { body: samples })).body as Array<{ default_proba: number }>;
  const meta = (await call(`${server.url}/v2/models/loan`)).body as { inputs: Array<{ name: string; datatype: string }> };
  const inputs = meta.inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: [samples.length, 1], data: samples.map((s) => s[i.name as keyof typeof s]) }));
  const res = await post('/v2/models/loan/infer', JSON.stringify({ inputs }));
  assert.equal(res.status, 200, res.bytes.toString());
  const proba = res.json().outputs[0];
  assert.equal(proba.name, 'default_proba');
  proba.data.forEach((v: number, i: number) => assert.equal(Math.fround(v), Math.fround(expected[i]!.default_proba)));
  const bin = binaryBody(meta.inputs.map((i) => {
    const values = samples.map((s) => s[i.name as keyof typeof s]);
    const bytes = i.datatype === 'BYTES' ? bytesElements(values as string[]) : i.datatype === 'INT64' ? new Uint8Array(BigInt64Array.from(values as number[], BigInt).buffer) : fp64(values as number[]);
    return { name: i.name, datatype: i.datatype, shape: [samples.length], bytes };
  }));
  const res2 = await post('/v2/models/loan/infer', bin.body, { 'inference-header-content-length': String(bin.headerLength) });
  assert.equal(res2.status, 200, res2.bytes.toString());
  assert.deepEqual(res2.json().outputs[0].data, proba.data);
  // The config's own validation runs on the columns: a value out of range is named with its row.
  const outOfRange = inputs.map((i) => (i.name === 'Term' ? { ...i, data: [84, 9999] } : i));
  const bad = await post('/v2/models/loan/infer', JSON.stringify({ inputs: outOfRange }));
  assert.equal(bad.status, 400);
  assert.match(bad.json().error, /input 'Term' element 1: ensure this value is less than or equal to 480/);
  // A JSON number past INT64's range is refused, not wrapped modulo 2^64 (2^64 + 4096 read as 4096).
  for (const huge of ['18446744073709555712', '18446744073709551616', '9223372036854775807', '-9223372036854777856']) {
    const body = JSON.stringify({ inputs: inputs.map((i) => (i.name === 'NoEmp' ? { ...i, data: ['HUGE', 5] } : i)) }).replace('"HUGE"', huge);
    const wrapped = await post('/v2/models/loan/infer', body);
    assert.equal(wrapped.status, 400, `${huge}: ${wrapped.bytes.toString()}`);
    // 2^63 - 1 reads as 2^63 (a double): not exact, so refused as such rather than called invalid.
    assert.match(wrapped.json().error, huge === '9223372036854775807' ? /input 'NoEmp': element 0 \(.*\) is past ±2\^53/ : /input 'NoEmp': element 0 \(.*\) is not a valid INT64/, huge);
  }
});

test('bad input: each a 400 {"error"} naming the tensor, never a 500', async () => {
  const good = columns(rows.slice(0, 2));
  const send = (inputs: unknown[], extra: Record<string, unknown> = {}) => post('/v2/models/book-weather/infer', JSON.stringify({ inputs, ...extra }));
  const cases: Array<[string, Promise<{ status: number; json: () => { error: string } }>, RegExp]> = [
    ['wrong datatype', send(good.map((c, i) => (i === 0 ? { ...c, datatype: 'BYTES', data: ['a', 'b'] } : c))), /input 'temp_c': datatype BYTES.*number/],
    ['shape/data mismatch', send(good.map((c, i) => (i === 1 ? { ...c, shape: [3, 1] } : c))), /input 'humidity': shape \[3, 1\] holds 3 elements but data has 2/],
    ['rows differ', send(good.map((c, i) => (i === 2 ? { ...c, shape: [1, 1], data: [1] } : c))), /input 'wind_speed_kmph' has 1 rows but input 'temp_c' has 2/],
    ['unknown input', send([...good, { name: 'colour', datatype: 'FP64', shape: [2], data: [1, 2] }]), /unknown input 'colour'/],
    ['missing input', send(good.slice(1)), /missing input 'temp_c'/],
    ['FP16', send(good.map((c, i) => (i === 0 ? { ...c, datatype: 'FP16' } : c))), /input 'temp_c': datatype FP16 is not supported/],
    ['huge declared shape', send(good.map((c, i) => (i === 0 ? { ...c, shape: [1e9, 1e9] } : c))), /input 'temp_c': shape \[1000000000,1000000000\] declares more than/],
    ['not a number', send(good.map((c, i) => (i === 0 ? { ...c, data: ['x', 1] } : c))), /input 'temp_c': FP64 data must be numbers/],
    // (It was "has no data".)
    ['data nested too deep', send(good.map((c, i) => (i === 0 ? { ...c, data: Array.from({ length: 40 }).reduce<unknown>((d) => [d], c.data) } : c))), /input 'temp_c': data is nested more than 32 levels deep \(send it flat, or nested as shape \[2, 1\]\)/],
    ['a dimension sent as a string', send(good.map((c, i) => (i === 0 ? { ...c, shape: ['2'] } : c))), /input 'temp_c': shape \["2"\] has a dimension that is not a non-negative integer \("2"\)/],
    ['a dimension too large to be exact', send(good.map((c, i) => (i === 0 ? { ...c, shape: [2 ** 62] } : c))), /input 'temp_c': shape \[4611686018427388000\] declares more than/],
    ['unknown output', send(good, { outputs: [{ name: 'colour' }] }), /unknown output 'colour'/],
    ['an output requested twice', send(good, { outputs: [{ name: 'prediction' }, { name: 'prediction' }] }), /output "prediction" is requested twice/],
    ['binary_data not a boolean', send(good, { outputs: [{ name: 'prediction', parameters: { binary_data: 'true' } }] }), /output 'prediction': parameters.binary_data must be true or false/],
    ['binary_data_output not a boolean', send(good, { parameters: { binary_data_output: 'true' } }), /parameters.binary_data_output must be true or false/],
    // Triton's classification extension ranks numbers only (test/oip/classification.test.ts has the rest).
    ['classification of a BYTES output', send(good, { outputs: [{ name: 'prediction', parameters: { classification: 2 } }] }), /output 'prediction': parameters.classification needs an output of numbers to rank, but 'prediction' is BYTES/],
    ['classification not a positive integer', send(good, { outputs: [{ name: 'rain_score', parameters: { classification: -1 } }] }), /output 'rain_score': parameters.classification must be a positive integer/],
  ];
  const answers = await Promise.all(cases.map(([, pending]) => pending));
  for (const [k, [what, , message]] of cases.entries()) {
    const res = answers[k]!;
    assert.equal(res.status, 400, what);
    const error = res.json().error;
    assert.match(error, message, `${what}: ${error}`);
  }
  // Binary: truncated section, header length past the body, a size that does not fit the shape.
  const bin = binaryBody(BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [2], bytes: fp64([1, 2]) })));
  const truncated = await post('/v2/models/book-weather/infer', bin.body.subarray(0, bin.body.byteLength - 5), { 'inference-header-content-length': String(bin.headerLength) });
  assert.equal(truncated.status, 400);
  assert.match(truncated.json().error, /input 'current_weather_condition': binary_data_size 16 is past the end of the body .*truncated/);
  const past = await post('/v2/models/book-weather/infer', bin.body, { 'inference-header-content-length': String(bin.body.byteLength + 10) });
  assert.equal(past.status, 400);
  assert.match(past.json().error, /Inference-Header-Content-Length \(\d+\) is past the end of the body/);
  const wrongSize = binaryBody(BOOK_FIELDS.map((f, i) => ({ name: f, datatype: 'FP64', shape: [i === 3 ? 3 : 2], bytes: fp64([1, 2]) })));
  const res = await post('/v2/models/book-weather/infer', wrongSize.body, { 'inference-header-content-length': String(wrongSize.headerLength) });
  assert.equal(res.status, 400);
  assert.match(res.json().error, /input 'wind_bearing_degree': binary data is 16 bytes but shape \[3\] of FP64 needs 24/);
  const badBytes = binaryBody([{ name: 'float_input', datatype: 'BYTES', shape: [2], bytes: Buffer.from([200, 0, 0, 0, 1]) }]);
  const res3 = await post('/v2/models/svc-raw/infer', badBytes.body, { 'inference-header-content-length': String(badBytes.headerLength) });
  assert.equal(res3.status, 400);
  assert.match(res3.json().error, /input 'float_input': binary data: element 0 declares 200 bytes, past the end/);
  // A BYTES element that is not UTF-8 (loan's City, a string field) is refused, not decoded with U+FFFD.
  const loanMeta = (await call(`${server.url}/v2/models/loan`)).body as { inputs: Array<{ name: string; datatype: string }> };
  const notUtf8 = binaryBody(loanMeta.inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: [1],
    bytes: i.name === 'City' ? Buffer.from([2, 0, 0, 0, 0xc3, 0x28]) : i.datatype === 'BYTES' ? bytesElements(['1']) : i.datatype === 'INT64' ? new Uint8Array(BigInt64Array.from([1n]).buffer) : fp64([1]) })));
  const res4 = await post('/v2/models/loan/infer', notUtf8.body, { 'inference-header-content-length': String(notUtf8.headerLength) });
  assert.equal(res4.status, 400, res4.bytes.toString());
  assert.match(res4.json().error, /input 'City': BYTES element 0 is not valid UTF-8/);
  // So is a JSON body (or header) that is not UTF-8: a Latin-1 'é' in BYTES data was decoded as U+FFFD and served (200).
  const latin1 = JSON.stringify({ inputs: loanMeta.inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: [1], data: [i.name === 'City' ? 'CHICAGé' : i.datatype === 'BYTES' ? '1' : 1] })) });
  const res5 = await post('/v2/models/loan/infer', Buffer.from(latin1, 'latin1'));
  assert.equal(res5.status, 400, res5.bytes.toString());
  assert.match(res5.json().error, /^the inference request's JSON is not valid UTF-8$/);
  const latin1Header = Buffer.from(latin1, 'latin1');
  const res6 = await post('/v2/models/loan/infer', latin1Header, { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(latin1Header.byteLength) });
  assert.equal(res6.status, 400, res6.bytes.toString());
  assert.match(res6.json().error, /^the inference request's JSON header is not valid UTF-8$/);
  // A leading byte-order mark is dropped, as the JSON rows routes drop it (it was 400 'not valid JSON: Unexpected token').
  const withBom = await post('/v2/models/book-weather/infer', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify({ inputs: good }))]));
  assert.equal(withBom.status, 200, withBom.bytes.toString());
  // Raw view: datatype and shape checked against the graph.
  const raw = await post('/v2/models/svc-raw/infer', JSON.stringify({ inputs: [{ name: 'float_input', datatype: 'FP64', shape: [1, 7], data: [1, 2, 3, 4, 5, 6, 7] }] }));
  assert.match(raw.json().error, /input 'float_input': datatype FP64, but the model takes FP32/);
  const rawShape = await post('/v2/models/svc-raw/infer', JSON.stringify({ inputs: [{ name: 'float_input', datatype: 'FP32', shape: [1, 6], data: [1, 2, 3, 4, 5, 6] }] }));
  assert.match(rawShape.json().error, /input 'float_input': shape \[1, 6\] does not fit the model's \[-1, 7\]/);
  // Zero rows: a 400 on either view (the raw view's reached the batcher and answered 500).
  for (const [model, inputs] of [['svc-raw', [{ name: 'float_input', datatype: 'FP32', shape: [0, 7], data: [] }]], ['book-weather', good.map((c) => ({ ...c, shape: [0], data: [] }))]] as const) {
    const empty = await post(`/v2/models/${model}/infer`, JSON.stringify({ inputs }));
    assert.equal(empty.status, 400, `${model}: ${empty.bytes.toString()}`);
    assert.match(empty.json().error, /the request has no rows/, model);
  }
  const noMediaType = await post('/v2/models/book-weather/infer', JSON.stringify({ inputs: good }), { 'content-type': ';;' });
  assert.equal(noMediaType.status, 415);
  assert.match(noMediaType.json().error, /the Content-Type header ";;" is not a media type: send application\/json/);
  const notJson = await post('/v2/models/book-weather/infer', '{"inputs": [');
  assert.equal(notJson.status, 400);
  assert.match(notJson.json().error, /not valid JSON/);
  // An empty body says so, whatever its content type (not a JSON parser's "Unexpected end of JSON input").
  for (const type of ['application/json', 'application/octet-stream']) {
    const emptyBody = await post('/v2/models/book-weather/infer', '', { 'content-type': type });
    assert.equal(emptyBody.status, 400, type);
    assert.match(emptyBody.json().error, /^the request body is empty; expected an inference request/, type);
  }
  const unknownModel = await post('/v2/models/nope/infer', JSON.stringify({ inputs: good }));
  assert.equal(unknownModel.status, 404);
  assert.match(unknownModel.json().error, /model 'nope' not found/);
});

test('statistics: per-version counts and times (Triton statistics extension)', async () => {
  const before = (await call(`${server.url}/v2/models/book-weather/versions/1/stats`)).body.model_stats[0];
  await post('/v2/models/book-weather/infer', JSON.stringify({ inputs: columns(rows) }));
  await post('/v2/models/book-weather/infer', JSON.stringify({ inputs: columns(rows).slice(1) }));
  const stats = (await call(`${server.url}/v2/models/book-weather/stats`)).body.model_stats;
  assert.equal(stats.length, 1);
  const s = stats[0];
  assert.equal(s.name, 'book-weather');
  assert.equal(s.version, '1');
  assert.equal(s.inference_stats.success.count, before.inference_stats.success.count + 1);
  // A request refused before it reaches the model (here a missing input, 400) is not an inference request of the model.
  assert.equal(s.inference_stats.fail.count, before.inference_stats.fail.count);
  assert.equal(s.inference_count, before.inference_count + rows.length);
  assert.equal(s.execution_count, before.execution_count + 1);
  assert.ok(s.inference_stats.compute_infer.ns > before.inference_stats.compute_infer.ns);
  assert.ok(s.batch_stats.some((b: { batch_size: number }) => b.batch_size === rows.length));
  const all = (await call(`${server.url}/v2/models/stats`)).body.model_stats.map((m: { name: string }) => m.name).sort();
  assert.deepEqual(all, ['book-weather', 'loan', 'svc-raw']);
  assert.equal((await call(`${server.url}/v2/models/book-weather/versions/7/stats`)).status, 404);
});

test('OpenAPI: the OIP routes are documented with each model\'s view, and the document validates', async () => {
  const doc = (await call(`${server.url}/openapi.json`)).body;
  assert.ok(doc.paths['/v2/models/book-weather/infer'].post.description.includes('View: **fields**'));
  assert.ok(doc.paths['/v2/models/svc-raw/infer'].post.description.includes('View: **raw**'));
  assert.ok(doc.paths['/v2/health/ready']);
  assert.equal(doc.paths['/models/svc-raw/predict'], undefined);
  assert.ok(doc.paths['/models/book-weather/predict']);
  // Every status the infer route answers is listed (413, 415, 500 and 504 were not).
  assert.deepEqual(Object.keys(doc.paths['/v2/models/book-weather/infer'].post.responses).sort(), ['200', '400', '404', '413', '415', '500', '502', '503', '504']);
  await SwaggerParser.validate(structuredClone(doc));
});

test('repository index: {"ready": true} lists only ready versions; any content type, an empty body, bad bodies named', async () => {
  const index = async (body: string | undefined, headers: Record<string, string> = {}) => {
    const res = await request(`${server.url}/v2/repository/index`, { method: 'POST', body, headers });
    return { status: res.statusCode, body: await res.body.json() as Array<{ name: string; state: string }> & { error?: string; code?: string; request_id?: string } };
  };
  const names = (list: Array<{ name: string; state: string }>) => list.map((m) => `${m.name}:${m.state}`).sort();
  assert.equal((await call(`${server.url}/v2/repository/models/svc-raw/unload`, { method: 'POST' })).status, 200);
  try {
    const all = ['book-weather:READY', 'loan:READY', 'svc-raw:UNAVAILABLE'];
    assert.deepEqual(names((await index(undefined)).body), all);
    assert.deepEqual(names((await index('', { 'content-type': 'application/json' })).body), all);
    assert.deepEqual(names((await index('{"ready": false}', { 'content-type': 'application/json' })).body), all);
    assert.deepEqual(names((await index('{"ready": true}', { 'content-type': 'application/json' })).body), ['book-weather:READY', 'loan:READY']);
    // curl -d sends a form content type; Triton's clients may send none.
    assert.deepEqual(names((await index('{"ready": true}', { 'content-type': 'application/x-www-form-urlencoded' })).body), ['book-weather:READY', 'loan:READY']);
    const wrongType = await index('{"ready": "yes"}', { 'content-type': 'application/json' });
    assert.equal(wrongType.status, 422);
    // Under /v2 every error is OIP's {"error": message} (tritonclient reads it), with the project's code and request id.
    assert.deepEqual({ ...wrongType.body, request_id: typeof wrongType.body.request_id }, { error: 'body.ready: value could not be parsed to a boolean', code: 'MS_ERR_VALIDATION', request_id: 'string' });
    const notObject = await index('[true]', { 'content-type': 'application/json' });
    assert.equal(notObject.status, 422);
    const notJson = await index('{"ready": tru', { 'content-type': 'application/json' });
    assert.equal(notJson.status, 400);
    assert.equal(notJson.body.code, 'MS_ERR_BAD_JSON');
    // Triton's overrides are refused, not ignored (a 200 would say they took effect).
    for (const [body, message] of [[{ parameters: { config: '{"max_batch_size": 8}' } }, /load parameter 'config' is not supported/], [{ parameters: { 'file:1/model.onnx': 'AAAA' } }, /load parameter 'file:1\/model.onnx' is not supported/], [{ parameters: 'x' }, /"parameters" must be an object/]] as const) {
      const refused = await call(`${server.url}/v2/repository/models/svc-raw/load`, { method: 'POST', body });
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
      assert.equal(refused.body.code, 'MS_ERR_UNSUPPORTED_PARAMETER');
      assert.match(refused.body.error, message);
    }
    // Unload's parameters are not read, but ones that are not an object are refused as load's are (a 200 unloaded the model).
    for (const parameters of ['x', [1], 2]) {
      const refused = await call(`${server.url}/v2/repository/models/book-weather/unload`, { method: 'POST', body: { parameters } });
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
      assert.equal(refused.body.code, 'MS_ERR_UNSUPPORTED_PARAMETER');
      assert.equal(refused.body.error, '"parameters" must be an object');
    }
    // A load or unload body that is not an object is refused as the index's is, not ignored (a 200 loaded the model).
    for (const raw of ['[]', '"config"', 'null', '1']) {
      for (const action of ['load', 'unload']) {
        const refused = await call(`${server.url}/v2/repository/models/svc-raw/${action}`, { method: 'POST', raw });
        assert.equal(refused.status, 422, `${action} ${raw}: ${refused.text}`);
        assert.equal(refused.body.code, 'MS_ERR_VALIDATION');
        assert.match(refused.body.error, /^body: value is not a valid dict \(send an object such as \{"parameters": \{\}\}, or no body\)$/);
      }
    }
    assert.deepEqual(names((await index(undefined)).body), all, 'svc-raw still unloaded');
  } finally {
    assert.equal((await call(`${server.url}/v2/repository/models/svc-raw/load`, { method: 'POST' })).status, 200);
  }
});

test('every error under /v2 is OIP\'s {"error", "code", "request_id"}: unknown routes, wrong methods, bad URLs, the repository extension', async () => {
  const cases: Array<[string, RequestInit, number, string]> = [
    ['/v2/no/such/route', {}, 404, 'MS_ERR_NOT_FOUND'],
    ['/v2/models/book-weather/infer', {}, 405, 'MS_ERR_METHOD_NOT_ALLOWED'],
    ['/v2/models/%ff/infer', { method: 'POST', body: '{}' }, 400, 'MS_ERR_BAD_URL'],
    ['/v2/repository/models/nosuch/load', { method: 'POST' }, 404, 'MS_ERR_MODEL_NOT_FOUND'],
    ['/v2/repository/models/book-weather/load', { method: 'POST', body: '{"parameters": {"config": "{}"}}' }, 400, 'MS_ERR_UNSUPPORTED_PARAMETER'],
    ['/v2/models/book-weather/infer', { method: 'POST', body: '{"inputs": [' , headers: { 'content-type': 'application/json' } }, 400, 'MS_ERR_BAD_TENSOR'],
  ];
  for (const [path, init, status, code] of cases) {
    const res = await fetch(`${server.url}${path}`, init);
    const body = await res.json() as Record<string, unknown>;
    assert.equal(res.status, status, `${path}: ${JSON.stringify(body)}`);
    assert.deepEqual(Object.keys(body), ['error', 'code', 'request_id'], path);
    assert.equal(body.code, code, path);
    assert.equal(body.request_id, res.headers.get('x-request-id'), path);
  }
  // Outside /v2 the project's shape stays.
  const json = await (await fetch(`${server.url}/models/nosuch/predict`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).json();
  assert.deepEqual(Object.keys(json as object), ['detail', 'code', 'request_id']);
});
