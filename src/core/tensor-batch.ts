// Joins the encoded tensors of several requests into one batch along the first dimension, and
// splits a batch's outputs back per request. What lets requests from every front door (JSON rows,
// OIP tensors, pipeline steps) share one batcher: they all queue encoded tensors with a row count.
import { allocateTensor } from '../tensors/allocate.js';
import type { NamedTensors, TensorData, TensorValues } from '../runtime/types.js';

/** One request's encoded inputs and its row count (the first dimension of every input). */
export interface EncodedRequest {
  feeds: NamedTensors;
  rows: number;
}

function concatValues(parts: readonly TensorData[], total: number, type: TensorData['type']): TensorValues {
  const out = allocateTensor(type, total)!;
  if (Array.isArray(out)) {
    let k = 0;
    for (const p of parts) for (const v of p.data as string[]) out[k++] = v;
    return out;
  }
  let offset = 0;
  for (const p of parts) {
    (out as Float32Array).set(p.data as Float32Array, offset);
    offset += p.data.length;
  }
  return out;
}

/** The requests' feeds joined along dimension 0 (the single request's feeds as they are). */
export function concatRequests(requests: readonly EncodedRequest[], rows: number): NamedTensors {
  if (requests.length === 1) return requests[0]!.feeds;
  const first = requests[0]!.feeds;
  const joined: NamedTensors = {};
  for (const name of Object.keys(first)) {
    const parts = requests.map((r) => r.feeds[name]!);
    let total = 0;
    for (const p of parts) total += p.data.length;
    const dims = [rows, ...first[name]!.dims.slice(1)];
    joined[name] = { type: first[name]!.type, dims, data: concatValues(parts, total, first[name]!.type) };
  }
  return joined;
}

function sliceValues(data: TensorValues, from: number, to: number): TensorValues {
  return Array.isArray(data) ? data.slice(from, to) : (data as Float32Array).subarray(from, to);
}

/**
 * A batch's outputs split back per request, in order. An output whose first dimension is not the
 * batch's row count (a model-level constant) is given whole to every request.
 */
export function splitOutputs(outputs: NamedTensors, counts: readonly number[], rows: number): NamedTensors[] {
  if (counts.length === 1) return [outputs];
  const results: NamedTensors[] = counts.map(() => ({}));
  for (const name of Object.keys(outputs)) {
    const t = outputs[name]!;
    if (t.dims[0] !== rows || rows === 0) {
      for (const r of results) r[name] = t;
      continue;
    }
    const width = t.data.length / rows;
    let row = 0;
    counts.forEach((n, i) => {
      results[i]![name] = { type: t.type, dims: [n, ...t.dims.slice(1)], data: sliceValues(t.data, row * width, (row + n) * width) };
      row += n;
    });
  }
  return results;
}
