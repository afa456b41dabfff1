// Whether a graph input or output the session reports with no dims is a scalar or declares no shape
// at all (any rank): onnxruntime-node says [] of both; and the names of tensors whose name holds a
// NUL, which onnxruntime-node reports cut at the NUL. Read from the ONNX graph field by field
// (onnx-fields.ts).
import type { ModelSignature } from '../runtime/types.js';
import { onnxFields } from './onnx-fields.js';

/** Names of the graph's inputs and outputs whose tensor type has no `shape` field. */
async function unrankedNames(bytes: Uint8Array): Promise<Set<string>> {
  const { r, fields, delimited } = await onnxFields(bytes);
  const unranked = new Set<string>();
  // ValueInfoProto: name 1, type 2; TypeProto: tensor_type 1; TypeProto.Tensor: shape 2.
  const valueInfo = (end: number): void => {
    let name = '';
    let tensor = false;
    let shaped = false;
    fields(end, (field, wire) => {
      if (wire !== 2) return false;
      if (field === 1) {
        name = r.string();
        return true;
      }
      if (field !== 2) return false;
      return delimited((typeEnd) => fields(typeEnd, (f, w) => {
        if (f !== 1 || w !== 2) return false;
        tensor = true;
        // Its shape is only looked for (then skipped): a shape with no dims is a scalar's.
        return delimited((tensorEnd) => fields(tensorEnd, (g, x) => {
          if (g === 2 && x === 2) shaped = true;
          return false;
        }));
      }));
    });
    if (tensor && !shaped) unranked.add(name);
  };
  // ModelProto: graph 7; GraphProto: input 11, output 12.
  fields(bytes.length, (field, wire) => field === 7 && wire === 2 && delimited((end) => fields(end, (f, w) => w === 2 && (f === 11 || f === 12) && delimited(valueInfo))));
  return unranked;
}

/**
 * The session's signature with each tensor it reports as [] that the graph declares no shape for
 * marked `shapeDeclared: false` (a true scalar stays []). Unchanged when no tensor is reported as []
 * (nothing read) or the graph cannot be read (the session loaded it: left as the session says).
 */
export async function withDeclaredRanks(signature: ModelSignature, bytes: Uint8Array): Promise<ModelSignature> {
  const bare = [...signature.inputs, ...signature.outputs].some((t) => t.type !== 'non-tensor' && t.shape.length === 0);
  if (!bare) return signature;
  let unranked: Set<string>;
  try {
    unranked = await unrankedNames(bytes);
  } catch {
    return signature;
  }
  const mark = (t: ModelSignature['inputs'][number]) => (t.type !== 'non-tensor' && t.shape.length === 0 && unranked.has(t.name) ? { ...t, shapeDeclared: false as const } : t);
  return { inputs: signature.inputs.map(mark), outputs: signature.outputs.map(mark) };
}

/** The names of the graph's inputs and outputs (ValueInfoProto name 1 of GraphProto input 11, output 12). */
async function tensorNames(bytes: Uint8Array): Promise<string[]> {
  const { r, fields, delimited } = await onnxFields(bytes);
  const names: string[] = [];
  const valueInfo = (end: number): void => fields(end, (field, wire) => {
    if (field !== 1 || wire !== 2) return false;
    names.push(r.string());
    return true;
  });
  fields(bytes.length, (field, wire) => field === 7 && wire === 2 && delimited((end) => fields(end, (f, w) => w === 2 && (f === 11 || f === 12) && delimited(valueInfo))));
  return names;
}

/**
 * The session's signature with each name onnxruntime-node cut at a NUL ("a" for the graph's "a\0b")
 * given back whole, so the load can refuse the tensor by its real name (onnxruntime cannot be passed
 * it) rather than fail running it. Unchanged when the graph has no such name or cannot be read.
 */
export async function withGraphNames(signature: ModelSignature, bytes: Uint8Array): Promise<ModelSignature> {
  let names: string[];
  try {
    names = await tensorNames(bytes);
  } catch {
    return signature;
  }
  const whole = new Map(names.filter((n) => n.includes('\0')).map((n) => [n.slice(0, n.indexOf('\0')), n]));
  if (whole.size === 0) return signature;
  const complete = (t: ModelSignature['inputs'][number]) => (whole.has(t.name) && !names.includes(t.name) ? { ...t, name: whole.get(t.name)! } : t);
  return { inputs: signature.inputs.map(complete), outputs: signature.outputs.map(complete) };
}
