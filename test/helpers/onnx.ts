// Small ONNX graphs built at test time with Debian's python3-onnx (/usr/bin/python3), for the
// element types and shapes a test needs: one Identity node from input 'x' to output 'y', or a Cast
// node when the input's element type is another (an output of a type no config field can feed); or
// a Reshape that loads but cannot run on one row.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export interface IdentityModel {
  /** Where to write it, relative to the folder given (e.g. 'id_u8/model.onnx'). */
  file: string;
  /** The ONNX element type, as onnx.TensorProto names it: UINT8, INT16, FLOAT16, ... */
  elem: string;
  /** Dimensions: numbers, or names for symbolic ones. */
  shape: Array<number | string>;
  /** The input's element type when it differs from `elem`: then 'y' is Cast(x) to `elem`. */
  inputElem?: string;
}

const MAKE = `
import json, os, sys, onnx
from onnx import TensorProto, helper
for m in json.loads(sys.argv[2]):
    elem = getattr(TensorProto, m['elem'])
    source = getattr(TensorProto, m.get('inputElem', m['elem']))
    node = helper.make_node('Identity', ['x'], ['y']) if source == elem else helper.make_node('Cast', ['x'], ['y'], to=elem)
    x = helper.make_tensor_value_info('x', source, m['shape'])
    y = helper.make_tensor_value_info('y', elem, m['shape'])
    graph = helper.make_graph([node], 'identity', [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])
    model.ir_version = 8
    path = os.path.join(sys.argv[1], m['file'])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save(model, path)
`;

/** Writes Identity (or Cast) graphs (input 'x' -> output 'y') under `dir`; returns `dir`. */
export function writeIdentityModels(dir: string, models: readonly IdentityModel[]): string {
  execFileSync('/usr/bin/python3', ['-c', MAKE, dir, JSON.stringify(models)], { stdio: 'pipe' });
  return dir;
}

export const identityFile = (dir: string, model: IdentityModel): string => join(dir, model.file);

const MAKE_RESHAPE = `
import os, sys, onnx
from onnx import TensorProto, helper
x = helper.make_tensor_value_info('x', TensorProto.FLOAT, ['N', 3])
y = helper.make_tensor_value_info('y', TensorProto.FLOAT, ['M', 4])
shape = helper.make_tensor('shape', TensorProto.INT64, [2], [-1, 4])
graph = helper.make_graph([helper.make_node('Reshape', ['x', 'shape'], ['y'])], 'reshape', [x], [y], [shape])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])
model.ir_version = 8
path = os.path.join(sys.argv[1], sys.argv[2])
os.makedirs(os.path.dirname(path), exist_ok=True)
onnx.save(model, path)
`;

/**
 * Writes, at `file` under `dir`, a graph that loads but fails whenever it runs on fewer than 4
 * rows: input 'x' [N, 3] float reshaped to [-1, 4] as output 'y' (onnxruntime: "The input tensor
 * cannot be reshaped to the requested shape"). The symbolic N keeps the mismatch out of load-time
 * shape inference. Returns `dir`.
 */
export function writeReshapeFailingModel(dir: string, file: string): string {
  execFileSync('/usr/bin/python3', ['-c', MAKE_RESHAPE, dir, file], { stdio: 'pipe' });
  return dir;
}

const MAKE_TILE = `
import os, sys, onnx
from onnx import TensorProto, helper
width = int(sys.argv[3])
x = helper.make_tensor_value_info('x', TensorProto.FLOAT, ['N', 1])
y = helper.make_tensor_value_info('y', TensorProto.FLOAT, ['N', width])
repeats = helper.make_tensor('repeats', TensorProto.INT64, [2], [1, width])
graph = helper.make_graph([helper.make_node('Tile', ['x', 'repeats'], ['y'])], 'tile', [x], [y], [repeats])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])
model.ir_version = 8
path = os.path.join(sys.argv[1], sys.argv[2])
os.makedirs(os.path.dirname(path), exist_ok=True)
onnx.save(model, path)
`;

/** Writes, at `file` under `dir`, a graph whose output is wide from a small input: 'x' [N, 1] float tiled to 'y' [N, width]. Returns `dir`. */
export function writeTileModel(dir: string, file: string, width: number): string {
  execFileSync('/usr/bin/python3', ['-c', MAKE_TILE, dir, file, String(width)], { stdio: 'pipe' });
  return dir;
}

