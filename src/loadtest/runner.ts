// One load-test run: wires the HTTP client, a scheduler and the statistics together, ticks the
// per-second series, watches the generator's own health (event-loop lag, CPU) and returns a
// RunResult. Reporters and thresholds work on that result only.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { HttpClient, type Target } from './client.js';
import { ClosedScheduler } from './schedulers/closed.js';
import { ArrivalSchedule, OpenScheduler } from './schedulers/open.js';
import { Stats, distribution, exactPercentile, summarize } from './stats.js';
import { startTicker } from './ticker.js';
import type { RunConfig, RunResult, SeriesPoint, Stage, WaitSpec } from './types.js';

export interface RunSpec {
  target: Target;
  bodies: Buffer[] | null;
  bodyOrder: 'rotate' | 'random';
  bodySource: string;
  durationMs?: number;
  maxRequests?: number;
  closed?: { users: number; spawnRate?: number; wait: WaitSpec; waitText: string; sequential?: boolean };
  open?: { rate: number; stages: Stage[]; connections: number; lateToleranceMs: number };
  /** Keep every sample for exact statistics (sequential mode). */
  keepSamples?: boolean;
  label?: string;
  /** Stops the run early (e.g. on Ctrl-C); the result covers what was done until then. */
  signal?: AbortSignal;
  /** Called once a second with the new series point and the running totals. */
  onTick?: (point: SeriesPoint, live: LiveState) => void;
}

export interface LiveState {
  elapsedS: number;
  requests: number;
  failures: number;
  inFlight: number;
  lagP99Ms: number;
}

/** Event-loop lag p99 above this (ms, beyond the monitor's 10 ms resolution), or CPU above 90% of one core in the closed model, flags the generator as a likely bottleneck (given the evidence below). */
export const LAG_WARN_MS = 20;
/**
 * Evidence the warning needs. Lag: at least this many samples (each a late turn of the loop) beyond
 * LAG_WARN_MS, besides a p99 beyond it — a run too short for 100 samples had its p99 set by one or
 * two stalls (the start's compiling and connecting, a GC pause: a 1 s run against an idle server
 * warned at p99 57 ms). CPU: a run of at least this long — over a few ms, CPU time is the start's
 * (a 3-request run read 90% of a core); Locust judges its CPU over 5 s windows.
 */
export const LAG_WARN_MIN_SAMPLES = 5;
export const CPU_WARN_MIN_S = 2;
/** CPU above this (% of one core), in the closed model, flags the generator too. */
export const CPU_WARN_PERCENT = 90;

/**
 * Whether the generator was likely its own bottleneck. `lagP99Ms` and `lagNthWorstMs` (the
 * LAG_WARN_MIN_SAMPLES-th largest lag sample) are beyond the monitor's resolution. In the open
 * model the scheduler may spin between close arrivals (for on-time sends), so CPU alone says
 * little there; event-loop lag does in both models.
 */
export function generatorBottleneck(g: { lagP99Ms: number; lagNthWorstMs: number; cpuPercent: number; elapsedS: number; closed: boolean }): boolean {
  const lagging = g.lagP99Ms > LAG_WARN_MS && g.lagNthWorstMs > LAG_WARN_MS;
  const busy = g.closed && g.elapsedS >= CPU_WARN_MIN_S && g.cpuPercent > CPU_WARN_PERCENT;
  return lagging || busy;
}

/** monitorEventLoopDelay's sampling interval: its samples include it, so an idle loop reads ~10 ms. */
const LAG_RESOLUTION_MS = 10;
/** The loop's delay beyond the sampling interval (what a user reads as "lag"), in ms. */
const lagBeyondResolution = (ns: number): number => Math.max(0, ns / 1e6 - LAG_RESOLUTION_MS);

