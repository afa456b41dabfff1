// Runtime benchmark: svc.onnx through InProcessRuntime, WorkerPoolRuntime (threads) and a minimal
// child-process pool, to choose threads vs processes by measurement (docs/runtime.md).
// Usage: node dist/bench/runtime.js [--seconds 2] [--rounds 3] [--quick] [--no-write]
// (or via `npm run bench`, which calls main()). Bounded: ~90 s (--quick ~15 s). Everything runs in
// this process and its workers/children; no network.
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { InProcessRuntime } from '../src/runtime/in-process.js';
import type { InferenceRuntime, ModelSignature, ModelSource, NamedTensors, TensorData } from '../src/runtime/types.js';
import { defaultWorkerCount } from '../src/workers/cpu.js';
import { WorkerPoolRuntime } from '../src/workers/pool.js';
import { machineLine, writeSection, median } from './report.js';
import { numberArg, sharedDir } from './procs.js';
import { join } from 'node:path';

const ROOT = new URL('../../', import.meta.url);
const SVC = join(sharedDir(), 'seed', 'svc.onnx');
const TYPES = fileURLToPath(new URL('test/fixtures/runtime/types.onnx', ROOT));
let seconds = 2;

function source(name: string, path: string): ModelSource {
  return { name, path, bytes: new Uint8Array(readFileSync(path)) };
}

/** Real scaled rows from the book's sample data. */
function rows(n: number): Float32Array {
  const scaler = JSON.parse(readFileSync(join(sharedDir(), 'seed', 'model-scaler.json'), 'utf8')) as { mean: number[]; scale: number[] };
  const lines = readFileSync(join(sharedDir(), 'seed', 'sample_inference_data.csv'), 'utf8').trim().split('\n').slice(1);
  const out = new Float32Array(n * 7);
  for (let i = 0; i < n; i++) {
    const f = lines[i % lines.length].split(',').slice(-8, -1);
    for (let j = 0; j < 7; j++) out[i * 7 + j] = (Number(f[j]) - scaler.mean[j]) / scaler.scale[j];
  }
  return out;
}

