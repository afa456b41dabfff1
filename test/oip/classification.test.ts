// Triton's classification extension on a real server with the weather example (an SVMClassifier
// with classlabels [0, 1], an ArgMax label output mapped to Rain / No_Rain by model.yaml): a
// requested output with parameters.classification = K answers, per row, the top K of that output
// as BYTES "<value>:<index>:<label>", the same over REST JSON, REST binary, gRPC typed contents and
// gRPC raw contents; each checked against the top K of the plain output computed here.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import * as grpc from '@grpc/grpc-js';
import { startServer, type RunningServer } from '../../src/server.js';
import { EXAMPLES, tempDir } from '../helpers/paths.js';
import { grpcClients, parseBinaryResponse, readBytesElements, rpc, type GrpcClient } from '../helpers/oip.js';

const WEATHER = join(EXAMPLES, 'weather');
const FIELDS = ['temp_c', 'humidity', 'wind_speed_kmph', 'wind_bearing_degree', 'visibility_km', 'pressure_millibars', 'current_weather_condition'];
const rows = (JSON.parse(readFileSync(join(WEATHER, 'testset.json'), 'utf8')) as { rows: Array<Record<string, number>> }).rows.slice(0, 6);
const LABELS = ['No_Rain', 'Rain'];

let server: RunningServer;
let inference: GrpcClient;
let closeClients: () => void;

before(async () => {
  const repo = tempDir();
  symlinkSync(WEATHER, join(repo, 'weather'));
  // The same model answering its whole probabilities output too (a raw output of the fields view).
  mkdirSync(join(repo, 'weather-probs'));
  const yaml = readFileSync(join(WEATHER, 'model.yaml'), 'utf8').replace(/^name: weather$/m, 'name: weather-probs').replace(/^model: model.onnx$/m, `model: ${join(WEATHER, 'model.onnx')}`).replace(/^default: true\n/m, '');
  writeFileSync(join(repo, 'weather-probs', 'model.yaml'), `${yaml}  probabilities:\n    from: probabilities\n`);
  // The graph alone (raw view): its classes are the classifier's own, 0 and 1.
  mkdirSync(join(repo, 'weather-raw', '1'), { recursive: true });
  symlinkSync(join(WEATHER, 'model.onnx'), join(repo, 'weather-raw', '1', 'model.onnx'));
  // A pipeline (the mean of weather's and weather-gb's rain probabilities) goes through the same codec, without labels.
  for (const p of ['weather-gb', 'weather-ensemble']) symlinkSync(join(EXAMPLES, 'pipelines', p), join(repo, p));
  // A TreeEnsembleClassifier (its classes are classlabels_int64s) with no label map: the class values themselves.
  symlinkSync(join(EXAMPLES, 'loan'), join(repo, 'loan'));
  server = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1 });
  ({ inference, close: closeClients } = grpcClients(server.grpcPort!));
});
after(async () => {
  closeClients?.();
  await server?.shutdown();
});

const columns = () => FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [rows.length, 1], data: rows.map((r) => r[f]!) }));
const rawInput = () => [{ name: 'float_input', datatype: 'FP32', shape: [rows.length, 7], data: rows.flatMap((r) => FIELDS.map((f) => r[f]!)) }];

