// Many models under a memory budget: 200 models generated at run time (100 small, 100 large
// two-layer perceptrons over the weather example's 7 fields) served with --max-loaded-models 20.
// Records memory at rest, under a load that rotates over all 200 models, per-model memory of each
// size, and the first-request latency of a model that is not loaded (against a loaded one's, same run).
//   node dist/bench/models.js [--models 200] [--budget 20] [--seconds 20] [--no-write]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { request } from 'undici';
import onnxProto from 'onnx-proto';
import { CLI, freePort, numberArg, removeOnExit, rssMiB, sleep, startProc, waitForOutput, type Proc } from './procs.js';
import { machineLine, writeSection, median } from './report.js';

const onnx = onnxProto.onnx;
const FIELDS = ['temp_c', 'humidity', 'wind_speed_kmph', 'wind_bearing_degree', 'visibility_km', 'pressure_millibars', 'current_weather_condition'];
const ROW = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };
const BODY = JSON.stringify(ROW);

/** A 7 -> hidden -> 1 perceptron (MatMul, Relu, MatMul, Sigmoid) with seeded weights. */
function perceptron(hidden: number, seed: number): Uint8Array {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5) * 0.2;
  const tensor = (name: string, dims: number[]) => {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = rand();
    return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(data.buffer) };
  };
  const value = (name: string, dims: Array<number | string>) => ({
    name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'modelserve-bench',
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'perceptron',
      input: [value('x', ['N', 7])],
      output: [value('p', ['N', 1])],
      initializer: [tensor('w1', [7, hidden]), tensor('w2', [hidden, 1])],
      node: [
        { opType: 'MatMul', input: ['x', 'w1'], output: ['h'] },
        { opType: 'Relu', input: ['h'], output: ['r'] },
        { opType: 'MatMul', input: ['r', 'w2'], output: ['z'] },
        { opType: 'Sigmoid', input: ['z'], output: ['p'] },
      ],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

const CONFIG = `fields:
${FIELDS.map((f) => `  ${f}: { type: number, example: ${(ROW as Record<string, number>)[f]} }`).join('\n')}
inputs:
  x: { fields: [${FIELDS.join(', ')}] }
outputs:
  rain_probability: { from: p, column: 0 }
`;

interface Sizes { small: number; large: number }

/** Writes `count` models, half small and half large; names sort large first (l000…) then small (s000…). */
function writeRepository(root: string, count: number, hidden: Sizes, only?: 'small' | 'large'): { names: string[]; bytes: Sizes } {
  mkdirSync(root, { recursive: true });
  const names: string[] = [];
  const bytes: Sizes = { small: 0, large: 0 };
  for (let i = 0; i < count; i++) {
    const size: 'small' | 'large' = only ?? (i % 2 === 0 ? 'large' : 'small');
    const name = `${size[0]}${String(i).padStart(3, '0')}`;
    const model = perceptron(hidden[size], i + 1);
    bytes[size] = model.byteLength;
    mkdirSync(join(root, name));
    writeFileSync(join(root, name, 'model.onnx'), model);
    writeFileSync(join(root, name, 'model.yaml'), CONFIG);
    names.push(name);
  }
  return { names: names.sort(), bytes };
}

async function serve(repo: string, budget: number): Promise<{ proc: Proc; url: string; startMs: number }> {
  const port = await freePort();
  const t0 = performance.now();
  const proc = startProc(process.execPath, [CLI, 'serve', repo, '--port', String(port), '--grpc-port', '0', '--workers', '2', '--max-loaded-models', String(budget), '--log-level', 'warn']);
  await waitForOutput(proc, /modelserve: serving/, 120_000);
  return { proc, url: `http://127.0.0.1:${port}`, startMs: performance.now() - t0 };
}

async function predict(url: string, name: string): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  const res = await request(`${url}/models/${name}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY });
  await res.body.text();
  return { status: res.statusCode, ms: performance.now() - t0 };
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await request(`${url}/metrics`)).body.text();
  let total = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) total += Number(line.split(' ').pop());
  return total;
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))]!;
};

/** RSS settled: the median of a few readings a moment apart. */
async function settledRss(pid: number): Promise<number> {
  const readings: number[] = [];
  for (let i = 0; i < 5; i++) {
    readings.push(rssMiB(pid).rss);
    await sleep(200);
  }
  return median(readings);
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  const count = numberArg(argv, '--models', 200);
  const budget = numberArg(argv, '--budget', 20);
  const seconds = numberArg(argv, '--seconds', 20);
  const hidden: Sizes = { small: 16, large: numberArg(argv, '--large-hidden', 40_000) };
  const root = mkdtempSync(join(tmpdir(), 'modelserve-bench-models-'));
  removeOnExit(root);
  try {
    // Per-model memory, by size: budget-many models of one size loaded, against one model loaded.
    const perModel: Record<'small' | 'large', number> = { small: 0, large: 0 };
    for (const size of ['small', 'large'] as const) {
      const repo = join(root, `only-${size}`);
      writeRepository(repo, budget, hidden, size);
      const one = await serve(repo, 1);
      const rssOne = await settledRss(one.proc.pid);
      await one.proc.stop();
      const full = await serve(repo, budget);
      const rssFull = await settledRss(full.proc.pid);
      await full.proc.stop();
      perModel[size] = (rssFull - rssOne) / (budget - 1);
      console.log(`${size}: 1 loaded ${rssOne.toFixed(0)} MiB, ${budget} loaded ${rssFull.toFixed(0)} MiB -> ${perModel[size].toFixed(2)} MiB per model`);
    }

    const repo = join(root, 'all');
    const { names, bytes } = writeRepository(repo, count, hidden);
    const server = await serve(repo, budget);
    const pid = server.proc.pid;
    const atRest = await settledRss(pid);
    console.log(`${count} models, budget ${budget}: ready in ${(server.startMs / 1000).toFixed(1)} s, RSS at rest ${atRest.toFixed(0)} MiB`);

    // First request of a model that is not loaded vs a loaded one (sequential, same server).
    const loadedNames = names.slice(0, budget);
    const warm: number[] = [];
    for (let i = 0; i < 50; i++) warm.push((await predict(server.url, loadedNames[i % loadedNames.length]!)).ms);
    const cold: Record<'small' | 'large', number[]> = { small: [], large: [] };
    for (const size of ['small', 'large'] as const) {
      const unloaded = names.filter((n) => n.startsWith(size[0]!) && !loadedNames.includes(n)).slice(0, 10);
      for (const name of unloaded) {
        const r = await predict(server.url, name);
        if (r.status !== 200) throw new Error(`first request of ${name}: ${r.status}`);
        cold[size].push(r.ms);
      }
    }

    // A rotating load over all models: 4 concurrent clients, each walking the models in turn.
    const evictionsBefore = await metric(server.url, 'modelserve_model_evictions_total');
    let requests = 0;
    let failed = 0;
    let peak = 0;
    const rssSeries: number[] = [];
    const end = performance.now() + seconds * 1000;
    const sampler = setInterval(() => {
      const r = rssMiB(pid).rss;
      peak = Math.max(peak, r);
      rssSeries.push(r);
    }, 250);
    await Promise.all(Array.from({ length: 4 }, async (_, c) => {
      let k = c * 50;
      while (performance.now() < end) {
        const r = await predict(server.url, names[k++ % names.length]!);
        requests++;
        if (r.status !== 200) failed++;
      }
    }));
    clearInterval(sampler);
    const afterLoad = await settledRss(pid);
    const evictions = (await metric(server.url, 'modelserve_model_evictions_total')) - evictionsBefore;
    const loaded = await metric(server.url, 'modelserve_model_loaded');
    await server.proc.stop();
    console.log(`rotating load: ${requests} requests (${failed} failed), ${evictions} evictions, RSS median ${median(rssSeries).toFixed(0)} / peak ${peak.toFixed(0)} / after ${afterLoad.toFixed(0)} MiB, ${loaded} versions loaded at the end`);

    const md = `## Many models under a memory budget

\`node dist/bench/models.js\` (or \`npm run bench -- --only models\`) — ${machineLine()}

${count} models generated at run time (half small: a 7→${hidden.small}→1 perceptron, ${(bytes.small / 1024).toFixed(1)} KiB; half large: 7→${hidden.large}→1, ${(bytes.large / 2 ** 20).toFixed(2)} MiB), served by one process with \`--max-loaded-models ${budget} --workers 2\` (each loaded model has one onnxruntime session per worker). RSS is the whole process (main thread and workers).

| measure | value |
| --- | ---: |
| ready with ${budget} of ${count} models loaded | ${(server.startMs / 1000).toFixed(1)} s |
| RSS at rest | ${atRest.toFixed(0)} MiB |
| RSS under a load rotating over all ${count} models (median / peak / after) | ${median(rssSeries).toFixed(0)} / ${peak.toFixed(0)} / ${afterLoad.toFixed(0)} MiB |
| requests of the rotating load (4 clients, ${seconds} s), failed | ${requests}, ${failed} |
| evictions during it | ${evictions} |
| per-model memory, small (2 sessions) | ${perModel.small.toFixed(2)} MiB |
| per-model memory, large (2 sessions) | ${perModel.large.toFixed(2)} MiB |
| request to a loaded model, median / p90 | ${median(warm).toFixed(1)} / ${pct(warm, 0.9).toFixed(1)} ms |
| first request of an unloaded small model, median / max | ${median(cold.small).toFixed(0)} / ${Math.max(...cold.small).toFixed(0)} ms |
| first request of an unloaded large model, median / max | ${median(cold.large).toFixed(0)} / ${Math.max(...cold.large).toFixed(0)} ms |

Per-model memory is (RSS with ${budget} models of one size loaded − RSS with 1 loaded) / ${budget - 1}, from separate servers in the same run. The first request of an unloaded model pays for reading the file, one session per worker, the warm-up row and the eviction of the least recently used model (drained first); concurrent requests for it wait for that one load. Under the rotating load nearly every request needs a load, so it measures the budget's worst case: RSS stays bounded by the budget, not by the ${count} models.
`;
    if (!argv.includes('--no-write')) writeSection('models', md);
    console.log(md);
    return failed === 0 ? 0 : 1;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = await main();
