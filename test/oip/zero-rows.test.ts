// A raw model's tensor whose first dimension is 0, on every OIP door (REST JSON, REST binary, gRPC):
// for a batched model (max_batch_size > 0) that is the batch's, and a request of no rows is a 400
// saying so; for an unbatched one it is the graph's own dimension, and onnxruntime answers it (an
// empty [0, 2]) as it would run alone. Graphs built with Debian's python3-onnx.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { startServer, type RunningServer } from '../../src/server.js';
import { createRuntime } from '../../src/runtime/create.js';
import { call } from '../helpers/http.js';
import { grpcClients, rpc } from '../helpers/oip.js';
import { tempDir } from '../helpers/paths.js';
import { writeGraphFolders } from '../helpers/onnx.js';

const repo = tempDir('modelserve-zero-rows-');

const GRAPHS = `
# x of no declared shape (unbatched): y = x W, W [3, 2]
save('any_rank', [h.make_node('MatMul', ['x', 'W'], ['y'])], [v('x', T.FLOAT, None)], [v('y', T.FLOAT, None)], [h.make_tensor('W', T.FLOAT, [3, 2], [1, 2, 3, 4, 5, 6])])
# batched: y = -x
save('neg', [h.make_node('Neg', ['x'], ['y'])], [v('x', T.FLOAT, ['N', 3])], [v('y', T.FLOAT, ['N', 3])])
`;

let server: RunningServer;
before(async () => {
  writeGraphFolders(repo, GRAPHS);
  server = await startServer({ repo, port: 0, runtime: await createRuntime({ workers: 1 }), grpcPort: 'free', logger: false });
});
after(async () => {
  await server?.shutdown();
  rmSync(repo, { recursive: true, force: true });
});

const json = (model: string) => call(`${server.url}/v2/models/${model}/infer`, { body: { inputs: [{ name: 'x', datatype: 'FP32', shape: [0, 3], data: [] }] } });

async function binary(model: string): Promise<{ status: number; header: Record<string, unknown> }> {
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [0, 3], parameters: { binary_data_size: 0 } }], outputs: [{ name: 'y', parameters: { binary_data: true } }] }));
  const r = await fetch(`${server.url}/v2/models/${model}/infer`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) }, body: header });
  const body = Buffer.from(await r.arrayBuffer());
  const length = Number(r.headers.get('inference-header-content-length') ?? body.length);
  return { status: r.status, header: JSON.parse(body.subarray(0, length).toString()) as Record<string, unknown> };
}

const grpcInfer = (port: number, model: string) => {
  const clients = grpcClients(port);
  return rpc<{ outputs: Array<{ name: string; shape: string[]; contents?: { fp32_contents: number[] } }> }>(clients.inference, 'ModelInfer', { model_name: model, inputs: [{ name: 'x', datatype: 'FP32', shape: [0, 3], contents: { fp32_contents: [] } }] }).finally(() => clients.close());
};

test('an unbatched model given x [0, 3] answers y [0, 2], as onnxruntime does, on every door (it was refused: "the request has no rows")', async () => {
  const r = await json('any_rank');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.outputs, [{ name: 'y', datatype: 'FP32', shape: [0, 2], data: [] }]);
  const b = await binary('any_rank');
  assert.equal(b.status, 200, JSON.stringify(b.header));
  assert.deepEqual(b.header.outputs, [{ name: 'y', datatype: 'FP32', shape: [0, 2], parameters: { binary_data_size: 0 } }]);
  const g = await grpcInfer(server.grpcPort!, 'any_rank');
  assert.deepEqual(g.outputs.map((o) => [o.name, o.shape.map(Number)]), [['y', [0, 2]]]);
});

test('a batched model given no rows (x [0, 3]): a 400 saying the first dimension is the batch\'s, on every door', async () => {
  const message = "the request has no rows (input 'x' has 0 in its first dimension, the batch dimension)";
  const r = await json('neg');
  assert.deepEqual([r.status, r.body.error], [400, message]);
  const b = await binary('neg');
  assert.deepEqual([b.status, b.header.error], [400, message]);
  await assert.rejects(grpcInfer(server.grpcPort!, 'neg'), (err: grpc.ServiceError) => {
    assert.deepEqual([err.code, err.details], [grpc.status.INVALID_ARGUMENT, message]);
    return true;
  });
});
