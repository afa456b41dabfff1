// Rewrites ai.onnx.ml SVMClassifier / SVMRegressor into standard ONNX operators (MatMul, Exp, …)
// reproducing onnxruntime's CPU kernels (onnxruntime/core/providers/cpu/ml/svmclassifier.cc,
// svmregressor.cc, ml_common.h), including their quirks:
//  - binary SVC without prob_a: label = classlabels[0] when the decision value > 0, else
//    classlabels[1]; `probabilities` = [-f, f] for post_transform NONE, [1-σ(f), σ(f)] for
//    LOGISTIC and [1-f, f] (untransformed) for SOFTMAX/SOFTMAX_ZERO. PROBIT leaves the second
//    column unwritten (uninitialised memory) -> not rewritten.
//  - one-vs-one voting: classifier (i, j) votes i when its value > 0, else j; ties go to the lowest
//    class index (std::max_element == ArgMax without select_last_index).
//  - SVC with prob_a/prob_b: Platt sigmoid 1 - logistic(f·A + B) clipped to [1e-7, 1-1e-7], then
//    libsvm's pairwise coupling, an iterative solve that stops at a tolerance (so for two classes
//    rows within ~0.005 of 0.5 come out as exactly [0.5, 0.5]). Reproduced either by a tiny
//    SVMClassifier tail over the decision values (exact, any class count) or, for two classes, by
//    unrolling the loop in standard operators. The label still comes from the vote.
import { Attrs, DT, GraphBuilder, attr, type NodeProto } from './proto.js';

export class Skip extends Error {}

export type RbfPrecision = 'float64' | 'mixed' | 'float32';

export interface SvmOptions {
  /**
   * Precision of the RBF path. 'float32' (default): exponent, exp and the coefficient dot in
   * float32, support vectors interleaved by coefficient sign (see interleaveBySign). 'mixed':
   * exponent and exp in float32, the coefficient dot in float64 (as onnxruntime's kernel
   * accumulates). 'float64': everything in float64 (closest, slowest).
   */
  rbf: RbfPrecision;
  /**
   * How Platt probabilities (prob_a/prob_b) are finished from the decision values.
   * 'operator' (default): a tiny SVMClassifier over the K decision values (linear kernel, unit
   * support vectors) runs onnxruntime's own Platt + pairwise-coupling code, so the result is
   * exact for any class count and costs microseconds. 'ops': standard operators only, the binary
   * coupling loop unrolled (multi-class probabilities are then left unrewritten).
   */
  probabilities: 'operator' | 'ops';
  /** Default-domain opset of the output model (decides Reduce* signatures). */
  opset: number;
}

type Kernel = 'LINEAR' | 'POLY' | 'RBF' | 'SIGMOID';
type Transform = 'NONE' | 'LOGISTIC' | 'SOFTMAX' | 'SOFTMAX_ZERO' | 'PROBIT';

const f = Math.fround;

interface KernelParams {
  kernel: Kernel;
  gamma: number;
  coef0: number;
  degree: number;
}

function kernelParams(a: Attrs): KernelParams {
  const kernel = a.string('kernel_type', 'LINEAR').toUpperCase();
  if (!['LINEAR', 'POLY', 'RBF', 'SIGMOID'].includes(kernel)) throw new Skip(`unknown kernel_type ${kernel}`);
  const p = a.floats('kernel_params');
  return { kernel: kernel as Kernel, gamma: p[0] ?? 0, coef0: p[1] ?? 0, degree: p[2] ?? 0 };
}

function transformOf(a: Attrs): Transform {
  const t = a.string('post_transform', 'NONE');
  if (!['NONE', 'LOGISTIC', 'SOFTMAX', 'SOFTMAX_ZERO', 'PROBIT'].includes(t)) throw new Skip(`unknown post_transform ${t}`);
  return t as Transform;
}

