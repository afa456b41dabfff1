// The Open Inference Protocol over gRPC, with a @grpc/grpc-js client built from the project's
// .proto: health, metadata, ModelInfer with typed contents and with raw contents, statistics, the
// repository RPCs, errors as status codes, API keys in the authorization metadata, the standard
// health service, graceful drain; and one batch holding requests from JSON, OIP REST and gRPC.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync } from 'node:fs';
import { connect } from 'node:http2';
import { join } from 'node:path';
import { deflateSync, gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import type { BatchInfo } from '../../src/batching/batcher.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { grpcStatusOf, MAX_STATUS_DETAILS, MAX_WATCHES, MAX_WATCHES_PER_CONNECTION, statusDetails } from '../../src/grpc/server.js';
import { parseServeOptions } from '../../src/cli/serve-options.js';
import { ERRORS, ModelServeError } from '../../src/errors.js';
import { BOOK_FIELDS, BOOK_MODEL, EXAMPLES, bookRows, tempDir, writeBookModelFolder } from '../helpers/paths.js';
import { call } from '../helpers/http.js';
import { sampleSum } from '../helpers/prom.js';
import { fp64, grpcClients, grpcFrame, grpcMessageReader, rpc, type GrpcClient } from '../helpers/oip.js';
import { captureLogLines } from '../helpers/logs.js';

const KEY = 'user-key-0123456789abcdef';
const ADMIN = 'admin-key-0123456789abcdef';
let server: RunningServer;
let inference: GrpcClient;
let health: GrpcClient;
let closeClients: () => void;
const rows = bookRows(4);
const auth = () => {
  const m = new grpc.Metadata();
  m.set('authorization', `Bearer ${KEY}`);
  return m;
};

before(async () => {
  const repo = tempDir();
  writeBookModelFolder(repo, `  rain_score:\n    from: probabilities\n    column: 1\n`);
  mkdirSync(join(repo, 'svc-raw'));
  symlinkSync(BOOK_MODEL, join(repo, 'svc-raw', 'svc.onnx'));
  symlinkSync(join(EXAMPLES, 'loan'), join(repo, 'loan'));
  server = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, app: { auth: { keys: [KEY], adminKeys: [ADMIN] } } });
  ({ inference, health, close: closeClients } = grpcClients(server.grpcPort!));
});
after(async () => {
  closeClients?.();
  await server?.shutdown();
});

const typedInputs = (rs: typeof rows) => BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [rs.length, 1], contents: { fp64_contents: rs.map((r) => r[f]!) } }));

test('health, server and model metadata', async () => {
  assert.deepEqual(await rpc(inference, 'ServerLive', {}, auth()), { live: true });
  assert.deepEqual(await rpc(inference, 'ServerReady', {}, auth()), { ready: true });
  assert.deepEqual(await rpc(inference, 'ModelReady', { name: 'book-weather' }, auth()), { ready: true });
  const meta = await rpc<{ extensions: string[] }>(inference, 'ServerMetadata', {}, auth());
  assert.ok(meta.extensions.includes('binary_tensor_data'));
  assert.ok(meta.extensions.includes('classification'));
  const model = await rpc<{ inputs: Array<{ name: string; datatype: string; shape: string[] }>; properties: Record<string, string> }>(inference, 'ModelMetadata', { name: 'book-weather', version: '1' }, auth());
  assert.equal(model.properties.view, 'fields');
  assert.deepEqual(model.inputs[0], { name: 'temp_c', datatype: 'FP64', shape: ['-1', '1'] });
  const raw = await rpc<{ inputs: Array<{ name: string; datatype: string; shape: string[] }>; properties: Record<string, string> }>(inference, 'ModelMetadata', { name: 'svc-raw' }, auth());
  assert.equal(raw.properties.view, 'raw');
  assert.deepEqual(raw.inputs, [{ name: 'float_input', datatype: 'FP32', shape: ['-1', '7'] }]);
  // grpc.health.v1: open (no key), SERVING; an unknown service is NOT_FOUND.
  assert.deepEqual(await rpc(health, 'Check', { service: '' }), { status: 'SERVING' });
  assert.deepEqual(await rpc(health, 'Check', { service: 'inference.GRPCInferenceService' }), { status: 'SERVING' });
  await assert.rejects(rpc(health, 'Check', { service: 'nope' }), (err: grpc.ServiceError) => err.code === grpc.status.NOT_FOUND);
});

/** A ModelConfig RPC answer as REST's JSON: int64 strings as numbers, no oneof discriminators. */
function configAsJson(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => configAsJson(v, key));
  if (typeof value === 'string' && (key === 'dims' || key === 'max_queue_delay_microseconds')) return Number(value);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value)
    .filter(([k, v]) => v !== null && k !== 'policy_choice' && k !== 'scheduling_choice')
    .map(([k, v]) => [k, configAsJson(v, k)]));
}

test('ModelMetadata decodes with MLServer\'s dataplane.proto too, whose field 6 is map<string, InferParameter> parameters (properties was field 6, a string map: the decode failed)', async () => {
  // The fields of MLServer's ModelMetadataResponse that matter here (its field numbers and types).
  const mlserver = protobuf.parse(`syntax = "proto3"; package mlserver;
    message InferParameter { oneof parameter_choice { bool bool_param = 1; int64 int64_param = 2; string string_param = 3; } }
    message ModelMetadataResponse {
      message TensorMetadata { string name = 1; string datatype = 2; repeated int64 shape = 3; map<string, InferParameter> parameters = 4; }
      string name = 1; repeated string versions = 2; string platform = 3; repeated TensorMetadata inputs = 4; repeated TensorMetadata outputs = 5;
      map<string, InferParameter> parameters = 6;
    }`).root.lookupType('mlserver.ModelMetadataResponse');
  const raw = new grpc.Client(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure());
  const serialize = (inference.ModelMetadata as unknown as { requestSerialize(m: unknown): Buffer }).requestSerialize;
  try {
    for (const [name, view] of [['book-weather', 'fields'], ['svc-raw', 'raw']]) {
      const bytes = await new Promise<Buffer>((resolve, reject) => {
        raw.makeUnaryRequest('/inference.GRPCInferenceService/ModelMetadata', serialize, (b: Buffer) => b, { name }, auth(), (err, answer) => (err ? reject(err) : resolve(answer!)));
      });
      const decoded = mlserver.toObject(mlserver.decode(bytes)) as { name: string; inputs: unknown[] };
      assert.equal(decoded.name, name);
      assert.ok(decoded.inputs.length > 0);
      // modelserve's own .proto still reads the view.
      const ours = (inference.ModelMetadata as unknown as { responseDeserialize(b: Buffer): { properties: Record<string, string> } }).responseDeserialize(bytes);
      assert.equal(ours.properties.view, view);
    }
  } finally {
    raw.close();
  }
});

test('ModelConfig (Triton): the same content as REST GET /v2/models/{m}/config, for both views', async () => {
  const headers = { authorization: `Bearer ${KEY}` };
  for (const [name, version] of [['book-weather', '1'], ['svc-raw', '']]) {
    const rest = await call(`${server.url}/v2/models/${name}${version ? `/versions/${version}` : ''}/config`, { method: 'GET', headers });
    assert.equal(rest.status, 200, rest.text);
    const { config } = await rpc<{ config: Record<string, unknown> }>(inference, 'ModelConfig', { name, version }, auth());
    assert.deepEqual(configAsJson(config), rest.body, name);
  }
  const { config } = await rpc<{ config: { max_batch_size: number; input: Array<{ data_type: string; dims: string[] }> } }>(inference, 'ModelConfig', { name: 'svc-raw' }, auth());
  assert.equal(config.max_batch_size, 64);
  assert.deepEqual(config.input[0], { name: 'float_input', data_type: 'TYPE_FP32', dims: ['7'] });
  await assert.rejects(rpc(inference, 'ModelConfig', { name: 'nope' }, auth()), (err: grpc.ServiceError) => err.code === grpc.status.NOT_FOUND && /model 'nope' not found/.test(err.details));
  await assert.rejects(rpc(inference, 'ModelConfig', { name: 'book-weather' }), (err: grpc.ServiceError) => err.code === grpc.status.UNAUTHENTICATED);
});

