// A fuzz of the Open Inference Protocol's inference calls, on every door that takes them: REST with
// JSON tensors, REST with the binary tensor extension, gRPC ModelInfer and a ModelStreamInfer
// stream. Each request starts from a valid one for a model (fields view: weather and loan, with
// FP64, INT64 and BYTES columns; raw view: the book's svc.onnx) and gets a few seeded mutations:
// datatypes, shapes (negative, huge, non-integer), data of the wrong length, type or nesting,
// inputs missing, doubled or unknown, requested outputs, parameters, binary sizes and header
// lengths that lie, BYTES elements whose length prefix overruns, protobuf typed contents in the
// wrong member, raw contents of the wrong count or size, and protobuf bytes cut, flipped or padded.
// Every answer must come (no hang) and be a success or a client error in the documented shape:
// REST 4xx with {"error": "…"}, never a 5xx; gRPC OK, INVALID_ARGUMENT or NOT_FOUND with a message,
// never INTERNAL or UNKNOWN; a bad message on the stream gets an error_message and the stream goes
// on. A failure prints the request's index (the generators are seeded).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { Pool } from 'undici';
import { startServer, type RunningServer } from '../../src/server.js';
import { PROTO_DIR } from '../../src/grpc/proto.js';
import { BOOK_MODEL, EXAMPLES, tempDir } from '../helpers/paths.js';
import { draws, inParallel } from '../helpers/fuzz.js';

const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const JSON_REQUESTS = Math.round(1_500 * SCALE);
const BINARY_REQUESTS = Math.round(1_500 * SCALE);
const GRPC_REQUESTS = Math.round(2_000 * SCALE);
const STREAM_MESSAGES = Math.round(500 * SCALE);
const CONCURRENCY = 8;
const TIMEOUT_MS = 10_000;

interface Input { name: string; datatype: string; shape: unknown[]; data?: unknown; parameters?: Record<string, unknown> }
interface Model { name: string; inputs: Array<{ name: string; datatype: string; shape: number[] }>; outputs: string[]; sample: (row: number) => Record<string, unknown> }

let server: RunningServer;
let models: Model[];
const root = new protobuf.Root().loadSync(join(PROTO_DIR, 'grpc_service.proto'), { keepCase: true });
const RequestType = root.lookupType('inference.ModelInferRequest');
const ResponseType = root.lookupType('inference.ModelInferResponse');
const StreamResponseType = root.lookupType('inference.ModelStreamInferResponse');

before(async () => {
  const repo = tempDir();
  for (const name of ['weather', 'loan']) symlinkSync(join(EXAMPLES, name), join(repo, name));
  mkdirSync(join(repo, 'svc-raw'));
  symlinkSync(BOOK_MODEL, join(repo, 'svc-raw', 'svc.onnx'));
  server = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, logger: false });
  const samples = (name: string) => JSON.parse(readFileSync(join(EXAMPLES, name, 'samples', 'valid.json'), 'utf8')) as Array<Record<string, unknown>>;
  models = [];
  for (const name of ['weather', 'loan', 'svc-raw']) {
    const meta = await (await fetch(`${server.url}/v2/models/${name}`)).json() as { inputs: Model['inputs']; outputs: Array<{ name: string }> };
    const rows = name === 'svc-raw' ? [] : samples(name);
    models.push({
      name, inputs: meta.inputs, outputs: meta.outputs.map((o) => o.name),
      sample: (row) => (name === 'svc-raw' ? { float_input: Array.from({ length: 7 }, (_, i) => (row * 7 + i) % 5 - 2) } : rows[row % rows.length]!),
    });
  }
});
after(async () => {
  await server?.shutdown();
});

const ODD_DATATYPES = ['BOOL', 'INT8', 'INT16', 'INT32', 'INT64', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'FP16', 'BF16', 'FP32', 'FP64', 'BYTES', '', 'fp32', 'FLOAT', 'STRING'];

