// A real Prometheus server (Debian's /usr/bin/prometheus) scrapes /metrics every second; the test
// queries modelserve_requests_total through Prometheus' HTTP API. Bounded: ≤ 30 s, loopback only.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/server.js';
import { EXAMPLES, tempDir } from '../helpers/paths.js';
import { call } from '../helpers/http.js';
import { freePort } from '../helpers/net.js';

const PROMETHEUS = '/usr/bin/prometheus';
const ROW = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };
const KEY = 'prometheus-scrape-key-0123456789';

let server: RunningServer;
let prom: ChildProcess | undefined;
let promLog = '';


before(async () => {
  // Auth on, /metrics protected: Prometheus authenticates with the key as a bearer token.
  server = await startServer({ repo: EXAMPLES, port: 0, workers: 1, app: { auth: { keys: [KEY] } } });
});
after(async () => {
  if (prom && prom.exitCode === null) {
    const exited = new Promise((resolve) => prom!.once('exit', resolve));
    prom.kill('SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
    if (prom.exitCode === null) prom.kill('SIGKILL');
  }
  await server?.shutdown();
});

test('Prometheus scrapes /metrics and answers a query on modelserve_requests_total', { skip: !existsSync(PROMETHEUS) && 'prometheus is not installed', timeout: 30_000 }, async () => {
  const dir = tempDir('modelserve-prom-');
  writeFileSync(join(dir, 'key'), KEY);
  writeFileSync(join(dir, 'prometheus.yml'), `global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: modelserve
    metrics_path: /metrics
    authorization:
      type: Bearer
      credentials_file: ${join(dir, 'key')}
    static_configs:
      - targets: ['127.0.0.1:${server.port}']
`);
  // All 5 counted before Prometheus starts: its first sample is the whole count (started first, a scrape could land mid-way).
  for (let i = 0; i < 5; i++) assert.equal((await call(`${server.url}/predict`, { body: ROW, headers: { authorization: `Bearer ${KEY}` } })).status, 200);
  const promPort = await freePort();
  prom = spawn(PROMETHEUS, [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  prom.stdout!.on('data', (c: Buffer) => { promLog += c.toString(); });
  prom.stderr!.on('data', (c: Buffer) => { promLog += c.toString(); });

  const api = `http://127.0.0.1:${promPort}/api/v1`;
  const query = encodeURIComponent('sum(modelserve_requests_total{job="modelserve",model="weather",route="/predict",status="200"})');
  const deadline = Date.now() + 25_000;
  let value: number | undefined;
  let last = '';
  while (Date.now() < deadline && prom.exitCode === null) {
    try {
      const res = await call(`${api}/query?query=${query}`);
      last = res.text;
      const result = res.body?.data?.result as Array<{ value: [number, string] }> | undefined;
      if (res.status === 200 && result && result.length > 0 && Number(result[0]!.value[1]) > 0) {
        value = Number(result[0]!.value[1]);
        break;
      }
    } catch (err) {
      last = String(err); // not listening yet
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  assert.equal(value, 5, `no sample from Prometheus; last answer: ${last}\nprometheus log tail:\n${promLog.slice(-2000)}`);

  // The target is up and was scraped with the key (a 401 would make up == 0).
  const up = await call(`${api}/query?query=${encodeURIComponent('up{job="modelserve"}')}`);
  assert.equal(up.body.data.result[0].value[1], '1');
  // A histogram is usable in PromQL as dashboards use it.
  const p99 = await call(`${api}/query?query=${encodeURIComponent('histogram_quantile(0.99, sum by (le) (modelserve_request_duration_seconds_bucket{route="/predict"}))')}`);
  assert.equal(p99.status, 200);
  assert.ok(Number(p99.body.data.result[0].value[1]) > 0);
});
