// A load that is still running when its model is unloaded (the repository API), or when the same
// version starts loading again, must not take traffic once it finishes: an unload acknowledged
// while --watch was reloading a changed model left the model serving once the reload finished,
// and a load that lost the race to another load of the same version kept its sessions forever.
// The runtime is the real in-process one (real sessions on the book's model); its load can be held
// so that the unload or the second load lands while the first load runs, without any timing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { InferenceCore, type CoreEvent } from '../../src/core/core.js';
import type { ModelVersion } from '../../src/core/model-version.js';
import { ModelServeError } from '../../src/errors.js';
import { InProcessRuntime } from '../../src/runtime/in-process.js';
import type { ModelSignature, ModelSource, NamedTensors } from '../../src/runtime/types.js';
import { BOOK_MODEL, tempDir } from '../helpers/paths.js';
import { BOOK_ROW, labelsOf, writeBookVersion } from './fixtures.js';

/** The real in-process runtime, whose loads can be held (each waits until let go); counts the sessions alive. */
class HeldRuntime extends InProcessRuntime {
  readonly live = new Set<string>();
  private holding = false;
  private readonly waiting: Array<() => void> = [];
  private arrived: (() => void) | undefined;

  /** Loads from now on wait until let go. */
  hold(): void {
    this.holding = true;
  }

  /** Resolves once `count` loads are waiting. */
  async arrivals(count: number): Promise<void> {
    while (this.waiting.length < count) await new Promise<void>((resolve) => { this.arrived = resolve; });
  }

  /** Lets the first (or last) waiting load go on; with no argument, every one and the loads to come. */
  letGo(which?: 'first' | 'last'): void {
    if (which === 'first') return this.waiting.shift()?.();
    if (which === 'last') return this.waiting.pop()?.();
    this.holding = false;
    for (const go of this.waiting.splice(0)) go();
  }

  override async load(models: ModelSource[]): Promise<Record<string, ModelSignature>> {
    if (this.holding) {
      await new Promise<void>((go) => {
        this.waiting.push(go);
        this.arrived?.();
      });
    }
    const signatures = await super.load(models);
    for (const m of models) this.live.add(m.name);
    return signatures;
  }

  /** Runs wait while this is set (a busy worker); resolves `runArrived` when one does. */
  runsHeld: Promise<void> | undefined;
  runArrived: (() => void) | undefined;

  override async run(model: string, feeds: NamedTensors, outputNames?: string[]): Promise<NamedTensors> {
    if (this.runsHeld) {
      this.runArrived?.();
      await this.runsHeld;
    }
    return super.run(model, feeds, outputNames);
  }

  override async unload(names: string[]): Promise<void> {
    for (const n of names) this.live.delete(n);
    await super.unload(names);
  }
}

/** --watch whose passes run only when a test calls reconcile(). */
const MANUAL_WATCH = { pollMs: 3_600_000, debounceMs: 3_600_000, settleMs: 0 };

/** A core on a HeldRuntime, given to `body`; afterwards whatever is held is let go and the core closed. */
async function withHeldCore(options: Omit<Parameters<typeof InferenceCore.start>[0], 'runtime'>, body: (core: InferenceCore, runtime: HeldRuntime) => Promise<void>): Promise<void> {
  const runtime = new HeldRuntime();
  const core = await InferenceCore.start({ ...options, runtime });
  try {
    await body(core, runtime);
  } finally {
    runtime.runsHeld = undefined;
    runtime.letGo();
    await core.close();
  }
}

async function refused(promise: Promise<unknown>): Promise<ModelServeError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ModelServeError, String(err));
    return err;
  }
  assert.fail('expected the request to be refused');
}

