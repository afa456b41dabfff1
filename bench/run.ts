// `npm run bench`: the main benchmark (bench/main.ts), then the other sections' scripts when their
// modules exist (each exports main(argv) and writes its own section of BENCHMARKS.md).
//   node dist/bench/run.js [--only main,idle-wakeups,optimize,runtime,batching,loadtester,scale-out,models,oip,pipelines,mqtt,soak] [--skip a,b] [--quick] [--no-write]
// --quick shortens every part (for a smoke run); the full run is bounded to a few minutes.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stopAll } from './procs.js';

const SECTIONS = ['main', 'idle-wakeups', 'optimize', 'runtime', 'batching', 'loadtester', 'scale-out', 'models', 'oip', 'pipelines', 'mqtt', 'soak'] as const;
type Section = (typeof SECTIONS)[number];

/** Arguments passed to each section's main() in --quick mode. */
const QUICK_ARGS: Record<Section, string[]> = {
  main: ['--quick'],
  'idle-wakeups': ['--seconds', '1', '--rounds', '1'],
  optimize: ['--quick'],
  runtime: ['--quick'],
  batching: ['--quick'],
  loadtester: ['--duration', '3s'],
  'scale-out': ['--duration', '3s', '--replicas', '1,2'],
  models: ['--models', '40', '--budget', '5', '--seconds', '3'],
  oip: ['--seconds', '1'],
  pipelines: ['--quick'],
  mqtt: ['--quick'],
  soak: ['--seconds', '20', '--warmup', '5'],
};

const USAGE = `usage: npm run bench -- [--only ${SECTIONS.join(',')}] [--skip <sections>] [--quick] [--no-write]
  main        modelserve vs the Python peers vs the node:http limit and the compute ceiling (bench/main.ts)
  idle-wakeups  Node and Flask with the guest's halt polling off (as booted) and on (bench/idle-wakeups.ts; root)
  optimize    the load-time optimiser (bench/optimize.ts)
  runtime     inference runtimes: in-process vs worker threads vs child processes (bench/runtime.ts)
  batching    dynamic batching on vs off, overload (bench/batching.ts)
  loadtester  the built-in load tester vs Locust and wrk (bench/loadtester.ts)
  scale-out   replicas behind nginx, rolling restart (bench/scale-out.ts)
  models      200 models under --max-loaded-models 20: memory, evictions, first-request latency (bench/models.ts)
  oip         Open Inference Protocol: binary REST and gRPC vs JSON rows vs the compute ceiling (bench/oip.ts)
  pipelines   a local sequence and an ensemble vs calling the models separately (bench/pipelines.ts)
  mqtt        MQTT predictions/s and latency through mosquitto; the cost of prediction events (bench/mqtt.ts)
  soak        memory soak: 6 min at half capacity, 1-5,000 rows per request; RSS and fds over time (bench/soak.ts)`;

function list(argv: string[], flag: string): Section[] | undefined {
  const i = argv.indexOf(flag);
  if (i < 0) return undefined;
  const names = String(argv[i + 1] ?? '').split(',').filter(Boolean);
  for (const n of names) if (!(SECTIONS as readonly string[]).includes(n)) throw new Error(`unknown section '${n}'\n${USAGE}`);
  return names as Section[];
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) { console.log(USAGE); return 0; }
  const only = list(argv, '--only') ?? [...SECTIONS];
  const skip = list(argv, '--skip') ?? [];
  const quick = argv.includes('--quick');
  const noWrite = argv.includes('--no-write');
  const started = Date.now();
  const summary: string[] = [];
  let failed = 0;
  for (const name of SECTIONS) {
    if (!only.includes(name) || skip.includes(name)) continue;
    const file = new URL(`./${name}.js`, import.meta.url);
    if (!existsSync(fileURLToPath(file))) {
      console.error(`bench: skipping '${name}': ${fileURLToPath(file)} does not exist (not built yet)`);
      summary.push(`${name}: skipped (no module)`);
      continue;
    }
    const args = [...(quick ? QUICK_ARGS[name] : []), ...(noWrite ? ['--no-write'] : [])];
    console.error(`\nbench: === ${name} ${args.join(' ')} ===`);
    const t0 = Date.now();
    try {
      const mod = (await import(file.href)) as { main?: (argv: string[]) => Promise<number | void> };
      if (typeof mod.main !== 'function') throw new Error(`${name}.js does not export main()`);
      const code = await mod.main(args);
      if (typeof code === 'number' && code !== 0) { failed++; summary.push(`${name}: exit code ${code}`); } else summary.push(`${name}: done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    } catch (err) {
      failed++;
      console.error(`bench: '${name}' failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      summary.push(`${name}: FAILED`);
    } finally {
      await stopAll();
    }
  }
  console.error(`\nbench: ${summary.join('; ')} — ${((Date.now() - started) / 1000).toFixed(0)} s in all${noWrite ? '' : '; results in BENCHMARKS.md'}`);
  return failed ? 1 : 0;
}

run(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err: unknown) => { console.error(err instanceof Error ? err.message : err); process.exitCode = 2; });