function generator(seed: number) {
  const { random, int, pick, chance } = draws(seed);

  const scalar = (): unknown => pick([
    () => random() * 2000 - 1000, () => int(10), () => 1e308, () => -1e308, () => 2 ** 63, () => -(2 ** 64), () => 0.5,
    () => 'x', () => '', () => 'nan', () => '1e999', () => true, () => null, () => [], () => ({}), () => [1, [2]], () => 'é'.repeat(int(300)),
  ])();
  const oddShape = (): unknown[] => pick([
    () => [], () => [0], () => [-1], () => [-1, 1], () => [1e9, 1e9], () => [2 ** 53], () => [2 ** 31, 2 ** 31, 4], () => [1.5], () => ['3'], () => [null],
    () => [int(5), int(5)], () => [1, 1, 1, 1], () => Array.from({ length: 40 }, () => 1), () => [int(4) + 1],
  ])();

  /** A valid request of `rows` rows for a model, its values typed as the metadata says. */
  const valid = (model: Model, rows: number): Input[] => model.inputs.map((i) => {
    const width = i.shape.length > 1 && i.shape[1]! > 0 ? i.shape[1]! : 1;
    const data: unknown[] = [];
    const start = int(100);
    for (let r = 0; r < rows; r++) {
      const v = model.sample(start + r)[i.name];
      data.push(...(Array.isArray(v) ? v : [v]).slice(0, width));
    }
    const values = i.datatype === 'BYTES' ? data.map(String) : data;
    return { name: i.name, datatype: i.datatype, shape: model.name === 'svc-raw' ? [rows, width] : chance(0.5) ? [rows] : [rows, 1], data: values };
  });

  /** A few mutations of a request's inputs (kept valid sometimes: the fuzz must also see 200s). */
  const mutate = (model: Model, inputs: Input[]): Input[] => {
    const out = inputs.map((i) => ({ ...i, shape: [...i.shape], data: Array.isArray(i.data) ? [...i.data as unknown[]] : i.data }));
    const times = chance(0.3) ? 0 : 1 + int(3);
    for (let t = 0; t < times && out.length > 0; t++) {
      const k = int(out.length);
      const input = out[k]!;
      // Earlier mutations may have replaced or removed the data: those on its elements then do nothing.
      const data = Array.isArray(input.data) ? (input.data as unknown[]) : [];
      pick([
        () => { input.datatype = pick(ODD_DATATYPES); },
        () => { input.shape = oddShape(); },
        () => { data.length = int(data.length); },
        () => { data.push(...Array.from({ length: 1 + int(3) }, () => data[0])); },
        () => { if (data.length > 0) data[int(data.length)] = scalar(); },
        () => { input.data = chance(0.5) ? [data] : scalar(); },
        () => { out.splice(k, 1); },
        () => { out.push({ ...input }); },
        () => { input.name = pick(['', 'nope', `${input.name} `, input.name.toUpperCase(), '__proto__']); },
        () => { input.parameters = pick([{ binary_data_size: pick([-1, 0, 8, 1e12, 'x']) }, { content_type: 'str' }, { shared_memory_region: 'r' }, null as never]); },
        () => { delete input.data; },
        () => { (input as unknown as Record<string, unknown>).shape = pick([undefined, null, 'x', 3, {}]); },
      ])();
    }
    void model;
    return out;
  };

  const outputsPart = (model: Model): unknown => (chance(0.5) ? undefined : pick([
    () => [{ name: pick(model.outputs) }],
    () => [{ name: 'nope' }],
    () => [{ name: pick(model.outputs), parameters: { binary_data: pick([true, false, 'yes', 1]) } }],
    () => [{ name: pick(model.outputs) }, { name: pick(model.outputs) }],
    () => pick([{}, 'x', [null], [{}]]),
  ])());

  /** A REST JSON body and its path. */
  const jsonRequest = (): { path: string; body: Buffer } => {
    const model = pick(models);
    const rows = chance(0.1) ? 1 + int(300) : 1 + int(4);
    const body: Record<string, unknown> = { inputs: mutate(model, valid(model, rows)) };
    const outputs = outputsPart(model);
    if (outputs !== undefined) body.outputs = outputs;
    if (chance(0.2)) body.id = pick(['r1', 'r2', 7, {}, 'x'.repeat(5000)]);
    if (chance(0.1)) body.parameters = pick([{ binary_data_output: true }, { binary_data_output: 'x' }, null, 'x', { sequence_id: 1 }]);
    const text = chance(0.05) ? pick(['null', '[]', '1', '"x"', '{}', '{"inputs": {}}', '{"inputs": [1]}', '{"inputs": [', '']) : JSON.stringify(body);
    return { path: `/v2/models/${(chance(0.8) ? model.name : pick(['nope', `${model.name}/versions/1`, `${model.name}/versions/9`, `${model.name}/versions/x`]))}/infer`, body: Buffer.from(text) };
  };

  /** Bytes of a tensor's values in the binary extension's layout (best effort for odd datatypes and values). */
  const binaryOf = (input: Input): Buffer => {
    const values = Array.isArray(input.data) ? (input.data as unknown[]).flat(3) : [input.data];
    const num = (v: unknown) => (typeof v === 'number' ? v : Number(v) || 0);
    switch (input.datatype) {
      case 'FP64': return Buffer.from(Float64Array.from(values.map(num)).buffer);
      case 'FP32': return Buffer.from(Float32Array.from(values.map(num)).buffer);
      case 'INT64': return Buffer.from(BigInt64Array.from(values.map((v) => BigInt(Math.trunc(Math.max(-1e18, Math.min(1e18, num(v))))))).buffer);
      case 'INT32': return Buffer.from(Int32Array.from(values.map(num)).buffer);
      case 'BOOL': case 'UINT8': case 'INT8': return Buffer.from(Uint8Array.from(values.map(num)));
      case 'BYTES': return Buffer.concat(values.flatMap((v) => {
        const b = Buffer.from(String(v));
        const len = Buffer.alloc(4);
        // Sometimes a length prefix that overruns the section, or undercuts it.
        len.writeUInt32LE(chance(0.1) ? pick([b.byteLength + 1 + int(100), 0xffffffff, Math.max(0, b.byteLength - 1)]) : b.byteLength);
        return [len, b];
      }));
      default: return Buffer.alloc(int(16));
    }
  };

  /** A REST body with some inputs as binary data; the header length header may lie. */
  const binaryRequest = (): { path: string; body: Buffer; headerLength: string | undefined } => {
    const model = pick(models);
    const inputs = mutate(model, valid(model, 1 + int(chance(0.1) ? 200 : 4)));
    const sections: Buffer[] = [];
    for (const input of inputs) {
      if (!chance(0.8)) continue;
      let bytes = binaryOf(input);
      if (chance(0.15)) bytes = bytes.subarray(0, int(bytes.byteLength + 1));
      if (chance(0.1)) bytes = Buffer.concat([bytes, Buffer.alloc(1 + int(8))]);
      delete input.data;
      input.parameters = { ...(input.parameters ?? {}), binary_data_size: chance(0.1) ? pick([bytes.byteLength + 1, bytes.byteLength - 1, 1e15, -4, 2.5]) : bytes.byteLength };
      sections.push(bytes);
    }
    const body: Record<string, unknown> = { inputs };
    const outputs = outputsPart(model);
    if (outputs !== undefined) body.outputs = outputs;
    if (chance(0.5)) body.parameters = { binary_data_output: true };
    const header = Buffer.from(chance(0.03) ? '{"inputs": [' : JSON.stringify(body));
    let all = Buffer.concat([header, ...sections]);
    if (chance(0.1)) all = all.subarray(0, header.byteLength + int(all.byteLength - header.byteLength + 1));
    const headerLength = chance(0.85) ? String(header.byteLength) : pick([undefined, '0', '-1', 'x', '1.5', String(all.byteLength + 1), String(2 ** 53), String(header.byteLength - 1), '']);
    return { path: `/v2/models/${model.name}/infer`, body: all, headerLength };
  };

  /** InferParameter messages for parameters (each value in its member, or sometimes in another). */
  const grpcParameters = (parameters: unknown): Record<string, Record<string, unknown>> | undefined => {
    if (typeof parameters !== 'object' || parameters === null) return undefined;
    const out: Record<string, Record<string, unknown>> = {};
    for (const [key, value] of Object.entries(parameters)) {
      const member = chance(0.3) ? pick(['bool_param', 'int64_param', 'string_param', 'double_param', 'uint64_param'])
        : typeof value === 'boolean' ? 'bool_param' : typeof value === 'number' ? (Number.isInteger(value) ? 'int64_param' : 'double_param') : 'string_param';
      const v = member === 'bool_param' ? Boolean(value) : member === 'string_param' ? String(value)
        : member === 'double_param' ? Number(value) || 0 : Math.trunc(Math.max(member === 'uint64_param' ? 0 : -1e15, Math.min(1e15, Number(value) || 0)));
      out[key] = { [member]: v };
    }
    return out;
  };

  /** A gRPC ModelInferRequest's bytes: a mutated message, sometimes its bytes mangled too (then `mangled`). */
  const grpcRequest = (id?: string): { bytes: Buffer; mangled: boolean } => {
    const model = pick(models);
    const rows = 1 + int(chance(0.1) ? 200 : 4);
    const inputs = mutate(model, valid(model, rows));
    const raw = chance(0.4);
    const raws: Buffer[] = [];
    const message = {
      model_name: chance(0.9) ? model.name : pick(['nope', '']),
      model_version: chance(0.9) ? '' : pick(['1', '9', 'x']),
      id: id ?? pick(['', 'g1', 'é'.repeat(int(100))]),
      parameters: chance(0.1) ? grpcParameters(pick([{ binary_data_output: true }, { sequence_id: 1 }, { priority: 'x' }, { timeout: -1 }])) : undefined,
      inputs: inputs.map((i) => {
        const shape = Array.isArray(i.shape) ? i.shape.map((d) => (typeof d === 'number' && Number.isFinite(d) ? (Number.isSafeInteger(d) ? d : pick(['9223372036854775807', '-9223372036854775808', '4294967296'])) : 0)) : [];
        const values = Array.isArray(i.data) ? (i.data as unknown[]).flat(3) : i.data === undefined ? [] : [i.data];
        if (raw) {
          let bytes = binaryOf(i);
          if (chance(0.15)) bytes = bytes.subarray(0, int(bytes.byteLength + 1));
          raws.push(bytes);
          return { name: i.name, datatype: i.datatype, shape, parameters: grpcParameters(i.parameters) };
        }
        const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
        // The member the datatype names, or sometimes another one.
        const member = chance(0.15) ? pick(['bool_contents', 'int_contents', 'int64_contents', 'uint_contents', 'uint64_contents', 'fp32_contents', 'fp64_contents', 'bytes_contents']) :
          ({ BOOL: 'bool_contents', INT8: 'int_contents', INT16: 'int_contents', INT32: 'int_contents', INT64: 'int64_contents', UINT8: 'uint_contents', UINT16: 'uint_contents', UINT32: 'uint_contents', UINT64: 'uint64_contents', FP32: 'fp32_contents', FP64: 'fp64_contents', BYTES: 'bytes_contents' } as Record<string, string>)[i.datatype] ?? 'fp64_contents';
        const contents = member === 'bytes_contents' ? values.map((v) => Buffer.from(String(v)))
          : member === 'bool_contents' ? values.map(Boolean)
          : member.startsWith('int64') || member.startsWith('uint64') ? values.map((v) => Math.trunc(Math.max(-1e15, Math.min(1e15, num(v)))))
          : member.startsWith('int') || member.startsWith('uint') ? values.map((v) => Math.trunc(Math.max(-2e9, Math.min(2e9, num(v)))))
          : values.map(num);
        return { name: i.name, datatype: i.datatype, shape, parameters: grpcParameters(i.parameters), contents: chance(0.05) ? {} : { [member]: contents } };
      }),
      outputs: chance(0.3) ? [{ name: pick([...model.outputs, 'nope']), parameters: chance(0.3) ? grpcParameters({ binary_data: pick([true, 'x', 3]) }) : undefined }] : [],
      raw_input_contents: chance(0.1) ? [...raws, Buffer.alloc(int(9))].slice(int(2)) : raws,
    };
    let bytes = Buffer.from(RequestType.encode(RequestType.fromObject(message)).finish());
    const mangled = chance(0.15);
    if (mangled) {
      bytes = Buffer.from(bytes);
      pick([
        () => { bytes = bytes.subarray(0, int(bytes.byteLength)); },
        () => { for (let n = 1 + int(4); n > 0 && bytes.byteLength > 0; n--) bytes[int(bytes.byteLength)] = int(256); },
        () => { bytes = Buffer.concat([bytes, Buffer.from(Array.from({ length: 1 + int(12) }, () => int(256)))]); },
      ])();
    }
    return { bytes, mangled };
  };

  return { jsonRequest, binaryRequest, grpcRequest };
}

