// Closed model (Locust's): N users, spawned at a given rate; each user sends a request, waits for
// the answer, then waits per its wait_time (constant / between / constant_throughput /
// constant_pacing, with Locust's semantics) before the next one.
import { performance } from 'node:perf_hooks';
import type { HttpClient, Slot, SlotOwner } from '../client.js';
import type { Stats } from '../stats.js';
import type { WaitSpec } from '../types.js';

export interface ClosedOptions {
  users: number;
  /** Users started per second; undefined = all at once. */
  spawnRate?: number;
  wait: WaitSpec;
  /** Stop issuing at this performance.now(); undefined = no time bound. */
  deadline?: number;
  maxRequests?: number;
  pick: () => Buffer | null;
}

/**
 * Seconds to wait after a task that took `runSeconds` (Locust's wait_time functions, including
 * their first call: constant_pacing/constant_throughput wait one full period after a user's first task).
 */
export function waitSeconds(w: WaitSpec, runSeconds: number, rand: () => number = Math.random, first = false): number {
  switch (w.kind) {
    case 'constant': return w.seconds;
    case 'between': return w.min + rand() * (w.max - w.min);
    case 'constant_throughput': return first ? 1 / w.perSecond : Math.max(0, 1 / w.perSecond - runSeconds);
    case 'constant_pacing': return first ? w.seconds : Math.max(0, w.seconds - runSeconds);
  }
}

interface User {
  slot: Slot;
  timer: NodeJS.Timeout | null;
  /** performance.now() the user's current task started (for constant_throughput/pacing). */
  taskStart: number;
  active: boolean;
  /** Tasks completed (Locust's pacing functions treat the first one specially). */
  tasks: number;
  /** Transport errors in a row (no answer): sets the user's backoff. */
  failStreak: number;
}

/** The first and the longest wait after a transport error (ms): the backoff doubles from one to the other. */
const BACKOFF_MIN_MS = 10;
const BACKOFF_MAX_MS = 1000;

/** The wait after the `streak`-th transport error in a row: 10, 20, 40 … ms, at most 1 s. */
export function backoffMs(streak: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(streak - 1, 10));
}

export class ClosedScheduler implements SlotOwner {
  private readonly users: User[] = [];
  private spawnTimer: NodeJS.Timeout | null = null;
  private stopping = false;
  private issued = 0;
  private inFlight = 0;
  private active = 0;
  private resolveDone: (() => void) | null = null;
  private readonly zeroWait: boolean;

  constructor(private readonly client: HttpClient, private readonly stats: Stats, private readonly o: ClosedOptions) {
    this.zeroWait = o.wait.kind === 'constant' && o.wait.seconds === 0;
  }

  get activeUsers(): number {
    return this.active;
  }

  get requestsInFlight(): number {
    return this.inFlight;
  }

  /** Starts spawning; resolves when the run is over and every request has completed. */
  run(): Promise<void> {
    const done = new Promise<void>((resolve) => { this.resolveDone = resolve; });
    const { users, spawnRate } = this.o;
    const t0 = performance.now();
    let spawned = 0;
    const spawnDue = (): void => {
      const rate = spawnRate!;
      const due = Math.min(users, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
      while (spawned < due && !this.stopping) { this.spawn(spawned); spawned++; }
      if (spawned < users && !this.stopping) this.spawnTimer = setTimeout(spawnDue, Math.max(1, 1000 / rate));
      else this.spawnTimer = null;
    };
    if (spawnRate === undefined || spawnRate >= users * 1000) { for (let i = 0; i < users; i++) this.spawn(i); spawned = users; }
    else spawnDue();
    return done;
  }

  private spawn(i: number): void {
    const slot = this.client.dedicatedSlot(this);
    slot.tag = i;
    const user: User = { slot, timer: null, taskStart: 0, active: true, tasks: 0, failStreak: 0 };
    this.users.push(user);
    this.active++;
    this.fire(user);
  }

  private fire(user: User, now = performance.now()): void {
    user.timer = null;
    if (this.stopping || (this.o.maxRequests !== undefined && this.issued >= this.o.maxRequests) || (this.o.deadline !== undefined && now >= this.o.deadline)) {
      this.retire(user);
      return;
    }
    this.issued++;
    this.inFlight++;
    user.taskStart = now;
    user.slot.send(this.o.pick(), now);
  }

  onSlotDone(slot: Slot, status: number, kind: string | null): void {
    const now = performance.now();
    this.inFlight--;
    const latency = now - slot.start;
    const bytes = slot.bytes;
    const user = this.users[slot.tag]!;
    if (status > 0) user.failStreak = 0;
    if (this.zeroWait && status > 0 && !this.stopping) {
      // The next request goes out before the bookkeeping: against a busy server a few µs more
      // between an answer and the next request change where it lands in the server's queue.
      this.fire(user, now);
      this.stats.record(latency, status, kind ?? slot.bodyError(), bytes);
      return;
    }
    this.stats.record(latency, status, kind ?? slot.bodyError(), bytes);
    if (this.stopping) { this.retire(user); return; }
    let wait = waitSeconds(this.o.wait, (now - user.taskStart) / 1000, Math.random, user.tasks++ === 0) * 1000;
    // A transport error returns at once (e.g. connection refused): back off, doubling while they
    // last, instead of spinning. A fixed 10 ms had every user of a dead target reconnect 100 times
    // a second (1000 users: 100k connects/s, the tool's CPU, and errors swamping the counts).
    if (status === 0) wait = Math.max(wait, backoffMs(++user.failStreak));
    if (wait <= 0) { this.fire(user, now); return; }
    if (this.o.deadline !== undefined && now + wait >= this.o.deadline) { this.retire(user); return; }
    user.timer = setTimeout(() => this.fire(user), wait);
  }

  private retire(user: User): void {
    if (!user.active) return;
    user.active = false;
    if (user.timer) { clearTimeout(user.timer); user.timer = null; }
    this.active--;
    this.checkDone();
  }

  /** Stops issuing; in-flight requests still complete (each is bounded by the timeout). */
  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    if (this.spawnTimer) { clearTimeout(this.spawnTimer); this.spawnTimer = null; }
    for (const u of this.users) if (u.timer) this.retire(u);
    this.checkDone();
  }

  private checkDone(): void {
    const allRetired = this.active === 0 && (this.stopping || this.users.length === this.o.users);
    if (allRetired && this.inFlight === 0 && this.resolveDone) {
      const r = this.resolveDone;
      this.resolveDone = null;
      if (this.spawnTimer) { clearTimeout(this.spawnTimer); this.spawnTimer = null; }
      r();
    }
  }
}
