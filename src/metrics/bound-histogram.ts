// Histograms updated on every request, counted here and handed to the registry as prom-client
// metric objects (Registry.registerMetric: name, help, type, get()). prom-client's own Histogram
// validates and hashes the label set on every observe, even through a child bound with labels()
// (about 1 µs a call on this kind of machine, and the batch metrics observe once per request):
// here a series is looked up once, when it is bound, and an observation is two adds and a bucket
// search. The exposition is prom-client's: cumulative `_bucket{le}` series, then `_sum`, `_count`.
// A scrape writes these lines itself (renderRegistry): prom-client formats every line from a value
// object, escaping and joining its labels each time, and at hundreds of models these metrics are
// tens of thousands of lines; here a series' labels are formatted once per scrape.
import type { Metric, MetricValue, Registry } from 'prom-client';

type Labels = Readonly<Record<string, string | number>>;

/** A label value as prom-client escapes it (a number is written as is). */
const escapeLabelValue = (value: string | number): string | number =>
  typeof value === 'string' ? value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"') : value;

/** `name="value",...` as prom-client writes a label set. */
function labelText(labels: Labels): string {
  let text = '';
  for (const name of Object.keys(labels)) text += `${text ? ',' : ''}${name}="${escapeLabelValue(labels[name]!)}"`;
  return text;
}

/** A sample's value as prom-client writes it. */
const valueText = (value: number): string => (Number.isFinite(value) ? `${value}` : Number.isNaN(value) ? 'Nan' : value < 0 ? '-Inf' : '+Inf');

/** A metric that writes its own sample lines, given the registry's default labels. */
interface SelfWritten { sampleLines(defaultLabels: Labels): string[] }

/**
 * The registry's exposition text, as registry.metrics() writes it (Prometheus text format 0.0.4),
 * with the metrics registered here writing their own lines. `defaultLabels`: those the registry was
 * given with setDefaultLabels (prom-client has no getter for them).
 */
export async function renderRegistry(registry: Registry, defaultLabels: Labels): Promise<string> {
  const parts: string[] = [];
  for (const metric of registry.getMetricsAsArray()) {
    const own = (metric as Partial<SelfWritten>).sampleLines;
    if (own === undefined) {
      parts.push(await registry.getSingleMetricAsString(metric.name));
      continue;
    }
    const name = escapeText(metric.name);
    const lines = own.call(metric, defaultLabels);
    parts.push(`# HELP ${name} ${escapeText(metric.help)}\n# TYPE ${name} ${metric.type}${lines.length ? `\n${lines.join('\n')}` : ''}`);
  }
  return `${parts.join('\n\n')}\n`;
}

const escapeText = (text: string): string => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

/** A series' label text with the default labels prom-client adds (its own win), less `omit`. */
function withDefaults(labels: Labels, defaultLabels: Labels, omit?: string): string {
  let text = labelText(labels);
  for (const name of Object.keys(defaultLabels)) {
    if (name !== omit && !Object.hasOwn(labels, name)) text += `${text ? ',' : ''}${name}="${escapeLabelValue(defaultLabels[name]!)}"`;
  }
  return text;
}

/** One sample line: `name{labels} value`. */
export function seriesLine(name: string, labels: Labels, defaultLabels: Labels, value: number): string {
  const text = withDefaults(labels, defaultLabels);
  return `${name}${text ? `{${text}}` : ''} ${valueText(value)}`;
}

/** One label set's observations. */
export class HistogramSeries<L extends string = string> {
  count = 0;
  sum = 0;
  /** Observations per bucket (not cumulative); the last one is +Inf. */
  readonly buckets: Float64Array;

  constructor(readonly labels: Readonly<Record<L, string>>, private readonly bounds: readonly number[]) {
    this.buckets = new Float64Array(bounds.length + 1);
  }

  /** Counts one observation; a value that is not a finite number is dropped (prom-client would throw). */
  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    this.count++;
    this.sum += value;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.buckets[i]!++;
  }
}

