// What a model looks like over the Open Inference Protocol, and the codec between OIP tensors and
// the core (ServableVersion.infer), shared by the REST and gRPC front doors.
//
// Two views:
// - 'fields' (a model with a model.yaml): one input tensor per field — a column, shape [N] or
//   [N, 1], as MLServer's pandas codec does — turned into rows and put through the config's own
//   validation and encoding (ranges, enums, defaults, scaling, string tensors), exactly what the
//   JSON API does; one output tensor per response field (class labels BYTES, columns FP32 from a
//   float32 output and FP64 from any other, raw outputs in the model's type).
// - 'raw' (a folder with only an .onnx file): the ONNX graph's own inputs and outputs, fed as they
//   come after datatype and shape checks.
import type { ServableVersion } from '../../core/servable.js';
import { rawBatchable, rawOutputs } from '../../config/signature.js';
import type { ElementType, NamedTensors, TensorData, TensorInfo } from '../../runtime/types.js';
import { TOO_MANY_ERRORS, type Row } from '../../validation/request-validator.js';
import { checkColumn, exactNumber } from '../../response/decode.js';
import { badTensor, shapeText, type Datatype, type OipTensor, type TensorValues } from './tensors.js';
import type { ClientProbe } from '../../core/prediction-tap.js';

export interface TensorMetadata {
  name: string;
  datatype: Datatype;
  /** -1 for a variable dimension. */
  shape: number[];
}

export type ViewKind = 'fields' | 'raw';

export interface ModelView {
  kind: ViewKind;
  /** Batched as Triton's model configuration says (max_batch_size > 0: the first dimension is the batch's). */
  batched: boolean;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
  /** OIP input tensors -> the version's feeds and row count (MS_ERR_BAD_TENSOR naming the tensor). */
  toFeeds(tensors: readonly OipTensor[]): { feeds: NamedTensors; rows: number };
  /** The ONNX outputs to fetch for these requested outputs (undefined: the version's default set). */
  onnxOutputs(requested: readonly string[] | undefined): readonly string[] | undefined;
  /** The version's outputs -> the response tensors, in the requested order (all outputs when none requested). */
  fromOutputs(outputs: NamedTensors, rows: number, requested: readonly string[] | undefined): OipTensor[];
  /** A response tensor as Triton's classification extension answers it (`count` classes per row, with labels where known). */
  classify(t: OipTensor, count: number): OipTensor;
}

const DATATYPE_OF: Record<ElementType, Datatype> = {
  float32: 'FP32', float64: 'FP64', int8: 'INT8', int16: 'INT16', int32: 'INT32', int64: 'INT64',
  uint8: 'UINT8', uint16: 'UINT16', uint32: 'UINT32', uint64: 'UINT64', string: 'BYTES', bool: 'BOOL',
};

/**
 * The OIP datatype of an element type modelserve carries. Any other type (float16, a non-tensor
 * output) is refused when the model loads (checkRawSignature, checkSignature) or not served (a raw
 * model's other outputs): meeting one here is a bug, never described as some other datatype.
 */
export function datatypeOf(type: string): Datatype {
  const datatype = Object.hasOwn(DATATYPE_OF, type) ? DATATYPE_OF[type as ElementType] : undefined;
  if (datatype === undefined) throw new Error(`element type ${type} has no Open Inference Protocol datatype modelserve carries`);
  return datatype;
}

const metaShape = (shape: ReadonlyArray<number | string>): number[] => shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1));
/**
 * A graph tensor's metadata shape. One of no declared shape (any rank) is [-1], as the protocol has no
 * word for an unknown rank and -1 is its "any size"; a request may give it any shape ([] is a scalar's).
 */
const tensorShape = (t: TensorInfo): number[] => (t.shapeDeclared === false ? [-1] : metaShape(t.shape));

const listed = (names: readonly string[]) => names.map((n) => `'${n}'`).join(', ');