/** Minimal child-process pool with the same run() shape (bench only). */
class ChildPool implements InferenceRuntime {
  readonly parallelism: number;
  readonly workerThreads = 0; // processes, not threads
  private children: Array<{ proc: ChildProcess; pending: Map<number, (o: NamedTensors) => void> }> = [];
  private nextId = 1;
  async unload(): Promise<void> {
    /* the benchmark never unloads */
  }
  constructor(n: number) {
    this.parallelism = n;
    for (let i = 0; i < n; i++) {
      const proc = fork(fileURLToPath(new URL('./runtime-child.js', import.meta.url)), [], { serialization: 'advanced' });
      const child = { proc, pending: new Map<number, (o: NamedTensors) => void>() };
      proc.on('message', (m: { type: string; id: number; outputs: NamedTensors }) => {
        if (m.type === 'result') {
          child.pending.get(m.id)?.(m.outputs);
          child.pending.delete(m.id);
        }
      });
      this.children.push(child);
    }
  }
  async load(models: ModelSource[]): Promise<Record<string, ModelSignature>> {
    await Promise.all(this.children.map((c) => new Promise<void>((resolve) => {
      c.proc.once('message', () => resolve());
      c.proc.send({ type: 'load', models });
    })));
    return {};
  }
  run(model: string, feeds: NamedTensors): Promise<NamedTensors> {
    let best = this.children[0];
    for (const c of this.children) if (c.pending.size < best.pending.size) best = c;
    const id = this.nextId++;
    return new Promise((resolve) => {
      best.pending.set(id, resolve);
      best.proc.send({ type: 'run', id, model, feeds });
    });
  }
  /** Resident memory of the children, bytes (Linux /proc). */
  childRss(): number {
    let total = 0;
    for (const c of this.children) {
      try {
        total += Number(readFileSync(`/proc/${c.proc.pid}/statm`, 'utf8').split(' ')[1]) * 4096;
      } catch {
        /* not Linux */
      }
    }
    return total;
  }
  /** CPU time of the children so far, ms (Linux /proc, 10 ms ticks). */
  childCpuMs(): number {
    let total = 0;
    for (const c of this.children) {
      try {
        const fields = readFileSync(`/proc/${c.proc.pid}/stat`, 'utf8').split(') ')[1].split(' ');
        total += (Number(fields[11]) + Number(fields[12])) * 10;
      } catch {
        /* not Linux */
      }
    }
    return total;
  }
  async close(): Promise<void> {
    await Promise.all(this.children.map((c) => new Promise<void>((resolve) => {
      c.proc.once('exit', () => resolve());
      c.proc.disconnect();
    })));
  }
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

interface Load { rowsPerSec: number; p50: number; p99: number; elu: number; cpuUsPerRow: number }

/** Closed loop: `concurrency` callers each running batches of `batch` rows for `seconds`. */
async function closedLoop(rt: InferenceRuntime, batch: number, concurrency: number): Promise<Load> {
  const data = rows(batch);
  const feed = (): NamedTensors => ({ float_input: { type: 'float32', dims: [batch, 7], data } as TensorData });
  for (let i = 0; i < 20; i++) await rt.run('svc', feed());
  const lat: number[] = [];
  const end = performance.now() + seconds * 1000;
  const elu0 = performance.eventLoopUtilization();
  const cpu = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000 + (rt instanceof ChildPool ? rt.childCpuMs() : 0);
  };
  const cpu0 = cpu();
  const t0 = performance.now();
  let runs = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      const s = performance.now();
      await rt.run('svc', feed());
      lat.push(performance.now() - s);
      runs++;
    }
  }));
  const elapsed = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const cpuMs = cpu() - cpu0;
  return { cpuUsPerRow: (cpuMs * 1000) / (runs * batch), rowsPerSec: (runs * batch) / elapsed, p50: pct(lat, 50), p99: pct(lat, 99), elu: performance.eventLoopUtilization(elu0).utilization };
}

async function coldStart(make: () => InferenceRuntime): Promise<number> {
  const t0 = performance.now();
  const rt = make();
  await rt.load([source('svc', SVC), source('types', TYPES)]);
  await rt.run('svc', { float_input: { type: 'float32', dims: [1, 7], data: rows(1) } });
  const ms = performance.now() - t0;
  await rt.close();
  return ms;
}

const workers = defaultWorkerCount();
const variants: Array<{ name: string; make: () => InferenceRuntime }> = [
  { name: 'in-process (main thread)', make: () => new InProcessRuntime({ intraOpThreads: 1, interOpThreads: 1 }) },
  { name: `worker threads ×${workers}`, make: () => new WorkerPoolRuntime({ workers, intraOpThreads: 1, interOpThreads: 1 }) },
  { name: `child processes ×${workers}`, make: () => new ChildPool(workers) },
];