/** Registers a metric object whose values are read on each scrape; reset() serves registry.resetMetrics(). */
export function registerComputedMetric(registry: Registry, name: string, help: string, type: 'counter' | 'histogram', values: () => MetricValue<string>[], reset: () => void, sampleLines: SelfWritten['sampleLines']): void {
  const metric = { name, help, type, aggregator: 'sum', get: async () => ({ name, help, type, aggregator: 'sum', values: values() }), reset, sampleLines };
  registry.registerMetric(metric as unknown as Metric);
}

export class BoundHistogram<L extends string> {
  private readonly series = new Map<string, HistogramSeries<L>>();
  /** `name_bucket{le="bound` of each bucket, +Inf last. */
  private readonly bucketPrefixes: readonly string[];

  constructor(registry: Registry, private readonly name: string, help: string, private readonly bounds: readonly number[]) {
    this.bucketPrefixes = [...bounds, '+Inf'].map((bound) => `${name}_bucket{le="${bound}`);
    // Reset zeroes the series in place (callers hold them); they leave the output until observed again.
    registerComputedMetric(registry, name, help, 'histogram', () => this.values(), () => {
      for (const s of this.series.values()) {
        s.count = 0;
        s.sum = 0;
        s.buckets.fill(0);
      }
    }, (defaultLabels) => this.sampleLines(defaultLabels));
  }

  /**
   * The series of these labels (created on first use; the same object for the same labels, so
   * bind it once and observe on it). It is exported from its first observation on, as
   * prom-client's series are, so a version bound at load but never used adds no lines. `key`
   * identifies the label set: callers that already hold one pass it, others get the values joined.
   */
  labels(labels: Readonly<Record<L, string>>, key = Object.values<string>(labels).join('\u0000')): HistogramSeries<L> {
    let s = this.series.get(key);
    if (s === undefined) {
      s = new HistogramSeries(labels, this.bounds);
      this.series.set(key, s);
    }
    return s;
  }

  /** Drops the series whose labels match (a model removed from the repository): they leave the output. */
  forget(gone: (labels: Readonly<Record<L, string>>) => boolean): void {
    for (const [key, s] of this.series) if (gone(s.labels)) this.series.delete(key);
  }

  /** The series already bound under `key`, if any (to look one up without building its labels). */
  find(key: string): HistogramSeries<L> | undefined {
    return this.series.get(key);
  }

  /** Every series observed at least once (as prom-client exports them), for metrics derived from the same observations (a request counter). */
  *observed(): Generator<HistogramSeries<L>> {
    for (const s of this.series.values()) if (s.count > 0) yield s;
  }

  /** The lines values() gives prom-client, as it would write them. */
  private sampleLines(defaultLabels: Labels): string[] {
    const lines: string[] = [];
    const buckets = this.bucketPrefixes;
    for (const s of this.observed()) {
      const bucketLabels = withDefaults(s.labels, defaultLabels, 'le');
      const tail = bucketLabels ? `",${bucketLabels}} ` : '"} ';
      let cumulative = 0;
      for (let i = 0; i < buckets.length; i++) {
        cumulative += s.buckets[i]!;
        lines.push(buckets[i]! + tail + valueText(cumulative));
      }
      lines.push(seriesLine(`${this.name}_sum`, s.labels, defaultLabels, s.sum), seriesLine(`${this.name}_count`, s.labels, defaultLabels, s.count));
    }
    return lines;
  }

  private values(): MetricValue<string>[] {
    const out: MetricValue<string>[] = [];
    for (const s of this.observed()) {
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += s.buckets[i]!;
        const le = i < this.bounds.length ? this.bounds[i]! : '+Inf';
        out.push({ labels: { le, ...s.labels }, value: cumulative, metricName: `${this.name}_bucket` } as MetricValue<string>);
      }
      out.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` } as MetricValue<string>);
      out.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` } as MetricValue<string>);
    }
    return out;
  }
}