function checkNames(tensors: readonly OipTensor[], known: ReadonlyMap<string, unknown>): void {
  const seen = new Set<string>();
  for (const t of tensors) {
    if (!known.has(t.name)) throw badTensor(`unknown input '${String(t.name).slice(0, 64)}' (the model's inputs: ${listed([...known.keys()])})`);
    if (seen.has(t.name)) throw badTensor(`input '${t.name}' is given twice`);
    seen.add(t.name);
  }
}

function checkRequested(requested: readonly string[] | undefined, known: readonly string[]): void {
  for (const name of requested ?? []) {
    if (!known.includes(name)) throw badTensor(`unknown output '${String(name).slice(0, 64)}' (the model's outputs: ${listed(known)})`);
  }
}

// ---- raw view ---------------------------------------------------------------------------------

function rawView(version: ServableVersion): ModelView {
  const inputs = version.signature.inputs;
  const outputs = rawOutputs(version.signature);
  const byName = new Map<string, TensorInfo>(inputs.map((i) => [i.name, i]));
  const outputNames = outputs.map((o) => o.name);
  // Batched as Triton's model configuration says (configTensors: max_batch_size > 0), and as the
  // batcher runs it (ModelVersion): one rule, so /config never promises batches that are not made.
  // When the batcher finds at run time that the answers are not per row, it runs each request alone
  // and configTensors says max_batch_size 0 from then on (ServableVersion.runsAlone): requests are
  // then read and answered as an unbatched model's, whole tensors in and out (perRow, per request).
  const batchable = rawBatchable(version.signature);
  const perRow = (): boolean => batchable && version.runsAlone !== true;
  return {
    kind: 'raw',
    batched: batchable,
    inputs: inputs.map((i) => ({ name: i.name, datatype: datatypeOf(i.type), shape: tensorShape(i) })),
    outputs: outputs.map((o) => ({ name: o.name, datatype: datatypeOf(o.type), shape: tensorShape(o) })),
    toFeeds(tensors) {
      checkNames(tensors, byName);
      const batched = perRow();
      const given = new Map(tensors.map((t) => [t.name, t]));
      const feeds: NamedTensors = {};
      let rows: number | undefined;
      for (const info of inputs) {
        const t = given.get(info.name);
        if (t === undefined) throw badTensor(`missing input '${info.name}' (the model's inputs: ${listed([...byName.keys()])})`);
        const want = datatypeOf(info.type);
        if (t.datatype !== want) throw badTensor(`input '${t.name}': datatype ${t.datatype}, but the model takes ${want}`);
        const expected = metaShape(info.shape);
        const fits = info.shapeDeclared === false || (t.shape.length === expected.length && expected.every((d, i) => d < 0 || d === t.shape[i]));
        if (!fits) throw badTensor(`input '${t.name}': shape ${shapeText(t.shape)} does not fit the model's [${expected.join(', ')}] (-1: any size)`);
        const n = t.shape.length === 0 ? 1 : t.shape[0]!;
        if (batched && rows !== undefined && n !== rows) {
          throw badTensor(`input '${t.name}' has ${n} rows (first dimension) but the other inputs have ${rows}`);
        }
        rows ??= n;
        feeds[info.name] = { type: info.type as ElementType, dims: t.shape, data: t.values as TensorData['data'] };
      }
      // A batched model's first dimension is the batch's, of at least one row (a run of none is no request).
      // An unbatched one's is the graph's own, where 0 may be a valid size: the tensors go to onnxruntime, as one request.
      if (rows === 0 && batched) throw badTensor(`the request has no rows (input '${inputs[0]!.name}' has 0 in its first dimension, the batch dimension)`);
      return { feeds, rows: rows === undefined || rows === 0 ? 1 : rows };
    },
    onnxOutputs(requested) {
      checkRequested(requested, outputNames);
      return requested === undefined || requested.length === 0 ? undefined : requested;
    },
    fromOutputs(result, _rows, requested) {
      const names = requested !== undefined && requested.length > 0 ? requested : outputNames;
      return names.map((name) => {
        const t = result[name]!;
        return { name, datatype: datatypeOf(t.type), shape: t.dims, values: t.data as TensorValues };
      });
    },
    classify(t, count) {
      // The batch dimension is the first when the model is batched (as Triton's config says: max_batch_size > 0).
      const classes = version.classLinks?.[t.name]?.classes;
      return classify(t, count, perRow() && t.shape.length > 0, (i) => classes?.[i]);
    },
  };
}

