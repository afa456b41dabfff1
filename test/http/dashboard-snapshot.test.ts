// The dashboard snapshot's cost with many models: a version with no request since the last
// snapshot keeps what it showed (its latency percentiles and its distribution of predictions are
// not computed again from its 2048-value windows), and one with a request shows it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXAMPLES, tempDir } from '../helpers/paths.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { LiveStats } from '../../src/dashboard/live-stats.js';
import { BOOK_ROW, writeBookVersion } from '../core/fixtures.js';

const MODELS = ['weather-a', 'weather-b', 'weather-c'];
const row = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };
let repo: string;
let served: RunningServer;
let stats: LiveStats;

before(async () => {
  repo = tempDir();
  for (const name of MODELS) {
    cpSync(join(EXAMPLES, 'weather'), join(repo, name), { recursive: true });
    const file = join(repo, name, 'model.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('name: weather\n', `name: ${name}\n`).replace('default: true\n', ''));
  }
  served = await startServer({ repo, port: 0, grpcPort: 0, workers: 0, logger: false });
  stats = new LiveStats(() => served.core, undefined, []);
  served.core.predictions.add(stats.observe);
});
after(async () => {
  await served?.shutdown();
  rmSync(repo, { recursive: true, force: true });
});

const predict = async (model: string, rows: unknown) => {
  const res = await fetch(`${served.url}/models/${model}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(rows) });
  assert.equal(res.status, 200);
};
const card = (snapshot: Awaited<ReturnType<LiveStats['snapshot']>>, model: string) => snapshot.versions.find((v) => v.model === model)!;

test('a version with no request since the last snapshot is not summarised again; one with a request is', async () => {
  for (const model of MODELS) await predict(model, [row, { ...row, humidity: 0.2, current_weather_condition: 0 }]);
  const first = await stats.snapshot();
  const second = await stats.snapshot();
  for (const model of MODELS) {
    assert.ok(card(first, model).latency !== null && card(first, model).histogram !== null);
    // The same objects: nothing was sorted or binned again.
    assert.equal(card(second, model).latency, card(first, model).latency, `${model}'s latency computed again`);
    assert.equal(card(second, model).histogram, card(first, model).histogram, `${model}'s histogram computed again`);
  }
  assert.deepEqual({ ...second, time: '' }, { ...first, time: '' });

  await predict('weather-b', { ...row, humidity: 0.5 });
  const third = await stats.snapshot();
  assert.equal(card(third, 'weather-a').latency, card(first, 'weather-a').latency);
  assert.notEqual(card(third, 'weather-b').latency, card(first, 'weather-b').latency);
  assert.equal(card(third, 'weather-b').requests, 2);
  assert.equal(card(third, 'weather-b').histogram!.counts.reduce((a, b) => a + b), 3, 'the new prediction is in the distribution');
});

test("latency percentiles are the window's own values, picked without sorting each version's window", async () => {
  const own = new LiveStats(() => undefined, undefined, []);
  // Windows of 1 to 2048 latencies (and one past the window), with runs of equal values and a sorted run.
  const windows: Record<string, number[]> = {
    one: [4.2],
    two: [9, 1],
    same: Array.from({ length: 300 }, () => 2.5),
    sorted: Array.from({ length: 1000 }, (_, i) => i / 7),
    mixed: Array.from({ length: 2048 }, (_, i) => ((i * 7919) % 1000) / 100 + (i % 5 === 0 ? 3 : 0)),
    wrapped: Array.from({ length: 2100 }, (_, i) => ((i * 104729) % 997) / 13),
  };
  for (const [model, latencies] of Object.entries(windows)) {
    for (const latencyMs of latencies) own.observe({ model, version: 1, rows: 1, latencyMs, time: Date.now(), frontDoor: 'http' });
  }
  const sort = Float64Array.prototype.sort;
  let sorts = 0;
  Float64Array.prototype.sort = function (this: Float64Array, ...args) { sorts++; return sort.apply(this, args); };
  let snapshot;
  try {
    snapshot = await own.snapshot();
  } finally {
    Float64Array.prototype.sort = sort;
  }
  assert.equal(sorts, 0, 'a window was sorted');
  for (const [model, latencies] of Object.entries(windows)) {
    const sorted = latencies.slice(-2048).sort((a, b) => a - b);
    const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]! * 1000) / 1000;
    assert.deepEqual(card(snapshot, model).latency, { p50: at(0.5), p95: at(0.95), p99: at(0.99) }, model);
  }
});

test("of the versions removed from the repository (a new one deployed, the old folder deleted) only the newest keeps its card; an unloaded one keeps it", async () => {
  // Each card holds two 2048-value windows (32 KB): a model given a new version per deploy kept one per version ever served.
  // The one the last deploy replaced stays, dimmed, beside the new one (docs/events.md).
  const versions = tempDir();
  writeBookVersion(versions, 'book', 1);
  writeBookVersion(versions, 'other', 1);
  const server = await startServer({ repo: versions, port: 0, grpcPort: 0, workers: 0, logger: false });
  const live = new LiveStats(() => server.core, undefined, []);
  server.core.predictions.add(live.observe);
  const ask = async (model: string) => assert.equal((await fetch(`${server.url}/models/${model}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(BOOK_ROW) })).status, 200);
  const cards = async () => (await live.snapshot()).versions.map((v) => `${v.model}/${v.version}`).sort();
  try {
    await ask('book');
    await ask('other');
    for (let v = 2; v <= 4; v++) {
      writeBookVersion(versions, 'book', v);
      rmSync(join(versions, 'book', String(v - 1)), { recursive: true });
      await server.core.reconcile({});
      await ask('book');
    }
    await server.core.unloadModel('other');
    assert.deepEqual(await cards(), ['book/3', 'book/4', 'other/1']);
    assert.deepEqual((await live.snapshot()).versions.map((v) => v.loaded), [false, true, false]);
  } finally {
    await server.shutdown();
  }
});
