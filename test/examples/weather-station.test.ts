// examples/weather-station: the README's one command starts mosquitto, modelserve, the station and
// the cloud subscriber; readings become predictions on the dashboard and CloudEvents in the cloud;
// Ctrl-C (SIGINT) stops everything. The screenshot variant makes a PNG (into a temp dir here).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
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
