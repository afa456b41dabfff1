// Raw models (an .onnx file alone) whose graph declares an input's or output's element type but no
// shape at all (any rank), which onnxruntime-node reports as [] like a scalar's: served as taking any
// shape (metadata [-1], Triton's config unbatched), each request alone, answers compared with
// onnxruntime-node run directly on the same tensors; a true scalar stays a scalar. Graphs built with
// Debian's python3-onnx.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { startServer, type RunningServer } from '../../src/server.js';
import { createRuntime } from '../../src/runtime/create.js';
import { checkRepository } from '../../src/check/repository.js';
import { call } from '../helpers/http.js';
import { tempDir } from '../helpers/paths.js';
import { writeGraphFolders } from '../helpers/onnx.js';

const repo = tempDir('modelserve-undeclared-shapes-');

const GRAPHS = `
# x and y of no declared shape (shape=None: no shape field): y = x W, W [3, 2]; a scalar would not fit
save('any_rank', [h.make_node('MatMul', ['x', 'W'], ['y'])], [v('x', T.FLOAT, None)], [v('y', T.FLOAT, None)], [h.make_tensor('W', T.FLOAT, [3, 2], [1, 2, 3, 4, 5, 6])])
# a true scalar: a shape with no dims
save('scalar', [h.make_node('Neg', ['x'], ['y'])], [v('x', T.FLOAT, [])], [v('y', T.FLOAT, [])])
# rows along the first dimension of x, and an output whose rank onnxruntime cannot infer either (it reports
# an inferred shape for an output declared without one when it can): x [1, 2] squeezed is [2], x [2, 2] is not
save('squeezed', [h.make_node('Squeeze', ['x'], ['s'])], [v('x', T.FLOAT, ['N', 2])], [v('s', T.FLOAT, None)])
# symbolic dims, and dims with neither a value nor a name
x = v('x', T.FLOAT, ['batch', 3])
x.type.tensor_type.shape.dim[1].Clear()
y = v('y', T.FLOAT, ['batch', 3])
y.type.tensor_type.shape.dim[0].Clear()
save('symbolic', [h.make_node('Neg', ['x'], ['y'])], [x], [y])
# an input with an initializer of the same name (an overridable default, IR >= 4): y = x * scale, scale 2
save('with_default', [h.make_node('Mul', ['x', 'scale'], ['y'])], [v('x', T.FLOAT, ['N', 2]), v('scale', T.FLOAT, [])], [v('y', T.FLOAT, ['N', 2])], [h.make_tensor('scale', T.FLOAT, [], [2.0])])
`;

let server: RunningServer;
before(async () => {
  writeGraphFolders(repo, GRAPHS);
  // Runs of at most 2 rows (a 4-row request to a batched model is cut into two), all on the worker
  // thread (none inline on the calling one), so requests given in one tick queue behind the first run.
  server = await startServer({ repo, port: 0, runtime: await createRuntime({ workers: 1, inlineMaxMs: 0 }), grpcPort: 0, logger: false, maxRunRows: 2 });
});
after(async () => {
  await server?.shutdown();
  rmSync(repo, { recursive: true, force: true });
});

/** onnxruntime-node's own answer for x of `dims` holding 1, 2, 3, ... */
async function direct(model: string, dims: number[], output: string): Promise<{ shape: number[]; data: number[] }> {
  const session = await ort.InferenceSession.create(join(repo, model, 'model.onnx'));
  try {
    const n = dims.reduce((a, b) => a * b, 1);
    const out = (await session.run({ x: new ort.Tensor('float32', Float32Array.from({ length: n }, (_, i) => i + 1), dims) }))[output]!;
    return { shape: [...out.dims], data: [...(out.data as Float32Array)] };
  } finally {
    await session.release();
  }
}

const infer = (model: string, dims: number[]) => {
  const n = dims.reduce((a, b) => a * b, 1);
  return call(`${server.url}/v2/models/${model}/infer`, { body: { inputs: [{ name: 'x', datatype: 'FP32', shape: dims, data: Array.from({ length: n }, (_, i) => i + 1) }] } });
};

test('an input and output of no declared shape take and give any shape, as onnxruntime answers (the input was taken for a scalar: [2, 3] refused, and the load failed, its warm-up feeding a scalar to MatMul)', async () => {
  for (const dims of [[2, 3], [3], [1, 2, 3]]) {
    const r = await infer('any_rank', dims);
    assert.equal(r.status, 200, r.text);
    const [y] = r.body.outputs as Array<{ name: string; shape: number[]; data: number[] }>;
    assert.deepEqual({ shape: y!.shape, data: y!.data }, await direct('any_rank', dims, 'y'), `x of shape [${dims.join(', ')}]`);
  }
  // A tensor the graph cannot take: onnxruntime's reason, as the request's error (not a 500).
  const bad = await infer('any_rank', [4]);
  assert.equal(bad.status, 400, bad.text);
  assert.equal(bad.body.code, 'MS_ERR_BAD_TENSOR');
  assert.match(bad.body.error, /^onnxruntime could not run the model on these tensors \(the graph declares no shape for input 'x', so any shape is passed to it\): .*MatMul dimension mismatch/);
});

