// A real worker pool put into a crash loop's back-off, where no worker can take a run: what the
// readiness and runtime tests need to see the pool down without waiting on the machine's speed.
import type { WorkerPoolRuntime } from '../../src/workers/pool.js';

/** A pool's worker exits to await: give `onExit` as the pool's onWorkerExit; `next()` resolves at the next exit. */
export function workerExits(): { onExit: () => void; next: () => Promise<void> } {
  const waiting: Array<() => void> = [];
  return { onExit: () => waiting.shift()?.(), next: () => new Promise<void>((resolve) => waiting.push(resolve)) };
}

/**
 * Crashes worker 0 of a one-worker pool, replaced at once, then its replacement before it has the
 * models: the next replacement waits out the crash back-off, with no worker meanwhile. Mock
 * setTimeout first to hold the back-off until the test ticks past it (MAX_RESPAWN_BACKOFF_MS).
 */
export async function crashIntoBackOff(pool: WorkerPoolRuntime, exits: ReturnType<typeof workerExits>): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const gone = exits.next();
    pool.crashWorkerForTesting(0, 'exit');
    await gone;
  }
}
