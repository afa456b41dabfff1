// Raw models (a folder holding only an .onnx file) whose inputs and outputs are INT8, INT16, UINT8,
// UINT16, UINT32 or UINT64 — element types onnxruntime-node's Tensor carries (uint8 is the usual
// image input) — served end to end: metadata and config, OIP REST with JSON and binary tensors,
// gRPC with typed and raw contents, batched together, on a worker thread (the worker protocol packs
// the tensors) and in-process. Identity graphs built here with Debian's python3-onnx.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import type * as grpc from '@grpc/grpc-js';
import { startServer, type RunningServer } from '../../src/server.js';
import { createRuntime } from '../../src/runtime/create.js';
import { tempDir } from '../helpers/paths.js';
import { writeIdentityModels } from '../helpers/onnx.js';
import { datatypeOf } from '../../src/protocols/oip/codec.js';
import { checkRawSignature, checkSignature, rawOutputs } from '../../src/config/signature.js';
import type { ModelConfig } from '../../src/config/types.js';
import { predictionEvent } from '../../src/events/cloudevent.js';
import { binaryBody, grpcClients, parseBinaryResponse, rpc, type GrpcClient } from '../helpers/oip.js';

type IntArray = Int8Array | Int16Array | Uint8Array | Uint16Array | Uint32Array | BigUint64Array;

interface Case {
  model: string;
  elem: string;
  datatype: string;
  /** Four values, the type's extremes among them (shape [2, 2]). */
  json: number[];
  bytes: IntArray;
  contents: string;
  /** The typed contents as the proto-loader client sends and reads them. */
  typed: Array<number | string>;
}

const CASES: Case[] = [
  { model: 'id_i8', elem: 'INT8', datatype: 'INT8', json: [-128, 127, -1, 0], bytes: Int8Array.from([-128, 127, -1, 0]), contents: 'int_contents', typed: [-128, 127, -1, 0] },
  { model: 'id_i16', elem: 'INT16', datatype: 'INT16', json: [-32768, 32767, -2, 5], bytes: Int16Array.from([-32768, 32767, -2, 5]), contents: 'int_contents', typed: [-32768, 32767, -2, 5] },
  { model: 'id_u8', elem: 'UINT8', datatype: 'UINT8', json: [0, 255, 1, 128], bytes: Uint8Array.from([0, 255, 1, 128]), contents: 'uint_contents', typed: [0, 255, 1, 128] },
  { model: 'id_u16', elem: 'UINT16', datatype: 'UINT16', json: [0, 65535, 2, 300], bytes: Uint16Array.from([0, 65535, 2, 300]), contents: 'uint_contents', typed: [0, 65535, 2, 300] },
  { model: 'id_u32', elem: 'UINT32', datatype: 'UINT32', json: [0, 4294967295, 3, 70000], bytes: Uint32Array.from([0, 4294967295, 3, 70000]), contents: 'uint_contents', typed: [0, 4294967295, 3, 70000] },
  // JSON numbers are exact up to 2^53; bytes and typed contents carry the whole range.
  { model: 'id_u64', elem: 'UINT64', datatype: 'UINT64', json: [0, 2 ** 53 - 1, 4, 9], bytes: BigUint64Array.from([0n, 2n ** 64n - 1n, 4n, 2n ** 63n]), contents: 'uint64_contents', typed: ['0', '18446744073709551615', '4', '9223372036854775808'] },
];

const repo = writeIdentityModels(tempDir(), CASES.map((c) => ({ file: `${c.model}/1/model.onnx`, elem: c.elem, shape: ['N', 2] })));

const bytesOf = (a: IntArray) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