test('ModelInfer: typed contents and raw contents answer as the JSON API does', async () => {
  const expected = (await call(`${server.url}/models/book-weather/predict`, { body: rows, headers: { authorization: `Bearer ${KEY}` } })).body as Array<{ prediction: string; rain_score: number }>;
  type Response = { id: string; model_version: string; outputs: Array<{ name: string; datatype: string; shape: string[]; contents: { bytes_contents: Buffer[]; fp32_contents: number[] } }>; raw_output_contents: Buffer[] };
  const typed = await rpc<Response>(inference, 'ModelInfer', { model_name: 'book-weather', id: 'g1', inputs: typedInputs(rows) }, auth());
  assert.equal(typed.id, 'g1');
  assert.equal(typed.model_version, '1');
  assert.deepEqual(typed.outputs[0]!.contents.bytes_contents.map((b) => b.toString()), expected.map((e) => e.prediction));
  assert.deepEqual(typed.outputs[0]!.shape, [String(rows.length), '1']);
  assert.deepEqual(typed.outputs[1]!.contents.fp32_contents, expected.map((e) => Math.fround(e.rain_score)));
  assert.equal(typed.raw_output_contents.length, 0);
  const raw = await rpc<Response>(inference, 'ModelInfer', {
    model_name: 'book-weather',
    inputs: BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [rows.length] })),
    outputs: [{ name: 'rain_score' }],
    raw_input_contents: BOOK_FIELDS.map((f) => Buffer.from(fp64(rows.map((r) => r[f]!)))),
  }, auth());
  assert.deepEqual(raw.outputs.map((o) => o.name), ['rain_score']);
  const scores = raw.raw_output_contents[0]!;
  assert.deepEqual(Array.from({ length: rows.length }, (_, i) => scores.readFloatLE(i * 4)), expected.map((e) => Math.fround(e.rain_score)));
  // Raw view over gRPC.
  const x = Buffer.from(new Float32Array(14).fill(0.5).buffer);
  const r = await rpc<Response>(inference, 'ModelInfer', { model_name: 'svc-raw', inputs: [{ name: 'float_input', datatype: 'FP32', shape: [2, 7] }], outputs: [{ name: 'label' }], raw_input_contents: [x] }, auth());
  assert.equal(r.raw_output_contents[0]!.byteLength, 16);
  // An INT64 output in typed contents (int64_contents, decimal strings in this client).
  const labels = Array.from(new BigInt64Array(r.raw_output_contents[0]!.buffer.slice(r.raw_output_contents[0]!.byteOffset, r.raw_output_contents[0]!.byteOffset + 16)), String);
  const t = await rpc<{ outputs: Array<{ datatype: string; contents: { int64_contents: string[] } }> }>(inference, 'ModelInfer', { model_name: 'svc-raw', inputs: [{ name: 'float_input', datatype: 'FP32', shape: [2, 7], contents: { fp32_contents: new Array(14).fill(0.5) } }], outputs: [{ name: 'label' }] }, auth());
  assert.equal(t.outputs[0]!.datatype, 'INT64');
  assert.deepEqual(t.outputs[0]!.contents.int64_contents, labels);
});

test('ModelInfer: INT64 and BYTES typed contents (loan) answer as the JSON API does; an int64 past 2^53 is read as the large number it is (not wrapped)', async () => {
  const samples = [
    { Term: 84, NoEmp: 5, CreateJob: 0, RetainedJob: 5, longitude: -87.6298, latitude: 41.8781, GrAppv: 150000, SBA_Appv: 127500, is_new: 'False', FranchiseCode: '1', UrbanRural: 1, City: 'CHICAGO', State: 'IL', Bank: 'JPMORGAN CHASE BANK NATL ASSOC', BankState: 'OH', RevLineCr: 'N', naics_first_two: '44', same_state: 'False' },
    { Term: 240, NoEmp: 40, CreateJob: 2, RetainedJob: 10, longitude: -122.4, latitude: 37.77, GrAppv: 900000, SBA_Appv: 675000, is_new: 'True', FranchiseCode: '0', UrbanRural: 2, City: 'SAN FRANCISCO', State: 'CA', Bank: 'WELLS FARGO BANK NATL ASSOC', BankState: 'CA', RevLineCr: 'Y', naics_first_two: '72', same_state: 'True' },
  ];
  const headers = { authorization: `Bearer ${KEY}` };
  const expected = (await call(`${server.url}/models/loan/predict`, { body: samples, headers })).body as Array<{ default_proba: number }>;
  const meta = (await call(`${server.url}/v2/models/loan`, { headers })).body as { inputs: Array<{ name: string; datatype: string }> };
  const column = (name: string, datatype: string, values: unknown[]) => ({
    name, datatype, shape: [values.length, 1],
    contents: datatype === 'BYTES' ? { bytes_contents: values.map((v) => Buffer.from(String(v))) } : datatype === 'INT64' ? { int64_contents: values.map(String) } : { fp64_contents: values },
  });
  const inputs = meta.inputs.map((i) => column(i.name, i.datatype, samples.map((s) => s[i.name as keyof typeof s])));
  assert.ok(inputs.some((i) => i.datatype === 'INT64') && inputs.some((i) => i.datatype === 'BYTES'));
  const answer = await rpc<{ outputs: Array<{ name: string; contents: { fp32_contents: number[]; fp64_contents: number[] } }> }>(inference, 'ModelInfer', { model_name: 'loan', inputs }, auth());
  const proba = answer.outputs.find((o) => o.name === 'default_proba')!;
  const values = proba.contents.fp32_contents.length > 0 ? proba.contents.fp32_contents : proba.contents.fp64_contents;
  values.forEach((v, i) => assert.equal(Math.fround(v), Math.fround(expected[i]!.default_proba)));
  // 2^63 - 1 read as a number would round; read exactly it is past Term's maximum, not wrapped below its minimum.
  const huge = inputs.map((i) => (i.name === 'Term' ? column('Term', 'INT64', ['84', '9223372036854775807']) : i));
  await assert.rejects(rpc(inference, 'ModelInfer', { model_name: 'loan', inputs: huge }, auth()), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /input 'Term' element 1: ensure this value is less than or equal to 480/);
    return true;
  });
});