async function post(model: string, body: unknown) {
  const res = await request(`${server.url}/v2/models/${model}/infer`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const bytes = Buffer.from(await res.body.arrayBuffer());
  const length = res.headers['inference-header-content-length'];
  return { status: res.statusCode, bytes, headerLength: length === undefined ? undefined : Number(length) };
}

async function outputOf(model: string, inputs: unknown[], name: string): Promise<{ shape: number[]; datatype: string; data: number[] }> {
  const res = await post(model, { inputs, outputs: [{ name }] });
  assert.equal(res.status, 200, res.bytes.toString());
  return JSON.parse(res.bytes.toString()).outputs[0];
}

/** The top K of each row of `width` values as "<value>:<index>[:<label>]", the value as the server's FP32 text. */
function topK(data: number[], width: number, k: number, label: (i: number) => string | undefined, datatype = 'FP32'): string[] {
  const out: string[] = [];
  for (let r = 0; r < data.length / width; r++) {
    const row = data.slice(r * width, (r + 1) * width).map((v, i) => ({ v, i }));
    row.sort((a, b) => b.v - a.v || a.i - b.i);
    for (const { v, i } of row.slice(0, Math.min(k, width))) {
      const f = Math.fround(v);
      let text = String(v);
      if (datatype === 'FP32') for (let p = 1; p < 9; p++) if (Math.fround(Number(f.toPrecision(p))) === f) { text = String(Number(f.toPrecision(p))); break; }
      const name = label(i);
      out.push(`${text}:${i}${name === undefined ? '' : `:${name}`}`);
    }
  }
  return out;
}

test('GET /v2 and gRPC ServerMetadata list classification', async () => {
  const res = await request(`${server.url}/v2`);
  assert.ok(((await res.body.json()) as { extensions: string[] }).extensions.includes('classification'));
  const meta = await rpc<{ extensions: string[] }>(inference, 'ServerMetadata', {});
  assert.ok(meta.extensions.includes('classification'));
});

test('REST JSON: top K of each row, labelled through model.yaml\'s map, on raw and column outputs and the raw view', async () => {
  const plain = await outputOf('weather-probs', columns(), 'probabilities');
  assert.deepEqual(plain.shape, [rows.length, 2]);
  for (const k of [1, 2, 5]) {
    const res = await post('weather-probs', { inputs: columns(), outputs: [{ name: 'probabilities', parameters: { classification: k } }, { name: 'prediction' }] });
    assert.equal(res.status, 200, res.bytes.toString());
    const [classes, prediction] = JSON.parse(res.bytes.toString()).outputs;
    assert.equal(classes.datatype, 'BYTES');
    // K past the classes: every class.
    assert.deepEqual(classes.shape, [rows.length, Math.min(k, 2)]);
    assert.deepEqual(classes.data, topK(plain.data, 2, k, (i) => LABELS[i]));
    // The top class is the label output's answer, the output not asked for classification untouched.
    if (k === 1) assert.deepEqual(classes.data.map((s: string) => s.split(':')[2]), prediction.data);
  }
  // A column output is one class: its probability is that of its column's class (rain_probability: Rain).
  const column = await outputOf('weather', columns(), 'rain_probability');
  const res = await post('weather', { inputs: columns(), outputs: [{ name: 'rain_probability', parameters: { classification: 3 } }] });
  assert.equal(res.status, 200, res.bytes.toString());
  const answer = JSON.parse(res.bytes.toString()).outputs[0];
  assert.deepEqual(answer.shape, [rows.length, 1]);
  assert.deepEqual(answer.data, topK(column.data, 1, 3, () => 'Rain'));
  // The raw view: the classifier's own class labels.
  const rawPlain = await outputOf('weather-raw', rawInput(), 'probabilities');
  const raw = await post('weather-raw', { inputs: rawInput(), outputs: [{ name: 'probabilities', parameters: { classification: 2 } }] });
  assert.equal(raw.status, 200, raw.bytes.toString());
  const rawAnswer = JSON.parse(raw.bytes.toString()).outputs[0];
  assert.deepEqual(rawAnswer.shape, [rows.length, 2]);
  assert.deepEqual(rawAnswer.data, topK(rawPlain.data, 2, 2, (i) => String(i)));
});

test('a tree ensemble classifier (loan): the column output labelled with its class value', async () => {
  const samples = [
    { Term: 84, NoEmp: 5, CreateJob: 0, RetainedJob: 5, longitude: -87.6298, latitude: 41.8781, GrAppv: 150000, SBA_Appv: 127500, is_new: 'False', FranchiseCode: '1', UrbanRural: 1, City: 'CHICAGO', State: 'IL', Bank: 'JPMORGAN CHASE BANK NATL ASSOC', BankState: 'OH', RevLineCr: 'N', naics_first_two: '44', same_state: 'False' },
    { Term: 240, NoEmp: 40, CreateJob: 2, RetainedJob: 10, longitude: -122.4, latitude: 37.77, GrAppv: 900000, SBA_Appv: 675000, is_new: 'True', FranchiseCode: '0', UrbanRural: 2, City: 'SAN FRANCISCO', State: 'CA', Bank: 'WELLS FARGO BANK NATL ASSOC', BankState: 'CA', RevLineCr: 'Y', naics_first_two: '72', same_state: 'True' },
  ];
  const meta = await (await request(`${server.url}/v2/models/loan`)).body.json() as { inputs: Array<{ name: string; datatype: string }> };
  const inputs = meta.inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: [samples.length, 1], data: samples.map((s) => s[i.name as keyof typeof s]) }));
  const plain = await outputOf('loan', inputs, 'default_proba');
  const res = await post('loan', { inputs, outputs: [{ name: 'default_proba', parameters: { classification: 1 } }] });
  assert.equal(res.status, 200, res.bytes.toString());
  const answer = JSON.parse(res.bytes.toString()).outputs[0];
  assert.deepEqual(answer.shape, [samples.length, 1]);
  // default_proba is column 1 of the probabilities: the probability of class 1.
  assert.deepEqual(answer.data, topK(plain.data, 1, 1, () => '1', plain.datatype));
});

test('a pipeline: its numeric outputs ranked, without labels; its vote (BYTES) refused', async () => {
  const plain = await outputOf('weather-ensemble', columns(), 'rain_probability');
  const res = await post('weather-ensemble', { inputs: columns(), outputs: [{ name: 'rain_probability', parameters: { classification: 2 } }] });
  assert.equal(res.status, 200, res.bytes.toString());
  const answer = JSON.parse(res.bytes.toString()).outputs[0];
  assert.deepEqual(answer.shape, [rows.length, 1]);
  assert.deepEqual(answer.data, topK(plain.data, 1, 2, () => undefined, plain.datatype));
  const vote = await post('weather-ensemble', { inputs: columns(), outputs: [{ name: 'prediction', parameters: { classification: 1 } }] });
  assert.equal(vote.status, 400);
  assert.match(JSON.parse(vote.bytes.toString()).error, /output 'prediction': parameters.classification needs an output of numbers to rank, but 'prediction' is BYTES/);
});