/** Why an OIP REST answer breaks the rules, or undefined when it keeps them. A 200 holds an inference response (its JSON header first when binary). */
function restViolation(status: number, body: Buffer, headerLength: string | undefined): string | undefined {
  if (status >= 500) return `status ${status}`;
  if (status === 200) {
    const header = headerLength === undefined ? body : body.subarray(0, Number(headerLength));
    try {
      const answer = JSON.parse(header.toString('utf8')) as { outputs?: unknown };
      return Array.isArray(answer.outputs) && answer.outputs.length > 0 ? undefined : '200 without outputs';
    } catch {
      return `200 whose ${headerLength === undefined ? 'body' : 'header'} is not JSON`;
    }
  }
  if (status < 400) return `status ${status}`;
  let error: unknown;
  try {
    error = JSON.parse(body.toString('utf8'));
  } catch {
    return 'error body is not JSON';
  }
  const b = error as Record<string, unknown>;
  if (Object.keys(b).join() !== 'error,code,request_id' || typeof b.error !== 'string' || b.error.length === 0 || typeof b.code !== 'string' || typeof b.request_id !== 'string') return `error body is not {"error": "…", "code", "request_id"}`;
  return undefined;
}

const ALLOWED_CODES = new Set([grpc.status.OK, grpc.status.INVALID_ARGUMENT, grpc.status.NOT_FOUND]);

