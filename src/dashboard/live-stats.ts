// What the dashboard shows, per model version, kept from the core's PredictionTap (so every front
// door counts) plus the app's Prometheus registry (HTTP statuses, gRPC codes, MQTT outcomes, batch sizes) and the batchers
// (queue depth). snapshot() is computed once per tick and sent to every open dashboard.
import type { Registry } from 'prom-client';
import type { ModelConfig, OutputSpec } from '../config/types.js';
import type { CoreEvent, InferenceCore } from '../core/core.js';
import type { PredictionRecord } from '../core/prediction-tap.js';
import { REDACTED } from '../events/cloudevent.js';

const WINDOW = 2048;
const LATEST = 20;
/** Rows of a request the latest-predictions table shows (a batch of thousands would make every frame megabytes). */
const LATEST_ROWS = 3;
const BINS = 20;
/**
 * What the latest-predictions table shows of a value: a text's first characters, a list's first
 * items, an object's first keys, a few levels deep. A client's 900 KB string (an extra field a
 * model takes by default) made every frame megabytes, for every open dashboard, each held whole
 * in a slow reader's buffer.
 */
const SHOWN_CHARS = 200;
const SHOWN_ITEMS = 20;
const SHOWN_KEYS = 50;
const SHOWN_DEPTH = 4;

export interface VersionSnapshot {
  model: string;
  version: number;
  /** Loaded and serving now; false once unloaded, replaced by a newer version or evicted (its counts stay; a model removed from the repository loses its cards, and of the versions it no longer has only the newest keeps one). */
  loaded: boolean;
  /** Prediction calls answered (not those whose client had gone: a 499, among the errors) and rows since start, by front door. */
  requests: number;
  rows: number;
  byFrontDoor: Record<string, number>;
  /** Requests per second over the last tick. */
  rate: number;
  /** Over the last 2048 requests, ms (queue wait + inference + decode). */
  latency: { p50: number; p95: number; p99: number } | null;
  queueDepth: number;
  /** Mean rows per inference run and runs since start (from modelserve_batch_size). */
  batches: { runs: number; meanRows: number } | null;
  /** Classifier outputs: predictions per label since start. */
  labels: { field: string; counts: Record<string, number> } | null;
  /** A probability or regression output: histogram of the last 2048 values. */
  histogram: { field: string; min: number; max: number; counts: number[] } | null;
}

export interface DashboardSnapshot {
  time: string;
  versions: VersionSnapshot[];
  /** Error answers since start: "<front door> <status or outcome>" -> count, per model. */
  errors: Array<{ model: string; version: string; frontDoor: string; status: string; count: number }>;
  /** The latest requests, each with its first rows (`rows`: how many it had). */
  latest: Array<{ time: string; model: string; version: number; request_id: string | null; front_door: string; rows: number; inputs: unknown; predictions: unknown; latency_ms: number }>;
}

class VersionStats {
  requests = 0;
  rows = 0;
  byFrontDoor: Record<string, number> = {};
  private lastRequests = 0;
  rate = 0;
  latencies = new Float64Array(WINDOW);
  latencyCount = 0;
  /** No prototype: a label may be any word ('constructor', 'toString'). */
  labels: Record<string, number> = Object.create(null) as Record<string, number>;
  values = new Float64Array(WINDOW);
  valueCount = 0;

  labelSpec: OutputSpec | undefined;
  valueSpec: OutputSpec | undefined;

  constructor(readonly model: string, readonly version: number, config: ModelConfig | undefined) {
    this.follow(config);
  }

  /**
   * The outputs counted, from the version's config; loaded again with other outputs (model.yaml
   * edited under --watch), a distribution whose field changed starts over, not counting 'undefined'.
   */
  follow(config: ModelConfig | undefined): void {
    const label = config?.outputs.find((o) => o.kind === 'label');
    const value = config?.outputs.find((o) => o.kind === 'column');
    if (label?.field !== this.labelSpec?.field) this.labels = Object.create(null) as Record<string, number>;
    if (value?.field !== this.valueSpec?.field) this.valueCount = 0;
    this.labelSpec = label;
    this.valueSpec = value;
    this.shownHistogram = undefined;
  }

  add(record: PredictionRecord): void {
    this.requests++;
    this.rows += record.rows;
    const door = record.frontDoor ?? 'unknown';
    this.byFrontDoor[door] = (this.byFrontDoor[door] ?? 0) + 1;
    this.latencies[this.latencyCount++ % WINDOW] = record.latencyMs;
    this.shownLatency = undefined;
    this.shownHistogram = undefined;
    for (const p of record.predictions ?? []) {
      if (this.labelSpec) {
        const label = String(p[this.labelSpec.field]);
        this.labels[label] = (this.labels[label] ?? 0) + 1;
      }
      if (this.valueSpec) {
        const value = p[this.valueSpec.field];
        if (typeof value === 'number') this.values[this.valueCount++ % WINDOW] = value;
      }
    }
  }

