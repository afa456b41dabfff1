// WorkerPoolRuntime beyond the shared contract: the main event loop keeps turning while the
// workers are saturated, dispatch goes to the least-loaded worker, a crashed worker fails only its own
// in-flight runs and is replaced, and zero-copy input transfer.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { ModelServeError, WorkerLostError } from '../../src/errors.js';
import { InProcessRuntime } from '../../src/runtime/in-process.js';
import type { InferenceRuntime, NamedTensors } from '../../src/runtime/types.js';
import { WorkerPoolRuntime, type WorkerExitEvent } from '../../src/workers/pool.js';
import { svcRows, svcSource, svcTensor, typesSource } from '../runtime/fixtures.js';

const rows64 = svcRows(64, 200);

/**
 * Event-loop turns of this thread (one setImmediate chain) while `count` svc runs of `batch` rows
 * are in flight, and their duration (for the diagnostic only). A run on this thread blocks the loop
 * from its start to its end, so only the turn that starts the runs gets through (onnxruntime defers
 * each run by one setImmediate, and runs queued together start in that same turn); a run on a
 * worker leaves the loop free, and it turns over and over until the answers come back. A count, not
 * a duration: a loaded machine slows the runs and the turns alike.
 */
async function loopTurnsDuring(rt: InferenceRuntime, count: number, batch: number): Promise<{ turns: number; totalMs: number }> {
  const rows = svcRows(batch, 300);
  const feeds = Array.from({ length: count }, () => ({ float_input: svcTensor(rows) }));
  let turns = 0;
  let done = false;
  const turn = (): void => {
    if (done) return;
    turns++;
    setImmediate(turn);
  };
  setImmediate(turn);
  const t0 = performance.now();
  await Promise.all(feeds.map((f) => rt.run('svc', f)));
  done = true;
  return { turns, totalMs: performance.now() - t0 };
}

/** Far more turns than the one a blocked loop allows; a free loop makes thousands per run. */
const MANY_TURNS = 100;