test('errors are status codes with the message naming the tensor', async () => {
  const code = async (request: unknown, status: grpc.status, message: RegExp, metadata = auth()) => {
    await assert.rejects(rpc(inference, 'ModelInfer', request, metadata), (err: grpc.ServiceError) => {
      assert.equal(err.code, status, err.details);
      assert.match(err.details, message);
      return true;
    });
  };
  const good = typedInputs(rows.slice(0, 2));
  const bw = 'book-weather';
  await code({ model_name: bw, inputs: good.map((c, i) => (i === 0 ? { ...c, datatype: 'BYTES', contents: { bytes_contents: [Buffer.from('a'), Buffer.from('b')] } } : c)) }, grpc.status.INVALID_ARGUMENT, /input 'temp_c': datatype BYTES/);
  await code({ model_name: bw, inputs: good.map((c, i) => (i === 1 ? { ...c, shape: [3] } : c)) }, grpc.status.INVALID_ARGUMENT, /input 'humidity': shape \[3\] holds 3 elements but contents.fp64_contents has 2/);
  await code({ model_name: bw, inputs: good.map((c, i) => (i === 1 ? { ...c, contents: { fp32_contents: [1, 2] } } : c)) }, grpc.status.INVALID_ARGUMENT, /input 'humidity'.*data is in contents.fp32_contents/);
  await code({ model_name: bw, inputs: [...good, { name: 'colour', datatype: 'FP64', shape: [2], contents: { fp64_contents: [1, 2] } }] }, grpc.status.INVALID_ARGUMENT, /unknown input 'colour'/);
  await code({ model_name: bw, inputs: good.slice(1) }, grpc.status.INVALID_ARGUMENT, /missing input 'temp_c'/);
  await code({ model_name: 'loan', inputs: [{ name: 'City', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [Buffer.from([0xff, 0xfe])] } }] }, grpc.status.INVALID_ARGUMENT, /input 'City': BYTES element 0 is not valid UTF-8/);
  await code({ model_name: bw, inputs: good.map((c, i) => (i === 1 ? { ...c, contents: { fp64_contents: [1, 2], fp32_contents: [3, 4] } } : c)) }, grpc.status.INVALID_ARGUMENT, /input 'humidity': has data in contents.fp32_contents as well as contents.fp64_contents/);
  await code({ model_name: bw, inputs: good.map((c, i) => (i === 0 ? { ...c, shape: ['99999999999', '99999999999'] } : c)) }, grpc.status.INVALID_ARGUMENT, /input 'temp_c': shape .* declares more than/);
  await code({ model_name: bw, inputs: good.map((c, i) => (i === 0 ? { ...c, shape: ['-1', '1'] } : c)) }, grpc.status.INVALID_ARGUMENT, /input 'temp_c': shape \[.*\] has a dimension that is not a non-negative integer/);
  // Past 2^53 a dimension is not exact, but it is a large one: too many elements, whatever its exact value.
  for (const dims of [['9223372036854775807', '1'], ['9007199254740993']]) {
    await code({ model_name: bw, inputs: good.map((c, i) => (i === 0 ? { ...c, shape: dims } : c)) }, grpc.status.INVALID_ARGUMENT, /input 'temp_c': shape \[.*\] declares more than \d+ elements/);
  }
  const rawInputs = BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [2] }));
  const rawContents = BOOK_FIELDS.map(() => Buffer.from(fp64([1, 2])));
  await code({ model_name: bw, inputs: rawInputs, raw_input_contents: rawContents.map((b, i) => (i === 6 ? b.subarray(0, 12) : b)) }, grpc.status.INVALID_ARGUMENT, /input 'current_weather_condition': raw_input_contents is 12 bytes but shape \[2\] of FP64 needs 16/);
  await code({ model_name: bw, inputs: rawInputs, raw_input_contents: rawContents.slice(1) }, grpc.status.INVALID_ARGUMENT, /raw_input_contents has 6 entries but the request has 7 inputs/);
  // Zero rows, on either view (the raw view's reached the batcher: INTERNAL).
  await code({ model_name: 'svc-raw', inputs: [{ name: 'float_input', datatype: 'FP32', shape: [0, 7], contents: { fp32_contents: [] } }] }, grpc.status.INVALID_ARGUMENT, /the request has no rows/);
  await code({ model_name: bw, inputs: good.map((c) => ({ ...c, shape: [0], contents: { fp64_contents: [] } })) }, grpc.status.INVALID_ARGUMENT, /the request has no rows/);
  // Triton's classification extension ranks numbers only, as over REST (test/oip/classification.test.ts has the rest); an output asked for twice is refused.
  await code({ model_name: bw, inputs: good, outputs: [{ name: 'prediction', parameters: { classification: { int64_param: '2' } } }] }, grpc.status.INVALID_ARGUMENT, /output 'prediction': parameters.classification needs an output of numbers to rank, but 'prediction' is BYTES/);
  await code({ model_name: bw, inputs: good, outputs: [{ name: 'prediction' }, { name: 'prediction' }] }, grpc.status.INVALID_ARGUMENT, /output "prediction" is requested twice/);
  await code({ model_name: 'nope', inputs: good }, grpc.status.NOT_FOUND, /model 'nope' not found/);
  await code({ model_name: bw, model_version: '9', inputs: good }, grpc.status.NOT_FOUND, /has no version 9/);
  await code({ model_name: bw, inputs: good }, grpc.status.UNAUTHENTICATED, /authentication required/, new grpc.Metadata());
  const wrong = new grpc.Metadata();
  wrong.set('authorization', 'Bearer not-a-key-0123456789');
  await code({ model_name: bw, inputs: good }, grpc.status.UNAUTHENTICATED, /invalid API key/, wrong);
});

test("ModelInfer's mixed and malformed requests are INVALID_ARGUMENT naming the tensor or field; an InferParameter with no value is refused (as Triton does); parameters Triton's gRPC passes on (unknown keys, binary_data_output of any type) and a 1 MB id are accepted", async () => {
  const refused = async (request: unknown, message: RegExp) => {
    await assert.rejects(rpc(inference, 'ModelInfer', request, auth()), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT, err.details);
      assert.match(err.details, message);
      return true;
    });
  };
  const inputs = BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [1, 1] }));
  const raw = BOOK_FIELDS.map((f) => Buffer.from(fp64([rows[0]![f]!])));
  await refused({ model_name: 'book-weather', inputs: inputs.map((i, k) => (k === 0 ? { ...i, contents: { fp64_contents: [1] } } : i)), raw_input_contents: raw }, /input 'temp_c': has contents while the request uses raw_input_contents/);
  await refused({ model_name: 'book-weather', inputs, raw_input_contents: [...raw, Buffer.alloc(8)] }, /raw_input_contents has 8 entries but the request has 7 inputs/);
  // BYTES in raw: each element is a 4-byte little-endian length and its bytes.
  const loan = (await call(`${server.url}/v2/models/loan`, { headers: { authorization: `Bearer ${KEY}` } })).body as { inputs: Array<{ name: string; datatype: string }> };
  const firstBytes = loan.inputs.find((i) => i.datatype === 'BYTES')!.name;
  const loanRequest = (bytes: Buffer) => ({
    model_name: 'loan',
    inputs: loan.inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: [1, 1] })),
    raw_input_contents: loan.inputs.map((i) => (i.datatype === 'BYTES' ? bytes : Buffer.alloc(i.datatype === 'FP32' || i.datatype === 'INT32' ? 4 : 8))),
  });
  await refused(loanRequest(Buffer.from([10, 0, 0, 0, 65])), new RegExp(`input '${firstBytes}': raw_input_contents: element 0 declares 10 bytes, past the end of its 5 bytes`));
  await refused(loanRequest(Buffer.from([1, 0])), new RegExp(`input '${firstBytes}': raw_input_contents ends inside element 0 of 1 \\(2 bytes\\)`));
  // An InferParameter with no value set (its oneof empty) is refused, as Triton does: it was ignored.
  await refused({ model_name: 'book-weather', inputs, raw_input_contents: raw, parameters: { custom_key: {} } }, /parameters\["custom_key"\] has no value: an InferParameter needs one of bool_param, int64_param/);
  await refused({ model_name: 'book-weather', inputs, raw_input_contents: raw, outputs: [{ name: 'prediction', parameters: { classification: {} } }] }, /outputs\[0\]\.parameters\["classification"\] has no value/);
  // An input's own parameters too (they were not looked at); one with a value there is accepted.
  await refused({ model_name: 'book-weather', inputs: inputs.map((i, k) => (k === 2 ? { ...i, parameters: { binary_data_size: {} } } : i)), raw_input_contents: raw }, /inputs\[2\]\.parameters\["binary_data_size"\] has no value: an InferParameter needs one of/);
  const answered = async (request: Record<string, unknown>) => rpc<{ id: string; outputs: Array<{ name: string }> }>(inference, 'ModelInfer', { model_name: 'book-weather', inputs, raw_input_contents: raw, ...request }, auth());
  assert.ok((await answered({ parameters: { custom_key: { string_param: 'x' }, binary_data_output: { string_param: 'yes' } } })).outputs.some((o) => o.name === 'prediction'));
  assert.deepEqual((await answered({ outputs: [{ name: 'prediction', parameters: { binary_data: { string_param: 'x' }, other: { int64_param: '3' } } }] })).outputs.map((o) => o.name), ['prediction']);
  assert.ok((await answered({ inputs: inputs.map((i) => ({ ...i, parameters: { custom_key: { bool_param: false } } })) })).outputs.some((o) => o.name === 'prediction'));
  const id = 'i'.repeat(1 << 20);
  assert.equal((await answered({ id })).id, id, 'the id is echoed, as Triton does');
});

test('a call without a valid key is refused at its headers, before its message: a client that never sent one held the call and its connection for good', { timeout: 30_000 }, async () => {
  const session = connect(`http://127.0.0.1:${server.grpcPort}`);
  const status = new Map<string, string>();
  const open = (label: string, path: string, headers: Record<string, string> = {}) => {
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...headers });
    // Trailers-only: the status comes in the response headers.
    req.on('response', (h) => { if (h['grpc-status'] !== undefined) status.set(label, `${String(h['grpc-status'])} ${decodeURIComponent(String(h['grpc-message']))}`); });
    req.on('error', () => undefined);
    return req; // its message is never sent
  };
  try {
    const held = [
      open('infer', '/inference.GRPCInferenceService/ModelInfer'),
      open('metadata', '/inference.GRPCInferenceService/ModelMetadata', { authorization: 'Bearer not-a-key-0123456789' }),
      open('unload', '/inference.GRPCInferenceService/RepositoryModelUnload'),
      open('unload-user', '/inference.GRPCInferenceService/RepositoryModelUnload', { authorization: `Bearer ${KEY}` }),
      open('watch', '/grpc.health.v1.Health/Watch', { 'x-api-key': 'not-a-key-0123456789' }),
    ];
    // A call on the same connection after them, answered only once its message is read: its answer
    // comes after theirs, had they been answered at their headers.
    const barrier = open('barrier', '/inference.GRPCInferenceService/ServerLive');
    await new Promise<void>((resolve, reject) => {
      barrier.on('trailers', () => resolve());
      barrier.on('error', reject);
      barrier.end(grpcFrame(Buffer.alloc(0)));
    });
    const denied = String(grpc.status.PERMISSION_DENIED);
    const unauthenticated = String(grpc.status.UNAUTHENTICATED);
    assert.match(status.get('infer') ?? 'no answer', new RegExp(`^${unauthenticated} authentication required`));
    assert.match(status.get('metadata') ?? 'no answer', new RegExp(`^${unauthenticated} invalid API key`));
    assert.match(status.get('unload') ?? 'no answer', new RegExp(`^${unauthenticated} `));
    assert.match(status.get('unload-user') ?? 'no answer', new RegExp(`^${denied} this API key may not change the model repository`));
    assert.match(status.get('watch') ?? 'no answer', new RegExp(`^${unauthenticated} invalid API key`));
    for (const req of held) req.close();
  } finally {
    session.destroy(); // the old code's calls were still open
  }
});

