// Response serializers compiled once per model with fast-json-stringify from the outputs' known
// shapes; raw outputs (shape only known at run time) fall back to JSON.stringify.
import fastJson from 'fast-json-stringify';
import type { ModelConfig } from '../config/types.js';
import type { Row } from '../validation/request-validator.js';
import type { PredictionObject } from './decode.js';

export interface Serializers {
  one(prediction: PredictionObject): string;
  many(predictions: PredictionObject[]): string;
}

export function compileSerializers(config: ModelConfig): Serializers {
  if (config.outputs.some((o) => o.kind === 'raw')) {
    return { one: (p) => JSON.stringify(p), many: (p) => JSON.stringify(p) };
  }
  const properties: Record<string, { type: string | string[] }> = {};
  for (const o of config.outputs) properties[o.field] = { type: o.kind === 'column' ? ['number', 'null'] : 'string' };
  const item = { type: 'object', properties, required: config.outputs.map((o) => o.field) } as const;
  return {
    one: fastJson(item) as (p: PredictionObject) => string,
    many: fastJson({ type: 'array', items: item }) as (p: PredictionObject[]) => string,
  };
}

/**
 * Validated request rows as JSON (prediction events carry them): the config's fields by type,
 * any other key a lenient model kept as JSON.stringify writes it.
 */
export function compileRowsSerializer(config: ModelConfig): (rows: readonly Row[]) => string {
  const properties: Record<string, { type: string }> = {};
  for (const f of config.fields) properties[f.name] = { type: f.type };
  return fastJson({ type: 'array', items: { type: 'object', properties, additionalProperties: true } }) as (rows: readonly Row[]) => string;
}
