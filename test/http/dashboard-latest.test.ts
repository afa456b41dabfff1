// The dashboard's latest-predictions table, from the CLI as a user starts it: --events-redact
// applies to it with no event sink configured (it applied only with one), and a batch of thousands
// of rows shows its first rows and its row count, not the whole batch in every frame.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXAMPLES, tempDir } from '../helpers/paths.js';
import { startServer } from '../../src/server.js';
import { startServe, type RunningCli } from '../helpers/serve.js';

const row = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };
let server: RunningCli;
let url: string;

before(async () => {
  server = startServe([join(EXAMPLES, 'weather'), '--port', '0', '--grpc-port', '0', '--workers', '1', '--log-level', 'warn', '--events-redact', 'temp_c,rain_probability']);
  url = await server.url;
});
after(() => server?.kill());

const predict = (body: unknown) => fetch(`${url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

test('--events-redact without a sink: the dashboard shows the fields as [redacted]; a 5,000-row batch shows 3 rows and its count', async () => {
  assert.equal((await predict(Array.from({ length: 5000 }, () => row))).status, 200);
  assert.equal((await predict(row)).status, 200);
  const res = await fetch(`${url}/dashboard/stats`);
  const text = await res.text();
  const { latest } = JSON.parse(text) as { latest: Array<{ rows: number; inputs: Array<Record<string, unknown>>; predictions: Array<Record<string, unknown>> }> };
  const [single, batch] = latest;
  assert.equal(single!.rows, 1);
  assert.equal(single!.inputs[0]!.temp_c, '[redacted]');
  assert.equal(single!.inputs[0]!.humidity, 0.83);
  assert.equal(single!.predictions[0]!.rain_probability, '[redacted]');
  assert.equal(typeof single!.predictions[0]!.prediction, 'string');
  assert.equal(batch!.rows, 5000);
  assert.equal(batch!.inputs.length, 3);
  assert.equal(batch!.predictions.length, 3);
  assert.ok(text.length < 20_000, `the snapshot is ${text.length} characters`);
});

test('a request with a long text or thousands of extra fields (a model takes extra fields by default) is shown cut short: a frame stays kilobytes, not megabytes per request', async () => {
  for (let i = 0; i < 20; i++) assert.equal((await predict({ ...row, note: 'x'.repeat(300_000) })).status, 200);
  const many: Record<string, unknown> = { ...row };
  for (let i = 0; i < 5000; i++) many[`extra${i}`] = [i, i, i];
  assert.equal((await predict(many)).status, 200);
  const text = await (await fetch(`${url}/dashboard/stats`)).text();
  assert.ok(text.length < 60_000, `the snapshot is ${text.length} characters`);
  const { latest } = JSON.parse(text) as { latest: Array<{ inputs: Array<Record<string, unknown>> }> };
  const [wide, long] = latest;
  assert.equal(Object.keys(wide!.inputs[0]!).length, 51);
  assert.equal(wide!.inputs[0]!['…'], '(5007 keys)');
  assert.equal(wide!.inputs[0]!.temp_c, '[redacted]');
  assert.equal(long!.inputs[0]!.note, `${'x'.repeat(200)}… (300000 characters)`);
  assert.equal(long!.inputs[0]!.humidity, 0.83);
});

test('labels named like Object.prototype members (constructor, toString) are counted as any other', async () => {
  const repo = tempDir();
  cpSync(join(EXAMPLES, 'weather'), join(repo, 'weather'), { recursive: true });
  const file = join(repo, 'weather', 'model.yaml');
  writeFileSync(file, readFileSync(file, 'utf8').replace('map: { "1": Rain, "0": No_Rain }', 'map: { "1": constructor, "0": toString }'));
  const served = await startServer({ repo, port: 0, grpcPort: 0, workers: 1, logger: false });
  try {
    const res = await fetch(`${served.url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([row, row, { ...row, humidity: 0.1, current_weather_condition: 0 }]) });
    const answered = new Map<string, number>();
    for (const p of await res.json() as Array<{ prediction: string }>) answered.set(p.prediction, (answered.get(p.prediction) ?? 0) + 1);
    const stats = await (await fetch(`${served.url}/dashboard/stats`)).json() as { versions: Array<{ labels: { counts: Record<string, number> } }> };
    assert.deepEqual(stats.versions[0]!.labels.counts, Object.fromEntries(answered));
  } finally {
    await served.shutdown();
  }
});

test("a model removed from the repository loses its dashboard card; an unloaded one keeps it", async () => {
  const repo = tempDir();
  for (const name of ['weather', 'weather-2', 'weather-3']) {
    cpSync(join(EXAMPLES, 'weather'), join(repo, name), { recursive: true });
    const file = join(repo, name, 'model.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('name: weather\n', `name: ${name}\n`).replace('default: true\n', ''));
  }
  const served = await startServer({ repo, port: 0, grpcPort: 0, workers: 1, logger: false });
  try {
    const cards = async () => ((await (await fetch(`${served.url}/dashboard/stats`)).json()) as { versions: Array<{ model: string; loaded: boolean; requests: number }> }).versions
      .map((c) => [c.model, c.loaded, c.requests]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    for (const name of ['weather', 'weather-2', 'weather-3']) assert.equal((await fetch(`${served.url}/models/${name}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(row) })).status, 200);
    assert.deepEqual(await cards(), [['weather', true, 1], ['weather-2', true, 1], ['weather-3', true, 1]]);
    assert.equal((await fetch(`${served.url}/v2/repository/models/weather-2/unload`, { method: 'POST' })).status, 200);
    rmSync(join(repo, 'weather-3'), { recursive: true });
    await served.core.reconcile({});
    assert.deepEqual(await cards(), [['weather', true, 1], ['weather-2', false, 1]]);
  } finally {
    await served.shutdown();
  }
});
