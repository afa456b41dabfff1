// A sink delivers serialized prediction events somewhere (an MQTT topic, a webhook, a file). Each
// has a bounded queue: offer() never blocks or slows the prediction that produced the event; an
// event that does not fit is dropped and counted (metric + a warning at most every 10 s). What was
// accepted stays queued until the destination acknowledged it (MQTT PUBACK, webhook 2xx, file
// write), retried with backoff while the destination is down: at-least-once up to the bound.
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Why events were dropped (the `reason` label of modelserve_events_dropped_total): the queue was
 * full; the destination can never take the event (too large); the destination stopped for good
 * (a webhook's 410 or redirect); rejected (the destination refused this batch for a reason a resend
 * cannot change: a webhook's 400/401/403…, an MQTT broker's PUBACK "Not authorized"; later events
 * are still sent, after a pause); shutdown (still queued at the flush's deadline, or offered after the sink began closing).
 */
export type DropReason = 'queue_full' | 'too_large' | 'stopped' | 'rejected' | 'shutdown';
export const DROP_REASONS: readonly DropReason[] = ['queue_full', 'too_large', 'stopped', 'rejected', 'shutdown'];

export interface SinkCounters {
  /** Events acknowledged by the destination. */
  delivered: number;
  /** Events dropped: the queue was full, never deliverable, the sink stopped, or shutdown (see DropReason). */
  dropped: number;
  /** Failed delivery attempts (each retried). */
  failures: number;
  /** Events waiting (including those being sent). */
  queued: number;
}

export interface SinkHooks {
  /** One event acknowledged / dropped / a failed attempt (metrics). */
  onDelivered?: (sink: string, n: number) => void;
  onDropped?: (sink: string, n: number, reason: DropReason) => void;
  onFailure?: (sink: string) => void;
  /** Rate-limited warnings (the log). */
  warn?: (message: string, detail: Record<string, unknown>) => void;
}

export interface EventSink {
  /** 'mqtt' | 'webhook' | 'file' — also the metric label. */
  readonly kind: string;
  /** Where it delivers (URL, topic, path), for logs. */
  readonly target: string;
  /** Accepts one serialized event (a JSON text); false when the queue is full (dropped, counted). */
  offer(event: string): boolean;
  counters(): SinkCounters;
  /** Why the sink delivers nothing more for good (a webhook that answered 410 or a redirect); undefined while it delivers or retries. */
  stopped?(): string | undefined;
  /** Waits (up to timeoutMs) for the queue to empty, then releases the sink's resources. */
  close(timeoutMs?: number): Promise<void>;
}

export interface BoundedSinkOptions extends SinkHooks {
  /** Most events queued (default 10,000). */
  maxQueue?: number;
  /**
   * Most JSON text queued, in characters (default 64 MiB). The count alone did not bound memory:
   * events of large requests (2,000 rows: ~0.5 MB each) held by a webhook that was down took the
   * server past its heap limit long before 10,000 were queued.
   */
  maxQueueBytes?: number;
  /** Most events handed to one deliver() call (default 100). */
  maxBatch?: number;
  /**
   * While fewer than maxBatch events wait, a delivery starts at most once per lingerMs (default
   * 0: as soon as the previous one is acknowledged). Under load this makes fewer, larger
   * deliveries; the first event after a quiet spell still goes at once.
   */
  lingerMs?: number;
  /** Retry backoff: first and largest pause, ms (default 100 and 5,000). */
  backoffMs?: number;
  maxBackoffMs?: number;
}

const WARN_EVERY_MS = 10_000;

/** What deliver() throws when the destination said when to try again (HTTP Retry-After). */
export class RetryLaterError extends Error {
  constructor(message: string, readonly retryAfterMs: number) {
    super(message);
  }
}
export const DEFAULT_MAX_QUEUE_BYTES = 64 * 1024 * 1024;

/** The queue, the drain loop and the counters; subclasses implement deliver(). */
export abstract class BoundedSink implements EventSink {
  abstract readonly kind: string;
  abstract readonly target: string;
  protected readonly maxQueue: number;
  private readonly maxQueueBytes: number;
  private readonly maxBatch: number;
  private readonly lingerMs: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  protected readonly hooks: SinkHooks;
  // A ring would save the shift(); batches are taken with splice, which is amortised fine here.
  private queue: string[] = [];
  /** The queue's text, in characters (an O(1) .length, ~bytes for the ASCII JSON events mostly are). */
  private queuedBytes = 0;
  private running = false;
  private closing = false;
  private wake: (() => void) | undefined;
  /** Ends a linger early: set while the loop lingers, called once a full batch waits (or on close). */
  private full: (() => void) | undefined;
  /** When the last delivery began (performance.now()); kept across drain loops, which end whenever the queue empties. */
  private lastStart = -Infinity;
  /**
   * After a batch the destination rejected (and took nothing of), the next one waits until then
   * (performance.now()): a webhook answering 401 to everything got one request per batch, back to back.
   */
  private notBefore = -Infinity;
  /** The next such pause before its jitter: the retry backoff's steps, reset by a delivered event. */
  private rejectedPause: number;
  /** Ends a pause after a rejection early: set while the loop waits, called on close's deadline. */
  private interrupt: (() => void) | undefined;
  private delivered = 0;
  private dropped = 0;
  private failures = 0;
  /**
   * Drops not yet warned about, and the last warning's time, per reason: each reason is warned
   * about on its own (one must not silence or mislabel another), and failures apart from drops.
   */
  private readonly unwarned = new Map<DropReason, { n: number; why: string; last: number }>();
  /** When the last failure warning was logged (performance.now(), which starts near 0 at process start: -Infinity, so the first failure warns). */
  private lastWarning = -Infinity;
  /** Events of the batch being delivered that the destination can never take (see refuse()), by reason. */
  private refusedInBatch = new Map<DropReason, { n: number; why: string }>();
  /** Events at the batch's start the destination acknowledged so far (see acknowledged()). */
  private acknowledgedInBatch = 0;
  private idle: Promise<void> = Promise.resolve();
  private abort = new AbortController();

  constructor(options: BoundedSinkOptions) {
    this.maxQueue = options.maxQueue ?? 10_000;
    this.maxQueueBytes = options.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES;
    this.maxBatch = options.maxBatch ?? 100;
    this.lingerMs = options.lingerMs ?? 0;
    this.backoffMs = options.backoffMs ?? 100;
    this.maxBackoffMs = options.maxBackoffMs ?? 5_000;
    this.rejectedPause = this.backoffMs;
    this.hooks = options;
  }

  /**
   * Delivers events in order; resolves once the destination acknowledged all of them, rejects
   * otherwise: the batch is retried, less the events at its start that acknowledged() and refuse()
   * reported done before the failure.
   */
  protected abstract deliver(events: string[], signal: AbortSignal): Promise<void>;

  /** Whether delivery can be attempted now (the MQTT sink waits for a connection instead of failing). */
  protected ready(): boolean {
    return true;
  }

  /** Subclasses call this when ready() may have become true. */
  protected poke(): void {
    this.wake?.();
  }

  offer(event: string): boolean {
    // One event larger than the bound alone is still taken (when nothing else waits): it is held
    // by the request that made it anyway, and would otherwise never be sent.
    if (this.closing || this.queue.length >= this.maxQueue || (this.queuedBytes + event.length > this.maxQueueBytes && this.queue.length > 0)) {
      if (this.closing) this.drop(1, `the ${this.kind} sink is closing (shutdown): events of predictions finished after it began are not sent`, 'shutdown');
      else this.drop(1, `the ${this.kind} sink's queue is full (${this.maxQueue} events or ${this.maxQueueBytes} bytes)`, 'queue_full');
      return false;
    }
    this.queue.push(event);
    this.queuedBytes += event.length;
    if (!this.running) {
      this.start();
    } else {
      if (this.queue.length >= this.maxBatch) this.full?.();
      this.wake?.();
    }
    return true;
  }

  /** Counts dropped events, with a warning per reason at most every 10 s (the first at once). */
  private drop(n: number, why: string, reason: DropReason, force = false): void {
    this.dropped += n;
    if (n > 0) this.hooks.onDropped?.(this.kind, n, reason);
    const entry = this.unwarned.get(reason) ?? { n: 0, why, last: -Infinity };
    entry.n += n;
    entry.why = why;
    this.unwarned.set(reason, entry);
    const now = performance.now();
    if (force || now - entry.last >= WARN_EVERY_MS) {
      entry.last = now;
      this.hooks.warn?.(`prediction events dropped: ${why}`, { sink: this.kind, target: this.target, reason, dropped: entry.n, dropped_total: this.dropped });
      entry.n = 0;
    }
  }

  /**
   * For deliver(): the batch's next `n` events (in order, as acknowledged() counts) can never be
   * delivered (larger than the destination takes, refused for good). They are dropped and counted as
   * such, not retried forever; deliver() resolves for the rest.
   */
  protected refuse(n: number, why: string, reason: 'too_large' | 'stopped' | 'rejected' = 'too_large'): void {
    const entry = this.refusedInBatch.get(reason) ?? { n: 0, why };
    entry.n += n;
    entry.why = why;
    this.refusedInBatch.set(reason, entry);
  }

  /**
   * For deliver() sending a batch in parts, in order: the batch's next `n` events were acknowledged.
   * A later part's failure then re-sends only what follows (the whole batch was sent again: duplicates).
   */
  protected acknowledged(n: number): void {
    this.acknowledgedInBatch += n;
  }

  counters(): SinkCounters {
    return { delivered: this.delivered, dropped: this.dropped, failures: this.failures, queued: this.queue.length };
  }

  stopped(): string | undefined {
    return undefined;
  }

  private start(): void {
    this.running = true;
    this.idle = this.drain().finally(() => {
      this.running = false;
      // An event offered between the loop's last check and here would otherwise wait for the next one.
      if (this.queue.length > 0 && !this.abort.signal.aborted) this.start();
    });
  }

  private async drain(): Promise<void> {
    let pause = this.backoffMs;
    while (this.queue.length > 0 && !this.abort.signal.aborted) {
      // Measured on the monotonic clock: on Date.now() a wall clock stepped back (NTP, a VM resumed)
      // held every event for the step's length, and one stepped forward skipped the pause. (Capped
      // at their own length all the same.)
      const hold = Math.min(this.notBefore - performance.now(), this.maxBackoffMs);
      if (hold > 0) {
        // Not ended by a full batch (that is what it spares the destination) nor by close: only its deadline.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, hold);
          this.interrupt = () => { clearTimeout(timer); resolve(); };
        });
        this.interrupt = undefined;
        this.notBefore = -Infinity; // waited out
        continue;
      }
      if (!this.ready()) {
        await new Promise<void>((resolve) => { this.wake = resolve; setTimeout(resolve, 1000).unref(); });
        this.wake = undefined;
        continue;
      }
      const linger = Math.min(this.lastStart + this.lingerMs - performance.now(), this.lingerMs);
      if (linger > 0 && this.queue.length < this.maxBatch && !this.closing) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, linger);
          this.full = () => { clearTimeout(timer); resolve(); };
        });
        this.full = undefined;
        this.lastStart = -Infinity; // lingered (as notBefore above)
        continue; // the destination may have gone meanwhile
      }
      this.lastStart = performance.now();
      const batch = this.queue.slice(0, this.maxBatch);
      this.refusedInBatch.clear();
      this.acknowledgedInBatch = 0;
      try {
        await this.deliver(batch, this.abort.signal);
        // Past the flush's deadline close() counted the batch as dropped (shutdown): not delivered too.
        if (this.abort.signal.aborted) break;
        // Only now leave the queue: a failure anywhere before re-sends them (duplicates, never gaps).
        this.settle(batch, batch.length);
        pause = this.backoffMs;
      } catch (err) {
        if (this.abort.signal.aborted) break;
        // What the destination took or refused before the failure is done: only the rest is sent again.
        let refused = 0;
        for (const { n } of this.refusedInBatch.values()) refused += n;
        this.settle(batch, Math.min(batch.length, this.acknowledgedInBatch + refused));
        this.failures++;
        this.hooks.onFailure?.(this.kind);
        const now = performance.now();
        if (now - this.lastWarning >= WARN_EVERY_MS) {
          this.lastWarning = now;
          this.hooks.warn?.(`prediction events: the ${this.kind} sink failed; retrying with backoff`, { sink: this.kind, target: this.target, error: (err as Error).message, queued: this.queue.length });
        }
        // Full jitter keeps many replicas from retrying in step; a destination's own Retry-After comes first.
        const retryAfter = err instanceof RetryLaterError ? err.retryAfterMs : 0;
        await sleep(Math.max(retryAfter, pause * (0.5 + Math.random() / 2)), undefined, { signal: this.abort.signal }).catch(() => undefined);
        pause = Math.min(this.maxBackoffMs, pause * 2);
      }
    }
  }

  /**
   * The batch's first `n` events leave the queue: delivered, but for those refused (counted as
   * dropped, by reason). A batch rejected with nothing delivered makes the next one wait.
   */
  private settle(batch: string[], n: number): void {
    this.queue.splice(0, n);
    for (let i = 0; i < n; i++) this.queuedBytes -= batch[i]!.length;
    let refused = 0;
    for (const { n: r } of this.refusedInBatch.values()) refused += r;
    const delivered = n - refused;
    this.delivered += delivered;
    if (delivered > 0) this.hooks.onDelivered?.(this.kind, delivered);
    for (const [reason, { n: r, why }] of this.refusedInBatch) this.drop(r, why, reason);
    if (delivered > 0) {
      this.rejectedPause = this.backoffMs;
    } else if (this.refusedInBatch.has('rejected')) {
      // As a retried failure waits (full jitter, doubling up to the largest pause): credentials
      // fixed on the destination's side still take effect, without a request per batch meanwhile.
      this.notBefore = performance.now() + this.rejectedPause * (0.5 + Math.random() / 2);
      this.rejectedPause = Math.min(this.maxBackoffMs, this.rejectedPause * 2);
    }
    this.refusedInBatch.clear();
    this.acknowledgedInBatch = 0;
  }

  async close(timeoutMs = 5_000): Promise<void> {
    this.closing = true;
    this.full?.();
    const deadline = sleep(timeoutMs, undefined, { ref: false });
    await Promise.race([this.idle, deadline]);
    this.abort.abort();
    this.interrupt?.();
    // Said once each, with the count: drops not yet reported (each with its own reason), then what
    // shutdown leaves undelivered.
    for (const [reason, { n, why }] of this.unwarned) if (n > 0) this.drop(0, why, reason, true);
    this.queuedBytes = 0;
    const left = this.queue.splice(0).length;
    if (left > 0) {
      this.drop(left, `the ${this.kind} sink did not deliver them within ${timeoutMs} ms of shutdown (still queued when the flush's deadline passed)`, 'shutdown', true);
    }
    await this.release();
  }

  /** Frees the destination's resources (connections, file handles). */
  protected async release(): Promise<void> {}
}