const GRAPH_FOLDERS_PRELUDE = `
import os, sys, onnx
from onnx import TensorProto as T, helper as h
def save(name, nodes, inputs, outputs, inits=()):
    model = h.make_model(h.make_graph(nodes, name, inputs, outputs, list(inits)), opset_imports=[h.make_opsetid('', 13)])
    model.ir_version = 8
    os.makedirs(os.path.join(sys.argv[1], name))
    onnx.save(model, os.path.join(sys.argv[1], name, 'model.onnx'))
v = h.make_tensor_value_info
`;

/**
 * Runs `graphs`, Python that builds ONNX graphs with Debian's python3-onnx, after a prelude giving it T (TensorProto),
 * h (helper), v (make_tensor_value_info) and save(name, nodes, inputs, outputs, inits=()), which writes
 * <dir>/<name>/model.onnx (opset 13, IR 8): one raw model folder per graph.
 */
export function writeGraphFolders(dir: string, graphs: string): void {
  execFileSync('/usr/bin/python3', ['-c', GRAPH_FOLDERS_PRELUDE + graphs, dir], { stdio: 'pipe' });
}

// y1 = ReduceSum(A) after n[0] rounds of A = A x I (128 x 128): the work grows with n, the answer does not.
const MAKE_LOOP = `
import sys, onnx
from onnx import TensorProto as T, helper as h
size = 128
eye = [1.0 if r == c else 0.0 for r in range(size) for c in range(size)]
body = h.make_graph(
    [h.make_node('MatMul', ['a_in', 'eye'], ['a_out']), h.make_node('Identity', ['cond_in'], ['cond_out'])], 'body',
    [h.make_tensor_value_info('i', T.INT64, []), h.make_tensor_value_info('cond_in', T.BOOL, []), h.make_tensor_value_info('a_in', T.FLOAT, [size, size])],
    [h.make_tensor_value_info('cond_out', T.BOOL, []), h.make_tensor_value_info('a_out', T.FLOAT, [size, size])])
inits = [h.make_tensor('eye', T.FLOAT, [size, size], eye), h.make_tensor('true', T.BOOL, [], [True]),
         h.make_tensor('start', T.FLOAT, [size, size], [1.0] * (size * size)), h.make_tensor('one', T.INT64, [1], [1])]
if sys.argv[2] == 'rows':
    # n [N, 1]: the largest n of the batch rounds; y [N, 1] = 0 * n + ReduceSum(A) (one answer per row).
    nodes = [h.make_node('ReduceMax', ['n'], ['trips'], keepdims=0), h.make_node('Loop', ['trips', 'true', 'start'], ['a_final'], body=body),
             h.make_node('ReduceSum', ['a_final'], ['s'], keepdims=0), h.make_node('Cast', ['n'], ['nf'], to=T.FLOAT),
             h.make_node('Mul', ['nf', 'zero'], ['z']), h.make_node('Add', ['z', 's'], ['y'])]
    inits.append(h.make_tensor('zero', T.FLOAT, [], [0.0]))
    graph = h.make_graph(nodes, 'slow_loop', [h.make_tensor_value_info('n', T.INT64, ['N', 1])], [h.make_tensor_value_info('y', T.FLOAT, ['N', 1])], inits)
else:
    nodes = [h.make_node('Squeeze', ['n'], ['trips']), h.make_node('Loop', ['trips', 'true', 'start'], ['a_final'], body=body),
             h.make_node('ReduceSum', ['a_final'], ['y'], keepdims=1), h.make_node('Reshape', ['y', 'one'], ['y1'])]
    graph = h.make_graph(nodes, 'slow_loop', [h.make_tensor_value_info('n', T.INT64, [1])], [h.make_tensor_value_info('y1', T.FLOAT, [1])], inits)
model = h.make_model(graph, opset_imports=[h.make_opsetid('', 13)])
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, sys.argv[1])
`;

/**
 * Writes at `file` a model whose run takes as long as its input says: int64 'n' [1] rounds of an ONNX
 * Loop (a 128 x 128 MatMul each), cheap on zeros (no round); its output 'y1' [1] is 16384 whatever n.
 * With `rows`, a batched one: 'n' [N, 1] (the batch's largest n rounds), 'y' [N, 1] all 16384.
 */
export function writeLoopModel(file: string, shape: 'one' | 'rows' = 'one'): string {
  execFileSync('/usr/bin/python3', ['-c', MAKE_LOOP, file, shape], { stdio: 'pipe' });
  return file;
}
