// Which class each column of a classifier's probabilities output stands for, read from the ONNX
// graph when it loads (Triton's classification extension answers "<value>:<index>:<label>"; read
// once per load: graph-facts.ts). Only graphs holding an ai.onnx.ml *Classifier node are read: a
// graph without one names no classes.
import { graphFacts, type NodeFacts } from './graph-facts.js';

const ML_DOMAIN = Buffer.from('ai.onnx.ml', 'latin1');
const CLASSIFIER = Buffer.from('Classifier', 'latin1');

/** A graph output holding one value per class (a classifier's probabilities or scores). */
export interface ClassColumns {
  /** The classifier's classlabels_strings / classlabels_ints (classlabels_int64s: TreeEnsembleClassifier), one per column (absent: it names none). */
  classes?: string[];
  /**
   * Graph outputs holding the winning class, by what their values are: 'classes' (the classifier's
   * own label output: a value of `classes`) or 'index' (an ArgMax over the columns: a column index).
   */
  labels: Record<string, 'classes' | 'index'>;
}

/** Per graph output name. */
export type ClassLinks = Record<string, ClassColumns>;

/** An attribute's integers as the class links read them (its int, then its list); undefined when absent or a list of strings. */
function intsOf(node: NodeFacts, name: string): number[] | undefined {
  const a = node.attributes.get(name);
  if (a === undefined || (a.strings?.length ?? 0) > 0) return undefined;
  return [...(a.i === undefined ? [] : [a.i]), ...(a.ints ?? [])];
}

/** The class links of an ONNX model's bytes; undefined when it has no classifier (or cannot be read: the load says why). */
export async function classLinks(bytes: Uint8Array): Promise<ClassLinks | undefined> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!buf.includes(ML_DOMAIN) || !buf.includes(CLASSIFIER)) return undefined;
  let nodes: NodeFacts[];
  let outputs: string[];
  try {
    const { graph } = await graphFacts(bytes);
    nodes = graph.nodes;
    outputs = graph.outputs.map((o) => o.name);
  } catch {
    return undefined;
  }
  const producer = new Map<string, NodeFacts>();
  for (const node of nodes) for (const o of node.outputs) producer.set(o, node);
  // A name through Identity nodes to the tensor it copies.
  const source = (name: string): string => {
    for (let hops = 0; hops <= nodes.length; hops++) {
      const node = producer.get(name);
      if (!node || node.domain !== '' || node.opType !== 'Identity') return name;
      name = node.inputs[0] ?? '';
    }
    return name;
  };
  const links: ClassLinks = {};
  for (const output of outputs) {
    const tensor = source(output);
    const node = producer.get(tensor);
    if (!node || node.domain !== 'ai.onnx.ml' || !node.opType.endsWith('Classifier') || node.outputs[1] !== tensor) continue;
    const ints = intsOf(node, 'classlabels_ints') ?? intsOf(node, 'classlabels_int64s');
    const strings = node.attributes.get('classlabels_strings')?.strings;
    const classes = (strings?.length ?? 0) > 0 ? strings : ints?.map(String);
    const labels: ClassColumns['labels'] = {};
    for (const other of outputs) {
      const from = source(other);
      if (from === node.outputs[0]) { if (classes) labels[other] = 'classes'; continue; }
      const argmax = producer.get(from);
      // ArgMax over the class axis of [N, classes]: the label is the column's index.
      if (argmax && argmax.domain === '' && argmax.opType === 'ArgMax' && source(argmax.inputs[0] ?? '') === tensor) {
        const axis = intsOf(argmax, 'axis')?.[0] ?? 0;
        if (axis === 1 || axis === -1) labels[other] = 'index';
      }
    }
    links[output] = classes ? { classes, labels } : { labels };
  }
  return Object.keys(links).length > 0 ? links : undefined;
}
