// Messages between WorkerPoolRuntime (main thread) and src/workers/worker.ts. Typed-array buffers
// of results are transferred (zero-copy); strings and model bytes are structured-cloned.
import type { ModelSignature, ModelSource, NamedTensors, RuntimeOptions } from '../runtime/types.js';

export interface WorkerInit extends RuntimeOptions {
  warmUp: boolean;
}

export type ToWorker =
  | { type: 'load'; id: number; models: ModelSource[] }
  | { type: 'run'; id: number; model: string; feeds: NamedTensors; outputNames?: string[] }
  /** Release every session and exit cleanly (graceful close; never sent while runs are in flight). */
  | { type: 'close' }
  /**
   * Test hook: simulate a crash — 'exit' calls process.exit(1), 'throw' raises an uncaught
   * exception — at once, or when the next run message arrives ('next-run').
   */
  | { type: 'crash'; how: 'exit' | 'throw'; when: 'now' | 'next-run' };

export type FromWorker =
  | { type: 'loaded'; id: number; signatures: Record<string, ModelSignature> }
  | { type: 'load-error'; id: number; message: string }
  | { type: 'result'; id: number; outputs: NamedTensors }
  | { type: 'run-error'; id: number; code: string; message: string };

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
