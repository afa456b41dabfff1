// examples/weather-station: the README's one command starts mosquitto, modelserve, the station and
// the cloud subscriber; readings become predictions on the dashboard and CloudEvents in the cloud;
// Ctrl-C (SIGINT) stops everything. The screenshot variant makes a PNG (into a temp dir here).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { startMosquitto } from '../helpers/mosquitto.js';
import { join } from 'node:path';
import { freePort } from '../helpers/net.js';
import { REPO, tempDir } from '../helpers/paths.js';

const README = readFileSync(join(REPO, 'examples', 'weather-station', 'README.md'), 'utf8');

function readmeCommand(): string[] {
  const at = README.indexOf('<!-- example-command -->');
  const m = /```sh\n([^\n]+)\n```/.exec(README.slice(at));
  assert.ok(at >= 0 && m, 'the README shows the command');
  return m[1]!.trim().split(/\s+/);
}

function run(argv: string[], env: Record<string, string>) {
  assert.equal(argv[0], 'node');
  const child = spawn(process.execPath, argv.slice(1), { cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function until(check: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('weather-station: one command runs broker, modelserve, station and cloud; Ctrl-C stops it all', async () => {
  const port = await freePort();
  const p = run(readmeCommand(), { PORT: String(port) });
  try {
    const cloudCount = () => Number([...p.output().matchAll(/(\d+) prediction events in the cloud/g)].pop()?.[1] ?? 0);
    await until(() => cloudCount() >= 20, 60_000, () => p.output().slice(-2000));
    const stats = await (await fetch(`http://127.0.0.1:${port}/dashboard/stats`)).json() as { versions: Array<{ model: string; requests: number; byFrontDoor: Record<string, number> }> };
    const weather = stats.versions.find((v) => v.model === 'weather')!;
    assert.ok(weather.byFrontDoor.mqtt! >= 20, JSON.stringify(weather));
    assert.match((await (await fetch(`http://127.0.0.1:${port}/dashboard`)).text()), /modelserve — live dashboard/);
  } finally {
    p.child.kill('SIGINT');
  }
  assert.equal(await p.exited, 0, p.output().slice(-2000));
  // Everything it started is gone: the port is free again.
  await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`));
});

test('weather-station: --screenshot saves the dashboard as a PNG', async () => {
  const shot = join(tempDir(), 'dashboard.png');
  const argv = ['node', 'examples/weather-station/run.mjs', '--port', String(await freePort()), '--screenshot', shot];
  assert.ok(README.includes('node examples/weather-station/run.mjs --port 8791 --screenshot examples/weather-station/dashboard.png'));
  const p = run(argv, {});
  assert.equal(await p.exited, 0, p.output().slice(-2000));
  assert.ok(existsSync(shot) && statSync(shot).size > 10_000, p.output().slice(-2000));
  assert.deepEqual([...readFileSync(shot).subarray(1, 4)], [...Buffer.from('PNG')]);
});

test('publisher.mjs with your own CSV: a gap is left out of the reading (it was sent as 0), a non-number is sent as written; a bad --rate or broker is one line', async (t) => {
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const csv = join(tempDir(), 'my.csv');
  writeFileSync(csv, 'station,temp_c,humidity,wind_speed_kmph,wind_bearing_degree,visibility_km,pressure_millibars,current_weather_condition\nA,7.7,0.91,,134,12.84,1020.8,1\nB,1.6,0.68,17.4,100,n/a,1000.36,0\n');
  const cloud = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'publisher-test' });
  t.after(() => cloud.endAsync());
  await cloud.subscribeAsync('modelserve/weather/predict', { qos: 1 });
  const got: unknown[] = [];
  cloud.on('message', (_topic, payload) => got.push(JSON.parse(payload.toString())));
  const p = run(['node', 'examples/weather-station/publisher.mjs', '--url', broker.url, '--csv', csv, '--count', '2'], {});
  assert.equal(await p.exited, 0, p.output());
  await until(() => got.length === 2, 10_000, () => JSON.stringify(got));
  assert.deepEqual(got, [
    { temp_c: 7.7, humidity: 0.91, wind_bearing_degree: 134, visibility_km: 12.84, pressure_millibars: 1020.8, current_weather_condition: 1 },
    { temp_c: 1.6, humidity: 0.68, wind_speed_kmph: 17.4, wind_bearing_degree: 100, visibility_km: 'n/a', pressure_millibars: 1000.36, current_weather_condition: 0 },
  ]);
  // --rate 0 published a reading every millisecond (setInterval's period for Infinity); an unreachable broker was a stack trace.
  const zero = run(['node', 'examples/weather-station/publisher.mjs', '--url', broker.url, '--rate', '0'], {});
  assert.equal(await zero.exited, 2);
  assert.match(zero.output(), /^publisher: --rate 0: give readings per second, more than 0 and at most 1000\n$/);
  const away = run(['node', 'examples/weather-station/publisher.mjs', '--url', 'mqtt://127.0.0.1:1'], {});
  assert.equal(await away.exited, 1);
  assert.match(away.output(), /^publisher: cannot connect to mqtt:\/\/127\.0\.0\.1:1: .*ECONNREFUSED.*\n$/);
});