test('an unload while --watch reloads the changed model: the model ends unloaded, as the unload answered, and the reload holds no sessions', async () => {
  const repo = tempDir();
  const dir = writeBookVersion(repo, 'book', 1, 'optimize: false\n');
  await withHeldCore({ repo }, async (core, runtime) => {
    core.watch(MANUAL_WATCH); // passes run only when called below
    appendFileSync(join(dir, 'model.yaml'), '# edited\n');
    runtime.hold();
    const reload = core.reconcile({});
    await runtime.arrivals(1); // the reload of version 1 is under way
    const unloaded = await core.unloadModel('book');
    assert.equal(unloaded.state, 'unavailable');
    runtime.letGo();
    await reload;
    const [status] = core.status('book');
    assert.equal(status!.state, 'unavailable', JSON.stringify(status));
    assert.deepEqual(status!.versions, [{ version: 1, state: 'unavailable', reason: 'unloaded by request' }]);
    const err = await refused(core.acquire('book'));
    assert.equal(err.code, 'MS_ERR_MODEL_UNAVAILABLE');
    assert.deepEqual([...runtime.live], [], 'no sessions are left loaded');
    // Loaded again, it serves the edited files.
    assert.equal((await core.loadModel('book')).state, 'ready');
    const [prediction] = await (await core.acquire('book')).predict([{ ...BOOK_ROW }]);
    assert.deepEqual(prediction, { prediction: labelsOf(1).rain });
  });
});

test('an unload while --watch loads a new version: the new version does not start serving after the unload', async () => {
  const repo = tempDir();
  writeBookVersion(repo, 'book', 1, 'optimize: false\n');
  await withHeldCore({ repo }, async (core, runtime) => {
    core.watch(MANUAL_WATCH);
    writeBookVersion(repo, 'book', 2, 'optimize: false\n');
    runtime.hold();
    const pass = core.reconcile({});
    await runtime.arrivals(1);
    assert.deepEqual(core.status('book')[0]!.versions.map((v) => [v.version, v.state]), [[1, 'ready'], [2, 'loading']]);
    await core.unloadModel('book');
    runtime.letGo();
    await pass;
    const [status] = core.status('book');
    assert.equal(status!.state, 'unavailable', JSON.stringify(status));
    assert.equal(status!.serving, undefined);
    assert.equal((await refused(core.acquire('book'))).code, 'MS_ERR_MODEL_UNAVAILABLE');
    assert.equal((await refused(core.acquire('book', 2))).code, 'MS_ERR_MODEL_UNAVAILABLE');
    assert.deepEqual([...runtime.live], []);
  });
});

test('two loads of one version at once (a request loading it on demand, --watch loading its changed files): the request is served, and only the later load keeps sessions', async () => {
  const repo = tempDir();
  writeBookVersion(repo, 'book', 1, 'optimize: false\n');
  writeBookVersion(repo, 'other', 1, 'optimize: false\n');
  // A budget of one model: 'book' (first by name) is loaded, 'other' loads on its first request.
  await withHeldCore({ repo, maxLoadedModels: 1 }, async (core, runtime) => {
    core.watch(MANUAL_WATCH);
    await core.unloadModel('book'); // room for 'other'
    assert.equal(core.status('other')[0]!.versions[0]!.state, 'unavailable');
    runtime.hold();
    const request = core.acquire('other'); // loads 'other' on demand ...
    await runtime.arrivals(1);
    copyFileSync(BOOK_MODEL, join(repo, 'other', '1', 'model.onnx')); // ... while its files change,
    appendFileSync(join(repo, 'other', '1', 'model.yaml'), '# edited\n');
    const pass = core.reconcile({}); // and --watch loads the changed version
    await runtime.arrivals(2);
    // The request's load finishes first: the request is served by it.
    runtime.letGo('first');
    const first = await request;
    const [prediction] = await first.predict([{ ...BOOK_ROW }]);
    assert.deepEqual(prediction, { prediction: labelsOf(1).rain });
    // Then --watch's load of the changed files replaces it.
    runtime.letGo();
    await pass;
    const serving = await core.acquire('other');
    assert.notEqual(serving, first);
    assert.equal(core.status('other')[0]!.state, 'ready');
    await new Promise((resolve) => setImmediate(resolve)); // the replaced version is released once drained (idle: at once)
    assert.deepEqual([...runtime.live], [(serving as ModelVersion).key], 'one set of sessions: the serving version\'s');
  });
});

