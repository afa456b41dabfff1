// Whether a graph input or output the session reports with no dims is a scalar or declares no shape
// at all (any rank): onnxruntime-node says [] of both; and the names of tensors whose name holds a
// NUL, which onnxruntime-node reports cut at the NUL. Read from the ONNX graph (graph-facts.ts).
import type { ModelSignature } from '../runtime/types.js';
import { graphFacts, type ValueFacts } from './graph-facts.js';

/** The graph's inputs and outputs (each read once per bytes: graph-facts.ts). */
async function graphTensors(bytes: Uint8Array): Promise<ValueFacts[]> {
  const { graph } = await graphFacts(bytes);
  return [...graph.inputs, ...graph.outputs];
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
    unranked = new Set((await graphTensors(bytes)).filter((t) => t.unshaped).map((t) => t.name));
  } catch {
    return signature;
  }
  const mark = (t: ModelSignature['inputs'][number]) => (t.type !== 'non-tensor' && t.shape.length === 0 && unranked.has(t.name) ? { ...t, shapeDeclared: false as const } : t);
  return { inputs: signature.inputs.map(mark), outputs: signature.outputs.map(mark) };
}

/**
 * The session's signature with each name onnxruntime-node cut at a NUL ("a" for the graph's "a\0b")
 * given back whole, so the load can refuse the tensor by its real name (onnxruntime cannot be passed
 * it) rather than fail running it. Unchanged when the graph has no such name or cannot be read.
 */
export async function withGraphNames(signature: ModelSignature, bytes: Uint8Array): Promise<ModelSignature> {
  let names: string[];
  try {
    names = (await graphTensors(bytes)).map((t) => t.name);
  } catch {
    return signature;
  }
  const whole = new Map(names.filter((n) => n.includes('\0')).map((n) => [n.slice(0, n.indexOf('\0')), n]));
  if (whole.size === 0) return signature;
  const complete = (t: ModelSignature['inputs'][number]) => (whole.has(t.name) && !names.includes(t.name) ? { ...t, name: whole.get(t.name)! } : t);
  return { inputs: signature.inputs.map(complete), outputs: signature.outputs.map(complete) };
}
