// The one interface between the HTTP layer (and the batcher) and whatever runs ONNX models.
// Implementations: InProcessRuntime (sessions on the calling thread) and WorkerPoolRuntime
// (worker threads, one session per model per worker). test/runtime/contract.test.ts runs the
// same contract suite against every implementation.

/** The element types modelserve carries (every one onnxruntime-node's Tensor has but float16 and the 4-bit ones). */
export type ElementType = 'float32' | 'float64' | 'int8' | 'int16' | 'int32' | 'int64' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'string' | 'bool';

export type TensorValues =
  | Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | BigInt64Array
  | Uint8Array | Uint16Array | Uint32Array | BigUint64Array | string[];

/** A plain tensor: structured-clone/transfer friendly (no onnxruntime objects cross threads). */
export interface TensorData {
  type: ElementType;
  dims: number[];
  data: TensorValues;
}

export type NamedTensors = Record<string, TensorData>;

/** One ONNX input or output as the session reports it. Symbolic dims are strings or -1. */
export interface TensorInfo {
  name: string;
  type: ElementType | string;
  shape: Array<number | string>;
  /**
   * false when the graph declares no shape at all (any rank): the session reports [] for it as for a
   * scalar; read from the graph (withDeclaredRanks) where a version is loaded.
   */
  shapeDeclared?: false;
}

export interface ModelSignature {
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  /**
   * Set when a raw model's graph has an op that may compute a row from other rows (why, in words): its
   * requests never share a run (rawBatchable). Read from the graph (rowMixing) where a version is loaded.
   */
  rowsMixed?: string;
}

export interface ModelSource {
  /** Model name, the key used by run(). */
  name: string;
  /** Path of the .onnx file (for messages) */
  path: string;
  /** ONNX bytes to load (already optimised, if the optimiser ran). */
  bytes: Uint8Array;
  /**
   * The longest a request of this model waits (its queue.timeout_ms): a worker pool's run watchdog
   * allows a run the larger of this and its own floor (--run-timeout-ms) before it takes the worker out of service.
   */
  runTimeoutMs?: number;
  /** The model as clients call it (e.g. "'iris' version 2"), for messages; default: `name`. */
  label?: string;
}

export interface RuntimeOptions {
  /** onnxruntime intra-op threads per session. */
  intraOpThreads: number;
  /** onnxruntime inter-op threads per session. */
  interOpThreads: number;
}

export interface InferenceRuntime {
  /** Loads every model; resolves with each model's signature, rejects naming the file on failure. */
  load(models: ModelSource[]): Promise<Record<string, ModelSignature>>;
  /** Releases the sessions of these models (call only once nothing runs on them: the core drains first). */
  unload(names: string[]): Promise<void>;
  /**
   * Runs one batch. Never blocks the caller's event loop in the worker implementation.
   * `requests`: how many client requests the batch serves (default 1); HybridRuntime weighs a run's cost per request.
   */
  run(model: string, feeds: NamedTensors, outputNames?: string[], requests?: number): Promise<NamedTensors>;
  /** Rows up to which this model's batches run on the calling thread (HybridRuntime); absent or 0: none. */
  inlineRows?(model: string): number;
  /**
   * Why no inference worker can take a run now (all quarantined or restarting), or undefined: the
   * readiness probes say not ready with it. Absent: runs never wait for a worker (in-process).
   */
  unavailable?(): string | undefined;
  /** Worker threads the run watchdog took out of service: alive now (stuck in a native run), and since start. */
  quarantineStats?(): { alive: number; total: number };
  /**
   * Resolves once every quarantined thread has ended (its native run returned). The process must not
   * exit before: Node's exit tears down a thread still inside onnxruntime, which then aborts the process (SIGABRT).
   */
  whenQuarantinedExited?(): Promise<void>;
  /** Worker threads inside a native run now (quarantined or not): no normal exit is possible while there are any. */
  threadsInRun?(): number;
  /** How many runs may usefully be in flight at once (the batcher's slots; e.g. two per worker thread). */
  readonly parallelism: number;
  /** Inference worker threads (0: runs on the calling thread). */
  readonly workerThreads: number;
  close(): Promise<void>;
}

/** Rows in a batch of feeds: the first tensor's first dimension (1 for a scalar); undefined with no tensors. */
export function leadingRows(feeds: NamedTensors): number | undefined {
  const first = feeds[Object.keys(feeds)[0]!];
  return first === undefined ? undefined : (first.dims[0] ?? 1);
}
