// XGBoost's JSON model format -> an ONNX graph onnxruntime serves like any model: the trees become
// one ai.onnx.ml TreeEnsembleRegressor computing the margin (base_score included), and standard
// operators finish it per objective — Sigmoid (+ the two-column probabilities and a 0.5 threshold
// label) for binary:logistic, Softmax + ArgMax for multi:softprob/softmax, Exp for count:poisson,
// reg:gamma, reg:tweedie and survival:*, the sign for binary:hinge, nothing for the others (regression, ranking). (Margin first, then standard operators, keeps XGBoost's own formula — sigmoid or
// softmax of the summed margin, label at p > 0.5 or the first largest probability — instead of
// depending on TreeEnsembleClassifier's conventions for binary and post-transformed scores.)
// A missing value (NaN) takes each split's default direction, as in XGBoost; so does the estimator's
// own `missing` value (XGBClassifier(missing=-999)), mapped to NaN before the trees.
import onnxProto from 'onnx-proto';
import { DT, attr, encodeModel, type AttributeProto, type GraphProto, type NodeProto, type ValueInfoProto } from '../optimize/proto.js';

const AT = onnxProto.onnx.AttributeProto.AttributeType;
const utf8 = new TextEncoder();

export const SUPPORTED_OBJECTIVES = [
  'binary:logistic', 'binary:logitraw', 'reg:squarederror', 'reg:linear', 'reg:logistic', 'multi:softprob', 'multi:softmax',
  'reg:pseudohubererror', 'reg:absoluteerror', 'count:poisson', 'reg:gamma', 'reg:tweedie',
  'binary:hinge', 'reg:squaredlogerror', 'rank:pairwise', 'rank:ndcg', 'rank:map', 'survival:cox', 'survival:aft',
] as const;

/** Objectives whose prediction is exp(margin), as XGBoost's PredTransform (base_score is log'd to the margin). */
const LOG_LINK = ['count:poisson', 'reg:gamma', 'reg:tweedie', 'survival:cox', 'survival:aft'];

export interface ConvertedModel {
  bytes: Uint8Array;
  objective: string;
  numFeature: number;
  numClass: number;
  /** The training data's column names when XGBoost saved them (a DataFrame, or feature_names=). */
  featureNames?: string[];
  /** Output names: 'label' + 'probabilities' for classifiers, 'variable' ([N, 1]) or 'margin' otherwise. */
  outputs: string[];
  /** Set when only the first `used` of `total` boosting rounds are served (early stopping, see bestRounds). */
  rounds?: { used: number; total: number };
  /** The scikit-learn estimator's `missing` value (other than NaN), served as a missing value. */
  missing?: number;
}

interface Tree {
  left_children: number[];
  right_children: number[];
  split_indices: number[];
  split_conditions: number[];
  default_left: Array<number | boolean>;
  split_type?: number[];
}

export class XgboostFormatError extends Error {}

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined || value === null) throw new XgboostFormatError(`not an XGBoost JSON model: no ${what}`);
  return value;
}

/** XGBoost writes numbers in its params as strings, base_score sometimes as "[5E-1]" (2.x). */
function paramNumber(value: unknown, what: string): number {
  const n = Number(String(need(value, what)).replace(/^\[|\]$/g, ''));
  if (!Number.isFinite(n)) throw new XgboostFormatError(`${what} is not a number: ${String(value)}`);
  return n;
}

/**
 * A count of the model file (num_feature, num_class): a whole number from 1. "1e300" was taken as a number, and
 * num_feature then said to differ from model.yaml's width, num_class to allocate one base score per class.
 */
function paramCount(value: unknown, what: string): number {
  const n = paramNumber(value, what);
  if (!Number.isSafeInteger(n) || n < 1 || n > 2 ** 31 - 1) throw new XgboostFormatError(`${what} is ${String(value)}, not a whole number from 1 to 2147483647`);
  return n;
}

