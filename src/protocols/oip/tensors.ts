// Open Inference Protocol tensors, independent of the transport: datatypes, shape checks, and the
// three ways a tensor's data arrives or leaves — JSON `data` (flat or nested, row-major), bytes
// (Triton's binary extension over REST, raw_input_contents / raw_output_contents over gRPC:
// little-endian, a BYTES element is a 4-byte little-endian length then its bytes) and gRPC's typed
// `contents`. Every size is checked against the shape and datatype before anything is read or
// allocated from it: a mismatch is MS_ERR_BAD_TENSOR (400 / INVALID_ARGUMENT) naming the tensor.
import { ModelServeError } from '../../errors.js';
import { allExactNumbers } from '../../tensors/exact-integers.js';

export const DATATYPES = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'BF16', 'FP32', 'FP64', 'BYTES'] as const;
export type Datatype = (typeof DATATYPES)[number];

/** Element values by datatype: BOOL as 0/1 bytes, the 64-bit integers as BigInt arrays, BYTES as strings. */
export type TensorValues =
  | Uint8Array | Uint16Array | Uint32Array | BigUint64Array
  | Int8Array | Int16Array | Int32Array | BigInt64Array
  | Float32Array | Float64Array | string[];

export interface OipTensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  values: TensorValues;
}

type FixedDatatype = Exclude<Datatype, 'BYTES' | 'FP16' | 'BF16'>;
type ArrayType = { new (buffer: ArrayBufferLike, offset: number, length: number): TensorValues; new (length: number): TensorValues; BYTES_PER_ELEMENT: number };

const ARRAYS: Record<FixedDatatype, ArrayType> = {
  BOOL: Uint8Array, UINT8: Uint8Array, UINT16: Uint16Array, UINT32: Uint32Array, UINT64: BigUint64Array,
  INT8: Int8Array, INT16: Int16Array, INT32: Int32Array, INT64: BigInt64Array, FP32: Float32Array, FP64: Float64Array,
} as unknown as Record<FixedDatatype, ArrayType>;

const INTEGER_RANGE: Partial<Record<Datatype, [number, number]>> = {
  UINT8: [0, 0xff], UINT16: [0, 0xffff], UINT32: [0, 0xffffffff], INT8: [-0x80, 0x7f], INT16: [-0x8000, 0x7fff], INT32: [-0x80000000, 0x7fffffff],
};


/** Elements in one tensor at most (a shape declaring more is refused before any allocation). */
export const MAX_ELEMENTS = 1 << 28;

export function badTensor(message: string): ModelServeError {
  return new ModelServeError('MS_ERR_BAD_TENSOR', message);
}

const shown = (name: string) => `'${String(name).slice(0, 64)}'`;

// The messages both front doors give for the same mistake (REST's JSON body, gRPC's message):
// one function each, so that the wording cannot drift apart between them.

/** A request without input tensors ("inputs" absent or empty over REST, none over gRPC). */
export function noInputs(): ModelServeError {
  return badTensor('the request has no inputs ("inputs" must be a non-empty array of tensors)');
}

/** An input whose shape declares elements but that carries none; `give` says how this protocol sends data. */
export function noData(name: string, shape: readonly number[], count: number, give: string): ModelServeError {
  return badTensor(`input ${shown(name)}: has no data (shape ${shapeText(shape)} holds ${count} elements; give ${give})`);
}

/** An input with some data, but not as many elements as its shape declares; `where` names the data's field. */
export function wrongCount(name: string, shape: readonly number[], count: number, where: string, given: number | 'more', hint = ''): ModelServeError {
  return badTensor(`input ${shown(name)}: shape ${shapeText(shape)} holds ${count} elements but ${where} has ${given}${hint}`);
}

/**
 * A request's shape as an error message shows it: its first 8 dimensions and how many there are.
 * A shape can have thousands; written out, the message (a gRPC status trailer) grew past what a
 * client accepts, and the call never ended.
 */
export function shapeText(shape: readonly number[]): string {
  return shape.length <= 8 ? `[${shape.join(', ')}]` : `[${shape.slice(0, 8).join(', ')}, … (${shape.length} dimensions)]`;
}