test('metadata says [-1] (any size) for a tensor of no declared shape and [] for a scalar; Triton\'s config has no batch for it', async () => {
  const meta = (await call(`${server.url}/v2/models/any_rank`)).body;
  assert.deepEqual([meta.inputs, meta.outputs], [[{ name: 'x', datatype: 'FP32', shape: [-1] }], [{ name: 'y', datatype: 'FP32', shape: [-1] }]]);
  const config = (await call(`${server.url}/v2/models/any_rank/config`)).body;
  assert.deepEqual([config.max_batch_size, config.input[0].dims, config.output[0].dims, config.dynamic_batching], [0, [-1], [-1], undefined]);
  const scalar = (await call(`${server.url}/v2/models/scalar`)).body;
  assert.deepEqual([scalar.inputs[0].shape, scalar.outputs[0].shape], [[], []]);
  // An output of no declared shape beside a batchable input: not batched either (its requests run alone).
  const squeezed = (await call(`${server.url}/v2/models/squeezed/config`)).body;
  assert.deepEqual([squeezed.max_batch_size, squeezed.input[0].dims, squeezed.output[0].dims], [0, [-1, 2], [-1]]);
  // Symbolic dims and dims with neither value nor name are -1 (any size), the rank kept.
  const symbolic = (await call(`${server.url}/v2/models/symbolic`)).body;
  assert.deepEqual([symbolic.inputs[0].shape, symbolic.outputs[0].shape], [[-1, -1], [-1, 3]]);
});

test('a true scalar input still takes only a scalar', async () => {
  const one = await infer('scalar', []);
  assert.equal(one.status, 200, one.text);
  assert.deepEqual((one.body.outputs as Array<{ shape: number[]; data: number[] }>)[0], { name: 'y', datatype: 'FP32', shape: [], data: [-1] });
  const two = await infer('scalar', [2]);
  assert.equal(two.status, 400, two.text);
  assert.equal(two.body.error, "input 'x': shape [2] does not fit the model's [] (-1: any size)");
});

test('an output of no declared shape is its own request\'s answer: concurrent one-row requests each get x squeezed to [2], never a row [1, 2] of a shared run\'s [N, 2]', async () => {
  // Given to the version in one tick (as the front doors do), they would share runs were it batched.
  const version = server.core.resolve('squeezed')!;
  const answers = await Promise.all(Array.from({ length: 24 }, (_, i) => version.infer({ x: { type: 'float32', dims: [1, 2], data: Float32Array.from([i, 10 * i]) } }, 1)));
  assert.deepEqual(answers.map((a) => ({ shape: a.s!.dims, data: [...(a.s!.data as Float32Array)] })), answers.map((_, i) => ({ shape: [2], data: [i, 10 * i] })));
  const http = await Promise.all([1, 2].map((i) => call(`${server.url}/v2/models/squeezed/infer`, { body: { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: [i, 10 * i] }] } })));
  assert.deepEqual(http.map((a) => (a.body.outputs as Array<{ shape: number[]; data: number[] }>)[0]), [1, 2].map((i) => ({ name: 's', datatype: 'FP32', shape: [2], data: [i, 10 * i] })));
  // onnxruntime's own answer for one such request; a request of more rows than --max-run-rows (2) is one run.
  assert.deepEqual(await direct('squeezed', [1, 2], 's'), { shape: [2], data: [1, 2] });
  const four = await infer('squeezed', [4, 2]);
  assert.equal(four.status, 200, four.text);
  const [s] = four.body.outputs as Array<{ shape: number[]; data: number[] }>;
  assert.deepEqual({ shape: s!.shape, data: s!.data }, await direct('squeezed', [4, 2], 's'));
});

test('modelserve check runs no scalar warm-up on an input of no declared shape (serve runs none): no problem reported', async () => {
  const report = await checkRepository(repo);
  assert.deepEqual(report.problems.filter((p) => p.severity === 'error'), []);
});

test('an input with an initializer of the same name (an overridable default) is no input: onnxruntime-node ignores a feed for it, so a tensor of that name is refused, never answered with the default', async () => {
  const session = await ort.InferenceSession.create(join(repo, 'with_default', 'model.onnx'), { logSeverityLevel: 4 });
  try {
    assert.deepEqual(session.inputNames, ['x']);
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from([1, 2]), [1, 2]), scale: new ort.Tensor('float32', Float32Array.from([3]), []) });
    assert.deepEqual([...(out.y!.data as Float32Array)], [2, 4]);
  } finally {
    await session.release();
  }
  const meta = (await call(`${server.url}/v2/models/with_default`)).body;
  assert.deepEqual(meta.inputs, [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }]);
  const overridden = await call(`${server.url}/v2/models/with_default/infer`, { body: { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: [1, 2] }, { name: 'scale', datatype: 'FP32', shape: [], data: [3] }] } });
  assert.equal(overridden.status, 400, overridden.text);
  assert.equal(overridden.body.error, "unknown input 'scale' (the model's inputs: 'x')");
  const r = await infer('with_default', [1, 2]);
  assert.deepEqual((r.body.outputs as Array<{ data: number[] }>)[0]!.data, [2, 4]);
});
