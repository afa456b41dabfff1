// Builds the ONNX feeds for a batch straight from validated rows into typed arrays, one pass per
// input tensor. Compiled once per model: column offsets, scaling and element types are resolved
// at startup, so the per-batch work is the copy loop only.
import type { ModelConfig } from '../config/types.js';
import { rowWidth } from '../config/signature.js';
import type { ElementType, ModelSignature, NamedTensors } from '../runtime/types.js';
import type { Row } from '../validation/request-validator.js';
import { allocateTensor } from './allocate.js';

export type Encoder = (rows: readonly Row[]) => NamedTensors;

interface Plan {
  name: string;
  type: ElementType;
  fields: string[];
  /** [N] when the model input is 1-D, else [N, k]. */
  oneDimensional: boolean;
  mean?: Float64Array;
  invScale?: Float64Array;
}

function asNumber(value: unknown): number {
  return typeof value === 'boolean' ? (value ? 1 : 0) : (value as number);
}

function asString(value: unknown): string {
  return typeof value === 'boolean' ? (value ? 'True' : 'False') : String(value);
}

export function compileEncoder(config: ModelConfig, signature: ModelSignature): Encoder {
  const plans: Plan[] = config.tensors.map((t) => {
    const info = signature.inputs.find((i) => i.name === t.name);
    const type = (info?.type ?? t.type ?? 'float32') as ElementType;
    return {
      name: t.name,
      type,
      fields: t.fields,
      oneDimensional: info !== undefined && info.shape.length === 1 && rowWidth(info) === 1,
      mean: t.scale && Float64Array.from(t.scale.mean),
      invScale: t.scale && Float64Array.from(t.scale.scale, (s) => 1 / s),
    };
  });

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
      feeds[plan.name] = { type: plan.type, dims: plan.oneDimensional ? [n] : [n, k], data };
    }
    return feeds;
  };
}
