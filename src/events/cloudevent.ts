// Prediction records -> CloudEvents 1.0 in the structured JSON mode (the spec's JSON event format:
// the context attributes and `data` in one JSON object, content type application/cloudevents+json).
// Built here rather than through the cloudevents SDK: the format is one object literal, and the SDK
// validates every event with ajv and pulls browser polyfills — cost on the prediction path for
// nothing the spec asks of a producer. The tests check the output with the SDK itself.
import { randomUUID } from 'node:crypto';
import type { PredictionRecord } from '../core/prediction-tap.js';
import type { NamedTensors } from '../runtime/types.js';
import { allExactNumbers } from '../tensors/exact-integers.js';

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
  /** The request's id (X-Request-Id, MQTT request_id): what correlates the event with the answer and the logs. */
  requestid?: string;
  data: PredictionEventData;
}

/** Replaces the named keys of each object with '[redacted]' (a copy; the originals are the caller's). */
export function redactRows(rows: readonly Record<string, unknown>[], redact: ReadonlySet<string>): Record<string, unknown>[] {
  if (redact.size === 0) return rows as Record<string, unknown>[];
  return rows.map((row) => {
    const copy: Record<string, unknown> = { ...row };
    // Own keys only: `in` found Object's members, so redacting a field named toString or constructor added it to every row.
    for (const key of redact) if (Object.hasOwn(copy, key)) copy[key] = REDACTED;
    return copy;
  });
}

/**
 * A 64-bit integer tensor's values: numbers while every one is exact as a JSON number, else all as
 * decimal strings (Number() would round an ID past 2^53 to another one).
 */
function exactIntegers(data: BigInt64Array | BigUint64Array): number[] | string[] {
  return allExactNumbers(data) ? Array.from(data, Number) : Array.from(data, String);
}

function tensorsJson(tensors: NamedTensors | undefined, redact: ReadonlySet<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, t] of Object.entries(tensors ?? {})) {
    if (redact.has(name)) { out[name] = REDACTED; continue; }
    out[name] = { datatype: t.type, shape: t.dims, data: t.data instanceof BigInt64Array || t.data instanceof BigUint64Array ? exactIntegers(t.data) : Array.from(t.data as ArrayLike<unknown>) };
  }
  return out;
}

export interface EventShape {
  /** Fields (request or answer keys, or tensor names) whose values are replaced by '[redacted]'. */
  redact: ReadonlySet<string>;
  /** Prefix of `source` (default /modelserve). */
  sourcePrefix?: string;
}

/** The event's `source`. */
function sourceOf(model: string, version: string, shape: EventShape): string {
  return `${shape.sourcePrefix ?? '/modelserve'}/models/${encodeURIComponent(model)}/versions/${version}`;
}

export function predictionEvent(record: PredictionRecord, shape: EventShape): PredictionCloudEvent {
  const version = String(record.version);
  const tensors = record.inputs === undefined;
  return {
    specversion: '1.0',
    // A new id per event: source + id must be unique, and a client may send the same request id
    // twice. (A resend of one event is the same text, so the same id: consumers deduplicate on it.)
    id: randomUUID(),
    source: sourceOf(record.model, version, shape),
    type: EVENT_TYPE,
    subject: `${record.model}/${version}`,
    time: new Date(record.time).toISOString(),
    datacontenttype: 'application/json',
    modelname: record.model,
    modelversion: version,
    ...(record.requestId === undefined ? {} : { requestid: record.requestId }),
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

/**
 * Events as JSON text, the same as JSON.stringify(predictionEvent(record, shape)) but cheaper on
 * the prediction path (every HTTP request pays it): the attributes shared by a model version's
 * events are written once, the time once per millisecond, and the rows and predictions by the
 * model's compiled writers (record.json). Tensors and redacted fields take the general path.
 */
export class PredictionEventWriter {
  private readonly shape: EventShape;
  /** Per model version: `"source":…,"type":…,"subject":…,"datacontenttype":…,"modelname":…,"modelversion":…`. */
  private readonly shared = new Map<string, string>();
  private lastTime = NaN;
  private lastIso = '';

  constructor(shape: EventShape) {
    this.shape = shape;
  }

  write(record: PredictionRecord): string {
    const json = record.json;
    if (json === undefined || record.inputs === undefined || this.shape.redact.size > 0) return JSON.stringify(predictionEvent(record, this.shape));
    const version = String(record.version);
    const key = `${version} ${record.model}`;
    let shared = this.shared.get(key);
    if (shared === undefined) {
      // Hot reloads add versions: a bound keeps a long-running server's cache small.
      if (this.shared.size >= 1000) this.shared.clear();
      shared = JSON.stringify({ source: sourceOf(record.model, version, this.shape), type: EVENT_TYPE, subject: `${record.model}/${version}`, datacontenttype: 'application/json', modelname: record.model, modelversion: version }).slice(1, -1);
      this.shared.set(key, shared);
    }
    if (record.time !== this.lastTime) {
      this.lastTime = record.time;
      this.lastIso = new Date(record.time).toISOString();
    }
    const requestId = record.requestId === undefined ? '' : `,"requestid":${JSON.stringify(record.requestId)}`;
    const latency = Math.round(record.latencyMs * 1000) / 1000;
    return `{"specversion":"1.0","id":"${randomUUID()}",${shared},"time":"${this.lastIso}"${requestId},"data":{"model":${JSON.stringify(record.model)},"version":${record.version},"front_door":${JSON.stringify(record.frontDoor ?? 'unknown')},"rows":${record.rows},"latency_ms":${latency},"inputs":${json.inputs(record.inputs)},"predictions":${json.predictions(record.predictions ?? [])}}}`;
  }
}
