// The optimisation pass: rewrites classic-ML (ai.onnx.ml) operators into standard ONNX operators
// that onnxruntime runs with vectorised kernels. Pure and synchronous; operators it does not handle
// are left as they are and reported in `skipped`. See docs/optimize.md.
import { Attrs, DT, GraphBuilder, decodeModel, encodeModel, toNumber, type GraphProto, type NodeProto, type TensorProto } from './proto.js';
import { Skip, rewriteSvmClassifier, rewriteSvmRegressor, type RbfPrecision } from './svm.js';

export type { RbfPrecision } from './svm.js';

export interface OptimizeOptions {
  /** Precision of the RBF path (see SvmOptions.rbf and docs/optimize.md). Default 'float32'. */
  rbf?: RbfPrecision;
  /** How Platt probabilities are finished (see SvmOptions.probabilities). Default 'operator'. */
  probabilities?: 'operator' | 'ops';
  /** Which operators to rewrite; all default to true. */
  ops?: { SVMClassifier?: boolean; SVMRegressor?: boolean; Scaler?: boolean };
}

export interface Rewrite {
  op: string;
  node: string;
  detail: string;
}

export interface Skipped {
  op: string;
  node: string;
  reason: string;
}

export interface OptimizeResult {
  /** The rewritten model, or the input bytes unchanged when nothing was rewritten. */
  bytes: Uint8Array;
  changed: boolean;
  rewrites: Rewrite[];
  skipped: Skipped[];
}

const ML_DOMAIN = 'ai.onnx.ml';
const HANDLED = ['SVMClassifier', 'SVMRegressor', 'Scaler'] as const;
type Handled = (typeof HANDLED)[number];
/** Default-domain opset added when the model imports none (onnxruntime 1.30 supports it fully). */
export const DEFAULT_OPSET = 15;
const MIN_OPSET = 13;

function elemTypes(g: GraphProto): Map<string, number> {
  const types = new Map<string, number>();
  for (const vi of [...(g.input ?? []), ...(g.valueInfo ?? []), ...(g.output ?? [])]) {
    const t = vi.type?.tensorType?.elemType;
    if (vi.name && t) types.set(vi.name, t);
  }
  for (const t of g.initializer ?? []) if (t.name && t.dataType) types.set(t.name, t.dataType);
  return types;
}

function inferOutputType(node: NodeProto, types: Map<string, number>): void {
  const out = node.output ?? [];
  const a = new Attrs(node);
  if (node.domain === ML_DOMAIN) {
    if (node.opType === 'Scaler' || node.opType === 'SVMRegressor') types.set(out[0], DT.FLOAT);
    if (node.opType === 'SVMClassifier' && out[1]) types.set(out[1], DT.FLOAT);
    if (node.opType === 'SVMClassifier' && out[0]) types.set(out[0], a.strings('classlabels_strings').length > 0 ? DT.STRING : DT.INT64);
  } else if (!node.domain && node.opType === 'Cast') {
    types.set(out[0], a.int('to', 0));
  }
}

/** Input `x` as float32: onnxruntime's SVM kernels cast double/int32/int64 inputs to float first. */
function asFloat(b: GraphBuilder, x: string, type: number | undefined): string {
  if (type === DT.FLOAT) return x;
  if (type === DT.DOUBLE || type === DT.INT32 || type === DT.INT64) return b.op('Cast', [x], { to: { int: DT.FLOAT } });
  throw new Skip(`input '${x}' has an unknown or unsupported element type`);
}

function rewriteScaler(node: NodeProto, x: string, type: number | undefined, b: GraphBuilder): string {
  const a = new Attrs(node);
  const scale = a.floats('scale');
  const offset = a.floats('offset');
  const out = node.output?.[0];
  if (!out) throw new Skip('no output');
  if (scale.length === 0 || scale.length !== offset.length) throw new Skip('scale/offset missing or of different lengths');
  const n = scale.length;
  const dims = n === 1 ? [] : [n];
  if (type === DT.DOUBLE) {
    // onnxruntime computes (x - offset) * scale in double, then casts to float
    const y = b.op('Mul', [b.op('Sub', [x, b.f64('offset', dims, offset)]), b.f64('scale', dims, scale)]);
    b.op('Cast', [y], { to: { int: DT.FLOAT } }, out);
  } else {
    const xf = type === DT.FLOAT ? x : asFloat(b, x, type);
    b.op('Mul', [b.op('Sub', [xf, b.f32('offset', dims, offset)]), b.f32('scale', dims, scale)], {}, out);
  }
  return `(x - offset) · scale over ${n} feature${n === 1 ? '' : 's'}${type === DT.DOUBLE ? ' in float64' : ''}`;
}

