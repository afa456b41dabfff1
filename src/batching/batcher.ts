// Dynamic batching per model (the Triton / BentoML adaptive-batching idea): requests wait in a
// FIFO queue; a batch is formed when maxBatchSize rows are waiting or the oldest waiting request
// has waited maxQueueDelayMs — and only when one of `concurrency` in-flight slots is free. While
// every slot is busy, rows keep accumulating, so batches grow by themselves under load.
//
// When a batch is due and several slots are free, the waiting rows are spread evenly over them
// (each part at least 8 rows, at most maxBatchSize), so a burst uses every worker at once.
//
// What is queued is opaque to the batcher: an item (for the model core, one request's encoded
// tensors) with its row count. A batch is a list of items whose rows add up to at most
// maxBatchSize; runBatch answers one result per item (the core concatenates and splits tensors).
//
// Rules (see docs/runtime.md):
// - A request's rows stay together, in order, in one run; results are returned per item, in order.
//   A request larger than maxBatchSize runs alone in its own batch (it is never split).
// - Overload: a request whose rows would push the waiting rows over maxQueueRows is rejected at
//   once with MS_ERR_OVERLOADED (Retry-After: 1). (An empty queue always accepts one request, so
//   a request larger than maxQueueRows is not refused forever.)
// - Deadlines: a request still waiting, or whose batch is still running, past its deadline is
//   rejected with MS_ERR_TIMEOUT (a running batch can't be cancelled: its slot stays busy and the
//   late result is dropped). Checked at dispatch and by one coarse sweep timer per batcher
//   (period timeoutMs/10, clamped to 5..250 ms) — no per-request timers.
// - Failure isolation: when a batch of several requests fails, each of its requests is re-run
//   alone (in the same slot), so only the failing request(s) reject. Not after a RunStuckError (the
//   run watchdog's): each re-run would get stuck again, costing another worker.
import { performance } from 'node:perf_hooks';
import { ModelServeError, RunStuckError } from '../errors.js';

export interface BatchInfo {
  /** Rows in the run. */
  rows: number;
  /** Requests in the run. */
  requests: number;
  /** Time each request waited in the queue, ms (same order as the run's requests). */
  queueWaitMs: number[];
  /**
   * Whether each request (same order) is answered by this run: false when the run failed, or the
   * request passed its deadline while it ran (504) or its client went away meanwhile (no one reads
   * the answer) — such a request is settled as failed (onSettled).
   */
  answered: boolean[];
  /** Time runBatch took, ms. */
  runMs: number;
  /** The parts of runMs that runBatch reported as preparing the inputs and extracting the outputs (RunPhases). */
  inputMs: number;
  outputMs: number;
  /** Whether runBatch resolved (false: it rejected; for a multi-request batch, re-runs follow). */
  ok: boolean;
  /** Every request in the run was submitted `unobserved` (the core's load-time warm-up run). */
  unobserved: boolean;
}

/** What runBatch may report of its time, ms (both 0 when it does not). */
export interface RunPhases {
  inputMs: number;
  outputMs: number;
}

