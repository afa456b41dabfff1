// Shared shapes of the load tester: the options a run is driven by and the result it produces
// (the result is also the `--json` output and the input of `loadtest compare`).

export type WaitSpec =
  | { kind: 'constant'; seconds: number }
  | { kind: 'between'; min: number; max: number }
  | { kind: 'constant_throughput'; perSecond: number }
  | { kind: 'constant_pacing'; seconds: number };

/** One ramp stage of the open model: the arrival rate moves linearly to `target` over `durationMs`. */
export interface Stage {
  durationMs: number;
  target: number;
}

export type Metric = 'p50' | 'p90' | 'p95' | 'p99' | 'p99.9' | 'max' | 'min' | 'mean' | 'errors' | 'rps' | 'failures' | 'late';
export type Op = '<' | '<=' | '>' | '>=';

export interface Threshold {
  /** The expression as given, e.g. `p95<100ms`. */
  expr: string;
  metric: Metric;
  op: Op;
  /** In ms for latency metrics, a fraction (0..1) for `errors`, req/s for `rps`, a count otherwise. */
  value: number;
}

export interface ThresholdResult {
  expr: string;
  ok: boolean;
  /** The measured value in the threshold's unit (ms, fraction, req/s, count). */
  actual: number;
}

export interface LatencySummary {
  min: number;
  mean: number;
  stdev: number;
  p50: number;
  p66: number;
  p75: number;
  p80: number;
  p90: number;
  p95: number;
  p98: number;
  p99: number;
  'p99.9': number;
  'p99.99': number;
  max: number;
}

/** One point of the per-second time series. */
export interface SeriesPoint {
  /** Seconds since the start of the run (end of the window). */
  t: number;
  /** Unix time in ms (end of the window). */
  ts: number;
  /** Active users (closed model) or requests in flight (open model). */
  users: number;
  /** Offered arrival rate in this window (open model), else 0. */
  offered: number;
  requests: number;
  failures: number;
  rps: number;
  fps: number;
  /** Latency percentiles of the requests completed in this window (ms); null when none completed. */
  p50: number | null;
  p95: number | null;
  p99: number | null;
  /** Cumulative totals at the end of this window (for Locust's history CSV). */
  totalRequests: number;
  totalFailures: number;
  /** Cumulative percentiles at the end of the window, Locust's list (ms): 50,66,75,80,90,95,98,99,99.9,99.99,100. */
  cumulative: number[];
  /** Cumulative mean and min latency (ms) at the end of the window; null before any answer. */
  totalMeanMs: number | null;
  totalMinMs: number | null;
  /** Response bytes received up to the end of the window. */
  totalBytes: number;
}

export interface RunConfig {
  url: string;
  method: string;
  model: 'closed' | 'open' | 'sequential';
  users?: number;
  spawnRate?: number;
  wait?: string;
  rate?: number;
  stages?: Stage[];
  connections: number;
  durationMs?: number;
  maxRequests?: number;
  timeoutMs: number;
  bodies: number;
  bodySource: string;
}

export interface RunResult {
  tool: 'modelserve-loadtest';
  schema: 1;
  label?: string;
  config: RunConfig;
  startedAt: string;
  /** Wall time from the first request to the last completion, in seconds. */
  elapsedS: number;
  requests: number;
  /** Responses with a 1xx or 2xx status. */
  ok: number;
  /** HTTP status >= 300 (redirects are not followed), timeouts and connection errors, and 2xx answers declared JSON that are not (invalid-json). */
  failures: number;
  /** (failures + requests never sent) / (requests + requests never sent); the open model alone leaves any unsent. */
  errorRate: number;
  rps: number;
  bytesReceived: number;
  latencyMs: LatencySummary;
  /** Percentile distribution (percentile → ms), HDR-style, for charts. */
  distribution: Array<[number, number]>;
  /** The full latency histogram (µs), HdrHistogram compressed base64. */
  histogram: string;
  /**
   * Closed model: requests resent once on a new connection because the server closed the idle
   * keep-alive connection they were written to before any byte of an answer (each counts once, by
   * its answer on the new connection). Absent when none was.
   */
  retries?: number;
  statusCounts: Record<string, number>;
  errorKinds: Record<string, number>;
  /** Open model only: how well the tool kept the schedule. */
  schedule?: {
    offeredRate: number;
    scheduled: number;
    /** Requests dispatched more than `lateToleranceMs` after their intended send time. */
    late: number;
    lateToleranceMs: number;
    maxSendLagMs: number;
    /** Scheduled requests never sent because the run ended first (backlog at the end). */
    unsent: number;
  };
  /** Exact statistics from every sample (sequential measure mode). */
  exact?: { n: number; median: number; p95: number; max: number; mean: number; min: number };
  series: SeriesPoint[];
  generator: { eventLoopLagP99Ms: number; eventLoopLagMaxMs: number; cpuPercent: number; bottleneck: boolean; warning?: string };
  thresholds?: ThresholdResult[];
  capacity?: CapacityResult;
  /** Ctrl-C ended the run before its bound (--duration/--requests): it covers less than was asked. */
  interrupted?: boolean;
}

export interface CapacityStep {
  rate: number;
  achievedRps: number;
  p50: number;
  p95: number;
  p99: number;
  errorRate: number;
  ok: boolean;
  stable: boolean;
  reason?: string;
}

export interface CapacityResult {
  slo: string[];
  maxErrorRate: number;
  /**
   * Highest offered rate that met the SLO (req/s). 0 is a measurement: every step finished broke
   * the SLO (exit 3). null: not measured — no step finished (`steps` empty, `interrupted`: Ctrl-C
   * during the first step), so there is no rate to report, not even 0. Reports written before null
   * was introduced give 0 with `steps` empty for that case; read them through `measuredCapacity()`.
   */
  capacity: number | null;
  steps: CapacityStep[];
  toolLimited: boolean;
  /** Every step up to --max-rate met the SLO: the capacity is at least that rate, not at it. */
  capped?: boolean;
  /** Ctrl-C ended the search early: the capacity is the best rate found so far (none when `steps` is empty: interrupted during the first step). */
  interrupted?: boolean;
}
