// The pool's run watchdog, on a real model whose run takes seconds for one input value and
// milliseconds for another: an ONNX Loop whose trip count is the input. A run stuck past its bound
// fails with a clear error, its worker is quarantined (no more runs go to it) and replaced, and the
// stuck thread ends by itself once its native run returns. The watchdog's timers are node:test's
// mock timers, so nothing here depends on how fast this machine is: only the long run's length is
// sized to it (about 15 s of work), so that its thread ends within the test.
import { after, before, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { ModelServeError, RunLostError, RunStuckError, WorkerLostError } from '../../src/errors.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { HybridRuntime } from '../../src/runtime/hybrid.js';
import { startServer } from '../../src/server.js';
import type { ModelSource, NamedTensors } from '../../src/runtime/types.js';
import { WorkerPoolRuntime, type WorkerQuarantineEvent } from '../../src/workers/pool.js';
import { newRetiredFlags, packTensors, type FromWorker, type ToWorker, type WorkerInit } from '../../src/workers/protocol.js';
import { writeLoopModel } from '../helpers/onnx.js';
import { grpcClients, rpc, watchHealth } from '../helpers/oip.js';
import { sample } from '../helpers/prom.js';

const trips = (n: number): NamedTensors => ({ n: { type: 'int64', dims: [1], data: BigInt64Array.from([BigInt(n)]) } });

/** Loop rounds of about `ms` of work on this machine, from the fastest of three timed runs (a busy machine only makes it longer). */
async function roundsFor(pool: WorkerPoolRuntime, ms: number, model = 'loop'): Promise<number> {
  const probe = 4000;
  let perRound = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    await pool.run(model, trips(probe));
    perRound = Math.min(perRound, (performance.now() - t0) / probe);
  }
  return Math.round(ms / Math.max(1e-4, perRound));
}


/**
 * Until `worker` has handed `n` more runs to onnxruntime than `before` says (real time passes; only the pool's
 * setTimeout is mocked): a run the watchdog fires on before it started would be skipped, its thread not stuck.
 */
