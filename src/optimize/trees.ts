// Experimental: Hummingbird's GEMM strategy for tree ensembles, used by bench/optimize.ts to
// decide whether tensorising TreeEnsemble* beats onnxruntime's own kernel at the batch sizes the
// server produces. NOT applied by optimizeModel (the benchmark found it slower; see
// BENCHMARKS.md "optimize" and docs/optimize.md).
//
// Per tree t (internal nodes padded to I, leaves to L):
//   cond[n, t, i] = x[n, feature(t,i)] <= threshold(t,i)            (Gather + LessOrEqual)
//   path[t, n, l] = Σ_i cond[n,t,i] · C[t,i,l]                          (batched MatMul)
//     C[t,i,l] = 1 if leaf l lies under i's true branch, -1 under its false branch, else 0
//   leaf[n, t, l] = path == D[t,l]  (D = number of true-branch ancestors of leaf l)
//   score[n] = base + Σ_{t,l} leaf · value(t,l)                          (one MatMul)
import { Attrs, DT, GraphBuilder, decodeModel, encodeModel, type NodeProto } from './proto.js';
import { Skip } from './svm.js';

interface TreeNode {
  mode: string;
  feature: number;
  value: number;
  t: number;
  f: number;
  weight: number;
}

interface Ensemble {
  trees: Array<Map<number, TreeNode>>;
  base: number;
}

function parseEnsemble(node: NodeProto): Ensemble {
  const a = new Attrs(node);
  const modes = a.strings('nodes_modes');
  if (modes.some((m) => m !== 'LEAF' && m !== 'BRANCH_LEQ')) throw new Skip('only BRANCH_LEQ splits are supported');
  const treeIds = a.ints('nodes_treeids').map(Number);
  const nodeIds = a.ints('nodes_nodeids').map(Number);
  const feats = a.ints('nodes_featureids').map(Number);
  const vals = a.floats('nodes_values');
  const tIds = a.ints('nodes_truenodeids').map(Number);
  const fIds = a.ints('nodes_falsenodeids').map(Number);
  if (a.ints('nodes_missing_value_tracks_true').some((v) => v !== 0n)) throw new Skip('missing_value_tracks_true is not supported');
  const trees = new Map<number, Map<number, TreeNode>>();
  modes.forEach((mode, k) => {
    if (!trees.has(treeIds[k])) trees.set(treeIds[k], new Map());
    trees.get(treeIds[k])!.set(nodeIds[k], { mode, feature: feats[k], value: vals[k], t: tIds[k], f: fIds[k], weight: 0 });
  });
  const cTree = a.ints('class_treeids').map(Number);
  const cNode = a.ints('class_nodeids').map(Number);
  const cId = a.ints('class_ids').map(Number);
  const cW = a.floats('class_weights');
  if (cId.some((c) => c !== 0)) throw new Skip('only single-target (binary) ensembles are supported');
  cTree.forEach((t, k) => (trees.get(t)!.get(cNode[k])!.weight += cW[k]));
  const base = a.floats('base_values')[0] ?? 0;
  return { trees: [...trees.values()], base };
}

function standalone(b: GraphBuilder, name: string, F: number): Uint8Array {
  const model = decodeModel(new Uint8Array(0));
  model.irVersion = 8;
  model.opsetImport = [{ domain: '', version: 15 }];
  model.graph = {
    name,
    node: b.nodes,
    initializer: b.initializers,
    input: [{ name: 'features', type: { tensorType: { elemType: DT.FLOAT, shape: { dim: [{ dimParam: 'N' }, { dimValue: F }] } } } }],
    output: [{ name: 'score', type: { tensorType: { elemType: DT.FLOAT, shape: { dim: [{ dimParam: 'N' }, { dimValue: 1 }] } } } }],
  };
  return encodeModel(model);
}

/**
 * Builds a standalone model: input `features` float32 [N, F] -> output `score` float32 [N, 1], the
 * raw (pre-transform) margin of a binary TreeEnsembleClassifier with BRANCH_LEQ splits and one
 * target class, by the GEMM strategy.
 */