// ---- fields view ------------------------------------------------------------------------------

/** Each tensor's values as a column of numbers, or undefined if any is not (strings, BigInts, booleans). */
function numberColumns(tensors: readonly OipTensor[]): Map<string, ArrayLike<number>> | undefined {
  const columns = new Map<string, ArrayLike<number>>();
  for (const t of tensors) {
    const v = t.values;
    if (Array.isArray(v) || v instanceof BigInt64Array || v instanceof BigUint64Array || t.datatype === 'BOOL') return undefined;
    columns.set(t.name, v as ArrayLike<number>);
  }
  return columns;
}

const ACCEPTED: Record<string, ReadonlySet<Datatype>> = {
  number: new Set<Datatype>(['FP64', 'FP32', 'INT8', 'INT16', 'INT32', 'INT64', 'UINT8', 'UINT16', 'UINT32', 'UINT64']),
  integer: new Set<Datatype>(['INT64', 'INT8', 'INT16', 'INT32', 'UINT8', 'UINT16', 'UINT32', 'UINT64']),
  string: new Set<Datatype>(['BYTES']),
  boolean: new Set<Datatype>(['BOOL']),
};
/** The datatype a field's tensor has in the fields view (metadata, the documented example). */
export const DECLARED: Record<string, Datatype> = { number: 'FP64', integer: 'INT64', string: 'BYTES', boolean: 'BOOL' };