/** Emits the [N, V] kernel matrix K(x, sv); float64 (`double`) in the 'float64' and 'mixed' RBF modes. */
function kernelMatrix(
  b: GraphBuilder,
  x: string,
  sv: number[],
  V: number,
  F: number,
  kp: KernelParams,
  opts: SvmOptions,
): { k: string; double: boolean } {
  if (kp.kernel === 'RBF') {
    // exp(-γ‖x − sv‖²) with ‖x − sv‖² = ‖x‖² + ‖sv‖² − 2·x·svᵀ, expanded so that one GEMM yields
    // the exponent: [x, ‖x‖²] · [2γ·svᵀ ; −γ] + (−γ‖sv‖²), ‖sv‖² computed in float64 here.
    // Not clamped at 0: a distance that rounds below zero (x ≈ sv) gives exp(+γ·δ) with
    // δ ≤ ε·(‖x‖² + ‖sv‖²), i.e. K ≤ 1 + ~1e-6, the same size as the rounding itself, while a
    // Min node would cost one more pass over the [N, V] matrix (10–20 % measured on svc.onnx).
    const dbl = opts.rbf === 'float64';
    const cst = dbl ? b.f64.bind(b) : b.f32.bind(b);
    const B = new Float64Array((F + 1) * V);
    const bias = new Float64Array(V);
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let j = 0; j < F; j++) {
        const val = sv[v * F + j];
        B[j * V + v] = 2 * kp.gamma * val;
        s += val * val;
      }
      B[F * V + v] = -kp.gamma;
      bias[v] = -kp.gamma * s;
    }
    const x0 = dbl ? b.op('Cast', [x], { to: { int: DT.DOUBLE } }) : x;
    const xsq = reduce(b, 'ReduceSumSquare', x0, opts.opset);
    const xa = b.op('Concat', [x0, xsq], { axis: { int: 1 } });
    const arg = b.op('Gemm', [xa, cst('sv_gemm', [F + 1, V], B), cst('sv_bias', [V], bias)]);
    const k = b.op('Exp', [arg]);
    if (opts.rbf === 'mixed') return { k: b.op('Cast', [k], { to: { int: DT.DOUBLE } }), double: true };
    return { k, double: dbl };
  }
  const svT = new Float32Array(F * V);
  for (let v = 0; v < V; v++) for (let j = 0; j < F; j++) svT[j * V + v] = sv[v * F + j];
  let k = b.op('MatMul', [x, b.f32('sv_t', [F, V], svT)]);
  if (kp.kernel === 'LINEAR') return { k, double: false };
  k = b.op('Mul', [k, b.f32('gamma', [], [kp.gamma])]);
  if (kp.coef0 !== 0) k = b.op('Add', [k, b.f32('coef0', [], [kp.coef0])]);
  if (kp.kernel === 'SIGMOID') return { k: b.op('Tanh', [k]), double: false };
  if (kp.degree === 1) return { k, double: false };
  if (kp.degree === 2) return { k: b.op('Mul', [k, k]), double: false };
  if (kp.degree === 3) return { k: b.op('Mul', [b.op('Mul', [k, k]), k]), double: false };
  return { k: b.op('Pow', [k, b.f32('degree', [], [kp.degree])]), double: false };
}

function reduce(b: GraphBuilder, op: 'ReduceMax' | 'ReduceSum' | 'ReduceSumSquare', x: string, opset: number): string {
  // ReduceSum takes axes as an input from opset 13, the other Reduce* ops from opset 18.
  const axesAsInput = op === 'ReduceSum' ? opset >= 13 : opset >= 18;
  if (axesAsInput) return b.op(op, [x, b.i64('axes', [1], [1n])], { keepdims: { int: 1 } });
  return b.op(op, [x], { axes: { ints: [1] }, keepdims: { int: 1 } });
}

