// Prometheus metrics for one app instance. Each app gets its own prom-client Registry (never the
// global one), so tests and benchmarks can build several apps in one process.
//
// What is measured, and where (see docs/production.md):
// - every HTTP response: modelserve_requests_total / modelserve_request_duration_seconds (counted in
//   request-series.ts, without prom-client's per-call label hashing)
//   {model, route, status} (onResponse hook; route is the route template, model only a served
//   model's name, so label cardinality stays bounded whatever clients send);
// - every gRPC answer (a unary call, a request on a stream): modelserve_grpc_requests_total /
//   modelserve_grpc_request_duration_seconds {model, version, rpc, code} (grpc/server.ts);
// - every batch run (the batcher's onBatch observer): queue wait per request and inference time
//   per run, separately (as Triton reports queue and compute time), and batch size in rows;
// - on scrape: queue depth from each batcher's stats(), model load state, readiness;
// - the model repository: loads (ok / failed, with their time), unloads by reason, evictions by
//   the memory budget — every model-level series carries the model and its version;
// - rejections: modelserve_rejected_total{model, reason="overloaded"|"timeout"} (onError hook);
// - per-API-key rate limiting: modelserve_rate_limited_total{key=<fingerprint>} (auth hook);
// - the Node process: prom-client's default metrics (CPU, memory, event-loop lag, GC, handles).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BatchInfo } from '../batching/batcher.js';
import type { CoreEvent, InferenceCore } from '../core/core.js';
import { BoundHistogram, renderRegistry } from './bound-histogram.js';
import { RequestSeries } from './request-series.js';
import type { RejectReason } from '../errors.js';
import type { InferenceRuntime } from '../runtime/types.js';

export type { RejectReason };

/** Something that reports waiting rows per model version (the core's batchers). */
export type QueueDepthSource = () => Iterable<[model: string, version: string, rows: number, inFlightBatches: number]>;

export interface MetricsOptions {
  /** Collect prom-client's Node process metrics (default true). */
  processMetrics?: boolean;
  /** Constant labels added to every series (e.g. { instance_role: 'canary' }). */
  labels?: Record<string, string>;
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096];

export class Metrics {
  readonly registry: Registry;
  private readonly requests: RequestSeries<'route', 'status'>;
  private readonly grpcCalls: RequestSeries<'rpc', 'code'>;
  // Observed on every batch (the queue wait once per request in it): bound series, no per-call label hashing.
  private readonly queueWait: BoundHistogram<'model' | 'version'>;
  private readonly inference: BoundHistogram<'model' | 'version'>;
  private readonly batchSize: BoundHistogram<'model' | 'version'>;
  private readonly batchRequests: BoundHistogram<'model' | 'version'>;
  private readonly batchFailures: Counter<'model' | 'version'>;
  private readonly rejectedTotal: Counter<'model' | 'reason'>;
  private readonly modelLoaded: Gauge<'model' | 'version'>;
  private readonly loads: Counter<'model' | 'outcome'>;
  private readonly loadDuration: Histogram<'model'>;
  private readonly unloads: Counter<'model' | 'reason'>;
  private readonly evictions: Counter<'model'>;
  private readonly stepDuration: Histogram<'model' | 'version' | 'step' | 'outcome'>;
  private readonly shadowRequests: Counter<'model' | 'shadow' | 'outcome'>;
  private readonly shadowRows: Counter<'model' | 'shadow' | 'result'>;
  private core: InferenceCore | undefined;
  private readonly rateLimitedTotal: Counter<'key'>;
  private readonly ready: Gauge;
  private queueSource: QueueDepthSource | undefined;
  private readySource: (() => boolean) | undefined;
  private quarantineSource: InferenceRuntime['quarantineStats'];

  /** The registry's default labels (prom-client does not give them back). */
  private readonly defaultLabels: Readonly<Record<string, string>>;

