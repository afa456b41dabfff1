// Batcher: batch formation, ordering, delay, overload, deadlines, failure isolation, drain and
// disabled mode. Timing is controlled with a gated runBatch (a plain function whose batches only
// finish when the test releases them); the end-to-end cases run real svc.onnx batches.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { ModelServeError, RunStuckError } from '../../src/errors.js';
import { Batcher, type BatchInfo, type BatcherOptions, type SubmitOptions } from '../../src/batching/batcher.js';
import { InProcessRuntime } from '../../src/runtime/in-process.js';
import type { InferenceRuntime } from '../../src/runtime/types.js';
import { WorkerPoolRuntime } from '../../src/workers/pool.js';
import { svcRows, svcSource } from '../runtime/fixtures.js';
import { rejectsWith } from '../helpers/assert.js';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Call {
  rows: number[];
  release: () => void;
  fail: (err: unknown) => void;
}

/** A runBatch whose batches complete only when released; each result is row * 10. */
function gated(): { calls: Call[]; runBatch: (rows: number[]) => Promise<number[]>; releaseAll: () => void } {
  const calls: Call[] = [];
  let pending: Call[] = [];
  return {
    calls,
    runBatch: (rows) =>
      new Promise<number[]>((resolve, reject) => {
        const call: Call = { rows: [...rows], release: () => resolve(rows.map((r) => r * 10)), fail: reject };
        calls.push(call);
        pending.push(call);
      }),
    releaseAll: () => {
      const now = pending;
      pending = [];
      for (const c of now) c.release();
    },
  };
}

/** A runBatch that answers right away (row * 10), recording batch sizes. */
function immediate(sizes: number[]): (rows: number[]) => Promise<number[]> {
  return async (rows) => {
    sizes.push(rows.length);
    return rows.map((r) => r * 10);
  };
}

/** The batcher's options with a row-level runBatch (one result per row), as these tests are written. */
type RowOptions<Row, Result> = Omit<BatcherOptions<Row[], Result[]>, 'runBatch'> & { runBatch: (rows: Row[]) => Promise<Result[]> };

/**
 * The batcher queueing one array of rows per request (its item), with a row-level runBatch: the
 * rows of a batch's items are joined, and the results split back per item — what the model core
 * does with tensors (src/core/tensor-batch.ts).
 */
class RowBatcher<Row, Result> {
  private readonly inner: Batcher<Row[], Result[]>;
  constructor(opts: RowOptions<Row, Result>) {
    this.inner = new Batcher<Row[], Result[]>({
      ...opts,
      runBatch: async (items) => {
        const rows = items.flat();
        const results = await opts.runBatch(rows);
        if (results.length !== rows.length) throw new ModelServeError('MS_ERR_INTERNAL', `runBatch returned ${results.length} results for ${rows.length} rows`);
        let offset = 0;
        return items.map((item) => results.slice(offset, (offset += item.length)));
      },
    });
  }
  submit(rows: Row[], options?: SubmitOptions): Promise<Result[]> {
    return this.inner.submit(rows, rows.length, options);
  }
  stats() {
    return this.inner.stats();
  }
  shed() {
    return this.inner.shed();
  }
  drain(): Promise<void> {
    return this.inner.drain();
  }
}

function options<Row = number, Result = number>(
  over: Partial<RowOptions<Row, Result>> & Pick<RowOptions<Row, Result>, 'runBatch'>,
): RowOptions<Row, Result> {
  return { enabled: true, maxBatchSize: 8, maxQueueDelayMs: 5, maxQueueRows: 1000, timeoutMs: 0, concurrency: 1, ...over };
}

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

