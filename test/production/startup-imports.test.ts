// Cold start: the server does not load undici (about 80 ms of start-up here) unless a remote
// pipeline step or a webhook event sink needs it, nor mqtt (about 60 ms) without an MQTT URL.
// Checked in a fresh process: start a server on the examples, look in the CommonJS module cache,
// then build a webhook sink and an MQTT connection (to a closed port) and look again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { EXAMPLES, REPO, tempDir } from '../helpers/paths.js';

test('a server without remote steps, a webhook sink or MQTT never loads undici or mqtt; a webhook sink and an MQTT connection load them', (t) => {
  const dist = (path: string) => pathToFileURL(join(REPO, 'dist', 'src', path)).href;
  const script = `
    import { createRequire } from 'node:module';
    const { startServer } = await import(${JSON.stringify(dist('server.js'))});
    const loaded = (name) => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('/node_modules/' + name + '/'));
    const server = await startServer({ repo: ${JSON.stringify(EXAMPLES)}, port: 0, workers: 1, logger: false });
    const res = await fetch(server.url + '/predict', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 }) });
    const served = { undici: loaded('undici'), mqtt: loaded('mqtt') };
    await server.shutdown();
    const { WebhookSink } = await import(${JSON.stringify(dist('events/webhook-sink.js'))});
    const sink = new WebhookSink({ url: 'http://127.0.0.1:9/events', maxQueue: 10 });
    const { connectClient } = await import(${JSON.stringify(dist('mqtt/connection.js'))});
    const client = connectClient({ url: 'mqtt://127.0.0.1:9' });
    console.log(JSON.stringify({ status: res.status, served, after: { undici: loaded('undici'), mqtt: loaded('mqtt') } }));
    client.end(true);
    await sink.close();
    process.exit(0);
  `;
  // A file, not --eval: the inference workers inherit the process's flags.
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'check.mjs');
  writeFileSync(file, script);
  const out = execFileSync(process.execPath, [file], { timeout: 60_000, encoding: 'utf8', env: { ...process.env, MODELSERVE_GRPC_PORT: '0' } });
  assert.deepEqual(JSON.parse(out.trim().split('\n').pop()!), { status: 200, served: { undici: false, mqtt: false }, after: { undici: true, mqtt: true } });
});
