// The pool's run watchdog, on a real model whose run takes seconds for one input value and
// milliseconds for another: an ONNX Loop whose trip count is the input. A run stuck past its bound
// fails with a clear error, its worker is quarantined (no more runs go to it) and replaced, and the
// stuck thread ends by itself once its native run returns. The watchdog's timers are node:test's
// mock timers, so nothing here depends on how fast this machine is: only the long run's length is
// sized to it (about 15 s of work), so that its thread ends within the test.
import { after, before, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ModelServeError } from '../../src/errors.js';
import { Metrics } from '../../src/metrics/metrics.js';
import type { ModelSource, NamedTensors } from '../../src/runtime/types.js';
import { WorkerPoolRuntime, type WorkerQuarantineEvent } from '../../src/workers/pool.js';
import { writeLoopModel } from '../helpers/onnx.js';

const trips = (n: number): NamedTensors => ({ n: { type: 'int64', dims: [1], data: BigInt64Array.from([BigInt(n)]) } });

/** Loop rounds of about `ms` of work on this machine, from the fastest of three timed runs (a busy machine only makes it longer). */
async function roundsFor(pool: WorkerPoolRuntime, ms: number): Promise<number> {
  const probe = 4000;
  let perRound = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    await pool.run('loop', trips(probe));
    perRound = Math.min(perRound, (performance.now() - t0) / probe);
  }
  return Math.round(ms / Math.max(1e-4, perRound));
}

describe('WorkerPoolRuntime run watchdog', () => {
  let dir: string;
  let source: ModelSource;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ms-watchdog-'));
    const file = join(dir, 'loop.onnx');
    writeLoopModel(file);
    // The model's own bound (its queue.timeout_ms, as the core passes it) is above the pool's floor: it applies.
    source = { name: 'loop', path: file, bytes: readFileSync(file), runTimeoutMs: 5000, label: "'loop' version 1" };
  });
  after(() => {
    mock.timers.reset();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a run stuck past its bound fails with a clear error; its worker is quarantined and replaced, and its thread ends by itself', async () => {
    const quarantines: WorkerQuarantineEvent[] = [];
    // Only the pool's timers are mocked (the watchdog's): workers, messages and onnxruntime are real.
    mock.timers.enable({ apis: ['setTimeout'] });
    const pool = new WorkerPoolRuntime({ workers: 2, intraOpThreads: 1, interOpThreads: 1, runTimeoutMs: 1000, onWorkerQuarantined: (e) => quarantines.push(e) });
    try {
      await pool.load([source]);
      const slow = await roundsFor(pool, 15000);
      const hung = pool.run('loop', trips(slow));
      const hungOutcome = hung.then(() => 'answered', (err: unknown) => err);
      const stuckWorker = pool.inFlightPerWorker.indexOf(1);
      // The other worker serves meanwhile (the least loaded gets the run).
      const fast = await pool.run('loop', trips(10));
      assert.equal((fast.y1.data as Float32Array)[0], 128 * 128);
      assert.deepEqual(pool.inFlightPerWorker.map((n) => n > 0), [0, 1].map((i) => i === stuckWorker));
      // Just under the bound, nothing happens; at it, the watchdog fires.
      mock.timers.tick(4999);
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(quarantines, []);
      mock.timers.tick(1);
      const err = await hungOutcome;
      assert.ok(err instanceof ModelServeError, `the stuck run was ${String(err)}`);
      assert.equal(err.code, 'MS_ERR_INFERENCE');
      assert.match(err.message, new RegExp(`^inference failed: the run of model 'loop' version 1 took longer than 5000 ms \\(the run timeout\\), so worker ${stuckWorker} was taken out of service and is being replaced$`));
      assert.deepEqual(quarantines, [{ worker: stuckWorker, model: "'loop' version 1", runTimeoutMs: 5000, failedRuns: 1, quarantined: 1, replaced: true }]);
      assert.deepEqual(pool.quarantineStats(), { alive: 1, total: 1 });
      assert.deepEqual(pool.inFlightPerWorker, [0, 0], 'no run is left on the stuck worker');
      const metrics = new Metrics({ processMetrics: false });
      metrics.watchRuntime(pool);
      const text = await metrics.registry.metrics();
      assert.match(text, /^modelserve_workers_quarantined 1$/m);
      assert.match(text, /^modelserve_worker_quarantines_total 1$/m);

      mock.timers.reset();
      // The replacement loads the model and takes runs: both workers serve again.
      await pool.whenAllReady();
      const both = [pool.run('loop', trips(10)), pool.run('loop', trips(10))];
      assert.deepEqual(pool.inFlightPerWorker, [1, 1]);
      for (const out of await Promise.all(both)) assert.equal((out.y1.data as Float32Array)[0], 128 * 128);
      // Closing does not wait for the stuck thread; it ends by itself (cleanly: a terminate() would abort this process) once its run returns.
      await pool.close();
      await pool.whenQuarantinedExited();
      assert.deepEqual(pool.quarantineStats(), { alive: 0, total: 1 });
      assert.match(await metrics.registry.metrics(), /^modelserve_workers_quarantined 0$/m);
    } finally {
      mock.timers.reset();
      await pool.close();
    }
  });
});
