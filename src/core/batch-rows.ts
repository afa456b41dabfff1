// Whether a raw model's graph keeps the rows of its batch dimension apart: requests share a run only
// when each one's rows are computed from its own rows alone. An op that mixes rows but keeps their
// count (x - ReduceMean(x, axes=[0]), CumSum along axis 0, a Gemm with transA) answers each request
// sharing a run from the others' rows, and the answer has as many rows as the run: nothing at run time
// tells it apart. So the graph is read at load and judged by an allow-list of ops known to work row by
// row (given their axes, ranks and constant operands); any other op is taken to mix rows. The graph is
// read once per load (graph-facts.ts): weights and tree ensembles' attributes are skipped unread.
import type { ModelSignature } from '../runtime/types.js';
import { graphFacts, type ModelFacts, type NodeFacts } from './graph-facts.js';

/** A dimension: its size, or null when it varies or is not known (the batch dimension of a row tensor always). */
type Dim = number | null;
/** An element of a small integer tensor (a shape, axes): a number, 'N' (the batch's size: from Shape), or null (not known). */
type Value = number | 'N' | null;

/** What is known of a tensor: `row` when its first dimension is the batch's, its row i computed from the inputs' row i only. */
interface Known {
  row: boolean;
  /** Its dimensions, when its rank is known. */
  dims?: Dim[];
  /** A small integer tensor's elements, flattened (a constant shape, axes, Shape of a row tensor). */
  values?: Value[];
}

// Ops that work element by element: their output's row i is made of their inputs' row i (with
// broadcasting, checked apart: a constant must not have rows of its own).
const ELEMENTWISE = new Set([
  'Abs', 'Acos', 'Acosh', 'Add', 'And', 'Asin', 'Asinh', 'Atan', 'Atanh', 'BitShift', 'BitwiseAnd', 'BitwiseNot', 'BitwiseOr', 'BitwiseXor',
  'Cast', 'Ceil', 'Celu', 'Clip', 'Cos', 'Cosh', 'Div', 'Elu', 'Equal', 'Erf', 'Exp', 'Floor', 'Gelu', 'Greater', 'GreaterOrEqual', 'HardSigmoid',
  'HardSwish', 'Identity', 'IsInf', 'IsNaN', 'LeakyRelu', 'Less', 'LessOrEqual', 'Log', 'Max', 'Mean', 'Min', 'Mish', 'Mod', 'Mul', 'Neg', 'Not',
  'Or', 'Pow', 'PRelu', 'Reciprocal', 'Relu', 'Round', 'Selu', 'Shrink', 'Sigmoid', 'Sign', 'Sin', 'Sinh', 'Softplus', 'Softsign', 'Sqrt', 'Sub',
  'Sum', 'Tan', 'Tanh', 'ThresholdedRelu', 'Where', 'Xor',
]);
// Their first input's rows only (the others: a type, a ratio): CastLike, Dropout.
const FIRST_INPUT_ELEMENTWISE = new Set(['CastLike', 'Dropout']);
// Ops over each sample of [N, C, ...] (weights constant): convolution, pooling, per-sample normalisation.
const PER_SAMPLE = new Set(['Conv', 'ConvTranspose', 'MaxPool', 'AveragePool', 'LpPool', 'GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool', 'InstanceNormalization', 'LRN', 'GroupNormalization']);
const REDUCE = new Set(['ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare']);
// ai.onnx.ml: each takes [N, C] and answers per row — classifiers a label [N] and scores [N, classes].
const ML_CLASSIFIERS = new Set(['LinearClassifier', 'SVMClassifier', 'TreeEnsembleClassifier']);
const ML_REGRESSORS = new Set(['LinearRegressor', 'SVMRegressor', 'TreeEnsembleRegressor', 'TreeEnsemble']);
const ML_PER_ROW = new Set(['Scaler', 'Normalizer', 'Imputer']);
const ML_ELEMENTWISE = new Set(['Binarizer', 'LabelEncoder', 'CategoryMapper']);
// Ops whose small integer answers are followed (a shape taken apart and put together again for a Reshape).
const SHAPE_ARITHMETIC = new Set(['Shape', 'Gather', 'Unsqueeze', 'Squeeze', 'Concat', 'Cast', 'Identity', 'Slice']);

/** An op's result: what is known of each output, or why the op may mix rows. */
type Judged = Known[] | string;