test('REST binary: the classes as BYTES binary data, equal to the JSON answer', async () => {
  const plain = await outputOf('weather-probs', columns(), 'probabilities');
  const res = await post('weather-probs', { inputs: columns(), outputs: [{ name: 'probabilities', parameters: { classification: 2, binary_data: true } }] });
  assert.equal(res.status, 200, res.bytes.toString());
  const { json, binary } = parseBinaryResponse(res.bytes, res.headerLength!);
  assert.equal(json.outputs[0]!.datatype, 'BYTES');
  assert.deepEqual(json.outputs[0]!.shape, [rows.length, 2]);
  assert.deepEqual(readBytesElements(binary.get('probabilities')!), topK(plain.data, 2, 2, (i) => LABELS[i]));
});

test('gRPC: int64_param classification, typed and raw contents alike', async () => {
  const plain = await outputOf('weather-probs', columns(), 'probabilities');
  const want = topK(plain.data, 2, 2, (i) => LABELS[i]);
  const typed = FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [rows.length, 1], contents: { fp64_contents: rows.map((r) => r[f]!) } }));
  const outputs = [{ name: 'probabilities', parameters: { classification: { int64_param: '2' } } }];
  const a = await rpc<{ outputs: Array<{ datatype: string; shape: string[]; contents: { bytes_contents: Buffer[] } }> }>(inference, 'ModelInfer', { model_name: 'weather-probs', inputs: typed, outputs });
  assert.equal(a.outputs[0]!.datatype, 'BYTES');
  assert.deepEqual(a.outputs[0]!.shape.map(Number), [rows.length, 2]);
  assert.deepEqual(a.outputs[0]!.contents.bytes_contents.map((b) => b.toString('utf8')), want);
  const rawInputs = FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [rows.length, 1] }));
  const raw_input_contents = FIELDS.map((f) => Buffer.from(new Float64Array(rows.map((r) => r[f]!)).buffer));
  const b = await rpc<{ outputs: Array<{ datatype: string; shape: string[] }>; raw_output_contents: Buffer[] }>(inference, 'ModelInfer', { model_name: 'weather-probs', inputs: rawInputs, raw_input_contents, outputs });
  assert.equal(b.outputs[0]!.datatype, 'BYTES');
  assert.deepEqual(readBytesElements(b.raw_output_contents[0]!), want);
});

test('bad classification requests: 400 / INVALID_ARGUMENT naming the output and what is wrong', async () => {
  const cases: Array<[unknown, RegExp]> = [
    [0, /output 'probabilities': parameters.classification must be a positive integer \(how many classes to return\), not 0/],
    [1.5, /output 'probabilities': parameters.classification must be a positive integer.*not 1.5/],
    ['2', /output 'probabilities': parameters.classification must be a positive integer.*not "2"/],
  ];
  for (const [k, message] of cases) {
    const res = await post('weather-probs', { inputs: columns(), outputs: [{ name: 'probabilities', parameters: { classification: k } }] });
    assert.equal(res.status, 400, String(k));
    assert.match(JSON.parse(res.bytes.toString()).error, message);
  }
  const bytes = await post('weather-probs', { inputs: columns(), outputs: [{ name: 'prediction', parameters: { classification: 2 } }] });
  assert.equal(bytes.status, 400);
  assert.match(JSON.parse(bytes.bytes.toString()).error, /output 'prediction': parameters.classification needs an output of numbers to rank, but 'prediction' is BYTES/);
  const unknown = await post('weather-probs', { inputs: columns(), outputs: [{ name: 'colour', parameters: { classification: 2 } }] });
  assert.equal(unknown.status, 400);
  assert.match(JSON.parse(unknown.bytes.toString()).error, /unknown output 'colour'/);
  const typed = FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [1], contents: { fp64_contents: [rows[0]![f]!] } }));
  const grpcCases: Array<[unknown, RegExp]> = [
    [{ name: 'probabilities', parameters: { classification: { int64_param: '0' } } }, /output 'probabilities': parameters.classification must be a positive integer/],
    [{ name: 'probabilities', parameters: { classification: { string_param: '2' } } }, /output 'probabilities': parameters.classification must be a positive integer.*not "2"/],
    [{ name: 'prediction', parameters: { classification: { int64_param: '1' } } }, /output 'prediction': parameters.classification needs an output of numbers to rank, but 'prediction' is BYTES/],
    [{ name: 'colour', parameters: { classification: { int64_param: '1' } } }, /unknown output 'colour'/],
  ];
  for (const [output, message] of grpcCases) {
    await assert.rejects(rpc(inference, 'ModelInfer', { model_name: 'weather-probs', inputs: typed, outputs: [output] }), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
      assert.match(err.details, message);
      return true;
    });
  }
});