describe('WorkerPoolRuntime', () => {
  let pool: WorkerPoolRuntime;
  const exits: WorkerExitEvent[] = [];
  before(async () => {
    pool = new WorkerPoolRuntime({ workers: 2, intraOpThreads: 1, interOpThreads: 1, onWorkerExit: (e) => exits.push(e) });
    await pool.load([svcSource('svc'), typesSource('types')]);
  });
  after(async () => {
    await pool.close();
  });

  test('the main event loop keeps turning while 200 runs of batch 64 saturate the workers', async (t) => {
    const p = await loopTurnsDuring(pool, 200, 64);
    t.diagnostic(`pool: ${p.turns} event-loop turns in ${p.totalMs.toFixed(0)} ms`);
    assert.ok(p.turns >= MANY_TURNS, `the event loop turned ${p.turns} times while the runs were in flight`);
  });

  test('long runs do not block the main event loop (in-process as control)', async (t) => {
    // 4 runs of 4096 rows (each 100+ ms). In-process they block this thread from the turn they
    // start in until the last one ends; through the pool the loop keeps turning.
    const inProc = new InProcessRuntime({ intraOpThreads: 1, interOpThreads: 1 });
    await inProc.load([svcSource('svc')]);
    const control = await loopTurnsDuring(inProc, 4, 4096);
    await inProc.close();
    const p = await loopTurnsDuring(pool, 4, 4096);
    t.diagnostic(`in-process: ${control.turns} turns in ${control.totalMs.toFixed(0)} ms; pool: ${p.turns} turns in ${p.totalMs.toFixed(0)} ms`);
    assert.ok(control.turns <= 2, `control: in-process runs block the loop (the count can see blocking): it turned ${control.turns} times`);
    assert.ok(p.turns >= MANY_TURNS, `pool: the event loop turned ${p.turns} times while the runs were in flight`);
  });

  test('runs go to the least-loaded worker', async () => {
    const runs = [];
    for (let i = 0; i < 10; i++) runs.push(pool.run('svc', { float_input: svcTensor(rows64) }));
    assert.deepEqual(pool.inFlightPerWorker, [5, 5]);
    await Promise.all(runs);
    assert.deepEqual(pool.inFlightPerWorker, [0, 0]);
  });

  for (const how of ['exit', 'throw'] as const) {
    test(`a worker that dies mid-run (${how}) fails its in-flight runs with MS_ERR_INFERENCE and is replaced`, async () => {
      exits.length = 0;
      const expected = (await pool.run('svc', { float_input: svcTensor(rows64) })).label.data;
      // Armed before the runs are sent, the crash hits worker 0 as its first run arrives, whatever
      // the scheduling (a crash sent after them could arrive once they had all finished).
      pool.crashWorkerForTesting(0, how, 'next-run');
      const runs = [];
      for (let i = 0; i < 40; i++) runs.push(pool.run('svc', { float_input: svcTensor(rows64) }));
      const onWorker0 = pool.inFlightPerWorker[0];
      assert.ok(onWorker0 > 0);
      const settled = await Promise.allSettled(runs);
      const failed = settled.filter((s) => s.status === 'rejected');
      const ok = settled.filter((s) => s.status === 'fulfilled');
      assert.ok(failed.length >= 1, 'some runs of worker 0 failed');
      assert.ok(failed.length <= onWorker0, `${failed.length} failed, worker 0 had ${onWorker0}`);
      for (const f of failed) {
        const err = (f as PromiseRejectedResult).reason;
        assert.ok(err instanceof ModelServeError);
        assert.equal(err.code, 'MS_ERR_INFERENCE');
        assert.match(err.message, how === 'exit' ? /worker 0 exited with code 1/ : /worker 0 exited with code 1 \(simulated worker crash\)/);
      }
      for (const s of ok) assert.deepEqual((s as PromiseFulfilledResult<NamedTensors>).value.label.data, expected);
      await pool.whenAllReady();
      assert.equal(pool.aliveWorkers, 2);
      assert.equal(exits.length, 1);
      assert.equal(exits[0].worker, 0);
      assert.equal(exits[0].failedRuns, failed.length);
      if (how === 'throw') assert.equal(exits[0].error, 'simulated worker crash');
      // The replacement reloaded every model: both workers serve both models again.
      const after = await Promise.all(Array.from({ length: 8 }, (_, i) => pool.run(i % 2 ? 'svc' : 'types', i % 2
        ? { float_input: svcTensor(rows64) }
        : { s: { type: 'string', dims: [1], data: ['b'] }, f32: { type: 'float32', dims: [1, 2], data: new Float32Array(2) }, f64: { type: 'float64', dims: [1], data: new Float64Array(1) }, i32: { type: 'int32', dims: [1], data: new Int32Array(1) }, i64: { type: 'int64', dims: [1], data: new BigInt64Array(1) }, b: { type: 'bool', dims: [1], data: new Uint8Array(1) } })));
      for (let i = 0; i < 8; i++) {
        if (i % 2) assert.deepEqual(after[i].label.data, expected);
        else assert.deepEqual(after[i].s_code.data, new BigInt64Array([2n]));
      }
    });
  }

  test('feeds are packed, not detached: the caller keeps its arrays', async () => {
    const feed = svcTensor(rows64);
    const before = Array.from(feed.data as Float32Array);
    await pool.run('svc', { float_input: feed });
    assert.deepEqual(Array.from(feed.data as Float32Array), before);
  });

  test('workers must be a positive integer', () => {
    assert.throws(() => new WorkerPoolRuntime({ workers: 0, intraOpThreads: 1, interOpThreads: 1 }), RangeError);
  });
});

test('a worker script that cannot start makes load reject with MS_ERR_MODEL_LOAD (no hang)', async () => {
  const bad = new WorkerPoolRuntime({ workers: 1, intraOpThreads: 1, interOpThreads: 1, workerUrl: new URL('./no-such-worker.js', import.meta.url) });
  try {
    await assert.rejects(bad.load([svcSource('svc')]), (err: unknown) => err instanceof ModelServeError && err.code === 'MS_ERR_MODEL_LOAD' && /worker 0 exited/.test(err.message));
  } finally {
    await bad.close();
  }
});

