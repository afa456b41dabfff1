// Pipeline overhead: a two-step local sequence (the book's scaler -> svc.onnx) against the client
// calling the two models itself (two HTTP requests, renaming between them), and an ensemble of
// two (weather SVM + gradient-boosted trees) against the client calling both at once and
// averaging. Same server, same run, interleaved rounds; closed loop over keep-alive connections.
// Usage: node dist/bench/pipelines.js [--seconds 3] [--rounds 3] [--concurrency 16] [--quick] [--no-write]
// Bounded: ~1 min (--quick ~10 s). Needs /usr/bin/python3 with python3-onnx (builds the book's scaler).
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Pool } from 'undici';
import { startServer, type RunningServer } from '../src/server.js';
import { machineLine, writeSection, median } from './report.js';
import { numberArg, removeOnExit, ROOT, sharedDir } from './procs.js';

const ROW = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };
const BODY = JSON.stringify(ROW);

interface Cell { reqPerSec: number; p50: number; p99: number }

async function post(pool: Pool, path: string, body: string): Promise<unknown> {
  const res = await pool.request({ path, method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${path}: ${res.statusCode} ${text}`);
  return JSON.parse(text);
}

/** `concurrency` callers doing `op` back to back for `seconds`. */
async function closedLoop(op: () => Promise<unknown>, seconds: number, concurrency: number): Promise<Cell> {
  for (let i = 0; i < 50; i++) await op();
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      const s = performance.now();
      await op();
      latencies.push(performance.now() - s);
    }
  }));
  const elapsed = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return { reqPerSec: latencies.length / elapsed, p50: latencies[Math.floor(latencies.length / 2)]!, p99: latencies[Math.floor(latencies.length * 0.99)]! };
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  const quick = argv.includes('--quick');
  const seconds = numberArg(argv, '--seconds', quick ? 1 : 3);
  const rounds = numberArg(argv, '--rounds', quick ? 1 : 3);
  const concurrency = numberArg(argv, '--concurrency', 16);
  // The book's example as its README says: svc.onnx copied in, the scaler built from model-scaler.json.
  const tmp = mkdtempSync(join(tmpdir(), 'modelserve-bench-pipelines-'));
  removeOnExit(tmp);
  const book = join(tmp, 'book');
  cpSync(join(ROOT, 'examples', 'pipelines', 'book'), book, { recursive: true });
  copyFileSync(join(sharedDir(), 'seed', 'svc.onnx'), join(book, 'book-svc', 'svc.onnx'));
  execFileSync('/usr/bin/python3', [join(book, 'build_scaler.py'), join(sharedDir(), 'seed', 'model-scaler.json')], { stdio: 'pipe' });
  const servers: RunningServer[] = [];
  try {
    const bookServer = await startServer({ repo: book, port: 0, logger: false });
    servers.push(bookServer);
    const examples = await startServer({ repo: join(ROOT, 'examples', 'pipelines'), port: 0, logger: false });
    servers.push(examples);
    const bookPool = new Pool(bookServer.url, { connections: concurrency * 2 });
    const exPool = new Pool(examples.url, { connections: concurrency * 2 });

    const ops: Record<string, () => Promise<unknown>> = {
      'sequence (pipeline)': () => post(bookPool, '/models/book-weather/predict', BODY),
      'sequence (client calls both)': async () => {
        const scaled = (await post(bookPool, '/models/book-scaler/predict', BODY)) as Record<string, number>;
        const renamed = Object.fromEntries(Object.entries(scaled).map(([k, v]) => [k.replace(/_scaled$/, ''), v]));
        return post(bookPool, '/models/book-svc/predict', JSON.stringify(renamed));
      },
      'ensemble (pipeline)': () => post(exPool, '/models/weather-ensemble/predict', BODY),
      'ensemble (client calls both)': async () => {
        const [a, b] = (await Promise.all([post(exPool, '/models/weather/predict', BODY), post(exPool, '/models/weather-gb/predict', BODY)])) as Array<{ rain_probability: number }>;
        return (a!.rain_probability + b!.rain_probability) / 2;
      },
      'one model (weather)': () => post(exPool, '/models/weather/predict', BODY),
    };
    const names = Object.keys(ops);
    const samples = new Map<string, Cell[]>(names.map((n) => [n, []]));
    for (let r = 0; r < rounds; r++) {
      for (const name of r % 2 === 0 ? names : [...names].reverse()) {
        const cell = await closedLoop(ops[name]!, seconds, concurrency);
        samples.get(name)!.push(cell);
        console.log(`round ${r + 1} ${name}: ${cell.reqPerSec.toFixed(0)} req/s, p99 ${cell.p99.toFixed(2)} ms`);
      }
    }
    await Promise.all([bookPool.close(), exPool.close()]);
    const med = (name: string, k: keyof Cell) => median(samples.get(name)!.map((c) => c[k]));
    const ratio = (a: string, b: string, k: keyof Cell) => median(samples.get(a)!.map((c, i) => c[k] / samples.get(b)![i]![k]));
    const row = (name: string) => `| ${name} | ${med(name, 'reqPerSec').toFixed(0)} | ${med(name, 'p50').toFixed(2)} | ${med(name, 'p99').toFixed(2)} |`;
    const md = [
      `Command: \`node dist/bench/pipelines.js --seconds ${seconds} --rounds ${rounds} --concurrency ${concurrency}\`${quick ? ' (--quick: smoke run, noisy)' : ''} — ${machineLine()}`,
      '',
      `One modelserve process (default workers) per repository, in this process; ${concurrency} closed-loop callers over keep-alive connections, one-row requests, ${seconds} s per cell, medians over ${rounds} interleaved rounds. "Client calls both" is what a client does without pipelines: the two models' HTTP requests (in turn for the sequence, renaming the scaler's answer; at once for the ensemble, averaging) — one operation per row, like the pipeline's one request.`,
      '',
      '| operation (one row) | operations/s | p50 ms | p99 ms |',
      '|---|---|---|---|',
      ...names.map(row),
      '',
      `- Two-step local sequence vs the client calling both: **${ratio('sequence (pipeline)', 'sequence (client calls both)', 'reqPerSec').toFixed(2)}×** the throughput, p99 ratio ${ratio('sequence (pipeline)', 'sequence (client calls both)', 'p99').toFixed(2)} (the steps run through the core's batchers without an HTTP hop).`,
      `- Ensemble of two vs the client calling both: **${ratio('ensemble (pipeline)', 'ensemble (client calls both)', 'reqPerSec').toFixed(2)}×** the throughput, p99 ratio ${ratio('ensemble (pipeline)', 'ensemble (client calls both)', 'p99').toFixed(2)}.`,
      `- Cost of the pipeline over one model: the ensemble runs two models, so ${ratio('ensemble (pipeline)', 'one model (weather)', 'reqPerSec').toFixed(2)}× a single model's throughput.`,
      '',
      'The canary split (±2 points over 5,000 requests) and the shadow checks (a shadow that sleeps 1 s or fails every request leaves the served p99 within 3× the same run\'s baseline) are measured by `test/traffic/traffic.test.ts`.',
    ].join('\n');
    console.log(`\n${md}`);
    if (!argv.includes('--no-write')) writeSection('pipelines', `## Pipelines: overhead of a local sequence and an ensemble\n\n${md}`);
    return 0;
  } finally {
    await Promise.all(servers.map((s) => s.shutdown()));
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then((code) => { process.exitCode = code; }, (err: unknown) => { console.error(err); process.exitCode = 1; });
}