/** onnxruntime's post_transform over a [N, k] float block with k ≥ 2 (ml_common.h). */
function postTransform(b: GraphBuilder, s: string, t: Transform, opset: number, output?: string): string {
  const id = (x: string): string => (output ? b.op('Identity', [x], {}, output) : x);
  switch (t) {
    case 'NONE':
      return id(s);
    case 'LOGISTIC':
      return b.op('Sigmoid', [s], {}, output);
    case 'SOFTMAX':
      return b.op('Softmax', [s], { axis: { int: 1 } }, output);
    case 'SOFTMAX_ZERO': {
      // values with |v| <= 1e-7 are scaled by exp(-max) instead of exponentiated, and left out of the sum
      const vmax = reduce(b, 'ReduceMax', s, opset);
      const nz = b.op('Greater', [b.op('Abs', [s]), b.f32('tiny', [], [1e-7])]);
      const e = b.op('Exp', [b.op('Sub', [s, vmax])]);
      const z = b.op('Mul', [s, b.op('Exp', [b.op('Neg', [vmax])])]);
      const sum = reduce(b, 'ReduceSum', b.op('Where', [nz, e, b.f32('zero', [], [0])]), opset);
      return b.op('Div', [b.op('Where', [nz, e, z]), sum], {}, output);
    }
    case 'PROBIT': {
      // sqrt(2) · ErfInv(2v - 1) with ml_common.h's closed-form ErfInv approximation
      const x = b.op('Sub', [b.op('Mul', [s, b.f32('two', [], [2])]), b.f32('one', [], [1])]);
      const sgn = b.op('Where', [b.op('Less', [x, b.f32('zero', [], [0])]), b.f32('m1', [], [-1]), b.f32('p1', [], [1])]);
      const one = b.f32('one', [], [1]);
      const y = b.op('Mul', [b.op('Sub', [one, x]), b.op('Add', [one, x])]);
      const lg = b.op('Log', [y]);
      const c1 = f(2 / f(f(Math.PI) * f(0.147)));
      const v = b.op('Add', [b.f32('c1', [], [c1]), b.op('Mul', [b.f32('half', [], [0.5]), lg])]);
      const v2 = b.op('Mul', [b.f32('c2', [], [f(1 / f(0.147))]), lg]);
      const v3 = b.op('Add', [b.op('Neg', [v]), b.op('Sqrt', [b.op('Sub', [b.op('Mul', [v, v]), v2])])]);
      const r = b.op('Mul', [sgn, b.op('Sqrt', [v3])]);
      return b.op('Mul', [r, b.f32('sqrt2', [], [f(Math.SQRT2)])], {}, output);
    }
  }
}

/**
 * Two-class Platt scaling + libsvm pairwise coupling in float32, mirroring onnxruntime's
 * multiclass_probability step by step: each loop recomputes Qp and pᵀQp, stops when every
 * |Qp_i − pᵀQp| < 0.005/k, else takes one coordinate step per class. For k = 2 the loop stops
 * within COUPLING_LOOPS iterations for every input (checked by test/optimize over all probability
 * values), so it is unrolled with per-row selection of the iterate at which that row stopped.
 */
export const COUPLING_LOOPS = 2;