test('a request for a model while it loads (a new folder under --watch, the repository API): it waits for the load and is served; past its deadline, a 504 saying so', async () => {
  const repo = tempDir();
  writeBookVersion(repo, 'book', 1, 'optimize: false\n');
  await withHeldCore({ repo }, async (core, runtime) => {
    core.watch(MANUAL_WATCH);
    writeBookVersion(repo, 'fresh', 1, 'optimize: false\n');
    runtime.hold();
    const pass = core.reconcile({});
    await runtime.arrivals(1);
    assert.equal(core.status('fresh')[0]!.state, 'loading');
    const late = await refused(core.acquire('fresh', undefined, performance.now()));
    assert.equal(late.code, 'MS_ERR_TIMEOUT', late.message);
    const request = core.acquire('fresh');
    const versioned = core.acquire('fresh', 1);
    runtime.letGo();
    const [prediction] = await (await request).predict([{ ...BOOK_ROW }]);
    assert.deepEqual(prediction, { prediction: labelsOf(1).rain });
    assert.equal((await versioned).version, 1);
    await pass;

    // The same through the repository API's load, after an unload.
    await core.unloadModel('fresh');
    runtime.hold();
    const load = core.loadModel('fresh');
    await runtime.arrivals(1);
    const during = core.acquire('fresh');
    runtime.letGo();
    assert.equal((await load).state, 'ready');
    assert.equal((await during).version, 1);
  });
});

test('a request that loads its model on demand (memory budget) waits at most its queue.timeout_ms when it sent no deadline, as README promises', { timeout: 60_000 /* a hang guard: without the bound it waited for the held load forever */ }, async () => {
  const repo = tempDir();
  writeBookVersion(repo, 'book', 1, 'optimize: false\n');
  writeBookVersion(repo, 'other', 1, 'optimize: false\nqueue: { timeout_ms: 50 }\n');
  await withHeldCore({ repo, maxLoadedModels: 1 }, async (core, runtime) => {
    runtime.hold(); // the load never finishes while the request waits
    const err = await refused(core.acquire('other'));
    assert.equal(err.code, 'MS_ERR_TIMEOUT', err.message);
    assert.match(err.message, /while the model was loading/);
    runtime.letGo();
    // Its own deadline: 50 ms (queue.timeout_ms) is less than a load takes on a busy machine.
    assert.equal((await core.acquire('other', undefined, performance.now() + 30_000)).version, 1);
  });
});

test('a reload while the workers are busy past queue.timeout_ms: the warm-up run waits for them, and the new version serves', async () => {
  const repo = tempDir();
  const dir = writeBookVersion(repo, 'book', 1, 'optimize: false\nqueue: { timeout_ms: 1 }\n');
  await withHeldCore({ repo }, async (core, runtime) => {
    core.watch(MANUAL_WATCH);
    const before = await core.acquire('book');
    appendFileSync(join(dir, 'model.yaml'), '# edited\n');
    let letRunsGo!: () => void;
    runtime.runsHeld = new Promise((resolve) => { letRunsGo = resolve; });
    const warmUpWaits = new Promise<void>((resolve) => { runtime.runArrived = resolve; });
    const pass = core.reconcile({});
    await warmUpWaits;
    // Many times the 1 ms limit (and its 5 ms sweep): a client's request would have been answered 504 by now.
    await new Promise((resolve) => setTimeout(resolve, 100));
    runtime.runsHeld = undefined;
    letRunsGo();
    await pass;
    const [status] = core.status('book');
    assert.deepEqual(status!.versions, [{ version: 1, state: 'ready' }], JSON.stringify(status));
    assert.notEqual(await core.acquire('book'), before, 'the reloaded version serves');
  });
});

