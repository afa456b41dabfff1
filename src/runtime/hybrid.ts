// HybridRuntime: worker threads for real work, the main thread for batches too small to be worth
// a hand-off. A run on a worker costs two thread hand-offs (post the feeds, wake the worker, post
// the outputs back, wake the main thread); on shared or virtualised machines a wake-up costs tens
// of microseconds of CPU, more than a small model's whole run (BENCHMARKS.md, main section).
// So a batch whose run is expected to take at most `inlineMaxMs` runs on the calling thread; every
// other one on a worker, so the event loop is never blocked longer than that.
//
// The expected time comes from the workers' own timing of each model right after it loads (fixed
// cost + cost per row, on zeros: RunCost). Only models cheap enough for a one-row batch get a
// main-thread session at all, so large models cost no extra memory or main-thread load time.
import type { InferenceRuntime, ModelSignature, ModelSource, NamedTensors } from './types.js';
import type { InProcessRuntime } from './in-process.js';
import type { WorkerPoolRuntime } from '../workers/pool.js';

export interface HybridOptions {
  /** Longest expected run (ms) done on the calling thread; 0: never. */
  inlineMaxMs: number;
  intraOpThreads?: number;
}

export class HybridRuntime implements InferenceRuntime {
  readonly parallelism: number;
  /** Created with the first cheap model (onnxruntime is then loaded on the main thread too). */
  private inline: InProcessRuntime | undefined;
  /** Rows up to which a model's batch runs inline (absent: never). */
  private readonly inlineLimits = new Map<string, number>();

  constructor(private readonly pool: WorkerPoolRuntime, private readonly options: HybridOptions) {
    this.parallelism = pool.parallelism;
  }

  /** Rows up to which batches of this model run on the main thread (0: none). */
  inlineRows(model: string): number {
    return this.inlineLimits.get(model) ?? 0;
  }

  async load(models: ModelSource[]): Promise<Record<string, ModelSignature>> {
    const signatures = await this.pool.load(models);
    const cheap: Array<{ source: ModelSource; rows: number }> = [];
    for (const m of models) {
      const cost = this.pool.runCost(m.name);
      const spare = cost === undefined ? -1 : this.options.inlineMaxMs - cost.fixedMs - cost.perRowMs;
      const rows = cost === undefined || spare < 0 ? 0 : cost.perRowMs > 0 ? 1 + Math.floor(spare / cost.perRowMs) : Number.MAX_SAFE_INTEGER;
      if (rows >= 1) cheap.push({ source: m, rows });
    }
    // Replaced models that are no longer cheap lose their main-thread session.
    const dropped = models.filter((m) => this.inlineLimits.has(m.name) && !cheap.some((c) => c.source.name === m.name)).map((m) => m.name);
    for (const name of dropped) this.inlineLimits.delete(name);
    await this.inline?.unload(dropped);
    if (cheap.length > 0) {
      try {
        if (this.inline === undefined) {
          const { InProcessRuntime } = await import('./in-process.js');
          this.inline ??= new InProcessRuntime({ intraOpThreads: this.options.intraOpThreads ?? 1, interOpThreads: 1 });
        }
        await this.inline.load(cheap.map((c) => c.source));
        for (const c of cheap) this.inlineLimits.set(c.source.name, c.rows);
      } catch {
        // The workers loaded it: it is served there only.
        for (const c of cheap) this.inlineLimits.delete(c.source.name);
      }
    }
    return signatures;
  }

  async unload(names: string[]): Promise<void> {
    for (const name of names) this.inlineLimits.delete(name);
    await Promise.all([this.pool.unload(names), this.inline?.unload(names)]);
  }

  run(model: string, feeds: NamedTensors, outputNames?: string[]): Promise<NamedTensors> {
    const limit = this.inlineLimits.get(model);
    if (limit !== undefined && this.inline !== undefined) {
      const first = feeds[Object.keys(feeds)[0]!];
      if (first !== undefined && (first.dims[0] ?? 1) <= limit) return this.inline.run(model, feeds, outputNames);
    }
    return this.pool.run(model, feeds, outputNames);
  }

  async close(): Promise<void> {
    await Promise.all([this.inline?.close(), this.pool.close()]);
  }
}