function binaryProbabilities(b: GraphBuilder, s: string, probA: number, probB: number): string {
  const c = (name: string, v: number): string => b.f32(name, [], [v]);
  const add = (x: string, y: string): string => b.op('Add', [x, y]);
  const sub = (x: string, y: string): string => b.op('Sub', [x, y]);
  const mul = (x: string, y: string): string => b.op('Mul', [x, y]);
  const div = (x: string, y: string): string => b.op('Div', [x, y]);
  const one = c('one', 1);
  const two = c('two', 2);
  const val = add(mul(s, c('prob_a', probA)), c('prob_b', probB));
  const sp = sub(one, b.op('Sigmoid', [val]));
  const r01 = b.op('Clip', [sp, c('lo', f(1e-7)), c('hi', f(1 - f(1e-7)))]);
  const r10 = sub(one, r01);
  const q00 = mul(r10, r10);
  const q01 = b.op('Neg', [mul(r10, r01)]);
  const q11 = mul(r01, r01);
  const eps = c('eps', f(f(0.005) / 2));
  let p0 = c('p_init', 0.5);
  let p1 = p0;
  const iterates: Array<{ p: string; converged: string }> = [];
  for (let loop = 0; loop < COUPLING_LOOPS + 1; loop++) {
    const p = loop === 0 ? b.f32('uniform', [1, 2], [0.5, 0.5]) : b.op('Concat', [p0, p1], { axis: { int: 1 } });
    if (loop === COUPLING_LOOPS) {
      iterates.push({ p, converged: '' });
      break;
    }
    const qp0 = add(mul(q00, p0), mul(q01, p1));
    let qp1 = add(mul(q01, p0), mul(q11, p1));
    let pqp = add(mul(p0, qp0), mul(p1, qp1));
    const err = b.op('Max', [b.op('Abs', [sub(qp0, pqp)]), b.op('Abs', [sub(qp1, pqp)])]);
    iterates.push({ p, converged: b.op('Less', [err, eps]) });
    // coordinate step on class 0 (keeps Qp1 and pᵀQp current for the step on class 1)
    const d0 = div(sub(pqp, qp0), q00);
    const n0 = add(one, d0);
    pqp = div(div(add(pqp, mul(d0, add(mul(d0, q00), mul(two, qp0)))), n0), n0);
    qp1 = div(add(qp1, mul(d0, q01)), n0);
    p0 = div(add(p0, d0), n0);
    p1 = div(p1, n0);
    // coordinate step on class 1 (Qp and pᵀQp are recomputed at the next loop's start)
    const d1 = div(sub(pqp, qp1), q11);
    const n1 = add(one, d1);
    p0 = div(p0, n1);
    p1 = div(add(p1, d1), n1);
  }
  // the first iterate at which the row's stopping test held
  let out = iterates[iterates.length - 1].p;
  for (let i = iterates.length - 2; i >= 0; i--) out = b.op('Where', [iterates[i].converged, iterates[i].p, out]);
  return out;
}

/**
 * Emits an SVMClassifier that maps the K pairwise decision values to exactly what the original
 * node outputs: classifier (i, j) gets one support vector, the unit vector of its own decision
 * value, owned by class i with coefficient 1 in row j-1 (every other coefficient 0) and rho 0, so
 * its sum is the decision value itself; prob_a/prob_b, labels and post_transform are the original's.
 */
function operatorTail(b: GraphBuilder, node: NodeProto, s: string, pairs: Array<[number, number]>, C: number, outputs: string[]): void {
  const K = pairs.length;
  const perClass = new Array<number>(C).fill(0);
  for (const [i] of pairs) perClass[i]++;
  const sv = new Array<number>(K * K).fill(0);
  const coef = new Array<number>((C - 1) * K).fill(0);
  pairs.forEach(([, j], k) => {
    sv[k * K + k] = 1;
    coef[(j - 1) * K + k] = 1;
  });
  const keep = new Set(['classlabels_ints', 'classlabels_strings', 'prob_a', 'prob_b', 'post_transform']);
  const attrs = (node.attribute ?? []).filter((a) => keep.has(a.name ?? ''));
  attrs.push(
    attr('kernel_type', 'LINEAR'),
    attr('kernel_params', [0, 0, 0]),
    attr('vectors_per_class', { ints: perClass }),
    attr('support_vectors', sv),
    attr('coefficients', coef),
    attr('rho', new Array<number>(K).fill(0)),
  );
  b.raw('ai.onnx.ml', 'SVMClassifier', [s], outputs, attrs);
}