test('--max-loaded-models 1: an unload of a model while its eviction drains: once drained it says "unloaded by request", as its requests do (it said "not loaded (memory budget); loads on the next request")', async () => {
  const repo = tempDir();
  for (const name of ['a', 'b']) writeBookVersion(repo, name, 1, 'optimize: false\n');
  await withHeldCore({ repo, maxLoadedModels: 1 }, async (core, runtime) => {
    let letRunsGo!: () => void;
    runtime.runsHeld = new Promise((resolve) => { letRunsGo = resolve; });
    const running = new Promise<void>((resolve) => { runtime.runArrived = resolve; });
    const inFlight = core.acquire('a').then((v) => v.predict([{ ...BOOK_ROW }]));
    await running; // a's request holds a's version: its eviction drains until it is answered
    const b = core.acquire('b').then((v) => v.predict([{ ...BOOK_ROW }]));
    while (core.status('a')[0]!.versions[0]!.state !== 'unloading') await new Promise((resolve) => setImmediate(resolve));
    await core.unloadModel('a');
    runtime.runsHeld = undefined;
    letRunsGo();
    assert.deepEqual(await inFlight, [{ prediction: labelsOf(1).rain }]);
    assert.deepEqual(await b, [{ prediction: labelsOf(1).rain }]);
    assert.deepEqual(core.status('a')[0]!.versions, [{ version: 1, state: 'unavailable', reason: 'unloaded by request' }]);
    assert.match((await refused(core.acquire('a'))).message, /model 'a' is unloaded/);
  });
});

test('two models loaded on demand at once under --max-loaded-models 1: both requests are served, and then only one model stays loaded', async () => {
  const repo = tempDir();
  for (const name of ['a', 'b', 'c']) writeBookVersion(repo, name, 1, 'optimize: false\n');
  await withHeldCore({ repo, maxLoadedModels: 1 }, async (core, runtime) => {
    assert.deepEqual(core.status().map((m) => m.state), ['ready', 'unavailable', 'unavailable']);
    runtime.hold();
    const b = core.acquire('b').then((v) => v.predict([{ ...BOOK_ROW }]));
    const c = core.acquire('c').then((v) => v.predict([{ ...BOOK_ROW }]));
    await runtime.arrivals(2); // both load at once ('a' was evicted for the first)
    runtime.letGo();
    assert.deepEqual(await b, [{ prediction: labelsOf(1).rain }]);
    assert.deepEqual(await c, [{ prediction: labelsOf(1).rain }]);
    const ready = core.status().filter((m) => m.state === 'ready').map((m) => m.name);
    assert.equal(ready.length, 1, `loaded: ${ready.join(', ')}`);
    await core.drain();
    await new Promise((resolve) => setImmediate(resolve)); // the evicted version, drained, is released
    assert.equal(runtime.live.size, 1, [...runtime.live].join(', '));
  });
});

test('--max-loaded-models 1: a request loads a model while --watch loads a new one; the request\'s finishes first, and then only one model is loaded', async () => {
  const repo = tempDir();
  for (const name of ['a', 'c']) writeBookVersion(repo, name, 1, 'optimize: false\n');
  await withHeldCore({ repo, maxLoadedModels: 1 }, async (core, runtime) => {
    core.watch(MANUAL_WATCH);
    await core.unloadModel('a'); // room for one model
    writeBookVersion(repo, 'b', 1, 'optimize: false\n'); // a new model folder
    runtime.hold();
    const pass = core.reconcile({}); // --watch loads b (there is room) ...
    await runtime.arrivals(1);
    const request = core.acquire('c'); // ... while a request loads c
    await runtime.arrivals(2);
    runtime.letGo('last'); // c's load finishes first
    const served = await request;
    assert.deepEqual(await served.predict([{ ...BOOK_ROW }]), [{ prediction: labelsOf(1).rain }]);
    runtime.letGo();
    await pass;
    const loaded = core.status().filter((m) => m.state === 'ready' || m.state === 'loading').map((m) => m.name);
    assert.deepEqual(loaded, ['c'], 'the model asked for stays; the one only new on disk waits for its request');
    assert.equal(core.loadedModelCount(), 1);
  });
});