test('a shape of 20000 dimensions: INVALID_ARGUMENT naming the tensor with its first dimensions (written out, the status trailer was past the client\'s limit and the call never ended); long messages are cut', async () => {
  const infer = (request: unknown) => new Promise<grpc.ServiceError | null>((resolve) => {
    // The deadline only bounds the old failure (no answer at all).
    inference.ModelInfer!(request, auth(), { deadline: Date.now() + 5000 }, (err: grpc.ServiceError | null) => resolve(err));
  });
  const ones = new Array<number>(20_000).fill(1);
  const shown = '\\[1, 1, 1, 1, 1, 1, 1, 1, … \\(20000 dimensions\\)\\]';
  const cases: Array<[unknown, RegExp]> = [
    [{ model_name: 'svc-raw', inputs: [{ name: 'float_input', datatype: 'FP32', shape: ones, contents: { fp32_contents: [1] } }] }, new RegExp(`^input 'float_input': shape ${shown} does not fit the model's \\[-1, 7\\]`)],
    [{ model_name: 'svc-raw', inputs: [{ name: 'float_input', datatype: 'FP32', shape: ones, contents: { fp32_contents: [1, 2] } }] }, new RegExp(`^input 'float_input': shape ${shown} holds 1 elements but contents.fp32_contents has 2$`)],
    [{ model_name: 'svc-raw', inputs: [{ name: 'float_input', datatype: 'FP32', shape: ones }], raw_input_contents: [Buffer.alloc(3)] }, new RegExp(`^input 'float_input': raw_input_contents is 3 bytes but shape ${shown} of FP32 needs 4$`)],
    [{ model_name: 'book-weather', inputs: typedInputs(rows.slice(0, 1)).map((i) => ({ ...i, shape: ones })) }, new RegExp(`^input 'temp_c': shape ${shown}; a field's tensor is one column`)],
    // A dimension past 2^53 is shown as sent, not rounded.
    [{ model_name: 'svc-raw', inputs: [{ name: 'float_input', datatype: 'FP32', shape: ['9223372036854775807', 7], contents: { fp32_contents: [1] } }] }, /^input 'float_input': shape \[9223372036854775807, 7\] declares more than 268435456 elements$/],
  ];
  for (const [request, message] of cases) {
    const err = await infer(request);
    assert.equal(err?.code, grpc.status.INVALID_ARGUMENT, `${err?.code} ${err?.details.slice(0, 200)}`);
    assert.match(err.details, message);
  }
  // Any message (one listing every model of a large repository, say) is cut to a size every client takes.
  assert.equal(statusDetails('x'.repeat(MAX_STATUS_DETAILS)), 'x'.repeat(MAX_STATUS_DETAILS));
  assert.equal(statusDetails('x'.repeat(5000)), `${'x'.repeat(MAX_STATUS_DETAILS)}… (${5000 - MAX_STATUS_DETAILS} more characters)`);
});

test('bytes that are not a ModelInferRequest: INVALID_ARGUMENT saying so (unary), error_message (stream) — not INTERNAL', { timeout: 30_000 }, async () => {
  const garbage = grpcFrame(Buffer.from([0xff, 0xff])); // a field number 0 tag: protobuf refuses it
  const session = connect(`http://127.0.0.1:${server.grpcPort}`);
  const send = (path: string, body: Buffer) => new Promise<{ trailers: Record<string, unknown>; messages: Buffer[] }>((resolve, reject) => {
    const messages: Buffer[] = [];
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', authorization: `Bearer ${KEY}` });
    req.on('data', grpcMessageReader((m) => messages.push(m)));
    // An error before any answer comes trailers-only: the status is in the response headers.
    req.on('response', (headers) => { if (headers['grpc-status'] !== undefined) resolve({ trailers: headers, messages }); });
    req.on('trailers', (trailers) => resolve({ trailers, messages }));
    req.on('error', reject);
    req.end(body);
  });
  try {
    const unary = await send('/inference.GRPCInferenceService/ModelInfer', garbage);
    assert.equal(unary.trailers['grpc-status'], String(grpc.status.INVALID_ARGUMENT));
    assert.match(decodeURIComponent(String(unary.trailers['grpc-message'])), /the message is not a valid inference.ModelInferRequest: /);
    // On a stream the bad message gets its own answer and the next request is served.
    const good = (inference.ModelInfer as unknown as { requestSerialize(m: unknown): Buffer }).requestSerialize({ model_name: 'book-weather', id: 'after', inputs: typedInputs(rows.slice(0, 1)) });
    const decode = (inference.ModelStreamInfer as unknown as { responseDeserialize(b: Buffer): { error_message: string; infer_response: { id: string } | null } }).responseDeserialize;
    const streamed = await send('/inference.GRPCInferenceService/ModelStreamInfer', Buffer.concat([garbage, grpcFrame(good)]));
    assert.equal(streamed.trailers['grpc-status'], '0');
    const answers = streamed.messages.map((m) => decode(m));
    assert.match(answers[0]!.error_message, /the message is not a valid inference.ModelInferRequest: /);
    assert.equal(answers[1]!.infer_response?.id, 'after');
  } finally {
    session.close();
  }
});

test('compressed requests (grpc-encoding): gzip and deflate are read; another encoding is UNIMPLEMENTED naming it; one that decompresses past the message limit is RESOURCE_EXHAUSTED', async () => {
  const good = (inference.ModelInfer as unknown as { requestSerialize(m: unknown): Buffer }).requestSerialize({ model_name: 'book-weather', id: 'zipped', inputs: typedInputs(rows.slice(0, 1)) });
  const compressed = (bytes: Buffer) => { const frame = grpcFrame(bytes); frame[0] = 1; return frame; };
  const session = connect(`http://127.0.0.1:${server.grpcPort}`);
  const send = (encoding: string, body: Buffer) => new Promise<{ status: string; message: string; messages: number }>((resolve, reject) => {
    let messages = 0;
    const req = session.request({ ':method': 'POST', ':path': '/inference.GRPCInferenceService/ModelInfer', 'content-type': 'application/grpc', te: 'trailers', 'grpc-encoding': encoding, authorization: `Bearer ${KEY}` });
    req.on('data', grpcMessageReader(() => messages++));
    const done = (h: Record<string, unknown>) => resolve({ status: String(h['grpc-status']), message: decodeURIComponent(String(h['grpc-message'] ?? '')), messages });
    req.on('response', (headers) => { if (headers['grpc-status'] !== undefined) done(headers); });
    req.on('trailers', done);
    req.on('error', reject);
    req.end(body);
  });
  try {
    for (const [encoding, zip] of [['gzip', gzipSync], ['deflate', deflateSync]] as const) {
      assert.deepEqual(await send(encoding, compressed(zip(good))), { status: '0', message: 'OK', messages: 1 }, encoding);
    }
    const snappy = await send('snappy', compressed(good));
    assert.equal(snappy.status, String(grpc.status.UNIMPLEMENTED));
    assert.match(snappy.message, /unsupported encoding "snappy"/);
    const bomb = await send('gzip', compressed(gzipSync(Buffer.alloc(8 * 1024 * 1024))));
    assert.equal(bomb.status, String(grpc.status.RESOURCE_EXHAUSTED));
    assert.match(bomb.message, /decompresses to a size larger than 4194304/);
  } finally {
    session.close();
  }
});

