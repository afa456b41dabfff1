// Picks and starts the inference runtime. Kept apart from the HTTP modules so `modelserve serve`
// can start the worker threads (each loading onnxruntime) before it imports Fastify: the two
// startups overlap, which is most of the cold start.
import { availableParallelism } from 'node:os';
import type { InferenceRuntime } from './types.js';
import { cgroupCpuLimit, defaultWorkerCount, threadsPerWorker } from '../workers/cpu.js';
import { WorkerPoolRuntime, type WorkerExitEvent } from '../workers/pool.js';

export interface RuntimeChoice {
  /** Worker threads; 0 = inference on the calling thread; default from the CPU quota. */
  workers?: number;
  /** onnxruntime intra-op threads per session; default so that workers × threads ≤ CPUs (1 with workers 0). */
  threadsPerWorker?: number;
  onWorkerExit?: (event: WorkerExitEvent) => void;
  /** Batches expected to run within this many ms run on the main thread (HybridRuntime); 0: every batch on a worker. */
  inlineMaxMs?: number;
}

/** Default of --inline-max-us, in ms: about what the thread hand-offs of a batch cost on a busy virtual machine (BENCHMARKS.md, main section). */
export const DEFAULT_INLINE_MAX_MS = 0.25;

export async function createRuntime(choice: RuntimeChoice = {}): Promise<InferenceRuntime> {
  const cpus = Math.max(1, Math.min(availableParallelism(), Math.floor(cgroupCpuLimit() ?? Infinity)));
  const count = choice.workers ?? defaultWorkerCount();
  if (count === 0) {
    // Only this case needs onnxruntime on the main thread. One intra-op thread by default: the
    // batches of a tabular model are tiny, and more threads spin on them (measured 2-20x slower).
    const { InProcessRuntime } = await import('./in-process.js');
    return new InProcessRuntime({ intraOpThreads: choice.threadsPerWorker ?? 1, interOpThreads: 1 });
  }
  const inlineMaxMs = choice.inlineMaxMs ?? DEFAULT_INLINE_MAX_MS;
  const pool = new WorkerPoolRuntime({
    workers: count,
    intraOpThreads: choice.threadsPerWorker ?? threadsPerWorker(count, cpus),
    interOpThreads: 1,
    onWorkerExit: choice.onWorkerExit,
    measureCost: inlineMaxMs > 0,
  });
  if (inlineMaxMs <= 0) return pool;
  const { HybridRuntime } = await import('./hybrid.js');
  return new HybridRuntime(pool, { inlineMaxMs });
}
