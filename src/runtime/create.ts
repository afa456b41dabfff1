// Picks and starts the inference runtime. Kept apart from the HTTP modules so `modelserve serve`
// can start the worker threads (each loading onnxruntime) before it imports Fastify: the two
// startups overlap, which is most of the cold start.
import { availableParallelism } from 'node:os';
import type { InferenceRuntime } from './types.js';
import { cgroupCpuLimit, defaultWorkerCount, threadsPerWorker } from '../workers/cpu.js';
import { WorkerPoolRuntime, type WorkerExitEvent, type WorkerQuarantineEvent } from '../workers/pool.js';

export interface RuntimeChoice {
  /** Worker threads; 0 = inference on the calling thread; default from the CPU quota. */
  workers?: number;
  /** onnxruntime intra-op threads per session; default so that workers × threads ≤ CPUs (1 with workers 0). */
  threadsPerWorker?: number;
  onWorkerExit?: (event: WorkerExitEvent) => void;
  /** The run watchdog's floor, ms (--run-timeout-ms); 0: none. Default DEFAULT_RUN_TIMEOUT_MS. */
  runTimeoutMs?: number;
  onWorkerQuarantined?: (event: WorkerQuarantineEvent) => void;
  /** Batches expected to run within this many ms run on the main thread (HybridRuntime); 0: every batch on a worker. */
  inlineMaxMs?: number;
}

/** Default of --inline-max-us, in ms: about what the thread hand-offs of a batch cost on a busy virtual machine (BENCHMARKS.md, main section). */
export const DEFAULT_INLINE_MAX_MS = 0.25;

/** Default of --run-timeout-ms. */
export const DEFAULT_RUN_TIMEOUT_MS = 10000;

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
    runTimeoutMs: choice.runTimeoutMs ?? DEFAULT_RUN_TIMEOUT_MS,
    onWorkerQuarantined: choice.onWorkerQuarantined,
    measureCost: inlineMaxMs > 0,
  });
  if (inlineMaxMs <= 0) return pool;
  const { HybridRuntime } = await import('./hybrid.js');
  return new HybridRuntime(pool, { inlineMaxMs });
}

/** The log line of a worker quarantined by the run watchdog. */
export function quarantineMessage(event: WorkerQuarantineEvent): string {
  return event.replaced
    ? `inference worker ${event.worker} stuck in a run of model ${event.model} for over ${event.runTimeoutMs} ms: taken out of service and replaced`
    : `inference worker ${event.worker} stuck in a run of model ${event.model} for over ${event.runTimeoutMs} ms: taken out of service; ${event.quarantined} stuck threads are alive, so it is replaced only once one of them ends (the pool runs degraded)`;
}
