// The load tester against a real modelserve server: `node bin/modelserve.js serve examples`
// spawned on a free port, load-tested through the CLI (spawned too).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { RunResult } from '../../src/loadtest/types.js';
import { BIN, REPO, runCli } from './helpers.js';
import { freePort } from '../helpers/net.js';

const AVAILABLE = existsSync(join(REPO, 'dist/src/http/app.js')) && existsSync(join(REPO, 'dist/src/cli/serve.js')) && existsSync(join(REPO, 'examples/weather'));
let child: ChildProcess | null = null;
let base = '';


before(async () => {
  if (!AVAILABLE) return;
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  child = spawn(process.execPath, [BIN, 'serve', 'examples', '--port', String(port), '--log-level', 'warn'], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const res = await fetch(`${base}/readyz`);
      if (res.status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`modelserve did not become ready: ${stderr}`);
    await new Promise((r) => setTimeout(r, 200));
  }
});

after(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGTERM');
    const t = setTimeout(() => child!.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
  }
});

const skip = AVAILABLE ? false : 'modelserve serve is not built (dist/src/http/app.js, dist/src/cli/serve.js)';

test('closed model with bodies from the served model\'s examples (GET /models/weather)', { skip }, async () => {
  const r = await runCli(['loadtest', base, '--model-examples', 'weather', '-u', '4', '-n', '300', '--json', '-q', '--threshold', 'errors<1%', '--threshold', 'p99<2s']);
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout) as RunResult;
  assert.equal(res.config.url, `${base}/models/weather/predict`);
  assert.equal(res.requests, 300);
  assert.equal(res.statusCounts['200'], 300);
  assert.match(res.config.bodySource, /examples of model 'weather'/);
});

test('open model with the example sample file; a strict latency threshold fails with exit 3', { skip }, async () => {
  const r = await runCli(['loadtest', `${base}/predict`, '--body', 'examples/weather/samples/valid.json', '--body-order', 'random', '--rate', '100', '-d', '2s', '--json', '-q', '--threshold', 'p50<1us']);
  assert.equal(r.code, 3, r.stderr);
  const res = JSON.parse(r.stdout) as RunResult;
  assert.equal(res.config.model, 'open');
  assert.ok(res.requests >= 190 && res.requests <= 201, `${res.requests}`);
  assert.equal(res.failures, 0);
  assert.equal(res.thresholds![0]!.ok, false);
});

test('invalid bodies are counted as 422 failures', { skip }, async () => {
  const r = await runCli(['loadtest', `${base}/predict`, '--data', '{"temp_c": "warm"}', '-n', '20', '--json', '-q']);
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout) as RunResult;
  assert.equal(res.statusCounts['422'], 20);
  assert.equal(res.failures, 20);
  assert.equal(res.errorRate, 1);
});

test('measure: 100 sequential requests against the real model', { skip }, async () => {
  const r = await runCli(['loadtest', 'measure', `${base}/predict`, '--body', 'examples/weather/samples/valid.json']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^100 sequential requests to POST .*\/predict: 0 failed\nmedian: [\d.]+ ms\np95: +[\d.]+ ms\nmax: +[\d.]+ ms/);
});