/**
 * base_score as one value per output: XGBoost 3 writes a vector, "[-1.1E-1,2.3E-1,1E0]" (one per
 * class for multi:softprob), older versions one number, which applies to every output.
 */
function baseScores(value: unknown, outputs: number): number[] {
  const text = String(need(value, 'base_score')).trim();
  const parts = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1).split(',') : [text];
  const values = parts.map((p) => Number(p.trim()));
  if (parts.some((p) => p.trim() === '') || values.some((n) => !Number.isFinite(n))) throw new XgboostFormatError(`base_score is not a number or a list of numbers: ${text}`);
  if (values.length === 1) return Array.from({ length: outputs }, () => values[0]!);
  if (values.length !== outputs) throw new XgboostFormatError(`base_score has ${values.length} values for ${outputs} ${outputs === 1 ? 'output' : 'classes'}: ${text}`);
  return values;
}

/**
 * The value XGBoost's scikit-learn estimator treats as missing besides NaN (XGBClassifier(missing=-999)):
 * saved in learner.attributes.scikit_learn, a Python json.dumps text (NaN for the default), by the
 * estimator's save_model only. A Booster records none: DMatrix(missing=...) is not saved with the model.
 */
function sklearnMissing(learner: Record<string, unknown>): number | undefined {
  const sklearn = (learner.attributes as Record<string, unknown> | undefined)?.scikit_learn;
  if (typeof sklearn !== 'string') return undefined;
  // Python writes NaN and Infinity, which JSON.parse refuses: read the one value.
  const m = /"missing":\s*(-?Infinity|NaN|null|-?\d[\d.eE+-]*)/.exec(sklearn);
  if (!m || m[1] === 'NaN' || m[1] === 'null') return undefined;
  const n = Number(m[1]);
  if (Number.isNaN(n)) throw new XgboostFormatError(`scikit_learn's missing is not a number: ${m[1]}`);
  return n;
}

const strings = (name: string, values: string[]): AttributeProto => ({ name, type: AT.STRINGS, strings: values.map((s) => utf8.encode(s)) });
const ints = (name: string, values: number[]): AttributeProto => attr(name, { ints: values });
const floats = (name: string, values: number[]): AttributeProto => attr(name, values);

function tensorInfo(name: string, elemType: number, dims: Array<number | string>): ValueInfoProto {
  return { name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } };
}

function node(opType: string, input: string[], output: string[], attribute: AttributeProto[] = [], domain = ''): NodeProto {
  return { opType, domain, name: output[0], input, output, attribute };
}

interface BoosterModel {
  trees?: Tree[];
  tree_info?: number[];
  gbtree_model_param?: { num_parallel_tree?: string; num_trees?: string };
  /** XGBoost 2: where each boosting round's trees start. */
  iteration_indptr?: number[];
}

/**
 * The rounds a model saved by XGBoost's scikit-learn estimator (XGBClassifier / XGBRegressor)
 * answers with: when it was trained with early stopping, its predict() uses the rounds up to
 * best_iteration only, and the file keeps the later rounds too. Undefined (every tree, as
 * Booster.predict uses) for a model saved from a Booster, or without early stopping.
 */
function bestRounds(learner: Record<string, unknown>, model: BoosterModel, treeCount: number, numClass: number): { used: number; total: number; trees: number } | undefined {
  const attributes = learner.attributes as Record<string, string> | undefined;
  if (attributes?.scikit_learn === undefined || attributes.best_iteration === undefined) return undefined;
  const used = paramNumber(attributes.best_iteration, 'best_iteration') + 1;
  const indptr = model.iteration_indptr;
  const perRound = numClass * paramNumber(model.gbtree_model_param?.num_parallel_tree ?? '1', 'num_parallel_tree');
  const total = indptr ? indptr.length - 1 : treeCount / perRound;
  if (!Number.isInteger(used) || used < 1 || used >= total) return undefined;
  return { used, total, trees: indptr ? indptr[used]! : used * perRound };
}