const row = (dims?: Dim[]): Known => ({ row: true, dims });
/** `rank` dimensions, all unknown (the first is the batch's). */
const rankOf = (rank: number | undefined): Dim[] | undefined => (rank === undefined ? undefined : Array.from({ length: rank }, () => null));
/** An axis as a non-negative index into `rank` dimensions, or undefined when negative and the rank is not known. */
const axisIn = (axis: number, rank: number | undefined): number | undefined => (axis >= 0 ? axis : rank === undefined ? undefined : axis + rank);

class Judge {
  private readonly known = new Map<string, Known>();
  constructor(private readonly opset: number) {}

  set(name: string, known: Known): void {
    this.known.set(name, known);
  }

  /** What is known of a tensor: a graph input's or node output's as recorded, any other (an initializer read or not) a constant. */
  get(name: string): Known {
    return this.known.get(name) ?? { row: false };
  }

  /** The values of a node's constant integer input (axes, a shape), or undefined when not known or not given. */
  private constValues(node: NodeFacts, at: number): Value[] | undefined {
    const name = node.inputs[at];
    if (name === undefined || name === '') return undefined;
    const k = this.get(name);
    return k.row ? undefined : k.values;
  }

  /** Axes from the attribute (older opsets) or the input at `at` (newer): undefined when neither is given; null when given but not known. */
  private axes(node: NodeFacts, at: number): number[] | undefined | null {
    const attribute = node.attributes.get('axes')?.ints;
    if (attribute !== undefined) return attribute;
    const name = node.inputs[at];
    if (name === undefined || name === '') return undefined;
    const values = this.constValues(node, at);
    return values !== undefined && values.every((v): v is number => typeof v === 'number') ? values : null;
  }

  private int(node: NodeFacts, attribute: string, otherwise: number): number {
    return node.attributes.get(attribute)?.i ?? otherwise;
  }

  /** Elementwise with broadcasting: every row input of one rank; each constant of no more dimensions, and of 1 row when of as many. */
  private broadcast(inputs: Known[]): Judged {
    const rows = inputs.filter((k) => k.row);
    const rank = rows[0]?.dims?.length;
    if (rank === undefined || rows.some((k) => k.dims?.length !== rank)) return 'its row inputs are of unknown or different ranks, so their first dimensions may not line up';
    for (const k of inputs) {
      if (k.row) continue;
      if (k.dims === undefined) return 'an input not computed per row is of unknown shape: it may have rows of its own';
      if (k.dims.length > rank) return 'an input not computed per row has more dimensions than the rows, moving the batch dimension';
      if (k.dims.length === rank && k.dims[0] !== 1) return 'an input not computed per row has rows of its own along the batch dimension';
    }
    const dims: Dim[] = Array.from({ length: rank }, (_, i) => {
      if (i === 0) return null;
      const sizes = inputs.map((k) => k.dims?.[k.dims.length - rank + i]).filter((d): d is Dim => d !== undefined);
      return sizes.every((d): d is number => d !== null) ? Math.max(...sizes) : null;
    });
    return [row(dims)];
  }

  /** A single row input (the first) and constant others, of a known rank: every output a row tensor of `outRank`. */
  private along(node: NodeFacts, inputs: Known[], axisAttribute: string, defaultAxis: number | undefined, outRank: (rank: number) => number, outputs = node.outputs.length): Judged {
    const data = inputs[0];
    if (!data?.row || inputs.slice(1).some((k) => k.row)) return 'it takes rows other than as its first input';
    const rank = data.dims?.length;
    const given = node.attributes.get(axisAttribute)?.i ?? defaultAxis;
    if (given === undefined) return `its ${axisAttribute} is not known`;
    const axis = axisIn(given, rank);
    if (axis === undefined) return `its ${axisAttribute} ${given} counts from the end of a tensor of unknown rank`;
    if (axis === 0) return `it works along axis 0, the batch dimension`;
    return Array.from({ length: outputs }, () => row(rankOf(rank === undefined ? undefined : outRank(rank))));
  }