/** label = classlabels[winner of the one-vs-one vote] (binary: value > 0 -> classlabels[0]). */
function emitLabel(
  b: GraphBuilder,
  S: string,
  double: boolean,
  K: number,
  C: number,
  pairs: Array<[number, number]>,
  labelOut: string,
  intLabels: bigint[],
  strLabels: string[],
): void {
  if (!labelOut) return;
  const cst = double ? b.f64.bind(b) : b.f32.bind(b);
  const labels = strLabels.length > 0 ? b.constant('labels', [C], { type: 'string', data: strLabels }) : b.i64('labels', [C], intLabels);
  let idx: string;
  if (K === 1) {
    const pos = b.op('Greater', [b.op('Reshape', [S, b.i64('flat', [1], [-1n])]), cst('zero', [], [0])]);
    idx = b.op('Cast', [b.op('Not', [pos])], { to: { int: DT.INT64 } });
  } else {
    const D = new Float32Array(K * C);
    const base = new Float32Array(C);
    pairs.forEach(([i, j], k) => {
      D[k * C + i] += 1;
      D[k * C + j] -= 1;
      base[j] += 1;
    });
    const pos = b.op('Cast', [b.op('Greater', [S, cst('zero', [], [0])])], { to: { int: DT.FLOAT } });
    const votes = b.op('Add', [b.op('MatMul', [pos, b.f32('vote', [K, C], D)]), b.f32('vote_base', [1, C], base)]);
    idx = b.op('ArgMax', [votes], { axis: { int: 1 }, keepdims: { int: 0 } });
  }
  b.op('Gather', [labels, idx], { axis: { int: 0 } }, labelOut);
}

/**
 * Order of the support vectors for the coefficient dot: alternating the sign of the (first
 * column's) weight keeps the float32 running sums of the GEMM small — libsvm stores the vectors
 * class by class, so in the stored order the partial sums of a binary model grow to Σ|terms| before
 * cancelling, which is where float32 accumulation loses its digits.
 */
export function interleaveBySign(weights: ArrayLike<number>, V: number, stride: number): number[] {
  const pos: number[] = [];
  const neg: number[] = [];
  for (let v = 0; v < V; v++) (weights[v * stride] >= 0 ? pos : neg).push(v);
  const order: number[] = [];
  const n = Math.max(pos.length, neg.length);
  for (let i = 0; i < n; i++) {
    // spread the shorter list evenly over the longer one
    const a = pos.length >= neg.length ? pos : neg;
    const b = a === pos ? neg : pos;
    order.push(a[i]);
    const from = Math.floor((i * b.length) / n);
    const to = Math.floor(((i + 1) * b.length) / n);
    for (let j = from; j < to; j++) order.push(b[j]);
  }
  return order;
}

function permute(sv: number[], W: ArrayLike<number>, V: number, F: number, K: number, order: number[]): { sv: number[]; W: Float64Array } {
  const sv2 = new Array<number>(V * F);
  const W2 = new Float64Array(V * K);
  order.forEach((v, i) => {
    for (let j = 0; j < F; j++) sv2[i * F + j] = sv[v * F + j];
    for (let k = 0; k < K; k++) W2[i * K + k] = W[v * K + k];
  });
  return { sv: sv2, W: W2 };
}

export interface Rewritten {
  detail: string;
}

