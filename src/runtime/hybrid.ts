// HybridRuntime: worker threads for real work, the main thread for batches too small to be worth
// a hand-off. A run on a worker costs two thread hand-offs (post the feeds, wake the worker, post
// the outputs back, wake the main thread); on shared or virtualised machines a wake-up costs tens
// of microseconds of CPU, more than a small model's whole run (BENCHMARKS.md, main section).
// So a batch whose run is expected to take at most `inlineMaxMs` runs on the calling thread; every
// other one on a worker, so the event loop is never blocked longer than that.
//
// The expected time comes from the workers' own timing of each model right after it loads (fixed
// cost + cost per row, on zeros: RunCost). But the main thread also does every request's HTTP
// work: a batch of few requests with many rows each (64-row OIP or JSON requests) run there
// saturates it while a worker's core waits on it. So a batch that would take more than half the
// budget and more than a request's own HTTP work per request it serves goes to a worker, idle or
// not (64-row requests of the book model: 15–25 % more requests/s in alternating runs when only
// idle workers got them, 10 % more again when busy ones do too; single-row requests, whose batches
// cost a few µs per request, stay inline: BENCHMARKS.md, OIP section). With workers = cores (the
// default), the main thread running a costly batch because every worker is busy adds no core: it
// only takes one from the workers and delays every request's HTTP work behind the run. Only models cheap enough for a one-row batch get a
// main-thread session at all, so large models cost no extra memory or main-thread load time; it
// loads in the background, so a model serves (from the workers) as soon as the workers have it.
// A model whose cost depends on its inputs' values (a Loop whose trip count is an input, a Range…:
// value-dependent-ops.ts) gets none whatever its timing on zeros: a run of it on the main thread
// could block the event loop for good, where no watchdog reaches.
// The cost estimate is fed by the runs of both (RunCostEstimate): the limits follow what runs take now.
import type { InferenceRuntime, ModelSignature, ModelSource, NamedTensors, TensorInfo } from './types.js';
import type { InProcessRuntime } from './in-process.js';
import type { WorkerPoolRuntime } from '../workers/pool.js';
import { valueDependentOps } from './value-dependent-ops.js';

/** The largest batch ever run on the main thread, whatever the timing says (a fit on two sizes is no promise for thousands of rows). */
const INLINE_MAX_ROWS = 256;

/** The share of the inline budget a batch may take on the main thread whatever its cost per request. */
const ANY_REQUESTS_SHARE = 0.5;

/**
 * Roughly the main thread's own HTTP work for one request (node:http alone spends 30–40 µs per
 * request here): a batch over ANY_REQUESTS_SHARE of the budget whose run costs more than this per request it serves
 * is handed to the worker.
 */
const REQUEST_WORK_MS = 0.05;

/** Rows of a model's batch run on the main thread: up to `anyRequests` whatever the batch's requests, up to `rows` when it costs at most REQUEST_WORK_MS per request it serves. */
export interface InlineLimit { rows: number; anyRequests: number }

/**
 * Elements of one row of an input as the workers timed it (measureRunCost: every variable dimension but the first
 * at 1), so that a batch is weighed by its size, not its first dimension: an input [N, M] timed at M = 1 and sent
 * [1, 1000000] is a million timed rows of work.
 */
function timedRowWidth(input: TensorInfo): number {
  let width = 1;
  for (let i = 1; i < input.shape.length; i++) {
    const d = input.shape[i];
    if (typeof d === 'number' && d >= 0) width *= d;
  }
  return width;
}

/** How long after a load its main-thread sessions start loading (ms). */
const INLINE_LOAD_DELAY_MS = 200;

/**
 * A model's limits after its cost estimate changed: the estimate's, up or down (a limit raised on
 * an estimate that later rose would block the event loop longer than the budget for good).
 * Undefined: nothing to change (the same limits, or still too costly for a main-thread session).
 */
export function changedLimit(current: InlineLimit | undefined, estimate: InlineLimit): InlineLimit | undefined {
  if (current === undefined) return estimate.rows >= 1 ? estimate : undefined;
  return estimate.rows === current.rows && estimate.anyRequests === current.anyRequests ? undefined : estimate;
}

/**
 * Whether a model's graph holds an operator whose work depends on its inputs' values
 * (valueDependentOps: one sized by constants only does not), or cannot be read to tell: its batches
 * then all run on the workers.
 */
async function runsOnWorkersOnly(source: ModelSource): Promise<boolean> {
  try {
    return (await valueDependentOps(source.bytes)).length > 0;
  } catch {
    return true;
  }
}

export interface HybridOptions {
  /** Longest expected run (ms) done on the calling thread; 0: never. */
  inlineMaxMs: number;
  intraOpThreads?: number;
}