/** What a JSON value is, for a refusal: null, a number, an array, ... */
function jsonKind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * The tree count and each tree's structure, as onnxruntime needs them (it refuses, at load, a child
 * index out of range or a node pointing to itself, and misreads a node reached twice): the arrays of
 * one length, numbers where numbers are, -1 for both children of a leaf only, and every node reached
 * once from the root (0) — except the nodes XGBoost's pruner deleted (tree_param.num_deleted), leaves
 * no node points to.
 */
function checkTrees(trees: unknown, model: BoosterModel): asserts trees is Tree[] {
  if (!Array.isArray(trees)) throw new XgboostFormatError(`not an XGBoost JSON model: trees is ${jsonKind(trees)}, not a list of trees`);
  const numTrees = model.gbtree_model_param?.num_trees;
  if (numTrees !== undefined && paramNumber(numTrees, 'num_trees') !== trees.length) {
    throw new XgboostFormatError(`the model has ${trees.length} trees where gbtree_model_param.num_trees says ${String(numTrees)}`);
  }
  const treeInfo = model.tree_info;
  if (!Array.isArray(treeInfo) || treeInfo.length !== trees.length) {
    throw new XgboostFormatError(`tree_info has ${Array.isArray(treeInfo) ? `${treeInfo.length} entries` : `${jsonKind(treeInfo)}`} for ${trees.length} trees`);
  }
  trees.forEach((tree: unknown, treeId) => {
    const at = `tree ${treeId}`;
    if (tree === null || typeof tree !== 'object' || Array.isArray(tree)) throw new XgboostFormatError(`${at} is ${jsonKind(tree)}, not a tree`);
    const t = tree as Record<string, unknown>;
    const arrays = ['left_children', 'right_children', 'split_indices', 'split_conditions', 'default_left', ...(t.split_type === undefined ? [] : ['split_type'])];
    for (const name of arrays) if (!Array.isArray(t[name])) throw new XgboostFormatError(`${at}: ${name} is ${t[name] === undefined ? 'missing' : jsonKind(t[name])}, not a list`);
    const n = (t.left_children as unknown[]).length;
    if (n === 0) throw new XgboostFormatError(`${at} has no nodes`);
    for (const name of arrays) {
      const length = (t[name] as unknown[]).length;
      if (length !== n) throw new XgboostFormatError(`${at}: ${name} has ${length} entries, left_children ${n}`);
    }
    const left = t.left_children as unknown[];
    const right = t.right_children as unknown[];
    const splitType = t.split_type as unknown[] | undefined;
    for (let i = 0; i < n; i++) {
      // Said first: a categorical split's split_condition is NaN (read as null), not a number.
      if (splitType !== undefined && splitType[i] !== 0 && left[i] !== -1) {
        throw new XgboostFormatError(`${at}, node ${i} splits on categorical feature ${String((t.split_indices as unknown[])[i])} (trained with enable_categorical), which modelserve cannot serve; train with the categories as numbers or one-hot columns instead`);
      }
      const value = (name: string, check: (v: unknown) => boolean, what: string): void => {
        const v = (t[name] as unknown[])[i];
        if (!check(v)) throw new XgboostFormatError(`${at}, node ${i}: ${name} is ${JSON.stringify(v) ?? 'missing'}, not ${what}`);
      };
      const isChild = (v: unknown) => Number.isInteger(v) && (v === -1 || ((v as number) >= 0 && (v as number) < n));
      value('left_children', isChild, `a node of the tree (0 to ${n - 1}) or -1`);
      value('right_children', isChild, `a node of the tree (0 to ${n - 1}) or -1`);
      if ((left[i] === -1) !== (right[i] === -1)) throw new XgboostFormatError(`${at}, node ${i}: left child ${String(left[i])} and right child ${String(right[i])} (a leaf has -1 for both, a split neither)`);
      value('split_conditions', (v) => typeof v === 'number' && Number.isFinite(v), left[i] === -1 ? 'a number (the leaf value)' : 'a number');
      if (left[i] !== -1) {
        value('split_indices', (v) => Number.isInteger(v) && (v as number) >= 0, 'a feature index');
        value('default_left', (v) => typeof v === 'number' || typeof v === 'boolean', 'a number or boolean');
      }
    }
    const reachedFrom = new Array<number | undefined>(n);
    reachedFrom[0] = -1;
    const stack = [0];
    while (stack.length > 0) {
      const i = stack.pop()!;
      if (left[i] === -1) continue;
      if (left[i] === right[i]) throw new XgboostFormatError(`${at}, node ${i}: both children are node ${String(left[i])}`);
      for (const child of [left[i] as number, right[i] as number]) {
        if (child === i) throw new XgboostFormatError(`${at}, node ${i}: points to itself`);
        const before = reachedFrom[child];
        if (before !== undefined) throw new XgboostFormatError(`${at}, node ${child}: reached twice, ${before === -1 ? 'as the root' : `from node ${before}`} and from node ${i} (a cycle or a shared subtree)`);
        reachedFrom[child] = i;
        stack.push(child);
      }
    }
    const unreached = [...reachedFrom.keys()].filter((i) => reachedFrom[i] === undefined);
    const deleted = Number((t.tree_param as Record<string, unknown> | undefined)?.num_deleted ?? 0);
    const stray = unreached.find((i) => left[i] !== -1);
    if (unreached.length > deleted || stray !== undefined) {
      throw new XgboostFormatError(`${at}, node ${stray ?? unreached[0]}: not reached from the root (${unreached.length} of ${n} nodes are not${deleted ? `, ${deleted} deleted` : ''})`);
    }
  });
}