function fieldsView(version: ServableVersion): ModelView {
  const { config, signature } = version;
  const fields = new Map(config.fields.map((f) => [f.name, f]));
  const onnxOut = new Map(signature.outputs.map((o) => [o.name, o]));
  const outputDatatype = (o: (typeof config.outputs)[number]): Datatype => {
    const type = onnxOut.get(o.from)?.type ?? 'float32';
    if (o.kind === 'label') return 'BYTES';
    // FP64 holds every integer type exactly but a 64-bit one past ±(2^53 - 1), refused per request (exactNumber).
    if (o.kind === 'column') return type === 'float32' ? 'FP32' : 'FP64';
    return datatypeOf(type);
  };
  const outputShape = (o: (typeof config.outputs)[number]): number[] => {
    if (o.kind !== 'raw') return [-1, 1];
    const shape = metaShape(onnxOut.get(o.from)?.shape ?? [-1]);
    // A first dimension fixed past 1 is not the rows (a constant [3]): each row gets the whole tensor.
    if (shape.length > 0 && shape[0]! > 1) return [-1, ...shape];
    return [-1, ...(shape.length > 1 ? shape.slice(1) : [1])];
  };
  const responseFields = config.outputs.map((o) => o.field);
  const byField = new Map(config.outputs.map((o) => [o.field, o]));
  return {
    kind: 'fields',
    batched: true,
    inputs: config.fields.map((f) => ({ name: f.name, datatype: DECLARED[f.type]!, shape: [-1, 1] })),
    outputs: config.outputs.map((o) => ({ name: o.field, datatype: outputDatatype(o), shape: outputShape(o) })),
    toFeeds(tensors) {
      checkNames(tensors, fields);
      let rows: number | undefined;
      let first = '';
      for (const t of tensors) {
        const field = fields.get(t.name)!;
        if (!ACCEPTED[field.type]!.has(t.datatype)) {
          throw badTensor(`input '${t.name}': datatype ${t.datatype}, but field '${t.name}' is ${field.type === 'integer' ? 'an' : 'a'} ${field.type} (send ${DECLARED[field.type]}${field.type === 'number' ? ', FP32 or an integer type' : field.type === 'integer' ? ' or another integer type' : ''})`);
        }
        if (!(t.shape.length === 1 || (t.shape.length === 2 && t.shape[1] === 1))) {
          throw badTensor(`input '${t.name}': shape ${shapeText(t.shape)}; a field's tensor is one column: [N] or [N, 1]`);
        }
        const n = t.shape[0]!;
        if (rows !== undefined && n !== rows) throw badTensor(`input '${t.name}' has ${n} rows but input '${first}' has ${rows}`);
        if (rows === undefined) { rows = n; first = t.name; }
      }
      for (const f of config.fields) {
        if (f.required && !tensors.some((t) => t.name === f.name)) throw badTensor(`missing input '${f.name}' (the model's inputs: ${listed([...fields.keys()])})`);
      }
      if (rows === undefined || rows === 0) throw badTensor('the request has no rows (every input tensor has 0 elements)');
      // Numeric columns that pass the fields' checks as they are skip the rows (a batch of 64
      // built 64 row objects, validated each and read them back).
      if (version.encodeColumns !== undefined) {
        const columns = numberColumns(tensors);
        const feeds = columns && version.encodeColumns(columns, rows);
        if (feeds) return { feeds, rows };
      }
      // Columns -> rows, then the config's own validation and encoding (the JSON API's path).
      const built: Row[] = new Array(rows);
      for (let r = 0; r < rows; r++) built[r] = {};
      for (const t of tensors) {
        const field = fields.get(t.name)!;
        const values = t.values;
        for (let r = 0; r < rows; r++) {
          const v = (values as ArrayLike<unknown>)[r];
          built[r]![t.name] = field.type === 'boolean' ? v !== 0 : typeof v === 'bigint' ? Number(v) : v;
        }
      }
      const validated = version.validate(built);
      if (!validated.ok) {
        const shownIssues = validated.issues.slice(0, 3).map((issue) => {
          const [, row, field] = issue.loc;
          return field === undefined ? issue.msg : `input '${field}' element ${row}: ${issue.msg}`;
        });
        // A list cut at MAX_ISSUES ends with an issue saying so: then there were more than it holds.
        const cut = validated.issues.at(-1)?.type === TOO_MANY_ERRORS;
        const listed = validated.issues.length - (cut ? 1 : 0);
        const more = listed > 3 ? ` (and ${cut ? 'more than ' : ''}${listed - 3} more)` : '';
        throw badTensor(`${shownIssues.join('; ')}${more}`);
      }
      return { feeds: version.encode(validated.rows), rows };
    },
    onnxOutputs(requested) {
      checkRequested(requested, responseFields);
      if (requested === undefined || requested.length === 0) return undefined;
      return [...new Set(requested.map((f) => byField.get(f)!.from))];
    },
    fromOutputs(result, rows, requested) {
      const names = requested !== undefined && requested.length > 0 ? requested : responseFields;
      return names.map((fieldName) => {
        const o = byField.get(fieldName)!;
        const t = result[o.from]!;
        const data = t.data as ArrayLike<unknown>;
        const width = rows === 0 ? 0 : Math.max(1, Math.floor(t.data.length / rows));
        if (o.kind === 'label') {
          const values = new Array<string>(rows);
          // A classifier's labels repeat (two classes here): a run of equal elements reuses the
          // last one's text instead of formatting (a BigInt's String) and looking it up again.
          let previous: unknown;
          let label = '';
          for (let r = 0; r < rows; r++) {
            const element = data[r * width];
            if (r === 0 || element !== previous) {
              const key = String(element);
              label = o.map[key] ?? key;
              previous = element;
            }
            values[r] = label;
          }
          return { name: fieldName, datatype: 'BYTES', shape: [rows, 1], values };
        }
        if (o.kind === 'column') {
          checkColumn(o, width, rows);
          const values = t.type === 'float32' ? new Float32Array(rows) : new Float64Array(rows);
          for (let r = 0; r < rows; r++) {
            const element = data[r * width + o.column];
            values[r] = typeof element === 'bigint' ? exactNumber(element, o, r) : Number(element);
          }
          return { name: fieldName, datatype: t.type === 'float32' ? 'FP32' : 'FP64', shape: [rows, 1], values };
        }
        // An output not of one entry per row (a scalar, a constant [3] of a one-row run) is that row's answer whole.
        const rowDims = t.dims[0] === rows ? t.dims.slice(1) : t.dims;
        return { name: fieldName, datatype: datatypeOf(t.type), shape: [rows, ...(rowDims.length > 0 ? rowDims : [1])], values: t.data as TensorValues };
      });
    },
    classify(t, count) {
      const o = byField.get(t.name)!;
      const name = classNames(version, o.from);
      // A column output's one element is the probability of its column's class.
      return classify(t, count, true, o.kind === 'column' ? (i) => (i === 0 ? name(o.column) : undefined) : name);
    },
  };
}

