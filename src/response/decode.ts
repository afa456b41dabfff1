// Maps a batch's ONNX outputs back to one response object per row, as the config's `outputs`
// says: class-label mapping, one column as a float, or the raw row. Compiled once per model.
import type { ModelConfig, OutputSpec } from '../config/types.js';
import type { NamedTensors, TensorData } from '../runtime/types.js';

export type PredictionObject = Record<string, unknown>;
export type Decoder = (outputs: NamedTensors, rows: number) => PredictionObject[];

function scalar(value: unknown): unknown {
  return typeof value === 'bigint' ? Number(value) : value;
}

function widthOf(tensor: TensorData, rows: number): number {
  return rows === 0 ? 0 : Math.max(1, Math.floor(tensor.data.length / rows));
}

function readField(spec: OutputSpec, tensor: TensorData, width: number, row: number): unknown {
  const data = tensor.data as ArrayLike<unknown>;
  switch (spec.kind) {
    case 'label': {
      const key = String(scalar(data[row * width]));
      return spec.map[key] ?? key;
    }
    case 'column': {
      // JSON has no NaN/Infinity: a non-finite model output is sent as null.
      const value = Number(data[row * width + spec.column]);
      return Number.isFinite(value) ? value : null;
    }
    case 'raw': {
      if (width === 1) return scalar(data[row]);
      const values = new Array<unknown>(width);
      for (let c = 0; c < width; c++) values[c] = scalar(data[row * width + c]);
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
      for (let r = 0; r < rows; r++) results[r]![spec.field] = readField(spec, tensor, width, r);
    }
    return results;
  };
}

/** The names of the ONNX outputs the responses need (so the runtime can skip fetching others). */
export function neededOutputs(config: ModelConfig): string[] {
  return [...new Set(config.outputs.map((o) => o.from))];
}