export async function runLoad(spec: RunSpec): Promise<RunResult> {
  const { bodyPicker } = await import('./bodies.js');
  const pick = bodyPicker(spec.bodies, spec.bodyOrder);
  const connections = spec.closed ? spec.closed.users : spec.open!.connections;
  const client = new HttpClient(spec.target, connections);
  const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  lag.enable();
  const cpu0 = process.cpuUsage();
  const startedAt = new Date();
  const t0 = performance.now();
  const stats = new Stats(t0, spec.keepSamples === true);
  let closed: ClosedScheduler | null = null;
  let open: OpenScheduler | null = null;
  let schedule: ArrivalSchedule | null = null;
  let done: Promise<void>;
  if (spec.closed) {
    closed = new ClosedScheduler(client, stats, {
      users: spec.closed.users, spawnRate: spec.closed.spawnRate, wait: spec.closed.wait,
      deadline: spec.durationMs !== undefined ? t0 + spec.durationMs : undefined, maxRequests: spec.maxRequests, pick,
    });
    done = closed.run();
  } else {
    const o = spec.open!;
    schedule = new ArrivalSchedule(o.rate, o.stages);
    open = new OpenScheduler(client, stats, { schedule, connections: o.connections, durationMs: spec.durationMs, maxRequests: spec.maxRequests, lateToleranceMs: o.lateToleranceMs, pick });
    done = open.run(t0);
  }
  const users = (): number => (closed ? closed.activeUsers : open!.requestsInFlight);
  const inFlight = (): number => (closed ? closed.requestsInFlight : open!.requestsInFlight);
  let lastLagCheck = 0;
  // Users active when a window last closed or the run was told to stop: the final, partial window
  // is closed after every user has finished, when users() is already 0.
  let lastUsers = 0;
  /** Users active when the run was told to stop, until the window it fell in is closed. */
  let usersAtStop: number | undefined;
  // A point's offered rate is over its window, as its req/s is: the rate at the window's end ran a
  // ramp's req/s ahead by half a second's climb (0→200 over 2 s: offered 100 while 50 were due).
  let windowStart = 0;
  const offeredInWindow = (now: number): number => {
    const from = windowStart, to = now - t0, end = spec.durationMs ?? Infinity;
    windowStart = to;
    if (!schedule) return 0;
    return (schedule.countAt(Math.min(to, end)) - schedule.countAt(Math.min(from, end))) / Math.max(1e-3, (to - from) / 1000);
  };
  // Each tick aims at t0 + k s (not a second after the last, late one); a window's rates are over
  // its real length (Stats.tick), which a late tick makes a little longer than a second.
  const stopTicker = startTicker(t0, 1000, () => performance.now(), (now) => {
    // The window the stop fell in counts the users running at the stop, though some finished their
    // last request (the drain) before this tick: they ran in it.
    lastUsers = usersAtStop === undefined ? users() : Math.max(users(), usersAtStop);
    usersAtStop = undefined;
    const point = stats.tick(now, lastUsers, offeredInWindow(now));
    if (spec.onTick) {
      const p99 = lag.count > lastLagCheck ? lagBeyondResolution(lag.percentile(99)) : 0;
      lastLagCheck = lag.count;
      spec.onTick(point, { elapsedS: (now - t0) / 1000, requests: stats.requests, failures: stats.failures, inFlight: inFlight(), lagP99Ms: p99 });
    }
  });
  // Bounds: stop issuing at the duration; then give in-flight requests (each bounded by its own
  // timeout) and the open model's backlog at most one timeout more.
  let stopTimer: NodeJS.Timeout | null = null;
  let drainTimer: NodeJS.Timeout | null = null;
  let stopped = false;
  // Ctrl-C before the run reached its bound: the reports must say so, or a cut-short run reads as
  // the full one asked for (its req/s and percentiles over 2 s passed for the 10 min planned).
  let interrupted = false;
  const onAbort = (): void => {
    if (!stopped) interrupted = true;
    stopNow();
  };
  const stopNow = (): void => {
    stopped = true;
    if (stopTimer) { clearTimeout(stopTimer); stopTimer = null; }
    lastUsers = users();
    usersAtStop = lastUsers;
    closed?.stop();
    open?.stop();
    if (!drainTimer) drainTimer = setTimeout(() => { open?.abandonBacklog(); }, spec.target.timeoutMs + 1000);
  };
  if (spec.durationMs !== undefined) stopTimer = setTimeout(stopNow, spec.durationMs);
  if (spec.signal) {
    if (spec.signal.aborted) onAbort();
    else spec.signal.addEventListener('abort', onAbort, { once: true });
  }
  await done;
  stopped = true;
  spec.signal?.removeEventListener('abort', onAbort);
  const t1 = performance.now();
  if (stopTimer) clearTimeout(stopTimer);
  if (drainTimer) clearTimeout(drainTimer);
  stopTicker();
  lag.disable();
  const cpu = process.cpuUsage(cpu0);
  // Close the last (partial) window if it saw anything.
  if (stats.series.length === 0 || stats.series[stats.series.length - 1]!.t < (t1 - t0) / 1000 - 0.05) {
    stats.tick(t1, Math.max(users(), lastUsers), offeredInWindow(t1));
  }
  const retries = client.retries;
  await client.close();

  const elapsedS = (t1 - t0) / 1000;
  const cpuPercent = ((cpu.user + cpu.system) / 1000 / (t1 - t0)) * 100;
  const lagP99 = lag.count > 0 ? lagBeyondResolution(lag.percentile(99)) : 0;
  const lagMax = lag.count > 0 ? lagBeyondResolution(lag.max) : 0;
  // The n-th largest sample is the value at rank count − n + 1 (HDR's percentile picks that rank).
  const n = LAG_WARN_MIN_SAMPLES;
  const lagNthWorst = lag.count >= n ? lagBeyondResolution(lag.percentile((100 * (lag.count - n + 1)) / lag.count)) : 0;
  const bottleneck = generatorBottleneck({ lagP99Ms: lagP99, lagNthWorstMs: lagNthWorst, cpuPercent, elapsedS, closed: spec.closed !== undefined });
  const warning = bottleneck
    ? `the load generator itself may be the bottleneck: event-loop lag p99 ${lagP99.toFixed(1)} ms, CPU ${cpuPercent.toFixed(0)}% of one core — latencies include its own delay; use fewer users/connections or a lower rate, or run it on another machine`
    : undefined;

  const config: RunConfig = {
    url: spec.target.origin + spec.target.path,
    method: spec.target.method,
    model: spec.closed ? (spec.closed.sequential ? 'sequential' : 'closed') : 'open',
    connections,
    durationMs: spec.durationMs,
    maxRequests: spec.maxRequests,
    timeoutMs: spec.target.timeoutMs,
    bodies: spec.bodies?.length ?? 0,
    bodySource: spec.bodySource,
  };
  if (spec.closed) Object.assign(config, { users: spec.closed.users, spawnRate: spec.closed.spawnRate, wait: spec.closed.waitText });
  if (spec.open) Object.assign(config, { rate: spec.open.rate, stages: spec.open.stages });

  const unsent = open?.unsent ?? 0;
  const result: RunResult = {
    tool: 'modelserve-loadtest',
    schema: 1,
    ...(spec.label ? { label: spec.label } : {}),
    config,
    startedAt: startedAt.toISOString(),
    elapsedS,
    requests: stats.requests,
    ok: stats.ok,
    failures: stats.failures,
    // A request the open model scheduled but never sent (its backlog outlived the run) failed as
    // surely as one refused: left out, a server that let almost nothing through read 0% errors.
    errorRate: stats.requests + unsent > 0 ? (stats.failures + unsent) / (stats.requests + unsent) : 0,
    rps: elapsedS > 0 ? stats.requests / elapsedS : 0,
    bytesReceived: stats.bytes,
    latencyMs: summarize(stats.total),
    distribution: distribution(stats.total),
    histogram: stats.encodedHistogram(),
    ...(retries > 0 ? { retries } : {}),
    statusCounts: stats.statusCountsRecord(),
    errorKinds: stats.errorKindsRecord(),
    series: stats.series,
    generator: { eventLoopLagP99Ms: lagP99, eventLoopLagMaxMs: lagMax, cpuPercent, bottleneck, ...(warning ? { warning } : {}) },
    ...(interrupted ? { interrupted: true } : {}),
  };
  if (open && schedule) {
    const dur = spec.durationMs ?? elapsedS * 1000;
    result.schedule = {
      offeredRate: dur > 0 ? schedule.countAt(dur) / (dur / 1000) : 0,
      scheduled: open.scheduled,
      late: open.late,
      lateToleranceMs: spec.open!.lateToleranceMs,
      maxSendLagMs: open.maxSendLagMs,
      unsent,
    };
  }
  if (stats.samples && stats.samples.length > 0) {
    const s = [...stats.samples].sort((a, b) => a - b);
    result.exact = {
      n: s.length,
      median: exactPercentile(s, 50),
      p95: exactPercentile(s, 95),
      max: s[s.length - 1]!,
      min: s[0]!,
      mean: s.reduce((a, b) => a + b, 0) / s.length,
    };
  }
  return result;
}