export interface BatcherOptions<Item, Result> {
  /** false: every request is its own run (still bounded by concurrency and the queue limit). */
  enabled: boolean;
  /** Rows per batch (a larger single request still runs, alone). */
  maxBatchSize: number;
  /** How long the oldest waiting request may wait for more rows before a partial batch runs. */
  maxQueueDelayMs: number;
  /** Waiting rows beyond which new requests are rejected with MS_ERR_OVERLOADED. */
  maxQueueRows: number;
  /** Per-request deadline from submit() when none is given; 0 or Infinity = none. */
  timeoutMs: number;
  /** Batches that may be in flight at once (the runtime's parallelism). */
  concurrency: number;
  /** Smallest part a due batch is split into over free slots, asked at each split (default 8; see MIN_SPLIT_ROWS). */
  minSplitRows?: () => number;
  /**
   * Whether `next` may join a batch that `first` opened (default: always). A batch stops at the first
   * waiting request that may not (FIFO kept): e.g. a raw model's requests of other row widths.
   */
  joins?: (first: Item, next: Item) => boolean;
  /**
   * Runs one batch of items holding `rows` rows in all; must resolve with exactly one result per
   * item, in order. It may record in `phases` how long of it went to preparing the inputs and to
   * extracting the outputs (Triton's compute_input and compute_output; the rest is compute_infer).
   */
  runBatch: (items: Item[], rows: number, phases: RunPhases) => Promise<Result[]>;
  /** Observer called after every runBatch (metrics: batch size, queue wait, inference time). */
  onBatch?: (info: BatchInfo) => void;
  /**
   * Told of each request's outcome as it settles — answered, or refused (deadline, client
   * gone, failed run; an answer whose client went away while it ran is no success either) — with
   * its rows and its ms since submit(); not of `unobserved` ones, nor of those refused for a full
   * queue (never queued: Triton's statistics leave them out; /metrics counts them). Called
   * where the batcher settles them: no promise or closure per request.
   */
  onSettled?: (ok: boolean, rows: number, ms: number) => void;
  /** Model name, for error messages. */
  name?: string;
}

/**
 * The caller's socket or call, read when a request's batch is formed, not watched: nothing is
 * allocated or listened to per request. A socket whose client closed its side (`readableEnded`)
 * counts as gone: Node keeps it open while a response is pending, and cannot answer a half-closed
 * request anyway.
 */
export interface ClientProbe {
  readonly destroyed?: boolean;
  readonly readableEnded?: boolean;
  readonly cancelled?: boolean;
}

/** Whether the client has gone: its connection closed or half-closed, or its call cancelled (no one will read an answer). */
export function clientGone(client: ClientProbe | undefined): boolean {
  return client !== undefined && (client.destroyed === true || client.readableEnded === true || client.cancelled === true);
}

export interface SubmitOptions {
  /**
   * The caller's absolute deadline in performance.now() milliseconds. The sooner of it and
   * timeoutMs applies: a caller may wait less than the model's own limit, never longer (a gRPC
   * client's 60 s deadline does not keep a request queued past a 1 s queue.timeout_ms).
   */
  deadline?: number | undefined;
  /** Gone (destroyed, ended, cancelled) when its batch is formed: the request is dropped. */
  client?: ClientProbe | undefined;
  /** Not a client's request (the core's warm-up run): its run's BatchInfo says `unobserved`. */
  unobserved?: boolean | undefined;
}

export interface BatcherStats {
  queuedRows: number;
  queuedRequests: number;
  inFlightBatches: number;
}

interface Entry<Item, Result> {
  item: Item;
  /** Rows in the item. */
  n: number;
  resolve: (result: Result) => void;
  reject: (err: Error) => void;
  enqueuedAt: number;
  deadline: number;
  /** Settled (resolved, rejected or timed out); a done entry left in the queue is skipped. */
  done: boolean;
  /** Its batch has started. */
  running: boolean;
  client: ClientProbe | undefined;
  unobserved: boolean;
}

/** Whether a request still gets the answer of its run: not settled meanwhile (deadline), its client still there. */
function answers<Item, Result>(e: Entry<Item, Result>): boolean {
  return !e.done && !clientGone(e.client);
}

/** An entry's item (a function made once: an arrow in call() was a new closure per batch). */
function itemOf<Item, Result>(e: Entry<Item, Result>): Item {
  return e.item;
}

/** Smallest batch worth splitting a due batch into when several slots are free. */
const MIN_SPLIT_ROWS = 8;