test('bytes that are not the RPC\'s request message: INVALID_ARGUMENT naming the message type on every RPC, not INTERNAL "Error deserializing request"', async () => {
  // A raw client: the bytes go out as they are (identity serializers).
  const raw = new grpc.Client(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure());
  const identity = (b: Buffer) => b;
  const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff]);
  const unary = (path: string, metadata: grpc.Metadata) => new Promise<grpc.ServiceError | null>((resolve) => {
    raw.makeUnaryRequest(path, identity, identity, garbage, metadata, (err) => resolve(err));
  });
  const admin = new grpc.Metadata();
  admin.set('authorization', `Bearer ${ADMIN}`);
  const invalid = (err: grpc.ServiceError | null, type: string) => {
    assert.equal(err?.code, grpc.status.INVALID_ARGUMENT, `${type}: ${err?.code} ${err?.details}`);
    assert.match(err.details, new RegExp(`^the message is not a valid ${type.replace(/\./g, '\\.')}: \\S`));
  };
  try {
    for (const [method, metadata] of [['ModelMetadata', auth()], ['ModelReady', auth()], ['RepositoryModelLoad', admin], ['ModelStatistics', auth()], ['ModelConfig', auth()], ['RepositoryIndex', admin]] as const) {
      invalid(await unary(`/inference.GRPCInferenceService/${method}`, metadata), `inference.${method}Request`);
    }
    invalid(await unary('/inference.GRPCInferenceService/ModelInfer', auth()), 'inference.ModelInferRequest');
    invalid(await unary('/grpc.health.v1.Health/Check', new grpc.Metadata()), 'grpc.health.v1.HealthCheckRequest');
    const watch = await new Promise<grpc.ServiceError | null>((resolve) => {
      const call = raw.makeServerStreamRequest('/grpc.health.v1.Health/Watch', identity, identity, garbage, auth());
      call.on('data', () => undefined);
      call.on('error', (err: grpc.ServiceError) => resolve(err));
      call.on('end', () => resolve(null));
    });
    invalid(watch, 'grpc.health.v1.HealthCheckRequest');
    // The key is checked first, as for any other bad request.
    assert.equal((await unary('/inference.GRPCInferenceService/ModelMetadata', new grpc.Metadata()))?.code, grpc.status.UNAUTHENTICATED);
  } finally {
    raw.close();
  }
});

test('repository RPCs need an admin key; statistics', async () => {
  await assert.rejects(rpc(inference, 'RepositoryIndex', {}, auth()), (err: grpc.ServiceError) => err.code === grpc.status.PERMISSION_DENIED);
  const admin = new grpc.Metadata();
  admin.set('authorization', `Bearer ${ADMIN}`);
  const index = await rpc<{ models: Array<{ name: string; version: string; state: string }> }>(inference, 'RepositoryIndex', {}, admin);
  assert.deepEqual(index.models.map((m) => `${m.name}/${m.version}/${m.state}`).sort(), ['book-weather/1/READY', 'loan/1/READY', 'svc-raw/1/READY']);
  // An unload parameter with no value set is refused naming it, as load's are (it was ignored, and the model unloaded).
  await assert.rejects(rpc(inference, 'RepositoryModelUnload', { model_name: 'svc-raw', parameters: { unload_dependents: {} } }, admin), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT, err.details);
    assert.match(err.details, /^unload parameters\["unload_dependents"\] has no value: a ModelRepositoryParameter needs one of bool_param, int64_param, string_param, bytes_param set$/);
    return true;
  });
  assert.deepEqual(await rpc(inference, 'ModelReady', { name: 'svc-raw' }, auth()), { ready: true });
  await rpc(inference, 'RepositoryModelUnload', { model_name: 'svc-raw', parameters: { unload_dependents: { bool_param: false } } }, admin);
  assert.deepEqual(await rpc(inference, 'ModelReady', { name: 'svc-raw' }, auth()), { ready: false });
  // RepositoryIndexRequest.ready: only the versions ready for inference.
  const listed = async (ready: boolean) => (await rpc<{ models: Array<{ name: string; state: string }> }>(inference, 'RepositoryIndex', { ready }, admin)).models.map((m) => `${m.name}:${m.state}`).sort();
  assert.deepEqual(await listed(false), ['book-weather:READY', 'loan:READY', 'svc-raw:UNAVAILABLE']);
  assert.deepEqual(await listed(true), ['book-weather:READY', 'loan:READY']);
  await assert.rejects(rpc(inference, 'ModelInfer', { model_name: 'svc-raw', inputs: [{ name: 'float_input', datatype: 'FP32', shape: [1, 7] }], raw_input_contents: [Buffer.alloc(28)] }, auth()), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.UNAVAILABLE, err.details);
    // The way back is named for a gRPC caller too, not only the REST route.
    assert.match(err.details, /model 'svc-raw' is unloaded; load it through the repository API: gRPC RepositoryModelLoad, or POST \/v2\/repository\/models\/svc-raw\/load/);
    return true;
  });
  await assert.rejects(rpc(inference, 'RepositoryModelLoad', { model_name: 'svc-raw', parameters: { config: { string_param: '{}' } } }, admin), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT, err.details);
    assert.match(err.details, /load parameter 'config' is not supported/);
    return true;
  });
  // A ModelRepositoryParameter with no value set (its oneof empty) is refused naming it, as Triton does: it was ignored (and the model loaded).
  await assert.rejects(rpc(inference, 'RepositoryModelLoad', { model_name: 'svc-raw', parameters: { unload_dependents: {}, ok: { bool_param: false } } }, admin), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT, err.details);
    assert.match(err.details, /^load parameters\["unload_dependents"\] has no value: a ModelRepositoryParameter needs one of bool_param, int64_param, string_param, bytes_param set$/);
    return true;
  });
  assert.deepEqual(await rpc(inference, 'ModelReady', { name: 'svc-raw' }, auth()), { ready: false });
  await rpc(inference, 'RepositoryModelLoad', { model_name: 'svc-raw', parameters: { ok: { bool_param: false } } }, admin);
  assert.deepEqual(await rpc(inference, 'ModelReady', { name: 'svc-raw' }, auth()), { ready: true });
  const stats = await rpc<{ model_stats: Array<{ name: string; version: string; inference_count: string; inference_stats: { success: { count: string }; fail: { count: string } } }> }>(inference, 'ModelStatistics', { name: 'book-weather' }, auth());
  assert.equal(stats.model_stats.length, 1);
  assert.ok(Number(stats.model_stats[0]!.inference_stats.success.count) >= 2);
  // The earlier tests' refused requests (bad tensors: INVALID_ARGUMENT) never reached the model: not inference requests.
  assert.ok(Number(stats.model_stats[0]!.inference_count) >= Number(stats.model_stats[0]!.inference_stats.success.count));
  // No model name: every model's statistics, the version ignored as Triton does (it filtered every model by it).
  const every = await rpc<{ model_stats: unknown[] }>(inference, 'ModelStatistics', { name: '' }, auth());
  assert.ok(every.model_stats.length >= 2);
  assert.equal((await rpc<{ model_stats: unknown[] }>(inference, 'ModelStatistics', { name: '', version: '7' }, auth())).model_stats.length, every.model_stats.length);
});

test('one core, one batcher: a batch holds requests from JSON, OIP REST and gRPC', async () => {
  const batches: BatchInfo[] = [];
  const repo = tempDir();
  // A long queue delay so that the three requests, sent at once, are taken as one batch.
  writeBookModelFolder(repo, 'batching:\n  max_queue_delay_ms: 1500\n');
  const s = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, app: { registry: { onBatch: () => (info) => batches.push(info) } } });
  const clients = grpcClients(s.grpcPort!);
  try {
    batches.length = 0;
    const [json, rest, g] = await Promise.all([
      call(`${s.url}/models/book-weather/predict`, { body: rows[0] }),
      call(`${s.url}/v2/models/book-weather/infer`, { body: { inputs: BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [1], data: [rows[1]![f]] })) } }),
      rpc<{ outputs: Array<{ contents: { bytes_contents: Buffer[] } }> }>(clients.inference, 'ModelInfer', { model_name: 'book-weather', inputs: typedInputs(rows.slice(2, 3)) }),
    ]);
    assert.equal(json.status, 200);
    assert.equal(rest.status, 200, rest.text);
    assert.ok(g.outputs[0]!.contents.bytes_contents.length === 1);
    assert.equal(batches.length, 1, JSON.stringify(batches));
    assert.equal(batches[0]!.requests, 3);
    assert.equal(batches[0]!.rows, 3);
  } finally {
    clients.close();
    await s.shutdown();
  }
});