export function isDatatype(value: unknown): value is Datatype {
  return typeof value === 'string' && (DATATYPES as readonly string[]).includes(value);
}

/** Checks a datatype the server can carry; FP16/BF16 are refused with a clear message. */
export function checkDatatype(kind: 'input' | 'output', name: string, datatype: unknown): Datatype {
  if (!isDatatype(datatype)) throw badTensor(`${kind} ${shown(name)}: unknown datatype ${JSON.stringify(String(datatype).slice(0, 32))} (one of ${DATATYPES.join(', ')})`);
  if (datatype === 'FP16' || datatype === 'BF16') throw badTensor(`${kind} ${shown(name)}: datatype ${datatype} is not supported by modelserve; send FP32`);
  return datatype;
}

/** Validates a shape (non-negative integers) and returns its element count, refusing counts past MAX_ELEMENTS. */
export function elementCount(name: string, shape: unknown): number {
  if (!Array.isArray(shape)) throw badTensor(`input ${shown(name)}: shape must be an array of dimensions`);
  // Shown as JSON, so that a dimension sent as the string "1" is seen to be one.
  const shownShape = () => JSON.stringify(shape).slice(0, 100);
  let count = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) throw badTensor(`input ${shown(name)}: shape ${shownShape()} has a dimension that is not a non-negative integer (${String(JSON.stringify(d)).slice(0, 30)})`);
    count *= d;
    // (A dimension too large to be exact, 2^62 say, is refused here: it declares too many elements.)
    if (count > MAX_ELEMENTS) throw badTensor(`input ${shown(name)}: shape ${shownShape()} declares more than ${MAX_ELEMENTS} elements`);
  }
  return count;
}

export function elementSize(datatype: Datatype): number {
  return datatype === 'BYTES' ? 0 : datatype === 'FP16' || datatype === 'BF16' ? 2 : ARRAYS[datatype].BYTES_PER_ELEMENT;
}

// ---- JSON data --------------------------------------------------------------------------------

const MAX_DEPTH = 32;

/** Flattens nested arrays (row-major) into `out`, stopping past `limit` elements ('more') or MAX_DEPTH levels ('deep'). */
export function flatten(data: unknown, out: unknown[], limit: number, depth = 0): 'ok' | 'more' | 'deep' {
  if (!Array.isArray(data)) {
    out.push(data);
    return out.length <= limit ? 'ok' : 'more';
  }
  if (depth > MAX_DEPTH) return 'deep';
  for (const item of data) {
    const result = flatten(item, out, limit, depth + 1);
    if (result !== 'ok') return result;
  }
  return 'ok';
}

