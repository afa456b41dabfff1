// modelserve_requests_total and modelserve_request_duration_seconds, updated on every HTTP
// response: one Map lookup (a key string) and a BoundHistogram observation; the counter is the
// histogram's count per label set, read on scrape.
import type { Registry } from 'prom-client';
import { BoundHistogram, registerComputedMetric } from './bound-histogram.js';

export type RequestLabels = { model: string; version: string; route: string; status: string };

export class RequestSeries {
  private readonly duration: BoundHistogram<keyof RequestLabels>;

  constructor(registry: Registry, bounds: readonly number[]) {
    registerComputedMetric(registry, 'modelserve_requests_total', 'HTTP requests answered, by model, version, route template and status code.', 'counter',
      () => [...this.duration.observed()].map((s) => ({ labels: s.labels, value: s.count })), () => undefined);
    this.duration = new BoundHistogram(registry, 'modelserve_request_duration_seconds', 'HTTP request latency (first byte in to last byte out), by model, version, route template and status code.', bounds);
  }

  /** Counts one response and its duration in seconds. */
  observe(model: string, version: string, route: string, status: number, seconds: number): void {
    // Label sets are bounded by the callers (models × versions × route templates × statuses).
    const key = `${model}\u0000${version}\u0000${route}\u0000${status}`;
    (this.duration.find(key) ?? this.duration.labels({ model, version, route, status: String(status) }, key)).observe(seconds);
  }
}
