// `modelserve init` on graphs whose shapes and element types the book's model does not have: a
// rank-3 input, a static-shape export (batch fixed at 1), inputs and outputs of types a config
// cannot carry, several string or bool columns in one tensor, several [N, k] inputs, a ZipMap output, weights kept in a file of their own (external data), tensor names YAML would read as numbers, booleans or comments. Each config init writes is one check accepts and that serves the
// graph's own answers, or init refuses, naming the tensor. Graphs built with Debian's python3-onnx.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from '../../src/server.js';
import { checkRepository } from '../../src/check/repository.js';
import { InitError, initModelFolder } from '../../src/init/init.js';
import { describeModel } from '../../src/inspect/inspect.js';
import { call } from '../helpers/http.js';
import { CLI, tempDir } from '../helpers/paths.js';

const root = tempDir('modelserve-init-shapes-');
after(() => rmSync(root, { recursive: true, force: true }));

const MAKE = `
import os, sys, onnx
from onnx import TensorProto as T, helper as h
def save(name, nodes, inputs, outputs, inits=(), ml=False):
    ops = [h.make_opsetid('', 13)] + ([h.make_opsetid('ai.onnx.ml', 1)] if ml else [])
    model = h.make_model(h.make_graph(nodes, name, inputs, outputs, list(inits)), opset_imports=ops)
    model.ir_version = 8
    onnx.save(model, os.path.join(sys.argv[1], name + '.onnx'))
v = h.make_tensor_value_info
# y = the sum of each row's 2 x 3 block
save('rank3', [h.make_node('ReduceSum', ['x', 'axes'], ['y'], keepdims=0)], [v('x', T.FLOAT, ['N', 2, 3])], [v('y', T.FLOAT, ['N'])], [h.make_tensor('axes', T.INT64, [2], [1, 2])])
# a static-shape export: one row per run, y = 2x
save('batch1', [h.make_node('Mul', ['x', 'two'], ['y'])], [v('x', T.FLOAT, [1, 3])], [v('y', T.FLOAT, [1, 3])], [h.make_tensor('two', T.FLOAT, [], [2.0])])
# answers for the whole run, not per row: the sum of all its values (a scalar), the column sums
# over the batch ([1, 2]), and a static-shape export ([1, 3]) whose answer is a scalar
save('whole_sum', [h.make_node('ReduceSum', ['x'], ['s'], keepdims=0)], [v('x', T.FLOAT, ['N', 2])], [v('s', T.FLOAT, [])])
save('batch_sum', [h.make_node('ReduceSum', ['x', 'axes'], ['y'], keepdims=1)], [v('x', T.FLOAT, ['N', 2])], [v('y', T.FLOAT, [1, 2])], [h.make_tensor('axes', T.INT64, [1], [0])])
# a constant output of 3 values (e.g. the class names, a model's version vector) beside a per-row one,
# with the rows variable and with a static-shape export
c3 = [h.make_tensor('C', T.FLOAT, [3], [7.0, 8.0, 9.0])]
# an int64 output that is no class label: the input's shape, [2] whatever the rows
save('shape_out', [h.make_node('Neg', ['x'], ['y']), h.make_node('Shape', ['x'], ['dims'])], [v('x', T.FLOAT, ['N', 2])], [v('y', T.FLOAT, ['N', 2]), v('dims', T.INT64, [2])])
save('with_constant', [h.make_node('Identity', ['x'], ['y']), h.make_node('Identity', ['C'], ['k'])], [v('x', T.FLOAT, ['N', 2])], [v('y', T.FLOAT, ['N', 2]), v('k', T.FLOAT, [3])], c3)
save('batch1_constant', [h.make_node('Identity', ['x'], ['y']), h.make_node('Identity', ['C'], ['k'])], [v('x', T.FLOAT, [1, 2])], [v('y', T.FLOAT, [1, 2]), v('k', T.FLOAT, [3])], c3)
save('batch1_sum', [h.make_node('ReduceSum', ['x'], ['s'], keepdims=0)], [v('x', T.FLOAT, [1, 3])], [v('s', T.FLOAT, [])])
# the rows not along the first dimension: a transposed [features, N] input, one unbatched row [3]
save('rows_last', [h.make_node('Transpose', ['x'], ['y'], perm=[1, 0])], [v('x', T.FLOAT, [3, 'N'])], [v('y', T.FLOAT, ['N', 3])])
save('unbatched', [h.make_node('Neg', ['x'], ['y'])], [v('x', T.FLOAT, [3])], [v('y', T.FLOAT, [3])])
save('half_in', [h.make_node('Identity', ['x'], ['y'])], [v('x', T.FLOAT16, ['N', 2])], [v('y', T.FLOAT16, ['N', 2])])
save('bytes_in', [h.make_node('Cast', ['x'], ['y'], to=T.FLOAT)], [v('x', T.UINT8, ['N', 2])], [v('y', T.FLOAT, ['N', 2])])
save('half_out', [h.make_node('Identity', ['x'], ['y']), h.make_node('Cast', ['x'], ['h'], to=T.FLOAT16)], [v('x', T.FLOAT, ['N', 2])], [v('y', T.FLOAT, ['N', 2]), v('h', T.FLOAT16, ['N', 2])])
lc = h.make_node('LinearClassifier', ['x'], ['label', 'p'], domain='ai.onnx.ml', classlabels_ints=[0, 1], coefficients=[1.0, -1.0, -1.0, 1.0], intercepts=[0.0, 0.0], post_transform='SOFTMAX')
zm = h.make_node('ZipMap', ['p'], ['output_probability'], domain='ai.onnx.ml', classlabels_int64s=[0, 1])
# PyTorch's default names ('input.1' -> '15') and names YAML reads as something else unquoted
save('torch', [h.make_node('Relu', ['input.1'], ['15'])], [v('input.1', T.FLOAT, ['batch_size', 2])], [v('15', T.FLOAT, ['batch_size', 2])])
odd = ['true', 'a: b', 'x #1', '-y']
save('names', [h.make_node('Neg', [odd[0]], ['null']), h.make_node('Identity', [odd[1]], ['p-1']), h.make_node('Identity', [odd[2]], ['p_1']), h.make_node('Identity', [odd[3]], ['{o}'])],
     [v(n, T.FLOAT, ['N']) for n in odd], [v(n, T.FLOAT, ['N']) for n in ['null', 'p-1', 'p_1', '{o}']])
# several string / bool columns in one tensor, and a model of several [N, k] inputs
save('strings2', [h.make_node('Identity', ['x'], ['y'])], [v('x', T.STRING, ['N', 2])], [v('y', T.STRING, ['N', 2])])
save('bools2', [h.make_node('Not', ['x'], ['y'])], [v('x', T.BOOL, ['N', 2])], [v('y', T.BOOL, ['N', 2])])
save('mixed', [h.make_node('ReduceSum', ['num', 'axes'], ['total'], keepdims=0), h.make_node('Identity', ['cat'], ['c'])], [v('num', T.FLOAT, ['N', 3]), v('cat', T.STRING, ['N', 2])], [v('total', T.FLOAT, ['N']), v('c', T.STRING, ['N', 2])], [h.make_tensor('axes', T.INT64, [1], [1])])
# weights in a file beside the model (external data, as large exports are saved): y = x W
import numpy as np
from onnx import numpy_helper
w = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(3, 2), 'W')
ext = h.make_model(h.make_graph([h.make_node('MatMul', ['x', 'W'], ['y'])], 'external', [v('x', T.FLOAT, ['N', 3])], [v('y', T.FLOAT, ['N', 2])], [w]), opset_imports=[h.make_opsetid('', 13)])
ext.ir_version = 8
os.makedirs(os.path.join(sys.argv[1], 'exported'))
onnx.save_model(ext, os.path.join(sys.argv[1], 'exported', 'external.onnx'), save_as_external_data=True, location='external.weights', size_threshold=0)
m = onnx.TypeProto()
m.map_type.key_type = T.INT64
m.map_type.value_type.CopyFrom(h.make_tensor_type_proto(T.FLOAT, []))
# string classes (skl2onnx's label for y = ['cat', 'dog']), read through an Identity, zipmap disabled
lcs = h.make_node('LinearClassifier', ['x'], ['label_tensor', 'probabilities'], domain='ai.onnx.ml', classlabels_strings=['cat', 'dog'], coefficients=[1.0, -1.0, -1.0, 1.0], intercepts=[0.0, 0.0], post_transform='SOFTMAX')
save('string_classes', [lcs, h.make_node('Identity', ['label_tensor'], ['label'])], [v('x', T.FLOAT, ['N', 2])], [v('label', T.STRING, ['N']), v('probabilities', T.FLOAT, ['N', 2])], ml=True)
# an input of no declared shape (any rank) that takes 3 values per row: y = x W
save('no_shape', [h.make_node('MatMul', ['x', 'W'], ['y'])], [v('x', T.FLOAT, None)], [v('y', T.FLOAT, ['N', 2])], [numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(3, 2), 'W')])
save('zipmap', [lc, zm], [v('x', T.FLOAT, ['N', 2])], [v('label', T.INT64, ['N']), h.make_value_info('output_probability', h.make_sequence_type_proto(m))], ml=True)
`;
execFileSync('/usr/bin/python3', ['-c', MAKE, root], { stdio: 'pipe' });