/** A tensor from JSON `data` (flat or nested): element count and every element's type checked. */
export function fromJsonData(name: string, datatype: Datatype, shape: number[], data: unknown): OipTensor {
  const count = elementCount(name, shape);
  const give = '"data", or parameters.binary_data_size with the binary extension';
  if (data === undefined) throw noData(name, shape, count, give);
  const flat: unknown[] = [];
  const fits = flatten(data, flat, count);
  // (Stopped before its first element, data nested too deep read as "has no data".)
  if (fits === 'deep') throw badTensor(`input ${shown(name)}: data is nested more than ${MAX_DEPTH} levels deep (send it flat, or nested as shape ${shapeText(shape)})`);
  if (flat.length === 0 && count > 0) throw noData(name, shape, count, give);
  if (fits !== 'ok' || flat.length !== count) throw wrongCount(name, shape, count, 'data', flat.length > count ? 'more' : flat.length);
  if (datatype === 'BYTES') {
    const values = new Array<string>(count);
    for (let i = 0; i < count; i++) {
      const v = flat[i];
      if (typeof v !== 'string') throw badTensor(`input ${shown(name)}: BYTES data must be strings (element ${i} is ${typeof v})`);
      values[i] = noNul(name, i, v);
    }
    return { name, datatype, shape, values };
  }
  const fixed = datatype as FixedDatatype;
  const values = new ARRAYS[fixed](count);
  const range = INTEGER_RANGE[datatype];
  for (let i = 0; i < count; i++) {
    const v = flat[i];
    if (fixed === 'BOOL') {
      if (typeof v !== 'boolean') throw badTensor(`input ${shown(name)}: BOOL data must be true or false (element ${i} is ${JSON.stringify(v)?.slice(0, 20)})`);
      (values as Uint8Array)[i] = v ? 1 : 0;
    } else if (typeof v !== 'number') {
      throw badTensor(`input ${shown(name)}: ${datatype} data must be numbers (element ${i} is ${typeof v === 'string' ? 'a string' : JSON.stringify(v)?.slice(0, 20)})`);
    } else if (fixed === 'FP32' || fixed === 'FP64') {
      // A finite JSON number past FP32's range would be stored as ±Infinity (3.4028235e38, FP32's maximum as printed, rounds to it: accepted).
      if (fixed === 'FP32' && !Number.isFinite(Math.fround(v))) throw badTensor(`input ${shown(name)}: element ${i} (${v}) is past FP32's range (±3.4028235e38)`);
      (values as Float64Array)[i] = v;
    } else if (!Number.isInteger(v) || (range && (v < range[0] || v > range[1])) || (fixed === 'INT64' && (v < -(2 ** 63) || v > 2 ** 63)) || (fixed === 'UINT64' && (v < 0 || v > 2 ** 64))) {
      throw badTensor(`input ${shown(name)}: element ${i} (${v}) is not a valid ${datatype}`);
    } else if ((fixed === 'INT64' || fixed === 'UINT64') && !Number.isSafeInteger(v)) {
      // A JSON number is read as a double, exact only to 2^53: 9007199254740993 reads as ...992, and
      // INT64's largest value as 2^63, past its range. Refused, never stored rounded.
      throw badTensor(`input ${shown(name)}: element ${i} (${v}) is past ±2^53, which a JSON number does not carry exactly; send this ${datatype} tensor as binary data (binary_data_size) or over gRPC`);
    } else if (fixed === 'INT64' || fixed === 'UINT64') {
      (values as BigInt64Array)[i] = BigInt(v);
    } else {
      (values as Int32Array)[i] = v;
    }
  }
  return { name, datatype, shape, values };
}

/** JSON `data` of an output: flat, row-major (BigInt as numbers, BOOL as booleans); see exactJsonData for 64-bit integers past 2^53. */
export function toJsonData(tensor: OipTensor): unknown[] {
  const { values, datatype } = tensor;
  if (Array.isArray(values)) return values;
  if (datatype === 'BOOL') return Array.from(values as Uint8Array, (v) => v !== 0);
  if (values instanceof BigInt64Array || values instanceof BigUint64Array) return Array.from(values, (v) => Number(v));
  return Array.from(values as Float64Array);
}

/**
 * The JSON text of a 64-bit integer output's `data` when a value is past ±(2^53 - 1), where a
 * JavaScript number would round it (2^63 - 1 would be written as 9223372036854776000, past INT64):
 * the exact decimal digits. Undefined when every value is safe (toJsonData is exact then).
 */
export function exactJsonData(tensor: OipTensor): string | undefined {
  const { values } = tensor;
  if (!(values instanceof BigInt64Array || values instanceof BigUint64Array)) return undefined;
  return allExactNumbers(values) ? undefined : `[${values.join(',')}]`;
}

// ---- bytes (binary extension, raw contents) ---------------------------------------------------

// BYTES elements become JavaScript strings (string fields, string tensors), which cannot carry
// arbitrary bytes: an element that is not UTF-8 is refused rather than decoded with U+FFFD. A
// leading byte order mark is data here and is kept.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeElement(name: string, i: number, bytes: Uint8Array): string {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw badTensor(`input ${shown(name)}: BYTES element ${i} is not valid UTF-8 (its elements are read as strings)`);
  }
  return noNul(name, i, text);
}

/** onnxruntime-node ends a string tensor's element at its first NUL: the model would get a cut value. */
function noNul(name: string, i: number, text: string): string {
  if (text.includes('\0')) throw badTensor(`input ${shown(name)}: BYTES element ${i} contains a NUL byte (\\u0000), which a string tensor cannot hold (it would be cut there)`);
  return text;
}