test('graceful drain: health turns NOT_SERVING, a call in flight is answered, then the port closes', async () => {
  const repo = tempDir();
  writeBookModelFolder(repo, 'batching:\n  max_queue_delay_ms: 800\n');
  const s = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1 });
  const clients = grpcClients(s.grpcPort!);
  try {
    const inFlight = rpc(clients.inference, 'ModelInfer', { model_name: 'book-weather', inputs: typedInputs(rows.slice(0, 1)) });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stopping = s.shutdown();
    const answered = await inFlight as { outputs: unknown[] };
    assert.equal(answered.outputs.length, 1);
    assert.equal(await stopping, true);
    await assert.rejects(rpc(clients.health, 'Check', { service: '' }), (err: grpc.ServiceError) => err.code === grpc.status.UNAVAILABLE);
  } finally {
    clients.close();
  }
});

test('--shutdown-delay: a health Watch gets NOT_SERVING at once, while calls are still served; its stream ends at the drain', async () => {
  const repo = tempDir();
  writeBookModelFolder(repo);
  const s = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, logger: false, shutdownDelay: 1500 });
  const clients = grpcClients(s.grpcPort!);
  try {
    const watch = clients.health.Watch!({ service: '' }, new grpc.Metadata()) as unknown as grpc.ClientReadableStream<{ status: string }>;
    const seen: string[] = [];
    let notServing!: () => void;
    const turned = new Promise<void>((resolve) => { notServing = resolve; });
    const ended = new Promise<void>((resolve) => { watch.on('end', resolve); watch.on('error', () => resolve()); });
    watch.on('data', (m: { status: string }) => { seen.push(m.status); if (m.status === 'NOT_SERVING') notServing(); });
    await rpc(clients.health, 'Check', { service: '' });
    const stopping = s.shutdown();
    // Told during the delay (it was only told when the port drained, too late to move away):
    // a call made after it is still answered.
    await turned;
    const answered = await rpc<{ outputs: unknown[] }>(clients.inference, 'ModelInfer', { model_name: 'book-weather', inputs: typedInputs(rows.slice(0, 1)) });
    assert.equal(answered.outputs.length, 1);
    assert.equal(await stopping, true);
    await ended;
    assert.deepEqual(seen, ['SERVING', 'NOT_SERVING']);
  } finally {
    clients.close();
  }
});

test('health Watch needs a key (Check does not); one connection holds at most 8, past them RESOURCE_EXHAUSTED (they were uncapped and open to anyone: a client could hold thousands); one closed frees its place, another connection has its own', async () => {
  type Watch = grpc.ClientReadableStream<{ status: string }>;
  const watch = (client: GrpcClient, metadata = auth()) => client.Watch!({ service: '' }, metadata) as unknown as Watch;
  // A Watch's first message (SERVING), or the status it failed with.
  const opened = (w: Watch) => new Promise<string | grpc.status>((resolve) => {
    w.once('data', (m: { status: string }) => resolve(m.status));
    w.once('error', (err: grpc.ServiceError) => resolve(err.code));
  });
  assert.equal(await opened(watch(health, new grpc.Metadata())), grpc.status.UNAUTHENTICATED);
  assert.deepEqual(await rpc(health, 'Check', { service: '' }), { status: 'SERVING' }, 'probes need no key');
  const held: Watch[] = [];
  for (let i = 0; i < MAX_WATCHES_PER_CONNECTION; i++) {
    held.push(watch(health));
    assert.equal(await opened(held.at(-1)!), 'SERVING');
  }
  const refused = watch(health);
  const refusal = new Promise<grpc.ServiceError>((resolve) => refused.once('error', resolve));
  assert.equal((await refusal).code, grpc.status.RESOURCE_EXHAUSTED);
  assert.match((await refusal).details, /this connection already holds 8 health Watch streams/);
  // Another connection (its own subchannel) is not refused for this one's watchers.
  const other = grpcClients(server.grpcPort!, { 'grpc.use_local_subchannel_pool': 1 });
  try {
    const elsewhere = watch(other.health);
    assert.equal(await opened(elsewhere), 'SERVING');
    elsewhere.cancel();
  } finally {
    other.close();
  }
  // The server hears of a cancel a moment later: a Watch opened until one is admitted.
  held.pop()!.cancel();
  let status: string | grpc.status = grpc.status.RESOURCE_EXHAUSTED;
  for (let i = 0; i < 100 && status !== 'SERVING'; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 20));
    held.push(watch(health));
    status = await opened(held.at(-1)!);
  }
  assert.equal(status, 'SERVING', 'a cancelled Watch frees its place');
  for (const w of held) { w.on('error', () => undefined); w.cancel(); }
});

test('health Watch streams are capped server-wide too (1000): many connections cannot hold more; a client that drops its connection frees its places', { timeout: 60_000 }, async () => {
  const repo = tempDir();
  writeBookModelFolder(repo);
  const s = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, logger: false });
  // A Watch on a raw HTTP/2 connection: its first message, or the status it failed with.
  const watch = (h2: ReturnType<typeof connect>) => new Promise<string>((resolve) => {
    const req = h2.request({ ':method': 'POST', ':path': '/grpc.health.v1.Health/Watch', 'content-type': 'application/grpc', te: 'trailers' });
    req.on('data', () => resolve('SERVING'));
    req.on('response', (h) => { if (h['grpc-status'] !== undefined) resolve(`${h['grpc-status']}`); });
    req.on('error', () => resolve('error'));
    req.end(grpcFrame(Buffer.alloc(0)));
  });
  try {
    const sessions: Array<ReturnType<typeof connect>> = [];
    const seen: string[] = [];
    for (let c = 0; c <= MAX_WATCHES / MAX_WATCHES_PER_CONNECTION; c++) {
      const h2 = connect(`http://127.0.0.1:${s.grpcPort!}`);
      h2.on('error', () => undefined);
      sessions.push(h2);
      for (let i = 0; i < MAX_WATCHES_PER_CONNECTION; i++) seen.push(await watch(h2));
    }
    assert.equal(seen.filter((r) => r === 'SERVING').length, MAX_WATCHES);
    assert.deepEqual([...new Set(seen.slice(MAX_WATCHES))], [String(grpc.status.RESOURCE_EXHAUSTED)]);
    for (const h2 of sessions) h2.destroy();
    // The server hears of the dropped connections a moment later.
    const probe = connect(`http://127.0.0.1:${s.grpcPort!}`);
    probe.on('error', () => undefined);
    let answer = '';
    for (let i = 0; i < 100 && answer !== 'SERVING'; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 20));
      answer = await watch(probe);
    }
    probe.destroy();
    assert.equal(answer, 'SERVING', 'places freed by dropped connections');
  } finally {
    await s.shutdown();
  }
});

test('connection limits: --grpc-max-concurrent-streams is announced in SETTINGS; an idle connection, and one past its age, get GOAWAY; new ones are served', async () => {
  // By default a connection without calls for 5 minutes is closed (it was never: a client that left one open held its socket for good).
  assert.equal(parseServeOptions([], {}).grpcMaxConnectionIdle, 300_000);
  // And one connection holds at most 1000 calls (there was no limit: 20,000 idle streams on one connection took about 130 MB).
  assert.equal(parseServeOptions([], {}).grpcMaxConcurrentStreams, 1000);
  const repo = tempDir();
  writeBookModelFolder(repo);
  const session = (port: number) => connect(`http://127.0.0.1:${port}`);
  const goaway = (h2: ReturnType<typeof connect>) => new Promise<number>((resolve) => h2.once('goaway', (code) => resolve(code)));
  const idle = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, grpcConnections: { maxConcurrentStreams: 3, maxIdleMs: 300 } });
  const aged = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, grpcConnections: { maxAgeMs: 300 } });
  try {
    const a = session(idle.grpcPort!);
    const settings = await new Promise<{ maxConcurrentStreams?: number }>((resolve) => a.once('remoteSettings', resolve));
    assert.equal(settings.maxConcurrentStreams, 3);
    assert.equal(await goaway(a), 0, 'an idle connection is closed with NO_ERROR');
    a.destroy();
    // A client that stays busy is not idle, but it does age out.
    const b = session(aged.grpcPort!);
    const clients = grpcClients(aged.grpcPort!);
    try {
      const away = goaway(b);
      await rpc(clients.health, 'Check', { service: '' });
      assert.equal(await away, 0, 'past its age a connection is asked to go away');
      // The client's channel reconnects: calls go on being answered.
      for (let i = 0; i < 3; i++) await rpc(clients.health, 'Check', { service: '' });
    } finally {
      b.destroy();
      clients.close();
    }
  } finally {
    await Promise.all([idle.shutdown(), aged.shutdown()]);
  }
});

