// A raw model's Triton config (REST /config and gRPC ModelConfig) says max_batch_size > 0 only when
// modelserve really batches it along the first dimension; otherwise 0 with dims of the full shape
// (Triton's rule for a model without batching). Answers compared with onnxruntime-node run directly.
// Graphs built with Debian's python3-onnx.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { startServer, type RunningServer } from '../../src/server.js';
import { createRuntime } from '../../src/runtime/create.js';
import type { NamedTensors } from '../../src/runtime/types.js';
import { call } from '../helpers/http.js';
import { grpcClients, rpc } from '../helpers/oip.js';
import { tempDir } from '../helpers/paths.js';
import { writeGraphFolders } from '../helpers/onnx.js';

const repo = tempDir('modelserve-config-batching-');

const GRAPHS = `
# rows of any width: y = -x
save('wide', [h.make_node('Neg', ['x'], ['y'])], [v('x', T.FLOAT, ['N', 'M'])], [v('y', T.FLOAT, ['N', 'M'])])
# beside y = -x, an output of a fixed first dimension (a constant [3])
save('consts', [h.make_node('Neg', ['x'], ['y']), h.make_node('Identity', ['k'], ['c'])], [v('x', T.FLOAT, ['N', 2])], [v('y', T.FLOAT, ['N', 2]), v('c', T.FLOAT, [3])], [h.make_tensor('k', T.FLOAT, [3], [7, 8, 9])])
# a scalar output: the sum of every element
save('total', [h.make_node('ReduceSum', ['x'], ['s'], keepdims=0)], [v('x', T.FLOAT, ['N', 2])], [v('s', T.FLOAT, [])])
# two inputs whose first dimensions the graph names apart: y = a then b
save('two_names', [h.make_node('Concat', ['a', 'b'], ['y'], axis=0)], [v('a', T.FLOAT, ['N', 2]), v('b', T.FLOAT, ['M', 2])], [v('y', T.FLOAT, ['K', 2])])
# the same names, but a graph that needs them equal (or 1): y = a + b
# rows that the graph's shapes say are per row (x [N, 2], y [K, 2]) but are not: y is a constant of 4 rows,
# [1, 5, 3, 4, 1, 5, 3, 4] picked by NonZero, a size onnxruntime's shape inference leaves to the run. No op takes
# rows (an op that mixes them is not batched from the start: row-mixing.test.ts), so only a run tells.
FOUR_ROWS = [h.make_node('NonZero', ['k'], ['i']), h.make_node('Squeeze', ['i', 'ax'], ['i1']), h.make_node('Gather', ['k', 'i1'], ['f']), h.make_node('Reshape', ['f', 's'], ['y'])]
FOUR_ROWS_INITS = [h.make_tensor('k', T.FLOAT, [8], [1, 5, 3, 4, 1, 5, 3, 4]), h.make_tensor('ax', T.INT64, [1], [0]), h.make_tensor('s', T.INT64, [2], [-1, 2])]
save('doubled', FOUR_ROWS, [v('x', T.FLOAT, ['N', 2])], [v('y', T.FLOAT, ['K', 2])], FOUR_ROWS_INITS)
save('two_add', [h.make_node('Add', ['a', 'b'], ['y'])], [v('a', T.FLOAT, ['N', 2]), v('b', T.FLOAT, ['M', 2])], [v('y', T.FLOAT, ['N', 2])])
# the same as doubled, for the tests of a model that runs alone (each its own, test order aside)
save('dup', FOUR_ROWS, [v('x', T.FLOAT, ['N', 2])], [v('y', T.FLOAT, ['K', 2])], FOUR_ROWS_INITS)
save('dup_reload', FOUR_ROWS, [v('x', T.FLOAT, ['N', 2])], [v('y', T.FLOAT, ['K', 2])], FOUR_ROWS_INITS)
save('dup_changed', FOUR_ROWS, [v('x', T.FLOAT, ['N', 2])], [v('y', T.FLOAT, ['K', 2])], FOUR_ROWS_INITS)
# two inputs of one named first dimension, answered not per row: y the same constant
save('pair', FOUR_ROWS, [v('a', T.FLOAT, ['N', 2]), v('b', T.FLOAT, ['N', 2])], [v('y', T.FLOAT, ['K', 2])], FOUR_ROWS_INITS)
# per row, of dup_changed's signature: its bytes copied over dup_changed's
save('neg_rows', [h.make_node('Neg', ['x'], ['y'])], [v('x', T.FLOAT, ['N', 2])], [v('y', T.FLOAT, ['N', 2])])
`;

