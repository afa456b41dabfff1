// Prediction records -> CloudEvents 1.0 in the structured JSON mode (the spec's JSON event format:
// the context attributes and `data` in one JSON object, content type application/cloudevents+json).
// Built here rather than through the cloudevents SDK: the format is one object literal, and the SDK
// validates every event with ajv and pulls browser polyfills — cost on the prediction path for
// nothing the spec asks of a producer. The tests check the output with the SDK itself.
import { randomUUID } from 'node:crypto';
import type { PredictionRecord } from '../core/prediction-tap.js';
import type { NamedTensors } from '../runtime/types.js';

export const EVENT_TYPE = 'dev.modelserve.prediction';
export const REDACTED = '[redacted]';

export interface PredictionEventData {
  model: string;
  version: number;
  front_door: string;
  rows: number;
  latency_ms: number;
  /** predict(): the request's rows (fields as validated); infer(): the input tensors. */
  inputs: unknown;
  /** predict(): one answer per row, as HTTP returns it; infer(): the output tensors. */
  predictions: unknown;
}

export interface PredictionCloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  modelname: string;
  modelversion: string;
  data: PredictionEventData;
}

/** Replaces the named keys of each object with '[redacted]' (a copy; the originals are the caller's). */
export function redactRows(rows: readonly Record<string, unknown>[], redact: ReadonlySet<string>): Record<string, unknown>[] {
  if (redact.size === 0) return rows as Record<string, unknown>[];
  return rows.map((row) => {
    const copy: Record<string, unknown> = { ...row };
    for (const key of redact) if (key in copy) copy[key] = REDACTED;
    return copy;
  });
}

function tensorsJson(tensors: NamedTensors | undefined, redact: ReadonlySet<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, t] of Object.entries(tensors ?? {})) {
    if (redact.has(name)) { out[name] = REDACTED; continue; }
    const data = t.data instanceof BigInt64Array ? Array.from(t.data, Number) : Array.from(t.data as ArrayLike<unknown>);
    out[name] = { datatype: t.type, shape: t.dims, data };
  }
  return out;
}

export interface EventShape {
  /** Fields (request or answer keys, or tensor names) whose values are replaced by '[redacted]'. */
  redact: ReadonlySet<string>;
  /** Prefix of `source` (default /modelserve). */
  sourcePrefix?: string;
}

export function predictionEvent(record: PredictionRecord, shape: EventShape): PredictionCloudEvent {
  const version = String(record.version);
  const tensors = record.inputs === undefined;
  return {
    specversion: '1.0',
    // The request id is the event id; a front door that has none gets a fresh one (source + id stay unique).
    id: record.requestId ?? randomUUID(),
    source: `${shape.sourcePrefix ?? '/modelserve'}/models/${encodeURIComponent(record.model)}/versions/${version}`,
    type: EVENT_TYPE,
    subject: `${record.model}/${version}`,
    time: new Date(record.time).toISOString(),
    datacontenttype: 'application/json',
    modelname: record.model,
    modelversion: version,
    data: {
      model: record.model,
      version: record.version,
      front_door: record.frontDoor ?? 'unknown',
      rows: record.rows,
      latency_ms: Math.round(record.latencyMs * 1000) / 1000,
      inputs: tensors ? tensorsJson(record.feeds, shape.redact) : redactRows(record.inputs!, shape.redact),
      predictions: tensors ? tensorsJson(record.outputs, shape.redact) : redactRows(record.predictions ?? [], shape.redact),
    },
  };
}