/** init's folder for models/<name>.onnx, checked as `modelserve init` checks it. */
async function initChecked(name: string) {
  const result = initModelFolder({ model: join(root, `${name}.onnx`), out: join(root, 'models', name) });
  const report = await checkRepository(result.dir);
  assert.deepEqual(report.problems, [], `${name}: ${JSON.stringify(report.problems)}`);
  return result;
}

test('a rank-3 input [N, 2, 3]: init names six fields, check accepts it, and each row is fed in the model\'s own shape', async () => {
  const { dir } = await initChecked('rank3');
  const server = await startServer({ repo: dir, port: 0, workers: 1, grpcPort: 0 });
  try {
    const rows = [{ x0: 1, x1: 2, x2: 3, x3: 4, x4: 5, x5: 6 }, { x0: -1, x1: 0, x2: 0, x3: 0, x4: 0, x5: 0.5 }];
    const res = await call(`${server.url}/predict`, { body: rows });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, [{ y: 21 }, { y: -0.5 }]);
  } finally {
    await server.shutdown();
  }
});

test('a graph exported with a fixed batch of 1 ([1, 3]) answers an array request and concurrent requests, one row per run', async () => {
  const { dir } = await initChecked('batch1');
  const server = await startServer({ repo: dir, port: 0, workers: 1, grpcPort: 0 });
  try {
    const rows = [{ x0: 1, x1: 2, x2: 3 }, { x0: 4, x1: 5, x2: 6 }, { x0: 7, x1: 8, x2: 9 }];
    const many = await call(`${server.url}/predict`, { body: rows });
    assert.equal(many.status, 200, many.text);
    assert.deepEqual(many.body, [{ y: [2, 4, 6] }, { y: [8, 10, 12] }, { y: [14, 16, 18] }]);
    // Requests that arrive together share a batch: still one row per onnxruntime run.
    const answers = await Promise.all(rows.map((row) => call(`${server.url}/predict`, { body: row })));
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 200], answers.map((a) => a.text).join('\n'));
    assert.deepEqual(answers.map((a) => a.body), [{ y: [2, 4, 6] }, { y: [8, 10, 12] }, { y: [14, 16, 18] }]);
  } finally {
    await server.shutdown();
  }
});