/**
 * Rewrites SVMClassifier, SVMRegressor and Scaler nodes of the main graph into standard operators,
 * keeping every output's name, element type and shape. Returns the input bytes untouched when
 * nothing was rewritten.
 */
export function optimizeModel(bytes: Uint8Array, options: OptimizeOptions = {}): OptimizeResult {
  const rbf = options.rbf ?? 'float32';
  const probabilities = options.probabilities ?? 'operator';
  const enabled = (op: Handled): boolean => options.ops?.[op] ?? true;
  const model = decodeModel(bytes);
  const g = model.graph;
  // An empty file decodes as an empty model: not a model with nothing to rewrite.
  if (!g) throw new Error('no graph (not an ONNX model?)');
  const rewrites: Rewrite[] = [];
  const skipped: Skipped[] = [];
  if (!g.node) return { bytes, changed: false, rewrites, skipped };

  const candidates = g.node.filter((n) => n.domain === ML_DOMAIN && (HANDLED as readonly string[]).includes(n.opType ?? ''));
  const nodeName = (n: NodeProto, i: number): string => n.name || `${n.opType}_${i}`;
  if (candidates.length === 0) return { bytes, changed: false, rewrites, skipped };

  const opsets = model.opsetImport ?? [];
  const dflt = opsets.find((o) => !o.domain);
  const opset = dflt ? toNumber(dflt.version) : DEFAULT_OPSET;
  if (opset < MIN_OPSET) {
    g.node.forEach((n, i) => {
      if (candidates.includes(n)) skipped.push({ op: n.opType ?? '', node: nodeName(n, i), reason: `default-domain opset ${opset} < ${MIN_OPSET}` });
    });
    return { bytes, changed: false, rewrites, skipped };
  }

  const taken = new Set<string>();
  for (const n of g.node) {
    if (n.name) taken.add(n.name);
    for (const v of [...(n.input ?? []), ...(n.output ?? [])]) taken.add(v);
  }
  for (const vi of [...(g.input ?? []), ...(g.output ?? []), ...(g.valueInfo ?? [])]) if (vi.name) taken.add(vi.name);
  for (const t of g.initializer ?? []) if (t.name) taken.add(t.name);

  const types = elemTypes(g);
  const newNodes: NodeProto[] = [];
  const newInits: TensorProto[] = [];
  g.node.forEach((node, i) => {
    const op = node.opType ?? '';
    const name = nodeName(node, i);
    if (!candidates.includes(node)) {
      newNodes.push(node);
      inferOutputType(node, types);
      return;
    }
    if (!enabled(op as Handled)) {
      skipped.push({ op, node: name, reason: 'disabled by options' });
      newNodes.push(node);
      inferOutputType(node, types);
      return;
    }
    const b = new GraphBuilder(name.replace(/[^A-Za-z0-9_.-]/g, '_'), taken);
    try {
      const x = node.input?.[0];
      if (!x) throw new Skip('no input');
      let detail: string;
      if (op === 'Scaler') detail = rewriteScaler(node, x, types.get(x), b);
      else if (op === 'SVMClassifier') detail = rewriteSvmClassifier(node, asFloat(b, x, types.get(x)), b, { rbf, opset, probabilities }).detail;
      else detail = rewriteSvmRegressor(node, asFloat(b, x, types.get(x)), b, { rbf, opset, probabilities }).detail;
      newNodes.push(...b.nodes);
      newInits.push(...b.initializers);
      rewrites.push({ op, node: name, detail });
    } catch (err) {
      if (!(err instanceof Skip)) throw err;
      skipped.push({ op, node: name, reason: err.message });
      newNodes.push(node);
    }
    inferOutputType(node, types);
  });

  if (rewrites.length === 0) return { bytes, changed: false, rewrites, skipped };
  g.node = newNodes;
  g.initializer = [...(g.initializer ?? []), ...newInits];
  if (!dflt) {
    model.opsetImport = [...opsets, { domain: '', version: DEFAULT_OPSET }];
    if (toNumber(model.irVersion) < 8) model.irVersion = 8;
  }
  // drop the ai.onnx.ml import only if nothing uses it any more? Keep it: harmless, and other
  // ML operators (ZipMap, …) may still need it.
  return { bytes: encodeModel(model), changed: true, rewrites, skipped };
}
