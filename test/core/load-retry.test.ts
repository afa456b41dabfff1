// A load lost with its inference worker (the worker died during the load or its warm-up run: a passing cause, the pool
// replaces it) is tried again after 1 s, 2 s and 4 s; before, the version stayed failed until its files changed or the
// repository API loaded it. A bad file, or a warm-up run that fails for the model's own reasons, is never tried again,
// and an unload or shutdown cancels a pending try. The repository API's answer (REST and gRPC) says when the next try is.
// The real worker pool (one worker, made to exit when its next load arrives) and onnxruntime on the book's model;
// node:test's mock timers stand in for the waits between tries (the pool's own respawn needs none: the first
// replacement of a worker starts at once).
import { afterEach, test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { InferenceCore, LOAD_RETRY_DELAYS_MS, type CoreEvent } from '../../src/core/core.js';
import { ModelServeError } from '../../src/errors.js';
import { startServer } from '../../src/server.js';
import { WorkerPoolRuntime } from '../../src/workers/pool.js';
import { call } from '../helpers/http.js';
import { grpcClients, rpc } from '../helpers/oip.js';
import { writeReshapeFailingModel } from '../helpers/onnx.js';
import { tempDir } from '../helpers/paths.js';
import { BOOK_ROW, labelsOf, writeBookVersion } from './fixtures.js';

afterEach(() => mock.timers.reset());

/** A core over a one-worker pool serving the book model 'a'; 'b' (on disk too) is loaded by the test through the repository API. */
async function withCore(body: (core: InferenceCore, pool: WorkerPoolRuntime, events: CoreEvent[]) => Promise<void>, maxLoadedModels?: number): Promise<void> {
  const repo = tempDir();
  writeBookVersion(repo, 'a', 1, 'optimize: false\n');
  const pool = new WorkerPoolRuntime({ workers: 1, intraOpThreads: 1, interOpThreads: 1 });
  const core = await InferenceCore.start({ repo, runtime: pool, maxLoadedModels });
  writeBookVersion(repo, 'b', 1, 'optimize: false\n');
  const events: CoreEvent[] = [];
  core.on('event', (e: CoreEvent) => events.push(e));
  try {
    await body(core, pool, events);
  } finally {
    mock.timers.reset();
    await core.close();
  }
}

/** Waits (without timers: they are mocked) until the pool's worker holds every model again. */
async function poolReady(pool: WorkerPoolRuntime): Promise<void> {
  while (!pool.hasIdleWorker) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Waits (without timers) for an event. */
async function until(events: CoreEvent[], found: (e: CoreEvent) => boolean): Promise<void> {
  while (!events.some(found)) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** The load through the repository API, refused because the worker dies during it. */
async function loadLosingTheWorker(core: InferenceCore, pool: WorkerPoolRuntime): Promise<ModelServeError> {
  await poolReady(pool);
  pool.crashWorkerForTesting(0, 'exit', 'next-load');
  try {
    await core.loadModel('b');
  } catch (err) {
    assert.ok(err instanceof ModelServeError, String(err));
    assert.equal(err.code, 'MS_ERR_MODEL_LOAD_FAILED');
    assert.match(err.message, /worker 0 exited with code 1 .*while loading the models/);
    return err;
  }
  assert.fail('the load should have failed: its worker died');
}

const retries = (events: CoreEvent[]) => events.filter((e) => e.type === 'version-load-retry').map((e) => e.type === 'version-load-retry' && [e.model, e.version, e.attempt, e.delayMs]);

test('a version whose load lost its worker is tried again after 1 s, and serves', async () => {
  await withCore(async (core, pool, events) => {
    mock.timers.enable({ apis: ['setTimeout'] });
    await loadLosingTheWorker(core, pool);
    const [status] = core.status('b');
    assert.equal(status!.state, 'failed');
    assert.match(status!.versions[0]!.reason ?? '', /while loading the models; tried again in 1 s \(try 1 of 3\)/, JSON.stringify(status));
    assert.deepEqual(retries(events), [['b', 1, 1, 1000]]);
    await poolReady(pool); // the replacement worker is up
    mock.timers.tick(999);
    assert.equal(core.status('b')[0]!.state, 'failed', 'not tried before its second');
    mock.timers.tick(1);
    assert.equal(core.status('b')[0]!.state, 'loading');
    await until(events, (e) => e.type === 'version-ready' && e.model === 'b');
    const served = await (await core.acquire('b')).predict([BOOK_ROW]);
    assert.ok([labelsOf(1).rain, labelsOf(1).dry].includes(String(served[0]!.prediction)), JSON.stringify(served));
    assert.deepEqual(core.status('b')[0]!.versions, [{ version: 1, state: 'ready' }]);
  });
});

test('a load that loses its worker on every try is tried 3 times (1 s, 2 s, 4 s), then stays failed', async () => {
  await withCore(async (core, pool, events) => {
    mock.timers.enable({ apis: ['setTimeout'] });
    await loadLosingTheWorker(core, pool);
    for (const [i, delay] of LOAD_RETRY_DELAYS_MS.entries()) {
      await poolReady(pool);
      pool.crashWorkerForTesting(0, 'exit', 'next-load');
      mock.timers.tick(delay);
      await until(events, (e) => e.type === 'version-failed' && events.filter((f) => f.type === 'version-failed').length === i + 2);
    }
    assert.deepEqual(retries(events), [['b', 1, 1, 1000], ['b', 1, 2, 2000], ['b', 1, 3, 4000]]);
    const [status] = core.status('b');
    assert.equal(status!.state, 'failed');
    assert.match(status!.versions[0]!.reason ?? '', /while loading the models$/, 'no further try is announced');
    mock.timers.tick(60_000);
    assert.equal(core.status('b')[0]!.state, 'failed', 'no fourth try');
    // The repository API's load still tries it, afresh.
    await poolReady(pool);
    await core.loadModel('b');
    assert.equal(core.status('b')[0]!.state, 'ready');
  });
});

test('a pending try is cancelled by the repository API\'s unload, and by shutdown', async () => {
  await withCore(async (core, pool, events) => {
    mock.timers.enable({ apis: ['setTimeout'] });
    await loadLosingTheWorker(core, pool);
    await core.unloadModel('b');
    mock.timers.tick(10_000);
    assert.deepEqual(core.status('b')[0]!.versions, [{ version: 1, state: 'unavailable', reason: 'unloaded by request' }]);
    // Loaded again, lost again: shutdown cancels that try.
    await loadLosingTheWorker(core, pool);
    assert.equal(retries(events).length, 2);
    await core.close();
    mock.timers.tick(10_000);
    assert.ok(!events.some((e) => e.type === 'version-ready' && e.model === 'b'));
  });
});

test('under --watch, a change of the files loads them at once, and cancels the pending try of the old ones', async () => {
  await withCore(async (core, pool, events) => {
    core.watch({ pollMs: 3_600_000, debounceMs: 3_600_000, settleMs: 0 }); // passes run when called below
    mock.timers.enable({ apis: ['setTimeout'] });
    await loadLosingTheWorker(core, pool);
    await poolReady(pool);
    appendFileSync(join(core.repo!, 'b', '1', 'model.yaml'), '# edited\n');
    await core.reconcile({});
    assert.deepEqual(core.status('b')[0]!.versions, [{ version: 1, state: 'ready' }]);
    mock.timers.tick(10_000);
    assert.equal(events.filter((e) => e.type === 'version-ready' && e.model === 'b').length, 1, 'loaded once, by the change');
    assert.deepEqual(retries(events), [['b', 1, 1, 1000]]);
  });
});

test('--max-loaded-models 1: a model whose load lost its worker is not loaded again by the try (it would evict another): it loads on its next request', async () => {
  await withCore(async (core, pool) => {
    mock.timers.enable({ apis: ['setTimeout'] });
    await loadLosingTheWorker(core, pool);
    await poolReady(pool);
    mock.timers.tick(1000);
    assert.deepEqual(core.status('b')[0]!.versions, [{ version: 1, state: 'unavailable', reason: 'not loaded (memory budget); loads on the next request' }]);
    assert.equal(core.status('a')[0]!.state, 'ready', 'not evicted by the try');
    await core.acquire('b');
    assert.equal(core.status('b')[0]!.state, 'ready');
  }, 1);
});

test('a load that fails for its file (not its worker) is not tried again', async () => {
  await withCore(async (core, _pool, events) => {
    mock.timers.enable({ apis: ['setTimeout'] });
    writeFileSync(join(core.repo!, 'b', '1', 'model.onnx'), 'not a model');
    await assert.rejects(core.loadModel('b'), /not a valid ONNX model/);
    mock.timers.tick(10_000);
    assert.deepEqual(retries(events), []);
    assert.equal(core.status('b')[0]!.state, 'failed');
  });
});

test('a version whose warm-up run lost its worker is tried again after 1 s, and serves', async () => {
  // The load itself went through; the worker died on the warm-up run right after it. It stayed failed for good.
  await withCore(async (core, pool, events) => {
    mock.timers.enable({ apis: ['setTimeout'] });
    await poolReady(pool);
    pool.crashWorkerForTesting(0, 'exit', 'next-run');
    await assert.rejects(core.loadModel('b'), (err: unknown) => {
      assert.ok(err instanceof ModelServeError, String(err));
      assert.equal(err.code, 'MS_ERR_MODEL_LOAD_FAILED');
      assert.match(err.message, /the load-time warm-up run on .* failed: inference failed: worker 0 exited with code 1 .*while running this request; tried again in 1 s \(try 1 of 3\)/);
      return true;
    });
    assert.deepEqual(retries(events), [['b', 1, 1, 1000]]);
    assert.match(core.status('b')[0]!.versions[0]!.reason ?? '', /warm-up run .*; tried again in 1 s \(try 1 of 3\)/);
    await poolReady(pool);
    mock.timers.tick(1000);
    await until(events, (e) => e.type === 'version-ready' && e.model === 'b');
    const served = await (await core.acquire('b')).predict([BOOK_ROW]);
    assert.ok([labelsOf(1).rain, labelsOf(1).dry].includes(String(served[0]!.prediction)), JSON.stringify(served));
  });
});

test('a warm-up run that fails for the model (a Reshape its example row cannot take) is not tried again', async () => {
  await withCore(async (core, _pool, events) => {
    mock.timers.enable({ apis: ['setTimeout'] });
    mkdirSync(join(core.repo!, 'c'));
    writeReshapeFailingModel(join(core.repo!, 'c'), 'model.onnx');
    writeFileSync(join(core.repo!, 'c', 'model.yaml'), 'model: model.onnx\nfields:\n  a: { type: number }\n  b: { type: number }\n  c: { type: number }\ninputs:\n  x: { fields: [a, b, c] }\noutputs:\n  value: { from: y }\n');
    await assert.rejects(core.loadModel('c'), (err: Error) => {
      assert.match(err.message, /the load-time warm-up run on .* failed: .*cannot be reshaped/);
      assert.doesNotMatch(err.message, /tried again/);
      return true;
    });
    mock.timers.tick(10_000);
    assert.deepEqual(retries(events), []);
    assert.equal(core.status('c')[0]!.state, 'failed');
  });
});

test('the repository API\'s load says when a load lost with its worker is tried again, in the same words on REST and gRPC (status codes as before: 400, INVALID_ARGUMENT)', async () => {
  // It answered the failure alone: a client could not tell "failed for good" from "failed, tried again in 1 s".
  const repo = tempDir();
  writeBookVersion(repo, 'a', 1, 'optimize: false\n');
  const pool = new WorkerPoolRuntime({ workers: 1, intraOpThreads: 1, interOpThreads: 1 });
  const server = await startServer({ repo, port: 0, grpcPort: 'free', runtime: pool, logger: false });
  writeBookVersion(repo, 'b', 1, 'optimize: false\n');
  writeBookVersion(repo, 'c', 1, 'optimize: false\n');
  const events: CoreEvent[] = [];
  server.core.on('event', (e: CoreEvent) => events.push(e));
  const clients = grpcClients(server.grpcPort!);
  const RETRY = /; tried again in 1 s \(try 1 of 3\): the inference worker was lost during the load, and is replaced$/;
  try {
    await poolReady(pool);
    pool.crashWorkerForTesting(0, 'exit', 'next-load');
    const rest = await call(`${server.url}/v2/repository/models/b/load`, { method: 'POST' });
    assert.equal(rest.status, 400, rest.text);
    assert.equal(rest.body.code, 'MS_ERR_MODEL_LOAD_FAILED');
    assert.match(String(rest.body.error), RETRY);
    // As said, tried again (and loaded) a second later: then nothing but the next load meets the next crash.
    await until(events, (e) => e.type === 'version-ready' && e.model === 'b');
    await poolReady(pool);
    pool.crashWorkerForTesting(0, 'exit', 'next-run'); // its warm-up run this time
    await assert.rejects(rpc(clients.inference, 'RepositoryModelLoad', { model_name: 'c' }), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
      assert.match(err.details, RETRY);
      assert.equal(err.details.match(RETRY)![0], String(rest.body.error).match(RETRY)![0]);
      return true;
    });
  } finally {
    clients.close();
    await server.shutdown();
  }
});
