// Which class each column of a classifier's probabilities output stands for, read from the ONNX
// graph when it loads (Triton's classification extension answers "<value>:<index>:<label>").
// Only graphs holding an ai.onnx.ml *Classifier node are parsed: the protobuf library loads for
// them alone, and a graph without one names no classes.

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

/** The class links of an ONNX model's bytes; undefined when it has no classifier (or cannot be read: the load says why). */
export async function classLinks(bytes: Uint8Array): Promise<ClassLinks | undefined> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!buf.includes(ML_DOMAIN) || !buf.includes(CLASSIFIER)) return undefined;
  const { Attrs, decodeModel } = await import('../optimize/proto.js');
  let graph;
  try {
    graph = decodeModel(bytes).graph;
  } catch {
    return undefined;
  }
  const nodes = graph?.node ?? [];
  const producer = new Map<string, (typeof nodes)[number]>();
  for (const node of nodes) for (const o of node.output ?? []) producer.set(o, node);
  // A name through Identity nodes to the tensor it copies.
  const source = (name: string): string => {
    for (let hops = 0; hops <= nodes.length; hops++) {
      const node = producer.get(name);
      if (!node || (node.domain ?? '') !== '' || node.opType !== 'Identity') return name;
      name = node.input?.[0] ?? '';
    }
    return name;
  };
  const outputs = (graph?.output ?? []).map((o) => o.name ?? '');
  const links: ClassLinks = {};
  for (const output of outputs) {
    const tensor = source(output);
    const node = producer.get(tensor);
    if (!node || node.domain !== 'ai.onnx.ml' || !node.opType?.endsWith('Classifier') || node.output?.[1] !== tensor) continue;
    const attrs = new Attrs(node);
    const ints = ['classlabels_ints', 'classlabels_int64s'].find((a) => attrs.has(a));
    const classes = attrs.has('classlabels_strings') ? attrs.strings('classlabels_strings') : ints !== undefined ? attrs.ints(ints).map(String) : undefined;
    const labels: ClassColumns['labels'] = {};
    for (const other of outputs) {
      const from = source(other);
      if (from === node.output?.[0]) { if (classes) labels[other] = 'classes'; continue; }
      const argmax = producer.get(from);
      // ArgMax over the class axis of [N, classes]: the label is the column's index.
      if (argmax && (argmax.domain ?? '') === '' && argmax.opType === 'ArgMax' && source(argmax.input?.[0] ?? '') === tensor) {
        const axis = new Attrs(argmax).int('axis', 0);
        if (axis === 1 || axis === -1) labels[other] = 'index';
      }
    }
    links[output] = classes ? { classes, labels } : { labels };
  }
  return Object.keys(links).length > 0 ? links : undefined;
}
