// Which operators make a model's work depend on its input's values (value-dependent-ops.ts): an op
// sized by an input (Expand's shape, Pad's pads, TopK's K, Resize's scales) counts only when that
// input is not a constant; control flow and custom-domain ops of the listed names always count.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { valueDependentOps } from '../../src/runtime/value-dependent-ops.js';
import { writeGraphFolders } from '../helpers/onnx.js';

let dir: string;
const ops = (name: string): Promise<string[]> => valueDependentOps(new Uint8Array(readFileSync(join(dir, name, 'model.onnx'))));

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ms-value-ops-'));
  writeGraphFolders(dir, `
x1 = v('x', T.FLOAT, ['N', 1])
x4 = v('x', T.FLOAT, ['N', 4])
y4 = v('y', T.FLOAT, ['N', 4])
shape = h.make_tensor('shape', T.INT64, [2], [1, 4])
fed_shape = v('shape', T.INT64, [2])
expand = h.make_node('Expand', ['x', 'shape'], ['y'])
save('expand_initializer', [expand], [x1], [y4], [shape])
save('expand_fed', [expand], [x1, fed_shape], [y4])
# An initializer also declared as an input is only a default: a request may send another shape.
save('expand_overridable', [expand], [x1, fed_shape], [y4], [shape])
# Read only: onnxruntime loads it only with the op's library.
save('expand_custom_domain', [h.make_node('Expand', ['x', 'shape'], ['y'], domain='my.ops')], [x1], [y4], [shape])
y6 = v('y', T.FLOAT, ['N', 6])
save('pad_constant_node', [h.make_node('Constant', [], ['pads'], value=h.make_tensor('p', T.INT64, [4], [0, 1, 0, 1])),
                           h.make_node('Pad', ['x', 'pads'], ['y'])], [x4], [y6])
# Pads folded from constants: Concat(Constant, Cast(initializer)).
save('pad_folded', [h.make_node('Constant', [], ['before'], value_ints=[0, 1]), h.make_node('Cast', ['after32'], ['after'], to=T.INT64),
                    h.make_node('Concat', ['before', 'after'], ['pads'], axis=0), h.make_node('Pad', ['x', 'pads'], ['y'])],
     [x4], [v('y', T.FLOAT, ['N', 6])], [h.make_tensor('after32', T.INT32, [2], [0, 1])])
# Pads from the request's shape: [N, 4, N, 4].
save('pad_from_shape', [h.make_node('Shape', ['x'], ['s']), h.make_node('Concat', ['s', 's'], ['pads'], axis=0),
                        h.make_node('Pad', ['x', 'pads'], ['y'])], [x4], [v('y', T.FLOAT, None)])
topk_out = [v('values', T.FLOAT, ['N', 2]), v('indices', T.INT64, ['N', 2])]
topk = h.make_node('TopK', ['x', 'k'], ['values', 'indices'])
save('topk_initializer', [topk], [x4], topk_out, [h.make_tensor('k', T.INT64, [1], [2])])
save('topk_fed', [topk], [x4, v('k', T.INT64, [1])], topk_out)
# Resize with no roi (an empty name) and constant scales.
save('resize_scales', [h.make_node('Resize', ['x', '', 'scales'], ['y'])], [v('x', T.FLOAT, ['N', 1, 2, 2])], [v('y', T.FLOAT, ['N', 1, 4, 4])],
     [h.make_tensor('scales', T.FLOAT, [4], [1, 1, 2, 2])])
# If branches using the outer graph's names: its initializer is a constant there, its input is not.
def branch(name, shape_name):
    return h.make_graph([h.make_node('Expand', ['x', shape_name], [name])], name, [], [v(name, T.FLOAT, ['N', 4])])
cond = v('cond', T.BOOL, [])
save('if_outer_initializer', [h.make_node('If', ['cond'], ['y'], then_branch=branch('a', 'shape'), else_branch=branch('b', 'shape'))],
     [x1, cond], [y4], [shape])
save('if_outer_input', [h.make_node('If', ['cond'], ['y'], then_branch=branch('a', 'shape'), else_branch=branch('b', 'shape'))],
     [x1, cond, fed_shape], [y4])
# Model-local functions: a shape given by the call is not known; the function's own Constant is.
def with_function(name, body, inputs):
    f = h.make_function('local', 'Widen', inputs, ['out'], body, [h.make_opsetid('', 13)])
    graph = h.make_graph([h.make_node('Widen', ['x', 'shape'][:len(inputs)], ['y'], domain='local')], name, [x1], [y4], [shape])
    model = h.make_model(graph, opset_imports=[h.make_opsetid('', 13), h.make_opsetid('local', 1)], functions=[f])
    model.ir_version = 8
    onnx.checker.check_model(model)
    os.makedirs(os.path.join(sys.argv[1], name))
    onnx.save(model, os.path.join(sys.argv[1], name, 'model.onnx'))
with_function('function_shape_argument', [h.make_node('Expand', ['in', 'size'], ['out'])], ['in', 'size'])
with_function('function_shape_constant', [h.make_node('Constant', [], ['size'], value_ints=[1, 4]), h.make_node('Expand', ['in', 'size'], ['out'])], ['in'])
`);
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('an op sized by a constant (an initializer, a Constant node, folded from them, an empty optional input) is not counted', async () => {
  for (const name of ['expand_initializer', 'pad_constant_node', 'pad_folded', 'topk_initializer', 'resize_scales', 'function_shape_constant']) {
    assert.deepEqual(await ops(name), [], name);
  }
});

test('the same op sized by a request\'s tensor (an input, an overridable initializer, its shape) is counted', async () => {
  assert.deepEqual(await ops('expand_fed'), ['Expand']);
  assert.deepEqual(await ops('expand_overridable'), ['Expand']);
  assert.deepEqual(await ops('pad_from_shape'), ['Pad']);
  assert.deepEqual(await ops('topk_fed'), ['TopK']);
  assert.deepEqual(await ops('function_shape_argument'), ['Expand']);
});

test('control flow always counts; in its subgraphs an outer initializer is a constant, an outer input is not; a custom domain\'s op always counts', async () => {
  assert.deepEqual(await ops('if_outer_initializer'), ['If']);
  assert.deepEqual(await ops('if_outer_input'), ['Expand', 'If']);
  assert.deepEqual(await ops('expand_custom_domain'), ['Expand']);
});