/** A tensor from its bytes; the size must be exactly what the shape and datatype say. */
export function fromBytes(name: string, datatype: Datatype, shape: number[], bytes: Uint8Array, what = 'binary data'): OipTensor {
  const count = elementCount(name, shape);
  if (datatype === 'BYTES') {
    const values = new Array<string>(count);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let offset = 0;
    for (let i = 0; i < count; i++) {
      if (offset + 4 > bytes.byteLength) throw badTensor(`input ${shown(name)}: ${what} ends inside element ${i} of ${count} (${bytes.byteLength} bytes)`);
      const length = view.getUint32(offset, true);
      offset += 4;
      if (offset + length > bytes.byteLength) throw badTensor(`input ${shown(name)}: ${what}: element ${i} declares ${length} bytes, past the end of its ${bytes.byteLength} bytes`);
      values[i] = decodeElement(name, i, bytes.subarray(offset, offset + length));
      offset += length;
    }
    if (offset !== bytes.byteLength) throw badTensor(`input ${shown(name)}: ${what} has ${bytes.byteLength - offset} bytes after its ${count} BYTES elements`);
    return { name, datatype, shape, values };
  }
  const Type = ARRAYS[datatype as FixedDatatype];
  const size = Type.BYTES_PER_ELEMENT;
  if (bytes.byteLength !== count * size) {
    throw badTensor(`input ${shown(name)}: ${what} is ${bytes.byteLength} bytes but shape ${shapeText(shape)} of ${datatype} needs ${count * size}`);
  }
  // A typed array needs its offset aligned to the element size; copy when it is not (a raw content
  // in a protobuf message rarely is). The copy goes into Node's pooled memory (8-byte aligned): a
  // small new Uint8Array lives on V8's heap, and reading its .buffer moves it off the heap again,
  // with a backing store of its own per tensor that the GC then has to account for.
  let aligned = bytes;
  if (bytes.byteOffset % size !== 0) {
    aligned = Buffer.allocUnsafe(bytes.byteLength);
    aligned.set(bytes);
  }
  const values = new Type(aligned.buffer, aligned.byteOffset, count);
  // A BOOL is one byte, 0 or 1 (numpy's, Triton's): another value would be passed on as it is and
  // answered back as that byte, not as true.
  if (datatype === 'BOOL') {
    const bad = (values as Uint8Array).findIndex((v) => v > 1);
    if (bad >= 0) throw badTensor(`input ${shown(name)}: BOOL element ${bad} of ${what} is the byte ${(values as Uint8Array)[bad]} (a BOOL is one byte, 0 or 1)`);
  }
  return { name, datatype, shape, values };
}

const SHORT = 64;