for (const where of ['a worker thread', 'in-process'] as const) {
  describe(`on ${where}`, () => {
    let server: RunningServer;
    let inference: GrpcClient;
    let closeClients: () => void;

    before(async () => {
      // Every batch on the worker (no inline runs on the main thread), so the worker protocol carries each tensor.
      const runtime = where === 'in-process' ? await createRuntime({ workers: 0 }) : await createRuntime({ workers: 1, inlineMaxMs: 0 });
      server = await startServer({ repo, port: 0, grpcPort: 'free', runtime });
      ({ inference, close: closeClients } = grpcClients(server.grpcPort!));
    });
    after(async () => {
      closeClients?.();
      await server?.shutdown();
    });

    test('metadata and config describe the graph\'s own datatypes', async () => {
      for (const c of CASES) {
        const meta = await request(`${server.url}/v2/models/${c.model}`);
        assert.equal(meta.statusCode, 200);
        const body = await meta.body.json() as { inputs: unknown[]; outputs: unknown[] };
        assert.deepEqual(body.inputs, [{ name: 'x', datatype: c.datatype, shape: [-1, 2] }]);
        assert.deepEqual(body.outputs, [{ name: 'y', datatype: c.datatype, shape: [-1, 2] }]);
        const config = await (await request(`${server.url}/v2/models/${c.model}/config`)).body.json() as { input: Array<{ data_type: string }> };
        assert.equal(config.input[0]!.data_type, `TYPE_${c.datatype}`);
      }
    });

    test('REST JSON: every value comes back as sent, requests batched together', async () => {
      const answers = await Promise.all(CASES.flatMap((c) => [0, 1, 2].map(async () => {
        const res = await request(`${server.url}/v2/models/${c.model}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: [{ name: 'x', datatype: c.datatype, shape: [2, 2], data: c.json }] }) });
        return { c, status: res.statusCode, body: await res.body.json() as { outputs: Array<{ name: string; datatype: string; shape: number[]; data: number[] }>; error?: string } };
      })));
      for (const { c, status, body } of answers) {
        assert.equal(status, 200, `${c.model}: ${JSON.stringify(body)}`);
        assert.deepEqual(body.outputs, [{ name: 'y', datatype: c.datatype, shape: [2, 2], data: c.json }]);
      }
      // A value outside the type is the caller's mistake, named.
      const res = await request(`${server.url}/v2/models/id_u8/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: [{ name: 'x', datatype: 'UINT8', shape: [1, 2], data: [1, 256] }] }) });
      assert.equal(res.statusCode, 400);
      assert.match((await res.body.json() as { error: string }).error, /input 'x': element 1 \(256\) is not a valid UINT8/);
      // And a datatype other than the model's.
      const other = await request(`${server.url}/v2/models/id_u8/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: [{ name: 'x', datatype: 'INT32', shape: [1, 2], data: [1, 2] }] }) });
      assert.equal(other.statusCode, 400);
      assert.match((await other.body.json() as { error: string }).error, /input 'x': datatype INT32, but the model takes UINT8/);
    });

    test('REST binary tensors: the bytes come back as sent, the whole range of each type', async () => {
      for (const c of CASES) {
        const { body, headerLength } = binaryBody([{ name: 'x', datatype: c.datatype, shape: [2, 2], bytes: bytesOf(c.bytes) }], { parameters: { binary_data_output: true } });
        const res = await request(`${server.url}/v2/models/${c.model}/infer`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength) } });
        const bytes = Buffer.from(await res.body.arrayBuffer());
        assert.equal(res.statusCode, 200, bytes.toString());
        const parsed = parseBinaryResponse(bytes, Number(res.headers['inference-header-content-length']));
        assert.deepEqual(parsed.json.outputs.map((o) => [o.name, o.datatype, o.shape]), [['y', c.datatype, [2, 2]]]);
        assert.deepEqual(parsed.binary.get('y'), bytesOf(c.bytes), c.model);
      }
      // Triton's raw binary request (Inference-Header-Content-Length: 0): the body is the only input's data, a batch of one.
      const res = await request(`${server.url}/v2/models/id_u8/infer`, { method: 'POST', body: Buffer.from([7, 250]), headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': '0' } });
      const bytes = Buffer.from(await res.body.arrayBuffer());
      assert.equal(res.statusCode, 200, bytes.toString());
      const parsed = parseBinaryResponse(bytes, Number(res.headers['inference-header-content-length']));
      assert.deepEqual(parsed.json.outputs.map((o) => [o.name, o.datatype, o.shape]), [['y', 'UINT8', [1, 2]]]);
      assert.deepEqual(parsed.binary.get('y'), Buffer.from([7, 250]));
    });

    test('gRPC: typed contents in the datatype\'s member, raw contents byte for byte', async () => {
      type Response = { outputs: Array<{ name: string; datatype: string; shape: string[]; contents: Record<string, unknown[]> }>; raw_output_contents: Buffer[] };
      for (const c of CASES) {
        const typed = await rpc<Response>(inference, 'ModelInfer', { model_name: c.model, inputs: [{ name: 'x', datatype: c.datatype, shape: [2, 2], contents: { [c.contents]: c.typed } }] });
        assert.equal(typed.outputs[0]!.datatype, c.datatype);
        assert.deepEqual(typed.outputs[0]!.shape.map(Number), [2, 2]);
        assert.deepEqual(typed.outputs[0]!.contents[c.contents]!.map(String), c.typed.map(String), c.model);
        const raw = await rpc<Response>(inference, 'ModelInfer', { model_name: c.model, inputs: [{ name: 'x', datatype: c.datatype, shape: [2, 2] }], raw_input_contents: [bytesOf(c.bytes)] });
        assert.equal(raw.outputs[0]!.datatype, c.datatype);
        assert.deepEqual(raw.raw_output_contents[0], bytesOf(c.bytes), c.model);
      }
      await assert.rejects(
        rpc(inference, 'ModelInfer', { model_name: 'id_i8', inputs: [{ name: 'x', datatype: 'INT8', shape: [1, 2], contents: { int_contents: [1, 128] } }] }),
        (err: grpc.ServiceError) => /input 'x': element 1 \(128\) is not a valid INT8/.test(err.details),
      );
    });
  });
}

test('an element type modelserve does not carry is never described as another datatype: refused, or not served', () => {
  assert.equal(datatypeOf('uint8'), 'UINT8');
  assert.equal(datatypeOf('uint64'), 'UINT64');
  assert.equal(datatypeOf('string'), 'BYTES');
  for (const type of ['float16', 'non-tensor', 'int4', 'constructor']) assert.throws(() => datatypeOf(type), new RegExp(`element type ${type} has no Open Inference Protocol datatype`));
  const signature = { inputs: [{ name: 'x', type: 'float32', shape: ['N', 2] }], outputs: [{ name: 'half', type: 'float16', shape: ['N', 2] }, { name: 'bytes', type: 'uint8', shape: ['N', 2] }] };
  // A raw model: the float16 output is not served; the uint8 one is.
  assert.deepEqual(checkRawSignature(signature), []);
  assert.deepEqual(rawOutputs(signature).map((o) => o.name), ['bytes']);
  assert.match(checkRawSignature({ inputs: [{ name: 'x', type: 'float16', shape: ['N'] }], outputs: [{ name: 'y', type: 'float16', shape: ['N'] }] }).join('\n'),
    /^inputs\.x: the model's input has element type float16, which modelserve cannot feed \(supported: .*uint8.*\)\noutputs: the model has no tensor output of a supported element type \(its outputs: 'y' float16;/);
  // A config reading the float16 output is refused at load, naming the output and its type.
  const config = { kind: 'fields', fields: [{ name: 'a', type: 'number' }, { name: 'b', type: 'number' }], tensors: [{ name: 'x', fields: ['a', 'b'] }], outputs: [{ field: 'h', from: 'half', kind: 'raw' }, { field: 'b', from: 'bytes', kind: 'raw' }] } as unknown as ModelConfig;
  assert.deepEqual(checkSignature(config, signature), [`outputs.h.from: the model's output 'half' has element type float16, which modelserve cannot return (supported: float32, float64, int8, int16, int32, int64, uint8, uint16, uint32, uint64, string, bool)`]);
});

test('a prediction event of a raw model carries its 64-bit tensors as numbers while exact, else as decimal strings (JSON has no BigInt)', () => {
  const x = { type: 'uint64' as const, dims: [1, 2], data: BigUint64Array.from([1n, 2n ** 53n - 1n]) };
  const event = predictionEvent({ model: 'id_u64', version: 1, rows: 1, latencyMs: 1, time: Date.now(), feeds: { x }, outputs: { y: x } }, { redact: new Set() });
  assert.deepEqual(JSON.parse(JSON.stringify(event)).data.predictions, { y: { datatype: 'uint64', shape: [1, 2], data: [1, 2 ** 53 - 1] } });
  // Past 2^53 a number would be another value (2^60 + 1 reads back as 2^60): every value as its digits.
  const big = { type: 'int64' as const, dims: [1, 2], data: BigInt64Array.from([-1n, 2n ** 60n + 1n]) };
  const bigEvent = predictionEvent({ model: 'id_i64', version: 1, rows: 1, latencyMs: 1, time: Date.now(), feeds: { x: big }, outputs: { y: big } }, { redact: new Set() });
  assert.deepEqual(JSON.parse(JSON.stringify(bigEvent)).data.predictions, { y: { datatype: 'int64', shape: [1, 2], data: ['-1', '1152921504606846977'] } });
});

test('a BOOL tensor sent as bytes holds only 0 and 1: another byte is a 400 naming the tensor (REST binary) and INVALID_ARGUMENT (gRPC raw contents), not echoed back as that byte', async () => {
  const boolRepo = writeIdentityModels(tempDir(), [{ file: 'id_bool/model.onnx', elem: 'BOOL', shape: ['N', 2] }]);
  const server = await startServer({ repo: boolRepo, port: 0, grpcPort: 'free', workers: 1, logger: false });
  const { inference, close } = grpcClients(server.grpcPort!);
  try {
    const post = async (bytes: number[]) => {
      const { body, headerLength } = binaryBody([{ name: 'x', datatype: 'BOOL', shape: [1, 2], bytes: Uint8Array.from(bytes) }]);
      const res = await request(`${server.url}/v2/models/id_bool/infer`, { method: 'POST', body, headers: { 'inference-header-content-length': String(headerLength), 'content-type': 'application/octet-stream' } });
      return { status: res.statusCode, text: await res.body.text() };
    };
    const good = await post([1, 0]);
    assert.equal(good.status, 200, good.text);
    assert.deepEqual((JSON.parse(good.text) as { outputs: Array<{ data: unknown[] }> }).outputs[0]!.data, [true, false]);
    const bad = await post([1, 2]);
    assert.equal(bad.status, 400, bad.text);
    assert.match((JSON.parse(bad.text) as { error: string }).error, /input 'x': BOOL element 1 of binary data is the byte 2 \(a BOOL is one byte, 0 or 1\)/);
    await assert.rejects(rpc(inference, 'ModelInfer', { model_name: 'id_bool', inputs: [{ name: 'x', datatype: 'BOOL', shape: [1, 2] }], raw_input_contents: [Buffer.from([0, 7])] }),
      (err: grpc.ServiceError) => err.code === 3 && /input 'x': BOOL element 1 of .* is the byte 7/.test(err.details));
  } finally {
    close();
    await server.shutdown();
  }
});
