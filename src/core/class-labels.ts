// Which class each column of a classifier's probabilities output stands for, read from the ONNX
// graph when it loads (Triton's classification extension answers "<value>:<index>:<label>").
// Only graphs holding an ai.onnx.ml *Classifier node are parsed: the protobuf library loads for
// them alone, and a graph without one names no classes.
import { onnxFields } from './onnx-fields.js';

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

/** What the class links need of a node: its kind, wiring and the few attributes read (others are skipped unread). */
interface NodeHead {
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  /** classlabels_strings / classlabels_ints / classlabels_int64s (classifiers) and axis (ArgMax). */
  strings: Map<string, string[]>;
  ints: Map<string, number[]>;
}

const WANTED = new Set(['classlabels_strings', 'classlabels_ints', 'classlabels_int64s', 'axis']);

/**
 * The graph's nodes and output names, read field by field (onnx-fields.ts): a tree ensemble's
 * node attributes (thousands of numbers each) are skipped by their length.
 */
async function readGraph(bytes: Uint8Array): Promise<{ nodes: NodeHead[]; outputs: string[] }> {
  const { r, fields } = await onnxFields(bytes);
  const text = new TextDecoder();
  const nameOf = (end: number): string => {
    let name = '';
    fields(end, (field, wire) => field === 1 && wire === 2 && ((name = r.string()), true));
    return name;
  };
  const node = (end: number): NodeHead => {
    const head: NodeHead = { opType: '', domain: '', inputs: [], outputs: [], strings: new Map(), ints: new Map() };
    fields(end, (field, wire) => {
      if (wire !== 2) return false;
      if (field === 1) head.inputs.push(r.string());
      else if (field === 2) head.outputs.push(r.string());
      else if (field === 4) head.opType = r.string();
      else if (field === 7) head.domain = r.string();
      else if (field === 5) attribute(r.uint32() + r.pos, head);
      else return false;
      return true;
    });
    return head;
  };
  // AttributeProto: name 1, i 3, ints 8 (packed or not), strings 9. Its name comes first as ONNX writes it; one that
  // does not is read whole all the same (a later name decides whether it is kept).
  const attribute = (end: number, head: NodeHead): void => {
    let name = '';
    const ints: number[] = [];
    const strings: string[] = [];
    fields(end, (field, wire) => {
      if (field === 1 && wire === 2) name = r.string();
      else if (name !== '' && !WANTED.has(name)) { r.pos = end; return true; }
      else if ((field === 3 || field === 8) && wire === 0) ints.push(Number(r.int64().toString()));
      else if (field === 8 && wire === 2) { const stop = r.uint32() + r.pos; while (r.pos < stop) ints.push(Number(r.int64().toString())); }
      else if (field === 9 && wire === 2) strings.push(text.decode(r.bytes()));
      else return false;
      return true;
    });
    if (!WANTED.has(name)) return;
    if (strings.length > 0) head.strings.set(name, strings);
    else head.ints.set(name, ints);
  };
  const nodes: NodeHead[] = [];
  const outputs: string[] = [];
  fields(bytes.length, (field, wire) => {
    if (field !== 7 || wire !== 2) return false;
    const end = r.uint32() + r.pos;
    fields(end, (f, w) => {
      if (w !== 2) return false;
      if (f === 1) nodes.push(node(r.uint32() + r.pos));
      else if (f === 12) outputs.push(nameOf(r.uint32() + r.pos));
      else return false;
      return true;
    });
    return true;
  });
  return { nodes, outputs };
}

/** The class links of an ONNX model's bytes; undefined when it has no classifier (or cannot be read: the load says why). */
export async function classLinks(bytes: Uint8Array): Promise<ClassLinks | undefined> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!buf.includes(ML_DOMAIN) || !buf.includes(CLASSIFIER)) return undefined;
  let graph: { nodes: NodeHead[]; outputs: string[] };
  try {
    graph = await readGraph(bytes);
  } catch {
    return undefined;
  }
  const { nodes, outputs } = graph;
  const producer = new Map<string, NodeHead>();
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
    const ints = node.ints.get('classlabels_ints') ?? node.ints.get('classlabels_int64s');
    const classes = node.strings.get('classlabels_strings') ?? ints?.map(String);
    const labels: ClassColumns['labels'] = {};
    for (const other of outputs) {
      const from = source(other);
      if (from === node.outputs[0]) { if (classes) labels[other] = 'classes'; continue; }
      const argmax = producer.get(from);
      // ArgMax over the class axis of [N, classes]: the label is the column's index.
      if (argmax && argmax.domain === '' && argmax.opType === 'ArgMax' && source(argmax.inputs[0] ?? '') === tensor) {
        const axis = argmax.ints.get('axis')?.[0] ?? 0;
        if (axis === 1 || axis === -1) labels[other] = 'index';
      }
    }
    links[output] = classes ? { classes, labels } : { labels };
  }
  return Object.keys(links).length > 0 ? links : undefined;
}
