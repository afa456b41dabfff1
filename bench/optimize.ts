// In-process throughput of the optimisation pass (src/optimize): original vs compiled graph on the
// book's svc.onnx and the weather example at batch 1/16/64 (one intra-op thread = one worker, and
// all cores), plus the tree-ensemble finding on the loan example (onnxruntime's
// TreeEnsembleClassifier vs Hummingbird-style GEMM and perfect-tree-traversal graphs).
// Writes the BENCHMARKS.md section "optimize". Bounded: ~40 s (--quick ~10 s). Run: node dist/bench/optimize.js
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-node';
import { optimizeModel } from '../src/optimize/index.js';
import { DT, decodeModel, encodeModel } from '../src/optimize/proto.js';
import { treeEnsembleGemmModel, treeEnsembleOnlyModel, treeEnsembleTraversalModel } from '../src/optimize/trees.js';
import { machineLine, writeSection, median } from './report.js';
import { sharedDir } from './procs.js';

const REPO = resolve(fileURLToPath(import.meta.url), '../../..');
// Resolved when the bench runs (not at import), so a missing ../shared is reported by the runner.
const shared = (): string => sharedDir();
let SLICE_MS = 200;
let ROUNDS = 5;
const BATCHES = [1, 16, 64];

type Feed = (n: number) => Record<string, ort.Tensor>;

interface Variant {
  name: string;
  session: ort.InferenceSession;
}

/**
 * rows/s of each variant at batch n: ROUNDS interleaved time slices per variant, best slice kept
 * (interference from other processes only ever slows a slice down). With one intra-op thread,
 * session.run computes on this thread, so the rate is taken per CPU-second of the process
 * (process.cpuUsage) — robust when other processes share the cores; with more threads the
 * wall-clock rate is used (idle pool threads spin, so their CPU time is not work).
 */
async function measure(variants: Variant[], feed: Feed, n: number, cpuTime: boolean): Promise<number[]> {
  const f = feed(n);
  const samples: number[][] = variants.map(() => []);
  for (const v of variants) {
    const t0 = performance.now(); // warm-up: 100 ms
    while (performance.now() - t0 < 100) await v.session.run(f);
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < variants.length; i++) {
      let runs = 0;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      let t = t0;
      while (t - t0 < SLICE_MS) {
        await variants[i].session.run(f);
        runs++;
        t = performance.now();
      }
      const c = process.cpuUsage(c0);
      const seconds = cpuTime ? (c.user + c.system) / 1e6 : (t - t0) / 1000;
      samples[i].push((runs * n) / seconds);
    }
  }
  return samples.map((s) => Math.max(...s));
}

const fmt = (x: number): string => (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1));
const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;

async function table(title: string, make: (threads: number) => Promise<Variant[]>, feed: Feed, threads: number[], batches = BATCHES): Promise<{ md: string; ratios: Map<string, number> }> {
  const lines = [`**${title}**`, ''];
  const ratios = new Map<string, number>();
  for (const th of threads) {
    const variants = await make(th);
    const head = ['batch', ...variants.map((v) => `${v.name} rows/s`), ...variants.slice(1).map((v) => `${v.name} / ${variants[0].name}`)];
    lines.push(`intra-op threads: ${th} (${th === 1 ? 'rows per CPU-second of the calling thread' : 'rows per wall-clock second'})`, '', `| ${head.join(' | ')} |`, `|${head.map(() => '---:').join('|')}|`);
    for (const n of batches) {
      const r = await measure(variants, feed, n, th === 1);
      lines.push(`| ${n} | ${r.map(fmt).join(' | ')} | ${r.slice(1).map((x) => ratio(x, r[0])).join(' | ')} |`);
      variants.slice(1).forEach((v, i) => ratios.set(`${v.name}@${n}@${th}`, r[i + 1] / r[0]));
    }
    lines.push('');
    await Promise.all(variants.map((v) => v.session.release()));
  }
  return { md: lines.join('\n'), ratios };
}