/** Whether a string is at most SHORT chars, all ASCII (its UTF-8 bytes are its char codes). */
function isShortAscii(v: string): boolean {
  if (v.length > SHORT) return false;
  for (let i = 0; i < v.length; i++) if (v.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** An output's bytes in the binary layout. */
export function toBytes(tensor: OipTensor): Uint8Array {
  const { values } = tensor;
  if (Array.isArray(values)) {
    // Sized first, then written in place: no encoded copy per element (class labels, 64 per batch).
    // A short ASCII element (a class label) is copied char by char here: two calls into Node per
    // element (byteLength, write) cost more than the copy.
    let total = 0;
    for (const v of values) total += 4 + (isShortAscii(v) ? v.length : Buffer.byteLength(v, 'utf8'));
    const out = Buffer.allocUnsafe(total);
    let offset = 0;
    for (const v of values) {
      let length: number;
      if (isShortAscii(v)) {
        length = v.length;
        for (let i = 0; i < length; i++) out[offset + 4 + i] = v.charCodeAt(i);
      } else {
        length = out.write(v, offset + 4, 'utf8');
      }
      out[offset] = length & 0xff;
      out[offset + 1] = (length >>> 8) & 0xff;
      out[offset + 2] = (length >>> 16) & 0xff;
      out[offset + 3] = length >>> 24;
      offset += 4 + length;
    }
    return out;
  }
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

// ---- gRPC typed contents ----------------------------------------------------------------------

/** InferTensorContents as @grpc/proto-loader gives it (keepCase, longs as strings, arrays present). */
export interface TensorContents {
  bool_contents?: boolean[];
  int_contents?: number[];
  int64_contents?: Array<string | number>;
  uint_contents?: number[];
  uint64_contents?: Array<string | number>;
  fp32_contents?: number[];
  fp64_contents?: number[];
  bytes_contents?: Uint8Array[];
}

export function contentsField(datatype: Datatype): keyof TensorContents {
  switch (datatype) {
    case 'BOOL': return 'bool_contents';
    case 'INT8': case 'INT16': case 'INT32': return 'int_contents';
    case 'INT64': return 'int64_contents';
    case 'UINT8': case 'UINT16': case 'UINT32': return 'uint_contents';
    case 'UINT64': return 'uint64_contents';
    case 'FP32': return 'fp32_contents';
    case 'FP64': return 'fp64_contents';
    default: return 'bytes_contents';
  }
}

/** Whether a contents message carries any element (proto3 cannot tell an empty one from none). */
export function hasContents(contents: TensorContents | null | undefined): boolean {
  if (!contents) return false;
  return Object.values(contents).some((v) => Array.isArray(v) && v.length > 0);
}

/** A tensor from gRPC typed contents: the member matching the datatype, of exactly the shape's size. */
export function fromContents(name: string, datatype: Datatype, shape: number[], contents: TensorContents | null | undefined): OipTensor {
  const count = elementCount(name, shape);
  const field = contentsField(datatype);
  const given = (contents?.[field] ?? []) as unknown[];
  const other = contents ? (Object.keys(contents) as Array<keyof TensorContents>).find((k) => k !== field && (contents[k]?.length ?? 0) > 0) : undefined;
  // (proto3 cannot tell an empty contents.X from none: both are "no data", as an absent REST "data" is.)
  if (given.length === 0 && count > 0 && !other) throw noData(name, shape, count, `contents.${field}, or raw_input_contents`);
  if (given.length !== count) throw wrongCount(name, shape, count, `contents.${field}`, given.length, other ? ` (data is in contents.${other}: datatype ${datatype} reads ${field})` : '');
  // Data in a second member too would be silently dropped: which of the two was meant?
  if (other) throw badTensor(`input ${shown(name)}: has data in contents.${other} as well as contents.${field}; datatype ${datatype} reads ${field} only`);
  if (datatype === 'BYTES') return { name, datatype, shape, values: (given as Uint8Array[]).map((b, i) => decodeElement(name, i, b)) };
  const fixed = datatype as FixedDatatype;
  const values = new ARRAYS[fixed](count);
  const range = INTEGER_RANGE[datatype];
  for (let i = 0; i < count; i++) {
    const v = given[i];
    if (fixed === 'BOOL') (values as Uint8Array)[i] = v ? 1 : 0;
    else if (fixed === 'INT64' || fixed === 'UINT64') (values as BigInt64Array)[i] = BigInt(v as string);
    else {
      if (range && ((v as number) < range[0] || (v as number) > range[1])) throw badTensor(`input ${shown(name)}: element ${i} (${v}) is not a valid ${datatype}`);
      (values as Float64Array)[i] = v as number;
    }
  }
  return { name, datatype, shape, values };
}

/** An output as gRPC typed contents. */
export function toContents(tensor: OipTensor): TensorContents {
  const field = contentsField(tensor.datatype);
  const { values } = tensor;
  if (Array.isArray(values)) return { [field]: values.map((v) => Buffer.from(v, 'utf8')) };
  if (tensor.datatype === 'BOOL') return { bool_contents: Array.from(values as Uint8Array, (v) => v !== 0) };
  if (values instanceof BigInt64Array || values instanceof BigUint64Array) return { [field]: Array.from(values, (v) => v.toString()) };
  return { [field]: Array.from(values as Float64Array) };
}
