// What onnxruntime is given for a model version — the model file's bytes (an XGBoost model converted
// to ONNX first), rewritten by the optimiser when the config and the server allow it — shared by
// serving (core.ts) and `modelserve check`. The converter and the optimiser, and the protobuf
// library they use, load only for a model that needs them.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { isXgboostJson } from '../config/load.js';
import type { ModelConfig } from '../config/types.js';
import { mayOptimize } from '../optimize/probe.js';
import { foreignModelFormat, foreignModelReason, jsonEndsEarly, notOnnxLooksLike, XGBOOST_FIX_CONFIG } from '../xgboost/format.js';
import type { OptimizationSummary } from './servable.js';
import { classLinks, type ClassLinks } from './class-labels.js';
import type { ModelSignature, TensorInfo } from '../runtime/types.js';
import { FILE_LIMITS, openRegularFile, readUserFile, UserFileError, unreadableReason } from '../user-file.js';

/**
 * Why a model's bytes could not be had: the file could not be read, it was refused unread ('file':
 * not a regular file or too large; the message follows the file's name: "is not a regular file (a FIFO)"),
 * or (read by the optimiser) it is not a valid ONNX model.
 */
export class ModelBytesError extends Error {
  /** `forClients`: the message as API clients read it (without the file's first line: notOnnxLooksLike's `quote`). */
  constructor(readonly stage: 'read' | 'file' | 'parse', message: string, readonly forClients = message) {
    super(message);
  }
}

export async function readModelBytes(config: Pick<ModelConfig, 'modelFile' | 'format' | 'optimize'>, optimize: boolean, withClassLinks = false): Promise<{ bytes: Uint8Array; optimization?: OptimizationSummary; classLinks?: ClassLinks; written?: Uint8Array }> {
  // An XGBoost model.json without `format: xgboost` would be "protobuf parsing failed" from onnxruntime.
  if (config.format !== 'xgboost' && config.modelFile.endsWith('.json') && isXgboostJson(config.modelFile)) {
    throw new ModelBytesError('parse', `it is an XGBoost JSON model: ${XGBOOST_FIX_CONFIG}`);
  }
  let bytes: Uint8Array;
  let converted: { outputs: string[]; numClass: number } | undefined;
  // The converter is loaded only for XGBoost models.
  const xgboost = config.format === 'xgboost' ? await import('../xgboost/load.js') : undefined;
  try {
    if (xgboost) ({ bytes, ...converted } = xgboost.convertXgboostFile(config.modelFile));
    else bytes = readUserFile(config.modelFile, 'model');
  } catch (err) {
    if (err instanceof UserFileError) throw new ModelBytesError('file', err.reason);
    // Its message names the file, which the caller names too: the reason alone follows it.
    if (xgboost && err instanceof xgboost.XgboostFileError) throw new ModelBytesError('file', err.reason, err.reasonForClients);
    throw new ModelBytesError('read', unreadableReason(err));
  }
  // onnxruntime would say only "protobuf parsing failed" of an XGBoost binary model, a pickle, or
  // a file cut short: say what is wrong with it.
  if (!xgboost) {
    const notOnnx = notOnnxReason(bytes);
    if (notOnnx !== undefined) throw new ModelBytesError('parse', notOnnx, notOnnxReason(bytes, undefined, false));
  }
  // Read from the graph as written: the optimiser rewrites an SVMClassifier, and its class labels with it.
  // A converted classifier's classes are its probabilities' columns, 0..n-1, its label their index.
  const links = !withClassLinks ? undefined : converted ? xgboostClassLinks(converted) : await classLinks(bytes);
  const withLinks = links === undefined ? {} : { classLinks: links };
  // The optimiser's protobuf library is loaded only for models that may hold an operator it rewrites.
  if (!optimize || !config.optimize || !mayOptimize(bytes)) return { bytes, ...withLinks };
  try {
    const { optimizeModel } = await import('../optimize/index.js');
    const result = optimizeModel(bytes);
    // `written`: the graph as its author wrote it, what a raw model's rows are judged by (batch-rows.ts).
    return { bytes: result.changed ? result.bytes : bytes, optimization: { changed: result.changed, rewrites: result.rewrites, skipped: result.skipped }, ...withLinks, ...(result.changed && { written: bytes }) };
  } catch (err) {
    // The optimiser parses the protobuf: a file it cannot read is corrupt.
    throw new ModelBytesError('parse', (err as Error).message);
  }
}

