// Paths and inputs shared by the runtime, worker and batching tests: the real svc.onnx with real
// rows from the book's sample data (scaled with the stored scaler), and the types.onnx fixture
// built by test/fixtures/runtime/make_fixtures.py.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pathToFileURL } from 'node:url';
import type { ModelSource, TensorData } from '../../src/runtime/types.js';
import { SHARED } from '../helpers/paths.js';

/** The repository root (tests run from dist/test/...). */
export const ROOT = new URL('../../../', import.meta.url);
export const SHARED_SEED = pathToFileURL(`${SHARED}/seed/`);
export const SVC_PATH = fileURLToPath(new URL('svc.onnx', SHARED_SEED));
export const TYPES_PATH = fileURLToPath(new URL('test/fixtures/runtime/types.onnx', ROOT));

export function svcSource(name = 'svc'): ModelSource {
  return { name, path: SVC_PATH, bytes: new Uint8Array(readFileSync(SVC_PATH)) };
}

export function typesSource(name = 'types'): ModelSource {
  return { name, path: TYPES_PATH, bytes: new Uint8Array(readFileSync(TYPES_PATH)) };
}

let cachedRows: number[][] | undefined;

/** Scaled feature rows (7 floats each) from sample_inference_data.csv. */
export function svcRows(count: number, offset = 0): number[][] {
  if (cachedRows === undefined) {
    const scaler = JSON.parse(readFileSync(new URL('model-scaler.json', SHARED_SEED), 'utf8')) as { mean: number[]; scale: number[] };
    const lines = readFileSync(new URL('sample_inference_data.csv', SHARED_SEED), 'utf8').trim().split('\n').slice(1);
    cachedRows = lines.map((line) => {
      // Timestamp,"Location, with comma",7 features,label -> the 7 features are fields -8..-2.
      const fields = line.split(',');
      return fields.slice(-8, -1).map((v, i) => (Number(v) - scaler.mean[i]) / scaler.scale[i]);
    });
  }
  const out: number[][] = [];
  for (let i = 0; i < count; i++) out.push(cachedRows[(offset + i) % cachedRows.length]);
  return out;
}

/** A float_input tensor [rows.length, 7]. */
export function svcTensor(rows: number[][]): TensorData {
  const data = new Float32Array(rows.length * 7);
  rows.forEach((r, i) => data.set(r, i * 7));
  return { type: 'float32', dims: [rows.length, 7], data };
}