// A replacement worker whose reload fails stands for a passing cause (memory short right after the
// crash). It is made real here by spoiling the pool's copy of the model bytes after the load — onnxruntime
// then refuses them in the replacement alone — and mending them to let the cause pass. No hook.
describe('a replacement worker that cannot reload the models', () => {
  async function exits(events: WorkerExitEvent[], n: number): Promise<void> {
    while (events.length < n) await new Promise((r) => setImmediate(r));
  }
  /** After the crash: resolves once the replacement is closed for its failed reload, or is ready (all the old pool waited for). */
  async function replacementSettled(pool: WorkerPoolRuntime, events: WorkerExitEvent[]): Promise<void> {
    await exits(events, 1);
    await Promise.race([pool.whenAllReady(), exits(events, 2)]);
  }

  test('takes no runs while a healthy worker serves them, and is replaced with back-off until it loads', async () => {
    const exits: WorkerExitEvent[] = [];
    const pool = new WorkerPoolRuntime({ workers: 2, intraOpThreads: 1, interOpThreads: 1, warmUp: false, onWorkerExit: (e) => exits.push(e) });
    try {
      const source = svcSource('svc');
      await pool.load([source]);
      const good = source.bytes.slice();
      const expected = (await pool.run('svc', { float_input: svcTensor(rows64) })).label.data;
      source.bytes.fill(7);
      pool.crashWorkerForTesting(0, 'exit', 'now');
      // The crash, then the replacement closed for its failed reload.
      await replacementSettled(pool, exits);
      const runs = Array.from({ length: 20 }, () => pool.run('svc', { float_input: svcTensor(rows64) }));
      assert.equal(pool.inFlightPerWorker[0], 0, 'no run is sent to a worker without the models');
      const settled = await Promise.allSettled(runs);
      for (const s of settled) {
        assert.equal(s.status, 'fulfilled', s.status === 'rejected' ? String(s.reason) : '');
        assert.deepEqual((s as PromiseFulfilledResult<NamedTensors>).value.label.data, expected);
      }
      assert.equal(exits[1].worker, 0);
      assert.equal(exits[1].exitCode, 0);
      assert.match(exits[1].error ?? '', /^worker 0 could not reload the models: .*svc/);
      // The cause passes: a later replacement loads, by itself, and takes its share again.
      source.bytes.set(good);
      await pool.whenAllReady();
      assert.equal(pool.aliveWorkers, 2);
      const again = Array.from({ length: 8 }, () => pool.run('svc', { float_input: svcTensor(rows64) }));
      assert.deepEqual(pool.inFlightPerWorker, [4, 4]);
      for (const r of await Promise.all(again)) assert.deepEqual(r.label.data, expected);
    } finally {
      await pool.close();
    }
  });

  test('alone in its pool: runs fail with MS_ERR_INFERENCE naming why, never "no model named", until a replacement loads', async () => {
    const exits: WorkerExitEvent[] = [];
    const pool = new WorkerPoolRuntime({ workers: 1, intraOpThreads: 1, interOpThreads: 1, warmUp: false, onWorkerExit: (e) => exits.push(e) });
    try {
      const source = svcSource('svc');
      await pool.load([source]);
      const good = source.bytes.slice();
      source.bytes.fill(7);
      pool.crashWorkerForTesting(0, 'exit', 'now');
      await replacementSettled(pool, exits);
      const settled = await Promise.allSettled(Array.from({ length: 4 }, () => pool.run('svc', { float_input: svcTensor(rows64) })));
      for (const s of settled) {
        assert.equal(s.status, 'rejected');
        const err = (s as PromiseRejectedResult).reason;
        assert.ok(err instanceof ModelServeError);
        assert.equal(err.code, 'MS_ERR_INFERENCE', err.message);
        assert.match(err.message, /worker 0 could not reload the models/);
      }
      source.bytes.set(good);
      await pool.whenAllReady();
      assert.equal((await pool.run('svc', { float_input: svcTensor(rows64) })).label.data.length, 64);
    } finally {
      await pool.close();
    }
  });
});

// A load that fails on one worker only (here: it dies as the load arrives) used to leave the model's session in the
// workers that did load it, for good: the core tries again under a new key, so every failed try leaked a model per worker.
test('a load that fails on one worker leaves no session of it in the others, and a later load under a new key serves', async () => {
  const exits: WorkerExitEvent[] = [];
  const pool = new WorkerPoolRuntime({ workers: 2, intraOpThreads: 1, interOpThreads: 1, warmUp: false, measureCost: true, onWorkerExit: (e) => exits.push(e) });
  try {
    await pool.load([svcSource('a')]);
    pool.crashWorkerForTesting(1, 'exit', 'next-load');
    await assert.rejects(pool.load([svcSource('b#1')]), (err: unknown) => err instanceof WorkerLostError && err.code === 'MS_ERR_MODEL_LOAD' && /worker 1 exited with code 1 .*while loading the models/.test(err.message));
    assert.equal(exits.length, 1);
    await pool.whenAllReady();
    // Worker 0 loaded 'b#1' and released it; worker 1's replacement reloaded only what the pool serves.
    assert.deepEqual(await pool.loadedModelsForTesting(), [['a'], ['a']]);
    assert.equal(pool.runCost('b#1'), undefined, 'the failed model keeps no cost estimate');
    await assert.rejects(pool.run('b#1', { float_input: svcTensor(svcRows(1)) }), /no model named 'b#1'/);
    await pool.load([svcSource('b#2')]);
    assert.deepEqual(await pool.loadedModelsForTesting(), [['a', 'b#2'], ['a', 'b#2']]);
    const runs = await Promise.all(Array.from({ length: 4 }, () => pool.run('b#2', { float_input: svcTensor(rows64) })));
    for (const r of runs) assert.equal(r.label.data.length, 64);
  } finally {
    await pool.close();
  }
});