/** Rewrites one SVMClassifier node into `b`. `x` is its float32 input. Throws Skip. */
export function rewriteSvmClassifier(node: NodeProto, x: string, b: GraphBuilder, opts: SvmOptions): Rewritten {
  const a = new Attrs(node);
  const kp = kernelParams(a);
  const post = transformOf(a);
  const vpc = a.ints('vectors_per_class').map(Number);
  const V = vpc.reduce((s, n) => s + n, 0);
  if (V === 0) throw new Skip('linear (liblinear) mode without support vectors is not rewritten');
  const intLabels = a.ints('classlabels_ints');
  const strLabels = a.strings('classlabels_strings');
  const C = strLabels.length > 0 ? strLabels.length : intLabels.length;
  if (C < 2) throw new Skip('fewer than two class labels');
  if (vpc.length !== C) throw new Skip('vectors_per_class does not match the class labels');
  const sv = a.floats('support_vectors');
  const F = sv.length / V;
  if (!Number.isInteger(F) || F < 1) throw new Skip('support_vectors size is not a multiple of the vector count');
  const coef = a.floats('coefficients');
  const rho = a.floats('rho');
  const probA = a.floats('prob_a');
  const probB = a.floats('prob_b');
  const K = (C * (C - 1)) / 2;
  if (coef.length < (C - 1) * V) throw new Skip('coefficients shorter than (classes-1)·vectors');
  if (rho.length < K) throw new Skip('rho shorter than the number of class pairs');
  const haveProba = probA.length > 0;
  if (haveProba && (probA.length < K || probB.length < K)) throw new Skip('prob_a/prob_b shorter than the number of class pairs');
  if (haveProba && C > 2 && opts.probabilities === 'ops') throw new Skip("multi-class probabilities use libsvm pairwise coupling, an iterative solve; left to the original operator (use probabilities: 'operator')");
  if (!haveProba && C === 2 && post === 'PROBIT') throw new Skip('binary PROBIT without prob_a leaves the second score column undefined in onnxruntime');
  const [labelOut, scoresOut] = [node.output?.[0] ?? '', node.output?.[1] ?? ''];

  // Classifier weight matrix W[V, K]: classifier (i, j) takes coef[j-1] over class i's vectors and
  // coef[i] over class j's vectors.
  const start: number[] = [];
  let acc = 0;
  for (const n of vpc) {
    start.push(acc);
    acc += n;
  }
  const W = new Float64Array(V * K);
  const pairs: Array<[number, number]> = [];
  for (let i = 0, k = 0; i < C - 1; i++) {
    for (let j = i + 1; j < C; j++, k++) {
      pairs.push([i, j]);
      for (let m = 0; m < vpc[i]; m++) W[(start[i] + m) * K + k] = coef[(j - 1) * V + start[i] + m];
      for (let m = 0; m < vpc[j]; m++) W[(start[j] + m) * K + k] = coef[i * V + start[j] + m];
    }
  }

  const p = permute(sv, W, V, F, K, interleaveBySign(W, V, K));
  const { k: kern, double } = kernelMatrix(b, x, p.sv, V, F, kp, opts);
  const cst = double ? b.f64.bind(b) : b.f32.bind(b);

  if (K === 1 && !haveProba && post === 'NONE' && !double && labelOut && scoresOut) {
    emitBinaryScoresAndLabel(b, kern, p.W, rho[0]!, V, scoresOut, labelOut, intLabels, strLabels);
    return { detail: describe(kp, V, F, C, strLabels, haveProba, opts, post) };
  }
  const S = b.op('Gemm', [kern, cst('coef', [V, K], p.W), cst('rho', [K], rho.slice(0, K))]);
  const S32 = double ? b.op('Cast', [S], { to: { int: DT.FLOAT } }) : S;

  if (haveProba && opts.probabilities === 'operator') {
    operatorTail(b, node, S32, pairs, C, [labelOut || b.fresh('label'), scoresOut || b.fresh('scores')]);
  } else {
    emitLabel(b, S, double, K, C, pairs, labelOut, intLabels, strLabels);
    if (scoresOut) {
      if (haveProba) {
        postTransform(b, binaryProbabilities(b, S32, probA[0], probB[0]), post, opts.opset, scoresOut);
      } else if (K === 1) {
        // onnxruntime: NONE -> [-f, f]; LOGISTIC -> [1-σ(f), σ(f)]; SOFTMAX(_ZERO) -> [1-f, f]
        const second = post === 'LOGISTIC' ? b.op('Sigmoid', [S32]) : S32;
        const first = post === 'NONE' ? b.op('Neg', [S32]) : b.op('Sub', [b.f32('one', [], [1]), second]);
        b.op('Concat', [first, second], { axis: { int: 1 } }, scoresOut);
      } else {
        postTransform(b, S32, post, opts.opset, scoresOut);
      }
    }
  }
  return { detail: describe(kp, V, F, C, strLabels, haveProba, opts, post) };
}

function describe(kp: KernelParams, V: number, F: number, C: number, strLabels: string[], haveProba: boolean, opts: SvmOptions, post: Transform): string {
  const labelKind = strLabels.length > 0 ? 'string' : 'int64';
  return `${kp.kernel} kernel, ${V} support vectors × ${F} features, ${C} classes (${labelKind} labels), ${haveProba ? 'Platt probabilities (' + opts.probabilities + ')' : 'raw scores'}, post_transform ${post}${kp.kernel === 'RBF' ? `, RBF in ${opts.rbf}` : ''}`;
}