export function treeEnsembleGemmModel(node: NodeProto, F: number): Uint8Array {
  const { trees, base } = parseEnsemble(node);
  // enumerate internal nodes and leaves per tree
  const layout = trees.map((nodes) => {
    const internal: number[] = [];
    const leaves: Array<{ id: number; path: Array<[number, 1 | -1]> }> = [];
    const walk = (id: number, path: Array<[number, 1 | -1]>): void => {
      const n = nodes.get(id)!;
      if (n.mode === 'LEAF') {
        leaves.push({ id, path });
        return;
      }
      const i = internal.length;
      internal.push(id);
      walk(n.t, [...path, [i, 1]]);
      walk(n.f, [...path, [i, -1]]);
    };
    walk(0, []);
    return { nodes, internal, leaves };
  });
  const T = layout.length;
  const I = Math.max(...layout.map((l) => l.internal.length));
  const L = Math.max(...layout.map((l) => l.leaves.length));
  const featIdx = new Array<bigint>(T * I).fill(0n);
  const thr = new Float32Array(T * I).fill(Infinity);
  const C = new Float32Array(T * I * L);
  const D = new Float32Array(T * L).fill(-1);
  const E = new Float32Array(T * L);
  layout.forEach(({ nodes, internal, leaves }, t) => {
    internal.forEach((id, i) => {
      featIdx[t * I + i] = BigInt(nodes.get(id)!.feature);
      thr[t * I + i] = nodes.get(id)!.value;
    });
    leaves.forEach(({ id, path }, l) => {
      let d = 0;
      for (const [i, s] of path) {
        C[(t * I + i) * L + l] = s;
        if (s === 1) d++;
      }
      D[t * L + l] = d;
      E[t * L + l] = nodes.get(id)!.weight;
    });
  });

  const b = new GraphBuilder('trees', new Set(['features', 'score']));
  const xs = b.op('Gather', ['features', b.i64('feat', [T * I], featIdx)], { axis: { int: 1 } });
  const cond = b.op('Cast', [b.op('LessOrEqual', [xs, b.f32('thr', [T * I], thr)])], { to: { int: DT.FLOAT } });
  const r = b.op('Transpose', [b.op('Reshape', [cond, b.i64('shape', [3], [-1n, BigInt(T), BigInt(I)])])], { perm: { ints: [1, 0, 2] } });
  const path = b.op('MatMul', [r, b.f32('C', [T, I, L], C)]);
  const leaf = b.op('Cast', [b.op('Equal', [path, b.f32('D', [T, 1, L], D)])], { to: { int: DT.FLOAT } });
  const flat = b.op('Reshape', [b.op('Transpose', [leaf], { perm: { ints: [1, 0, 2] } }), b.i64('shape2', [2], [-1n, BigInt(T * L)])]);
  b.op('Add', [b.op('MatMul', [flat, b.f32('E', [T * L, 1], E)]), b.f32('base', [], [base])], {}, 'score');
  return standalone(b, 'tree_gemm', F);
}

/**
 * Hummingbird's perfect-tree-traversal strategy: every tree is padded to a perfect tree of the
 * ensemble's depth (a shallow leaf becomes a split on +∞ whose subtrees repeat it), laid out in
 * heap order, and all trees descend one level per step for the whole batch at once:
 *   g ← 2·g + (x[feature[g]] <= threshold[g] ? 1 : 2) − offset(tree)      ([N, T] int64)
 * then score = base + Σ_t leafValue[g].
 */
