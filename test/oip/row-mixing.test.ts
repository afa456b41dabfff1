// A raw model whose graph mixes rows along the batch axis but keeps their count (y = x - mean of x over
// the rows, a running sum down the rows) is not batched across requests: /config says max_batch_size 0,
// the log says why at info, and requests given together are each answered as onnxruntime answers them
// alone (they shared a run and were answered from each other's rows, with a 200). Graphs of row-wise ops
// (a Gemm by a constant weight, Softmax along axis 1, the loan example's sklearn graph) are still batched.
// Graphs built with Debian's python3-onnx; answers compared with onnxruntime-node run directly.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { startServer, type RunningServer } from '../../src/server.js';
import { createRuntime } from '../../src/runtime/create.js';
import { call } from '../helpers/http.js';
import { EXAMPLES, tempDir } from '../helpers/paths.js';
import { writeGraphFolders } from '../helpers/onnx.js';
import { captureLogLines } from '../helpers/logs.js';

const repo = tempDir('modelserve-row-mixing-');

const GRAPHS = `
# y = x - ReduceMean(x, axes=[0]): each row less the mean of every row of the run
save('centered', [h.make_node('ReduceMean', ['x'], ['m'], axes=[0], keepdims=1), h.make_node('Sub', ['x', 'm'], ['y'])], [v('x', T.FLOAT, ['N', 2])], [v('y', T.FLOAT, ['N', 2])])
# y = CumSum(x) along axis 0: each row plus every row before it in the run
save('running', [h.make_node('CumSum', ['x', 'axis'], ['y'])], [v('x', T.FLOAT, ['N', 2])], [v('y', T.FLOAT, ['N', 2])], [h.make_tensor('axis', T.INT64, [], [0])])
# y = x W + b, W [2, 3] and b constants
save('gemm', [h.make_node('Gemm', ['x', 'W', 'b'], ['y'])], [v('x', T.FLOAT, ['N', 2])], [v('y', T.FLOAT, ['N', 3])], [h.make_tensor('W', T.FLOAT, [2, 3], [1, 2, 3, 4, 5, 6]), h.make_tensor('b', T.FLOAT, [3], [0.5, -1, 2])])
# y = Softmax(x) along axis 1, each row's own
save('softmax', [h.make_node('Softmax', ['x'], ['y'], axis=1)], [v('x', T.FLOAT, ['N', 2])], [v('y', T.FLOAT, ['N', 2])])
`;

let server: RunningServer;
const logs = captureLogLines<{ level: number; msg: string; model?: string }>();
before(async () => {
  writeGraphFolders(repo, GRAPHS);
  // The loan example's sklearn graph, as a raw model (only its model.onnx).
  mkdirSync(join(repo, 'loan_raw'));
  copyFileSync(join(EXAMPLES, 'loan', 'model.onnx'), join(repo, 'loan_raw', 'model.onnx'));
  // One worker, no run inline on the calling thread: requests given in one tick queue behind the first run, then share one.
  server = await startServer({ repo, port: 0, runtime: await createRuntime({ workers: 1, inlineMaxMs: 0 }), grpcPort: 'free', logger: { level: 'info', stream: logs.stream } });
});
after(async () => {
  await server?.shutdown();
  rmSync(repo, { recursive: true, force: true });
});

async function direct(model: string, x: { dims: number[]; data: number[] }): Promise<{ shape: number[]; data: number[] }> {
  const session = await ort.InferenceSession.create(join(repo, model, 'model.onnx'));
  try {
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from(x.data), x.dims) });
    const y = out.y!;
    return { shape: [...y.dims], data: [...(y.data as Float32Array)] };
  } finally {
    await session.release();
  }
}

const maxBatchSize = async (model: string) => ((await call(`${server.url}/v2/models/${model}/config`)).body as { max_batch_size: number }).max_batch_size;
const executions = async (model: string) => (await call(`${server.url}/v2/models/${model}/stats`)).body.model_stats[0].execution_count as number;

/** Four requests of different rows given in one tick (the first runs, the others queue behind it): each answer, and the runs they took. */
async function together(model: string): Promise<{ answers: Array<{ shape: number[]; data: number[] }>; expected: Array<{ shape: number[]; data: number[] }>; runs: number }> {
  const feeds = [
    { dims: [1, 2], data: [1, 2] },
    { dims: [2, 2], data: [10, 20, 30, 40] },
    { dims: [1, 2], data: [-5, 7] },
    { dims: [3, 2], data: [0.5, 1.5, 2.5, 3.5, 4.5, 5.5] },
  ];
  const before = await executions(model);
  const responses = await Promise.all(feeds.map((x) => call(`${server.url}/v2/models/${model}/infer`, { body: { inputs: [{ name: 'x', datatype: 'FP32', shape: x.dims, data: x.data }] } })));
  const answers = responses.map((r) => {
    assert.equal(r.status, 200, r.text);
    const [y] = r.body.outputs as Array<{ shape: number[]; data: number[] }>;
    return { shape: y!.shape, data: y!.data };
  });
  const runs = (await executions(model)) - before;
  return { answers, expected: await Promise.all(feeds.map((x) => direct(model, x))), runs };
}

test('a graph that mixes rows along the batch axis (x - ReduceMean(x, axes=[0]), CumSum along axis 0): max_batch_size 0, and requests sent together are each answered as if alone (they shared a run and got each other\'s rows mixed in)', async () => {
  for (const model of ['centered', 'running']) {
    assert.equal(await maxBatchSize(model), 0, model);
    const { answers, expected, runs } = await together(model);
    for (let i = 0; i < answers.length; i++) {
      assert.deepEqual(answers[i]!.shape, expected[i]!.shape, `${model} request ${i}`);
      answers[i]!.data.forEach((value, j) => assert.ok(Math.abs(value - expected[i]!.data[j]!) < 1e-5, `${model} request ${i}: ${JSON.stringify(answers[i])}, alone: ${JSON.stringify(expected[i])}`));
    }
    assert.equal(runs, 4, `${model}: each request its own run`);
  }
  // The log says why, at info, naming the file and the op.
  for (const [model, op] of [['centered', 'ReduceMean'], ['running', 'CumSum']] as const) {
    const line = logs.lines.find((l) => l.msg.includes(`${model}/model.onnx: not batched across requests`));
    assert.ok(line, `no log line for ${model}: ${JSON.stringify(logs.lines.map((l) => l.msg))}`);
    assert.equal(line.level, 30);
    assert.match(line.msg, new RegExp(`its ${op} node: it (reduces over|works along) axis 0, the batch dimension`));
  }
});

test('row-wise graphs (Gemm by a constant weight, Softmax along axis 1, the loan example as a raw model) are still batched: max_batch_size > 0, requests share runs and get their own rows back', async () => {
  for (const model of ['gemm', 'softmax']) {
    assert.ok((await maxBatchSize(model)) > 0, model);
    const { answers, expected, runs } = await together(model);
    for (let i = 0; i < answers.length; i++) {
      assert.deepEqual(answers[i]!.shape, expected[i]!.shape, `${model} request ${i}`);
      answers[i]!.data.forEach((value, j) => assert.ok(Math.abs(value - expected[i]!.data[j]!) < 1e-5, `${model} request ${i}`));
    }
    assert.ok(runs < 4, `${model}: 4 requests in ${runs} runs`);
  }
  assert.ok((await maxBatchSize('loan_raw')) > 0);
  assert.equal(logs.lines.filter((l) => l.msg.includes('not batched across requests')).length, 2, JSON.stringify(logs.lines.map((l) => l.msg)));
});
