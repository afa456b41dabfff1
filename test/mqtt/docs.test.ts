// docs/events.md: the serve command it shows runs as written (the broker's port is this test's
// mosquitto), and its events file gets CloudEvents for HTTP predictions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startMosquitto } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/net.js';
import { CLI, REPO, tempDir } from '../helpers/paths.js';

const DOC = readFileSync(join(REPO, 'docs', 'events.md'), 'utf8');

test('docs/events.md: the serve command answers over MQTT and writes events to MQTT and the file', async () => {
  const at = DOC.indexOf('<!-- doc-example: serve;');
  const command = /```sh\n([^\n]+)\n```/.exec(DOC.slice(at))![1]!;
  const broker = await startMosquitto();
  const cwd = tempDir();
  const port = await freePort();
  // As written, with the test broker's port for 1883 and the repository's examples folder.
  const argv = command.replace('mqtt://127.0.0.1:1883', broker.url).split(/\s+/);
  assert.equal(argv[0], 'modelserve');
  const child = spawn(process.execPath, [CLI, ...argv.slice(1).map((a) => (a === 'examples' ? join(REPO, 'examples') : a)), '--port', String(port)], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
  const exited = new Promise((r) => child.once('exit', r));
  try {
    for (let i = 0; i < 300 && !/serving/.test(output); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(output, /serving/);
    const c = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'docs-test' });
    await c.subscribeAsync(['cloud/events', 'docs/answer'], { qos: 1 });
    const got: Record<string, string[]> = { 'cloud/events': [], 'docs/answer': [] };
    c.on('message', (t, p) => got[t]!.push(p.toString()));
    const row = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };
    // Until subscribed (the server connects in the background), ask again.
    for (let i = 0; i < 100 && got['docs/answer']!.length === 0; i++) {
      await c.publishAsync('modelserve/weather/predict', JSON.stringify(row), { qos: 1, properties: { responseTopic: 'docs/answer' } });
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(got['docs/answer']!.length > 0);
    const http = await fetch(`http://127.0.0.1:${port}/predict`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'docs-http-1' }, body: JSON.stringify(row) });
    assert.equal(http.status, 200);
    for (let i = 0; i < 100 && !got['cloud/events']!.some((e) => e.includes('docs-http-1')); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(got['cloud/events']!.some((e) => e.includes('"requestid":"docs-http-1"')));
    const file = join(cwd, 'events.jsonl');
    for (let i = 0; i < 100 && !(existsSync(file) && readFileSync(file, 'utf8').includes('docs-http-1')); i++) await new Promise((r) => setTimeout(r, 50));
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { requestid: string; data: { front_door: string } });
    assert.ok(lines.some((e) => e.requestid === 'docs-http-1' && e.data.front_door === 'http'));
    assert.ok(lines.some((e) => e.data.front_door === 'mqtt'));
    await c.endAsync();
  } finally {
    child.kill('SIGTERM');
    await exited;
    await broker.stop();
  }
});