  tick(seconds: number): void {
    this.rate = seconds > 0 ? (this.requests - this.lastRequests) / seconds : 0;
    this.lastRequests = this.requests;
  }

  /**
   * What latency() and histogram() last gave, until a request comes (or the outputs change): with
   * hundreds of models, most have no traffic between two ticks, and sorting each one's window again
   * was most of a snapshot's time.
   */
  private shownLatency: VersionSnapshot['latency'] | undefined;
  private shownHistogram: VersionSnapshot['histogram'] | undefined;

  latency(): VersionSnapshot['latency'] {
    return (this.shownLatency ??= this.latencyNow());
  }

  histogram(): VersionSnapshot['histogram'] {
    return (this.shownHistogram ??= this.histogramNow());
  }

  private latencyNow(): VersionSnapshot['latency'] {
    const n = Math.min(this.latencyCount, WINDOW);
    if (n === 0) return null;
    // Each percentile selected in place (a full sort of 2048 values took ~150 µs, per busy version per tick).
    const window = this.latencies.slice(0, n);
    let from = 0;
    const at = (q: number) => {
      const k = Math.min(n - 1, Math.ceil(q * n) - 1);
      // The next, higher percentile is among the values from this one on.
      select(window, k, from, n - 1);
      from = k;
      return Math.round(window[k]! * 1000) / 1000;
    };
    return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
  }

  private histogramNow(): VersionSnapshot['histogram'] {
    if (!this.valueSpec) return null;
    const n = Math.min(this.valueCount, WINDOW);
    const values = this.values.subarray(0, n);
    let min = 0;
    let max = 1;
    // A probability keeps the 0..1 axis; anything else spans what was seen.
    // Indexed loops: for-of over a typed array is several times slower.
    for (let i = 0; i < n; i++) { const v = values[i]!; if (v < min) min = v; if (v > max) max = v; }
    const counts = new Array<number>(BINS).fill(0);
    const width = (max - min) / BINS || 1;
    for (let i = 0; i < n; i++) counts[Math.min(BINS - 1, Math.floor((values[i]! - min) / width))]!++;
    return { field: this.valueSpec.field, min, max, counts };
  }
}

/**
 * Moves the k-th smallest of values[lo..hi] to values[k], smaller ones before it and larger ones
 * after (Hoare's selection: equal values split between both sides, so a window of equal latencies
 * stays linear).
 */
function select(values: Float64Array, k: number, lo: number, hi: number): void {
  while (lo < hi) {
    const pivot = values[(lo + hi) >> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i]! < pivot) i++;
      while (values[j]! > pivot) j--;
      if (i <= j) {
        const swap = values[i]!;
        values[i++] = values[j]!;
        values[j--] = swap;
      }
    }
    // values[lo..j] <= pivot <= values[i..hi], and those between equal the pivot.
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return;
  }
}

/** A kept record; a large one (trimmed) has the shapes of its inputs instead of the tensors. */
type ShownRecord = PredictionRecord & { shapes?: Record<string, string> };

function shapesOf(feeds: NonNullable<PredictionRecord['feeds']>): Record<string, string> {
  const shapes: Record<string, string> = {};
  for (const name of Object.keys(feeds)) {
    const t = feeds[name]!;
    shapes[name] = `${t.type}[${t.dims.join(',')}]`;
  }
  return shapes;
}

/**
 * What is kept of a large record: its first rows, or its inputs' shapes instead of its tensors.
 * Written out field by field: a spread of the record (whose shape varies by front door) cost a
 * slow-path property definition per field on every request.
 */
function trimmed(record: PredictionRecord): ShownRecord {
  return {
    model: record.model,
    version: record.version,
    requestId: record.requestId,
    frontDoor: record.frontDoor,
    rows: record.rows,
    latencyMs: record.latencyMs,
    time: record.time,
    undelivered: record.undelivered,
    inputs: record.inputs?.slice(0, LATEST_ROWS),
    predictions: record.predictions?.slice(0, LATEST_ROWS),
    shapes: record.feeds && shapesOf(record.feeds),
  };
}

