// Triton's raw binary request (binary data extension): Inference-Header-Content-Length: 0 and a
// body that is nothing but the data of the model's only input — its shape from the model's config
// (batch of 1 when batched, one variable dimension deduced from the size), a BYTES input's body its
// one element, every output returned as binary data. With undici, on svc.onnx alone and on small
// graphs built here with Debian's python3-onnx; models it cannot apply to get a 400 saying why.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { startServer, type RunningServer } from '../../src/server.js';
import { BOOK_MODEL, tempDir, writeBookModelFolder } from '../helpers/paths.js';
import { parseBinaryResponse, readBytesElements } from '../helpers/oip.js';

// Identity graphs in Triton's layout (<name>/1/model.onnx): matrix float [N, M] (batched, one
// variable dimension), cube float [N, A, B] (two), fixed float [2, 3] (no batch dimension),
// text string [N] (BYTES, one element per row).
const MAKE_MODELS = `
import os, sys, onnx
from onnx import TensorProto, helper
def save(name, elem, shape):
    vi = lambda n: helper.make_tensor_value_info(n, elem, shape)
    graph = helper.make_graph([helper.make_node('Identity', ['x'], ['y'])], name, [vi('x')], [vi('y')])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])
    model.ir_version = 8
    os.makedirs(os.path.join(sys.argv[1], name, '1'))
    onnx.save(model, os.path.join(sys.argv[1], name, '1', 'model.onnx'))
save('matrix', TensorProto.FLOAT, ['N', 'M'])
save('cube', TensorProto.FLOAT, ['N', 'A', 'B'])
save('fixed', TensorProto.FLOAT, [2, 3])
save('text', TensorProto.STRING, ['N'])
`;

let server: RunningServer;

before(async () => {
  const repo = tempDir();
  writeBookModelFolder(repo);
  mkdirSync(join(repo, 'svc-raw', '1'), { recursive: true });
  symlinkSync(BOOK_MODEL, join(repo, 'svc-raw', '1', 'model.onnx'));
  execFileSync('/usr/bin/python3', ['-c', MAKE_MODELS, repo], { stdio: 'pipe' });
  server = await startServer({ repo, port: 0, workers: 1 });
});
after(async () => {
  await server?.shutdown();
});

async function raw(model: string, body: Uint8Array, headers: Record<string, string> = { 'content-type': 'application/octet-stream' }) {
  const res = await request(`${server.url}/v2/models/${model}/infer`, { method: 'POST', body, headers: { 'inference-header-content-length': '0', ...headers } });
  const bytes = Buffer.from(await res.body.arrayBuffer());
  const headerLength = res.headers['inference-header-content-length'];
  return { status: res.statusCode, bytes, headerLength: headerLength === undefined ? undefined : Number(headerLength), error: () => JSON.parse(bytes.toString('utf8')).error as string };
}

const f32 = (values: number[]) => new Uint8Array(Float32Array.from(values).buffer);

test('svc.onnx alone: the body is one row of float_input, a batch of 1; every output comes back binary', async () => {
  const row = [0.2, -0.5, 1.1, 0.3, -0.1, 0.9, 0.05];
  const res = await raw('svc-raw', f32(row));
  assert.equal(res.status, 200, res.bytes.toString());
  assert.ok(res.headerLength! > 0);
  const { json, binary } = parseBinaryResponse(res.bytes, res.headerLength!);
  assert.deepEqual(json.outputs.map((o) => o.name), ['label', 'probabilities']);
  for (const o of json.outputs) assert.ok(o.parameters?.binary_data_size !== undefined && o.data === undefined, `${o.name} is binary`);
  // The same row sent with a JSON header answers the same.
  const jsonAnswer = await request(`${server.url}/v2/models/svc-raw/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: [{ name: 'float_input', datatype: 'FP32', shape: [1, 7], data: row }] }) });
  const expected = await jsonAnswer.body.json() as { outputs: Array<{ name: string; shape: number[]; data: number[] }> };
  assert.deepEqual(json.outputs.map((o) => o.shape), expected.outputs.map((o) => o.shape));
  assert.deepEqual(Array.from(new BigInt64Array(new Uint8Array(binary.get('label')!).buffer), Number), expected.outputs[0]!.data);
  assert.deepEqual(Array.from(new Float32Array(new Uint8Array(binary.get('probabilities')!).buffer)), expected.outputs[1]!.data);
  // Without a content type too (Triton's example sends application/octet-stream; curl --data-binary sends a form type).
  assert.equal((await raw('svc-raw', f32(row), {})).status, 200);
  assert.equal((await raw('svc-raw', f32(row), { 'content-type': 'application/x-www-form-urlencoded' })).status, 200);
});

test('the one variable dimension is deduced from the size; fixed shapes and BYTES inputs', async () => {
  const matrix = await raw('matrix', f32([1, 2, 3, 4, 5]));
  assert.equal(matrix.status, 200, matrix.bytes.toString());
  const m = parseBinaryResponse(matrix.bytes, matrix.headerLength!);
  assert.deepEqual(m.json.outputs[0]!.shape, [1, 5]);
  assert.deepEqual(Array.from(new Float32Array(new Uint8Array(m.binary.get('y')!).buffer)), [1, 2, 3, 4, 5]);
  const fixed = await raw('fixed', f32([1, 2, 3, 4, 5, 6]));
  assert.equal(fixed.status, 200, fixed.bytes.toString());
  assert.deepEqual(parseBinaryResponse(fixed.bytes, fixed.headerLength!).json.outputs[0]!.shape, [2, 3]);
  const text = await raw('text', Buffer.from('héllo, raw world'));
  assert.equal(text.status, 200, text.bytes.toString());
  const t = parseBinaryResponse(text.bytes, text.headerLength!);
  assert.deepEqual(t.json.outputs[0]!.shape, [1]);
  assert.deepEqual(readBytesElements(t.binary.get('y')!), ['héllo, raw world']);
});

test('a 400 naming why when the raw binary request cannot apply or the size is wrong', async () => {
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['book-weather', new Uint8Array(56), /raw binary request \(Inference-Header-Content-Length: 0\) needs a model with exactly one input; model 'book-weather' has 7 \(temp_c, humidity, .*send a JSON inference header/],
    ['cube', f32([1, 2, 3, 4]), /input 'x': the shape of a raw binary request .* cannot be deduced: the input's shape \[-1, -1\] has more than one variable dimension/],
    ['svc-raw', new Uint8Array(27), /input 'float_input': the raw binary body is 27 bytes, not a multiple of 28 \(FP32 elements of 4 bytes in shape \[7\]\)/],
    ['svc-raw', new Uint8Array(56), /input 'float_input': the raw binary body \(batch of 1, shape \[1, 7\]\) is 56 bytes but shape \[1, 7\] of FP32 needs 28/],
    ['fixed', f32([1, 2, 3]), /input 'x': the raw binary body is 12 bytes, not a multiple of 24/],
    ['matrix', new Uint8Array(0), /input 'x': the raw binary request .* has an empty body/],
    ['matrix', new Uint8Array(6), /input 'x': the raw binary body is 6 bytes, not a multiple of 4 \(FP32 elements of 4 bytes in shape \[-1\]\)/],
  ];
  for (const [model, body, message] of cases) {
    const res = await raw(model, body);
    assert.equal(res.status, 400, `${model}: ${res.bytes.toString()}`);
    assert.match(res.error(), message);
  }
});