// `--rss-of <i>`: (run in a fresh process by the main bench) load variant i and print its resident memory.
async function printRss(index: number): Promise<void> {
  const rt = variants[index].make();
  await rt.load([source('svc', SVC), source('types', TYPES)]);
  console.log(JSON.stringify({ rss: process.memoryUsage().rss + (rt instanceof ChildPool ? rt.childRss() : 0) }));
  await rt.close();
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  const arg = (name: string, dflt: number): number => numberArg(argv, name, dflt);
  const quick = argv.includes('--quick');
  seconds = arg('--seconds', quick ? 0.5 : 2);
  const rssMiB: Record<string, number> = {};
  variants.forEach((v, i) => {
    const out = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--rss-of', String(i)], { encoding: 'utf8' });
    rssMiB[v.name] = (JSON.parse(out.stdout.trim().split('\n').pop() ?? '{}') as { rss: number }).rss / 2 ** 20;
  });

  const rounds = arg('--rounds', quick ? 1 : 3);
  const lines: string[] = [];
  const fmt = (n: number, d = 0): string => n.toFixed(d);
  lines.push(`Command: \`node dist/bench/runtime.js --seconds ${seconds} --rounds ${rounds}\`${quick ? ' (--quick: smoke run, noisy)' : ''} — ${machineLine()}`, '');
  lines.push(
    `svc.onnx (SVM, 6,760 support vectors), real scaled rows. Closed loop, ${seconds} s per cell; the variants are interleaved over ${rounds} rounds and each figure is the median over the rounds (the machine is shared: absolute numbers move between runs, compare within a table). Latency is per run() call; ELU = event-loop utilisation of the main thread; CPU per row (process + children CPU time / rows) shows the overhead of each variant independently of how many CPUs the neighbours left free.`,
    '',
  );
  lines.push('| runtime | batch 64 × 8 callers: rows/s | p50 ms | p99 ms | main ELU | batch 1 × 8 callers: runs/s | p50 ms | p99 ms | batch 1 × 1 caller: p50 ms | CPU µs per row, batch 64 / batch 1 (all threads and children) | RSS after loading 2 models (MiB, fresh process, incl. children) |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|');
  type Cell = { big: Load; small: Load; single: Load };
  const samples: Record<string, Cell[]> = {};
  for (let r = 0; r < rounds; r++) {
    // Rotate the order each round so no variant always runs in the same slot of a noisy period.
    for (const v of [...variants.slice(r % variants.length), ...variants.slice(0, r % variants.length)]) {
      const rt = v.make();
      await rt.load([source('svc', SVC)]);
      const cell = { big: await closedLoop(rt, 64, 8), small: await closedLoop(rt, 1, 8), single: await closedLoop(rt, 1, 1) };
      await rt.close();
      (samples[v.name] ??= []).push(cell);
      console.log(`round ${r + 1} ${v.name}: ${fmt(cell.big.rowsPerSec)} rows/s (batch 64)`);
    }
  }
  const med = (name: string, k: keyof Cell, f: keyof Load): number => median(samples[name].map((c) => c[k][f]));
  for (const v of variants) {
    const n = v.name;
    lines.push(`| ${n} | ${fmt(med(n, 'big', 'rowsPerSec'))} | ${fmt(med(n, 'big', 'p50'), 2)} | ${fmt(med(n, 'big', 'p99'), 2)} | ${fmt(med(n, 'big', 'elu'), 2)} | ${fmt(med(n, 'small', 'rowsPerSec'))} | ${fmt(med(n, 'small', 'p50'), 3)} | ${fmt(med(n, 'small', 'p99'), 3)} | ${fmt(med(n, 'single', 'p50'), 3)} | ${fmt(med(n, 'big', 'cpuUsPerRow'), 1)} / ${fmt(med(n, 'small', 'cpuUsPerRow'), 1)} | ${fmt(rssMiB[n])} |`);
  }
  // Ratios per round (same conditions), then the median ratio.
  const ratio = (name: string): number => median(samples[name].map((c, i) => c.big.rowsPerSec / samples[variants[0].name][i].big.rowsPerSec));
  lines.push('', `Batch-64 throughput vs in-process (median of per-round ratios): ${variants.slice(1).map((v) => `${v.name} ${fmt(ratio(v.name), 2)}×`).join('; ')}.`, '');

  const cold: string[] = [];
  for (const v of variants) {
    const ms: number[] = [];
    for (let i = 0; i < (quick ? 1 : 5); i++) ms.push(await coldStart(v.make));
    cold.push(`${v.name} ${fmt(median(ms))} ms`);
  }
  lines.push(`Cold start (construct → load svc.onnx + types.onnx with warm-up → first run done; median of ${quick ? 1 : 5}): ${cold.join('; ')}.`);
  console.log(lines.join('\n'));
  if (!argv.includes('--no-write')) writeSection('runtime', lines.join('\n'));
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rssOf = process.argv.indexOf('--rss-of');
  if (rssOf > 0) await printRss(Number(process.argv[rssOf + 1]));
  else process.exitCode = await main();
}