/** A bounded copy of `value` for display (see SHOWN_CHARS), its cost bounded too; `redact`: the keys (of a row) shown as [redacted]. */
function preview(value: unknown, depth = 0, redact?: ReadonlySet<string>): unknown {
  if (typeof value === 'string') return value.length > SHOWN_CHARS ? `${value.slice(0, SHOWN_CHARS)}… (${value.length} characters)` : value;
  if (value === null || typeof value !== 'object') return value;
  if (depth >= SHOWN_DEPTH) return '…';
  if (Array.isArray(value)) {
    const items = value.slice(0, SHOWN_ITEMS).map((v) => preview(v, depth + 1));
    if (value.length > SHOWN_ITEMS) items.push(`… (${value.length} items)`);
    return items;
  }
  const out: Record<string, unknown> = {};
  let n = 0;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    if (n++ === SHOWN_KEYS) {
      out['…'] = `(${Object.keys(value).length} keys)`;
      break;
    }
    out[key.length > SHOWN_CHARS ? `${key.slice(0, SHOWN_CHARS)}…` : key] = redact?.has(key) ? REDACTED : preview((value as Record<string, unknown>)[key], depth + 1);
  }
  return out;
}

export class LiveStats {
  private readonly versions = new Map<string, VersionStats>();
  private latest: ShownRecord[] = [];
  private lastTick = performance.now();
  private readonly redact: ReadonlySet<string>;

  constructor(private readonly core: () => InferenceCore | undefined, private readonly registry: Registry | undefined, redact: readonly string[]) {
    this.redact = new Set(redact);
  }

  /** The core's observer: counts, and keeps the latest few (redacted when shown). */
  readonly observe = (record: PredictionRecord): void => {
    // An answer no one reads is a 499, shown among the errors (from the metrics): not a prediction as well.
    if (record.undelivered) return;
    const key = `${record.model}\u0000${record.version}`;
    let stats = this.versions.get(key);
    if (stats === undefined) {
      stats = new VersionStats(record.model, record.version, this.configOf(record.model, record.version));
      this.versions.set(key, stats);
    }
    stats.add(record);
    // The record itself (already allocated); shaped for display only when a snapshot is taken. A
    // large one is trimmed first, so the 40 kept do not hold whole batches (nor their tensors) alive.
    this.latest.push(record.rows > LATEST_ROWS ? trimmed(record) : record);
    if (this.latest.length > LATEST * 2) this.latest = this.latest.slice(-LATEST);
  };

  /** A version made ready (its first load, or a reload: the core's version-ready event, sent before it serves). */
  readonly versionReady = (model: string, version: number): void => {
    this.versions.get(`${model}\u0000${version}`)?.follow(this.configOf(model, version));
  };

  /**
   * A served version's config. peek(), not resolve(): a look is no request, and under --max-loaded-models
   * a request decides which model is evicted next. A version gone meanwhile has none (its prediction still counts).
   */
  private configOf(model: string, version: number): ModelConfig | undefined {
    try {
      return this.core()?.peek(model, version)?.config;
    } catch {
      return undefined;
    }
  }

  /**
   * A model removed from the repository loses its cards (an unloaded one's stay). A version the repository no longer has
   * (replaced under its version policy, its folder deleted) keeps its card only while it is its model's newest such: the
   * version a rollout replaced stays beside the new one, but a model given a new version per deploy does not keep a card,
   * and its 32 KB of windows, per version ever served. Also on the core's models-changed (onCoreEvent): with no
   * dashboard open, no snapshot is taken.
   */
  private forgetRemoved(): void {
    const core = this.core();
    if (core === undefined) return;
    this.removalsSeen = core.removals;
    const replaced = new Map<string, string>();
    for (const [key, s] of this.versions) {
      if (!core.has(s.model)) this.versions.delete(key);
      else if (!core.knows(s.model, s.version)) {
        const kept = replaced.get(s.model);
        if (kept !== undefined && this.versions.get(kept)!.version > s.version) this.versions.delete(key);
        else {
          if (kept !== undefined) this.versions.delete(kept);
          replaced.set(s.model, key);
        }
      }
    }
  }

  private removalsSeen = 0;

  /** The core's events: a version made ready, and models or versions removed (checked only when core.removals moved). */
  readonly onCoreEvent = (event: CoreEvent): void => {
    if (event.type === 'version-ready') this.versionReady(event.model, event.version);
    else if (event.type === 'models-changed' && this.core()?.removals !== this.removalsSeen) this.forgetRemoved();
  };

  /** Requests/s is measured over whole seconds, whoever asks for snapshots how often. */
  private rates: NodeJS.Timeout | undefined;
  startRates(): void {
    this.rates ??= setInterval(() => {
      const now = performance.now();
      const seconds = (now - this.lastTick) / 1000;
      this.lastTick = now;
      for (const s of this.versions.values()) s.tick(seconds);
    }, 1000).unref();
  }

  stop(): void {
    if (this.rates) clearInterval(this.rates);
    this.rates = undefined;
  }

