// modelserve_requests_total and modelserve_request_duration_seconds, counted here and handed to
// the registry as prom-client metric objects (Registry.registerMetric: name, help, type, get()).
// prom-client's own Counter and Histogram validate and hash the label set on every inc/observe,
// even through a child bound with labels(), and these two are updated on every HTTP response:
// here a response costs one Map lookup (a key string), two adds and a bucket search.
import type { Metric, MetricValue, Registry } from 'prom-client';

export type RequestLabels = { model: string; version: string; route: string; status: string };

interface Series {
  labels: RequestLabels;
  count: number;
  sum: number;
  /** Observations per bucket (not cumulative); the last one is +Inf. */
  buckets: Float64Array;
}

export class RequestSeries {
  private readonly series = new Map<string, Series>();

  constructor(registry: Registry, private readonly bounds: readonly number[]) {
    // A metric object as the registry reads it (name, help, type, get(); reset() for resetMetrics()).
    const register = (name: string, help: string, type: 'counter' | 'histogram', values: () => MetricValue<string>[]) => {
      const metric = { name, help, type, aggregator: 'sum', get: async () => ({ name, help, type, aggregator: 'sum', values: values() }), reset: () => this.series.clear() };
      registry.registerMetric(metric as unknown as Metric);
    };
    register('modelserve_requests_total', 'HTTP requests answered, by model, version, route template and status code.', 'counter', () => this.counts());
    register('modelserve_request_duration_seconds', 'HTTP request latency (first byte in to last byte out), by model, version, route template and status code.', 'histogram', () => this.histogramValues());
  }

  /** Counts one response and its duration in seconds. */
  observe(model: string, version: string, route: string, status: number, seconds: number): void {
    const key = `${model}\u0000${version}\u0000${route}\u0000${status}`;
    let s = this.series.get(key);
    if (s === undefined) {
      // Label sets are bounded by the callers (models × versions × route templates × statuses).
      s = { labels: { model, version, route, status: String(status) }, count: 0, sum: 0, buckets: new Float64Array(this.bounds.length + 1) };
      this.series.set(key, s);
    }
    s.count++;
    s.sum += seconds;
    let i = 0;
    while (i < this.bounds.length && seconds > this.bounds[i]!) i++;
    s.buckets[i]!++;
  }

  private counts(): MetricValue<string>[] {
    return [...this.series.values()].map((s) => ({ labels: s.labels, value: s.count }));
  }

  private histogramValues(): MetricValue<string>[] {
    const out: MetricValue<string>[] = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += s.buckets[i]!;
        const le = i < this.bounds.length ? this.bounds[i]! : '+Inf';
        out.push({ labels: { ...s.labels, le }, value: cumulative, metricName: 'modelserve_request_duration_seconds_bucket' } as MetricValue<string>);
      }
      out.push({ labels: s.labels, value: s.sum, metricName: 'modelserve_request_duration_seconds_sum' } as MetricValue<string>);
      out.push({ labels: s.labels, value: s.count, metricName: 'modelserve_request_duration_seconds_count' } as MetricValue<string>);
    }
    return out;
  }
}