export function treeEnsembleTraversalModel(node: NodeProto, F: number): Uint8Array {
  const { trees, base } = parseEnsemble(node);
  const depthOf = (nodes: Map<number, TreeNode>, id: number): number => {
    const n = nodes.get(id)!;
    return n.mode === 'LEAF' ? 0 : 1 + Math.max(depthOf(nodes, n.t), depthOf(nodes, n.f));
  };
  const Dm = Math.max(...trees.map((t) => depthOf(t, 0)));
  if (Dm < 1) throw new Skip('trees without splits');
  const T = trees.length;
  const S = 2 ** (Dm + 1) - 1; // heap slots per tree
  const feat = new Array<bigint>(T * S).fill(0n);
  const thr = new Float32Array(T * S).fill(Infinity);
  const leafVal = new Float32Array(T * S);
  trees.forEach((nodes, t) => {
    const place = (id: number | null, slot: number, depth: number, leafWeight: number): void => {
      const n = id === null ? null : nodes.get(id)!;
      if (depth === Dm) {
        leafVal[t * S + slot] = n ? n.weight : leafWeight;
        return;
      }
      if (!n || n.mode === 'LEAF') {
        const w = n ? n.weight : leafWeight; // pad: split on +inf, both sides repeat the leaf
        place(null, 2 * slot + 1, depth + 1, w);
        place(null, 2 * slot + 2, depth + 1, w);
        return;
      }
      feat[t * S + slot] = BigInt(n.feature);
      thr[t * S + slot] = n.value;
      place(n.t, 2 * slot + 1, depth + 1, 0);
      place(n.f, 2 * slot + 2, depth + 1, 0);
    };
    place(0, 0, 0, 0);
  });
  const b = new GraphBuilder('trees', new Set(['features', 'score']));
  const featT = b.i64('feat', [T * S], feat);
  const thrT = b.f32('thr', [T * S], thr);
  // g = t·S + local slot; the children of local slot i are 2i+1 / 2i+2, i.e. g' = 2g + {1, 2} − t·S
  const cTrue = b.i64('step_true', [1, T], Array.from({ length: T }, (_, t) => BigInt(1 - t * S)));
  const cFalse = b.i64('step_false', [1, T], Array.from({ length: T }, (_, t) => BigInt(2 - t * S)));
  const two = b.i64('two', [], [2n]);
  // level 0: every tree at its root
  const x0 = b.op('Gather', ['features', b.i64('root_feat', [T], Array.from({ length: T }, (_, t) => feat[t * S]))], { axis: { int: 1 } });
  const le0 = b.op('LessOrEqual', [x0, b.f32('root_thr', [1, T], Array.from({ length: T }, (_, t) => thr[t * S]))]);
  const rootG2 = b.i64('root_g2', [1, T], Array.from({ length: T }, (_, t) => BigInt(2 * t * S)));
  let g = b.op('Add', [rootG2, b.op('Where', [le0, cTrue, cFalse])]);
  for (let d = 1; d < Dm; d++) {
    const xv = b.op('GatherElements', ['features', b.op('Gather', [featT, g], { axis: { int: 0 } })], { axis: { int: 1 } });
    const le = b.op('LessOrEqual', [xv, b.op('Gather', [thrT, g], { axis: { int: 0 } })]);
    g = b.op('Add', [b.op('Mul', [g, two]), b.op('Where', [le, cTrue, cFalse])]);
  }
  const leaves = b.op('Gather', [b.f32('leaf', [T * S], leafVal), g], { axis: { int: 0 } });
  b.op('Add', [b.op('MatMul', [leaves, b.f32('ones', [T, 1], new Array(T).fill(1))]), b.f32('base', [], [base])], {}, 'score');
  return standalone(b, 'tree_traversal', F);
}

/** The ensemble node alone as a model: input `features` [N, F] -> the node's own outputs. */
export function treeEnsembleOnlyModel(bytes: Uint8Array, F: number): { bytes: Uint8Array; node: NodeProto } {
  const model = decodeModel(bytes);
  const g = model.graph!;
  const node = g.node!.find((n) => n.opType === 'TreeEnsembleClassifier');
  if (!node) throw new Skip('no TreeEnsembleClassifier');
  const outs = g.output!.filter((o) => node.output!.includes(o.name ?? ''));
  model.graph = {
    name: 'tree_only',
    node: [{ ...node, input: ['features'] }],
    input: [{ name: 'features', type: { tensorType: { elemType: DT.FLOAT, shape: { dim: [{ dimParam: 'N' }, { dimValue: F }] } } } }],
    output: outs,
  };
  return { bytes: encodeModel(model), node };
}