/** A dart booster's weight_drop: one finite number per tree. */
function dartWeights(value: unknown, treeCount: number): number[] {
  if (!Array.isArray(value)) throw new XgboostFormatError(`not an XGBoost JSON model: the dart booster's weight_drop is ${value === undefined ? 'missing' : jsonKind(value)}, not a list`);
  if (value.length !== treeCount) throw new XgboostFormatError(`the dart booster's weight_drop has ${value.length} entries for ${treeCount} trees`);
  const bad = value.findIndex((w) => typeof w !== 'number' || !Number.isFinite(w));
  if (bad !== -1) throw new XgboostFormatError(`the dart booster's weight_drop ${bad} is ${JSON.stringify(value[bad]) ?? 'missing'}, not a number`);
  return value as number[];
}

/** gblinear's weights: (features + 1) x outputs finite numbers, feature-major, the biases last. */
function gblinearWeights(value: unknown, numFeature: number, outputs: number): number[] {
  if (!Array.isArray(value)) throw new XgboostFormatError(`not an XGBoost JSON model: the gblinear booster's weights are ${value === undefined ? 'missing' : jsonKind(value)}, not a list`);
  const expected = (numFeature + 1) * outputs;
  if (value.length !== expected) throw new XgboostFormatError(`the gblinear booster has ${value.length} weights where ${numFeature} features and ${outputs} ${outputs === 1 ? 'output' : 'classes'} need ${expected}`);
  const bad = value.findIndex((w) => typeof w !== 'number' || !Number.isFinite(w));
  if (bad !== -1) throw new XgboostFormatError(`the gblinear booster's weight ${bad} is ${JSON.stringify(value[bad]) ?? 'missing'}, not a number`);
  return value as number[];
}

