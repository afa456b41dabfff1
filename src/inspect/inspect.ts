// What an .onnx file declares, read from its protobuf (no onnxruntime session): inputs and outputs
// with element types and shapes (symbolic dimensions by name), opset imports, the operators used
// and which of them the load-time optimiser rewrites, metadata_props and the file's size.
import { Attrs, DT, decodeModel, toNumber, type GraphProto, type ValueInfoProto } from '../optimize/proto.js';
import { optimizeModel } from '../optimize/index.js';

export interface TensorDescription {
  name: string;
  /** ONNX element type as modelserve names it (float32, int64, string, ...), or e.g. 'map', 'sequence'. */
  type: string;
  /** Fixed sizes as numbers, symbolic dimensions by their name, '?' for an unnamed unknown one. */
  shape: Array<number | string>;
  /** false when the graph declares no shape at all (any rank; `shape` is then [], which would read as a scalar). */
  shapeDeclared?: false;
  /** A map's or sequence's whole type, e.g. 'sequence<map<int64, float32>>' (skl2onnx's ZipMap). */
  valueType?: string;
  /** The class labels an output can hold: the label output of an ai.onnx.ml classifier (its classlabels_*). */
  classes?: string[];
}

export interface OperatorUse {
  domain: string;
  opType: string;
  count: number;
  /** 'rewritten' when the optimiser turns it into dense ops, 'kept: <reason>' when it would but cannot. */
  optimizer?: string;
}

export interface ModelDescription {
  file: string;
  bytes: number;
  irVersion: number;
  producer: string;
  opsets: Array<{ domain: string; version: number }>;
  inputs: TensorDescription[];
  outputs: TensorDescription[];
  operators: OperatorUse[];
  metadata: Record<string, string>;
  /** The files holding initializers' data (external data), relative to the model file, when there are any. */
  externalData?: string[];
}

const ELEMENT_NAMES: Record<number, string> = {
  [DT.FLOAT]: 'float32', [DT.DOUBLE]: 'float64', [DT.FLOAT16]: 'float16', [DT.BFLOAT16]: 'bfloat16',
  [DT.INT8]: 'int8', [DT.INT16]: 'int16', [DT.INT32]: 'int32', [DT.INT64]: 'int64',
  [DT.UINT8]: 'uint8', [DT.UINT16]: 'uint16', [DT.UINT32]: 'uint32', [DT.UINT64]: 'uint64',
  [DT.STRING]: 'string', [DT.BOOL]: 'bool',
};

const elementName = (elemType: number | null | undefined): string => ELEMENT_NAMES[elemType ?? 0] ?? `elem_type ${elemType}`;

type TypeProto = NonNullable<ValueInfoProto['type']>;

/** A type as text, maps and sequences with what they hold: 'sequence<map<int64, float32>>'. */
function typeText(t: TypeProto | null | undefined): string {
  if (t?.tensorType) return elementName(t.tensorType.elemType);
  if (t?.mapType) return `map<${elementName(t.mapType.keyType)}, ${typeText(t.mapType.valueType)}>`;
  if (t?.sequenceType) return `sequence<${typeText(t.sequenceType.elemType)}>`;
  return 'unknown';
}

function describeValue(v: ValueInfoProto): TensorDescription {
  const t = v.type;
  const name = v.name ?? '';
  if (t?.tensorType) {
    // No shape message is an undeclared shape (any rank); a shape with no dims is a scalar.
    if (!t.tensorType.shape) return { name, type: elementName(t.tensorType.elemType), shape: [], shapeDeclared: false };
    const dims = t.tensorType.shape.dim ?? [];
    const shape = dims.map((d) => (d.dimParam ? d.dimParam : d.dimValue !== undefined && d.dimValue !== null && toNumber(d.dimValue) > 0 ? toNumber(d.dimValue) : '?'));
    return { name, type: elementName(t.tensorType.elemType), shape };
  }
  if (t?.mapType) return { name, type: 'map', shape: [], valueType: typeText(t) };
  if (t?.sequenceType) return { name, type: 'sequence', shape: [], valueType: typeText(t) };
  return { name, type: 'unknown', shape: [] };
}

/**
 * The class labels of a graph output that is an ai.onnx.ml classifier's label output (its first),
 * directly or through Identity nodes, as skl2onnx and onnxmltools export them; else undefined.
 */