function sessionOptions(threads: number): ort.InferenceSession.SessionOptions {
  return { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' };
}

function sampleRows(): number[][] {
  const lines = readFileSync(resolve(shared(), 'seed/sample_inference_data.csv'), 'utf8').trim().split('\n').slice(1);
  return lines.map((l) => /^[^,]*,"[^"]*",(.*)$/.exec(l)![1].split(',').slice(0, 7).map(Number));
}

/**
 * Usage: node dist/bench/optimize.js [--quick] [--no-write]
 * --quick: 2 rounds of 60 ms slices (smoke run, ~10 s); --no-write: print only.
 */
export async function main(argv: string[] = []): Promise<number> {
  const quick = argv.includes('--quick');
  if (quick) {
    SLICE_MS = 60;
    ROUNDS = 2;
  }
  const started = performance.now();
  const allCores = cpus().length;
  const md: string[] = [
    '## Optimisation pass (SVM → dense tensor ops)',
    '',
    `Command: \`node dist/bench/optimize.js\` · ${machineLine()}`,
    '',
    `In-process onnxruntime-node ${ort.env.versions.common}, \`session.run\` in a loop; one intra-op thread = one server worker (rows per CPU-second, so other processes on this shared machine do not skew it), plus an all-cores table (wall clock, load average at start ${loadavg()[0].toFixed(1)}). Each cell is the best of ${ROUNDS} interleaved ${SLICE_MS} ms slices after a 100 ms warm-up (variants alternate, so machine noise hits all; other processes can only slow a slice down). "compiled" is \`optimizeModel(bytes)\` with its defaults (RBF in float32 with sign-interleaved support vectors; exact Platt tail); "mixed" is \`{ rbf: 'mixed' }\` (coefficient dot in float64).`,
    '',
  ];
  const rows = sampleRows();

  // --- svc.onnx ---
  const svcBytes = new Uint8Array(readFileSync(resolve(shared(), 'seed/svc.onnx')));
  const times: number[] = [];
  let svcResult = optimizeModel(svcBytes);
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    svcResult = optimizeModel(svcBytes);
    times.push(performance.now() - t0);
  }
  const svcMixed = optimizeModel(svcBytes, { rbf: 'mixed' }).bytes;
  const sc = JSON.parse(readFileSync(resolve(shared(), 'seed/model-scaler.json'), 'utf8')) as { mean: number[]; scale: number[] };
  const scaled = new Float32Array(64 * 7);
  rows.slice(0, 64).forEach((r, i) => r.forEach((v, j) => (scaled[i * 7 + j] = (v - sc.mean[j]) / sc.scale[j])));
  const svcFeed: Feed = (n) => ({ float_input: new ort.Tensor('float32', scaled.slice(0, n * 7), [n, 7]) });
  md.push(`\`optimizeModel\` on svc.onnx (6,760 support vectors): median ${median(times).toFixed(1)} ms over 5 runs (${svcBytes.length.toLocaleString('en-US')} → ${svcResult.bytes.length.toLocaleString('en-US')} bytes).`, '');
  const svc = await table(
    "Book model `../shared/seed/svc.onnx` (binary RBF SVC, 6,760 SVs × 7 features)",
    async (th) => [
      { name: 'original', session: await ort.InferenceSession.create(svcBytes, sessionOptions(th)) },
      { name: 'compiled', session: await ort.InferenceSession.create(svcResult.bytes, sessionOptions(th)) },
      { name: 'mixed', session: await ort.InferenceSession.create(svcMixed, sessionOptions(th)) },
    ],
    svcFeed,
    allCores > 1 ? [1, allCores] : [1],
  );
  md.push(svc.md);
  const r16 = svc.ratios.get('compiled@16@1') ?? 0;
  const r64 = svc.ratios.get('compiled@64@1') ?? 0;
  md.push(`Target ≥ 5× in-process at batch ≥ 16 (one thread): compiled ${r16.toFixed(2)}× at 16, ${r64.toFixed(2)}× at 64 — ${r16 >= 5 && r64 >= 5 ? 'met' : 'NOT met on this run'}; the mixed-precision variant ${(svc.ratios.get('mixed@16@1') ?? 0).toFixed(2)}× / ${(svc.ratios.get('mixed@64@1') ?? 0).toFixed(2)}×.`, '');

  // --- weather example ---
  const weatherPath = resolve(REPO, 'examples/weather/model.onnx');
  if (existsSync(weatherPath)) {
    const wBytes = new Uint8Array(readFileSync(weatherPath));
    const wOpt = optimizeModel(wBytes);
    const raw = Float32Array.from(rows.slice(0, 64).flat());
    const w = await table(
      `Weather example \`examples/weather/model.onnx\` (Scaler + Platt-calibrated RBF SVC; ${wOpt.rewrites.map((r) => r.detail).join('; ')})`,
      async (th) => [
        { name: 'original', session: await ort.InferenceSession.create(wBytes, sessionOptions(th)) },
        { name: 'compiled', session: await ort.InferenceSession.create(wOpt.bytes, sessionOptions(th)) },
      ],
      (n) => ({ float_input: new ort.Tensor('float32', raw.slice(0, n * 7), [n, 7]) }),
      [1],
    );
    md.push(w.md);
  } else md.push('_examples/weather/model.onnx not present: weather table skipped._', '');

  // --- loan example: tree ensemble ---
  const loanPath = resolve(REPO, 'examples/loan/model.onnx');
  if (existsSync(loanPath)) {
    const lBytes = new Uint8Array(readFileSync(loanPath));
    const features = await loanFeatures(lBytes);
    const F = features.dims[1] as number;
    const only = treeEnsembleOnlyModel(lBytes, F);
    const gemm = treeEnsembleGemmModel(only.node, F);
    const trav = treeEnsembleTraversalModel(only.node, F);
    // correctness of the tensorised forms: sigmoid(score) vs the kernel's P(class 1)
    const N = features.dims[0] as number;
    const ref = await (await ort.InferenceSession.create(only.bytes)).run({ features });
    const diffs: string[] = [];
    for (const [name, bytes] of [['GEMM', gemm], ['traversal', trav]] as const) {
      const out = await (await ort.InferenceSession.create(bytes)).run({ features });
      let d = 0;
      for (let i = 0; i < N; i++) d = Math.max(d, Math.abs(1 / (1 + Math.exp(-(out.score.data as Float32Array)[i])) - (ref.probabilities.data as Float32Array)[i * 2 + 1]));
      diffs.push(`${name} max |ΔP| ${d.toExponential(1)}`);
    }
    const fdata = features.data as Float32Array;
    const t = await table(
      `Loan example \`examples/loan/model.onnx\`: the TreeEnsembleClassifier alone (${treeSummary(only.node)}), on the ${N} test-set rows' encoded features (${diffs.join(', ')})`,
      async (th) => [
        { name: 'onnxruntime TreeEnsemble', session: await ort.InferenceSession.create(only.bytes, sessionOptions(th)) },
        { name: 'GEMM', session: await ort.InferenceSession.create(gemm, sessionOptions(th)) },
        { name: 'traversal', session: await ort.InferenceSession.create(trav, sessionOptions(th)) },
      ],
      (n) => ({ features: new ort.Tensor('float32', fdata.slice(0, n * F), [n, F]) }),
      [1],
      [1, 16, 64, 256],
    );
    md.push(t.md);
    const wins = [...t.ratios.entries()].filter(([k, v]) => v > 1.1 && !k.includes('@256@')).map(([k, v]) => `${k.split('@')[0]} at batch ${k.split('@')[1]} (${v.toFixed(2)}×)`);
    md.push(
      wins.length === 0
        ? 'Finding: neither tensorised form beats onnxruntime\'s own tree kernel at the batch sizes the server produces (1–64), so the pass leaves tree ensembles as they are. Trees of depth 3 cost the kernel a handful of comparisons per tree; the GEMM form does dense work on every node and leaf of every tree, and both tensorised forms pay per-node dispatch on ~10–25 graph nodes.'
        : `Finding: on this run a tensorised form was > 1.1× faster in: ${wins.join(', ')}. The pass still leaves tree ensembles alone until this is reproduced across runs (see docs/optimize.md).`,
      '',
    );
  } else md.push('_examples/loan/model.onnx not present: tree table skipped._', '');

  md.push(`${quick ? '**Quick (smoke) run: short slices, noisy figures.** ' : ''}Bench wall time ${((performance.now() - started) / 1000).toFixed(0)} s. End-to-end HTTP req/s with and without the pass are measured by the main benchmark (model config \`optimize: true|false\`).`);
  const text = md.join('\n');
  console.log(text);
  if (!argv.includes('--no-write')) writeSection('optimize', text);
  return 0;
}