  /** What a node's outputs are, or why it may mix rows; called only for a node that takes rows or the batch's size. */
  judge(node: NodeFacts, inputs: Known[]): Judged {
    const op = node.opType;
    const first = inputs[0];
    const rank = first?.row ? first.dims?.length : undefined;
    if ([...node.attributes.values()].some((a) => a.graphs !== undefined)) return 'it runs a subgraph';
    if (node.domain === 'ai.onnx.ml') return this.judgeMl(node, inputs, rank);
    if (node.domain !== '' && node.domain !== 'ai.onnx') return `its domain '${node.domain}' is not known to keep rows apart`;
    if (inputs.some((k) => !k.row && k.values?.includes('N')) && !SHAPE_ARITHMETIC.has(op) && !['Reshape', 'Expand', 'Tile'].includes(op)) return 'it uses the batch\'s size (from Shape)';
    if (inputs.every((k) => !k.row)) return this.shapeArithmetic(node, inputs);
    if (ELEMENTWISE.has(op)) {
      const judged = this.broadcast(inputs);
      return typeof judged === 'string' ? judged : node.outputs.map(() => judged[0]!);
    }
    if (FIRST_INPUT_ELEMENTWISE.has(op)) return first?.row ? node.outputs.map(() => row(first.dims)) : 'it takes rows other than as its first input';
    switch (op) {
      case 'Softmax': case 'LogSoftmax': case 'Hardmax':
        // Before opset 13 the input is seen as 2-D from the axis on: rows stay apart for any axis past 0.
        return this.along(node, inputs, 'axis', this.opset >= 13 ? -1 : 1, (r) => r);
      case 'LpNormalization': return this.along(node, inputs, 'axis', -1, (r) => r);
      case 'LayerNormalization': return this.along(node, inputs.slice(0, 1), 'axis', -1, (r) => r);
      case 'ArgMax': case 'ArgMin': return this.along(node, inputs, 'axis', 0, (r) => (this.int(node, 'keepdims', 1) === 1 ? r : r - 1));
      case 'TopK': return this.along(node, inputs, 'axis', -1, (r) => r);
      case 'Split': return this.along(node, inputs, 'axis', 0, (r) => r);
      case 'Flatten': return this.along(node, inputs, 'axis', 1, () => 2);
      case 'OneHot': return this.along(node, inputs, 'axis', -1, (r) => r + 1);
      case 'CumSum': {
        const axis = this.constValues(node, 1)?.[0];
        if (typeof axis !== 'number') return 'its axis is not a known constant';
        return this.alongAxis(first, inputs, axis, (r) => r, node.outputs.length);
      }
      case 'Concat': {
        if (!inputs.every((k) => k.row)) return 'it joins rows with a tensor not computed per row';
        return this.along(node, inputs.slice(0, 1), 'axis', undefined, (r) => r);
      }
      case 'BatchNormalization':
        if (this.int(node, 'training_mode', 0) === 1) return 'it is in training mode: it normalises with statistics of the whole batch';
        return first?.row && inputs.slice(1).every((k) => !k.row) ? [row(first.dims)] : 'it takes rows other than as its first input';
      case 'Gather': return this.gather(node, inputs);
      case 'GatherElements': {
        if (!inputs.every((k) => k.row) || inputs[1]?.dims?.length !== rank) return 'its indices are not rows of its data\'s rank';
        return this.along(node, inputs.slice(0, 1), 'axis', 0, (r) => r);
      }
      case 'Transpose': {
        const perm = node.attributes.get('perm')?.ints;
        if (perm === undefined ? rank !== 1 : perm[0] !== 0) return 'it moves the batch dimension away from the first';
        return first?.row ? [row(rankOf(rank))] : 'it takes rows other than as its first input';
      }
      case 'Squeeze': case 'Unsqueeze': {
        const axes = this.axes(node, 1);
        if (!first?.row || inputs.slice(1).some((k) => k.row)) return 'it takes rows other than as its first input';
        if (axes === undefined) return 'it squeezes every dimension of size 1, the batch dimension of one row too';
        if (axes === null || rank === undefined) return 'its axes or its input\'s rank are not known';
        const outRank = op === 'Squeeze' ? rank - axes.length : rank + axes.length;
        return axes.some((a) => axisIn(a, op === 'Squeeze' ? rank : outRank) === 0) ? 'it works along axis 0, the batch dimension' : [row(rankOf(outRank))];
      }
      case 'Reshape': return this.reshape(node, inputs);
      case 'Expand': case 'Tile': {
        const sizes = this.constValues(node, 1);
        if (!first?.row || inputs[1]?.row || sizes === undefined || rank === undefined) return 'its sizes are not known constants';
        if (op === 'Tile') return sizes[0] === 1 ? [row(rankOf(rank))] : 'it repeats along the batch dimension';
        return sizes.length < rank || (sizes.length === rank && (sizes[0] === 1 || sizes[0] === 'N')) ? [row(rankOf(rank))] : 'it expands along the batch dimension';
      }
      case 'Slice': return this.slice(node, inputs, rank);
      case 'MatMul': return this.matMul(inputs);
      case 'Gemm': {
        if (!first?.row || rank !== 2 || this.int(node, 'transA', 0) !== 0) return 'it multiplies across the batch dimension (its rows are not its left operand, untransposed)';
        if (inputs[1]?.row) return 'its right operand is rows: it sums over the batch dimension';
        const bias = inputs[2];
        if (bias !== undefined && (bias.row || bias.dims === undefined || (bias.dims.length === 2 && bias.dims[0] !== 1))) return 'its bias is not known to be one row';
        return [row([null, null])];
      }
      case 'Shape': {
        // Shape of rows from the second dimension on (opset 15's start) does not depend on the batch.
        return this.shapeArithmetic(node, inputs);
      }
    }
    if (PER_SAMPLE.has(op)) return first?.row && inputs.slice(1).every((k) => !k.row) ? node.outputs.map(() => row(rankOf(rank))) : 'it takes rows other than as its first input';
    if (REDUCE.has(op)) {
      const axes = this.axes(node, 1);
      if (!first?.row || inputs.slice(1).some((k) => k.row)) return 'it takes rows other than as its first input';
      if (axes === null) return 'its axes are not a known constant';
      if (axes === undefined || axes.length === 0) return this.int(node, 'noop_with_empty_axes', 0) === 1 ? [row(first.dims)] : 'it reduces over every axis, the batch dimension too';
      if (axes.some((a) => axisIn(a, rank) === undefined)) return 'its axes count from the end of a tensor of unknown rank';
      if (axes.some((a) => axisIn(a, rank) === 0)) return 'it reduces over axis 0, the batch dimension';
      return [row(rankOf(rank === undefined ? undefined : this.int(node, 'keepdims', 1) === 1 ? rank : rank - axes.length))];
    }
    return 'it is not known to keep rows apart';
  }