test('a graph that answers for the whole run (a scalar, a sum over the batch) answers each row of an array request and each request on its own, never mixed', async () => {
  for (const [name, rows, expected] of [
    ['whole_sum', [{ x0: 1, x1: 2 }, { x0: 10, x1: 20 }, { x0: 100, x1: 200 }], [{ s: 3 }, { s: 30 }, { s: 300 }]],
    ['batch_sum', [{ x0: 1, x1: 2 }, { x0: 10, x1: 20 }, { x0: 100, x1: 200 }], [{ y: [1, 2] }, { y: [10, 20] }, { y: [100, 200] }]],
    ['batch1_sum', [{ x0: 1, x1: 2, x2: 3 }, { x0: 10, x1: 20, x2: 30 }, { x0: 100, x1: 200, x2: 300 }], [{ s: 6 }, { s: 60 }, { s: 600 }]],
  ] as const) {
    const { dir } = await initChecked(name);
    const server = await startServer({ repo: dir, port: 0, workers: 1, grpcPort: 0, logger: false });
    try {
      // The old code answered whole_sum's rows [{s: 333}, {}, {}]: the run's sum, then nothing.
      const many = await call(`${server.url}/predict`, { body: rows });
      assert.equal(many.status, 200, many.text);
      assert.deepEqual(many.body, expected, name);
      // Requests that arrive together may share a batch: each still gets its own row's answer.
      const answers = await Promise.all(rows.map((row) => call(`${server.url}/predict`, { body: row })));
      assert.deepEqual(answers.map((a) => a.body), expected, name);
    } finally {
      await server.shutdown();
    }
  }
});

