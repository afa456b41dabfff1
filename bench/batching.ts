// Dynamic batching benchmark: many concurrent 1-row requests for svc.onnx through a Batcher over
// the worker pool, batching on vs off (each request its own run), plus an overload burst.
// Usage: node dist/bench/batching.js [--seconds 2] [--rounds 3] [--quick] [--no-write]
// (or via `npm run bench`, which calls main()). Bounded: ~30 s (--quick ~5 s). Everything runs in
// this process and its worker threads; no network.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Batcher, type BatchInfo } from '../src/batching/batcher.js';
import { ModelServeError } from '../src/errors.js';
import { defaultWorkerCount } from '../src/workers/cpu.js';
import { WorkerPoolRuntime } from '../src/workers/pool.js';
import { machineLine, writeSection, median } from './report.js';
import { numberArg, sharedDir } from './procs.js';
import { join } from 'node:path';

const SVC = join(sharedDir(), 'seed', 'svc.onnx');
const callers = 64;
let seconds = 2;

const scaler = JSON.parse(readFileSync(join(sharedDir(), 'seed', 'model-scaler.json'), 'utf8')) as { mean: number[]; scale: number[] };
const rows: number[][] = readFileSync(join(sharedDir(), 'seed', 'sample_inference_data.csv'), 'utf8')
  .trim()
  .split('\n')
  .slice(1, 2001)
  .map((line) => line.split(',').slice(-8, -1).map((v, j) => (Number(v) - scaler.mean[j]) / scaler.scale[j]));

const workers = defaultWorkerCount();
let pool: WorkerPoolRuntime;

/** One row per request here: a batch's items are its rows, one label each. */
async function runBatch(items: number[][], n: number): Promise<number[]> {
  const batch = items;
  void n;
  const data = new Float32Array(batch.length * 7);
  batch.forEach((r, i) => data.set(r, i * 7));
  const out = await pool.run('svc', { float_input: { type: 'float32', dims: [batch.length, 7], data } });
  return Array.from(out.label.data as BigInt64Array, Number);
}

interface Result { reqPerSec: number; p50: number; p99: number; meanBatch: number; cpuUsPerReq: number }

async function closedLoop(enabled: boolean): Promise<Result> {
  const infos: BatchInfo[] = [];
  const b = new Batcher<number[], number>({
    enabled, maxBatchSize: 64, maxQueueDelayMs: 2, maxQueueRows: 100_000, timeoutMs: 0, concurrency: pool.parallelism, runBatch,
    onBatch: (i) => infos.push(i),
  });
  for (let i = 0; i < 200; i++) await b.submit(rows[i], 1);
  infos.length = 0;
  const lat: number[] = [];
  const end = performance.now() + seconds * 1000;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: callers }, async (_, c) => {
    let k = c;
    while (performance.now() < end) {
      const s = performance.now();
      await b.submit(rows[k++ % rows.length], 1);
      lat.push(performance.now() - s);
    }
  }));
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  await b.drain();
  lat.sort((x, y) => x - y);
  return {
    reqPerSec: lat.length / elapsed,
    p50: lat[Math.floor(lat.length * 0.5)],
    p99: lat[Math.floor(lat.length * 0.99)],
    meanBatch: infos.reduce((s, i) => s + i.rows, 0) / Math.max(1, infos.length),
    cpuUsPerReq: (cpu.user + cpu.system) / lat.length,
  };
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  const arg = (name: string, dflt: number): number => numberArg(argv, name, dflt);
  const quick = argv.includes('--quick');
  seconds = arg('--seconds', quick ? 0.5 : 2);
  const rounds = arg('--rounds', quick ? 1 : 3);
  pool = new WorkerPoolRuntime({ workers, intraOpThreads: 1, interOpThreads: 1 });
  await pool.load([{ name: 'svc', path: SVC, bytes: new Uint8Array(readFileSync(SVC)) }]);
  const samples: Record<'on' | 'off', Result[]> = { on: [], off: [] };
  for (let r = 0; r < rounds; r++) {
    const order: Array<'on' | 'off'> = r % 2 === 0 ? ['on', 'off'] : ['off', 'on'];
    for (const mode of order) {
      const res = await closedLoop(mode === 'on');
      samples[mode].push(res);
      console.log(`round ${r + 1} batching ${mode}: ${res.reqPerSec.toFixed(0)} req/s, mean batch ${res.meanBatch.toFixed(1)}`);
    }
  }
  const med = (mode: 'on' | 'off', k: keyof Result): number => median(samples[mode].map((s) => s[k]));
  const ratio = median(samples.on.map((s, i) => s.reqPerSec / samples.off[i].reqPerSec));

  // Overload: a burst of 5,000 one-row requests at once against a queue limit of 1,000 rows.
  const burst = new Batcher<number[], number>({ enabled: true, maxBatchSize: 64, maxQueueDelayMs: 2, maxQueueRows: 1000, timeoutMs: 0, concurrency: pool.parallelism, runBatch });
  const tb = performance.now();
  let rejected = 0;
  const done: number[] = [];
  await Promise.all(Array.from({ length: 5000 }, async (_, i) => {
    const s = performance.now();
    try {
      await burst.submit(rows[i % rows.length], 1);
      done.push(performance.now() - s);
    } catch (err) {
      if (!(err instanceof ModelServeError) || err.code !== 'MS_ERR_OVERLOADED') throw err;
      rejected++;
    }
  }));
  const burstMs = performance.now() - tb;
  done.sort((x, y) => x - y);
  await pool.close();

  const f = (n: number, d = 0): string => n.toFixed(d);
  const md = [
    `Command: \`node dist/bench/batching.js --seconds ${seconds} --rounds ${rounds}\`${quick ? ' (--quick: smoke run, noisy)' : ''} — ${machineLine()}`,
    '',
    `svc.onnx on ${workers} worker thread(s), ${callers} concurrent callers each sending 1-row requests back to back through a Batcher (maxBatchSize 64, maxQueueDelayMs 2, concurrency = the pool's parallelism: two runs in flight per worker), ${seconds} s per cell, medians over ${rounds} interleaved rounds. CPU per request is this process's CPU time (main thread + workers) per completed request.`,
    '',
    '| batching | requests/s | p50 ms | p99 ms | mean rows per run | CPU µs per request |',
    '|---|---|---|---|---|---|',
    `| on | ${f(med('on', 'reqPerSec'))} | ${f(med('on', 'p50'), 2)} | ${f(med('on', 'p99'), 2)} | ${f(med('on', 'meanBatch'), 1)} | ${f(med('on', 'cpuUsPerReq'), 1)} |`,
    `| off (each request its own run) | ${f(med('off', 'reqPerSec'))} | ${f(med('off', 'p50'), 2)} | ${f(med('off', 'p99'), 2)} | ${f(med('off', 'meanBatch'), 1)} | ${f(med('off', 'cpuUsPerReq'), 1)} |`,
    '',
    `Batching on / off throughput: ${f(ratio, 2)}× (median of per-round ratios).`,
    '',
    `Overload: 5,000 one-row requests submitted at once, maxQueueRows 1,000 → ${rejected} rejected at once (submit returns an already-rejected MS_ERR_OVERLOADED promise), ${done.length} served (p50 ${f(done[Math.floor(done.length / 2)] ?? 0, 1)} ms, max ${f(done[done.length - 1] ?? 0, 1)} ms); whole burst ${f(burstMs)} ms.`,
  ].join('\n');
  console.log(md);
  if (!argv.includes('--no-write')) writeSection('batching', md);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = await main();
