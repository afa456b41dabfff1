// Numbers in OIP REST's JSON tensors are exact or refused, never silently changed. 64-bit integers: a JSON number is
// a double (exact to 2^53), so an INT64/UINT64 element past that is a 400 naming the tensor and
// saying to send it binary; outputs past 2^53 are written with their exact digits (2^63 - 1 as
// 9223372036854775807, not 9223372036854776000, which is past INT64). A finite FP32 element past
// FP32's range (1e39) is a 400, not Infinity. Identity graphs on int64 and float.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startServer, type RunningServer } from '../../src/server.js';
import { tempDir } from '../helpers/paths.js';
import { binaryBody } from '../helpers/oip.js';

const MAKE_MODEL = `
import os, sys, onnx
from onnx import TensorProto, helper
def save(name, elem):
    vi = lambda n: helper.make_tensor_value_info(n, elem, ['N', 2])
    graph = helper.make_graph([helper.make_node('Identity', ['x'], ['y'])], name, [vi('x')], [vi('y')])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])
    model.ir_version = 8
    os.makedirs(os.path.join(sys.argv[1], name, '1'))
    onnx.save(model, os.path.join(sys.argv[1], name, '1', 'model.onnx'))
save('ids', TensorProto.INT64)
save('floats', TensorProto.FLOAT)
`;

let server: RunningServer;
before(async () => {
  const repo = tempDir();
  execFileSync('/usr/bin/python3', ['-c', MAKE_MODEL, repo], { stdio: 'pipe' });
  server = await startServer({ repo, port: 0, workers: 1, logger: false });
});
after(async () => {
  await server?.shutdown();
});

const infer = async (body: string | Buffer, headers: Record<string, string> = {}, model = 'ids') => {
  const res = await fetch(`${server.url}/v2/models/${model}/infer`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  return { status: res.status, text: await res.text() };
};
const jsonInput = (data: string) => `{"inputs":[{"name":"x","datatype":"INT64","shape":[1,2],"data":${data}}]}`;

test('INT64 JSON elements within ±(2^53 - 1) round-trip exactly', async () => {
  const res = await infer(jsonInput('[9007199254740991,-9007199254740991]'));
  assert.equal(res.status, 200, res.text);
  assert.match(res.text, /"data":\[9007199254740991,-9007199254740991\]/);
});

test('an INT64 JSON element past 2^53 is a 400 naming the tensor, not a rounded value', async () => {
  for (const data of ['[9007199254740993,-5]', '[9223372036854775807,0]', '[0,-9223372036854775808]']) {
    const res = await infer(jsonInput(data));
    assert.equal(res.status, 400, `${data}: ${res.text}`);
    assert.match(JSON.parse(res.text).error, /input 'x': element \d \(-?\d+\) is past ±2\^53, which a JSON number does not carry exactly; send this INT64 tensor as binary data/, data);
  }
});

test('INT64 outputs past 2^53 are written in JSON with their exact digits', async () => {
  const values = BigInt64Array.from([2n ** 63n - 1n, -(2n ** 63n), 9007199254740993n, 7n]);
  const { body, headerLength } = binaryBody([{ name: 'x', datatype: 'INT64', shape: [2, 2], bytes: new Uint8Array(values.buffer) }]);
  const res = await infer(body, { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength) });
  assert.equal(res.status, 200, res.text);
  const output = JSON.parse(res.text).outputs[0];
  assert.deepEqual({ name: output.name, datatype: output.datatype, shape: output.shape }, { name: 'y', datatype: 'INT64', shape: [2, 2] });
  assert.match(res.text, /"data":\[9223372036854775807,-9223372036854775808,9007199254740993,7\]\}/);
});

test("a finite FP32 JSON element past FP32's range is a 400 naming the tensor, not Infinity", async () => {
  const body = (data: string) => `{"inputs":[{"name":"x","datatype":"FP32","shape":[1,2],"data":${data}}]}`;
  const bad = await infer(body('[1e39,1]'), {}, 'floats');
  assert.equal(bad.status, 400, bad.text);
  assert.match(JSON.parse(bad.text).error, /input 'x': element 0 \(1e\+39\) is past FP32's range/);
  const ok = await infer(body('[3.4028235e38,-1.5]'), {}, 'floats');
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(JSON.parse(ok.text).outputs[0].data, [Math.fround(3.4028235e38), -1.5]);
});