  async snapshot(): Promise<DashboardSnapshot> {
    const core = this.core();
    const queues = new Map<string, number>();
    for (const v of core?.readyVersions() ?? []) {
      queues.set(`${v.name}\u0000${v.version}`, v.batcher.stats().queuedRows);
      // A served version with no traffic yet still gets a card.
      const key = `${v.name}\u0000${v.version}`;
      if (!this.versions.has(key)) this.versions.set(key, new VersionStats(v.name, v.version, v.config));
    }
    this.forgetRemoved();
    const batches = await this.batchSizes();
    const versions: VersionSnapshot[] = [];
    for (const [key, s] of [...this.versions].sort(([a], [b]) => a.localeCompare(b))) {
      versions.push({
        model: s.model,
        version: s.version,
        loaded: queues.has(key),
        requests: s.requests,
        rows: s.rows,
        byFrontDoor: { ...s.byFrontDoor },
        rate: Math.round(s.rate * 10) / 10,
        latency: s.latency(),
        queueDepth: queues.get(key) ?? 0,
        batches: batches.get(key) ?? null,
        labels: s.labelSpec ? { field: s.labelSpec.field, counts: { ...s.labels } } : null,
        histogram: s.histogram(),
      });
    }
    const latest = this.latest.slice(-LATEST).reverse().map((r) => ({
      time: new Date(r.time).toISOString(),
      model: r.model,
      version: r.version,
      request_id: r.requestId ?? null,
      front_door: r.frontDoor ?? 'unknown',
      rows: r.rows,
      // Tensor-level calls (infer) show their shapes only.
      inputs: r.inputs ? r.inputs.map((row) => preview(row, 0, this.redact)) : (r.shapes ?? (r.feeds ? shapesOf(r.feeds) : {})),
      predictions: r.predictions ? r.predictions.map((row) => preview(row, 0, this.redact)) : null,
      latency_ms: Math.round(r.latencyMs * 1000) / 1000,
    }));
    return { time: new Date().toISOString(), versions, errors: await this.errors(), latest };
  }

  private async batchSizes(): Promise<Map<string, { runs: number; meanRows: number }>> {
    const out = new Map<string, { runs: number; meanRows: number }>();
    const metric = this.registry?.getSingleMetric('modelserve_batch_size');
    if (!metric) return out;
    const sums = new Map<string, number>();
    for (const v of (await metric.get()).values) {
      const key = `${v.labels.model}\u0000${v.labels.version}`;
      if ((v as { metricName?: string }).metricName === 'modelserve_batch_size_sum') sums.set(key, v.value);
      if ((v as { metricName?: string }).metricName === 'modelserve_batch_size_count') out.set(key, { runs: v.value, meanRows: 0 });
    }
    for (const [key, b] of out) b.meanRows = b.runs > 0 ? Math.round(((sums.get(key) ?? 0) / b.runs) * 100) / 100 : 0;
    return out;
  }

  private async errors(): Promise<DashboardSnapshot['errors']> {
    const out: DashboardSnapshot['errors'] = [];
    const http = this.registry?.getSingleMetric('modelserve_requests_total');
    if (http) {
      for (const v of (await http.get()).values) {
        const status = String(v.labels.status);
        if (Number(status) >= 400 && v.value > 0 && v.labels.model) out.push({ model: String(v.labels.model), version: String(v.labels.version ?? ''), frontDoor: 'http', status, count: v.value });
      }
    }
    const grpc = this.registry?.getSingleMetric('modelserve_grpc_requests_total');
    if (grpc) {
      for (const v of (await grpc.get()).values) {
        if (v.labels.code !== 'OK' && v.value > 0 && v.labels.model) out.push({ model: String(v.labels.model), version: String(v.labels.version ?? ''), frontDoor: 'grpc', status: String(v.labels.code), count: v.value });
      }
    }
    const mqtt = this.registry?.getSingleMetric('modelserve_mqtt_messages_total');
    if (mqtt) {
      for (const v of (await mqtt.get()).values) {
        if (v.labels.outcome !== 'predicted' && v.value > 0) out.push({ model: String(v.labels.model), version: '', frontDoor: 'mqtt', status: String(v.labels.outcome), count: v.value });
      }
    }
    // Several routes may answer the same status: one line per model, version and status.
    const merged = new Map<string, DashboardSnapshot['errors'][number]>();
    for (const e of out) {
      const key = `${e.model}|${e.version}|${e.frontDoor}|${e.status}`;
      const seen = merged.get(key);
      if (seen) seen.count += e.count;
      else merged.set(key, { ...e });
    }
    return [...merged.values()];
  }
}