/**
 * The class of each column of ONNX output `from`, as the response names it: the classifier's class
 * (classlabels_*), renamed by the model.yaml `map` of a label output holding that classifier's
 * winning class (its label output, or an ArgMax over `from`: then the map's keys are column indices).
 */
function classNames(version: ServableVersion, from: string): (index: number) => string | undefined {
  const link = version.classLinks?.[from];
  if (link === undefined) return () => undefined;
  const labelOutput = version.config.outputs.find((o) => o.kind === 'label' && link.labels[o.from] !== undefined);
  if (labelOutput === undefined || labelOutput.kind !== 'label') return (i) => link.classes?.[i];
  const byIndex = link.labels[labelOutput.from] === 'index';
  return (i) => {
    const key = byIndex ? String(i) : link.classes?.[i];
    return key === undefined ? undefined : (labelOutput.map[key] ?? key);
  };
}

const views = new WeakMap<ServableVersion, ModelView>();

/** The OIP view of a loaded version (compiled once per version). */
export function viewOf(version: ServableVersion): ModelView {
  let view = views.get(version);
  if (view === undefined) {
    view = version.config.kind === 'raw' ? rawView(version) : fieldsView(version);
    views.set(version, view);
  }
  return view;
}

export interface InferRequest {
  inputs: readonly OipTensor[];
  /** Requested output names (none: every output). */
  outputs?: readonly string[];
  /** Requested outputs answered by Triton's classification extension: how many classes each (see classificationCount). */
  classification?: ReadonlyMap<string, number>;
  deadline?: number;
  /** The caller's socket or call (see RequestContext.client). */
  client?: ClientProbe;
  /** Who asked, for prediction events and the dashboard (see RequestContext). */
  requestId?: string;
  frontDoor?: string;
}

/**
 * A requested output's `classification` parameter (Triton's classification extension: REST
 * `parameters.classification`, gRPC `parameters["classification"].int64_param`): how many classes
 * to answer, or undefined when not asked. Anything but a positive integer is refused, naming the output.
 */
export function classificationCount(output: string, parameters: Record<string, unknown> | undefined): number | undefined {
  const given = parameters?.classification;
  if (given === undefined) return undefined;
  // A gRPC 64-bit integer past 2^53 (a BigInt): a count that large is every class of any row.
  const value = typeof given === 'bigint' && given > 0n ? Number(given) : given;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw badTensor(`output '${String(output).slice(0, 64)}': parameters.classification must be a positive integer (how many classes to return), not ${shownValue(value)}`);
  }
  return value;
}