test(`fuzz: ${JSON_REQUESTS} JSON and ${BINARY_REQUESTS} binary OIP REST inference requests get 200 or a 4xx {"error"}, never a 5xx or a hang`, async (t) => {
  const outcomes = new Map<string, number>();
  const count = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  const failures: string[] = [];
  const pool = new Pool(server.url, { connections: CONCURRENCY, headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS });
  const jsonGen = generator(14);
  const binaryGen = generator(1414);
  const requests = [
    ...Array.from({ length: JSON_REQUESTS }, () => ({ kind: 'json', ...jsonGen.jsonRequest(), headerLength: undefined as string | undefined })),
    ...Array.from({ length: BINARY_REQUESTS }, () => ({ kind: 'binary', ...binaryGen.binaryRequest() })),
  ];
  try {
    await inParallel(requests.length, CONCURRENCY, async (i) => {
      const r = requests[i]!;
      const headers: Record<string, string> = { 'content-type': r.kind === 'json' ? 'application/json' : 'application/octet-stream' };
      if (r.headerLength !== undefined) headers['inference-header-content-length'] = r.headerLength;
      try {
        const res = await pool.request({ method: 'POST', path: r.path, headers, body: r.body });
        const body = Buffer.from(await res.body.arrayBuffer());
        count(`${r.kind}:${res.statusCode}`);
        const answerHeader = res.headers['inference-header-content-length'];
        const why = restViolation(res.statusCode, body, typeof answerHeader === 'string' ? answerHeader : undefined);
        if (why) failures.push(`${r.kind} #${i} ${r.path} header-length ${r.headerLength} body ${r.body.subarray(0, 300).toString('latin1')}: ${why}: ${body.subarray(0, 300).toString('latin1')}`);
      } catch (err) {
        count(`error:${(err as { code?: string }).code}`);
        failures.push(`${r.kind} #${i} ${r.path}: ${(err as Error).message}`);
      }
    });
  } finally {
    await pool.close();
  }
  t.diagnostic(`outcomes: ${[...outcomes.entries()].sort().map(([k, v]) => `${k}=${v}`).join(' ')}`);
  assert.deepEqual(failures.slice(0, 10), [], `${failures.length} violations`);
  for (const key of ['json:200', 'json:400', 'json:404', 'binary:200', 'binary:400']) assert.ok(outcomes.has(key), `no ${key} among ${[...outcomes.keys()].join(' ')}`);
});

