// Builds the ONNX feeds for a batch straight from validated rows into typed arrays, one pass per
// input tensor. Compiled once per model: column offsets, scaling and element types are resolved
// at startup, so the per-batch work is the copy loop only.
import type { ModelConfig } from '../config/types.js';
import { rowWidth } from '../config/signature.js';
import type { ElementType, ModelSignature, NamedTensors, TensorInfo } from '../runtime/types.js';
import type { Row } from '../validation/request-validator.js';
import { allocateTensor } from './allocate.js';

export type Encoder = (rows: readonly Row[]) => NamedTensors;

interface Plan {
  name: string;
  type: ElementType;
  fields: string[];
  /** A row's dims after N: [] for an [N] input, the model's own for [N, d1, d2, …] (fixed), else [k]. */
  rowDims: number[];
  mean?: Float64Array;
  invScale?: Float64Array;
}

function asNumber(value: unknown): number {
  return typeof value === 'boolean' ? (value ? 1 : 0) : (value as number);
}

function asString(value: unknown): string {
  return typeof value === 'boolean' ? (value ? 'True' : 'False') : String(value);
}

function rowDimsOf(info: TensorInfo | undefined, k: number): number[] {
  if (info === undefined) return [k];
  if (info.shape.length === 1 && rowWidth(info) === 1) return [];
  // A rank-3+ input with fixed dims takes its k fields row-major in its own shape: onnxruntime
  // refuses an [N, k] feed for it (checkSignature has made sure the widths agree).
  if (info.shape.length > 2 && rowWidth(info) === k) return info.shape.slice(1) as number[];
  return [k];
}

function compilePlans(config: ModelConfig, signature: ModelSignature): Plan[] {
  return config.tensors.map((t) => {
    const info = signature.inputs.find((i) => i.name === t.name);
    const type = (info?.type ?? t.type ?? 'float32') as ElementType;
    return {
      name: t.name,
      type,
      fields: t.fields,
      rowDims: rowDimsOf(info, t.fields.length),
      mean: t.scale && Float64Array.from(t.scale.mean),
      invScale: t.scale && Float64Array.from(t.scale.scale, (s) => 1 / s),
    };
  });
}

/** [n, ...rowDims], without spreading through an iterator for the usual [N] and [N, k] inputs. */
function dimsOf(n: number, rowDims: readonly number[]): number[] {
  if (rowDims.length === 0) return [n];
  if (rowDims.length === 1) return [n, rowDims[0]!];
  return [n, ...rowDims];
}

export function compileEncoder(config: ModelConfig, signature: ModelSignature): Encoder {
  const plans = compilePlans(config, signature);
  return (rows) => {
    const n = rows.length;
    const feeds: NamedTensors = {};
    for (const plan of plans) {
      const k = plan.fields.length;
      const data = allocateTensor(plan.type, n * k)!; // plan types are checked against the model at startup
      const { fields, mean, invScale } = plan;
      if (plan.type === 'string') {
        const out = data as string[];
        for (let r = 0; r < n; r++) for (let c = 0; c < k; c++) out[r * k + c] = asString(rows[r]![fields[c]!]);
      } else if (plan.type === 'int64') {
        const out = data as BigInt64Array;
        for (let r = 0; r < n; r++) for (let c = 0; c < k; c++) out[r * k + c] = BigInt(Math.trunc(asNumber(rows[r]![fields[c]!])));
      } else {
        const out = data as Float32Array | Float64Array | Int32Array | Uint8Array;
        if (mean && invScale) {
          for (let r = 0; r < n; r++) {
            const row = rows[r]!;
            for (let c = 0; c < k; c++) out[r * k + c] = (asNumber(row[fields[c]!]) - mean[c]!) * invScale[c]!;
          }
        } else {
          for (let r = 0; r < n; r++) {
            const row = rows[r]!;
            for (let c = 0; c < k; c++) out[r * k + c] = asNumber(row[fields[c]!]);
          }
        }
      }
      feeds[plan.name] = { type: plan.type, dims: dimsOf(n, plan.rowDims), data };
    }
    return feeds;
  };
}

/** Columns of numbers (one per field, each n long; validated) -> the model's feeds. */
export type ColumnEncoder = (columns: ReadonlyMap<string, ArrayLike<number>>, n: number) => NamedTensors;

/**
 * The encoder for tensors that arrive as columns (OIP): the same feeds as compileEncoder gives for
 * the rows the columns make, without building the rows. Undefined when an input tensor is a string
 * tensor (its values are not numbers).
 */
export function compileColumnEncoder(config: ModelConfig, signature: ModelSignature): ColumnEncoder | undefined {
  const plans = compilePlans(config, signature);
  if (plans.some((p) => p.type === 'string')) return undefined;
  return (columns, n) => {
    const feeds: NamedTensors = {};
    for (const plan of plans) {
      const { fields, mean, invScale } = plan;
      const k = fields.length;
      const data = allocateTensor(plan.type, n * k)!;
      for (let c = 0; c < k; c++) {
        const column = columns.get(fields[c]!)!;
        if (plan.type === 'int64') {
          const out = data as BigInt64Array;
          for (let r = 0; r < n; r++) out[r * k + c] = BigInt(Math.trunc(column[r]!));
        } else if (mean && invScale) {
          const out = data as Float32Array | Float64Array;
          const m = mean[c]!;
          const s = invScale[c]!;
          for (let r = 0; r < n; r++) out[r * k + c] = (column[r]! - m) * s;
        } else {
          const out = data as Float32Array | Float64Array | Int32Array | Uint8Array;
          for (let r = 0; r < n; r++) out[r * k + c] = column[r]!;
        }
      }
      feeds[plan.name] = { type: plan.type, dims: dimsOf(n, plan.rowDims), data };
    }
    return feeds;
  };
}