function treeSummary(node: { attribute?: Array<{ name?: string | null; ints?: unknown[] | null; strings?: unknown[] | null }> | null }): string {
  const attr = (n: string) => node.attribute?.find((a) => a.name === n);
  const treeIds = new Set((attr('nodes_treeids')?.ints ?? []).map(String));
  const nodes = attr('nodes_modes')?.strings?.length ?? 0;
  return `${treeIds.size} trees, ${nodes} nodes`;
}

/** Runs the loan model's preprocessing (LabelEncoders, Casts, Concat) on its test set to get the ensemble's input. */
async function loanFeatures(bytes: Uint8Array): Promise<ort.Tensor> {
  const model = decodeModel(bytes);
  const g = model.graph!;
  const ens = g.node!.find((n) => n.opType === 'TreeEnsembleClassifier')!;
  const featName = ens.input![0];
  g.output!.push({ name: featName, type: { tensorType: { elemType: DT.FLOAT } } });
  const s = await ort.InferenceSession.create(encodeModel(model));
  const testset = JSON.parse(readFileSync(resolve(REPO, 'examples/loan/testset.json'), 'utf8')) as { rows: Array<Record<string, unknown>> };
  const feeds: Record<string, ort.Tensor> = {};
  for (const inp of g.input!) {
    const name = inp.name!;
    const vals = testset.rows.map((r) => r[name]);
    const n = vals.length;
    const t = inp.type?.tensorType?.elemType;
    if (t === DT.STRING) feeds[name] = new ort.Tensor('string', vals.map(String), [n, 1]);
    else if (t === DT.INT64) feeds[name] = new ort.Tensor('int64', BigInt64Array.from(vals.map((v) => BigInt(Math.round(Number(v))))), [n, 1]);
    else feeds[name] = new ort.Tensor('float32', Float32Array.from(vals.map(Number)), [n, 1]);
  }
  const out = await s.run(feeds);
  return out[featName];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