let server: RunningServer;
before(async () => {
  writeGraphFolders(repo, GRAPHS);
  // One worker, no run inline on the calling thread: requests given in one tick queue behind the first run.
  server = await startServer({ repo, port: 0, runtime: await createRuntime({ workers: 1, inlineMaxMs: 0 }), grpcPort: 'free', logger: false });
});
after(async () => {
  await server?.shutdown();
  rmSync(repo, { recursive: true, force: true });
});

async function direct(model: string, feeds: Record<string, { dims: number[]; data: number[] }>): Promise<Record<string, { shape: number[]; data: number[] }>> {
  const session = await ort.InferenceSession.create(join(repo, model, 'model.onnx'));
  try {
    const input: Record<string, ort.Tensor> = {};
    for (const [name, f] of Object.entries(feeds)) input[name] = new ort.Tensor('float32', Float32Array.from(f.data), f.dims);
    const out = await session.run(input);
    return Object.fromEntries(Object.entries(out).map(([name, t]) => [name, { shape: [...t.dims], data: [...(t.data as Float32Array)] }]));
  } finally {
    await session.release();
  }
}

const config = async (model: string) => (await call(`${server.url}/v2/models/${model}/config`)).body as { max_batch_size: number; input: Array<{ dims: number[] }>; output: Array<{ dims: number[] }>; dynamic_batching?: unknown };
const executions = async (model: string) => (await call(`${server.url}/v2/models/${model}/stats`)).body.model_stats[0].execution_count as number;
const plain = (out: NamedTensors) => Object.fromEntries(Object.entries(out).map(([name, t]) => [name, { shape: [...t.dims], data: [...(t.data as Float32Array)] }]));

test('inputs of no fixed width ([N, M]): /config says batched, and requests of one width do share runs, each answered as onnxruntime answers it alone (they ran one per request)', async () => {
  const c = await config('wide');
  assert.deepEqual([c.max_batch_size > 0, c.input[0]!.dims, c.output[0]!.dims], [true, [-1], [-1]]);
  const version = server.core.resolve('wide')!;
  const before = await executions('wide');
  // 12 requests of width 2 then 12 of width 3, given in one tick; a run takes only one width.
  const feeds = Array.from({ length: 24 }, (_, i) => {
    const width = i < 12 ? 2 : 3;
    return { dims: [1, width], data: Array.from({ length: width }, (_, j) => i * 10 + j) };
  });
  const answers = await Promise.all(feeds.map((f) => version.infer({ x: { type: 'float32', dims: f.dims, data: Float32Array.from(f.data) } }, 1)));
  for (let i = 0; i < feeds.length; i++) assert.deepEqual(plain(answers[i]!), await direct('wide', { x: feeds[i]! }), `request ${i}`);
  const runs = (await executions('wide')) - before;
  assert.ok(runs < feeds.length, `24 requests in ${runs} runs`);
  // Over HTTP too: two rows of width 4 answer as onnxruntime does.
  const r = await call(`${server.url}/v2/models/wide/infer`, { body: { inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 4], data: [1, 2, 3, 4, 5, 6, 7, 8] }] } });
  assert.equal(r.status, 200, r.text);
  const [y] = r.body.outputs as Array<{ shape: number[]; data: number[] }>;
  assert.deepEqual({ shape: y!.shape, data: y!.data }, (await direct('wide', { x: { dims: [2, 4], data: [1, 2, 3, 4, 5, 6, 7, 8] } })).y);
});

