// Shared onnxruntime helpers used by both runtimes (the in-process one and each pool worker):
// session creation with explicit options, signatures from session metadata, and conversion
// between plain TensorData (structured-clone/transfer friendly) and ort.Tensor.
// Before onnxruntime-node: see the module.
import './ort-telemetry.js';
import ort from 'onnxruntime-node';
import { ModelServeError, SessionLoadError } from '../errors.js';
import { allocateTensor } from '../tensors/allocate.js';
import type { ElementType, ModelSignature, NamedTensors, RuntimeOptions, TensorData, TensorInfo, TensorValues } from './types.js';

export type OrtSession = ort.InferenceSession;

const ELEMENT_TYPES: ReadonlySet<string> = new Set<ElementType>(['float32', 'float64', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'string', 'bool']);

/** The session options every runtime uses; set explicitly so behaviour doesn't depend on ORT defaults. */
export function sessionOptions(options: RuntimeOptions): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: Math.max(1, Math.floor(options.intraOpThreads)),
    interOpNumThreads: Math.max(1, Math.floor(options.interOpThreads)),
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // Fatal only: every error onnxruntime meets on a load or a run comes back as an exception that
    // modelserve reports itself (the request's error and log line, the startup message naming the
    // file); onnxruntime's own coloured line on stderr would break a JSON log stream.
    logSeverityLevel: 4,
  };
}

/** Plain-text reason of an unknown thrown value. */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

// "/onnxruntime_src/onnxruntime/core/graph/model.cc:202 onnxruntime::Model::Model(onnx::ModelProto&&, …) "
// (a source location, then the C++ function that raised the error) before onnxruntime's own words.
const ORT_SOURCE_LOCATION = /\/onnxruntime_src\/\S+?:\d+ (?:[\w:~<>,*& ]+\((?:[^()]|\([^()]*\))*\)(?: const)? )?/g;

/**
 * onnxruntime's message without the build's source paths and C++ signatures, which tell a user
 * nothing ("Unsupported model IR version: 99, max supported IR version: 13" is what matters).
 */
export function onnxruntimeText(err: unknown): string {
  return errorText(err).replace(ORT_SOURCE_LOCATION, '').trim();
}

// A StringStringEntryProto whose key is "location" (field 1, length 8): how a TensorProto names its external data file.
const EXTERNAL_LOCATION = Buffer.from([0x0a, 0x08, ...Buffer.from('location')]);

/** Whether ONNX bytes refer to external data (a byte scan: no protobuf decoding on the load path). */
function hasExternalData(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes(EXTERNAL_LOCATION);
}

/**
 * Creates a session from ONNX bytes. Rejects with SessionLoadError (MS_ERR_MODEL_LOAD, "<path>: <problem>").
 * (onnxruntime-node parses and optimises the model synchronously on the calling thread.)
 */
export async function createSession(path: string, bytes: Uint8Array, options: RuntimeOptions): Promise<OrtSession> {
  if (bytes.byteLength === 0) throw new SessionLoadError(path, 'the file is empty');
  try {
    // A graph whose weights are kept in files beside it (external data, as large exports are
    // saved) loads from its own path: onnxruntime finds those files relative to the model file,
    // and from bytes it looks for them in the working directory. (An optimiser's rewrite of such a
    // graph is then not used: the file's own graph answers the same. A converted XGBoost graph has none.)
    if (path.endsWith('.onnx') && hasExternalData(bytes)) return await ort.InferenceSession.create(path, sessionOptions(options));
    return await ort.InferenceSession.create(bytes, sessionOptions(options));
  } catch (err) {
    const undescribed = /Unsupported data type: (\d+)/.exec(errorText(err));
    const which = undescribed ? await tensorsOfType(bytes, Number(undescribed[1])) : undefined;
    throw new SessionLoadError(path, `onnxruntime could not load the model: ${which ?? ''}${onnxruntimeText(err)}`, { cause: err });
  }
}