test('message size: past the default limit (4 MiB, gRPC\'s own) RESOURCE_EXHAUSTED with a message; under it answered', async () => {
  const request = (n: number) => ({ model_name: 'book-weather', inputs: BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [n, 1] })), raw_input_contents: BOOK_FIELDS.map((_, i) => Buffer.from(fp64(Array.from({ length: n }, (_v, r) => (r % 7) + i)))) });
  // 7 columns of 8-byte values: 100,000 rows are 5.6 MB, 20,000 rows 1.1 MB (50,000 rows took the
  // unoptimised SVM past the 30 s queue timeout on a busy machine).
  await assert.rejects(rpc(inference, 'ModelInfer', request(100_000), auth()), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED, err.details);
    assert.match(err.details, /larger than max|message/i);
    return true;
  });
  const answer = await rpc<{ outputs: Array<{ name: string; shape: string[] }> }>(inference, 'ModelInfer', request(20_000), auth());
  assert.deepEqual(answer.outputs[0]!.shape.map(Number), [20_000, 1]);
});

test('every registry error has a gRPC status of the same meaning: INTERNAL only for a 500 (pipeline steps\' 422/502/503/504 were INTERNAL)', () => {
  for (const [code, def] of Object.entries(ERRORS)) {
    if (def.status === 0) continue; // start-up errors, never an answer
    const status = grpcStatusOf(new ModelServeError(code as keyof typeof ERRORS, 'x'));
    if (def.status === 500) assert.equal(status, grpc.status.INTERNAL, code);
    else assert.notEqual(status, grpc.status.INTERNAL, `${code} (${def.status})`);
  }
  assert.equal(grpcStatusOf(new ModelServeError('MS_ERR_STEP_VALIDATION', 'x')), grpc.status.INVALID_ARGUMENT);
  assert.equal(grpcStatusOf(new ModelServeError('MS_ERR_STEP_UNAVAILABLE', 'x')), grpc.status.UNAVAILABLE);
  assert.equal(grpcStatusOf(new ModelServeError('MS_ERR_STEP_TIMEOUT', 'x')), grpc.status.DEADLINE_EXCEEDED);
  // The two that differ from their HTTP status's meaning, and the common ones.
  assert.equal(grpcStatusOf(new ModelServeError('MS_ERR_OVERLOADED', 'x')), grpc.status.RESOURCE_EXHAUSTED);
  assert.equal(grpcStatusOf(new ModelServeError('MS_ERR_NO_FIELDS_API', 'x')), grpc.status.UNIMPLEMENTED);
  assert.equal(grpcStatusOf(new ModelServeError('MS_ERR_BAD_TENSOR', 'x')), grpc.status.INVALID_ARGUMENT);
  assert.equal(grpcStatusOf(new ModelServeError('MS_ERR_MODEL_NOT_FOUND', 'x')), grpc.status.NOT_FOUND);
  assert.equal(grpcStatusOf(new ModelServeError('MS_ERR_MODEL_UNAVAILABLE', 'x')), grpc.status.UNAVAILABLE);
  assert.equal(grpcStatusOf(new ModelServeError('MS_ERR_TIMEOUT', 'x')), grpc.status.DEADLINE_EXCEEDED);
  assert.equal(grpcStatusOf(new ModelServeError('MS_ERR_UNAUTHORIZED', 'x')), grpc.status.UNAUTHENTICATED);
  assert.equal(grpcStatusOf(new ModelServeError('MS_ERR_BODY_TOO_LARGE', 'x')), grpc.status.RESOURCE_EXHAUSTED);
});

test('what grpc-js answered by itself is a clear status with an access line and a count: no request message or two on a unary call (UNIMPLEMENTED "…server streaming method"), a stream ended inside a message (OK), a message past the limit and a deadline past before the request was read; a body that cannot be decompressed (INTERNAL, or UNIMPLEMENTED naming an unknown encoding) and an invalid grpc-timeout (INTERNAL; all four were neither logged nor counted)', async () => {
  const { lines, stream } = captureLogLines();
  const repo = tempDir();
  writeBookModelFolder(repo);
  const own = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, logger: { level: 'info', stream } });
  const session = connect(`http://127.0.0.1:${own.grpcPort}`);
  const good = grpcFrame((inference.ModelInfer as unknown as { requestSerialize(m: unknown): Buffer }).requestSerialize({ model_name: 'book-weather', id: 'whole', inputs: typedInputs(rows.slice(0, 1)) }));
  /** Sends the body (ending the call unless told not to) and resolves with the status and how many answers came. */
  const send = (id: string, rpcName: string, body: Buffer, extra: Record<string, string> = {}, end = true) => new Promise<{ status: string; message: string; answers: number }>((resolve, reject) => {
    let answers = 0;
    const req = session.request({ ':method': 'POST', ':path': `/inference.GRPCInferenceService/${rpcName}`, 'content-type': 'application/grpc', te: 'trailers', 'x-request-id': id, ...extra });
    req.on('data', grpcMessageReader(() => answers++));
    const done = (h: Record<string, unknown>) => { resolve({ status: grpc.status[Number(h['grpc-status'])] ?? String(h['grpc-status']), message: decodeURIComponent(String(h['grpc-message'] ?? '')), answers }); req.close(); };
    req.on('response', (headers) => { if (headers['grpc-status'] !== undefined) done(headers); });
    req.on('trailers', done);
    req.on('error', reject);
    if (end) req.end(body);
    else req.write(body);
  });
  try {
    const empty = await send('empty', 'ModelInfer', Buffer.alloc(0));
    assert.equal(empty.status, 'INVALID_ARGUMENT');
    assert.match(empty.message, /the call carries no inference\.ModelInferRequest: its body was empty or ended inside the message/);
    const cut = await send('cut', 'ModelMetadata', good.subarray(0, 12));
    assert.equal(cut.status, 'INVALID_ARGUMENT');
    assert.match(cut.message, /no inference\.ModelMetadataRequest/);
    const two = await send('two', 'ModelInfer', Buffer.concat([good, good]));
    assert.equal(two.status, 'INVALID_ARGUMENT');
    assert.match(two.message, /a unary call carries one inference\.ModelInferRequest; this one sent more/);
    // A stream whose last request is cut short: the whole ones are answered, then the error.
    assert.deepEqual(await send('stream-cut', 'ModelStreamInfer', Buffer.concat([good, good, good.subarray(0, 30)])), {
      status: 'INVALID_ARGUMENT',
      message: 'the client ended the stream inside a message: its last inference.ModelInferRequest was cut short (the ones before it are answered)',
      answers: 2,
    });
    assert.deepEqual(await send('stream-whole', 'ModelStreamInfer', Buffer.concat([good, good])), { status: 'OK', message: 'OK', answers: 2 });
    // A message declaring 5 MiB: grpc-js refuses it from its length prefix.
    const large = Buffer.alloc(5 + 16);
    large.writeUInt32BE(5 * 1024 * 1024, 1);
    const past = await send('too-large', 'ModelInfer', large, {}, false);
    assert.equal(past.status, 'RESOURCE_EXHAUSTED');
    // A deadline that passes while the client has not sent its request.
    assert.equal((await send('late', 'ModelInfer', Buffer.alloc(0), { 'grpc-timeout': '20m' }, false)).status, 'DEADLINE_EXCEEDED');
    // What grpc-js cannot read: gzip that is not gzip (INTERNAL, as gRPC's C core answers), on a call and on a stream; an unknown encoding; a grpc-timeout that is not one.
    const notGzip = Buffer.from(good);
    notGzip[0] = 1;
    assert.equal((await send('not-gzip', 'ModelInfer', notGzip, { 'grpc-encoding': 'gzip' })).status, 'INTERNAL');
    assert.equal((await send('stream-not-gzip', 'ModelStreamInfer', notGzip, { 'grpc-encoding': 'gzip' })).status, 'INTERNAL');
    assert.equal((await send('zstd', 'ModelInfer', notGzip, { 'grpc-encoding': 'zstd' })).status, 'UNIMPLEMENTED');
    assert.equal((await send('bad-timeout', 'ModelInfer', good, { 'grpc-timeout': 'soon' })).status, 'INTERNAL');
    // Calls a client cancels at once, their request perhaps unread: no missing message, no stream cut short.
    const clients = grpcClients(own.grpcPort!);
    const request = { model_name: 'book-weather', inputs: typedInputs(rows.slice(0, 1)) };
    for (let round = 0; round < 5; round++) {
      const streams = Array.from({ length: 100 }, () => {
        const s = (clients.inference as unknown as { ModelStreamInfer(): grpc.ClientDuplexStream<unknown, unknown> }).ModelStreamInfer();
        s.on('error', () => {});
        s.on('data', () => {});
        for (let i = 0; i < 5; i++) s.write(request);
        return s;
      });
      await new Promise((r) => setTimeout(r, 30));
      for (const c of streams) c.cancel();
      const unary = Array.from({ length: 200 }, () => clients.inference.ModelInfer!(request, () => {}));
      await new Promise((r) => setImmediate(r));
      for (const c of unary) c.cancel();
    }
    clients.close();
    await new Promise((r) => setTimeout(r, 200));

    const access = new Map(lines.filter((l) => l.msg === 'request').map((l) => [l.reqId, l.grpcStatus]));
    assert.deepEqual(Object.fromEntries(['empty', 'cut', 'two', 'stream-cut', 'too-large', 'late', 'not-gzip', 'stream-not-gzip', 'zstd', 'bad-timeout'].map((id) => [id, access.get(id)])), {
      empty: 'INVALID_ARGUMENT', cut: 'INVALID_ARGUMENT', two: 'INVALID_ARGUMENT', 'stream-cut': 'INVALID_ARGUMENT', 'too-large': 'RESOURCE_EXHAUSTED', late: 'DEADLINE_EXCEEDED',
      'not-gzip': 'INTERNAL', 'stream-not-gzip': 'INTERNAL', zstd: 'UNIMPLEMENTED', 'bad-timeout': 'INTERNAL',
    });
    const metrics = (await call(`${own.url}/metrics`)).text;
    const count = (labels: Record<string, string>) => sampleSum(metrics, 'modelserve_grpc_requests_total', labels);
    assert.equal(count({ rpc: 'ModelInfer', code: 'INVALID_ARGUMENT' }), 2);
    assert.equal(count({ rpc: 'ModelMetadata', code: 'INVALID_ARGUMENT' }), 1);
    assert.equal(count({ rpc: 'ModelStreamInfer', code: 'INVALID_ARGUMENT' }), 1);
    assert.equal(count({ rpc: 'ModelInfer', code: 'RESOURCE_EXHAUSTED' }), 1);
    assert.equal(count({ rpc: 'ModelInfer', code: 'DEADLINE_EXCEEDED' }), 1);
    assert.equal(count({ rpc: 'ModelInfer', code: 'INTERNAL' }), 2);
    assert.equal(count({ rpc: 'ModelStreamInfer', code: 'INTERNAL' }), 1);
    assert.equal(count({ rpc: 'ModelInfer', code: 'UNIMPLEMENTED' }), 1);
  } finally {
    session.close();
    await own.shutdown();
  }
});

