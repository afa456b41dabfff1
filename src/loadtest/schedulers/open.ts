// Open model (k6's arrival-rate executors, wrk2's latency): requests arrive on a schedule
// (constant rate or linear ramp stages) whether or not earlier ones have finished. Latency is
// measured from each request's intended send time, so when the server stalls, the queueing delay
// of every request scheduled during the stall is counted (no coordinated omission). At most
// `connections` requests are in flight; past that, scheduled requests wait in a backlog (their
// clock is already running) and are dispatched as connections free up.
import { performance } from 'node:perf_hooks';
import type { HttpClient, Slot, SlotOwner } from '../client.js';
import type { Stats } from '../stats.js';
import type { Stage } from '../types.js';

interface Segment {
  t0: number; // ms since start
  d: number; // ms
  r0: number; // req/ms at t0
  r1: number; // req/ms at t0 + d
  n0: number; // arrivals before t0
}

/**
 * The arrival schedule: a start rate, then stages ramping linearly to their target; after the
 * last stage the last rate holds. `arrivalTime(k)` is the time (ms) of the k-th arrival (k ≥ 0).
 */
export class ArrivalSchedule {
  private readonly segs: Segment[] = [];
  constructor(startRate: number, stages: Stage[]) {
    let t = 0, n = 0, r = startRate / 1000;
    for (const s of stages) {
      const r1 = s.target / 1000;
      this.segs.push({ t0: t, d: s.durationMs, r0: r, r1, n0: n });
      n += ((r + r1) / 2) * s.durationMs;
      t += s.durationMs;
      r = r1;
    }
    this.segs.push({ t0: t, d: Infinity, r0: r, r1: r, n0: n });
  }

  /** Rate (req/s) at `ms` since start. */
  rateAt(ms: number): number {
    for (const s of this.segs) {
      if (ms < s.t0 + s.d) return 1000 * (s.d === Infinity ? s.r0 : s.r0 + ((s.r1 - s.r0) * (ms - s.t0)) / s.d);
    }
    return 0;
  }

  /** Expected arrivals in [0, ms). */
  countAt(ms: number): number {
    for (const s of this.segs) {
      if (ms < s.t0 + s.d) {
        const x = ms - s.t0;
        return s.n0 + s.r0 * x + (s.d === Infinity ? 0 : ((s.r1 - s.r0) * x * x) / (2 * s.d));
      }
    }
    return Infinity;
  }

  /** Time (ms) of the k-th arrival, Infinity when the schedule never reaches it. */
  arrivalTime(k: number): number {
    for (const s of this.segs) {
      const nEnd = s.d === Infinity ? Infinity : s.n0 + ((s.r0 + s.r1) / 2) * s.d;
      if (k < nEnd || s.d === Infinity) {
        const need = k - s.n0;
        const a = s.d === Infinity ? 0 : (s.r1 - s.r0) / (2 * s.d);
        const b = s.r0;
        if (Math.abs(a) < 1e-15) return b > 0 ? s.t0 + need / b : Infinity;
        const x = (-b + Math.sqrt(Math.max(0, b * b + 4 * a * need))) / (2 * a);
        return s.t0 + x;
      }
    }
    return Infinity;
  }
}

export interface OpenOptions {
  schedule: ArrivalSchedule;
  connections: number;
  /** Stop scheduling at this many ms after start. */
  durationMs?: number;
  maxRequests?: number;
  lateToleranceMs: number;
  pick: () => Buffer | null;
}

export class OpenScheduler implements SlotOwner {
  private readonly free: Slot[] = [];
  private inFlight = 0;
  /**
   * The backlog is the arrivals [sent, k): scheduled, not yet dispatched. Their intended times
   * follow from the schedule, so none is stored: an array of them grew without bound when the rate
   * outran the connections (--rate 1e9: the heap ran out and the process died).
   */
  private sent = 0;
  private k = 0;
  private nextAt = 0;
  private t0 = 0;
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private stopping = false;
  private resolveDone: (() => void) | null = null;
  scheduled = 0;
  late = 0;
  maxSendLagMs = 0;
  unsent = 0;

  constructor(private readonly client: HttpClient, private readonly stats: Stats, private readonly o: OpenOptions) {}

  get requestsInFlight(): number {
    return this.inFlight;
  }

  get backlogSize(): number {
    return this.k - this.sent;
  }

  /** The offered rate (req/s) right now. */
  offeredNow(): number {
    return this.stopping ? 0 : this.o.schedule.rateAt(performance.now() - this.t0);
  }

  run(startAt = performance.now()): Promise<void> {
    const done = new Promise<void>((resolve) => { this.resolveDone = resolve; });
    this.t0 = startAt;
    this.nextAt = this.t0 + this.o.schedule.arrivalTime(0);
    this.tick();
    return done;
  }

  private readonly tick = (): void => {
    this.timer = null;
    this.immediate = null;
    if (this.stopping) return;
    const now = performance.now();
    const end = this.o.durationMs !== undefined ? this.t0 + this.o.durationMs : Infinity;
    const max = this.o.maxRequests ?? Infinity;
    while (this.nextAt <= now && this.nextAt < end && this.k < max) {
      this.k++;
      this.scheduled++;
      this.nextAt = this.t0 + this.o.schedule.arrivalTime(this.k);
    }
    this.pump(now);
    if (this.k >= max) { this.finishScheduling(); return; }
    if (this.nextAt >= end) {
      // The run spans its duration even when the last arrival came earlier: ending at that
      // arrival reported more req/s than offered (5 req/s for 1 s: 5 requests in 0.8 s, 6.2 req/s).
      if (now < end) this.timer = setTimeout(this.tick, Math.max(1, Math.ceil(end - now)));
      else this.finishScheduling();
      return;
    }
    const delay = this.nextAt - performance.now();
    if (delay >= 1.5) this.timer = setTimeout(this.tick, Math.min(Math.floor(delay - 0.5), 1000, Math.max(1, end - now)));
    else this.immediate = setImmediate(this.tick);
  };

  private pump(now: number): void {
    while (this.sent < this.k && this.inFlight < this.o.connections) {
      const intended = this.t0 + this.o.schedule.arrivalTime(this.sent++);
      const lag = now - intended;
      if (lag > this.o.lateToleranceMs) this.late++;
      if (lag > this.maxSendLagMs) this.maxSendLagMs = lag;
      const slot = this.free.pop() ?? this.client.slot(this);
      this.inFlight++;
      slot.send(this.o.pick(), intended);
    }
  }

  onSlotDone(slot: Slot, status: number, kind: string | null): void {
    const now = performance.now();
    this.inFlight--;
    this.stats.record(now - slot.start, status, kind ?? slot.bodyError(), slot.bytes);
    this.free.push(slot);
    if (this.sent < this.k) this.pump(now);
    this.checkDone();
  }

  private finishScheduling(): void {
    this.stopping = true;
    this.checkDone();
  }

  /** Stops scheduling now; the backlog still drains (it was due before the end). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
    this.finishScheduling();
  }

  /** Abandons the backlog (counted as unsent), e.g. when a drain deadline passes. */
  abandonBacklog(): void {
    this.unsent += this.k - this.sent;
    this.sent = this.k;
    this.checkDone();
  }

  private checkDone(): void {
    if (this.stopping && this.inFlight === 0 && this.sent >= this.k && this.resolveDone) {
      const r = this.resolveDone;
      this.resolveDone = null;
      r();
    }
  }
}