/**
 * onnxruntime-node loads a graph whose inputs or outputs have an element type its JavaScript side
 * has no name for (bfloat16), then refuses it with "Unsupported data type: 16": which inputs and
 * outputs those are, read from the graph ("input 'x' and output 'y' have element type BFLOAT16, ...: ").
 */
async function tensorsOfType(bytes: Uint8Array, elemType: number): Promise<string | undefined> {
  try {
    const { decodeModel, DT } = await import('../optimize/proto.js');
    const graph = decodeModel(bytes).graph;
    const initializers = new Set((graph?.initializer ?? []).map((t) => t.name));
    const named = [
      ...(graph?.input ?? []).filter((v) => !initializers.has(v.name)).map((v) => ({ v, kind: 'input' })),
      ...(graph?.output ?? []).map((v) => ({ v, kind: 'output' })),
    ].filter(({ v }) => v.type?.tensorType?.elemType === elemType).map(({ v, kind }) => `${kind} '${v.name}'`);
    if (named.length === 0) return undefined;
    const type = (DT as unknown as Record<number, string | undefined>)[elemType] ?? `elem_type ${elemType}`;
    return `${named.join(' and ')} ${named.length === 1 ? 'has' : 'have'} element type ${type}, which onnxruntime-node cannot pass to or from JavaScript (modelserve cannot serve this model): `;
  } catch {
    return undefined;
  }
}

function infoOf(meta: ort.InferenceSession.ValueMetadata): TensorInfo {
  if (!meta.isTensor) return { name: meta.name, type: 'non-tensor', shape: [] };
  // onnxruntime-node reports an unnamed symbolic dim as '' — the contract says "strings or -1".
  const shape = meta.shape.map((d) => (d === '' ? -1 : d));
  return { name: meta.name, type: meta.type, shape };
}

/** The model's inputs and outputs as the session reports them. */
export function signatureOf(session: OrtSession): ModelSignature {
  return { inputs: session.inputMetadata.map(infoOf), outputs: session.outputMetadata.map(infoOf) };
}

function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/**
 * Runs the session once on a 1-row all-zero (or empty-string) input so the first real request
 * doesn't pay for lazy allocations. Best effort: returns false (never throws) if the model has
 * inputs it can't synthesise or refuses zeros.
 */
export async function warmUp(session: OrtSession): Promise<boolean> {
  const feeds = zeroFeeds(session, 1);
  if (feeds === undefined) return false;
  try {
    await session.run(feeds);
    return true;
  } catch {
    return false;
  }
}

/** All-zero inputs of `rows` rows (the first variable dimension; 1 for the others), or undefined when the model has inputs it can't synthesise. */
function zeroFeeds(session: OrtSession, rows: number): Record<string, ort.Tensor> | undefined {
  const feeds: Record<string, ort.Tensor> = {};
  for (const meta of session.inputMetadata) {
    if (!meta.isTensor) return undefined;
    const dims = meta.shape.map((d, i) => (typeof d === 'number' && d >= 0 ? d : i === 0 ? rows : 1));
    const data = allocateTensor(meta.type, elementCount(dims));
    if (data === undefined) return undefined;
    feeds[meta.name] = new ort.Tensor(meta.type as ElementType, data as never, dims);
  }
  return feeds;
}

/** A run slower than this (ms) is not timed further (see measureRunCost). */
const SLOW_RUN_MS = 5;

/** What one run of a model costs on this thread: a fixed part and a part per row, in ms. */
export interface RunCost {
  fixedMs: number;
  perRowMs: number;
}

/**
 * Times runs on zeros at 1 and 16 rows (the fastest of a few each; a warm session) and fits
 * fixed + perRow × rows. Undefined when the model can't be run on zeros.
 */