/** A parameter's value in a message: a number or BigInt as itself (JSON.stringify shows 1e400 and a gRPC double_param NaN as null, and throws on a BigInt). */
function shownValue(value: unknown): string {
  return (typeof value === 'number' || typeof value === 'bigint' ? String(value) : String(JSON.stringify(value))).slice(0, 40);
}

/**
 * The request's own parameters: `classification` there is refused rather than ignored (the answer
 * would be the plain tensors a client asking for classes cannot read): it belongs on a requested output.
 */
export function checkRequestParameters(parameters: Record<string, unknown> | undefined): void {
  if (parameters !== undefined && Object.hasOwn(parameters, 'classification')) {
    throw badTensor('parameters.classification is a requested output\'s parameter, not the request\'s: ask for it as "outputs": [{"name": <output>, "parameters": {"classification": K}}] (gRPC: outputs[].parameters["classification"].int64_param)');
  }
}

const NUMERIC = new Set<Datatype>(['FP32', 'FP64', 'INT8', 'INT16', 'INT32', 'INT64', 'UINT8', 'UINT16', 'UINT32', 'UINT64']);

/** An element as text: an FP32 one in the fewest digits that read back as the same FP32 (0.83, not 0.8299999833106995). */
function valueText(v: number | bigint, datatype: Datatype): string {
  if (typeof v === 'bigint' || datatype !== 'FP32' || !Number.isFinite(v)) return String(v);
  // 9 significant digits tell every FP32 apart (FLT_DECIMAL_DIG): 10.1908455 needs all 9.
  for (let digits = 1; digits <= 9; digits++) {
    const short = Number(v.toPrecision(digits));
    if (Math.fround(short) === v) return String(short);
  }
  return String(v);
}

/**
 * An output as Triton's classification extension answers it: per row (the first dimension when
 * `batched`, else the whole tensor is one row), the `count` largest elements, largest first (ties:
 * lower index first; NaN last), each "<value>:<index>" or "<value>:<index>:<label>"; BYTES of shape
 * [rows, k] ([k] when not batched), k = count or every element when the row has fewer.
 */
export function classify(t: OipTensor, count: number, batched: boolean, label: (index: number) => string | undefined): OipTensor {
  const values = t.values as ArrayLike<number | bigint>;
  const total = values.length;
  // Each row is the elements past the first dimension (all of them when not batched).
  const width = batched ? t.shape.slice(1).reduce((n, d) => n * d, 1) : total;
  const rows = batched ? Math.min(t.shape[0] ?? 1, width === 0 ? 0 : Math.floor(total / width)) : 1;
  const k = Math.min(count, width);
  const out = new Array<string>(rows * k);
  let base = 0;
  // true when element a of the row ranks before element b: larger first, ties lower index first, NaN last.
  const before = (a: number, b: number): boolean => {
    const x = values[base + a]!;
    const y = values[base + b]!;
    const xNaN = x !== x;
    const yNaN = y !== y;
    if (xNaN || yNaN) return xNaN === yNaN ? a < b : yNaN;
    return x > y || (x === y && a < b);
  };
  // K near the width: one sort of the row is cheaper than the heap (2 x 1M elements, K past them: 14 s against 20 s).
  const order = k * 4 >= width ? new Uint32Array(width) : undefined;
  // Else the top k by a heap of k whose root ranks last: width log k, where sorting a 1M-element row
  // for K = 1 took ~0.5 s of the event loop.
  const heap = new Int32Array(order === undefined ? k : 0);
  const sift = (i: number, size: number): void => {
    for (;;) {
      const l = 2 * i + 1;
      if (l >= size) return;
      const c = l + 1 < size && before(heap[l]!, heap[l + 1]!) ? l + 1 : l;
      if (!before(heap[i]!, heap[c]!)) return;
      const swap = heap[i]!;
      heap[i] = heap[c]!;
      heap[c] = swap;
      i = c;
    }
  };
  const text = (r: number, index: number): string => {
    const name = label(index);
    return `${valueText(values[r * width + index]!, t.datatype)}:${index}${name === undefined ? '' : `:${name}`}`;
  };
  for (let r = 0; r < rows; r++) {
    base = r * width;
    if (order !== undefined) {
      for (let i = 0; i < width; i++) order[i] = i;
      order.sort((a, b) => (a === b ? 0 : before(a, b) ? -1 : 1));
      for (let j = 0; j < k; j++) out[r * k + j] = text(r, order[j]!);
      continue;
    }
    for (let i = 0; i < k; i++) heap[i] = i;
    for (let i = (k >> 1) - 1; i >= 0; i--) sift(i, k);
    for (let i = k; i < width; i++) {
      if (before(i, heap[0]!)) {
        heap[0] = i;
        sift(0, k);
      }
    }
    // Popping the root (the one ranking last) fills the row from its end.
    for (let size = k; size > 0; size--) {
      const index = heap[0]!;
      heap[0] = heap[size - 1]!;
      sift(0, size - 1);
      out[r * k + size - 1] = text(r, index);
    }
  }
  return { name: t.name, datatype: 'BYTES', shape: batched ? [rows, k] : [k], values: out };
}

