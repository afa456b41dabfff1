// What onnxruntime is given for a model version — the model file's bytes (an XGBoost model converted
// to ONNX first), rewritten by the optimiser when the config and the server allow it — shared by
// serving (core.ts) and `modelserve check`. The converter and the optimiser, and the protobuf
// library they use, load only for a model that needs them.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { isXgboostJson } from '../config/load.js';
import type { ModelConfig } from '../config/types.js';
import { mayOptimize } from '../optimize/probe.js';
import { foreignModelFormat, foreignModelReason, jsonEndsEarly } from '../xgboost/format.js';
import type { OptimizationSummary } from './servable.js';
import { FILE_LIMITS, openRegularFile, readUserFile, UserFileError, unreadableReason } from '../user-file.js';

/**
 * Why a model's bytes could not be had: the file could not be read, it was refused unread ('file':
 * not a regular file or too large; the message follows the file's name: "is not a regular file (a FIFO)"),
 * or (read by the optimiser) it is not a valid ONNX model.
 */
export class ModelBytesError extends Error {
  constructor(readonly stage: 'read' | 'file' | 'parse', message: string) {
    super(message);
  }
}

export async function readModelBytes(config: Pick<ModelConfig, 'modelFile' | 'format' | 'optimize'>, optimize: boolean): Promise<{ bytes: Uint8Array; optimization?: OptimizationSummary }> {
  // An XGBoost model.json without `format: xgboost` would be "protobuf parsing failed" from onnxruntime.
  if (config.format !== 'xgboost' && config.modelFile.endsWith('.json') && isXgboostJson(config.modelFile)) {
    throw new ModelBytesError('parse', 'it is an XGBoost JSON model: add format: xgboost to the config');
  }
  let bytes: Uint8Array;
  // The converter is loaded only for XGBoost models.
  const xgboost = config.format === 'xgboost' ? await import('../xgboost/load.js') : undefined;
  try {
    bytes = xgboost ? xgboost.readModelBytes(config) : readUserFile(config.modelFile, 'model');
  } catch (err) {
    if (err instanceof UserFileError) throw new ModelBytesError('file', err.reason);
    // Its message names the file, which the caller names too: the reason alone follows it.
    if (xgboost && err instanceof xgboost.XgboostFileError) throw new ModelBytesError('file', err.reason);
    throw new ModelBytesError('read', unreadableReason(err));
  }
  // onnxruntime would say only "protobuf parsing failed" of an XGBoost binary model, a pickle, or
  // a file cut short: say what is wrong with it.
  if (!xgboost) {
    const notOnnx = notOnnxReason(bytes);
    if (notOnnx !== undefined) throw new ModelBytesError('parse', notOnnx);
  }
  // The optimiser's protobuf library is loaded only for models that may hold an operator it rewrites.
  if (!optimize || !config.optimize || !mayOptimize(bytes)) return { bytes };
  try {
    const { optimizeModel } = await import('../optimize/index.js');
    const result = optimizeModel(bytes);
    return { bytes: result.changed ? result.bytes : bytes, optimization: { changed: result.changed, rewrites: result.rewrites, skipped: result.skipped } };
  } catch (err) {
    // The optimiser parses the protobuf: a file it cannot read is corrupt.
    throw new ModelBytesError('parse', (err as Error).message);
  }
}

/**
 * Why bytes that should be an ONNX model are none, in words (serve, check, init, inspect and optimize say it alike,
 * rather than onnxruntime's "protobuf parsing failed" or the protobuf reader's "index out of range"): another format
 * (an XGBoost binary model, a pickle) or a file cut short. Undefined when neither is seen.
 */
export function notOnnxReason(bytes: Uint8Array): string | undefined {
  const foreign = foreignModelReason(bytes);
  if (foreign) return foreign;
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const cut = onnxEndsEarly(view.length, (position, into) => view.copy(into, 0, position, position + into.length));
  return cut === undefined ? undefined : `${cut}: is it still being copied, or was its copy cut short?`;
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
    const head = Buffer.alloc(64);
    const foreign = foreignModelReason(head.subarray(0, read(0, head)));
    if (foreign) return new ModelBytesError('parse', foreign);
    const scan = scanOnnx(opened.size, read);
    if (scan === 'whole') return undefined;
    if (scan !== 'no-protobuf') return new ModelBytesError('parse', `${scan.cut}: is it still being copied, or was its copy cut short?`);
    const text = head.toString('latin1');
    return new ModelBytesError('parse', text.startsWith('version https://git-lfs') ? 'it is a Git LFS pointer, not the model: fetch the model itself (git lfs pull)' : 'no ONNX ModelProto can be read from it (it is no protobuf)');
  } catch (err) {
    return new ModelBytesError('read', unreadableReason(err));
  } finally {
    closeSync(opened.fd);
  }
}