test('an output of a fixed first dimension, a scalar output, or inputs whose first dimensions the graph names apart: max_batch_size 0 with full-shape dims over REST and gRPC (it said 64 and left the first dimension out)', async () => {
  const expected: Record<string, [number[][], number[][]]> = {
    consts: [[[-1, 2]], [[-1, 2], [3]]],
    total: [[[-1, 2]], [[]]],
    two_names: [[[-1, 2], [-1, 2]], [[-1, 2]]],
  };
  const clients = grpcClients(server.grpcPort!);
  try {
    for (const [model, [inputs, outputs]] of Object.entries(expected)) {
      const c = await config(model);
      assert.deepEqual([c.max_batch_size, c.input.map((t) => t.dims), c.output.map((t) => t.dims), c.dynamic_batching], [0, inputs, outputs, undefined], model);
      const { config: g } = await rpc<{ config: { max_batch_size: number; input: Array<{ dims: string[] }>; output: Array<{ dims: string[] }> } }>(clients.inference, 'ModelConfig', { name: model });
      assert.deepEqual([Number(g.max_batch_size), g.input.map((t) => t.dims.map(Number)), g.output.map((t) => t.dims.map(Number))], [0, inputs, outputs], `${model} over gRPC`);
    }
  } finally {
    clients.close();
  }
});

test('requests to such a model each get their own answer, as onnxruntime gives it alone', async () => {
  for (const model of ['consts', 'total']) {
    const version = server.core.resolve(model)!;
    const feeds = Array.from({ length: 6 }, (_, i) => ({ dims: [1 + (i % 3), 2], data: Array.from({ length: 2 * (1 + (i % 3)) }, (_, j) => i * 10 + j) }));
    const answers = await Promise.all(feeds.map((f) => version.infer({ x: { type: 'float32', dims: f.dims, data: Float32Array.from(f.data) } }, f.dims[0]!)));
    for (let i = 0; i < feeds.length; i++) assert.deepEqual(plain(answers[i]!), await direct(model, { x: feeds[i]! }), `${model} request ${i}`);
  }
});

test('inputs whose first dimensions the graph names apart take different sizes, as onnxruntime does (a [1, 2] beside b [2, 2] was refused: "has 2 rows but the other inputs have 1")', async () => {
  const a = { dims: [1, 2], data: [1, 2] };
  const b = { dims: [2, 2], data: [3, 4, 5, 6] };
  const r = await call(`${server.url}/v2/models/two_names/infer`, { body: { inputs: [{ name: 'a', datatype: 'FP32', shape: a.dims, data: a.data }, { name: 'b', datatype: 'FP32', shape: b.dims, data: b.data }] } });
  assert.equal(r.status, 200, r.text);
  const [y] = r.body.outputs as Array<{ shape: number[]; data: number[] }>;
  assert.deepEqual({ shape: y!.shape, data: y!.data }, (await direct('two_names', { a, b })).y);
});

