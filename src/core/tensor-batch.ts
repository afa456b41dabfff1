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

/** Rows [from, to) of every feed (views into the same buffers, no copy; first dimension = rows). */
export function sliceRows(feeds: NamedTensors, rows: number, from: number, to: number): NamedTensors {
  const out: NamedTensors = {};
  for (const name of Object.keys(feeds)) {
    const t = feeds[name]!;
    const width = rows === 0 ? 0 : t.data.length / rows;
    out[name] = { type: t.type, dims: [to - from, ...t.dims.slice(1)], data: sliceValues(t.data, from * width, to * width) };
  }
  return out;
}

/**
 * The outputs of one-row runs, each run's whole outputs being its row's answer: stacked along a new
 * first dimension, so that a graph answering for the whole run (a scalar, a constant [3] vector)
 * gives each row its own run's tensor. An output already of one entry ([1, k]) is joined as it is.
 */
export function stackRuns(runs: readonly NamedTensors[]): NamedTensors {
  if (runs.length === 1) return runs[0]!;
  const first = runs[0]!;
  const stacked: NamedTensors = {};
  for (const name of Object.keys(first)) {
    const t = first[name]!;
    const pieces = runs.map((r) => r[name]!);
    let total = 0;
    for (const p of pieces) total += p.data.length;
    const rowDims = t.dims[0] === 1 ? t.dims.slice(1) : t.dims;
    stacked[name] = { type: t.type, dims: [runs.length, ...rowDims], data: concatValues(pieces, total, t.type) };
  }
  return stacked;
}

/** Whether a slice's output has one entry per row: its first dimension, or a scalar of a one-row run (that row's value). */
function perRowOutput(t: TensorData | undefined, rows: number): boolean {
  return t !== undefined && (t.dims[0] === rows || (t.dims.length === 0 && rows === 1));
}

/**
 * The outputs of consecutive runs over slices of one batch, joined back along dimension 0. An
 * output whose first dimension is not its slice's row count (a model-level constant) is taken
 * from the first slice, as splitOutputs gives it whole.
 */
export function joinSlices(parts: ReadonlyArray<{ outputs: NamedTensors; rows: number }>, rows: number): NamedTensors {
  if (parts.length === 1) return parts[0]!.outputs;
  const first = parts[0]!;
  const joined: NamedTensors = {};
  for (const name of Object.keys(first.outputs)) {
    const t = first.outputs[name]!;
    if (parts.some((p) => !perRowOutput(p.outputs[name], p.rows))) {
      joined[name] = t;
      continue;
    }
    const pieces = parts.map((p) => p.outputs[name]!);
    let total = 0;
    for (const p of pieces) total += p.data.length;
    joined[name] = { type: t.type, dims: [rows, ...t.dims.slice(1)], data: concatValues(pieces, total, t.type) };
  }
  return joined;
}