test('a constant output ([3], not one entry per row) is answered whole to every row of an array request, as to a one-row request', async () => {
  for (const name of ['with_constant', 'batch1_constant']) {
    const { dir } = await initChecked(name);
    const server = await startServer({ repo: dir, port: 0, workers: 1, grpcPort: 0, logger: false });
    try {
      const one = await call(`${server.url}/predict`, { body: { x0: 1, x1: 2 } });
      assert.deepEqual(one.body, { y: [1, 2], k: [7, 8, 9] }, name);
      // The old code spread the vector over the rows: [{..., k: 7}, {..., k: 8}].
      const two = await call(`${server.url}/predict`, { body: [{ x0: 1, x1: 2 }, { x0: 3, x1: 4 }] });
      assert.equal(two.status, 200, two.text);
      assert.deepEqual(two.body, [{ y: [1, 2], k: [7, 8, 9] }, { y: [3, 4], k: [7, 8, 9] }], name);
      // As many rows as the constant has values: still the whole vector to each row.
      const three = await call(`${server.url}/predict`, { body: [{ x0: 1, x1: 2 }, { x0: 3, x1: 4 }, { x0: 5, x1: 6 }] });
      assert.deepEqual(three.body, [{ y: [1, 2], k: [7, 8, 9] }, { y: [3, 4], k: [7, 8, 9] }, { y: [5, 6], k: [7, 8, 9] }], name);
      // Over the Open Inference Protocol: a [rows, 3] tensor, as the metadata says (it said [-1, 1],
      // and a one-row answer was shape [1, 1] holding 3 values).
      const meta = await call(`${server.url}/v2/models/${name}`);
      assert.deepEqual(meta.body.outputs, [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }, { name: 'k', datatype: 'FP32', shape: [-1, 3] }], name);
      for (const x0 of [[1], [1, 3]]) {
        const infer = await call(`${server.url}/v2/models/${name}/infer`, { body: { inputs: [{ name: 'x0', datatype: 'FP64', shape: [x0.length, 1], data: x0 }, { name: 'x1', datatype: 'FP64', shape: [x0.length, 1], data: x0 }] } });
        assert.equal(infer.status, 200, infer.text);
        const k = infer.body.outputs.find((o: { name: string }) => o.name === 'k');
        assert.deepEqual(k, { name: 'k', datatype: 'FP32', shape: [x0.length, 3], data: x0.flatMap(() => [7, 8, 9]) }, name);
      }
    } finally {
      await server.shutdown();
    }
  }
});