test('--max-loaded-models 1: a request\'s load evicts a model while --watch loads its new version; that load, finishing first, never serves nor keeps sessions, and the model loads again on its request', async () => {
  const repo = tempDir();
  for (const name of ['a', 'b']) writeBookVersion(repo, name, 1, 'optimize: false\n');
  await withHeldCore({ repo, maxLoadedModels: 1 }, async (core, runtime) => {
    const ready: string[] = [];
    core.on('event', (event: CoreEvent) => { if (event.type === 'version-ready') ready.push(`${event.model}/${event.version}`); });
    core.watch(MANUAL_WATCH);
    writeBookVersion(repo, 'a', 2, 'optimize: false\n');
    runtime.hold();
    const pass = core.reconcile({}); // --watch loads a's version 2 ...
    await runtime.arrivals(1);
    assert.deepEqual(core.status('a')[0]!.versions.map((v) => [v.version, v.state]), [[1, 'ready'], [2, 'loading']]);
    const request = core.acquire('b'); // ... while a request for b makes room: a is evicted, its load in flight too
    await runtime.arrivals(2); // b's load starts once the eviction is done
    const evicted = core.status('a')[0]!;
    assert.equal(evicted.state, 'unavailable', JSON.stringify(evicted));
    assert.deepEqual(evicted.versions.map((v) => [v.version, v.state]), [[1, 'unavailable'], [2, 'unavailable']]);
    runtime.letGo('first'); // a's version 2 finishes loading first
    await pass;
    runtime.letGo();
    assert.deepEqual(await (await request).predict([{ ...BOOK_ROW }]), [{ prediction: labelsOf(1).rain }]);
    assert.deepEqual(ready, ['b/1'], 'a\'s version 2 never served');
    const after = core.status('a')[0]!;
    assert.equal(after.state, 'unavailable', JSON.stringify(after));
    assert.equal(after.serving, undefined);
    assert.ok(after.versions.every((v) => v.state === 'unavailable'), JSON.stringify(after));
    assert.equal(core.loadedModelCount(), 1);
    await new Promise((resolve) => setImmediate(resolve)); // a's version 1, drained (idle: at once), is released
    const b = (await core.acquire('b')) as ModelVersion;
    assert.deepEqual([...runtime.live], [b.key], 'one set of sessions: b\'s');
    // The next pass leaves a unloaded (nothing changed since); a request loads it, at version 2, evicting b.
    await core.reconcile({});
    assert.equal(core.status('a')[0]!.state, 'unavailable');
    const a = await core.acquire('a');
    assert.equal(a.version, 2);
    assert.deepEqual(await a.predict([{ ...BOOK_ROW }]), [{ prediction: labelsOf(2).rain }]);
    assert.deepEqual(core.status().map((m) => [m.name, m.state]), [['a', 'ready'], ['b', 'unavailable']]);
  });
});

test('--max-loaded-models 1: a request\'s load evicts a model while --watch reloads its changed files; the request\'s load finishes first, the reload never serves nor keeps sessions', async () => {
  const repo = tempDir();
  for (const name of ['a', 'b']) writeBookVersion(repo, name, 1, 'optimize: false\n');
  await withHeldCore({ repo, maxLoadedModels: 1 }, async (core, runtime) => {
    const ready: string[] = [];
    core.on('event', (event: CoreEvent) => { if (event.type === 'version-ready') ready.push(`${event.model}/${event.version}`); });
    core.watch(MANUAL_WATCH);
    appendFileSync(join(repo, 'a', '1', 'model.yaml'), '# edited\n');
    runtime.hold();
    const pass = core.reconcile({}); // --watch reloads a's version 1 (the loaded one keeps serving meanwhile) ...
    await runtime.arrivals(1);
    assert.equal(core.status('a')[0]!.state, 'ready');
    const request = core.acquire('b'); // ... while a request for b makes room: a is evicted
    await runtime.arrivals(2);
    assert.equal(core.status('a')[0]!.state, 'unavailable');
    runtime.letGo('last'); // b's load finishes first
    assert.deepEqual(await (await request).predict([{ ...BOOK_ROW }]), [{ prediction: labelsOf(1).rain }]);
    runtime.letGo(); // then a's reload
    await pass;
    assert.deepEqual(ready, ['b/1'], 'a\'s reload never served');
    const after = core.status('a')[0]!;
    assert.equal(after.state, 'unavailable', JSON.stringify(after));
    assert.deepEqual(after.versions, [{ version: 1, state: 'unavailable', reason: 'not loaded (memory budget); loads on the next request' }]);
    assert.equal(core.loadedModelCount(), 1);
    await new Promise((resolve) => setImmediate(resolve)); // a's first load, drained (idle: at once), is released
    const b = (await core.acquire('b')) as ModelVersion;
    assert.deepEqual([...runtime.live], [b.key], 'one set of sessions: b\'s');
    await core.reconcile({}); // nothing changed since: a stays unloaded
    assert.equal(core.status('a')[0]!.state, 'unavailable');
  });
});

