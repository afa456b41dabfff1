// Pass/fail expressions (`p95<100ms`, `errors<1%`, `rps>=500`) shared by --threshold and --slo.
import type { Metric, Op, RunResult, Threshold, ThresholdResult } from './types.js';

const METRIC_ALIASES: Record<string, Metric> = {
  p50: 'p50', median: 'p50', med: 'p50', p90: 'p90', p95: 'p95', p99: 'p99', 'p99.9': 'p99.9', p999: 'p99.9',
  max: 'max', min: 'min', mean: 'mean', avg: 'mean',
  errors: 'errors', error_rate: 'errors', errorrate: 'errors', fail_rate: 'errors',
  rps: 'rps', 'req/s': 'rps', throughput: 'rps',
  failures: 'failures', late: 'late',
};
const LATENCY: ReadonlySet<Metric> = new Set(['p50', 'p90', 'p95', 'p99', 'p99.9', 'max', 'min', 'mean']);

/** Parses `metric op value[unit]`; throws Error with a readable message when it cannot. */
export function parseThreshold(expr: string): Threshold {
  const m = /^\s*([a-z_/.0-9]+?)\s*(<=|>=|<|>)\s*([0-9]*\.?[0-9]+(?:e[-+]?\d+)?)\s*(ms|us|µs|s|%)?\s*$/i.exec(expr);
  if (!m) throw new Error(`invalid threshold '${expr}': expected e.g. 'p95<100ms', 'errors<1%', 'rps>=500'`);
  const metric = METRIC_ALIASES[m[1]!.toLowerCase()];
  if (!metric) throw new Error(`invalid threshold '${expr}': unknown metric '${m[1]}' (use p50, p90, p95, p99, p99.9, max, min, mean, errors, rps, failures, late)`);
  const op = m[2] as Op;
  let value = Number(m[3]);
  const unit = (m[4] ?? '').toLowerCase();
  if (LATENCY.has(metric)) {
    if (unit === '%') throw new Error(`invalid threshold '${expr}': a latency needs a time unit (ms, s, us)`);
    if (unit === 's') value *= 1000;
    else if (unit === 'us' || unit === 'µs') value /= 1000;
  } else if (metric === 'errors') {
    if (unit === '%') value /= 100;
    else if (unit) throw new Error(`invalid threshold '${expr}': an error rate is a fraction or a percentage`);
    else if (value > 1) throw new Error(`invalid threshold '${expr}': an error rate without % must be a fraction (0..1)`);
  } else if (unit) {
    throw new Error(`invalid threshold '${expr}': '${metric}' takes no unit`);
  }
  return { expr: expr.trim(), metric, op, value };
}

/** The measured value a threshold's metric refers to, in the threshold's unit. */
export function metricValue(result: Pick<RunResult, 'latencyMs' | 'errorRate' | 'rps' | 'failures' | 'schedule'>, metric: Metric): number {
  switch (metric) {
    case 'errors': return result.errorRate;
    case 'rps': return result.rps;
    case 'failures': return result.failures;
    // A request never sent (the backlog outlived the run) was not sent on time either.
    case 'late': return (result.schedule?.late ?? 0) + (result.schedule?.unsent ?? 0);
    default: return result.latencyMs[metric];
  }
}

export function compare(actual: number, op: Op, limit: number): boolean {
  switch (op) {
    case '<': return actual < limit;
    case '<=': return actual <= limit;
    case '>': return actual > limit;
    case '>=': return actual >= limit;
  }
}

export function evaluate(thresholds: Threshold[], result: Pick<RunResult, 'latencyMs' | 'errorRate' | 'rps' | 'failures' | 'schedule'>): ThresholdResult[] {
  return thresholds.map((t) => {
    const actual = metricValue(result, t.metric);
    return { expr: t.expr, ok: compare(actual, t.op, t.value), actual };
  });
}

/** Unit suffix for printing a metric's value. */
export function formatMetric(expr: string, actual: number): string {
  const t = parseThreshold(expr);
  if (LATENCY.has(t.metric)) return `${fmtMs(actual)} ms`;
  if (t.metric === 'errors') return `${(actual * 100).toFixed(3)}%`;
  if (t.metric === 'rps') return `${actual.toFixed(1)} req/s`;
  return String(actual);
}

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  return ms.toFixed(2);
}

/**
 * An offered (tried) rate in req/s, printed as the rate tried: the capacity search bisects to
 * 0.1 req/s (12.5, 6.3, 1.6) and a start rate may be fractional, so it is not rounded to an integer.
 * Below 100 req/s up to 3 significant digits (12.5, 1.6, 0.25), from 100 up to one decimal (112.5).
 */
export function fmtRate(rate: number): string {
  if (!Number.isFinite(rate)) return '-';
  return String(rate >= 100 ? Number(rate.toFixed(1)) : Number(rate.toPrecision(3)));
}

/** A measured rate in req/s: one decimal below 100 req/s (12.0, 1.6), whole numbers above. */
export function fmtRps(rps: number): string {
  if (!Number.isFinite(rps)) return '-';
  return rps >= 100 ? rps.toFixed(0) : rps.toFixed(1);
}