test('a constant output ([3]) is whole in each row even when the first array request has exactly 3 rows (it was spread over them: k 7, 8, 9)', async () => {
  const { dir } = initModelFolder({ model: join(root, 'with_constant.onnx'), out: join(root, 'models', 'with_constant_3rows') });
  const server = await startServer({ repo: dir, port: 0, workers: 1, grpcPort: 0, logger: false });
  try {
    const three = await call(`${server.url}/predict`, { body: [{ x0: 1, x1: 2 }, { x0: 3, x1: 4 }, { x0: 5, x1: 6 }] });
    assert.equal(three.status, 200, three.text);
    assert.deepEqual(three.body, [{ y: [1, 2], k: [7, 8, 9] }, { y: [3, 4], k: [7, 8, 9] }, { y: [5, 6], k: [7, 8, 9] }]);
  } finally {
    await server.shutdown();
  }
  // The same over the Open Inference Protocol, on a server whose first run is that request.
  const oip = await startServer({ repo: dir, port: 0, workers: 1, grpcPort: 0, logger: false });
  try {
    const x = [1, 3, 5];
    const infer = await call(`${oip.url}/v2/models/with_constant_3rows/infer`, { body: { inputs: [{ name: 'x0', datatype: 'FP64', shape: [3, 1], data: x }, { name: 'x1', datatype: 'FP64', shape: [3, 1], data: x }] } });
    assert.equal(infer.status, 200, infer.text);
    const k = infer.body.outputs.find((o: { name: string }) => o.name === 'k');
    assert.deepEqual(k, { name: 'k', datatype: 'FP32', shape: [3, 3], data: [7, 8, 9, 7, 8, 9, 7, 8, 9] });
  } finally {
    await oip.shutdown();
  }
});

test('init --labels refuses a value the classifier\'s label output never holds (README\'s 0=No,1=Yes for string classes), naming its classes; the ones it holds are mapped', async () => {
  // The old code wrote the map, and every answer stayed the model's own 'cat' / 'dog', silently.
  assert.throws(() => initModelFolder({ model: join(root, 'string_classes.onnx'), out: join(root, 'refused', 'string_classes'), labels: { 0: 'No', 1: 'Yes' } }),
    (err: Error) => err instanceof InitError && err.message === `--labels: the class-label output 'label' (string) never holds "0", "1" (its classes: "cat", "dog")`);
  assert.throws(() => initModelFolder({ model: join(root, 'zipmap.onnx'), out: join(root, 'refused', 'zipmap'), labels: { 0: 'No', yes: 'Yes' } }),
    (err: Error) => err instanceof InitError && err.message === "--labels: the class-label output 'label' (int64) never holds yes (its classes: 0, 1)");
  assert.equal(existsSync(join(root, 'refused', 'string_classes', 'model.yaml')), false);
  // Without --labels, the note names the classes it would map (a string class is a name already).
  const plain = initModelFolder({ model: join(root, 'string_classes.onnx'), out: join(root, 'plain', 'string_classes') });
  assert.ok(plain.notes.includes('class labels are answered as the model\'s own names (cat, dog); rename them with --labels cat=NAME,dog=NAME'), plain.notes.join('\n'));
  const ints = initModelFolder({ model: join(root, 'zipmap.onnx'), out: join(root, 'plain', 'zipmap') });
  assert.ok(ints.notes.includes('class labels are answered as the model\'s values (0, 1); map them to names with --labels 0=NAME,1=NAME'), ints.notes.join('\n'));
  const result = initModelFolder({ model: join(root, 'string_classes.onnx'), out: join(root, 'labelled', 'string_classes'), labels: { cat: 'Cat', dog: 'Dog' } });
  const server = await startServer({ repo: result.dir, port: 0, workers: 1, grpcPort: 0, logger: false });
  try {
    const res = await call(`${server.url}/predict`, { body: [{ x0: 1, x1: 0 }, { x0: 0, x1: 1 }] });
    assert.deepEqual(res.body, [{ prediction: 'Cat' }, { prediction: 'Dog' }]);
  } finally {
    await server.shutdown();
  }
});

