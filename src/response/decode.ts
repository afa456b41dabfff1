// Maps a batch's ONNX outputs back to one response object per row, as the config's `outputs`
// says: class-label mapping, one column as a number, or the raw row. Compiled once per model.
import type { ModelConfig, OutputSpec } from '../config/types.js';
import { ModelServeError } from '../errors.js';
import { isExactNumber } from '../tensors/exact-integers.js';
import type { NamedTensors, TensorData } from '../runtime/types.js';

export type PredictionObject = Record<string, unknown>;
export type Decoder = (outputs: NamedTensors, rows: number) => PredictionObject[];

/**
 * A 64-bit integer element (int64, uint64: onnxruntime gives BigInts) as a number, which is exact
 * only within ±(2^53 - 1): past it a double rounds (2^53 + 1 reads 2^53, and 2^60 is written
 * 1152921504606847000). Such a value fails the request, naming the field, rather than be answered
 * rounded. (A label is keyed by the BigInt's own digits; a raw output over OIP stays INT64/UINT64.)
 */
export function exactNumber(value: bigint, spec: OutputSpec, row: number): number {
  if (!isExactNumber(value)) {
    throw new ModelServeError('MS_ERR_OUTPUT_RANGE', `output '${spec.field}' (model output '${spec.from}'), row ${row}: the model gave ${value}, past ±(2^53 - 1), where a number is no longer exact; read this output as a label (map:) or, over the Open Inference Protocol, as a raw output (its own 64-bit datatype)`);
  }
  return Number(value);
}

/**
 * Fails a batch whose output is narrower than a `column:` reads (an output of no fixed width, so the load
 * could not check it): the index ran into the next row's values, answering another row's number.
 */
export function checkColumn(spec: Extract<OutputSpec, { kind: 'column' }>, width: number, rows: number): void {
  if (rows > 0 && spec.column >= width) {
    throw new ModelServeError('MS_ERR_INFERENCE', `output '${spec.field}' reads column ${spec.column} of model output '${spec.from}', which has ${width} column(s) in this run`);
  }
}

function scalar(value: unknown, spec: OutputSpec, row: number): unknown {
  return typeof value === 'bigint' ? exactNumber(value, spec, row) : value;
}

function widthOf(tensor: TensorData, rows: number): number {
  return rows === 0 ? 0 : Math.max(1, Math.floor(tensor.data.length / rows));
}

function readField(spec: OutputSpec, tensor: TensorData, width: number, row: number): unknown {
  const data = tensor.data as ArrayLike<unknown>;
  switch (spec.kind) {
    case 'label': {
      // The value's decimal digits, a BigInt's exact ones (Number() would round past 2^53).
      const key = String(data[row * width]);
      return spec.map[key] ?? key;
    }
    case 'column': {
      const element = data[row * width + spec.column];
      if (typeof element === 'bigint') return exactNumber(element, spec, row);
      // JSON has no NaN/Infinity: a non-finite model output is sent as null.
      const value = Number(element);
      return Number.isFinite(value) ? value : null;
    }
    case 'raw': {
      // onnxruntime gives a bool tensor as bytes: answered as JSON booleans, as OIP's BOOL is.
      const bool = tensor.type === 'bool';
      if (width === 1) return bool ? Boolean(data[row]) : scalar(data[row], spec, row);
      const values = new Array<unknown>(width);
      for (let c = 0; c < width; c++) values[c] = bool ? Boolean(data[row * width + c]) : scalar(data[row * width + c], spec, row);
      return values;
    }
  }
}

export function compileDecoder(config: ModelConfig): Decoder {
  const specs = config.outputs;
  return (outputs, rows) => {
    const results: PredictionObject[] = new Array(rows);
    for (let r = 0; r < rows; r++) results[r] = {};
    for (const spec of specs) {
      const tensor = outputs[spec.from];
      if (!tensor) throw new Error(`model output '${spec.from}' missing from the inference result`);
      const width = widthOf(tensor, rows);
      if (spec.kind === 'column') checkColumn(spec, width, rows);
      for (let r = 0; r < rows; r++) results[r]![spec.field] = readField(spec, tensor, width, r);
    }
    return results;
  };
}

/** The names of the ONNX outputs the responses need (so the runtime can skip fetching others). */
export function neededOutputs(config: ModelConfig): string[] {
  return [...new Set(config.outputs.map((o) => o.from))];
}