export async function measureRunCost(session: OrtSession): Promise<RunCost | undefined> {
  const time = async (rows: number): Promise<number | undefined> => {
    const feeds = zeroFeeds(session, rows);
    if (feeds === undefined) return undefined;
    let best = Infinity;
    try {
      for (let i = 0; i < 5 && !(rows === 1 && i === 1 && best > SLOW_RUN_MS); i++) {
        const t0 = performance.now();
        await session.run(feeds);
        best = Math.min(best, performance.now() - t0);
      }
    } catch {
      return undefined;
    }
    return best;
  };
  const one = await time(1);
  // A model this slow never runs on the main thread: spare large models more timing runs at load.
  if (one !== undefined && one > SLOW_RUN_MS) return { fixedMs: one, perRowMs: one };
  const many = await time(16);
  if (one === undefined || many === undefined) return undefined;
  const perRowMs = Math.max(0, (many - one) / 15);
  return { fixedMs: Math.max(0, one - perRowMs), perRowMs };
}

function checkTensor(name: string, t: TensorData): void {
  if (!ELEMENT_TYPES.has(t.type)) throw new ModelServeError('MS_ERR_INFERENCE', `input '${name}': unsupported element type '${t.type}'`);
  const n = elementCount(t.dims);
  if (t.data.length !== n) {
    throw new ModelServeError('MS_ERR_INFERENCE', `input '${name}': dims [${t.dims.join(', ')}] need ${n} values, got ${t.data.length}`);
  }
}

/** TensorData -> ort.Tensor (no copy for typed arrays; bool is a Uint8Array of 0/1 as onnxruntime-node expects). */
export function toOrtFeeds(feeds: NamedTensors): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  for (const name of Object.keys(feeds)) {
    const t = feeds[name];
    checkTensor(name, t);
    out[name] = new ort.Tensor(t.type, t.data as never, t.dims);
  }
  return out;
}

/** ort.Tensor results -> TensorData (keeps onnxruntime's freshly allocated arrays; no copy). */
export function fromOrtResults(results: ort.InferenceSession.OnnxValueMapType): NamedTensors {
  const out: NamedTensors = {};
  for (const name of Object.keys(results)) {
    const t = results[name] as ort.Tensor;
    if (!ELEMENT_TYPES.has(t.type)) throw new ModelServeError('MS_ERR_INFERENCE', `output '${name}' has unsupported element type '${t.type}'`);
    out[name] = { type: t.type as ElementType, dims: [...t.dims], data: t.data as TensorValues };
  }
  return out;
}

/**
 * Times the next run started on this thread: call it right before runSession, read the returned
 * function when the run has answered. onnxruntime-node defers the native run to a setImmediate queued
 * while its run() is called, so the time from the call also holds whatever the event loop does first —
 * on the main thread, every other I/O callback of that turn (requests being parsed); on a worker, the
 * messages that arrived meanwhile (its runs no longer overlap: worker.ts does one task at a time). The
 * marker immediate queued here runs right before onnxruntime's own, so the figure is the run's. (Were the run ever not deferred, the marker would not have run yet when
 * read, and the call's time stands.)
 */
export function startRunTimer(now: () => number = defaultClock): () => number {
  let started = now();
  setImmediate(() => {
    started = now();
  });
  return () => now() - started;
}

const defaultClock = (): number => performance.now();

/** Runs one batch on a session; failures become ModelServeError(MS_ERR_INFERENCE). */
export async function runSession(model: string, session: OrtSession, feeds: NamedTensors, outputNames?: string[]): Promise<NamedTensors> {
  const ortFeeds = toOrtFeeds(feeds);
  let results: ort.InferenceSession.OnnxValueMapType;
  try {
    results = outputNames === undefined ? await session.run(ortFeeds) : await session.run(ortFeeds, outputNames);
  } catch (err) {
    throw new ModelServeError('MS_ERR_INFERENCE', `model '${model}': ${onnxruntimeText(err)}`, { cause: err });
  }
  return fromOrtResults(results);
}
