// --max-loaded-models under --watch: a model that is not loaded (evicted by the budget, or never
// loaded) whose files change is loaded by the watcher only while there is room, counting the loads
// the same pass starts: two such models changed in one pass loaded both, one past the budget.
// Real example models, the real server; the watcher's passes run when the test calls reconcile().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from '../../src/server.js';
import { call } from '../helpers/http.js';
import { sampleSum } from '../helpers/prom.js';
import { EXAMPLES, tempDir } from '../helpers/paths.js';

/** --watch whose passes run only when the test calls reconcile(). */
const MANUAL_WATCH = { pollMs: 3_600_000, debounceMs: 3_600_000, settleMs: 0 };

test('--max-loaded-models 1 under --watch: an evicted model and an unloaded one, both edited on disk in one pass, end with at most one model loaded', async () => {
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
    const now = await loaded();
    assert.ok(now.length <= 1, `loaded past the budget of 1: ${now.join(', ')}`);
    const metric = sampleSum((await call(`${server.url}/metrics`)).text, 'modelserve_model_loaded');
    assert.ok(metric <= 1, `modelserve_model_loaded sums to ${metric}`);
    // The one left out is served on its next request (the budget loads it, evicting the other).
    const waiting = ['weather', 'rain-xgboost'].find((n) => !now.includes(n))!;
    assert.equal((await states())[waiting], 'unavailable');
    assert.equal((await call(`${server.url}/v2/repository/models/${waiting}/load`, { method: 'POST' })).status, 200);
    assert.deepEqual(await loaded(), [waiting]);
  } finally {
    await server.shutdown();
  }
});