function asServeError(err: unknown): ModelServeError {
  if (err instanceof ModelServeError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ModelServeError('MS_ERR_INFERENCE', `inference failed: ${message}`, { cause: err });
}

export class Batcher<Item, Result> {
  private readonly opts: BatcherOptions<Item, Result>;
  private readonly label: string;
  private readonly sweepPeriodMs: number;
  /**
   * FIFO of waiting entries; `head` is the index of the first one not yet taken. A taken slot is
   * cleared at once: the queue is only compacted when it empties or past 1024 taken slots, and
   * under steady load it rarely empties, so its slots must not keep answered requests alive.
   */
  private queue: Array<Entry<Item, Result> | undefined> = [];
  private head = 0;
  private queuedRows = 0;
  private queuedRequests = 0;
  private inFlight = 0;
  /**
   * The batches on the runtime (at most `concurrency`): a plain array, not a Set of entries. A Set
   * that every batch grew and shrank kept answered requests (and their encoded tensors) alive
   * through V8's young-generation GCs until the next full GC (how, V8's trace does not say; a Set
   * churned alone in a script does not do it). Under load each scavenge then promoted ~2 MB and
   * took 3-5 ms instead of under 1 (test/production/gc-retention.test.ts).
   */
  private readonly runningBatches: Array<Array<Entry<Item, Result>>> = [];
  private delayTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private pumpScheduled = false;
  private flushing = false;
  private drainWaiters: Array<() => void> = [];
  /** Recent run time of a batch, ms (EWMA); requests with less time left are expired at dispatch. */
  private typicalRunMs = 0;
  /** When a run last updated typicalRunMs (performance.now()). */
  private estimatedAt = -Infinity;

  constructor(opts: BatcherOptions<Item, Result>) {
    for (const key of ['maxBatchSize', 'maxQueueRows', 'concurrency'] as const) {
      if (!Number.isInteger(opts[key]) || opts[key] < 1) throw new RangeError(`${key} must be an integer >= 1, got ${opts[key]}`);
    }
    if (!(opts.maxQueueDelayMs >= 0)) throw new RangeError(`maxQueueDelayMs must be >= 0, got ${opts.maxQueueDelayMs}`);
    if (!(opts.timeoutMs >= 0)) throw new RangeError(`timeoutMs must be >= 0, got ${opts.timeoutMs}`);
    this.opts = opts;
    this.label = opts.name === undefined ? 'the model' : `model '${opts.name}'`;
    const hasTimeout = opts.timeoutMs > 0 && Number.isFinite(opts.timeoutMs);
    this.sweepPeriodMs = hasTimeout ? Math.min(250, Math.max(5, Math.round(opts.timeoutMs / 10))) : 50;
  }

  /**
   * Queues one request's item of `n` rows; resolves with its result. Rejects with
   * MS_ERR_OVERLOADED (queue full), MS_ERR_TIMEOUT (deadline passed) or the run's error
   * (MS_ERR_INFERENCE unless runBatch rejected with a ModelServeError).
   */
  submit(item: Item, n: number, options?: SubmitOptions): Promise<Result> {
    if (!(n >= 1)) return Promise.reject(new ModelServeError('MS_ERR_INTERNAL', `a batched request needs at least one row, got ${n}`));
    // Not settled (onSettled): refused before it was queued, as Triton's full queue is not in its statistics.
    if (this.queuedRows > 0 && this.queuedRows + n > this.opts.maxQueueRows) return Promise.reject(this.overloaded());
    const now = performance.now();
    // The model's per-request limit is for clients' requests: the load-time warm-up run (unobserved)
    // waits behind the traffic on busy workers, and failing it would fail the load of a good model.
    const timeout = this.opts.timeoutMs > 0 && options?.unobserved !== true ? this.opts.timeoutMs : Infinity;
    const deadline = Math.min(options?.deadline ?? Infinity, now + timeout);
    if (deadline <= now) {
      if (options?.unobserved !== true) this.opts.onSettled?.(false, n, 0);
      return Promise.reject(this.timeoutError(0, false));
    }
    return new Promise<Result>((resolve, reject) => {
      this.queue.push({ item, n, resolve, reject, enqueuedAt: now, deadline, done: false, running: false, client: options?.client, unobserved: options?.unobserved === true });
      this.queuedRows += n;
      this.queuedRequests++;
      if (deadline !== Infinity) this.startSweep();
      this.schedulePump();
    });
  }

  /**
   * The refusal submit() would give any request now (the queue already holds maxQueueRows rows), or
   * undefined while there is room: for refusing a request before its body is read
   * (http/plugins/load-shedding.ts). Like submit()'s, not settled (onSettled).
   */
  shed(): ModelServeError | undefined {
    if (this.queuedRows < this.opts.maxQueueRows) return undefined;
    return this.overloaded();
  }

  private overloaded(): ModelServeError {
    return new ModelServeError('MS_ERR_OVERLOADED', `${this.label} is overloaded: ${this.queuedRows} rows are waiting (limit ${this.opts.maxQueueRows}); retry later`, {
      headers: { 'retry-after': '1' },
    });
  }

  /** From now on every request is a batch of its own (a graph whose answer is the whole run's, not per row). */
  runAlone(): void {
    this.alone = true;
  }

  private alone = false;

  /** Whether runAlone() was called: what the version's Triton config reads (max_batch_size 0 from then on). */
  get runsAlone(): boolean {
    return this.alone;
  }

  stats(): BatcherStats {
    return { queuedRows: this.queuedRows, queuedRequests: this.queuedRequests, inFlightBatches: this.inFlight };
  }

  /**
   * Resolves when nothing is waiting and nothing is in flight. Waiting requests are dispatched
   * without waiting out maxQueueDelayMs. (Stop submitting first: new requests delay it.)
   */
  drain(): Promise<void> {
    if (this.isIdle()) {
      this.stopSweep();
      return Promise.resolve();
    }
    this.flushing = true;
    this.schedulePump();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private isIdle(): boolean {
    return this.queuedRequests === 0 && this.inFlight === 0;
  }

  private checkIdle(): void {
    if (!this.isIdle()) return;
    this.flushing = false;
    // The sweep is left to stop itself at its next tick if the batcher is still idle then (unref'd
    // meanwhile: it holds no process open): one connection's requests each found the batcher idle,
    // and a new interval per request cost a timer object and its list entry each time.
    this.sweepTimer?.unref();
    if (this.delayTimer !== undefined) {
      clearTimeout(this.delayTimer);
      this.delayTimer = undefined;
    }
    if (this.drainWaiters.length > 0) {
      // Drained (a version retired, or the server closing): its sweep goes now, not at its next
      // tick, which would keep the batcher — and its model's validator and encoder — alive until then.
      this.stopSweep();
      for (const wake of this.drainWaiters.splice(0)) wake();
    }
  }

  private stopSweep(): void {
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  private timeoutError(waitedMs: number, running: boolean): ModelServeError {
    const where = running ? 'while its batch was running' : 'in the queue';
    return new ModelServeError('MS_ERR_TIMEOUT', `${this.label}: the request passed its deadline ${where} (after ${Math.round(waitedMs)} ms)`);
  }

  /** Coalesces the requests of one event-loop turn before forming batches (no added delay). */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /**
   * Drops settled entries and expires, at the head of the queue, the ones that cannot finish in
   * time: past their deadline, or with less time left than a batch typically takes (running them
   * would only produce a result that is thrown away, and under overload that wasted half the
   * capacity as goodput). The estimate expires only a request that had more time than it when it
   * came, i.e. whose time the queue took: one whose whole budget is under it runs (and times out
   * while running if the estimate was right). Else an estimate past queue.timeout_ms (one slow run
   * of big batches, a machine stalled a moment) refused every request from then on at dispatch,
   * and with no run to update it, for good. Nor does it expire a request during whose wait no run
   * ended: only runs update the estimate, so one it stopped from running could never be proved
   * wrong (an estimate a little under the timeout expired every request that waited out
   * maxQueueDelayMs, for good, under light traffic).
   */
  private settleHead(now: number): Entry<Item, Result> | undefined {
    const horizon = now + this.typicalRunMs;
    while (this.head < this.queue.length) {
      const e = this.queue[this.head]!;
      if (e.done) {
        this.takeHead();
        continue;
      }
      if (e.deadline <= now || (e.deadline <= horizon && e.enqueuedAt < this.estimatedAt && e.deadline - e.enqueuedAt > this.typicalRunMs)) {
        this.takeHead();
        this.expire(e, now);
        continue;
      }
      // Its client went away while it waited (closed the connection, cancelled the call): no one
      // would read the answer, and under overload such requests would fill the runs.
      if (clientGone(e.client)) {
        this.takeHead();
        e.done = true;
        this.queuedRows -= e.n;
        this.queuedRequests--;
        this.settled(e, false, now);
        e.reject(new ModelServeError('MS_ERR_CLIENT_GONE', `${this.label}: the client went away after ${Math.round(now - e.enqueuedAt)} ms in the queue; the request was not run`));
        continue;
      }
      return e;
    }
    return undefined;
  }

  /** Moves past the head entry, dropping the queue's reference to it (see `queue`). */
  private takeHead(): void {
    this.queue[this.head++] = undefined;
  }

  private expire(e: Entry<Item, Result>, now: number): void {
    e.done = true;
    if (!e.running) {
      this.queuedRows -= e.n;
      this.queuedRequests--;
    }
    this.settled(e, false, now);
    e.reject(this.timeoutError(now - e.enqueuedAt, e.running));
  }

  private compact(): void {
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private pump(): void {
    const { maxBatchSize, maxQueueDelayMs, concurrency } = this.opts;
    const enabled = this.opts.enabled && !this.alone;
    // Once a batch is due in this pass, what is waiting is spread over the free slots.
    let due = !enabled || this.flushing;
    while (this.inFlight < concurrency) {
      const now = performance.now();
      const first = this.settleHead(now);
      if (first === undefined) break;
      // The load-time warm-up runs at once: no client's request can join it (the version is not serving yet).
      if (!due && !first.unobserved && this.queuedRows < maxBatchSize) {
        const dueIn = first.enqueuedAt + maxQueueDelayMs - now;
        if (dueIn > 0) {
          this.armDelay(dueIn);
          break;
        }
      }
      due = true;
      const batch: Array<Entry<Item, Result>> = [first];
      let rows = first.n;
      this.takeHead();
      if (enabled) {
        // Balanced: with several free slots, split the waiting rows evenly (a burst uses every
        // worker instead of queueing behind one full batch) — unless the parts would be smaller
        // than MIN_SPLIT_ROWS, where one run is cheaper than several.
        const even = Math.ceil(this.queuedRows / (concurrency - this.inFlight));
        const target = Math.min(maxBatchSize, even >= (this.opts.minSplitRows?.() ?? MIN_SPLIT_ROWS) ? even : this.queuedRows);
        for (;;) {
          const next = this.settleHead(now);
          if (next === undefined || rows + next.n > target || (this.opts.joins !== undefined && !this.opts.joins(first.item, next.item))) break;
          batch.push(next);
          rows += next.n;
          this.takeHead();
        }
      }
      this.dispatch(batch, rows, now);
    }
    this.compact();
    this.checkIdle();
  }

  private armDelay(ms: number): void {
    if (this.delayTimer !== undefined) return;
    this.delayTimer = setTimeout(() => {
      this.delayTimer = undefined;
      this.pump();
    }, Math.ceil(ms));
  }

  private startSweep(): void {
    if (this.sweepTimer === undefined) this.sweepTimer = setInterval(() => this.sweep(), this.sweepPeriodMs);
    else if (!this.sweepTimer.hasRef()) this.sweepTimer.ref();
  }

  /** Rejects every waiting or running request past its deadline; stops the sweep once the batcher is idle. */
  private sweep(): void {
    if (this.isIdle()) {
      this.stopSweep();
      return;
    }
    const now = performance.now();
    for (let i = this.head; i < this.queue.length; i++) {
      const e = this.queue[i]!;
      if (!e.done && e.deadline <= now) this.expire(e, now);
    }
    for (const batch of this.runningBatches) {
      for (const e of batch) if (!e.done && e.deadline <= now) this.expire(e, now);
    }
    this.compact();
    this.checkIdle();
  }

  private dispatch(batch: Array<Entry<Item, Result>>, rowCount: number, now: number): void {
    this.inFlight++;
    this.runningBatches.push(batch);
    const queueWaitMs: number[] = [];
    for (const e of batch) {
      e.running = true;
      this.queuedRows -= e.n;
      this.queuedRequests--;
      queueWaitMs.push(now - e.enqueuedAt);
    }
    void this.execute(batch, rowCount, queueWaitMs).finally(() => {
      this.runningBatches.splice(this.runningBatches.indexOf(batch), 1);
      this.inFlight--;
      this.pump();
    });
  }

  private async call(batch: Array<Entry<Item, Result>>, rows: number, queueWaitMs: number[]): Promise<{ ok: true; results: Result[] } | { ok: false; error: unknown }> {
    const items = batch.map(itemOf);
    const t0 = performance.now();
    const phases: RunPhases = { inputMs: 0, outputMs: 0 };
    let outcome: { ok: true; results: Result[] } | { ok: false; error: unknown };
    try {
      const results = await this.opts.runBatch(items, rows, phases);
      // Exponentially weighted average of successful run times (see settleHead).
      const end = performance.now();
      const ran = end - t0;
      this.typicalRunMs = this.typicalRunMs === 0 ? ran : this.typicalRunMs + (ran - this.typicalRunMs) * 0.1;
      this.estimatedAt = end;
      outcome = results.length === items.length
        ? { ok: true, results }
        : { ok: false, error: new ModelServeError('MS_ERR_INTERNAL', `runBatch returned ${results.length} results for ${items.length} requests`) };
    } catch (error) {
      outcome = { ok: false, error };
    }
    if (this.opts.onBatch !== undefined) {
      try {
        const answered = new Array<boolean>(batch.length);
        let unobserved = true;
        for (let i = 0; i < batch.length; i++) {
          answered[i] = outcome.ok && answers(batch[i]!);
          unobserved &&= batch[i]!.unobserved;
        }
        this.opts.onBatch({ rows, requests: items.length, queueWaitMs, answered, runMs: performance.now() - t0, inputMs: phases.inputMs, outputMs: phases.outputMs, ok: outcome.ok, unobserved });
      } catch {
        /* an observer must not break batching */
      }
    }
    return outcome;
  }

  private async execute(batch: Array<Entry<Item, Result>>, rows: number, queueWaitMs: number[]): Promise<void> {
    const outcome = await this.call(batch, rows, queueWaitMs);
    const now = performance.now();
    if (outcome.ok) {
      for (let i = 0; i < batch.length; i++) {
        const e = batch[i];
        if (!e.done) {
          e.done = true;
          // An answer no one reads (HTTP 499, gRPC CANCELLED) is no successful request.
          this.settled(e, !clientGone(e.client), now);
          e.resolve(outcome.results[i]);
        }
      }
      return;
    }
    // A stuck run fails as a whole: re-run alone, its bad input would get stuck again on another worker.
    if (batch.length === 1 || outcome.error instanceof RunStuckError) {
      const error = asServeError(outcome.error);
      for (const e of batch) {
        if (e.done) continue;
        e.done = true;
        this.settled(e, false, now);
        e.reject(error);
      }
      return;
    }
    // Isolate the failure: re-run each request alone so only the bad one(s) fail.
    for (let i = 0; i < batch.length; i++) {
      const e = batch[i];
      if (e.done) continue;
      const alone = await this.call([e], e.n, [queueWaitMs[i]]);
      if (e.done) continue;
      e.done = true;
      this.settled(e, alone.ok && !clientGone(e.client), performance.now());
      if (alone.ok) e.resolve(alone.results[0]);
      else e.reject(asServeError(alone.error));
    }
  }

  private settled(e: Entry<Item, Result>, ok: boolean, now: number): void {
    if (!e.unobserved) this.opts.onSettled?.(ok, e.n, now - e.enqueuedAt);
  }
}