async function runsStarted(pool: WorkerPoolRuntime, before: number[], worker: number, n: number): Promise<void> {
  while (pool.runsStartedForTesting()[worker]! < before[worker]! + n) await new Promise((resolve) => setImmediate(resolve));
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
      const before = pool.runsStartedForTesting();
      const hung = pool.run('loop', trips(slow));
      const hungOutcome = hung.then(() => 'answered', (err: unknown) => err);
      const stuckWorker = pool.inFlightPerWorker.indexOf(1);
      await runsStarted(pool, before, stuckWorker, 1);
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
  test('a run that starts while a later load is pending is timed; the run queued behind the stuck one only lost its worker (RunLostError)', async () => {
    const quarantines: WorkerQuarantineEvent[] = [];
    mock.timers.enable({ apis: ['setTimeout'] });
    const pool = new WorkerPoolRuntime({ workers: 1, runsPerWorker: 2, intraOpThreads: 1, interOpThreads: 1, runTimeoutMs: 1000, onWorkerQuarantined: (e) => quarantines.push(e) });
    try {
      await pool.load([source]);
      const slow = await roundsFor(pool, 8000);
      // In this order on the one worker: a short run, the long run, a load, a run after the load.
      const before = pool.runsStartedForTesting();
      const short = pool.run('loop', trips(10));
      const long = pool.run('loop', trips(slow)).then(() => 'answered', (err: unknown) => err);
      const load = pool.load([{ ...source, name: 'loop2', label: "'loop2' version 1" }]).then(() => 'loaded', (err: unknown) => err);
      const behind = pool.run('loop', trips(10)).then(() => 'answered', (err: unknown) => err);
      await short;
      await runsStarted(pool, before, 0, 2);
      // The long run now holds the worker, the load waiting behind it: the watchdog times it all the same.
      mock.timers.tick(5000);
      const stuck = await long;
      assert.ok(stuck instanceof RunStuckError, `the long run was ${String(stuck)}`);
      assert.equal(stuck.code, 'MS_ERR_INFERENCE');
      assert.match(stuck.message, /^inference failed: the run of model 'loop' version 1 took longer than 5000 ms \(the run timeout\), so worker 0 was taken out of service/);
      const lost = await behind;
      assert.ok(lost instanceof RunLostError && !(lost instanceof RunStuckError), `the run behind it was ${String(lost)}`);
      assert.match(lost.message, /^inference failed: this request waited behind a run of model 'loop' version 1 that took longer than 5000 ms \(the run timeout\) on worker 0, which was taken out of service; it did not run \(send it again\)$/);
      const loadErr = await load;
      assert.ok(loadErr instanceof WorkerLostError, `the load was ${String(loadErr)}`);
      assert.match(loadErr.message, /^worker 0 was stuck in a run of model 'loop' version 1 for over 5000 ms/);
      assert.deepEqual(quarantines, [{ worker: 0, model: "'loop' version 1", runTimeoutMs: 5000, failedRuns: 2, quarantined: 1, replaced: true }]);
      mock.timers.reset();
      await pool.whenAllReady();
      assert.equal((await pool.run('loop', trips(10))).y1.data[0], 128 * 128);
      await pool.close();
      await pool.whenQuarantinedExited();
    } finally {
      mock.timers.reset();
      await pool.close();
    }
  });

  test('past maxQuarantined the stuck worker waits for a quarantined thread to end; meanwhile runs and loads say why no worker runs', async () => {
    const quarantines: WorkerQuarantineEvent[] = [];
    mock.timers.enable({ apis: ['setTimeout'] });
    // maxQuarantined 0: the first stuck worker is already past it.
    const pool = new WorkerPoolRuntime({ workers: 1, intraOpThreads: 1, interOpThreads: 1, runTimeoutMs: 1000, maxQuarantined: 0, onWorkerQuarantined: (e) => quarantines.push(e) });
    try {
      await pool.load([source]);
      const slow = await roundsFor(pool, 6000);
      const before = pool.runsStartedForTesting();
      const long = pool.run('loop', trips(slow)).then(() => 'answered', (err: unknown) => err);
      await runsStarted(pool, before, 0, 1);
      mock.timers.tick(5000);
      const stuck = await long;
      assert.ok(stuck instanceof RunStuckError);
      // Not "is being replaced": no replacement starts until a stuck thread ends.
      assert.match(stuck.message, /^inference failed: the run of model 'loop' version 1 took longer than 5000 ms \(the run timeout\), so worker 0 was taken out of service and is replaced once a thread stuck in a run ends \(stuck threads alive: 1\)$/);
      assert.deepEqual(quarantines, [{ worker: 0, model: "'loop' version 1", runTimeoutMs: 5000, failedRuns: 1, quarantined: 1, replaced: false }]);
      assert.equal(pool.aliveWorkers, 0);
      const why = "worker 0 was taken out of service: a run of model 'loop' version 1 took longer than 5000 ms \\(the run timeout\\)";
      await assert.rejects(pool.run('loop', trips(10)), (err: unknown) => {
        assert.ok(err instanceof RunLostError);
        assert.match(err.message, new RegExp(`^inference failed: no worker is running \\(all are restarting\\): ${why}$`));
        return true;
      });
      await assert.rejects(pool.load([source]), (err: unknown) => {
        assert.ok(err instanceof WorkerLostError);
        assert.match(err.message, new RegExp(`^no inference worker thread is running: ${why}$`));
        return true;
      });
      mock.timers.reset();
      // Once the stuck thread ends, the worker is replaced and serves again.
      await pool.whenQuarantinedExited();
      await pool.whenAllReady();
      assert.equal(pool.aliveWorkers, 1);
      assert.equal((await pool.run('loop', trips(10))).y1.data[0], 128 * 128);
    } finally {
      mock.timers.reset();
      await pool.close();
    }
  });

  test('a quarantined thread runs none of the runs queued to it, even one dispatched before the stuck run began', async () => {
    const sizing = new WorkerPoolRuntime({ workers: 1, intraOpThreads: 1, interOpThreads: 1 });
    let slow: number;
    try {
      await sizing.load([source]);
      slow = await roundsFor(sizing, 4000);
    } finally {
      await sizing.close();
    }
    // The worker itself, as the pool drives it: the retired flag is what quarantine() sets.
    const retired = newRetiredFlags();
    const init: WorkerInit = { intraOpThreads: 1, interOpThreads: 1, warmUp: false, measureCost: false, retired };
    const worker = new Worker(new URL('../../src/workers/worker.js', import.meta.url), { workerData: init });
    const answered: number[] = [];
    let onAnswer = (_id: number): void => undefined;
    worker.on('message', (msg: FromWorker) => {
      if (msg.type === 'loaded' || msg.type === 'result' || msg.type === 'run-error') {
        answered.push(msg.id);
        onAnswer(msg.id);
      }
    });
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    const answerOf = (id: number): Promise<void> => new Promise((resolve) => {
      onAnswer = (got) => {
        if (got === id) resolve();
      };
    });
    const send = (message: ToWorker, transfer: ArrayBuffer[] = []): void => worker.postMessage(message, transfer);
    const run = (id: number, n: number): void => {
      const feeds = packTensors(trips(n));
      send({ type: 'run', id, model: 'loop', feeds }, [feeds.buffer]);
    };
    const loaded = answerOf(1);
    send({ type: 'load', id: 1, models: [{ name: 'loop', path: source.path, bytes: source.bytes }] });
    await loaded;
    // Sent together: the worker takes all three in before it runs the first.
    const first = answerOf(2);
    run(2, 10);
    run(3, slow);
    run(4, 10);
    await first;
    // Run 3 is under way (or about to be): quarantined now, the thread must not run 4 after it.
    Atomics.store(retired, 0, 1);
    send({ type: 'close' });
    assert.equal(await exited, 0);
    assert.ok(!answered.includes(4), `answered: ${answered.join(', ')}`);
    assert.deepEqual(answered.slice(0, 2), [1, 2]);
  });

  test('while every worker is quarantined, every readiness probe says not ready and why; ready again once a replacement serves', async (t) => {
    // Only setTimeout is mocked, from before the pool starts (the watchdog's timers); HTTP and gRPC are real.
    mock.timers.enable({ apis: ['setTimeout'] });
    t.after(() => mock.timers.reset());
    // maxQuarantined 0: no replacement starts until a stuck thread ends. The server's default runtime, the hybrid one.
    const pool = new WorkerPoolRuntime({ workers: 2, intraOpThreads: 1, interOpThreads: 1, runTimeoutMs: 1000, maxQuarantined: 0 });
    const repo = join(dir, 'repo');
    mkdirSync(join(repo, 'loop'), { recursive: true });
    copyFileSync(source.path, join(repo, 'loop', 'loop.onnx'));
    const server = await startServer({ repo, port: 0, runtime: new HybridRuntime(pool, { inlineMaxMs: 1 }), grpcPort: 'free', logger: false });
    const clients = grpcClients(server.grpcPort!);
    t.after(async () => {
      clients.close();
      await server.shutdown();
      await pool.whenQuarantinedExited();
    });
    // The repository serves the model as 'loop'; the stuck runs go to the pool directly, under a name of their own.
    await pool.load([{ ...source, name: 'stuck' }]);
    assert.equal((await server.app.inject({ url: '/readyz' })).statusCode, 200);
    const rounds = await roundsFor(pool, 15000, 'stuck');
    const started = pool.runsStartedForTesting();
    const hung = [pool.run('stuck', trips(rounds)), pool.run('stuck', trips(rounds))].map((p) => p.then(() => 'answered', (err: unknown) => err));
    assert.deepEqual(pool.inFlightPerWorker, [1, 1]);
    // Both long runs must be in onnxruntime before the watchdog fires: one not started yet would be skipped, its thread not stuck.
    while (!pool.runsStartedForTesting().every((n, i) => n > started[i]!)) await new Promise((resolve) => setImmediate(resolve));
    mock.timers.tick(5000);
    for (const err of await Promise.all(hung)) assert.ok(err instanceof RunStuckError, `a stuck run was ${String(err)}`);
    assert.equal(pool.aliveWorkers, 0);
    mock.timers.reset();

    const reason = 'no inference worker can take a run: 2 of 2 workers are quarantined (stuck in a run past the run timeout) and replaced once a stuck thread ends (stuck threads alive: 2)';
    const readyz = await server.app.inject({ url: '/readyz' });
    assert.equal(readyz.statusCode, 503);
    assert.deepEqual(readyz.json(), { detail: reason, code: 'MS_ERR_NOT_READY', request_id: readyz.headers['x-request-id'] });
    const oip = await server.app.inject({ url: '/v2/health/ready' });
    assert.equal(oip.statusCode, 503);
    assert.deepEqual(oip.json(), { error: reason, code: 'MS_ERR_NOT_READY', request_id: oip.headers['x-request-id'], ready: false });
    const modelReady = await server.app.inject({ url: '/v2/models/loop/ready' });
    assert.equal(modelReady.statusCode, 400, modelReady.body);
    assert.equal(modelReady.json().error, `model 'loop' is not ready: ${reason}`);
    assert.equal(sample(await server.app.metrics!.render(), 'modelserve_ready', {}), 0);
    assert.deepEqual(await rpc(clients.inference, 'ServerReady', {}), { ready: false });
    assert.deepEqual(await rpc(clients.inference, 'ModelReady', { name: 'loop', version: '' }), { ready: false });
    assert.deepEqual(await rpc(clients.health, 'Check', { service: '' }), { status: 'NOT_SERVING' });
    // A health watcher is told when a worker is back (the pool's state is looked at while anyone watches).
    const { statuses: watched, cancel } = watchHealth(clients.health);
    t.after(cancel);

    // The stuck threads end by themselves; their slots get replacements, which reload the models and serve.
    await pool.whenQuarantinedExited();
    await pool.whenAllReady();
    const served = await server.app.inject({ method: 'POST', url: '/v2/models/loop/infer', payload: { inputs: [{ name: 'n', datatype: 'INT64', shape: [1], data: [10] }] } });
    assert.equal(served.statusCode, 200, served.body);
    assert.equal((await server.app.inject({ url: '/readyz' })).statusCode, 200);
    assert.deepEqual((await server.app.inject({ url: '/v2/health/ready' })).json(), { ready: true });
    assert.deepEqual((await server.app.inject({ url: '/v2/models/loop/ready' })).json(), { name: 'loop', ready: true });
    assert.equal(sample(await server.app.metrics!.render(), 'modelserve_ready', {}), 1);
    assert.deepEqual(await rpc(clients.inference, 'ServerReady', {}), { ready: true });
    assert.deepEqual(await rpc(clients.inference, 'ModelReady', { name: 'loop', version: '' }), { ready: true });
    assert.deepEqual(await rpc(clients.health, 'Check', { service: '' }), { status: 'SERVING' });
    for (let i = 0; i < 300 && watched.at(-1) !== 'SERVING'; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(watched, ['NOT_SERVING', 'SERVING']);
  });

  test('a crash replaced at once leaves readiness alone; a crash loop waiting out its back-off is not ready, saying why', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const exits: Array<() => void> = [];
    const exited = () => new Promise<void>((resolve) => exits.push(resolve));
    const pool = new WorkerPoolRuntime({ workers: 1, intraOpThreads: 1, interOpThreads: 1, onWorkerExit: () => exits.shift()?.() });
    try {
      await pool.load([source]);
      assert.equal(pool.unavailable(), undefined);
      let exit = exited();
      pool.crashWorkerForTesting(0, 'exit');
      await exit;
      // Replaced at once: runs wait behind the replacement's reload, so a probe sees no gap.
      assert.equal(pool.unavailable(), undefined);
      // The replacement dies before it has the models: the next one waits 100 ms (the back-off), with no worker meanwhile.
      exit = exited();
      pool.crashWorkerForTesting(0, 'exit');
      await exit;
      assert.equal(pool.unavailable(), 'no inference worker can take a run: 1 of 1 worker is restarting (worker 0 exited with code 1)');
      mock.timers.tick(100);
      assert.equal(pool.unavailable(), undefined);
      mock.timers.reset();
      await pool.whenAllReady();
      assert.equal((await pool.run('loop', trips(10))).y1.data[0], 128 * 128);
    } finally {
      mock.timers.reset();
      await pool.close();
    }
  });

  test('a pool serving no models forgets a crash once its replacement is up: the next crash is replaced at once, with no back-off', async () => {
    const exits: Array<() => void> = [];
    const exited = () => new Promise<void>((resolve) => exits.push(resolve));
    const pool = new WorkerPoolRuntime({ workers: 1, intraOpThreads: 1, interOpThreads: 1, onWorkerExit: () => exits.shift()?.() });
    try {
      // Served, then unloaded (as through the repository API): the pool serves nothing.
      await pool.load([source]);
      await pool.unload(['loop']);
      for (let crash = 1; crash <= 3; crash++) {
        // The replacement is up (it answered the reload of nothing) before the next, unrelated crash.
        await pool.whenAllReady();
        // Mocked from here: a back-off's timer would be pending, never fired by the clock.
        mock.timers.enable({ apis: ['setTimeout'] });
        const exit = exited();
        pool.crashWorkerForTesting(0, 'exit');
        await exit;
        assert.equal(pool.unavailable(), undefined, `crash ${crash}: the replacement waits out a back-off`);
        assert.equal(pool.aliveWorkers, 1, `crash ${crash}`);
        mock.timers.reset();
      }
      // It still serves what is loaded later.
      await pool.load([source]);
      assert.equal((await pool.run('loop', trips(10))).y1.data[0], 128 * 128);
    } finally {
      mock.timers.reset();
      await pool.close();
    }
  });
});