  private alongAxis(first: Known | undefined, inputs: Known[], given: number, outRank: (r: number) => number, outputs: number): Judged {
    if (!first?.row || inputs.slice(1).some((k) => k.row)) return 'it takes rows other than as its first input';
    const rank = first.dims?.length;
    const axis = axisIn(given, rank);
    if (axis === undefined) return `its axis ${given} counts from the end of a tensor of unknown rank`;
    if (axis === 0) return 'it works along axis 0, the batch dimension';
    return Array.from({ length: outputs }, () => row(rankOf(rank === undefined ? undefined : outRank(rank))));
  }

  private judgeMl(node: NodeFacts, inputs: Known[], rank: number | undefined): Judged {
    const op = node.opType;
    const first = inputs[0];
    if (inputs.every((k) => !k.row)) return inputs.some((k) => k.values?.includes('N')) ? 'it uses the batch\'s size (from Shape)' : node.outputs.map(() => ({ row: false }));
    if (ML_ELEMENTWISE.has(op)) return first?.row ? [row(first.dims)] : 'it takes rows other than as its first input';
    if (op === 'FeatureVectorizer') return inputs.every((k) => k.row) ? [row([null, null])] : 'it joins rows with a tensor not computed per row';
    if (op === 'ZipMap') return first?.row ? [row()] : 'it takes rows other than as its first input';
    // These read a tensor of one dimension as a single sample, not as rows: only [N, C] is per row.
    if (!first?.row || rank !== 2 || inputs.slice(1).some((k) => k.row)) return 'its input is not rows of [N, C]';
    if (ML_CLASSIFIERS.has(op)) return [row([null]), row([null, null])];
    if (ML_REGRESSORS.has(op) || ML_PER_ROW.has(op) || op === 'ArrayFeatureExtractor') return [row([null, null])];
    if (op === 'OneHotEncoder') return [row([null, null, null])];
    return `the ai.onnx.ml op ${op} is not known to keep rows apart`;
  }