function classLabels(graph: GraphProto, output: string): string[] | undefined {
  const producer = new Map<string, (typeof nodes)[number]>();
  const nodes = graph.node ?? [];
  for (const node of nodes) for (const o of node.output ?? []) producer.set(o, node);
  let name = output;
  for (let hops = 0; hops <= nodes.length; hops++) {
    const node = producer.get(name);
    if (!node) return undefined;
    if ((node.domain ?? '') === '' && node.opType === 'Identity') {
      name = node.input?.[0] ?? '';
      continue;
    }
    // LinearClassifier, SVMClassifier, TreeEnsembleClassifier (not ZipMap, which also names classes).
    if (node.domain !== 'ai.onnx.ml' || !node.opType?.endsWith('Classifier') || node.output?.[0] !== name) return undefined;
    const attrs = new Attrs(node);
    if (attrs.has('classlabels_strings')) return attrs.strings('classlabels_strings');
    // TreeEnsembleClassifier names its integer classes classlabels_int64s.
    for (const ints of ['classlabels_ints', 'classlabels_int64s']) if (attrs.has(ints)) return attrs.ints(ints).map(String);
    return undefined;
  }
  return undefined;
}

/** Describes ONNX bytes; throws when they are not an ONNX model. */
export function describeModel(bytes: Uint8Array, file: string): ModelDescription {
  const model = decodeModel(bytes);
  const graph = model.graph;
  if (!graph) throw new Error('no graph (not an ONNX model?)');
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const external = [...new Set((graph.initializer ?? []).flatMap((t) => (t.externalData ?? []).filter((e) => e.key === 'location').map((e) => e.value ?? '')))];
  const counts = new Map<string, OperatorUse>();
  for (const node of graph.node ?? []) {
    const domain = node.domain || 'ai.onnx';
    const key = `${domain}:${node.opType}`;
    const use = counts.get(key) ?? { domain, opType: node.opType ?? '', count: 0 };
    use.count++;
    counts.set(key, use);
  }
  // The optimiser itself says what it would do (its preconditions included), on a copy of the bytes.
  const optimized = optimizeModel(bytes);
  for (const r of optimized.rewrites) {
    const use = counts.get(`ai.onnx.ml:${r.op}`);
    if (use) use.optimizer = 'rewritten';
  }
  for (const s of optimized.skipped) {
    const use = counts.get(`ai.onnx.ml:${s.op}`);
    if (use && use.optimizer === undefined) use.optimizer = `kept: ${s.reason}`;
  }
  return {
    file,
    bytes: bytes.byteLength,
    irVersion: toNumber(model.irVersion),
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(' '),
    opsets: (model.opsetImport ?? []).map((o) => ({ domain: o.domain || 'ai.onnx', version: toNumber(o.version) })),
    inputs: (graph.input ?? []).filter((i) => !initializers.has(i.name)).map(describeValue),
    outputs: (graph.output ?? []).map((o) => {
      const classes = classLabels(graph, o.name ?? '');
      return classes ? { ...describeValue(o), classes } : describeValue(o);
    }),
    operators: [...counts.values()],
    metadata: Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? ''])),
    ...(external.length > 0 && { externalData: external }),
  };
}

function formatBytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

/** A tensor's type and shape as inspect and init's comments show them; a map or sequence by its whole type. */
export function signatureText(t: TensorDescription, typeWidth = 0): string {
  if (t.valueType !== undefined) return t.valueType;
  return `${t.type.padEnd(typeWidth)} ${t.shapeDeclared === false ? '(shape not declared)' : `[${t.shape.join(', ')}]`}`;
}

/** The human-readable form printed by `modelserve inspect`. */
export function formatDescription(d: ModelDescription): string {
  const lines = [`${d.file}: ${formatBytes(d.bytes)}, ONNX IR ${d.irVersion}${d.producer ? `, made by ${d.producer}` : ''}`];
  lines.push(`opsets: ${d.opsets.map((o) => `${o.domain} ${o.version}`).join(', ')}`);
  const width = Math.max(...[...d.inputs, ...d.outputs].map((t) => t.name.length), 4);
  lines.push('inputs:');
  for (const t of d.inputs) lines.push(`  ${t.name.padEnd(width)}  ${signatureText(t, 8)}`);
  lines.push('outputs:');
  for (const t of d.outputs) lines.push(`  ${t.name.padEnd(width)}  ${signatureText(t, 8)}`);
  lines.push('operators:');
  for (const o of d.operators) {
    const note = o.optimizer === 'rewritten' ? '  (the optimiser rewrites it into dense ops)' : o.optimizer ? `  (the optimiser keeps it: ${o.optimizer.slice(6)})` : '';
    lines.push(`  ${o.domain === 'ai.onnx' ? '' : `${o.domain}.`}${o.opType}${o.count > 1 ? ` ×${o.count}` : ''}${note}`);
  }
  if (d.externalData) lines.push(`weights in: ${d.externalData.join(', ')} (external data, beside the model file)`);
  const meta = Object.entries(d.metadata);
  if (meta.length > 0) {
    lines.push('metadata:');
    for (const [k, v] of meta) lines.push(`  ${k}: ${v}`);
  }
  return lines.join('\n');
}
