// Measurement: HDR histograms of latency (recorded in µs), counts by status and error kind, and a
// per-second time series. The hot path (`record`) touches two histograms and a few counters.
import hdr from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';
import type { LatencySummary, RunResult, SeriesPoint } from './types.js';

/** Locust's percentile list (PERCENTILES_TO_REPORT), in percent. */
export const LOCUST_PERCENTILES = [50, 66, 75, 80, 90, 95, 98, 99, 99.9, 99.99, 100];

const HIGHEST_US = 3_600_000_000; // one hour

export function newHistogram(digits: 1 | 2 | 3 = 3): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: digits, autoResize: false, bitBucketSize: 32 });
}

/**
 * Whether an answer's status is a failure: 4xx and 5xx, and 3xx too — redirects are not followed,
 * so a 301 (http → https, a missing trailing slash) means the request never reached what was meant
 * to be measured; counted as a success it made a run against the wrong URL look perfect.
 */
export function failedStatus(status: number): boolean {
  return status >= 300;
}

/** ms → integer µs, clamped to the histogram's range. */
function toUs(ms: number): number {
  const us = Math.round(ms * 1000);
  return us < 1 ? 1 : us > HIGHEST_US ? HIGHEST_US : us;
}

/**
 * The value at a percentile, in ms, within the recorded range: HDR answers a bucket's highest
 * equivalent value, which can be past the exact max (one request of 3018.1 ms had a p50 of 3018.8 ms
 * and a max of 3018.1 ms) or below the exact min.
 */
export function valueAt(h: Histogram, percentile: number): number {
  return Math.min(h.maxValue, Math.max(h.minNonZeroValue, h.getValueAtPercentile(percentile))) / 1000;
}

export function summarize(h: Histogram): LatencySummary {
  if (h.totalCount === 0) {
    return { min: 0, mean: 0, stdev: 0, p50: 0, p66: 0, p75: 0, p80: 0, p90: 0, p95: 0, p98: 0, p99: 0, 'p99.9': 0, 'p99.99': 0, max: 0 };
  }
  const at = (p: number): number => valueAt(h, p);
  return {
    min: h.minNonZeroValue / 1000,
    mean: h.mean / 1000,
    stdev: h.stdDeviation / 1000,
    p50: at(50), p66: at(66), p75: at(75), p80: at(80), p90: at(90), p95: at(95), p98: at(98), p99: at(99),
    'p99.9': at(99.9), 'p99.99': at(99.99),
    max: h.maxValue / 1000,
  };
}

/** HDR-style percentile distribution: ticks at 0, 50, 75, 87.5, … up to 99.999 and 100. */
export function distribution(h: Histogram): Array<[number, number]> {
  if (h.totalCount === 0) return [];
  const out: Array<[number, number]> = [];
  for (let i = 0; i <= 50; i++) {
    const p = 100 * (1 - Math.pow(10, -i / 10));
    if (p > 99.9999) break;
    out.push([Number(p.toFixed(5)), valueAt(h, p)]);
  }
  out.push([100, h.maxValue / 1000]);
  return out;
}

export class Stats {
  readonly total = newHistogram(3);
  private readonly window = newHistogram(2);
  requests = 0;
  ok = 0;
  failures = 0;
  bytes = 0;
  /** Requests that got an HTTP response (any status). */
  responses = 0;
  private readonly statusCounts = new Float64Array(1000);
  readonly errorKinds = new Map<string, number>();
  private winRequests = 0;
  private winFailures = 0;
  readonly series: SeriesPoint[] = [];
  /** Every latency sample in ms (only when keepSamples). */
  readonly samples: number[] | null;
  private lastTick: number;

  constructor(readonly startedAt: number, keepSamples = false) {
    this.samples = keepSamples ? [] : null;
    this.lastTick = startedAt;
  }

  /**
   * A completed request: `status` > 0 is an HTTP status (with `kind` set, an answer that failed its
   * check, e.g. 'invalid-json': counted under its status and as a failure of that kind); 0 with
   * `kind` a transport error.
   */
  record(latencyMs: number, status: number, kind: string | null, bytes: number): void {
    this.requests++;
    this.winRequests++;
    this.bytes += bytes;
    if (status > 0) {
      this.responses++;
      this.statusCounts[status < 1000 ? status : 999]!++;
      const us = toUs(latencyMs);
      this.total.recordValue(us);
      this.window.recordValue(us);
      if (this.samples) this.samples.push(latencyMs);
      if (kind === null && !failedStatus(status)) this.ok++;
      else {
        this.failures++;
        this.winFailures++;
        if (kind !== null) this.errorKinds.set(kind, (this.errorKinds.get(kind) ?? 0) + 1);
      }
      return;
    }
    this.failures++;
    this.winFailures++;
    const k = kind ?? 'other';
    this.errorKinds.set(k, (this.errorKinds.get(k) ?? 0) + 1);
    // A timeout's elapsed time is a real (lower-bound) latency: keep it so stalls stay visible.
    if (k === 'timeout') {
      const us = toUs(latencyMs);
      this.total.recordValue(us);
      this.window.recordValue(us);
      if (this.samples) this.samples.push(latencyMs);
    }
  }

  /** Closes the current window (normally once a second) and appends a series point. */
  tick(now: number, users: number, offered: number): SeriesPoint {
    const span = Math.max(1e-3, (now - this.lastTick) / 1000);
    this.lastTick = now;
    const w = this.window;
    const has = w.totalCount > 0;
    const point: SeriesPoint = {
      t: Math.round((now - this.startedAt)) / 1000,
      ts: Date.now(),
      users,
      offered,
      requests: this.winRequests,
      failures: this.winFailures,
      rps: this.winRequests / span,
      fps: this.winFailures / span,
      p50: has ? valueAt(w, 50) : null,
      p95: has ? valueAt(w, 95) : null,
      p99: has ? valueAt(w, 99) : null,
      totalRequests: this.requests,
      totalFailures: this.failures,
      cumulative: this.total.totalCount > 0 ? LOCUST_PERCENTILES.map((p) => valueAt(this.total, p)) : [],
      totalMeanMs: this.total.totalCount > 0 ? this.total.mean / 1000 : null,
      totalMinMs: this.total.totalCount > 0 ? this.total.minNonZeroValue / 1000 : null,
      totalBytes: this.bytes,
    };
    w.reset();
    this.winRequests = 0;
    this.winFailures = 0;
    this.series.push(point);
    return point;
  }

  statusCountsRecord(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let s = 0; s < this.statusCounts.length; s++) if (this.statusCounts[s]! > 0) out[String(s)] = this.statusCounts[s]!;
    return out;
  }

  errorKindsRecord(): Record<string, number> {
    return Object.fromEntries([...this.errorKinds.entries()].sort((a, b) => b[1] - a[1]));
  }

  encodedHistogram(): string {
    return hdr.encodeIntoCompressedBase64(this.total);
  }
}

/** Whether a run measured any latency (its histogram holds a sample): one whose every request failed without an answer reports zeros, which are no measurement. */
export function latencyMeasured(r: Pick<RunResult, 'distribution'>): boolean {
  return r.distribution.length > 0;
}

/** numpy.percentile's default (linear interpolation between closest ranks). */
export function exactPercentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}