  constructor(options: MetricsOptions = {}) {
    this.registry = new Registry();
    this.defaultLabels = { ...options.labels };
    if (options.labels) this.registry.setDefaultLabels(options.labels);
    const registers = [this.registry];
    const mv = ['model', 'version'] as const;
    this.requests = new RequestSeries(this.registry, LATENCY_BUCKETS, {
      total: ['modelserve_requests_total', 'HTTP requests answered, by model, version, route template and status code.'],
      duration: ['modelserve_request_duration_seconds', 'HTTP request latency (first byte in to last byte out), by model, version, route template and status code.'],
      labels: ['route', 'status'],
    });
    this.grpcCalls = new RequestSeries(this.registry, LATENCY_BUCKETS, {
      total: ['modelserve_grpc_requests_total', 'gRPC calls answered (each request on a ModelStreamInfer stream counts as one), by model, version, RPC and status code name.'],
      duration: ['modelserve_grpc_request_duration_seconds', 'gRPC call latency (request read to answer handed to the transport), by model, version, RPC and status code name.'],
      labels: ['rpc', 'code'],
    });
    this.queueWait = new BoundHistogram(this.registry, 'modelserve_queue_wait_seconds', 'Time a request waited in the model queue before its batch started (per request).', LATENCY_BUCKETS);
    this.inference = new BoundHistogram(this.registry, 'modelserve_inference_duration_seconds', 'Time one batch spent in inference (onnxruntime run on a worker, with the tensors joined and split), per batch.', LATENCY_BUCKETS);
    this.batchSize = new BoundHistogram(this.registry, 'modelserve_batch_size', 'Rows per inference run.', BATCH_BUCKETS);
    this.batchRequests = new BoundHistogram(this.registry, 'modelserve_batch_requests', 'Requests coalesced into one inference run.', BATCH_BUCKETS);
    this.batchFailures = new Counter({ name: 'modelserve_inference_failures_total', help: 'Inference runs that failed.', labelNames: mv, registers });
    this.rateLimitedTotal = new Counter({ name: 'modelserve_rate_limited_total', help: 'Requests refused with 429 by the per-API-key rate limit, by key fingerprint (first 8 hex digits of the SHA-256 of the key).', labelNames: ['key'], registers });
    this.rejectedTotal = new Counter({ name: 'modelserve_rejected_total', help: 'Requests refused by overload protection: reason="overloaded" (queue full, 503) or "timeout" (deadline passed, 504).', labelNames: ['model', 'reason'], registers });
    this.modelLoaded = new Gauge({
      name: 'modelserve_model_loaded',
      help: '1 when the model version is loaded and serving, 0 otherwise (loading, failed, unloading, unloaded).',
      labelNames: mv,
      registers,
      collect: () => {
        if (this.core === undefined) return;
        this.modelLoaded.reset();
        const closed = this.core.state === 'closed';
        for (const m of this.core.status()) {
          for (const v of m.versions) if (v.version > 0) this.modelLoaded.set({ model: m.name, version: String(v.version) }, !closed && v.state === 'ready' ? 1 : 0);
        }
      },
    });
    this.loads = new Counter({ name: 'modelserve_model_loads_total', help: 'Model version loads, by outcome: ok, or failed (a corrupt file, a config that does not match; the previous version keeps serving).', labelNames: ['model', 'outcome'], registers });
    this.loadDuration = new Histogram({ name: 'modelserve_model_load_seconds', help: 'Time to load and warm a model version (read, optimise, onnxruntime session in every worker, warm-up).', labelNames: ['model'], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers });
    this.unloads = new Counter({ name: 'modelserve_model_unloads_total', help: 'Model versions unloaded, by reason: replaced (a reload), removed (from disk), unload (the repository API), evicted (the memory budget).', labelNames: ['model', 'reason'], registers });
    this.evictions = new Counter({ name: 'modelserve_model_evictions_total', help: 'Models unloaded to stay within --max-loaded-models.', labelNames: ['model'], registers });
    this.ready = new Gauge({
      name: 'modelserve_ready',
      help: '1 while /readyz answers 200 (loaded, warmed up, not draining), 0 otherwise.',
      registers,
      collect: () => this.ready.set(this.readySource?.() ? 1 : 0),
    });
    const queueDepth: Gauge<'model' | 'version'> = new Gauge({
      name: 'modelserve_queue_depth',
      help: 'Rows waiting in the model queue (not yet in a running batch).',
      labelNames: mv,
      registers,
      collect: () => {
        queueDepth.reset();
        inFlightGauge.reset();
        for (const [model, version, rows, inFlight] of this.queueSource?.() ?? []) {
          queueDepth.set({ model, version }, rows);
          inFlightGauge.set({ model, version }, inFlight);
        }
      },
    });
    const inFlightGauge: Gauge<'model' | 'version'> = new Gauge({ name: 'modelserve_batches_in_flight', help: 'Inference runs in flight for the model version (at most the worker count).', labelNames: mv, registers });
    this.stepDuration = new Histogram({ name: 'modelserve_pipeline_step_duration_seconds', help: 'Time one pipeline step took for one request (local model or remote service), by outcome (ok / error).', labelNames: ['model', 'version', 'step', 'outcome'], buckets: LATENCY_BUCKETS, registers });
    this.shadowRequests = new Counter({ name: 'modelserve_shadow_requests_total', help: 'Requests mirrored to a shadow (model or model:version), by outcome: ok, error, timeout, dropped (its in-flight cap was reached).', labelNames: ['model', 'shadow', 'outcome'], registers });
    this.shadowRows = new Counter({ name: 'modelserve_shadow_rows_total', help: 'Rows whose shadow answer was compared with the served one: result="agree" or "disagree" (agreement = agree / (agree + disagree)).', labelNames: ['model', 'shadow', 'result'], registers });
    const quarantined: Gauge = new Gauge({
      name: 'modelserve_workers_quarantined',
      help: 'Inference worker threads the run watchdog took out of service (a run past --run-timeout-ms) that are still alive, stuck in their run; each holds its models\' memory until the run returns.',
      registers,
      collect: () => quarantined.set(this.quarantineSource?.().alive ?? 0),
    });
    const quarantines: Counter = new Counter({
      name: 'modelserve_worker_quarantines_total',
      help: 'Inference worker threads taken out of service by the run watchdog (a run past --run-timeout-ms) and replaced.',
      registers,
      collect: () => {
        quarantines.reset();
        quarantines.inc(this.quarantineSource?.().total ?? 0);
      },
    });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Records one answered HTTP request. */
  observeRequest(model: string, version: string, route: string, status: number, seconds: number): void {
    this.requests.observe(model, version, route, status, seconds);
  }

  /** Records one answered gRPC call (a request on a stream is one); `code`: the status code's name (OK, NOT_FOUND…). */
  observeGrpc(model: string, version: string, rpc: string, code: string, seconds: number): void {
    this.grpcCalls.observe(model, version, rpc, code, seconds);
  }

  /** The batcher observer for one model (pass as RegistryOptions.onBatch). */
  batchObserver(model: string, version: number): (info: BatchInfo) => void {
    const labels = { model, version: String(version) };
    // Series bound once: no label hashing per batch.
    const size = this.batchSize.labels(labels);
    const requests = this.batchRequests.labels(labels);
    const inference = this.inference.labels(labels);
    const queueWait = this.queueWait.labels(labels);
    return (info) => {
      // The load-time warm-up run is not a client's batch (as in the statistics extension).
      if (info.unobserved) return;
      size.observe(info.rows);
      requests.observe(info.requests);
      inference.observe(info.runMs / 1000);
      for (const ms of info.queueWaitMs) queueWait.observe(ms / 1000);
      if (!info.ok) this.batchFailures.inc(labels);
    };
  }

  /** Shadow traffic observations (src/traffic/router.ts). */
  readonly shadow = {
    request: (model: string, shadow: string, outcome: 'ok' | 'error' | 'timeout' | 'dropped') => this.shadowRequests.inc({ model, shadow, outcome }),
    rows: (model: string, shadow: string, agree: number, disagree: number) => {
      if (agree > 0) this.shadowRows.inc({ model, shadow, result: 'agree' }, agree);
      if (disagree > 0) this.shadowRows.inc({ model, shadow, result: 'disagree' }, disagree);
    },
  };

  /** Follows a runtime's worker health (the run watchdog's quarantines). */
  watchRuntime(runtime: Pick<InferenceRuntime, 'quarantineStats'>): void {
    this.quarantineSource = runtime.quarantineStats?.bind(runtime);
  }

  /** Follows a core: its versions' queues, load states, loads, unloads and evictions, and its runtime's workers. */
  watchCore(core: InferenceCore): void {
    this.core = core;
    this.watchRuntime(core.runtime);
    core.onPipelineStep = (model, version, step, seconds, outcome) => this.stepDuration.observe({ model, version: String(version), step, outcome }, seconds);
    this.declareModels(core.modelNames());
    this.setQueueSource(function* () {
      for (const v of core.readyVersions()) {
        const stats = v.batcher.stats();
        yield [v.name, v.versionHeader, stats.queuedRows, stats.inFlightBatches];
      }
    });
    core.on('event', (event: CoreEvent) => {
      switch (event.type) {
        case 'version-ready':
          this.loads.inc({ model: event.model, outcome: 'ok' });
          this.loadDuration.observe({ model: event.model }, event.loadMs / 1000);
          break;
        case 'version-failed':
          this.loads.inc({ model: event.model, outcome: 'failed' });
          break;
        case 'version-unloaded':
          this.unloads.inc({ model: event.model, reason: event.reason });
          break;
        case 'eviction':
          this.evictions.inc({ model: event.model });
          break;
        case 'models-changed':
          this.declareModels(core.modelNames());
          if (core.removals !== this.removalsSeen) {
            this.removalsSeen = core.removals;
            void this.forgetRemoved(core).catch(() => undefined);
          }
          break;
      }
    });
  }

  /** core.removals when the series were last checked against the repository. */
  private removalsSeen = 0;

  /**
   * Drops the series of models, and of versions, the repository no longer has (a folder deleted under
   * --watch): a repository whose models or versions come and go would otherwise keep every name's
   * series for good. An unloaded or evicted model's stay (it is still in the repository, and loads again).
   */
  private async forgetRemoved(core: InferenceCore): Promise<void> {
    const gone = (labels: Partial<Record<string, string | number>>): boolean => {
      const model = labels.model;
      if (model === undefined || model === '') return false;
      const version = labels.version;
      return !core.knows(String(model), version === undefined || version === '' ? undefined : Number(version));
    };
    for (const series of [this.requests, this.grpcCalls, this.queueWait, this.inference, this.batchSize, this.batchRequests]) series.forget(gone);
    // prom-client's own metrics (this file's, the MQTT front door's): each label set found, less a histogram's `le`.
    for (const metric of this.registry.getMetricsAsArray() as Array<Partial<Counter<string>> & { labelNames?: string[] }>) {
      if (metric.remove === undefined || metric.get === undefined || !metric.labelNames?.includes('model')) continue;
      const sets = new Map<string, Record<string, string | number>>();
      for (const { labels } of (await metric.get()).values) {
        if (!gone(labels)) continue;
        const own: Record<string, string | number> = {};
        for (const [name, value] of Object.entries(labels)) if (name !== 'le' && value !== undefined) own[name] = value;
        sets.set(JSON.stringify(own), own);
      }
      for (const labels of sets.values()) metric.remove(labels);
    }
  }

  /** After shutdown: nothing is loaded. */
  coreClosed(): void {
    this.modelLoaded.reset();
  }

  /** A 429 for the key with this fingerprint. */
  rateLimited(key: string): void {
    this.rateLimitedTotal.inc({ key });
  }

  rejected(model: string, reason: RejectReason): void {
    this.rejectedTotal.inc({ model, reason });
  }

  /** Declares the served models (so their series exist at 0 before any traffic). */
  declareModels(models: Iterable<string>): void {
    for (const model of models) {
      for (const reason of ['overloaded', 'timeout'] as const) this.rejectedTotal.inc({ model, reason }, 0);
    }
  }

  setQueueSource(source: QueueDepthSource): void {
    this.queueSource = source;
  }

  setReadySource(source: () => boolean): void {
    this.readySource = source;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text (Prometheus text format 0.0.4). */
  async render(): Promise<string> {
    return renderRegistry(this.registry, this.defaultLabels);
  }
}