export class HybridRuntime implements InferenceRuntime {
  readonly parallelism: number;
  readonly workerThreads: number;
  /** Created with the first cheap model (onnxruntime is then loaded on the main thread too). */
  private inline: InProcessRuntime | undefined;
  /** Rows up to which a model's batch runs inline (absent: never, or its session is not loaded yet). */
  private readonly inlineLimits = new Map<string, InlineLimit>();
  /** Models cheap enough for a main-thread session, with their row limits (loaded or loading). */
  private readonly wanted = new Map<string, { source: ModelSource; limit: InlineLimit }>();
  private readonly loading = new Set<Promise<void>>();
  /** Each model's inputs' timedRowWidth, by model and input name. */
  private readonly rowWidths = new Map<string, Map<string, number>>();
  /** Every model served, by name (to revisit the limits when the cost estimates change). */
  private readonly sources = new Map<string, ModelSource>();
  private seenCostEpoch = 0;
  private closed = false;
  /** Test hook (setInlineRunMsForTesting): the time every main-thread run reports instead of its own. */
  private inlineRunMs: number | undefined;

  constructor(private readonly pool: WorkerPoolRuntime, private readonly options: HybridOptions) {
    this.parallelism = pool.parallelism;
    this.workerThreads = pool.workerThreads;
  }

  /** Rows up to which batches of this model run on the main thread (0: none), by the pool's latest estimate. */
  inlineRows(model: string): number {
    if (this.seenCostEpoch !== this.pool.runCostEpoch) this.refreshLimits();
    return this.inlineLimits.get(model)?.rows ?? 0;
  }

  /** Rows up to which batches of this model run on the main thread whatever their requests (0: none). */
  inlineRowsAnyRequests(model: string): number {
    if (this.seenCostEpoch !== this.pool.runCostEpoch) this.refreshLimits();
    return this.inlineLimits.get(model)?.anyRequests ?? 0;
  }

  async load(models: ModelSource[]): Promise<Record<string, ModelSignature>> {
    const [signatures, workerOnly] = await Promise.all([this.pool.load(models), Promise.all(models.map(runsOnWorkersOnly))]);
    const cheap: ModelSource[] = [];
    for (const [i, m] of models.entries()) {
      const limit = this.limitOf(m.name);
      // A replaced model loses its main-thread session until its new one is there (or for good).
      if (this.inlineLimits.delete(m.name) || this.wanted.has(m.name)) void this.inline?.unload([m.name]);
      this.wanted.delete(m.name);
      this.rowWidths.set(m.name, new Map(signatures[m.name]?.inputs.map((input) => [input.name, timedRowWidth(input)])));
      // Its cost on zeros says nothing of its cost on a real input: never a main-thread session, whatever its timings.
      if (workerOnly[i]) {
        this.sources.delete(m.name);
        continue;
      }
      this.sources.set(m.name, m);
      if (limit.rows >= 1) {
        this.wanted.set(m.name, { source: m, limit });
        cheap.push(m);
      }
    }
    this.seenCostEpoch = this.pool.runCostEpoch;
    this.startInline(cheap);
    return signatures;
  }

  /** Rows of this model expected to run within the budget, and within its share for any batch (0: none), from the pool's current estimate. */
  private limitOf(model: string): InlineLimit {
    const cost = this.pool.runCost(model);
    const rowsWithin = (budgetMs: number): number => {
      const spare = cost === undefined ? -1 : budgetMs - cost.fixedMs - cost.perRowMs;
      if (cost === undefined || spare < 0) return 0;
      return Math.min(INLINE_MAX_ROWS, cost.perRowMs > 0 ? 1 + Math.floor(spare / cost.perRowMs) : INLINE_MAX_ROWS);
    };
    return { rows: rowsWithin(this.options.inlineMaxMs), anyRequests: rowsWithin(this.options.inlineMaxMs * ANY_REQUESTS_SHARE) };
  }

  /**
   * The main-thread sessions load in the background: the model serves from the workers at once
   * (start-up and reloads wait for nothing more), and its cheap batches move to the main thread
   * when its session is ready.
   */
  private startInline(cheap: ModelSource[]): void {
    if (cheap.length === 0) return;
    const loading = this.loadInline(cheap);
    this.loading.add(loading);
    void loading.finally(() => this.loading.delete(loading));
  }

  /**
   * The pool's estimates changed (real runs were faster than the load-time timing, which a machine
   * busy at load inflates, or an unusually fast run was forgotten): the row limits follow, and a
   * model that has become cheap enough gets its main-thread session. One that became too costly
   * keeps its session with a limit of 0 rows (its estimate may come down again).
   */
  private refreshLimits(): void {
    this.seenCostEpoch = this.pool.runCostEpoch;
    if (this.closed) return;
    const newlyCheap: ModelSource[] = [];
    for (const [name, source] of this.sources) {
      const wanted = this.wanted.get(name);
      const limit = changedLimit(wanted?.limit, this.limitOf(name));
      if (limit === undefined) continue;
      this.wanted.set(name, { source, limit });
      if (wanted === undefined) newlyCheap.push(source);
      else if (this.inlineLimits.has(name)) this.inlineLimits.set(name, limit);
    }
    this.startInline(newlyCheap);
  }