test('an input whose first dimension is fixed past 1 ([3, N], an unbatched [3]) is named as such by the check after init, not left to onnxruntime\'s "invalid dimensions" at warm-up', async () => {
  for (const [name, shape] of [['rows_last', '[3, N]'], ['unbatched', '[3]']]) {
    // (Outside models/, which other tests serve whole.)
    const result = initModelFolder({ model: join(root, `${name}.onnx`), out: join(root, 'refused', name) });
    const report = await checkRepository(result.dir);
    assert.deepEqual(report.problems.map((p) => `${p.key}: ${p.message}`), [
      `inputs.x: the model's input has shape ${shape}, whose first dimension (the rows of a request) is fixed at 3; modelserve feeds the rows along the first dimension, so it must be variable (or 1, a static-shape export run one row at a time): export the model with the batch first`,
    ]);
  }
});

test('init --fields on a model of several inputs is refused, naming them (it was ignored: the config kept other names without a word)', () => {
  assert.throws(() => initModelFolder({ model: join(root, 'mixed.onnx'), out: join(root, 'refused', 'mixed'), fields: ['a', 'b', 'c', 'd', 'e'] }),
    (err: Error) => err instanceof InitError && err.message === "--fields applies to a model with one input; this one has 2 ('num', 'cat'), whose fields are named after them: rename them in model.yaml");
  assert.equal(existsSync(join(root, 'refused', 'mixed', 'model.yaml')), false);
});

test('a raw model (an .onnx file alone) whose answer is the whole run\'s (a sum over the batch): concurrent OIP requests each get the sum of their own tensor, never of a shared batch, nor of a part of it', async () => {
  const dir = join(root, 'raw-models', 'batch_sum');
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(root, 'batch_sum.onnx'), join(dir, 'batch_sum.onnx'));
  const server = await startServer({ repo: join(root, 'raw-models'), port: 0, workers: 1, grpcPort: 0, logger: false });
  try {
    // A tensor of more rows than --max-run-rows (256) is not cut into runs: its sum is of all 600.
    const big = await call(`${server.url}/v2/models/batch_sum/infer`, { body: { inputs: [{ name: 'x', datatype: 'FP32', shape: [600, 2], data: Array.from({ length: 1200 }, () => 1) }] } });
    assert.deepEqual((big.body.outputs as Array<{ data: number[] }>)[0]!.data, [600, 600], big.text);
    // Request i sends 2 rows [i, 10i] and [1, 1]: its own column sums are [i + 1, 10i + 1].
    const answers = await Promise.all(Array.from({ length: 24 }, (_, i) => call(`${server.url}/v2/models/batch_sum/infer`, { body: { inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 2], data: [i, 10 * i, 1, 1] }] } })));
    assert.deepEqual(answers.map((a) => a.status), answers.map(() => 200), answers.map((a) => a.text).join('\n'));
    assert.deepEqual(answers.map((a) => (a.body.outputs as Array<{ data: number[] }>)[0]!.data), answers.map((_, i) => [i + 1, 10 * i + 1]));
  } finally {
    await server.shutdown();
  }
});