test('inputs named apart that the graph cannot take together (a [2, 2] + b [3, 2]): a 400 with onnxruntime\'s reason, never a 500', async () => {
  const r = await call(`${server.url}/v2/models/two_add/infer`, { body: { inputs: [{ name: 'a', datatype: 'FP32', shape: [2, 2], data: [1, 2, 3, 4] }, { name: 'b', datatype: 'FP32', shape: [3, 2], data: [1, 2, 3, 4, 5, 6] }] } });
  assert.equal(r.status, 400, r.text);
  assert.match(r.body.error, /^onnxruntime could not run the model on these tensors \(the graph names the inputs' first dimensions apart: N, M, so each is passed as sent\): /);
  // Sizes it takes are answered as onnxruntime answers them.
  const a = { dims: [2, 2], data: [1, 2, 3, 4] };
  const b = { dims: [1, 2], data: [10, 20] };
  const ok = await call(`${server.url}/v2/models/two_add/infer`, { body: { inputs: [{ name: 'a', datatype: 'FP32', shape: a.dims, data: a.data }, { name: 'b', datatype: 'FP32', shape: b.dims, data: b.data }] } });
  assert.equal(ok.status, 200, ok.text);
  const [y] = ok.body.outputs as Array<{ shape: number[]; data: number[] }>;
  assert.deepEqual({ shape: y!.shape, data: y!.data }, (await direct('two_add', { a, b })).y);
});

test('a model found at run time not to answer per row (y a constant of 4 rows, declared [K, 2]; it was y = Concat(x, x), now not batched from the start): once the batcher runs its requests alone, /config and gRPC ModelConfig say max_batch_size 0 with full-shape dims (they kept saying 64 with per-row dims)', async () => {
  type GrpcConfig = { config: { max_batch_size: number; input: Array<{ dims: string[] }>; output: Array<{ dims: string[] }>; dynamic_batching?: unknown } };
  const clients = grpcClients(server.grpcPort!);
  try {
    const said = async () => {
      const c = await config('doubled');
      const { config: g } = await rpc<GrpcConfig>(clients.inference, 'ModelConfig', { name: 'doubled' });
      return {
        rest: [c.max_batch_size, c.input.map((t) => t.dims), c.output.map((t) => t.dims), c.dynamic_batching !== undefined],
        grpc: [Number(g.max_batch_size), g.input.map((t) => t.dims.map(Number)), g.output.map((t) => t.dims.map(Number)), g.dynamic_batching != null],
      };
    };
    // As the graph's shapes say: batched along N.
    const first = await said();
    assert.deepEqual(first.rest, [server.core.resolve('doubled')!.config.batching.maxBatchSize, [[2]], [[2]], true]);
    assert.deepEqual(first.grpc, first.rest);
    // A request of two rows is answered with four: from then on each request runs alone.
    const x = { dims: [2, 2], data: [1, 2, 3, 4] };
    const r = await call(`${server.url}/v2/models/doubled/infer`, { body: { inputs: [{ name: 'x', datatype: 'FP32', shape: x.dims, data: x.data }] } });
    assert.equal(r.status, 200, r.text);
    const [y] = r.body.outputs as Array<{ shape: number[]; data: number[] }>;
    assert.deepEqual({ shape: y!.shape, data: y!.data }, (await direct('doubled', { x })).y);
    const then = await said();
    assert.deepEqual(then.rest, [0, [[-1, 2]], [[-1, 2]], false]);
    assert.deepEqual(then.grpc, then.rest);
  } finally {
    clients.close();
  }
});

/** Sends a request of two rows (answered with four): from then on the model runs each request alone. */
async function findRunningAlone(model: string): Promise<void> {
  const r = await call(`${server.url}/v2/models/${model}/infer`, { body: { inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 2], data: [1, 2, 3, 4] }] } });
  assert.equal(r.status, 200, r.text);
  assert.equal((await config(model)).max_batch_size, 0);
}