  /** A node taking no rows: a constant, unless it computes with the batch's size (SHAPE_ARITHMETIC, followed). */
  private shapeArithmetic(node: NodeFacts, inputs: Known[]): Judged {
    const constant: Known[] = node.outputs.map(() => ({ row: false }));
    const value = inputs[0]?.values;
    let values: Value[] | undefined;
    switch (node.opType) {
      case 'Shape': {
        const dims = inputs[0]?.dims;
        if (dims === undefined) return inputs[0]?.row ? 'it takes the shape of rows of unknown rank' : constant;
        const ofRows: Value[] = dims.map((d, i) => (i === 0 && inputs[0]!.row ? 'N' : d));
        const start = axisIn(this.int(node, 'start', 0), dims.length) ?? 0;
        const end = axisIn(this.int(node, 'end', dims.length), dims.length) ?? dims.length;
        values = ofRows.slice(start, end);
        break;
      }
      case 'Gather': {
        const at = inputs[1]?.values;
        if (value === undefined || at === undefined || this.int(node, 'axis', 0) !== 0 || at.some((i) => typeof i !== 'number')) break;
        values = (at as number[]).map((i) => value[i < 0 ? i + value.length : i] ?? null);
        break;
      }
      case 'Unsqueeze': case 'Squeeze': case 'Cast': case 'Identity':
        values = value;
        break;
      case 'Concat':
        if (inputs.every((k) => k.values !== undefined)) values = inputs.flatMap((k) => k.values!);
        break;
      case 'Slice': {
        const [starts, ends] = [inputs[1]?.values, inputs[2]?.values];
        if (value === undefined || starts?.length !== 1 || ends?.length !== 1 || inputs.length > 3) break;
        const [s, e] = [starts[0], ends[0]];
        if (typeof s === 'number' && typeof e === 'number') values = value.slice(s, e);
        break;
      }
    }
    if (values === undefined) return inputs.some((k) => k.values?.includes('N')) ? 'it uses the batch\'s size (from Shape)' : constant;
    return [{ row: false, dims: [values.length], values }];
  }

  private gather(node: NodeFacts, inputs: Known[]): Judged {
    const [data, indices] = inputs;
    if (data === undefined || indices === undefined) return 'it has too few inputs';
    const axis = this.int(node, 'axis', 0);
    const [r, q] = [data.dims?.length, indices.dims?.length];
    const outRank = r === undefined || q === undefined ? undefined : r + q - 1;
    // An embedding: a constant table looked up by each row's indices.
    if (!data.row && indices.row) return axisIn(axis, r) === 0 && q !== undefined && q >= 1 ? [row(rankOf(outRank))] : 'it looks up rows\' indices along an axis past the first';
    if (data.row && !indices.row) {
      const at = axisIn(axis, r);
      if (at === undefined) return `its axis ${axis} counts from the end of a tensor of unknown rank`;
      return at === 0 ? 'it picks along axis 0, the batch dimension' : [row(rankOf(outRank))];
    }
    return 'it picks from rows by indices that are rows';
  }

  private reshape(node: NodeFacts, inputs: Known[]): Judged {
    const [data, shape] = inputs;
    if (!data?.row || shape?.row) return 'it reshapes into rows a tensor not computed per row';
    const sizes = shape?.values;
    if (sizes === undefined) return 'its shape is not a known constant';
    const [lead, ...rest] = sizes;
    if (rest.includes('N')) return 'it puts the batch\'s size past the first dimension';
    const keepsRows = lead === 'N' || (lead === 0 && this.int(node, 'allowzero', 0) === 0);
    // [-1, a, b]: rows kept when a row of the input holds a * b elements.
    const width = data.dims?.slice(1).reduce<number | null>((n, d) => (n === null || d === null ? null : n * d), 1);
    const perRow = lead === -1 && rest.every((d): d is number => typeof d === 'number' && d > 0) && width === rest.reduce((n, d) => n * (d as number), 1);
    return keepsRows || perRow ? [row(rankOf(sizes.length))] : 'it may change the batch dimension (its shape does not keep the first dimension)';
  }

