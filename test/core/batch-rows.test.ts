// Which raw graphs keep the rows of their batch dimension apart (rowMixing: an allow-list of ops, given
// their axes, ranks and constant operands), graph by graph. Built with Debian's python3-onnx and read as
// the load reads them. Served end to end (answers of requests sent together): test/oip/row-mixing.test.ts.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { rowMixing } from '../../src/core/batch-rows.js';
import { tempDir } from '../helpers/paths.js';
import { writeGraphFolders } from '../helpers/onnx.js';

const dir = tempDir('modelserve-batch-rows-');
after(() => rmSync(dir, { recursive: true, force: true }));

const X = "[v('x', T.FLOAT, ['N', 4])]";
const Y = "[v('y', T.FLOAT, None)]";
const W = "h.make_tensor('W', T.FLOAT, [4, 3], [0.5] * 12)";
const i64 = (name: string, values: number[], dims = `[${values.length}]`) => `h.make_tensor('${name}', T.INT64, ${dims}, ${JSON.stringify(values)})`;

/** Graph name -> its nodes (x [N, 4] float in, y out) and initializers, and the op named when it mixes rows (undefined: row-wise). */
const CASES: Record<string, { nodes: string; inits?: string[]; mixes?: RegExp }> = {
  // Row-wise.
  gemm: { nodes: "h.make_node('Gemm', ['x', 'W', 'b'], ['y'])", inits: [W, "h.make_tensor('b', T.FLOAT, [3], [1, 2, 3])"] },
  matmul_relu: { nodes: "h.make_node('MatMul', ['x', 'W'], ['m']), h.make_node('Relu', ['m'], ['y'])", inits: [W] },
  softmax_last: { nodes: "h.make_node('Softmax', ['x'], ['y'])" },
  reduce_axis1: { nodes: "h.make_node('ReduceSum', ['x', 'axes'], ['y'], keepdims=0)", inits: [i64('axes', [-1])] },
  argmax_axis1: { nodes: "h.make_node('ArgMax', ['x'], ['y'], axis=1)" },
  topk_axis1: { nodes: "h.make_node('TopK', ['x', 'k'], ['y', 'i'])", inits: [i64('k', [2])] },
  concat_axis1: { nodes: "h.make_node('Concat', ['x', 'x'], ['y'], axis=1)" },
  flatten_reshape: { nodes: "h.make_node('Reshape', ['x', 's'], ['r']), h.make_node('Flatten', ['r'], ['y'])", inits: [i64('s', [-1, 2, 2])] },
  // The batch's size taken from Shape and put back first: x.view(x.size(0), -1).
  view_by_shape: { nodes: "h.make_node('Shape', ['x'], ['s']), h.make_node('Gather', ['s', 'zero'], ['n']), h.make_node('Unsqueeze', ['n', 'ax'], ['n1']), h.make_node('Concat', ['n1', 'rest'], ['shape'], axis=0), h.make_node('Reshape', ['x', 'shape'], ['y'])", inits: [i64('zero', [0], '[]'), i64('ax', [0]), i64('rest', [-1])] },
  // A Constant whose value_ints list is empty: its value is not known, not a reason to fail the load (it threw).
  constant_empty_ints: { nodes: "(lambda n: (n.attribute.append(onnx.AttributeProto(name='value_ints', type=onnx.AttributeProto.INTS)), n)[1])(h.make_node('Constant', [], ['c'])), h.make_node('Relu', ['x'], ['y'])" },
  sub_constant_row: { nodes: "h.make_node('Sub', ['x', 'c'], ['y'])", inits: ["h.make_tensor('c', T.FLOAT, [1, 4], [1, 2, 3, 4])"] },
  // Mixing rows.
  mean_axis0: { nodes: "h.make_node('ReduceMean', ['x'], ['m'], axes=[0]), h.make_node('Sub', ['x', 'm'], ['y'])", mixes: /ReduceMean node: it reduces over axis 0/ },
  reduce_all: { nodes: "h.make_node('ReduceMax', ['x'], ['m']), h.make_node('Div', ['x', 'm'], ['y'])", mixes: /ReduceMax node: it reduces over every axis/ },
  cumsum_axis0: { nodes: "h.make_node('CumSum', ['x', 'a'], ['y'])", inits: [i64('a', [0], '[]')], mixes: /CumSum node: it works along axis 0/ },
  softmax_axis0: { nodes: "h.make_node('Softmax', ['x'], ['y'], axis=0)", mixes: /Softmax node: it works along axis 0/ },
  topk_axis0: { nodes: "h.make_node('TopK', ['x', 'k'], ['y', 'i'], axis=0)", inits: [i64('k', [1])], mixes: /TopK node: it works along axis 0/ },
  gemm_trans_a: { nodes: "h.make_node('Transpose', ['x'], ['t']), h.make_node('Gemm', ['t', 'x'], ['y'], transA=1)", mixes: /Transpose node: it moves the batch dimension/ },
  gram: { nodes: "h.make_node('Transpose', ['x'], ['t'], perm=[1, 0]), h.make_node('MatMul', ['t', 'x'], ['y'])", mixes: /Transpose node/ },
  batchnorm_training: { nodes: "h.make_node('BatchNormalization', ['x', 's', 'b', 'm', 'v'], ['y'], training_mode=1)", inits: ['s', 'b', 'm', 'v'].map((n) => `h.make_tensor('${n}', T.FLOAT, [4], [1, 1, 1, 1])`), mixes: /BatchNormalization node: it is in training mode/ },
  concat_axis0: { nodes: "h.make_node('Concat', ['x', 'x'], ['y'], axis=0)", mixes: /Concat node: it works along axis 0/ },
  gather_axis0: { nodes: "h.make_node('Gather', ['x', 'i'], ['y'])", inits: [i64('i', [1, 0])], mixes: /Gather node: it picks along axis 0/ },
  slice_rows: { nodes: "h.make_node('Slice', ['x', 's', 'e', 'a'], ['y'])", inits: [i64('s', [1]), i64('e', [1000]), i64('a', [0])], mixes: /Slice node: it slices along axis 0/ },
  flatten_axis0: { nodes: "h.make_node('Flatten', ['x'], ['y'], axis=0)", mixes: /Flatten node: it works along axis 0/ },
  reshape_merging: { nodes: "h.make_node('Reshape', ['x', 's'], ['y'])", inits: [i64('s', [-1, 8])], mixes: /Reshape node: it may change the batch dimension/ },
  constant_of_rows: { nodes: "h.make_node('Add', ['x', 'c'], ['y'])", inits: ["h.make_tensor('c', T.FLOAT, [2, 4], [0, 0, 0, 0, 1, 1, 1, 1])"], mixes: /Add node: an input not computed per row has rows of its own/ },
  unknown_op: { nodes: "h.make_node('NonZero', ['x'], ['y'])", mixes: /NonZero node: it is not known to keep rows apart/ },
};

const SIGNATURE = { inputs: [{ name: 'x', type: 'float32', shape: ['N', 4] }], outputs: [{ name: 'y', type: 'float32', shape: ['N', -1] }] };

writeGraphFolders(dir, Object.entries(CASES).map(([name, c]) => `save('${name}', [${c.nodes}], ${X}, ${Y}, [${(c.inits ?? []).join(', ')}])`).join('\n'));

for (const [name, c] of Object.entries(CASES)) {
  test(`${name}: ${c.mixes ? 'mixes rows' : 'keeps rows apart'}`, async () => {
    const bytes = readFileSync(join(dir, name, 'model.onnx'));
    const said = await rowMixing(SIGNATURE, bytes);
    if (c.mixes === undefined) {
      assert.equal(said, undefined);
      return;
    }
    assert.match(said ?? '', c.mixes);
  });
}
