// Prometheus metrics for one app instance. Each app gets its own prom-client Registry (never the
// global one), so tests and benchmarks can build several apps in one process.
//
// What is measured, and where (see docs/production.md):
// - every HTTP response: modelserve_requests_total / modelserve_request_duration_seconds
//   {model, route, status} (onResponse hook; route is the route template, model only a served
//   model's name, so label cardinality stays bounded whatever clients send);
// - every batch run (the batcher's onBatch observer): queue wait per request and inference time
//   per run, separately (as Triton reports queue and compute time), and batch size in rows;
// - on scrape: queue depth from each batcher's stats(), model load state, readiness;
// - rejections: modelserve_rejected_total{model, reason="overloaded"|"timeout"} (onError hook);
// - per-API-key rate limiting: modelserve_rate_limited_total{key=<fingerprint>} (auth hook);
// - the Node process: prom-client's default metrics (CPU, memory, event-loop lag, GC, handles).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BatchInfo } from '../batching/batcher.js';

export type RejectReason = 'overloaded' | 'timeout';

/** Something that reports waiting rows per model (the registry's batchers). */
export type QueueDepthSource = () => Iterable<[model: string, rows: number, inFlightBatches: number]>;

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
  private readonly requests: Counter<'model' | 'route' | 'status'>;
  private readonly requestDuration: Histogram<'model' | 'route' | 'status'>;
  private readonly queueWait: Histogram<'model'>;
  private readonly inference: Histogram<'model'>;
  private readonly batchSize: Histogram<'model'>;
  private readonly batchRequests: Histogram<'model'>;
  private readonly batchFailures: Counter<'model'>;
  private readonly rejectedTotal: Counter<'model' | 'reason'>;
  private readonly rateLimitedTotal: Counter<'key'>;
  private readonly modelLoaded: Gauge<'model'>;
  private readonly ready: Gauge;
  private queueSource: QueueDepthSource | undefined;
  private readySource: (() => boolean) | undefined;

  constructor(options: MetricsOptions = {}) {
    this.registry = new Registry();
    if (options.labels) this.registry.setDefaultLabels(options.labels);
    const registers = [this.registry];
    this.requests = new Counter({ name: 'modelserve_requests_total', help: 'HTTP requests answered, by model, route template and status code.', labelNames: ['model', 'route', 'status'], registers });
    this.requestDuration = new Histogram({ name: 'modelserve_request_duration_seconds', help: 'HTTP request latency (first byte in to last byte out), by model, route template and status code.', labelNames: ['model', 'route', 'status'], buckets: LATENCY_BUCKETS, registers });
    this.queueWait = new Histogram({ name: 'modelserve_queue_wait_seconds', help: 'Time a request waited in the model queue before its batch started (per request).', labelNames: ['model'], buckets: LATENCY_BUCKETS, registers });
    this.inference = new Histogram({ name: 'modelserve_inference_duration_seconds', help: 'Time one batch spent in inference (encode, onnxruntime run on a worker, decode), per batch.', labelNames: ['model'], buckets: LATENCY_BUCKETS, registers });
    this.batchSize = new Histogram({ name: 'modelserve_batch_size', help: 'Rows per inference run.', labelNames: ['model'], buckets: BATCH_BUCKETS, registers });
    this.batchRequests = new Histogram({ name: 'modelserve_batch_requests', help: 'Requests coalesced into one inference run.', labelNames: ['model'], buckets: BATCH_BUCKETS, registers });
    this.batchFailures = new Counter({ name: 'modelserve_inference_failures_total', help: 'Inference runs that failed.', labelNames: ['model'], registers });
    this.rateLimitedTotal = new Counter({ name: 'modelserve_rate_limited_total', help: 'Requests refused with 429 by the per-API-key rate limit, by key fingerprint (first 8 hex digits of the SHA-256 of the key).', labelNames: ['key'], registers });
    this.rejectedTotal = new Counter({ name: 'modelserve_rejected_total', help: 'Requests refused by overload protection: reason="overloaded" (queue full, 503) or "timeout" (deadline passed, 504).', labelNames: ['model', 'reason'], registers });
    this.modelLoaded = new Gauge({ name: 'modelserve_model_loaded', help: '1 when the model is loaded and serving, 0 otherwise.', labelNames: ['model'], registers });
    this.ready = new Gauge({
      name: 'modelserve_ready',
      help: '1 while /readyz answers 200 (loaded, warmed up, not draining), 0 otherwise.',
      registers,
      collect: () => this.ready.set(this.readySource?.() ? 1 : 0),
    });
    const queueDepth: Gauge<'model'> = new Gauge({
      name: 'modelserve_queue_depth',
      help: 'Rows waiting in the model queue (not yet in a running batch).',
      labelNames: ['model'],
      registers,
      collect: () => {
        for (const [model, rows, inFlight] of this.queueSource?.() ?? []) {
          queueDepth.set({ model }, rows);
          inFlightGauge.set({ model }, inFlight);
        }
      },
    });
    const inFlightGauge: Gauge<'model'> = new Gauge({ name: 'modelserve_batches_in_flight', help: 'Inference runs in flight for the model (at most the worker count).', labelNames: ['model'], registers });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Records one answered HTTP request. */
  observeRequest(model: string, route: string, status: number, seconds: number): void {
    const labels = { model, route, status: String(status) };
    this.requests.inc(labels);
    this.requestDuration.observe(labels, seconds);
  }

  /** The batcher observer for one model (pass as RegistryOptions.onBatch). */
  batchObserver(model: string): (info: BatchInfo) => void {
    return (info) => {
      this.batchSize.observe({ model }, info.rows);
      this.batchRequests.observe({ model }, info.requests);
      this.inference.observe({ model }, info.runMs / 1000);
      for (const ms of info.queueWaitMs) this.queueWait.observe({ model }, ms / 1000);
      if (!info.ok) this.batchFailures.inc({ model });
    };
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
      this.modelLoaded.set({ model }, 0);
      for (const reason of ['overloaded', 'timeout'] as const) this.rejectedTotal.inc({ model, reason }, 0);
    }
  }

  setModelLoaded(model: string, loaded: boolean): void {
    this.modelLoaded.set({ model }, loaded ? 1 : 0);
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
    return this.registry.metrics();
  }
}
