// The compute ceiling: onnxruntime-node throughput with no HTTP at all — batches of 64 real rows,
// encoded by the server's own encoder, run on the project's WorkerPoolRuntime with one worker per
// core (1 intra-op thread each) and two runs in flight per worker, so every core stays busy.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { loadRepository } from '../src/config/load.js';
import type { ModelConfig } from '../src/config/types.js';
import { optimizeModel } from '../src/optimize/index.js';
import { compileEncoder } from '../src/tensors/encode.js';
import { compileRequestValidator, type Row } from '../src/validation/request-validator.js';
import { WorkerPoolRuntime } from '../src/workers/pool.js';

export interface ComputeResult {
  label: string;
  optimized: boolean;
  rowsPerS: number;
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

export async function computeCeiling(label: string, modelDir: string, bodies: unknown[], optimize: boolean, seconds: number, batch = 64): Promise<ComputeResult> {
  const config = loadRepository(modelDir)[0]!;
  const raw = new Uint8Array(readFileSync(config.modelFile));
  const bytes = optimize ? optimizeModel(raw).bytes : raw;
  const workers = availableParallelism();
  const pool = new WorkerPoolRuntime({ workers, intraOpThreads: 1, interOpThreads: 1 });
  try {
    const sigs = await pool.load([{ name: config.name, path: config.modelFile, bytes }]);
    const encode = compileEncoder(config, sigs[config.name]!);
    const feeds = encode(rowsFor(config, bodies, batch));
    // warm-up
    for (let i = 0; i < 2 * workers; i++) await pool.run(config.name, feeds);
    let runs = 0;
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    const loop = async () => {
      while (performance.now() < end) {
        await pool.run(config.name, feeds);
        runs++;
      }
    };
    await Promise.all(Array.from({ length: 2 * workers }, loop));
    const elapsed = (performance.now() - t0) / 1000;
    return { label, optimized: optimize, rowsPerS: (runs * batch) / elapsed, batch, workers };
  } finally {
    await pool.close();
  }
}
