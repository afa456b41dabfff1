// Per-version inference statistics in the shape of Triton's statistics extension
// (GET /v2/models/{m}/versions/{v}/stats, gRPC ModelStatistics). Both sources are the core's, so
// the numbers cover every front door alike (JSON REST, OIP REST, gRPC, MQTT, and a pipeline's local
// steps, which are requests to their models):
// - requests (CoreOptions.onRequest): success / fail count and duration (in the version: queue and
//   run, ns), inference_count (rows of successful requests), last_inference (ms since the epoch);
//   a request refused for a full queue is not one (Triton refuses it before queueing it, uncounted);
// - executions (CoreOptions.onBatch): execution_count, batch_stats, and for the successful requests
//   (as Triton records them: a request that passed its deadline while its batch ran, or whose client
//   went away meanwhile, is a fail with no queue or compute time) each one's queue wait and its
//   execution's compute_input (the batch's input tensors put together), compute_infer (the
//   runtime's run: on a worker thread, its hand-off both ways included) and compute_output (the
//   outputs split per request).
// The core's load-time warm-up run is not an inference request: it is counted nowhere.
// The numbers belong to the loaded model, as Triton's do (its statistics live in the model it
// loaded): a version loaded again — after an unload, an eviction, a reload of changed files —
// starts from zero (watchCore); a version removed from the repository is forgotten.
import type { BatchInfo } from '../../batching/batcher.js';
import type { CoreEvent, InferenceCore } from '../../core/core.js';
import type { RequestObserver } from '../../core/servable.js';

export interface Duration { count: number; ns: number }

interface VersionCounters {
  lastInference: number;
  inferenceCount: number;
  executionCount: number;
  success: Duration;
  fail: Duration;
  queue: Duration;
  computeInput: Duration;
  computeInfer: Duration;
  computeOutput: Duration;
  /** Batch size -> executions and their compute times. */
  batches: Map<number, BatchDurations>;
}

interface BatchDurations { input: Duration; infer: Duration; output: Duration }

const zero = (): Duration => ({ count: 0, ns: 0 });
const fresh = (): VersionCounters => ({ lastInference: 0, inferenceCount: 0, executionCount: 0, success: zero(), fail: zero(), queue: zero(), computeInput: zero(), computeInfer: zero(), computeOutput: zero(), batches: new Map() });
const add = (d: Duration, count: number, ns: number): void => {
  d.count += count;
  d.ns += ns;
};
const MS_TO_NS = 1e6;

export class InferenceStatistics {
  private readonly versions = new Map<string, VersionCounters>();

  private counters(model: string, version: number): VersionCounters {
    const key = `${model}\u0000${version}`;
    let c = this.versions.get(key);
    if (c === undefined) {
      c = fresh();
      this.versions.set(key, c);
    }
    return c;
  }

  /**
   * Follows a core: a version that becomes ready (a load, or a reload replacing the serving one)
   * starts from zero. Reset in place: the new load's observers already hold these counters, and no
   * request has reached it yet (the warm-up run is not counted).
   */
  watchCore(core: InferenceCore): void {
    let removalsSeen = 0;
    core.on('event', (event: CoreEvent) => {
      if (event.type === 'version-ready') Object.assign(this.counters(event.model, event.version), fresh());
      // A version the repository no longer has (its folder deleted): forgotten, or a repository whose
      // models come and go would keep counters for every version ever served.
      if (event.type === 'models-changed' && core.removals !== removalsSeen) {
        removalsSeen = core.removals;
        for (const key of this.versions.keys()) {
          const [model, version] = key.split('\u0000') as [string, string];
          if (!core.knows(model, Number(version))) this.versions.delete(key);
        }
      }
    });
  }

  /** The batch observer for one version (compose it into CoreOptions.onBatch). */
  observer(model: string, version: number): (info: BatchInfo) => void {
    return (info) => {
      // A failed multi-request batch is re-run request by request; the warm-up run is no request.
      if (!info.ok || info.unobserved) return;
      const c = this.counters(model, version);
      const inputNs = Math.round(info.inputMs * MS_TO_NS);
      const outputNs = Math.round(info.outputMs * MS_TO_NS);
      const inferNs = Math.max(0, Math.round(info.runMs * MS_TO_NS) - inputNs - outputNs);
      c.executionCount++;
      let answered = 0;
      for (let i = 0; i < info.requests; i++) {
        if (!info.answered[i]) continue;
        answered++;
        c.queue.ns += Math.round(info.queueWaitMs[i]! * MS_TO_NS);
      }
      c.queue.count += answered;
      // Each request an execution answers is counted with the execution's times, as Triton does.
      add(c.computeInput, answered, inputNs * answered);
      add(c.computeInfer, answered, inferNs * answered);
      add(c.computeOutput, answered, outputNs * answered);
      let batch = c.batches.get(info.rows);
      if (batch === undefined) {
        batch = { input: zero(), infer: zero(), output: zero() };
        c.batches.set(info.rows, batch);
      }
      add(batch.input, 1, inputNs);
      add(batch.infer, 1, inferNs);
      add(batch.output, 1, outputNs);
    };
  }

  /** The request observer for one version (CoreOptions.onRequest). */
  requestObserver(model: string, version: number): RequestObserver {
    const c = this.counters(model, version);
    return (ok, rows, ms) => {
      const d = ok ? c.success : c.fail;
      d.count++;
      d.ns += Math.round(ms * MS_TO_NS);
      if (ok) c.inferenceCount += rows;
      c.lastInference = Date.now();
    };
  }

  /** Triton's $model_stat for a version. */
  snapshot(model: string, version: number): Record<string, unknown> {
    const c = this.counters(model, version);
    const none = zero();
    return {
      name: model,
      version: String(version),
      last_inference: c.lastInference,
      inference_count: c.inferenceCount,
      execution_count: c.executionCount,
      inference_stats: {
        success: { ...c.success }, fail: { ...c.fail }, queue: { ...c.queue },
        compute_input: { ...c.computeInput }, compute_infer: { ...c.computeInfer }, compute_output: { ...c.computeOutput },
        cache_hit: { ...none }, cache_miss: { ...none },
      },
      batch_stats: [...c.batches.entries()].sort((a, b) => a[0] - b[0]).map(([size, d]) => ({
        batch_size: size, compute_input: { ...d.input }, compute_infer: { ...d.infer }, compute_output: { ...d.output },
      })),
      memory_usage: [],
    };
  }
}