test(`fuzz: ${GRPC_REQUESTS} gRPC ModelInfer calls and ${STREAM_MESSAGES} ModelStreamInfer messages get OK or INVALID_ARGUMENT / NOT_FOUND with a message, never INTERNAL, and the stream goes on`, async (t) => {
  const client = new grpc.Client(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure());
  const pass = (b: Buffer) => b;
  const outcomes = new Map<string, number>();
  const count = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  const failures: string[] = [];
  try {
    const gen = generator(19);
    const messages = Array.from({ length: GRPC_REQUESTS }, () => gen.grpcRequest().bytes);
    await inParallel(messages.length, CONCURRENCY, async (i) => {
      const bytes = messages[i]!;
      const outcome = await new Promise<{ code: number; details: string; response?: Buffer }>((resolve) => {
        client.makeUnaryRequest('/inference.GRPCInferenceService/ModelInfer', pass, pass, bytes, new grpc.Metadata(), { deadline: Date.now() + TIMEOUT_MS }, (err, response) => {
          resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '', response });
        });
      });
      count(grpc.status[outcome.code]!);
      const what = `#${i} ${bytes.toString('base64').slice(0, 400)}`;
      if (!ALLOWED_CODES.has(outcome.code)) failures.push(`${what}: ${grpc.status[outcome.code]} ${outcome.details}`);
      else if (outcome.code !== grpc.status.OK && outcome.details.length === 0) failures.push(`${what}: ${grpc.status[outcome.code]} without a message`);
      else if (outcome.response) {
        const answer = ResponseType.toObject(ResponseType.decode(outcome.response)) as { outputs?: unknown[] };
        if (!Array.isArray(answer.outputs) || answer.outputs.length === 0) failures.push(`${what}: OK without outputs`);
      }
    });

    // One stream: every message gets one answer (a response or an error_message), and the stream ends OK.
    const streamGen = generator(1919);
    const sent = Array.from({ length: STREAM_MESSAGES }, (_, i) => streamGen.grpcRequest(`s${i}`));
    const answers: Array<{ error_message?: string; infer_response?: { id?: string; outputs?: unknown[] } }> = [];
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      const call = client.makeBidiStreamRequest('/inference.GRPCInferenceService/ModelStreamInfer', pass, pass, new grpc.Metadata(), { deadline: Date.now() + 6 * TIMEOUT_MS });
      call.on('data', (b: Buffer) => {
        answers.push(StreamResponseType.toObject(StreamResponseType.decode(b)) as (typeof answers)[number]);
        if (answers.length === sent.length) call.end();
      });
      call.on('status', resolve);
      call.on('error', () => undefined); // the status carries it
      for (const m of sent) call.write(m.bytes);
    });
    t.diagnostic(`unary outcomes: ${[...outcomes.entries()].sort().map(([k, v]) => `${k}=${v}`).join(' ')}; stream: ${answers.filter((a) => a.error_message).length} error messages of ${answers.length}`);
    assert.equal(status.code, grpc.status.OK, `stream ended ${grpc.status[status.code]} ${status.details} after ${answers.length} answers`);
    assert.equal(answers.length, sent.length);
    // Answers come as their batches finish (three models, three batchers): each answer carries its request's id, and no request is answered twice.
    const answered = new Set<string>();
    let foreign = 0;
    answers.forEach((a, i) => {
      if (!a.error_message && !a.infer_response) failures.push(`stream answer #${i}: neither an answer nor an error_message`);
      // (An error's infer_response only names its request: id and model.)
      else if (!a.error_message && a.infer_response) {
        const id = a.infer_response.id ?? '';
        if (answered.has(id)) failures.push(`stream answer #${i}: id ${id} answered twice`);
        answered.add(id);
        if (!sent.some((m, k) => id === `s${k}`)) foreign++;
        if (!(Array.isArray(a.infer_response.outputs) && a.infer_response.outputs.length > 0)) failures.push(`stream answer #${i} (${id}): an answer without outputs`);
      }
    });
    // Only a message whose bytes were mangled may come back under another id.
    assert.ok(foreign <= sent.filter((m) => m.mangled).length, `${foreign} answers with ids that were not sent`);
    assert.ok(answers.some((a) => a.error_message) && answers.some((a) => !a.error_message && a.infer_response), 'the stream saw both answers and errors');
    assert.deepEqual(failures.slice(0, 10), [], `${failures.length} violations`);
    for (const code of ['OK', 'INVALID_ARGUMENT', 'NOT_FOUND']) assert.ok(outcomes.has(code), `no ${code} among ${[...outcomes.keys()].join(' ')}`);
  } finally {
    client.close();
  }
  // The server still serves.
  const res = await fetch(`${server.url}/v2/health/ready`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  assert.equal(res.status, 200);
});
