// A raw model (an .onnx file alone) whose graph loads and warms up but that onnxruntime refuses to run
// on a request's tensors (a Gather index out of range, a broadcast the shapes cannot make): the
// request's own fault, a 400 MS_ERR_BAD_TENSOR with onnxruntime's reason over REST and gRPC
// INVALID_ARGUMENT, batched or not; in a run shared with others only that request gets it. A worker
// that exits during the run stays a 500. Graphs built with Debian's python3-onnx.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { startServer, type RunningServer } from '../../src/server.js';
import { createRuntime } from '../../src/runtime/create.js';
import type { WorkerPoolRuntime } from '../../src/workers/pool.js';
import { ModelServeError } from '../../src/errors.js';
import { call } from '../helpers/http.js';
import { grpcClients, rpc } from '../helpers/oip.js';
import { tempDir } from '../helpers/paths.js';
import { writeGraphFolders } from '../helpers/onnx.js';

const repo = tempDir('modelserve-run-refusals-');

const GRAPHS = `
D = h.make_tensor('D', T.FLOAT, [5, 2], list(range(10)))
# rows of D picked by index (batched: x [N] -> y [N, 2]); an index past 4 is out of range
save('pick', [h.make_node('Gather', ['D', 'x'], ['y'])], [v('x', T.INT64, ['N'])], [v('y', T.FLOAT, ['N', 2])], [D])
# the same with exactly 3 indices (first dimension fixed: not batched)
save('pick3', [h.make_node('Gather', ['D', 'x'], ['y'])], [v('x', T.INT64, [3])], [v('y', T.FLOAT, [3, 2])], [D])
# x [2, M] + W [2, 3]: M must be 1 or 3 (not batched)
# a + b, first dimensions named apart (not batched; each passed as sent)
save('add_nm', [h.make_node('Add', ['a', 'b'], ['y'])], [v('a', T.FLOAT, ['N', 2]), v('b', T.FLOAT, ['M', 2])], [v('y', T.FLOAT, ['N', 2])])
save('add23', [h.make_node('Add', ['x', 'W'], ['y'])], [v('x', T.FLOAT, [2, 'M'])], [v('y', T.FLOAT, [2, 3])], [h.make_tensor('W', T.FLOAT, [2, 3], [0] * 6)])
`;

let server: RunningServer;
let pool: WorkerPoolRuntime;
before(async () => {
  writeGraphFolders(repo, GRAPHS);
  // One worker, no run inline on the calling thread: requests given in one tick share a run.
  pool = (await createRuntime({ workers: 1, inlineMaxMs: 0 })) as WorkerPoolRuntime;
  server = await startServer({ repo, port: 0, runtime: pool, grpcPort: 'free', logger: false });
});
after(async () => {
  await server?.shutdown();
  rmSync(repo, { recursive: true, force: true });
});

const pick = (model: string, indices: number[]) => call(`${server.url}/v2/models/${model}/infer`, { body: { inputs: [{ name: 'x', datatype: 'INT64', shape: [indices.length], data: indices }] } });
const OUT_OF_RANGE = /^onnxruntime could not run the model on these tensors: .*Gather.*indices element out of data bounds, idx=7/;

test('indices out of range, batched or not: a 400 with onnxruntime\'s reason over REST and INVALID_ARGUMENT over gRPC (a 500 MS_ERR_INFERENCE before)', async () => {
  for (const model of ['pick', 'pick3']) {
    const r = await pick(model, [1, 7, 0]);
    assert.equal(r.status, 400, `${model}: ${r.text}`);
    assert.equal(r.body.code, 'MS_ERR_BAD_TENSOR');
    assert.match(r.body.error, OUT_OF_RANGE);
    const ok = await pick(model, [1, 4, 0]);
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual((ok.body.outputs as Array<{ data: number[] }>)[0]!.data, [2, 3, 8, 9, 0, 1]);
  }
  const clients = grpcClients(server.grpcPort!);
  try {
    await assert.rejects(rpc(clients.inference, 'ModelInfer', { model_name: 'pick3', inputs: [{ name: 'x', datatype: 'INT64', shape: [3], contents: { int64_contents: [1, 7, 0] } }] }), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
      assert.match(err.details, OUT_OF_RANGE);
      return true;
    });
  } finally {
    clients.close();
  }
});

test('a shape the graph\'s operators cannot take at run time (x [2, 2] + W [2, 3]): a 400 naming the broadcast onnxruntime refused', async () => {
  const r = await call(`${server.url}/v2/models/add23/infer`, { body: { inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 2], data: [1, 2, 3, 4] }] } });
  assert.equal(r.status, 400, r.text);
  assert.match(r.body.error, /^onnxruntime could not run the model on these tensors: .*Add node.*broadcast/);
  const ok = await call(`${server.url}/v2/models/add23/infer`, { body: { inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 3], data: [1, 2, 3, 4, 5, 6] }] } });
  assert.equal(ok.status, 200, ok.text);
});

test('in a run shared by several requests only the one whose index is out of range is refused; the others are answered', async () => {
  const version = server.core.resolve('pick')!;
  // Given in one tick behind a first run on the one worker: the next three share a run.
  const settled = await Promise.allSettled([[0], [1], [7], [2]].map((i) => version.infer({ x: { type: 'int64', dims: [1], data: BigInt64Array.from(i.map(BigInt)) } }, 1)));
  assert.deepEqual(settled.map((s) => (s.status === 'fulfilled' ? [...(s.value.y!.data as Float32Array)] : (s.reason as ModelServeError).code)), [[0, 1], [2, 3], 'MS_ERR_BAD_TENSOR', [4, 5]]);
  assert.match((settled[2] as PromiseRejectedResult).reason.message, OUT_OF_RANGE);
});

test('a worker that exits during the run is the server\'s fault: a 500 MS_ERR_INFERENCE, never blamed on the tensors (for inputs named apart it was a 400)', async () => {
  pool.crashWorkerForTesting(0, 'exit', 'next-run');
  const r = await call(`${server.url}/v2/models/add_nm/infer`, { body: { inputs: [{ name: 'a', datatype: 'FP32', shape: [1, 2], data: [1, 2] }, { name: 'b', datatype: 'FP32', shape: [1, 2], data: [3, 4] }] } });
  assert.equal(r.status, 500, r.text);
  assert.equal(r.body.code, 'MS_ERR_INFERENCE');
});