test('a --watch load cut short by shutdown is not reported as a failed load (no error logged, none counted)', async () => {
  const repo = tempDir();
  writeBookVersion(repo, 'book', 1, 'optimize: false\n');
  const problems: string[] = [];
  await withHeldCore({ repo, onProblem: (message) => problems.push(message) }, async (core, runtime) => {
    const failed: string[] = [];
    core.on('event', (event: CoreEvent) => { if (event.type === 'version-failed') failed.push(event.reason); });
    core.watch(MANUAL_WATCH);
    writeBookVersion(repo, 'book', 2, 'optimize: false\n');
    runtime.hold();
    const pass = core.reconcile({});
    await runtime.arrivals(1);
    await core.close(); // shutdown while version 2 loads
    runtime.letGo();
    await pass;
    assert.deepEqual(problems, []);
    assert.deepEqual(failed, []);
  });
});

test('a request given a version that is unloaded before it runs: 503 MS_ERR_MODEL_UNAVAILABLE naming the model, not a 404 naming the runtime\'s key', async () => {
  const repo = tempDir();
  writeBookVersion(repo, 'book', 1, 'optimize: false\n');
  const core = await InferenceCore.start({ repo, runtime: new InProcessRuntime() });
  try {
    const version = await core.acquire('book');
    await core.unloadModel('book'); // released: nothing was queued on it yet
    const err = await refused(version.predict([{ ...BOOK_ROW }]));
    assert.equal(err.code, 'MS_ERR_MODEL_UNAVAILABLE', err.message);
    assert.equal(err.status, 503);
    assert.match(err.message, /^model 'book' version 1 was unloaded before this request ran/);
  } finally {
    await core.close();
  }
});

test('after close, no model says it is ready or serving (its sessions are gone with the runtime)', async () => {
  const repo = tempDir();
  writeBookVersion(repo, 'book', 1, 'optimize: false\n');
  const core = await InferenceCore.start({ repo, runtime: new InProcessRuntime() });
  assert.equal(core.status('book')[0]!.state, 'ready');
  await core.close();
  const [status] = core.status('book');
  assert.equal(status!.state, 'unavailable', JSON.stringify(status));
  assert.equal(status!.serving, undefined);
  assert.deepEqual(status!.versions, [{ version: 1, state: 'unavailable', reason: 'the service is closed' }]);
});

test('--max-loaded-models 1: a pipeline --watch finds new or edited while the budget is full, or over it while two models load on demand, serves (pipelines hold no sessions: outside the budget), and is never evicted', async () => {
  const repo = tempDir();
  for (const name of ['a', 'b', 'c']) writeBookVersion(repo, name, 1, 'optimize: false\n');
  const pipeline = (description: string) => `name: pipe\ndescription: ${description}\npipeline:\n  sequence:\n    - model: a\n`;
  await withHeldCore({ repo, maxLoadedModels: 1 }, async (core, runtime) => {
    const evicted: string[] = [];
    core.on('event', (event: CoreEvent) => { if (event.type === 'eviction') evicted.push(event.model); });
    core.watch(MANUAL_WATCH);
    // A new pipeline folder, with 'a' loaded (the budget full): before, left 'unavailable (memory budget)'.
    mkdirSync(join(repo, 'pipe'));
    writeFileSync(join(repo, 'pipe', 'model.yaml'), pipeline('one'));
    await core.reconcile({});
    assert.equal(core.status('pipe')[0]!.state, 'ready', JSON.stringify(core.status('pipe')));
    // Edited while b and c load on demand together (two models loading: over the budget until one is
    // evicted): before, the pipeline, reloaded meanwhile, was the one evicted.
    runtime.hold();
    const b = core.acquire('b');
    const c = core.acquire('c');
    await runtime.arrivals(2);
    writeFileSync(join(repo, 'pipe', 'model.yaml'), pipeline('two'));
    await core.reconcile({});
    runtime.letGo();
    await Promise.all([b, c]);
    const [status] = core.status('pipe');
    assert.deepEqual([status!.state, status!.serving, (await core.acquire('pipe')).config.description], ['ready', 1, 'two'], JSON.stringify(status));
    assert.ok(!evicted.includes('pipe'), `evicted: ${evicted.join(', ')}`);
  });
});