test('a model that runs alone is answered as an unbatched one: classification over the whole tensor ([K], it was cut per row into [4, K]), a first dimension of 0 passed to onnxruntime (it was refused as "no rows"), inputs of one named dimension in different sizes', async () => {
  await findRunningAlone('dup');
  const x = { dims: [2, 2], data: [1, 5, 3, 4] };
  const r = await call(`${server.url}/v2/models/dup/infer`, { body: { inputs: [{ name: 'x', datatype: 'FP32', shape: x.dims, data: x.data }], outputs: [{ name: 'y', parameters: { classification: 3 } }] } });
  assert.equal(r.status, 200, r.text);
  // y = [1, 5, 3, 4, 1, 5, 3, 4]: its 3 largest of all 8 elements (ties: lower index first).
  assert.deepEqual(r.body.outputs, [{ name: 'y', datatype: 'BYTES', shape: [3], data: ['5:1', '5:5', '4:3'] }]);
  // Over gRPC alike.
  const clients = grpcClients(server.grpcPort!);
  try {
    const g = await rpc<{ outputs: Array<{ shape: string[]; contents: { bytes_contents: Buffer[] } }> }>(clients.inference, 'ModelInfer', { model_name: 'dup', inputs: [{ name: 'x', datatype: 'FP32', shape: x.dims, contents: { fp32_contents: x.data } }], outputs: [{ name: 'y', parameters: { classification: { int64_param: 3 } } }] });
    assert.deepEqual([g.outputs[0]!.shape.map(Number), g.outputs[0]!.contents.bytes_contents.map(String)], [[3], ['5:1', '5:5', '4:3']]);
  } finally {
    clients.close();
  }
  // No rows: the graph's own answer, as onnxruntime gives it.
  const empty = await call(`${server.url}/v2/models/dup/infer`, { body: { inputs: [{ name: 'x', datatype: 'FP32', shape: [0, 2], data: [] }] } });
  assert.equal(empty.status, 200, empty.text);
  assert.deepEqual(empty.body.outputs, [{ name: 'y', datatype: 'FP32', shape: [4, 2], data: [1, 5, 3, 4, 1, 5, 3, 4] }]);
  // Inputs of one named first dimension: whole tensors, as sent.
  const first = await call(`${server.url}/v2/models/pair/infer`, { body: { inputs: [{ name: 'a', datatype: 'FP32', shape: [2, 2], data: [1, 2, 3, 4] }, { name: 'b', datatype: 'FP32', shape: [2, 2], data: [5, 6, 7, 8] }] } });
  assert.equal(first.status, 200, first.text);
  assert.equal((await config('pair')).max_batch_size, 0);
  const a = { dims: [1, 2], data: [1, 2] };
  const b = { dims: [3, 2], data: [3, 4, 5, 6, 7, 8] };
  const apart = await call(`${server.url}/v2/models/pair/infer`, { body: { inputs: [{ name: 'a', datatype: 'FP32', shape: a.dims, data: a.data }, { name: 'b', datatype: 'FP32', shape: b.dims, data: b.data }] } });
  assert.equal(apart.status, 200, apart.text);
  const [y] = apart.body.outputs as Array<{ shape: number[]; data: number[] }>;
  assert.deepEqual({ shape: y!.shape, data: y!.data }, (await direct('pair', { a, b })).y);
});

test('a model found to run alone, unloaded and loaded again from the same bytes, runs alone from its first request (it was batched again until a shared run found out anew); from other bytes, it is found anew', async () => {
  const reload = async (model: string) => {
    assert.equal((await call(`${server.url}/v2/repository/models/${model}/unload`, { method: 'POST' })).status, 200);
    assert.equal((await call(`${server.url}/v2/repository/models/${model}/load`, { method: 'POST' })).status, 200);
  };
  await findRunningAlone('dup_reload');
  await reload('dup_reload');
  assert.equal(server.core.resolve('dup_reload')!.runsAlone, true);
  assert.equal((await config('dup_reload')).max_batch_size, 0);
  // Requests given in one tick each get their own run and their own answer.
  const version = server.core.resolve('dup_reload')!;
  const feeds = Array.from({ length: 4 }, (_, i) => ({ dims: [1, 2], data: [i, i + 1] }));
  const answers = await Promise.all(feeds.map((f) => version.infer({ x: { type: 'float32', dims: f.dims, data: Float32Array.from(f.data) } }, 1)));
  for (let i = 0; i < feeds.length; i++) assert.deepEqual(plain(answers[i]!), await direct('dup_reload', { x: feeds[i]! }), `request ${i}`);

  // Other bytes (a graph that does answer per row): batched again.
  await findRunningAlone('dup_changed');
  copyFileSync(join(repo, 'neg_rows', 'model.onnx'), join(repo, 'dup_changed', 'model.onnx'));
  await reload('dup_changed');
  assert.equal(server.core.resolve('dup_changed')!.runsAlone, false);
  assert.ok((await config('dup_changed')).max_batch_size > 0);
});