/**
 * Triton's `timeout` request parameter (REST `parameters.timeout`, gRPC `parameters["timeout"]`):
 * how many microseconds the request may take from `arrived` (performance.now() ms), 0 meaning no
 * timeout (Triton's default). It joins the request's other deadlines (the gRPC deadline,
 * x-modelserve-timeout-ms, the model's queue.timeout_ms): the soonest wins. Anything but a
 * non-negative integer is refused rather than ignored: a client that set it expects it to hold.
 */
export function withTimeoutParameter(given: unknown, deadline: number | undefined, arrived: number): number | undefined {
  if (given === undefined) return deadline;
  // A gRPC 64-bit integer past 2^53 (a BigInt): past any other deadline.
  const value = typeof given === 'bigint' && given >= 0n ? Number(given) : given;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw badTensor(`parameters.timeout must be a non-negative integer (microseconds; 0: no timeout), not ${shownValue(value)}`);
  }
  if (value === 0) return deadline;
  const own = arrived + value / 1000;
  return deadline === undefined ? own : Math.min(deadline, own);
}

/** One OIP inference on a version: tensors in, through the shared batcher, tensors out. */
export async function inferTensors(version: ServableVersion, request: InferRequest): Promise<OipTensor[]> {
  // An output asked for twice would be answered twice (a larger answer for nothing): refused as a duplicate input is.
  const twice = request.outputs?.find((name, i) => request.outputs!.indexOf(name) !== i);
  if (twice !== undefined) throw badTensor(`output ${JSON.stringify(twice.slice(0, 100))} is requested twice`);
  const view = viewOf(version);
  const { feeds, rows } = view.toFeeds(request.inputs);
  const onnx = view.onnxOutputs(request.outputs);
  // Checked before the model runs: only numbers rank (the output's datatype is its metadata's).
  for (const name of request.classification?.keys() ?? []) {
    const datatype = view.outputs.find((o) => o.name === name)?.datatype;
    if (datatype !== undefined && !NUMERIC.has(datatype)) throw badTensor(`output '${name}': parameters.classification needs an output of numbers to rank, but '${name}' is ${datatype}`);
  }
  const options = { ...(onnx === undefined ? {} : { outputs: onnx }), ...(request.deadline === undefined ? {} : { deadline: request.deadline }), ...(request.client === undefined ? {} : { client: request.client }), requestId: request.requestId, frontDoor: request.frontDoor };
  const outputs = await version.infer(feeds, rows, options);
  const answer = view.fromOutputs(outputs, rows, request.outputs);
  const classification = request.classification;
  if (classification === undefined || classification.size === 0) return answer;
  return answer.map((t) => {
    const count = classification.get(t.name);
    return count === undefined ? t : view.classify(t, count);
  });
}