test('--max-loaded-models 1: a model loaded for a waiting request is not evicted for another model\'s request before the waiting one is served (it was: 503 \'not loaded (memory budget); loads on the next request\' to the request that loaded it)', async () => {
  const repo = tempDir();
  for (const name of ['a', 'b', 'c']) writeBookVersion(repo, name, 1, 'optimize: false\n');
  await withHeldCore({ repo, maxLoadedModels: 1 }, async (core, runtime) => {
    runtime.hold();
    const b = core.acquire('b'); // evicts a
    await runtime.arrivals(1);
    const c = core.acquire('c'); // b is loading: over the budget meanwhile
    await runtime.arrivals(2);
    runtime.letGo('last');
    const servedC = await c;
    // When b's load finishes, c is evicted to bring the count back; at that very moment a request
    // for a arrives (a load that makes room too), before b's request is handed its version.
    let a: Promise<ModelVersion> | undefined;
    core.on('event', (event: CoreEvent) => {
      if (event.type === 'eviction' && event.model === 'c') queueMicrotask(() => { a = core.acquire('a') as Promise<ModelVersion>; });
    });
    runtime.letGo();
    const servedB = await b;
    assert.deepEqual(await servedB.predict([{ ...BOOK_ROW }]), [{ prediction: labelsOf(1).rain }]);
    assert.ok(a !== undefined, 'c was evicted when b loaded');
    assert.deepEqual(await (await a).predict([{ ...BOOK_ROW }]), [{ prediction: labelsOf(1).rain }]);
    assert.notEqual(servedC, undefined);
    // Then the budget holds again: only the model asked for last stays.
    await core.drain();
    assert.equal(core.loadedModelCount(), 1, JSON.stringify(core.status().map((m) => [m.name, m.state])));
  });
});

test('--max-loaded-models 1: a request waiting for --watch\'s reload of a model that the budget unloads meanwhile loads the model itself and is served (it was: 503 \'not loaded (memory budget); loads on the next request\')', async () => {
  const repo = tempDir();
  for (const name of ['a', 'b']) writeBookVersion(repo, name, 1, 'optimize: false\n');
  await withHeldCore({ repo, maxLoadedModels: 1 }, async (core, runtime) => {
    core.watch(MANUAL_WATCH);
    appendFileSync(join(repo, 'a', '1', 'model.yaml'), 'description: edited\n');
    runtime.hold();
    const pass = core.reconcile({}); // reloads a ...
    await runtime.arrivals(1);
    const b = core.acquire('b').then((v) => v.predict([{ ...BOOK_ROW }])); // ... while a request for b evicts it
    await runtime.arrivals(2);
    assert.equal(core.status('a')[0]!.state, 'unavailable');
    const a = core.acquire('a').then(async (v) => ({ description: v.config.description, answer: await v.predict([{ ...BOOK_ROW }]) })); // waits for the reload under way, which never serves
    runtime.letGo();
    await pass;
    assert.deepEqual(await a, { description: 'edited', answer: [{ prediction: labelsOf(1).rain }] });
    assert.deepEqual(await b, [{ prediction: labelsOf(1).rain }]);
    await core.drain();
    assert.equal(core.loadedModelCount(), 1, JSON.stringify(core.status().map((m) => [m.name, m.state])));
  });
});