/**
 * Why bytes that should be an ONNX model are none, in words (serve, check, init, inspect and optimize say it alike,
 * rather than onnxruntime's "protobuf parsing failed" or the protobuf reader's "index out of range"): another format
 * (an XGBoost binary model, a pickle) or a file cut short. Undefined when neither is seen. `xgboostFix`: how the
 * command at hand takes an XGBoost JSON model (notOnnxLooksLike).
 */
export function notOnnxReason(bytes: Uint8Array, xgboostFix?: string, quote = true): string | undefined {
  const foreign = foreignModelReason(bytes);
  if (foreign) return foreign;
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const scan = scanOnnx(view.length, (position, into) => view.copy(into, 0, position, position + into.length));
  if (scan === 'whole') return undefined;
  // No model: what the file looks like (text, a Git LFS pointer, a zip) says more than onnxruntime's "protobuf parsing failed".
  return notOnnxLooks(view.subarray(0, SNIFF_BYTES), scan, xgboostFix, quote);
}

/** How many of a file's first bytes notOnnxLooksLike() is given. */
const SNIFF_BYTES = 512;

/** Why bytes that scanOnnx() did not read as a whole model are none: what they look like, else cut short, else no protobuf. */
function notOnnxLooks(head: Buffer, scan: 'no-protobuf' | { cut: string }, xgboostFix?: string, quote = true): string {
  // An empty file is said as the cut-short one it may be: `cp` creates the file first.
  const looks = head.length === 0 ? undefined : notOnnxLooksLike(head, xgboostFix, quote);
  if (looks !== undefined) return looks;
  if (scan !== 'no-protobuf') return `${scan.cut}: is it still being copied, or was its copy cut short?`;
  return 'no ONNX ModelProto can be read from it (it is no protobuf, nor a format modelserve knows)';
}

/**
 * Why an ONNX model's bytes are cut short — a copy still under way, or one that stopped: a top-level field of its
 * ModelProto runs past the end, or it ends before its graph (an empty file: `cp` creates it first). Undefined when
 * every field ends within it, and for bytes that are no protobuf at all (onnxruntime's load says what is wrong).
 * Reads the top-level fields' headers only (`read` gives the bytes at a position): a few small reads whatever the size.
 */
export function onnxEndsEarly(size: number, read: (position: number, into: Buffer) => number): string | undefined {
  const scan = scanOnnx(size, read);
  return typeof scan === 'object' ? scan.cut : undefined;
}