  /**
   * Test hook: every main-thread run from now on reports `ms` as its time (undefined: its own), as on a machine
   * busier (or idler) than when the model was timed. A given figure: a real run's time varies too much on a shared machine.
   */
  setInlineRunMsForTesting(ms: number | undefined): void {
    this.inlineRunMs = ms;
  }

  /** Resolves when the main-thread sessions being loaded are in place (for tests and close). */
  async inlineSettled(): Promise<void> {
    while (this.loading.size > 0) await Promise.all([...this.loading]);
  }

  private async loadInline(sources: ModelSource[]): Promise<void> {
    // Leave the start-up path (the HTTP server's own imports and listen) to itself first: loading
    // onnxruntime on the main thread takes tens of milliseconds of it.
    await new Promise((resolve) => setTimeout(resolve, INLINE_LOAD_DELAY_MS));
    if (this.closed || !sources.some((source) => this.wanted.get(source.name)?.source === source)) return;
    try {
      if (this.inline === undefined) {
        const { InProcessRuntime } = await import('./in-process.js');
        // Its runs feed the pool's estimate too: a model whose batches all run here would otherwise keep the estimate
        // (and its row limits) of its last worker run for good, though the main thread's runs now take longer.
        const observe = (model: string, rows: number, ms: number): void => this.pool.observeRunCost(model, rows, this.inlineRunMs ?? ms);
        this.inline ??= new InProcessRuntime({ intraOpThreads: this.options.intraOpThreads ?? 1, interOpThreads: 1, onRunTimed: observe });
      }
      await this.inline.load(sources);
    } catch {
      return; // served by the workers only
    }
    for (const source of sources) {
      const wanted = this.wanted.get(source.name);
      // Unloaded or replaced meanwhile: this session is not wanted any more.
      if (wanted?.source === source) this.inlineLimits.set(source.name, wanted.limit);
      else if (wanted === undefined) await this.inline.unload([source.name]);
    }
  }

  async unload(names: string[]): Promise<void> {
    for (const name of names) {
      this.inlineLimits.delete(name);
      this.wanted.delete(name);
      this.sources.delete(name);
      this.rowWidths.delete(name);
    }
    await Promise.all([this.pool.unload(names), this.inline?.unload(names)]);
  }

  run(model: string, feeds: NamedTensors, outputNames?: string[], requests = 1): Promise<NamedTensors> {
    if (this.seenCostEpoch !== this.pool.runCostEpoch) this.refreshLimits();
    const limit = this.inlineLimits.get(model);
    if (limit !== undefined && this.inline !== undefined) {
      const rows = this.timedRows(model, feeds);
      // A costly batch goes to a worker even when every worker is busy, but not to a pool with no worker that can
      // take it (all quarantined, or in a crash loop's back-off): there it would fail at once, and it fits the budget here.
      if (rows !== undefined && rows <= limit.rows && (rows <= limit.anyRequests || this.cheapPerRequest(model, rows, requests) || this.pool.unavailable() !== undefined)) {
        return this.inline.run(model, feeds, outputNames);
      }
    }
    return this.pool.run(model, feeds, outputNames);
  }

  /** The batch's size in rows as its model was timed (timedRowWidth): the most of any input's; undefined with no tensors. */
  private timedRows(model: string, feeds: NamedTensors): number | undefined {
    const widths = this.rowWidths.get(model);
    let rows: number | undefined;
    for (const name in feeds) {
      const dims = feeds[name]!.dims;
      let elements = 1;
      for (const d of dims) elements *= d;
      // An input the signature does not name (refused by the run) counts by its first dimension.
      const width = widths?.get(name);
      const own = width === undefined ? (dims[0] ?? 1) : width > 0 ? Math.ceil(elements / width) : 0;
      if (rows === undefined || own > rows) rows = own;
    }
    return rows;
  }

  /** Whether a run of `rows` costs at most a request's own HTTP work per request it serves. */
  private cheapPerRequest(model: string, rows: number, requests: number): boolean {
    const cost = this.pool.runCost(model);
    return cost !== undefined && cost.fixedMs + cost.perRowMs * rows <= REQUEST_WORK_MS * requests;
  }

  /**
   * The pool's: with no worker, the main thread still runs the small batches of models cheap enough
   * for it, but not the rest (larger batches, costly or value-dependent models), and which is which
   * follows a live cost estimate. A readiness probe cannot promise that, so the service says not
   * ready until a worker is back (the requests that reach it meanwhile still run inline where they may).
   */
  unavailable(): string | undefined {
    return this.pool.unavailable();
  }

  quarantineStats(): { alive: number; total: number } {
    return this.pool.quarantineStats();
  }

  whenQuarantinedExited(): Promise<void> {
    return this.pool.whenQuarantinedExited();
  }

  threadsInRun(): number {
    return this.pool.threadsInRun();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wanted.clear();
    this.inlineLimits.clear();
    await this.inlineSettled();
    await Promise.all([this.inline?.close(), this.pool.close()]);
  }
}
