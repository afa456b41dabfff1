// Small ONNX graphs built at test time with Debian's python3-onnx (/usr/bin/python3), for the
// element types and shapes a test needs: one Identity node from input 'x' to output 'y'.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export interface IdentityModel {
  /** Where to write it, relative to the folder given (e.g. 'id_u8/model.onnx'). */
  file: string;
  /** The ONNX element type, as onnx.TensorProto names it: UINT8, INT16, FLOAT16, ... */
  elem: string;
  /** Dimensions: numbers, or names for symbolic ones. */
  shape: Array<number | string>;
}

const MAKE = `
import json, os, sys, onnx
from onnx import TensorProto, helper
for m in json.loads(sys.argv[2]):
    elem = getattr(TensorProto, m['elem'])
    vi = lambda n: helper.make_tensor_value_info(n, elem, m['shape'])
    graph = helper.make_graph([helper.make_node('Identity', ['x'], ['y'])], 'identity', [vi('x')], [vi('y')])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])
    model.ir_version = 8
    path = os.path.join(sys.argv[1], m['file'])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save(model, path)
`;

/** Writes Identity graphs (input 'x' -> output 'y') under `dir`; returns `dir`. */
export function writeIdentityModels(dir: string, models: readonly IdentityModel[]): string {
  execFileSync('/usr/bin/python3', ['-c', MAKE, dir, JSON.stringify(models)], { stdio: 'pipe' });
  return dir;
}

export const identityFile = (dir: string, model: IdentityModel): string => join(dir, model.file);