/** onnxEndsEarly's reading: 'whole' (every field ends within the bytes, a graph among them), `cut` short, or 'no-protobuf'. */
function scanOnnx(size: number, read: (position: number, into: Buffer) => number): 'whole' | 'no-protobuf' | { cut: string } {
  const head = Buffer.alloc(10);
  let position = 0;
  // A varint at `position`: its value; 'short' when the bytes end within it; undefined when it is no varint.
  const varint = (): number | 'short' | undefined => {
    const n = read(position, head);
    let value = 0;
    for (let i = 0, scale = 1; i < n; i++, scale *= 128) {
      value += (head[i]! & 0x7f) * scale;
      if (head[i]! < 0x80) {
        position += i + 1;
        return value;
      }
    }
    return n < head.length ? 'short' : undefined;
  };
  let graph = false;
  // A model has a handful of top-level fields; past this many it is no model (and not worth reading on).
  for (let fields = 0; position < size && fields < 10_000; fields++) {
    const tag = varint();
    if (tag === 'short') return { cut: `it ends within a field's header at byte ${size}` };
    if (tag === undefined || tag < 8) return 'no-protobuf';
    const wire = tag % 8;
    const start = position;
    if (wire === 0) {
      const value = varint();
      if (value === 'short') return { cut: `it ends within a field at byte ${size}` };
      if (value === undefined) return 'no-protobuf';
    } else if (wire === 1) position += 8;
    else if (wire === 5) position += 4;
    else if (wire === 2) {
      const length = varint();
      if (length === 'short') return { cut: `it ends within a field's header at byte ${size}` };
      if (length === undefined) return 'no-protobuf';
      position += length;
      if (Math.floor(tag / 8) === 7) graph = true;
    } else return 'no-protobuf'; // groups, or no protobuf
    if (position > size) return { cut: `it is ${size} bytes long, but a field from byte ${start} runs to byte ${position}` };
  }
  if (graph) return 'whole';
  // Past the field limit without a graph: no model.
  return position < size ? 'no-protobuf' : { cut: size === 0 ? 'it is empty' : 'it ends before its graph' };
}

/**
 * Why a model file on disk is cut short (onnxEndsEarly(), or jsonEndsEarly() of an XGBoost JSON model); undefined for
 * one that is not a regular file, cannot be read, or is too large to be loaded anyway.
 */