/**
 * A binary classifier's scores [-f, f] and label in 3 nodes instead of 8: one GEMM with the
 * weights [-w, w] yields both score columns (negation is exact, so they equal Neg + Concat of the
 * one-column GEMM bit for bit), and ArgMax over them picks the label from the reversed label list:
 * f > 0 -> classlabels[0], f <= 0 (ties take the first index) and NaN (ArgMax keeps index 0) ->
 * classlabels[1], as Greater/Not/Cast/Gather did. onnxruntime's fixed cost per node is a few µs, a
 * large share of a small batch's run (about 60 -> 50 µs per run of up to 4 rows of svc.onnx).
 */
function emitBinaryScoresAndLabel(
  b: GraphBuilder,
  kern: string,
  W: Float64Array,
  rho: number,
  V: number,
  scoresOut: string,
  labelOut: string,
  intLabels: bigint[],
  strLabels: string[],
): void {
  const W2 = new Float64Array(V * 2);
  for (let v = 0; v < V; v++) {
    W2[v * 2] = -W[v]!;
    W2[v * 2 + 1] = W[v]!;
  }
  b.op('Gemm', [kern, b.f32('coef', [V, 2], W2), b.f32('rho', [2], [-rho, rho])], {}, scoresOut);
  const idx = b.op('ArgMax', [scoresOut], { axis: { int: 1 }, keepdims: { int: 0 } });
  const labels = strLabels.length > 0
    ? b.constant('labels', [2], { type: 'string', data: [strLabels[1]!, strLabels[0]!] })
    : b.i64('labels', [2], [intLabels[1]!, intLabels[0]!]);
  b.op('Gather', [labels, idx], { axis: { int: 0 } }, labelOut);
}

/** Rewrites one SVMRegressor node (output [N, 1] float32). Throws Skip. */
export function rewriteSvmRegressor(node: NodeProto, x: string, b: GraphBuilder, opts: SvmOptions): Rewritten {
  const a = new Attrs(node);
  const kp = kernelParams(a);
  const V = a.int('n_supports', 0);
  const coef = a.floats('coefficients');
  const rho = a.floats('rho');
  const oneClass = a.int('one_class', 0) !== 0;
  const out = node.output?.[0] ?? '';
  if (!out) throw new Skip('no output');
  if (coef.length === 0 || rho.length === 0) throw new Skip('missing coefficients or rho');
  let y: string;
  let detail: string;
  if (V > 0) {
    const sv = a.floats('support_vectors');
    const F = sv.length / V;
    if (!Number.isInteger(F) || F < 1) throw new Skip('support_vectors size is not a multiple of n_supports');
    if (coef.length < V) throw new Skip('fewer coefficients than support vectors');
    const p = permute(sv, coef, V, F, 1, interleaveBySign(coef, V, 1));
    const { k, double } = kernelMatrix(b, x, p.sv, V, F, kp, opts);
    const cst = double ? b.f64.bind(b) : b.f32.bind(b);
    y = b.op('Gemm', [k, cst('coef', [V, 1], p.W), cst('rho', [1], [rho[0]])]);
    if (double) y = b.op('Cast', [y], { to: { int: DT.FLOAT } });
    detail = `${kp.kernel} kernel, ${V} support vectors × ${F} features${kp.kernel === 'RBF' ? `, RBF in ${opts.rbf}` : ''}`;
  } else {
    // liblinear mode: x · coefficients + rho (the kernel type is forced to LINEAR)
    const F = coef.length;
    y = b.op('Add', [b.op('MatMul', [x, b.f32('coef', [F, 1], coef)]), b.f32('rho', [1, 1], [rho[0]])]);
    detail = `linear, ${F} features`;
  }
  if (oneClass) {
    b.op('Where', [b.op('Greater', [y, b.f32('zero', [], [0])]), b.f32('p1', [], [1]), b.f32('m1', [], [-1])], {}, out);
    detail += ', one-class (±1)';
  } else {
    b.op('Identity', [y], {}, out);
  }
  return { detail };
}