describe('Batcher with a controllable runBatch', () => {
  test('batches form up to maxBatchSize, and results come back to each request in order', async () => {
    const sizes: number[] = [];
    const b = new RowBatcher(options({ maxBatchSize: 8, maxQueueDelayMs: 5, runBatch: immediate(sizes) }));
    const results = await Promise.all(range(0, 20).map((i) => b.submit([i])));
    assert.deepEqual(sizes, [8, 8, 4]);
    assert.deepEqual(results, range(0, 20).map((i) => [i * 10]));
  });

  test("a request's rows stay together; a request larger than maxBatchSize runs alone", async () => {
    const g = gated();
    const b = new RowBatcher(options({ maxBatchSize: 8, maxQueueDelayMs: 0, concurrency: 1, runBatch: g.runBatch }));
    const first = b.submit([100]);
    await turn();
    assert.equal(g.calls.length, 1);
    const reqs = [b.submit([1, 2, 3]), b.submit([4, 5, 6]), b.submit([7, 8, 9]), b.submit(range(20, 12)), b.submit([40])];
    g.releaseAll();
    await first;
    for (let i = 0; i < 5; i++) {
      await turn();
      g.releaseAll();
    }
    const results = await Promise.all(reqs);
    assert.deepEqual(g.calls.map((c) => c.rows), [[100], [1, 2, 3, 4, 5, 6], [7, 8, 9], range(20, 12), [40]]);
    assert.deepEqual(results, [[10, 20, 30], [40, 50, 60], [70, 80, 90], range(20, 12).map((r) => r * 10), [400]]);
  });

  test('rows accumulate while every slot is busy, so batches grow under load', async () => {
    const g = gated();
    const b = new RowBatcher(options({ maxBatchSize: 64, maxQueueDelayMs: 0, concurrency: 2, runBatch: g.runBatch }));
    const early = [b.submit([1]), b.submit([2])];
    await turn();
    // delay 0: the two requests of that turn went out as one batch; the second slot is free.
    assert.deepEqual(g.calls.map((c) => c.rows), [[1, 2]]);
    const second = b.submit([3]);
    await turn();
    assert.equal(g.calls.length, 2, 'second slot used');
    const later = range(10, 30).map((i) => b.submit([i]));
    await turn();
    assert.equal(g.calls.length, 2, 'no third batch while both slots are busy');
    assert.deepEqual(b.stats(), { queuedRows: 30, queuedRequests: 30, inFlightBatches: 2 });
    g.releaseAll();
    await Promise.all([...early, second]);
    await turn();
    assert.deepEqual(g.calls[2].rows, range(10, 30), 'all 30 waiting rows form one batch');
    g.releaseAll();
    assert.deepEqual(await Promise.all(later), range(10, 30).map((i) => [i * 10]));
  });

  test('a burst is spread over the free slots; small bursts are not split', async () => {
    const g = gated();
    const b = new RowBatcher(options({ maxBatchSize: 64, maxQueueDelayMs: 0, concurrency: 2, runBatch: g.runBatch }));
    const burst = range(0, 64).map((i) => b.submit([i]));
    await turn();
    assert.deepEqual(g.calls.map((c) => c.rows), [range(0, 32), range(32, 32)], 'both slots, 32 rows each');
    g.releaseAll();
    assert.deepEqual(await Promise.all(burst), range(0, 64).map((i) => [i * 10]));
    const small = range(100, 10).map((i) => b.submit([i]));
    await turn();
    assert.deepEqual(g.calls.slice(2).map((c) => c.rows), [range(100, 10)], '10 rows: one run, not 5 + 5');
    g.releaseAll();
    await Promise.all(small);
    const big = range(200, 150).map((i) => b.submit([i]));
    await turn();
    assert.deepEqual(g.calls.slice(3).map((c) => c.rows.length), [64, 64], 'capped at maxBatchSize; the rest waits');
    assert.equal(b.stats().queuedRows, 22);
    for (let i = 0; i < 3; i++) {
      g.releaseAll();
      await turn();
    }
    assert.deepEqual(await Promise.all(big), range(200, 150).map((i) => [i * 10]));
  });

  test('a partial batch runs once the oldest request has waited maxQueueDelayMs', async () => {
    const g = gated();
    const infos: BatchInfo[] = [];
    const b = new RowBatcher(options({ maxBatchSize: 100, maxQueueDelayMs: 40, runBatch: g.runBatch, onBatch: (i) => infos.push(i) }));
    const t0 = performance.now();
    const reqs = [b.submit([1]), b.submit([2, 3])];
    await turn();
    await sleep(5);
    assert.equal(g.calls.length, 0, 'not dispatched before the delay');
    while (g.calls.length === 0) await sleep(2);
    const waited = performance.now() - t0;
    assert.deepEqual(g.calls[0].rows, [1, 2, 3]);
    g.releaseAll();
    assert.deepEqual(await Promise.all(reqs), [[10], [20, 30]]);
    assert.ok(waited >= 39, `dispatched after ${waited.toFixed(1)} ms`);
    assert.equal(infos.length, 1);
    assert.equal(infos[0].rows, 3);
    assert.equal(infos[0].requests, 2);
    assert.equal(infos[0].queueWaitMs.length, 2);
    assert.ok(infos[0].queueWaitMs.every((w) => w >= 39));
    assert.equal(infos[0].ok, true);
    assert.equal(infos[0].unobserved, false);
  });

  test('a run of unobserved requests (the core\'s warm-up) says so in its BatchInfo; one with a client\'s request does not', async () => {
    const g = gated();
    const infos: BatchInfo[] = [];
    const b = new RowBatcher(options({ maxBatchSize: 100, maxQueueDelayMs: 0, concurrency: 1, runBatch: g.runBatch, onBatch: (i) => infos.push(i) }));
    const warm = b.submit([1], { unobserved: true });
    await turn();
    g.releaseAll();
    await warm;
    const mixed = [b.submit([2], { unobserved: true }), b.submit([3])];
    await turn();
    g.releaseAll();
    await Promise.all(mixed);
    assert.deepEqual(infos.map((i) => [i.requests, i.unobserved]), [[1, true], [2, false]]);
  });

  test("the warm-up run (unobserved) does not wait out maxQueueDelayMs: no client's request will join it", async () => {
    const g = gated();
    const b = new RowBatcher(options({ maxBatchSize: 100, maxQueueDelayMs: 10_000, concurrency: 1, runBatch: g.runBatch }));
    const warm = b.submit([1], { unobserved: true });
    await turn();
    assert.equal(g.calls.length, 1, 'the warm-up row runs at once');
    g.releaseAll();
    assert.deepEqual(await warm, [10]);
    const client = b.submit([2]);
    await turn();
    assert.equal(g.calls.length, 1, "a client's lone row still waits for others to batch with");
    const drained = b.drain(); // runs it without waiting out the delay
    await turn();
    g.releaseAll();
    await Promise.all([client, drained]);
  });

  test('a full queue rejects at once with MS_ERR_OVERLOADED and Retry-After, and settles nothing (not in the statistics, as in Triton)', async () => {
    const g = gated();
    const settled: boolean[] = [];
    const b = new RowBatcher(options({ maxBatchSize: 4, maxQueueDelayMs: 0, maxQueueRows: 10, concurrency: 1, runBatch: g.runBatch, onSettled: (ok) => settled.push(ok) }));
    const running = b.submit([0, 0, 0, 0]);
    await turn();
    const waiting = [b.submit([1, 2, 3, 4, 5, 6]), b.submit([7, 8, 9, 10])];
    assert.equal(b.stats().queuedRows, 10);
    const err = await rejectsWith(b.submit([11]), 'MS_ERR_OVERLOADED', /10 rows are waiting \(limit 10\)/);
    assert.equal(err.status, 503);
    assert.deepEqual(err.headers, { 'retry-after': '1' });
    assert.equal(b.stats().queuedRows, 10, 'the rejected rows were not queued');
    assert.equal(b.shed()?.code, 'MS_ERR_OVERLOADED', 'shed() refuses as submit() does');
    assert.deepEqual(settled, [], 'neither refusal is settled');
    g.releaseAll();
    await running;
    for (let i = 0; i < 3; i++) {
      await turn();
      g.releaseAll();
    }
    assert.deepEqual(await Promise.all(waiting), [[10, 20, 30, 40, 50, 60], [70, 80, 90, 100]]);
    // Room again once the queue has drained.
    const again = b.submit([12]);
    await turn();
    g.releaseAll();
    assert.deepEqual(await again, [120]);
    assert.deepEqual(settled, [true, true, true, true], 'the queued requests are');
  });

  test('a request still queued past its deadline is removed and rejected with MS_ERR_TIMEOUT', async () => {
    const g = gated();
    const b = new RowBatcher(options({ maxBatchSize: 8, maxQueueDelayMs: 0, concurrency: 1, timeoutMs: 0, runBatch: g.runBatch }));
    const running = b.submit([1]);
    await turn();
    const late = b.submit([2, 3], { deadline: performance.now() + 30 });
    const kept = b.submit([4]);
    const err = await rejectsWith(late, 'MS_ERR_TIMEOUT', /in the queue/);
    assert.equal(err.status, 504);
    assert.deepEqual(b.stats(), { queuedRows: 1, queuedRequests: 1, inFlightBatches: 1 });
    g.releaseAll();
    await running;
    await turn();
    g.releaseAll();
    assert.deepEqual(await kept, [40]);
    assert.deepEqual(g.calls.map((c) => c.rows), [[1], [4]], 'the timed-out rows never ran');
    await rejectsWith(b.submit([5], { deadline: performance.now() - 1 }), 'MS_ERR_TIMEOUT');
  });

  test('a queued request with less time left than a batch takes is expired at dispatch, not run for nothing', async () => {
    const calls: number[][] = [];
    const runBatch = async (rows: number[]): Promise<number[]> => {
      calls.push(rows);
      await sleep(60);
      return rows.map((r) => r * 10);
    };
    const b = new RowBatcher(options({ maxBatchSize: 1, maxQueueDelayMs: 0, concurrency: 1, timeoutMs: 0, runBatch }));
    assert.deepEqual(await b.submit([1]), [10]); // learns that a batch takes ~60 ms
    const first = b.submit([2]);
    // Queued behind `first`; when its turn comes (~60 ms) it has ~30 ms left, less than a batch takes.
    const doomed = b.submit([3], { deadline: performance.now() + 90 });
    await rejectsWith(doomed, 'MS_ERR_TIMEOUT');
    assert.deepEqual(await first, [20]);
    await b.drain();
    assert.deepEqual(calls, [[1], [2]], 'the doomed request never ran');
  });

  test("the deadline sweep is a live timer while requests wait and holds no process open once the batcher is idle", async (t) => {
    const intervals = t.mock.method(globalThis, 'setInterval');
    const g = gated();
    const b = new RowBatcher(options({ maxQueueDelayMs: 0, timeoutMs: 50, runBatch: g.runBatch }));
    const answer = b.submit([1]);
    await turn();
    const sweep = intervals.mock.calls[0]!.result as NodeJS.Timeout;
    assert.equal(sweep.hasRef(), true, 'a request waits for its deadline: the sweep keeps the process');
    g.releaseAll();
    assert.deepEqual(await answer, [10]);
    await turn();
    // Unref'd (or, if its next tick came already, also stopped): either way it keeps nothing open.
    assert.equal(sweep.hasRef(), false);
  });

  test('requests that each find the batcher idle share one sweep timer, which stops itself at its first tick after they are answered', async (t) => {
    // A new interval per request (one connection's requests each find the batcher idle) cost a
    // timer object per request. The interval is faked (it ticks only when told), so no request
    // here depends on how fast the machine is.
    t.mock.timers.enable({ apis: ['setInterval'] });
    // This batcher's own sweep timer, read from it: a spy on the global setInterval/clearInterval
    // would also count other code's timers (an earlier test's batcher finishing meanwhile).
    const sweepOf = (batcher: object) => (batcher as unknown as { inner: { sweepTimer?: NodeJS.Timeout } }).inner.sweepTimer;
    const cleared = t.mock.method(globalThis, 'clearInterval');
    const g = gated();
    const b = new RowBatcher(options({ maxQueueDelayMs: 0, timeoutMs: 50, runBatch: g.runBatch }));
    const sweeps = new Set<NodeJS.Timeout | undefined>();
    for (const row of [1, 2, 3, 4, 5]) {
      const answer = b.submit([row]);
      await turn();
      sweeps.add(sweepOf(b));
      g.releaseAll();
      assert.deepEqual(await answer, [row * 10]);
      await turn();
      assert.deepEqual(b.stats(), { queuedRows: 0, queuedRequests: 0, inFlightBatches: 0 }, 'idle between requests');
    }
    const [sweep] = sweeps;
    assert.ok(sweeps.size === 1 && sweep !== undefined, 'one sweep timer for five requests');
    const clearedSweep = () => cleared.mock.calls.filter((call) => call.arguments[0] === sweep).length;
    assert.equal(clearedSweep(), 0);
    t.mock.timers.tick(5); // the sweep's period: timeoutMs / 10, at least 5 ms
    assert.equal(clearedSweep(), 1, 'the idle sweep stopped itself');
    assert.equal(sweepOf(b), undefined);
    const after = b.submit([6]);
    await turn();
    assert.ok(sweepOf(b) !== undefined && sweepOf(b) !== sweep, 'the next request starts a new one');
    g.releaseAll();
    assert.deepEqual(await after, [60]);
  });

  test('a run slower than queue.timeout_ms does not make the batcher refuse every later request at dispatch', async () => {
    // One slow run (big batches, a machine stalled a moment) put the estimate of a run past
    // timeoutMs; every request after it had less time than that and was expired before it ran, so no
    // run ever updated the estimate: the model refused everything, for good.
    let slow = true;
    const runBatch = async (rows: number[]): Promise<number[]> => {
      if (slow) await sleep(1_200);
      return rows.map((r) => r * 10);
    };
    const b = new RowBatcher(options({ maxBatchSize: 1, maxQueueDelayMs: 0, concurrency: 1, timeoutMs: 1_000, runBatch }));
    await rejectsWith(b.submit([1]), 'MS_ERR_TIMEOUT', /while its batch was running/);
    await b.drain(); // the slow run ends: the estimate is now ~1.2 s, past timeoutMs
    slow = false;
    assert.deepEqual(await b.submit([2]), [20], 'a request whose whole budget is under the estimate still runs');
    assert.deepEqual(await b.submit([3]), [30]);
  });

  test('an estimate inflated by one slow run does not expire, for good, every request that waits out maxQueueDelayMs', async (t) => {
    // One slow run left the estimate a little under timeoutMs: every request that waited out the
    // batching delay then had less time left than it and was expired at dispatch, and with no run
    // nothing lowered it: under light traffic the model refused everything, for good. The run's
    // length is faked (the clock jumps while it runs): no real-time threshold.
    const realNow = performance.now.bind(performance);
    let offset = 0;
    t.mock.method(performance, 'now', () => realNow() + offset);
    let slow = true;
    const runBatch = async (rows: number[]): Promise<number[]> => {
      if (slow) offset += 9_990;
      return rows.map((r) => r * 10);
    };
    const b = new RowBatcher(options({ maxBatchSize: 8, maxQueueDelayMs: 20, concurrency: 1, timeoutMs: 10_000, runBatch }));
    await b.submit([1]).catch(() => undefined); // the estimate is now 9,990 ms
    slow = false;
    for (const row of [2, 3, 4]) assert.deepEqual(await b.submit([row]), [row * 10], 'a request that waited only the batching delay runs');
    await b.drain();
  });

  test('a request whose batch is still running at its deadline rejects with MS_ERR_TIMEOUT', async () => {
    const g = gated();
    const b = new RowBatcher(options({ maxQueueDelayMs: 0, concurrency: 1, timeoutMs: 30, runBatch: g.runBatch }));
    const slow = b.submit([1]);
    await rejectsWith(slow, 'MS_ERR_TIMEOUT', /while its batch was running/);
    assert.equal(b.stats().inFlightBatches, 1, 'the run itself cannot be cancelled; its slot stays busy');
    let drained = false;
    const d = b.drain().then(() => (drained = true));
    await turn();
    assert.equal(drained, false);
    g.releaseAll(); // the late result is dropped (no double settlement)
    await d;
    assert.deepEqual(b.stats(), { queuedRows: 0, queuedRequests: 0, inFlightBatches: 0 });
  });

  test('a request past its deadline, or whose client left, while its batch ran is settled as failed and not answered by the run', async () => {
    const g = gated();
    const infos: BatchInfo[] = [];
    const settled: boolean[] = [];
    const b = new RowBatcher(options({ maxQueueDelayMs: 0, concurrency: 1, runBatch: g.runBatch, onBatch: (i) => infos.push(i), onSettled: (ok) => settled.push(ok) }));
    const client = { destroyed: false };
    const late = b.submit([1], { deadline: performance.now() + 30 });
    const gone = b.submit([2], { client });
    const stays = b.submit([3]);
    await turn();
    assert.equal(g.calls.length, 1, 'one run of the three');
    await rejectsWith(late, 'MS_ERR_TIMEOUT', /while its batch was running/);
    client.destroyed = true; // the client closes its connection while the run goes on
    g.releaseAll();
    assert.deepEqual(await gone, [20], 'the answer is handed over (the front door finds no one to write it to)');
    assert.deepEqual(await stays, [30]);
    assert.deepEqual(infos.map((i) => i.answered), [[false, false, true]]);
    assert.deepEqual(settled, [false, false, true], 'a request answered to no one is no success');
  });

  test('a failing request in a batch only fails itself (the others are re-run alone)', async () => {
    const infos: BatchInfo[] = [];
    const b = new RowBatcher(options<number, number>({
      maxBatchSize: 16,
      maxQueueDelayMs: 5,
      onBatch: (i) => infos.push(i),
      runBatch: async (rows) => {
        if (rows.includes(-1)) throw new Error('negative input');
        if (rows.includes(-2)) throw new ModelServeError('MS_ERR_VALIDATION', 'custom');
        return rows.map((r) => r * 10);
      },
    }));
    const reqs = [b.submit([1, 2]), b.submit([3, -1]), b.submit([4]), b.submit([-2]), b.submit([5])];
    const settled = await Promise.allSettled(reqs);
    assert.deepEqual(settled.map((s) => s.status), ['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
    assert.deepEqual((settled[0] as PromiseFulfilledResult<number[]>).value, [10, 20]);
    assert.deepEqual((settled[2] as PromiseFulfilledResult<number[]>).value, [40]);
    assert.deepEqual((settled[4] as PromiseFulfilledResult<number[]>).value, [50]);
    const e1 = (settled[1] as PromiseRejectedResult).reason;
    assert.ok(e1 instanceof ModelServeError);
    assert.equal(e1.code, 'MS_ERR_INFERENCE');
    assert.match(e1.message, /negative input/);
    assert.equal((settled[3] as PromiseRejectedResult).reason.code, 'MS_ERR_VALIDATION', 'a ModelServeError passes through unchanged');
    assert.deepEqual(infos.map((i) => [i.requests, i.ok]), [[5, false], [1, true], [1, false], [1, true], [1, false], [1, true]]);
  });

  test("a stuck run (the run watchdog's RunStuckError) fails all its requests at once: none is re-run alone on another worker", async () => {
    const runs: number[][] = [];
    const b = new RowBatcher(options<number, number>({
      maxBatchSize: 16,
      maxQueueDelayMs: 5,
      runBatch: async (rows) => {
        runs.push([...rows]);
        // The row 7 is the input that hangs: every run holding it gets stuck.
        if (rows.includes(7)) throw new RunStuckError('inference failed: the run of model \'m\' took longer than 10000 ms (the run timeout)');
        return rows.map((r) => r * 10);
      },
    }));
    const settled = await Promise.allSettled([b.submit([1]), b.submit([7]), b.submit([2, 3])]);
    assert.deepEqual(runs, [[1, 7, 2, 3]], 'one run only: the stuck input is not sent again');
    for (const s of settled) {
      assert.equal(s.status, 'rejected');
      assert.ok(s.reason instanceof RunStuckError);
      assert.equal(s.reason.code, 'MS_ERR_INFERENCE');
      assert.match(s.reason.message, /took longer than 10000 ms \(the run timeout\)/);
    }
  });

  test('a runBatch that returns the wrong number of results fails with MS_ERR_INTERNAL', async () => {
    const b = new RowBatcher(options<number, number>({ runBatch: async (rows) => rows.slice(1) }));
    await rejectsWith(b.submit([1, 2]), 'MS_ERR_INTERNAL', /1 results for 2 rows/);
  });

  test('drain waits for in-flight work and flushes waiting rows without the delay', async () => {
    const g = gated();
    const b = new RowBatcher(options({ maxBatchSize: 100, maxQueueDelayMs: 60_000, concurrency: 1, runBatch: g.runBatch }));
    const req = b.submit([1, 2]);
    await turn();
    assert.equal(g.calls.length, 0, 'waiting for more rows');
    let drained = false;
    const d = b.drain().then(() => (drained = true));
    await turn();
    assert.deepEqual(g.calls.map((c) => c.rows), [[1, 2]], 'drain dispatched the partial batch at once');
    await sleep(5);
    assert.equal(drained, false, 'drain still waits for the in-flight batch');
    g.releaseAll();
    await d;
    assert.deepEqual(await req, [10, 20]);
    await b.drain(); // idle: resolves at once
  });

  test('disabled batching runs each request alone, bounded by concurrency', async () => {
    const g = gated();
    const b = new RowBatcher(options({ enabled: false, maxBatchSize: 100, maxQueueDelayMs: 1000, concurrency: 2, runBatch: g.runBatch }));
    const reqs = [b.submit([1]), b.submit([2, 3]), b.submit([4]), b.submit([5])];
    await turn();
    assert.deepEqual(g.calls.map((c) => c.rows), [[1], [2, 3]]);
    assert.equal(b.stats().inFlightBatches, 2);
    for (let i = 0; i < 3; i++) {
      g.releaseAll();
      await turn();
      await turn();
    }
    assert.deepEqual(await Promise.all(reqs), [[10], [20, 30], [40], [50]]);
    assert.deepEqual(g.calls.map((c) => c.rows), [[1], [2, 3], [4], [5]]);
  });

  test('options are validated', () => {
    const runBatch = immediate([]);
    assert.throws(() => new RowBatcher(options({ maxBatchSize: 0, runBatch })), RangeError);
    assert.throws(() => new RowBatcher(options({ concurrency: 1.5, runBatch })), RangeError);
    assert.throws(() => new RowBatcher(options({ maxQueueDelayMs: -1, runBatch })), RangeError);
  });
});

/** runBatch over a real runtime: rows of 7 features -> label (as a number). */
function svcRunBatch(rt: InferenceRuntime): (rows: number[][]) => Promise<number[]> {
  return async (rows) => {
    const data = new Float32Array(rows.reduce((n, r) => n + r.length, 0));
    let k = 0;
    for (const r of rows) for (const v of r) data[k++] = v;
    const out = await rt.run('svc', { float_input: { type: 'float32', dims: [rows.length, 7], data } });
    return Array.from(out.label.data as BigInt64Array, Number);
  };
}

describe('Batcher over real svc.onnx runs', () => {
  const rows = svcRows(400, 5000);
  let pool: WorkerPoolRuntime;
  let reference: number[];
  before(async () => {
    pool = new WorkerPoolRuntime({ workers: 2, intraOpThreads: 1, interOpThreads: 1 });
    await pool.load([svcSource('svc')]);
    const inProc = new InProcessRuntime();
    await inProc.load([svcSource('svc')]);
    reference = await svcRunBatch(inProc)(rows);
    await inProc.close();
  });
  after(async () => {
    await pool.close();
  });

  test('200 concurrent requests through the worker pool get exactly their own labels', async () => {
    const infos: BatchInfo[] = [];
    const b = new RowBatcher(options({ maxBatchSize: 64, maxQueueDelayMs: 2, concurrency: pool.parallelism, runBatch: svcRunBatch(pool), onBatch: (i) => infos.push(i) }));
    const reqs = [];
    for (let i = 0; i < 200; i++) {
      const start = (i * 13) % 390;
      const n = 1 + (i % 4);
      reqs.push(b.submit(rows.slice(start, start + n)).then((labels) => ({ labels, start, n })));
    }
    for (const { labels, start, n } of await Promise.all(reqs)) assert.deepEqual(labels, reference.slice(start, start + n));
    assert.equal(infos.reduce((s, i) => s + i.requests, 0), 200);
    assert.ok(infos.every((i) => i.rows <= 64 && i.ok));
    assert.ok(infos.length < 200, `requests were batched: ${infos.length} runs for 200 requests`);
    assert.ok(reference.includes(0) && reference.includes(1));
    await b.drain();
  });

  test('a malformed request among good ones fails alone with the onnxruntime error', async () => {
    const b = new RowBatcher(options({ maxBatchSize: 64, maxQueueDelayMs: 5, concurrency: 1, runBatch: svcRunBatch(pool) }));
    const good = [0, 1, 2, 3].map((i) => b.submit(rows.slice(i * 10, i * 10 + 3)));
    const bad = b.submit([rows[0].slice(0, 6)]); // 6 features instead of 7
    const settled = await Promise.allSettled([...good, bad]);
    for (let i = 0; i < 4; i++) {
      assert.equal(settled[i].status, 'fulfilled');
      assert.deepEqual((settled[i] as PromiseFulfilledResult<number[]>).value, reference.slice(i * 10, i * 10 + 3));
    }
    assert.equal(settled[4].status, 'rejected');
    const err = (settled[4] as PromiseRejectedResult).reason;
    assert.ok(err instanceof ModelServeError);
    assert.equal(err.code, 'MS_ERR_INFERENCE');
  });

  test('a worker crash under a batch: the requests are re-run alone on the replacement and succeed', async () => {
    const solo = new WorkerPoolRuntime({ workers: 1, intraOpThreads: 1, interOpThreads: 1 });
    try {
      await solo.load([svcSource('svc')]);
      const infos: BatchInfo[] = [];
      const b = new RowBatcher(options({ maxBatchSize: 64, maxQueueDelayMs: 0, concurrency: 1, runBatch: svcRunBatch(solo), onBatch: (i) => infos.push(i) }));
      // The worker dies as soon as the batch's run reaches it.
      solo.crashWorkerForTesting(0, 'exit', 'next-run');
      const reqs = [0, 1, 2].map((i) => b.submit(rows.slice(i * 5, i * 5 + 5)));
      const results = await Promise.all(reqs);
      for (let i = 0; i < 3; i++) assert.deepEqual(results[i], reference.slice(i * 5, i * 5 + 5));
      assert.deepEqual(infos.map((i) => [i.requests, i.ok]), [[3, false], [1, true], [1, true], [1, true]]);
    } finally {
      await solo.close();
    }
  });
});
