// Messages between WorkerPoolRuntime (main thread) and src/workers/worker.ts. Typed-array buffers
// of results are transferred (zero-copy); strings and model bytes are structured-cloned.
import type { ElementType, ModelSignature, ModelSource, NamedTensors, RuntimeOptions, TensorData } from '../runtime/types.js';
import type { RunCost } from '../runtime/session.js';

export interface WorkerInit extends RuntimeOptions {
  warmUp: boolean;
  /** Time each model's runs after loading (RunCost in 'loaded'). */
  measureCost: boolean;
  /**
   * Shared with the pool: [0] is 1 once the worker is quarantined (a run stuck past its bound); it then runs
   * nothing more. [1] counts the runs handed to onnxruntime (a test hook: WorkerPoolRuntime.runsStartedForTesting).
   */
  retired: Int32Array;
}

/** The array WorkerInit.retired is: its two counters, shared (the pool's and tests' one shape). */
export function newRetiredFlags(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
}

export type ToWorker =
  | { type: 'load'; id: number; models: ModelSource[] }
  | { type: 'run'; id: number; model: string; feeds: PackedTensors; outputNames?: string[] }
  /** Release these models' sessions (sent once no run on them is in flight). */
  | { type: 'unload'; names: string[] }
  /** Release every session and exit cleanly (graceful close; never sent while runs are in flight). */
  | { type: 'close' }
  /** Test hook: which models this worker holds a session for, once the loads and unloads sent before are done. */
  | { type: 'loaded-models'; id: number }
  /**
   * Test hook: simulate a crash — 'exit' calls process.exit(1), 'throw' raises an uncaught
   * exception — at once, or when the next run ('next-run') or load ('next-load') message arrives.
   */
  | { type: 'crash'; how: 'exit' | 'throw'; when: 'now' | 'next-run' | 'next-load' };

export type FromWorker =
  | { type: 'loaded'; id: number; signatures: Record<string, ModelSignature>; costs: Record<string, RunCost | undefined> }
  /** path and reason: a SessionLoadError's, apart. */
  | { type: 'load-error'; id: number; message: string; path?: string; reason?: string }
  /** runMs: the time inside onnxruntime (no hand-off), which keeps the pool's RunCost estimate current. */
  | { type: 'result'; id: number; outputs: NamedTensors; runMs: number }
  | { type: 'run-error'; id: number; code: string; message: string }
  | { type: 'loaded-models'; id: number; names: string[] };

/** The ArrayBuffers behind a set of tensors (string tensors have none), for a postMessage transfer list. */
export function transferList(tensors: NamedTensors): ArrayBuffer[] {
  const list: ArrayBuffer[] = [];
  for (const name of Object.keys(tensors)) {
    const data = tensors[name].data;
    if (Array.isArray(data)) continue;
    const buffer = data.buffer;
    // Only a whole, unshared buffer can be handed over; a view into a larger buffer is cloned instead.
    if (buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === buffer.byteLength && !list.includes(buffer)) {
      list.push(buffer);
    }
  }
  return list;
}

/**
 * Feeds as they cross to a worker: every numeric tensor in one ArrayBuffer (transferred), every
 * string in one flat array, and a JSON header. Structured-cloning a feed object tensor by tensor
 * (18 small objects for the loan example) cost the main thread about twice as much per batch.
 */
export interface PackedTensors {
  /** JSON of [name, type, dims, offset, count]: offset is a byte offset into `buffer`, or an index into `strings`. */
  header: string;
  buffer: ArrayBuffer;
  strings: string[];
}

const ALIGN = 8;

export function packTensors(tensors: NamedTensors): PackedTensors {
  const entries: Array<[string, ElementType, number[], number, number]> = [];
  const strings: string[] = [];
  let bytes = 0;
  for (const name of Object.keys(tensors)) {
    const t = tensors[name]!;
    if (Array.isArray(t.data)) {
      entries.push([name, t.type, t.dims, strings.length, t.data.length]);
      for (let i = 0; i < t.data.length; i++) strings.push(t.data[i]!);
    } else {
      bytes = Math.ceil(bytes / ALIGN) * ALIGN;
      entries.push([name, t.type, t.dims, bytes, t.data.length]);
      bytes += t.data.byteLength;
    }
  }
  const buffer = new ArrayBuffer(bytes);
  const target = new Uint8Array(buffer);
  for (const [name, , , offset] of entries) {
    const data = tensors[name]!.data;
    if (!Array.isArray(data)) target.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
  }
  return { header: JSON.stringify(entries), buffer, strings };
}

const VIEWS = {
  float32: Float32Array,
  float64: Float64Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
} as const;

export function unpackTensors(packed: PackedTensors): NamedTensors {
  const entries = JSON.parse(packed.header) as Array<[string, ElementType, number[], number, number]>;
  const out: NamedTensors = {};
  // The element count travels as sent, so a feed whose data does not fit its dims is reported by
  // the session's own check, as in-process.
  for (const [name, type, dims, offset, size] of entries) {
    let data: TensorData['data'];
    if (type === 'string') data = packed.strings.slice(offset, offset + size);
    else {
      const View = VIEWS[type];
      if (View === undefined) throw new TypeError(`tensor '${name}': unsupported element type ${String(type)}`);
      data = new View(packed.buffer, offset, size);
    }
    out[name] = { type, dims, data };
  }
  return out;
}