/** Converts a parsed XGBoost JSON model (Booster.save_model('model.json')). */
export function convertXgboost(json: unknown): ConvertedModel {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new XgboostFormatError(`not an XGBoost JSON model: it holds ${jsonKind(json)}, not an object with a learner`);
  const learner = need((json as { learner?: Record<string, unknown> }).learner, 'learner');
  const params = need(learner.learner_model_param as Record<string, unknown> | undefined, 'learner_model_param');
  const objective = String(need((learner.objective as { name?: string } | undefined)?.name, 'objective'));
  if (!(SUPPORTED_OBJECTIVES as readonly string[]).includes(objective)) {
    throw new XgboostFormatError(`objective ${objective} is not supported (supported: ${SUPPORTED_OBJECTIVES.join(', ')})`);
  }
  const saved = need(learner.gradient_booster as { name?: string; model?: BoosterModel & { weights?: unknown }; gbtree?: { model?: BoosterModel }; weight_drop?: unknown } | undefined, 'gradient_booster');
  if (saved.name !== 'gbtree' && saved.name !== 'dart' && saved.name !== 'gblinear') throw new XgboostFormatError(`booster ${saved.name} is not supported (only gbtree, dart and gblinear)`);
  const linear = saved.name === 'gblinear';
  // dart keeps its trees in a gbtree, and predicts (outside training) with each tree scaled by its weight_drop.
  const booster = saved.name === 'dart' ? need(saved.gbtree, 'gbtree (of the dart booster)') : saved;
  const allTrees: unknown = linear ? [] : need(booster.model?.trees, 'trees');
  const treeInfo = linear ? [] : need(booster.model?.tree_info, 'tree_info');
  if (!linear) checkTrees(allTrees, booster.model!);
  const numFeature = paramCount(params.num_feature, 'num_feature');
  const multi = objective.startsWith('multi:');
  const numClass = multi ? paramCount(params.num_class, 'num_class') : 1;
  // Each round grows one tree per class: more classes than trees is no model XGBoost wrote (and sized what follows).
  if (!linear && numClass > (allTrees as Tree[]).length) throw new XgboostFormatError(`num_class is ${numClass} but the model has ${(allTrees as Tree[]).length} trees: each boosting round grows one tree per class`);
  const names = learner.feature_names;
  if (Array.isArray(names) && names.length > 0 && (names.length !== numFeature || names.some((n) => typeof n !== 'string'))) {
    throw new XgboostFormatError(names.length !== numFeature ? `feature_names has ${names.length} names but num_feature is ${numFeature}` : 'feature_names holds a value that is not a string');
  }
  // gblinear keeps only its last weights, which its estimator's predict uses whatever best_iteration says.
  const rounds = linear ? undefined : bestRounds(learner, booster.model!, (allTrees as Tree[]).length, numClass);
  const trees = rounds === undefined ? (allTrees as Tree[]) : (allTrees as Tree[]).slice(0, rounds.trees);
  const linearWeights = linear ? gblinearWeights(need(saved.model, 'model (of the gblinear booster)').weights, numFeature, numClass) : undefined;
  const numTarget = paramNumber(params.num_target ?? '1', 'num_target');
  if (numTarget !== 1) throw new XgboostFormatError(`models with several targets are not supported: num_target is ${numTarget} (trained on a label with ${numTarget} columns, or reg:quantileerror with ${numTarget} quantile_alpha values); train one model per target`);
  // base_score is kept in the objective's output space (the identity for softmax); the trees add to the margin.
  const logistic = objective === 'binary:logistic' || objective === 'reg:logistic';
  const logLink = LOG_LINK.includes(objective);
  const baseMargins = baseScores(params.base_score, numClass).map((baseScore) => {
    if (logistic && !(baseScore > 0 && baseScore < 1)) throw new XgboostFormatError(`base_score ${baseScore} is not a probability`);
    if (logLink && !(baseScore > 0)) throw new XgboostFormatError(`base_score ${baseScore} is not positive (${objective} predicts exp of the margin)`);
    return logistic ? Math.log(baseScore / (1 - baseScore)) : logLink ? Math.log(baseScore) : baseScore;
  });
  const missing = sklearnMissing(learner);
  const treeWeights = saved.name === 'dart' ? dartWeights(saved.weight_drop, (allTrees as Tree[]).length) : undefined;

  const a = { treeIds: [] as number[], nodeIds: [] as number[], featureIds: [] as number[], values: [] as number[], modes: [] as string[], trueIds: [] as number[], falseIds: [] as number[], missingTrue: [] as number[] };
  const t = { treeIds: [] as number[], nodeIds: [] as number[], ids: [] as number[], weights: [] as number[] };
  trees.forEach((tree, treeId) => {
    const n = tree.left_children.length;
    for (let i = 0; i < n; i++) {
      const left = tree.left_children[i]!;
      a.treeIds.push(treeId);
      a.nodeIds.push(i);
      if (left === -1) {
        a.featureIds.push(0); a.values.push(0); a.modes.push('LEAF'); a.trueIds.push(0); a.falseIds.push(0); a.missingTrue.push(0);
        t.treeIds.push(treeId); t.nodeIds.push(i); t.ids.push(multi ? treeInfo[treeId]! : 0); t.weights.push(tree.split_conditions[i]! * (treeWeights?.[treeId] ?? 1));
      } else {
        const feature = tree.split_indices[i]!;
        if (feature >= numFeature) throw new XgboostFormatError(`tree ${treeId} splits on feature ${feature} of ${numFeature}`);
        // XGBoost goes left when x < split_condition, and left for a missing value when default_left.
        a.featureIds.push(feature); a.values.push(tree.split_conditions[i]!); a.modes.push('BRANCH_LT');
        a.trueIds.push(left); a.falseIds.push(tree.right_children[i]!); a.missingTrue.push(tree.default_left[i] ? 1 : 0);
      }
    }
  });

  const margin = 'margin';
  const nodes: NodeProto[] = [];
  const initializers = [];
  if (missing !== undefined) {
    initializers.push({ name: 'missing_value', dims: [], dataType: DT.FLOAT, floatData: [missing] }, { name: 'nan', dims: [], dataType: DT.FLOAT, floatData: [NaN] });
    nodes.push(node('Equal', ['input', 'missing_value'], ['is_missing']), node('Where', ['is_missing', 'nan', 'input'], ['features']));
  }
  const features = missing === undefined ? 'input' : 'features';
  if (linearWeights) {
    // gblinear: bias + base_score + the sum of weight * value over the values present (a missing one adds nothing).
    initializers.push(
      { name: 'linear_zero', dims: [], dataType: DT.FLOAT, floatData: [0] },
      { name: 'linear_weights', dims: [numFeature, numClass], dataType: DT.FLOAT, floatData: linearWeights.slice(0, numFeature * numClass) },
      { name: 'linear_bias', dims: [numClass], dataType: DT.FLOAT, floatData: linearWeights.slice(numFeature * numClass).map((b, k) => b + baseMargins[k]!) },
    );
    nodes.push(
      node('IsNaN', [features], ['linear_missing']),
      node('Where', ['linear_missing', 'linear_zero', features], ['linear_present']),
      node('MatMul', ['linear_present', 'linear_weights'], ['linear_sum']),
      node('Add', ['linear_sum', 'linear_bias'], [margin]),
    );
  } else nodes.push(node('TreeEnsembleRegressor', [features], [margin], [
    ints('nodes_treeids', a.treeIds), ints('nodes_nodeids', a.nodeIds), ints('nodes_featureids', a.featureIds),
    floats('nodes_values', a.values), strings('nodes_modes', a.modes), ints('nodes_truenodeids', a.trueIds),
    ints('nodes_falsenodeids', a.falseIds), ints('nodes_missing_value_tracks_true', a.missingTrue),
    ints('target_treeids', t.treeIds), ints('target_nodeids', t.nodeIds), ints('target_ids', t.ids), floats('target_weights', t.weights),
    attr('n_targets', { int: numClass }), floats('base_values', baseMargins),
    attr('aggregate_function', 'SUM'), attr('post_transform', 'NONE'),
  ], 'ai.onnx.ml'));
  let outputs: ValueInfoProto[];
  if (objective === 'binary:hinge') {
    // XGBoost predicts 1 where the margin is above 0, else 0; its estimator's predict_proba is [1 - that, that].
    initializers.push(
      { name: 'zero', dims: [], dataType: DT.FLOAT, floatData: [0] },
      { name: 'one', dims: [], dataType: DT.FLOAT, floatData: [1] },
      { name: 'axis_1', dims: [1], dataType: DT.INT64, int64Data: [1] },
    );
    nodes.push(
      node('Greater', [margin, 'zero'], ['is_one']),
      node('Cast', ['is_one'], ['p1'], [attr('to', { int: DT.FLOAT })]),
      node('Sub', ['one', 'p1'], ['p0']),
      node('Concat', ['p0', 'p1'], ['probabilities'], [attr('axis', { int: 1 })]),
      node('Cast', ['is_one'], ['label_2d'], [attr('to', { int: DT.INT64 })]),
      node('Squeeze', ['label_2d', 'axis_1'], ['label']),
    );
    outputs = [tensorInfo('label', DT.INT64, ['N']), tensorInfo('probabilities', DT.FLOAT, ['N', 2])];
  } else if (objective === 'binary:logistic') {
    initializers.push(
      { name: 'one', dims: [], dataType: DT.FLOAT, floatData: [1] },
      { name: 'half', dims: [], dataType: DT.FLOAT, floatData: [0.5] },
      { name: 'axis_1', dims: [1], dataType: DT.INT64, int64Data: [1] },
    );
    nodes.push(
      node('Sigmoid', [margin], ['p1']),
      node('Sub', ['one', 'p1'], ['p0']),
      node('Concat', ['p0', 'p1'], ['probabilities'], [attr('axis', { int: 1 })]),
      node('Greater', ['p1', 'half'], ['is_one']),
      node('Cast', ['is_one'], ['label_2d'], [attr('to', { int: DT.INT64 })]),
      node('Squeeze', ['label_2d', 'axis_1'], ['label']),
    );
    outputs = [tensorInfo('label', DT.INT64, ['N']), tensorInfo('probabilities', DT.FLOAT, ['N', 2])];
  } else if (multi) {
    nodes.push(
      node('Softmax', [margin], ['probabilities'], [attr('axis', { int: 1 })]),
      node('ArgMax', ['probabilities'], ['label'], [attr('axis', { int: 1 }), attr('keepdims', { int: 0 })]),
    );
    outputs = [tensorInfo('label', DT.INT64, ['N']), tensorInfo('probabilities', DT.FLOAT, ['N', numClass])];
  } else if (objective === 'reg:logistic' || logLink) {
    nodes.push(node(logLink ? 'Exp' : 'Sigmoid', [margin], ['variable']));
    outputs = [tensorInfo('variable', DT.FLOAT, ['N', 1])];
  } else if (objective === 'binary:logitraw') {
    outputs = [tensorInfo('margin', DT.FLOAT, ['N', 1])];
  } else {
    nodes.push(node('Identity', [margin], ['variable']));
    outputs = [tensorInfo('variable', DT.FLOAT, ['N', 1])];
  }
  const featureNames = Array.isArray(learner.feature_names) && learner.feature_names.length === numFeature ? (learner.feature_names as string[]) : undefined;
  const graph: GraphProto = { name: `xgboost ${objective}`, node: nodes, initializer: initializers, input: [tensorInfo('input', DT.FLOAT, ['N', numFeature])], output: outputs };
  const bytes = encodeModel({
    irVersion: 8,
    producerName: 'modelserve-xgboost',
    opsetImport: [{ domain: '', version: 15 }, { domain: 'ai.onnx.ml', version: 3 }],
    graph,
    metadataProps: [{ key: 'xgboost_objective', value: objective }, ...(featureNames ? [{ key: 'feature_names', value: featureNames.join(',') }] : [])],
  } as never);
  return { bytes, objective, numFeature, numClass, featureNames, outputs: outputs.map((o) => o.name ?? ''), ...(rounds && { rounds: { used: rounds.used, total: rounds.total } }), ...(missing !== undefined && { missing }) };
}