test("a call to a method the server does not have (Triton's SystemSharedMemoryStatus, which tritonclient calls; a typo'd service; a stream) is UNIMPLEMENTED with an access line naming it and a count under rpc=\"unknown\" (grpc-js answered it where no server code saw it: neither logged nor counted)", async () => {
  const { lines, stream } = captureLogLines();
  const repo = tempDir();
  writeBookModelFolder(repo);
  const own = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, logger: { level: 'info', stream } });
  const client = new grpc.Client(`127.0.0.1:${own.grpcPort}`, grpc.credentials.createInsecure());
  const same = (b: Buffer) => b;
  const unary = (path: string) => new Promise<grpc.ServiceError | null>((resolve) => {
    client.makeUnaryRequest(path, same, same, Buffer.alloc(0), (err) => resolve(err));
  });
  const long = `/inference.GRPCInferenceService/${'x'.repeat(300)}`;
  try {
    const shm = await unary('/inference.GRPCInferenceService/SystemSharedMemoryStatus');
    assert.equal(shm?.code, grpc.status.UNIMPLEMENTED);
    assert.equal((await unary('/inference.GRPCInferenceServise/ModelInfer'))?.code, grpc.status.UNIMPLEMENTED);
    assert.equal((await unary(long))?.code, grpc.status.UNIMPLEMENTED);
    const bidi = client.makeBidiStreamRequest('/inference.GRPCInferenceService/ModelStreamInferTypo', same, same);
    bidi.on('data', () => {});
    const streamed = await new Promise<grpc.ServiceError>((resolve) => bidi.on('error', resolve));
    assert.equal(streamed.code, grpc.status.UNIMPLEMENTED);
    // A served method is not counted as unknown.
    const clients = grpcClients(own.grpcPort!);
    assert.equal((await rpc<{ live: boolean }>(clients.inference, 'ServerLive', {})).live, true);
    clients.close();

    const access = lines.filter((l) => l.msg === 'request' && l.rpc === 'unknown');
    assert.deepEqual(access.map((l) => [l.method, l.grpcStatus]), [
      ['/inference.GRPCInferenceService/SystemSharedMemoryStatus', 'UNIMPLEMENTED'],
      ['/inference.GRPCInferenceServise/ModelInfer', 'UNIMPLEMENTED'],
      [`${long.slice(0, 128)}…`, 'UNIMPLEMENTED'],
      ['/inference.GRPCInferenceService/ModelStreamInferTypo', 'UNIMPLEMENTED'],
    ]);
    for (const l of access) assert.equal(typeof l.reqId, 'string');
    const metrics = (await call(`${own.url}/metrics`)).text;
    assert.equal(sampleSum(metrics, 'modelserve_grpc_requests_total', { rpc: 'unknown', code: 'UNIMPLEMENTED' }), 4);
    // The label set stays bounded: no client-sent name becomes a label.
    assert.doesNotMatch(metrics, /SystemSharedMemoryStatus|GRPCInferenceServise|ModelStreamInferTypo|xxxx/);
  } finally {
    client.close();
    await own.shutdown();
  }
});

test("ModelMetadata's and ModelConfig's access lines and counts name the version answered (the newest ready one when none is asked), as ModelInfer's do; one refused before a version is picked names none", async () => {
  const { lines, stream } = captureLogLines<{ msg: string; reqId?: string; rpc?: string; version?: string; grpcStatus?: string }>();
  const repo = tempDir();
  const dir = writeBookModelFolder(repo, 'version_policy: { all: true }\n');
  mkdirSync(join(dir, '1'));
  mkdirSync(join(dir, '2'));
  const own = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, logger: { level: 'info', stream } });
  const clients = grpcClients(own.grpcPort!);
  const id = (reqId: string) => {
    const m = new grpc.Metadata();
    m.set('x-request-id', reqId);
    return m;
  };
  try {
    await rpc(clients.inference, 'ModelMetadata', { name: 'book-weather' }, id('meta-latest'));
    await rpc(clients.inference, 'ModelMetadata', { name: 'book-weather', version: '1' }, id('meta-1'));
    await rpc(clients.inference, 'ModelConfig', { name: 'book-weather' }, id('config-latest'));
    await rpc(clients.inference, 'ModelConfig', { name: 'book-weather', version: '1' }, id('config-1'));
    await rpc(clients.inference, 'ModelInfer', { model_name: 'book-weather', inputs: BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [1, 1] })), raw_input_contents: BOOK_FIELDS.map((f) => Buffer.from(fp64([rows[0]![f]!]))) }, id('infer-latest'));
    await assert.rejects(rpc(clients.inference, 'ModelMetadata', { name: 'book-weather', version: '7' }, id('meta-7')), { code: grpc.status.NOT_FOUND });
    const access = new Map(lines.filter((l) => l.msg === 'request').map((l) => [l.reqId, [l.rpc, l.version, l.grpcStatus]]));
    assert.deepEqual(Object.fromEntries(['meta-latest', 'meta-1', 'config-latest', 'config-1', 'infer-latest', 'meta-7'].map((k) => [k, access.get(k)])), {
      'meta-latest': ['ModelMetadata', '2', 'OK'],
      'meta-1': ['ModelMetadata', '1', 'OK'],
      'config-latest': ['ModelConfig', '2', 'OK'],
      'config-1': ['ModelConfig', '1', 'OK'],
      'infer-latest': ['ModelInfer', '2', 'OK'],
      'meta-7': ['ModelMetadata', '', 'NOT_FOUND'],
    });
    const metrics = (await call(`${own.url}/metrics`)).text;
    assert.equal(sampleSum(metrics, 'modelserve_grpc_requests_total', { rpc: 'ModelConfig', version: '2', code: 'OK' }), 1);
    assert.equal(sampleSum(metrics, 'modelserve_grpc_requests_total', { rpc: 'ModelMetadata', version: '1', code: 'OK' }), 1);
  } finally {
    clients.close();
    await own.shutdown();
  }
});
