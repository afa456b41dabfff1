// A request counter and its latency histogram, updated on every answer: one Map lookup (a key
// string) and a BoundHistogram observation; the counter is the histogram's count per label set,
// read on scrape. HTTP's modelserve_requests_total / modelserve_request_duration_seconds
// {model, version, route, status} and gRPC's modelserve_grpc_requests_total /
// modelserve_grpc_request_duration_seconds {model, version, rpc, code} are two of them.
import type { Registry } from 'prom-client';
import { BoundHistogram, registerComputedMetric, seriesLine, type HistogramSeries } from './bound-histogram.js';

/** The series' names and helps, and the two labels beside model and version. */
export interface RequestSeriesNames<K extends string, S extends string> {
  total: [name: string, help: string];
  duration: [name: string, help: string];
  /** What was asked (the route template, the RPC) and how it was answered (the status). */
  labels: [kind: K, status: S];
}

export class RequestSeries<K extends string = 'route', S extends string = 'status'> {
  private readonly duration: BoundHistogram<'model' | 'version' | K | S>;
  private readonly kind: K;
  private readonly status: S;
  /** The last answer's labels and series (see observe). */
  private last: { model: string; version: string; kind: string; status: number | string; series: HistogramSeries<'model' | 'version' | K | S> } | undefined;

  constructor(registry: Registry, bounds: readonly number[], names: RequestSeriesNames<K, S>) {
    [this.kind, this.status] = names.labels;
    registerComputedMetric(registry, names.total[0], names.total[1], 'counter',
      () => [...this.duration.observed()].map((s) => ({ labels: s.labels, value: s.count })), () => undefined,
      (defaultLabels) => [...this.duration.observed()].map((s) => seriesLine(names.total[0], s.labels, defaultLabels, s.count)));
    this.duration = new BoundHistogram(registry, names.duration[0], names.duration[1], bounds);
  }

  /** Drops the series whose labels match (the counter is read from the same series). */
  forget(gone: (labels: Readonly<Record<string, string>>) => boolean): void {
    this.duration.forget(gone);
    this.last = undefined;
  }

  /** Counts one answer and its duration in seconds. */
  observe(model: string, version: string, kind: string, status: number | string, seconds: number): void {
    // Most answers repeat the last one's labels: its series is kept, so they build no key string.
    const last = this.last;
    if (last !== undefined && last.model === model && last.version === version && last.kind === kind && last.status === status) {
      last.series.observe(seconds);
      return;
    }
    // Label sets are bounded by the callers (models × versions × routes or RPCs × statuses).
    const key = `${model}\u0000${version}\u0000${kind}\u0000${status}`;
    const series = this.duration.find(key) ?? this.duration.labels({ model, version, [this.kind]: kind, [this.status]: String(status) } as Record<'model' | 'version' | K | S, string>, key);
    this.last = { model, version, kind, status, series };
    series.observe(seconds);
  }
}
