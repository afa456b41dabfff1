// Shared helpers for the optimiser tests: real onnxruntime sessions on the original and the
// rewritten model, compared output by output.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const FIXTURES = resolve(REPO, 'test/fixtures/optimize');
import { SHARED } from '../helpers/paths.js';

export { SHARED };

export async function session(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
}

export type Feed = Record<string, ort.Tensor>;

export function tensor(type: string, rows: number[][], width: number): ort.Tensor {
  const n = rows.length;
  const flat = rows.flat();
  if (type === 'float64') return new ort.Tensor('float64', Float64Array.from(flat), [n, width]);
  if (type === 'int64') return new ort.Tensor('int64', BigInt64Array.from(flat.map((v) => BigInt(Math.round(v)))), [n, width]);
  return new ort.Tensor('float32', Float32Array.from(flat), [n, width]);
}

/** Deterministic normal-ish rows (sum of uniforms), scaled. */
export function randomRows(n: number, width: number, scale: number, seed: number): number[][] {
  let s = seed >>> 0 || 1;
  const rnd = (): number => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
  return Array.from({ length: n }, () => Array.from({ length: width }, () => (rnd() + rnd() + rnd() - 1.5) * 2 * scale));
}

export interface Comparison {
  /** Rows whose non-float outputs (labels) differ. */
  labelMismatches: number;
  /** Largest |original − optimised| over float outputs (NaN in both counts as equal). */
  maxAbsDiff: number;
  /** Largest |original − optimised| / max(1, |original|). */
  maxRelDiff: number;
}

/** Runs both sessions and compares every output of `a` by name, type and dims. */
export async function compare(a: ort.InferenceSession, b: ort.InferenceSession, feed: Feed): Promise<Comparison> {
  const ra = await a.run(feed);
  const rb = await b.run(feed);
  let labelMismatches = 0;
  let maxAbsDiff = 0;
  let maxRelDiff = 0;
  for (const name of a.outputNames) {
    const x = ra[name];
    const y = rb[name];
    if (!y) throw new Error(`optimised model lacks output ${name}`);
    if (x.type !== y.type) throw new Error(`output ${name}: type ${y.type} != original ${x.type}`);
    if (x.dims.join(',') !== y.dims.join(',')) throw new Error(`output ${name}: dims [${y.dims}] != original [${x.dims}]`);
    if (x.type === 'float32' || x.type === 'float64') {
      const xd = x.data as Float32Array;
      const yd = y.data as Float32Array;
      for (let i = 0; i < xd.length; i++) {
        if (Number.isNaN(xd[i]) && Number.isNaN(yd[i])) continue;
        const d = Math.abs(xd[i] - yd[i]);
        if (!(d <= maxAbsDiff)) maxAbsDiff = Number.isNaN(d) ? Infinity : d;
        const r = d / Math.max(1, Math.abs(xd[i]));
        if (!(r <= maxRelDiff)) maxRelDiff = Number.isNaN(r) ? Infinity : r;
      }
    } else {
      const xd = x.data as ArrayLike<unknown>;
      const yd = y.data as ArrayLike<unknown>;
      for (let i = 0; i < xd.length; i++) if (xd[i] !== yd[i]) labelMismatches++;
    }
  }
  return { labelMismatches, maxAbsDiff, maxRelDiff };
}

export interface SampleRow {
  raw: number[];
}

/** The book's 19,289 sample rows: the 7 raw feature columns. */
export function sampleRows(): number[][] {
  const lines = readFileSync(resolve(SHARED, 'seed/sample_inference_data.csv'), 'utf8').trim().split('\n').slice(1);
  return lines.map((l) => {
    const m = /^[^,]*,"[^"]*",(.*)$/.exec(l);
    if (!m) throw new Error(`unexpected CSV line ${l}`);
    return m[1].split(',').slice(0, 7).map(Number);
  });
}

/**
 * Scales rows exactly as the server does: (x − mean) / scale in float64, then float32
 * (model-scaler.json holds the book's StandardScaler mean/scale).
 */
export function scaleRows(rows: number[][]): Float32Array {
  const sc = JSON.parse(readFileSync(resolve(SHARED, 'seed/model-scaler.json'), 'utf8')) as { mean: number[]; scale: number[] };
  const out = new Float32Array(rows.length * 7);
  rows.forEach((r, i) => r.forEach((v, j) => (out[i * 7 + j] = (v - sc.mean[j]) / sc.scale[j])));
  return out;
}
