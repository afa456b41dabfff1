// --max-loaded-models under --watch: a model not loaded under the budget (evicted, or never loaded)
// is loaded again only when a request asks for it, as README says — not by the watcher, whether its
// files are unchanged (an evicted model lost its fingerprint, so the next pass took it for changed and
// loaded it whenever there was room) or changed (then its next request loads the changed files), as
// a model unloaded through the repository API stays unloaded.
// Real example models and the book's, the real server or core; the watcher's passes run when the test calls reconcile().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InferenceCore } from '../../src/core/core.js';
import { InProcessRuntime } from '../../src/runtime/in-process.js';
import { startServer } from '../../src/server.js';
import { call } from '../helpers/http.js';
import { sampleSum } from '../helpers/prom.js';
import { bookModelYaml, EXAMPLES, tempDir } from '../helpers/paths.js';
import { BOOK_ROW, labelsOf, writeBookVersion } from './fixtures.js';

/** --watch whose passes run only when the test calls reconcile(). */
const MANUAL_WATCH = { pollMs: 3_600_000, debounceMs: 3_600_000, settleMs: 0 };

test('--max-loaded-models 1 under --watch: an evicted model and a never loaded one, both edited on disk in one pass, stay unloaded until a request asks for one', async () => {
  const repo = tempDir();
  for (const name of ['weather', 'loan', 'rain-xgboost']) cpSync(join(EXAMPLES, name), join(repo, name), { recursive: true });
  const server = await startServer({ repo, port: 0, workers: 1, maxLoadedModels: 1, watch: MANUAL_WATCH, logger: false });
  const states = async () => Object.fromEntries(((await call(`${server.url}/models`)).body.models as Array<{ name: string; state: string }>).map((m) => [m.name, m.state]));
  const loaded = async () => Object.entries(await states()).filter(([, s]) => s === 'ready' || s === 'loading').map(([n]) => n);
  try {
    assert.deepEqual(await states(), { loan: 'unavailable', 'rain-xgboost': 'unavailable', weather: 'ready' });
    // Loading loan evicts weather (the budget); unloading loan then leaves room for one model.
    assert.equal((await call(`${server.url}/v2/repository/models/loan/load`, { method: 'POST' })).status, 200);
    const weather = (await call(`${server.url}/models/weather`)).body as { versions: Array<{ reason?: string }> };
    assert.match(weather.versions[0]?.reason ?? '', /memory budget/, JSON.stringify(weather));
    assert.equal((await call(`${server.url}/v2/repository/models/loan/unload`, { method: 'POST' })).status, 200);
    assert.deepEqual(await loaded(), []);
    // Both not-loaded models change on disk; one --watch pass sees both.
    for (const name of ['weather', 'rain-xgboost']) appendFileSync(join(repo, name, 'model.yaml'), '\n# edited\n');
    await server.core.reconcile({});
    assert.deepEqual(await loaded(), [], 'changed files load no model that is not loaded: its next request does');
    const metric = sampleSum((await call(`${server.url}/metrics`)).text, 'modelserve_model_loaded');
    assert.equal(metric, 0, `modelserve_model_loaded sums to ${metric}`);
    // Each is served on its request (the budget loads it, evicting the other).
    assert.equal((await call(`${server.url}/v2/repository/models/weather/load`, { method: 'POST' })).status, 200);
    assert.deepEqual(await loaded(), ['weather']);
    assert.equal((await call(`${server.url}/v2/repository/models/rain-xgboost/load`, { method: 'POST' })).status, 200);
    assert.deepEqual(await loaded(), ['rain-xgboost']);
  } finally {
    await server.shutdown();
  }
});

test('--max-loaded-models 1 under --watch: a model evicted by the budget is not loaded again by the watcher when there is room, its files unchanged or changed; its next request loads the files as they are then', async () => {
  const repo = tempDir();
  for (const name of ['a', 'b']) writeBookVersion(repo, name, 1, 'optimize: false\n');
  const core = await InferenceCore.start({ repo, runtime: new InProcessRuntime(), maxLoadedModels: 1 });
  const states = () => Object.fromEntries(core.status().map((m) => [m.name, m.state]));
  try {
    core.watch(MANUAL_WATCH);
    assert.deepEqual(states(), { a: 'ready', b: 'unavailable' });
    await core.acquire('b'); // loads b on demand: the budget evicts a
    assert.deepEqual(states(), { a: 'unavailable', b: 'ready' });
    await core.unloadModel('b'); // room for one model
    // A pass with nothing changed on disk: a stays as the budget left it.
    await core.reconcile({});
    assert.deepEqual(states(), { a: 'unavailable', b: 'unavailable' });
    assert.equal(core.loadedModelCount(), 0);
    assert.deepEqual(core.status('a')[0]!.versions, [{ version: 1, state: 'unavailable', reason: 'not loaded (memory budget); loads on the next request' }]);
    // Its files change: still not loaded, and the passes after that leave it too.
    writeFileSync(join(repo, 'a', '1', 'model.yaml'), bookModelYaml({ name: 'a', model: 'model.onnx', rain: 'Rain-edited', dry: 'Dry-edited', extra: 'optimize: false\n' }));
    await core.reconcile({});
    await core.reconcile({});
    assert.deepEqual(states(), { a: 'unavailable', b: 'unavailable' });
    assert.equal(core.loadedModelCount(), 0);
    // Its request loads it, from the changed files.
    const [prediction] = await (await core.acquire('a')).predict([{ ...BOOK_ROW }]);
    assert.deepEqual(prediction, { prediction: 'Rain-edited' });
    assert.deepEqual(states(), { a: 'ready', b: 'unavailable' });
    // b, unloaded by request, stays so; loaded again, it serves.
    assert.equal((await core.loadModel('b')).state, 'ready');
    assert.deepEqual(await (await core.acquire('b')).predict([{ ...BOOK_ROW }]), [{ prediction: labelsOf(1).rain }]);
    assert.deepEqual(states(), { a: 'unavailable', b: 'ready' });
  } finally {
    await core.close();
  }
});