test('init refuses an input no field can feed (float16, uint8), naming it, and writes no config check would reject', () => {
  assert.throws(() => initModelFolder({ model: join(root, 'half_in.onnx'), out: join(root, 'models', 'half_in') }), (err: Error) => {
    assert.ok(err instanceof InitError);
    assert.match(err.message, /the model's input 'x' \(float16\) cannot be fed from JSON fields \(modelserve feeds float32, float64, int32, int64, string, bool inputs\)$/);
    return true;
  });
  assert.throws(() => initModelFolder({ model: join(root, 'bytes_in.onnx'), out: join(root, 'models', 'bytes_in') }), /the model's input 'x' \(uint8\) cannot be fed from JSON fields .*served from its \.onnx file alone \(no model\.yaml\), it takes tensors over the Open Inference Protocol/);
  assert.ok(!existsSync(join(root, 'models', 'half_in', 'model.yaml')) && !existsSync(join(root, 'models', 'bytes_in', 'model.yaml')));
});

test('outputs modelserve cannot return (float16, a ZipMap sequence of maps) are left out of the config with a note saying why', async () => {
  const half = await initChecked('half_out');
  assert.deepEqual(half.notes, ["the output 'h' (float16) is not answered: modelserve returns float32, float64, int8, int16, int32, int64, uint8, uint16, uint32, uint64, string, bool tensors"]);
  const zip = await initChecked('zipmap');
  assert.match(zip.notes[0]!, /^the output 'output_probability' \(a sequence, e\.g\. skl2onnx's ZipMap probabilities\) is not answered: only tensors are; export the model with options=\{'zipmap': False\}/);
});

test('tensor names YAML would misread (PyTorch\'s output \'15\', \'true\', \'a: b\', \'x #1\') are quoted, and outputs whose names clean up alike get fields of their own', async () => {
  await initChecked('torch');
  await initChecked('names');
  const server = await startServer({ repo: join(root, 'models'), port: 0, workers: 1, grpcPort: 0 });
  try {
    const a = await call(`${server.url}/models/torch/predict`, { body: { x0: -1, x1: 2 } });
    assert.equal(a.status, 200, a.text);
    assert.deepEqual(a.body, { x_15: [0, 2] });
    const b = await call(`${server.url}/models/names/predict`, { body: { true: 1, a_b: 2, x_1: 3, y: 4 } });
    assert.equal(b.status, 200, b.text);
    assert.deepEqual(b.body, { null: -1, p_1: 2, p_1_2: 3, o: 4 });
  } finally {
    await server.shutdown();
  }
});

test('a graph whose weights are in a file beside it (external data): inspect names the file, init copies it, and the model serves (loaded from its path)', async () => {
  const model = join(root, 'exported', 'external.onnx');
  assert.deepEqual(describeModel(readFileSync(model), model).externalData, ['external.weights']);
  const { dir } = initModelFolder({ model, out: join(root, 'external') });
  assert.ok(existsSync(join(dir, 'external.weights')));
  const report = await checkRepository(dir);
  assert.deepEqual(report.problems, []);
  const server = await startServer({ repo: dir, port: 0, workers: 1, grpcPort: 0 });
  try {
    const res = await call(`${server.url}/predict`, { body: [{ x0: 1, x1: 0, x2: 0 }, { x0: 0, x1: 1, x2: 1 }] });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, [{ y: [0, 1] }, { y: [6, 8] }]);
  } finally {
    await server.shutdown();
  }
});

test('an [N, 2] string or bool input gets its type: line (several such fields need it), and a model of several [N, k] inputs gets <input>_<i> fields', async () => {
  for (const name of ['strings2', 'bools2', 'mixed']) await initChecked(name);
  const config = readFileSync(join(root, 'models', 'mixed', 'model.yaml'), 'utf8');
  assert.match(config, /\n {2}num: +# float32 \[N, 3\]\n {4}fields: \[num_0, num_1, num_2\]\n {2}cat: +# string \[N, 2\]\n {4}fields: \[cat_0, cat_1\]\n {4}type: string\n/);
  const server = await startServer({ repo: join(root, 'models'), port: 0, workers: 1, grpcPort: 0 });
  try {
    const answers = await Promise.all([
      call(`${server.url}/models/strings2/predict`, { body: { x0: 'a', x1: 'b' } }),
      call(`${server.url}/models/bools2/predict`, { body: { x0: true, x1: false } }),
      call(`${server.url}/models/mixed/predict`, { body: { num_0: 1, num_1: 2, num_2: 3.5, cat_0: 'red', cat_1: 'big' } }),
    ]);
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 200], answers.map((a) => a.text).join('\n'));
    assert.deepEqual(answers.map((a) => a.body), [{ y: ['a', 'b'] }, { y: [false, true] }, { total: 6.5, c: ['red', 'big'] }]);
  } finally {
    await server.shutdown();
  }
});

test('init --sample on a bool input: a 0/1 column gives example: true, not 1 (a config check refused), and a True/False one (pandas) is read, not refused as "0 numeric columns"', async () => {
  for (const [name, csv] of [['bools_01', 'a,b,label\n1,0,x\n0,1,y\n'], ['bools_words', 'a,b,label\nTrue,False,x\nFalse,,y\n']] as const) {
    const sample = join(root, `${name}.csv`);
    writeFileSync(sample, csv);
    const { dir, configFile } = initModelFolder({ model: join(root, 'bools2.onnx'), out: join(root, 'bool-samples', name), sample });
    const config = readFileSync(configFile, 'utf8');
    assert.match(config, /\n {2}a:\n {4}type: boolean\n {4}example: true\n {4}# column a of [a-z_0-9]+\.csv: 1 true, 1 false\n {2}b:\n {4}type: boolean\n {4}example: false\n/, name);
    assert.match(config, /fields: \[a, b\]\n {4}type: bool\n/, name);
    const report = await checkRepository(dir, { sample });
    assert.deepEqual(report.problems.filter((p) => p.severity === 'error'), [], name);
    // The example row the OpenAPI document shows is answered.
    const server = await startServer({ repo: dir, port: 0, workers: 1, grpcPort: 0, logger: false });
    try {
      const res = await call(`${server.url}/predict`, { body: { a: true, b: false } });
      assert.deepEqual(res.body, { y: [false, true] }, name);
    } finally {
      await server.shutdown();
    }
  }
});

test("init takes no fixed-length int64 output (Shape(x) as [2]) for a class label: no note suggesting --labels, and --labels is refused (it mapped that output)", async () => {
  const { notes } = await initChecked('shape_out');
  assert.deepEqual(notes.filter((n) => n.includes('--labels')), []);
  assert.throws(() => initModelFolder({ model: join(root, 'shape_out.onnx'), out: join(root, 'refused', 'shape_out'), labels: { 0: 'No', 1: 'Yes' } }),
    (err: Error) => err instanceof InitError && err.message.startsWith('--labels: the model has no class-label output'));
});

test("an input of no declared shape: init says the one field it wrote is a guess, in model.yaml and in the failing check's last line; --fields a,b,c serves", async () => {
  // The old init wrote one field with no word of why, and its check failed on onnxruntime's
  // 'MatMul dimension mismatch' alone; --fields a,b,c was refused ('has 1 columns but 3 fields').
  const guess = "the graph declares no shape for input 'x': init wrote one field (x), a guess; list as many fields as the model takes (--fields a,b,c, or inputs.x.fields in model.yaml), or serve the .onnx alone (no model.yaml) over the Open Inference Protocol";
  const r = spawnSync(process.execPath, [CLI, 'init', join(root, 'no_shape.onnx'), '-o', join(root, 'models', 'no_shape')], { encoding: 'utf8', timeout: 120_000, cwd: root });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /MatMul/);
  assert.ok(r.stdout.includes(`needs the fixes above before it serves; likely cause: ${guess}`), r.stdout);
  const yaml = readFileSync(join(root, 'models', 'no_shape', 'model.yaml'), 'utf8');
  assert.match(yaml, /^ {2}x: +# float32 \(shape not declared\): the fields are a guess, see the note below$/m);
  assert.ok(yaml.includes(`# note: ${guess}`), yaml);

  const { dir, guesses } = initModelFolder({ model: join(root, 'no_shape.onnx'), out: join(root, 'models', 'no_shape3'), fields: ['a', 'b', 'c'] });
  assert.deepEqual(guesses, []);
  assert.deepEqual((await checkRepository(dir)).problems, []);
  const server = await startServer({ repo: dir, port: 0, workers: 1, grpcPort: 0 });
  try {
    const res = await call(`${server.url}/predict`, { body: [{ a: 1, b: 0, c: 0 }, { a: 1, b: 1, c: 1 }] });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, [{ y: [0, 1] }, { y: [6, 9] }]);
  } finally {
    await server.shutdown();
  }
});
