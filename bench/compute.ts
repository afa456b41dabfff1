// The compute ceiling: onnxruntime-node throughput with no HTTP at all — batches of 64 real rows,
// encoded by the server's own encoder, run on the project's WorkerPoolRuntime with one worker per
// core (1 intra-op thread each) and two runs in flight per worker, so every core stays busy.
// Also the model's own CPU per row: the same batches run on one thread in process (no hand-off),
// timed by CPU time so that other processes on a shared machine do not inflate it.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { loadRepository } from '../src/config/load.js';
import type { ModelConfig } from '../src/config/types.js';
import { optimizeModel } from '../src/optimize/index.js';
import { compileEncoder } from '../src/tensors/encode.js';
import { compileRequestValidator, type Row } from '../src/validation/request-validator.js';
import { InProcessRuntime } from '../src/runtime/in-process.js';
import { WorkerPoolRuntime } from '../src/workers/pool.js';
import type { NamedTensors } from '../src/runtime/types.js';
import { median } from './report.js';

export interface ComputeResult {
  label: string;
  optimized: boolean;
  rowsPerS: number;
  /** CPU µs per row of a run on one thread (in process, the same batches; median over the rounds); NaN unless asked for. */
  cpuUsPerRow: number;
  batch: number;
  workers: number;
}

/** Validates `bodies` like the server does and returns `n` rows cycling through them. */
export function rowsFor(config: ModelConfig, bodies: unknown[], n: number): Row[] {
  const validate = compileRequestValidator(config);
  const rows: Row[] = [];
  for (const b of bodies) {
    const r = validate(b);
    if (r.ok) rows.push(...r.rows);
  }
  if (rows.length === 0) throw new Error(`no valid sample rows for ${config.name}`);
  return Array.from({ length: n }, (_, i) => rows[i % rows.length]!);
}

export interface ComputeSpec {
  label: string;
  modelDir: string;
  bodies: unknown[];
  optimize: boolean;
}

/**
 * Every model's pool is loaded first, then the measurement runs in rounds (each model for
 * `seconds` per round, in turn), so a burst of load from elsewhere on a shared machine does not
 * land on one model only; each figure is the median over the rounds.
 */
export async function computeCeilings(specs: ComputeSpec[], seconds: number, rounds = 3, batch = 64, options: { cpuPerRow?: boolean } = {}): Promise<ComputeResult[]> {
  const workers = availableParallelism();
  const setups: Array<{ spec: ComputeSpec; pool: WorkerPoolRuntime; name: string; feeds: NamedTensors; rates: number[]; cpuPerRow: number[] }> = [];
  const oneThread = new InProcessRuntime({ intraOpThreads: 1, interOpThreads: 1 });
  try {
    for (const spec of specs) {
      const config = loadRepository(spec.modelDir)[0]!;
      const raw = new Uint8Array(readFileSync(config.modelFile));
      const bytes = spec.optimize ? optimizeModel(raw).bytes : raw;
      const pool = new WorkerPoolRuntime({ workers, intraOpThreads: 1, interOpThreads: 1 });
      setups.push({ spec, pool, name: config.name, feeds: {}, rates: [], cpuPerRow: [] });
      const sigs = await pool.load([{ name: config.name, path: config.modelFile, bytes }]);
      const feeds = compileEncoder(config, sigs[config.name]!)(rowsFor(config, spec.bodies, batch));
      setups[setups.length - 1]!.feeds = feeds;
      for (let i = 0; i < 2 * workers; i++) await pool.run(config.name, feeds); // warm-up
      if (options.cpuPerRow) {
        await oneThread.load([{ name: `${setups.length}`, path: config.modelFile, bytes }]);
        for (let i = 0; i < 3; i++) await oneThread.run(`${setups.length}`, feeds); // warm-up
      }
    }
    for (let r = 0; r < rounds; r++) {
      for (const s of setups) {
        let runs = 0;
        const t0 = performance.now();
        const end = t0 + seconds * 1000;
        const loop = async () => {
          while (performance.now() < end) {
            await s.pool.run(s.name, s.feeds);
            runs++;
          }
        };
        await Promise.all(Array.from({ length: 2 * workers }, loop));
        s.rates.push((runs * batch) / ((performance.now() - t0) / 1000));
      }
      // One thread, while the pools are idle: the process's CPU time is the run's.
      for (const [i, s] of options.cpuPerRow ? setups.entries() : []) {
        let runs = 0;
        const cpu0 = process.cpuUsage();
        const end = performance.now() + (seconds * 1000) / 2;
        while (performance.now() < end) {
          await oneThread.run(`${i + 1}`, s.feeds);
          runs++;
        }
        const cpu = process.cpuUsage(cpu0);
        s.cpuPerRow.push((cpu.user + cpu.system) / (runs * batch));
      }
    }
    return setups.map((s) => ({ label: s.spec.label, optimized: s.spec.optimize, rowsPerS: median(s.rates), cpuUsPerRow: options.cpuPerRow ? median(s.cpuPerRow) : NaN, batch, workers }));
  } finally {
    await Promise.all([...setups.map((s) => s.pool.close()), oneThread.close()]);
  }
}