  private slice(node: NodeFacts, inputs: Known[], rank: number | undefined): Judged {
    if (!inputs[0]?.row || inputs.slice(1).some((k) => k.row)) return 'it takes rows other than as its first input';
    // Opset 10 on: starts, ends, axes, steps are inputs; before, attributes.
    const read = (at: number, attribute: string): Value[] | undefined => (this.opset >= 10 ? this.constValues(node, at) : node.attributes.get(attribute)?.ints);
    const starts = read(1, 'starts');
    const ends = read(2, 'ends');
    const given = node.inputs[3] !== undefined && node.inputs[3] !== '' || node.attributes.has('axes');
    const axes = given ? read(3, 'axes') : starts?.map((_, i) => i);
    const steps = this.opset >= 10 && node.inputs[4] !== undefined && node.inputs[4] !== '' ? this.constValues(node, 4) : starts?.map(() => 1);
    if (starts === undefined || ends === undefined || axes === undefined || steps === undefined) return 'its starts, ends, axes or steps are not known constants';
    for (let i = 0; i < axes.length; i++) {
      const axis = typeof axes[i] === 'number' ? axisIn(axes[i] as number, rank) : undefined;
      if (axis === undefined) return 'its axes are not known';
      // The whole of axis 0 (0 to its end, step 1) keeps every row.
      if (axis === 0 && !(starts[i] === 0 && typeof ends[i] === 'number' && (ends[i] as number) >= 2 ** 31 - 1 && steps[i] === 1)) return 'it slices along axis 0, the batch dimension';
    }
    return [row(rankOf(rank))];
  }

  private matMul(inputs: Known[]): Judged {
    const [a, b] = inputs;
    const [ra, rb] = [a?.dims?.length, b?.dims?.length];
    if (ra === undefined || rb === undefined) return 'its operands are of unknown rank';
    // Rows times a constant matrix (or vector): each row's product is its own.
    if (a?.row && !b?.row && ra >= 2 && rb <= 2) return [row(rankOf(rb === 1 ? ra - 1 : ra))];
    // Stacks of matrices, the batch dimension the stack's: per row when both are rows of one rank, or a constant matrix times each.
    if (a?.row && b?.row && ra === rb && ra >= 3) return [row(rankOf(ra))];
    if (!a?.row && b?.row && ra <= 2 && rb >= 3) return [row(rankOf(rb))];
    return 'it multiplies across the batch dimension';
  }
}

/**
 * Why a raw model's graph may compute a row from other rows (an op's type and name, and the reason),
 * or undefined when every op that takes rows is known to keep them apart. Called only for a model
 * whose signature has a batch dimension (rawBatchable); a graph it cannot read is said to mix rows.
 */
export async function rowMixing(signature: ModelSignature, bytes: Uint8Array): Promise<string | undefined> {
  let model: ModelFacts;
  try {
    model = await graphFacts(bytes);
  } catch (err) {
    return `its graph could not be read to tell (${(err as Error).message})`;
  }
  const { opset, graph } = model;
  const judge = new Judge(opset);
  for (const t of graph.initializers) judge.set(t.name, { row: false, dims: t.dims, values: t.values });
  // Inputs come after the initializers: an input of an initializer's name (IR < 4: a default) is fed.
  for (const input of signature.inputs) judge.set(input.name, row(input.shape.map((d, i) => (i > 0 && typeof d === 'number' && d >= 0 ? d : null))));
  for (const node of graph.nodes) {
    const inputs = node.inputs.map((name) => (name === '' ? { row: false } : judge.get(name)));
    const takesRows = inputs.some((k) => k.row || k.values?.includes('N'));
    let judged: Judged;
    if (!takesRows) {
      // A constant: a Constant node's value is known; one made from the batch's size is followed (Shape arithmetic).
      const value = node.opType === 'Constant' && node.domain === '' ? node.attributes.get('value')?.tensor : undefined;
      // value_ints with no list read (empty, or too long to be kept): a constant of values not known.
      const ints = node.attributes.get('value_ints')?.ints;
      judged = value !== undefined ? [{ row: false, dims: value.dims, values: value.values }] : ints !== undefined ? [{ row: false, dims: [ints.length], values: ints }] : node.outputs.map(() => ({ row: false }));
    } else judged = judge.judge(node, inputs);
    if (typeof judged === 'string') return `its ${node.opType} node${node.name === '' ? '' : ` '${node.name}'`}: ${judged}`;
    node.outputs.forEach((name, i) => judge.set(name, judged[i] ?? { row: false }));
  }
  for (const output of signature.outputs) {
    if (judge.get(output.name).values?.includes('N')) return `its output '${output.name}' is computed from the batch's size (from Shape)`;
  }
  return undefined;
}