export function modelFileEndsEarly(file: string, format: 'onnx' | 'xgboost'): string | undefined {
  let fd: number | undefined;
  try {
    // Non-blocking: a FIFO put in the model's place must not hold the scan.
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
    const stats = fstatSync(fd);
    if (!stats.isFile()) return undefined;
    const opened = fd;
    if (format === 'onnx') return onnxEndsEarly(stats.size, (position, into) => readSync(opened, into, 0, into.length, position));
    if (stats.size > FILE_LIMITS.xgboost.bytes) return undefined;
    return jsonEndsEarly((function* chunks() {
      const chunk = Buffer.alloc(Math.min(stats.size, 1 << 20));
      for (let n; (n = readSync(opened, chunk, 0, chunk.length, null)) > 0;) yield chunk.subarray(0, n);
    })());
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Whether a model's file may load, as far as a few small reads tell: a regular file not too large to load, and for
 * an ONNX model, no other format's, with every top-level field ending within it, a graph among them. False for a file
 * missing, cut short or no ONNX at all (text such as a Git LFS pointer), whose load is bound to fail: the memory
 * budget unloads no other model for it. (An XGBoost model is converted as it loads: only its being there is told.)
 */
export function modelFileMayLoad(config: Pick<ModelConfig, 'modelFile' | 'format'>): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(config.modelFile, constants.O_RDONLY | constants.O_NONBLOCK);
    const stats = fstatSync(fd);
    const xgboost = config.format === 'xgboost';
    if (!stats.isFile() || stats.size > FILE_LIMITS[xgboost ? 'xgboost' : 'model'].bytes) return false;
    if (xgboost) return true;
    const opened = fd;
    const read = (position: number, into: Buffer) => readSync(opened, into, 0, into.length, position);
    const head = Buffer.alloc(4);
    if (foreignModelFormat(head.subarray(0, read(0, head))) !== undefined) return false;
    return scanOnnx(stats.size, read) === 'whole';
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Why a model's file is bound to fail its load, found without loading it (serve's start-up, for the models the memory
 * budget leaves unloaded): as readModelBytes() says it of a file that cannot be read, is another format, is cut short
 * or (no protobuf at all, such as a Git LFS pointer) is no ONNX model. An ONNX file's top-level field headers alone are
 * read; an XGBoost model is converted (no onnxruntime session either way). Undefined when the load may succeed.
 */
export async function modelFileProblem(config: Pick<ModelConfig, 'modelFile' | 'format' | 'optimize'>): Promise<ModelBytesError | undefined> {
  if (config.format === 'xgboost' || (config.modelFile.endsWith('.json') && isXgboostJson(config.modelFile))) {
    try {
      await readModelBytes(config, false);
      return undefined;
    } catch (err) {
      if (err instanceof ModelBytesError) return err;
      throw err;
    }
  }
  let opened: { fd: number; size: number };
  try {
    opened = openRegularFile(config.modelFile, 'model');
  } catch (err) {
    return err instanceof UserFileError ? new ModelBytesError('file', err.reason) : new ModelBytesError('read', unreadableReason(err));
  }
  try {
    const read = (position: number, into: Buffer) => readSync(opened.fd, into, 0, into.length, position);
    const head = Buffer.alloc(SNIFF_BYTES);
    const start = head.subarray(0, read(0, head));
    const foreign = foreignModelReason(start);
    if (foreign) return new ModelBytesError('parse', foreign);
    const scan = scanOnnx(opened.size, read);
    if (scan === 'whole') return undefined;
    return new ModelBytesError('parse', notOnnxLooks(start, scan), notOnnxLooks(start, scan, undefined, false));
  } catch (err) {
    return new ModelBytesError('read', unreadableReason(err));
  } finally {
    closeSync(opened.fd);
  }
}

/** The element types as onnxruntime-node names them (TensorProto.DataType numbers); others are not told statically. */
const ORT_ELEMENT_TYPES: Record<number, string> = { 1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool', 10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64' };

/** A reader of `size` bytes at positions, through 64 KiB windows: walking thousands of nodes' headers costs a few reads. */
function windowed(size: number, read: (position: number, into: Buffer) => number): (position: number, length: number) => Buffer {
  const window = Buffer.alloc(1 << 16);
  let start = -1;
  let filled = 0;
  return (position, length) => {
    if (length > window.length) {
      const into = Buffer.alloc(Math.min(length, size - position));
      return into.subarray(0, read(position, into));
    }
    if (start < 0 || position < start || position + length > start + filled) {
      start = position;
      filled = read(position, window.subarray(0, Math.min(window.length, size - position)));
    }
    return window.subarray(position - start, Math.min(position - start + length, filled));
  };
}

/**
 * The inputs and outputs of an ONNX model as an onnxruntime session reports them (signatureOf), read from its protobuf
 * without a session: the graph's inputs (less its initializers) and outputs; every other field is skipped by its header.
 * Undefined when it cannot be told so (no protobuf, cut short, a sparse initializer, an element type onnxruntime-node
 * may name otherwise): the load then tells. `read` gives the bytes at a position.
 */
export async function onnxSignature(size: number, read: (position: number, into: Buffer) => number): Promise<ModelSignature | undefined> {
  const at = windowed(size, read);
  let position = 0;
  const varint = (): number | undefined => {
    const head = at(position, 10);
    let value = 0;
    for (let i = 0, scale = 1; i < head.length; i++, scale *= 128) {
      value += (head[i]! & 0x7f) * scale;
      if (head[i]! < 0x80) {
        position += i + 1;
        return value;
      }
    }
    return undefined;
  };
  /** Walks the fields of the message from `position` to `end`, calling `visit` with each length-delimited one's field number, start and end. */
  const walk = (end: number, visit: (field: number, start: number, stop: number) => boolean): boolean => {
    while (position < end) {
      const tag = varint();
      if (tag === undefined || tag < 8) return false;
      const wire = tag % 8;
      if (wire === 0) {
        if (varint() === undefined) return false;
      } else if (wire === 1) position += 8;
      else if (wire === 5) position += 4;
      else if (wire === 2) {
        const length = varint();
        if (length === undefined || position + length > end) return false;
        const start = position;
        position += length;
        if (!visit(Math.floor(tag / 8), start, start + length)) return false;
      } else return false;
    }
    return position === end;
  };
  let graph: [number, number] | undefined;
  if (!walk(size, (field, start, stop) => { if (field === 7) graph = [start, stop]; return true; }) || graph === undefined) return undefined;
  const inputs: Array<[number, number]> = [];
  const outputs: Array<[number, number]> = [];
  const initializers = new Set<string>();
  let sparse = false;
  position = graph[0];
  const walked = walk(graph[1], (field, start, stop) => {
    if (field === 11) inputs.push([start, stop]);
    else if (field === 12) outputs.push([start, stop]);
    else if (field === 15) sparse = true;
    else if (field === 5) {
      // An initializer's name (TensorProto field 8), its data skipped.
      const after = position;
      position = start;
      const ok = walk(stop, (f, s, e) => { if (f === 8) initializers.add(at(s, e - s).toString('utf8')); return true; });
      position = after;
      return ok;
    }
    return true;
  });
  if (!walked || sparse) return undefined;
  const { onnx, toNumber } = await import('../optimize/proto.js');
  const infos = (ranges: Array<[number, number]>): TensorInfo[] | undefined => {
    const out: TensorInfo[] = [];
    for (const [start, stop] of ranges) {
      const bytes = at(start, stop - start);
      if (bytes.length !== stop - start) return undefined;
      const value = onnx.ValueInfoProto.decode(bytes);
      const name = value.name ?? '';
      if (initializers.has(name)) continue;
      const type = value.type;
      if (type?.mapType || type?.sequenceType) {
        out.push({ name, type: 'non-tensor', shape: [] });
        continue;
      }
      const tensor = type?.tensorType;
      const element = tensor ? ORT_ELEMENT_TYPES[tensor.elemType ?? 0] : undefined;
      if (!tensor || element === undefined) return undefined;
      // The decoded message's oneof tells a dimension set to 0 from one not set (unknown: -1, as the session says).
      const shape = (tensor.shape?.dim ?? []).map((d) => {
        const set = (d as { value?: 'dimValue' | 'dimParam' }).value;
        return set === 'dimParam' && d.dimParam ? d.dimParam : set === 'dimValue' ? toNumber(d.dimValue) : -1;
      });
      out.push({ name, type: element, shape });
    }
    return out;
  };
  try {
    const ins = infos(inputs);
    const outs = infos(outputs);
    return ins === undefined || outs === undefined ? undefined : { inputs: ins, outputs: outs };
  } catch {
    return undefined; // a value info that is no protobuf: the load says what is wrong
  }
}

/**
 * A model file's signature read without a session (onnxSignature), an XGBoost model's from its conversion; undefined
 * when it cannot be told (the file unreadable or not a model: modelFileProblem says so).
 */
export async function modelFileSignature(config: Pick<ModelConfig, 'modelFile' | 'format' | 'optimize'>): Promise<ModelSignature | undefined> {
  if (config.format === 'xgboost' || (config.modelFile.endsWith('.json') && isXgboostJson(config.modelFile))) {
    try {
      const { bytes } = await readModelBytes(config, false);
      const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      return await onnxSignature(view.length, (position, into) => view.copy(into, 0, position, position + into.length));
    } catch {
      return undefined;
    }
  }
  let opened: { fd: number; size: number };
  try {
    opened = openRegularFile(config.modelFile, 'model');
  } catch {
    return undefined;
  }
  try {
    return await onnxSignature(opened.size, (position, into) => readSync(opened.fd, into, 0, into.length, position));
  } catch {
    return undefined;
  } finally {
    closeSync(opened.fd);
  }
}

/** The class links of an XGBoost classifier as converted ('label' + 'probabilities'); undefined for other objectives. */
function xgboostClassLinks(converted: { outputs: string[]; numClass: number }): ClassLinks | undefined {
  if (!converted.outputs.includes('probabilities') || !converted.outputs.includes('label')) return undefined;
  // binary objectives answer two columns, [1 - p, p]; multi:* one per class.
  const classes = Array.from({ length: Math.max(2, converted.numClass) }, (_, i) => String(i));
  return { probabilities: { classes, labels: { label: 'index' } } };
}
