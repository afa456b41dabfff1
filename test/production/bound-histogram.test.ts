// BoundHistogram against prom-client's own Histogram: the same observations give the same
// exposition text (buckets at and between bounds, +Inf, sums, several label sets, default labels),
// and reset() zeroes a bound series in place, so a caller holding it keeps counting into the output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram, Registry } from 'prom-client';
import { BoundHistogram } from '../../src/metrics/bound-histogram.js';
import { Metrics } from '../../src/metrics/metrics.js';
import type { BatchInfo } from '../../src/batching/batcher.js';

const BOUNDS = [0.001, 0.01, 0.1, 1];
const OBSERVED: Array<[string, number]> = [['a', 0.0005], ['a', 0.001], ['a', 0.0010001], ['b', 0.05], ['a', 1], ['b', 7], ['a', 0.1], ['b', 0]];

/** The exposition with each sample's labels in name order (their order carries no meaning in Prometheus). */
function normalised(text: string): string {
  return text.replace(/\{([^}]*)\}/g, (_, labels: string) => `{${labels.split(/,(?=[a-z_]+=")/).sort().join(',')}}`);
}

function registries(defaultLabels?: Record<string, string>) {
  const theirs = new Registry();
  const ours = new Registry();
  if (defaultLabels) {
    theirs.setDefaultLabels(defaultLabels);
    ours.setDefaultLabels(defaultLabels);
  }
  const reference = new Histogram({ name: 'x_seconds', help: 'Help text.', labelNames: ['model', 'version'], buckets: BOUNDS, registers: [theirs] });
  const bound = new BoundHistogram<'model' | 'version'>(ours, 'x_seconds', 'Help text.', BOUNDS);
  return { theirs, ours, reference, bound };
}

for (const defaultLabels of [undefined, { instance_role: 'canary' }]) {
  test(`the exposition equals prom-client's Histogram for the same observations${defaultLabels ? ', with default labels' : ''}`, async () => {
    const { theirs, ours, reference, bound } = registries(defaultLabels);
    const series = { a: bound.labels({ model: 'a', version: '1' }), b: bound.labels({ model: 'b', version: '2' }) };
    for (const [model, value] of OBSERVED) {
      reference.observe({ model, version: model === 'a' ? '1' : '2' }, value);
      series[model as 'a' | 'b'].observe(value);
    }
    assert.equal(normalised(await ours.metrics()), normalised(await theirs.metrics()));
    if (!defaultLabels) assert.equal(await ours.metrics(), await theirs.metrics(), 'the same text, label order too');
    assert.match(normalised(await ours.metrics()), /x_seconds_bucket\{(instance_role="canary",)?le="0.01",model="a",version="1"\} 3\n/);
  });
}

test('labels() returns the same series for the same labels; find() only what is bound', () => {
  const { bound } = registries();
  assert.equal(bound.find('m\u00001'), undefined);
  const s = bound.labels({ model: 'm', version: '1' });
  assert.equal(bound.labels({ model: 'm', version: '1' }), s);
  assert.equal(bound.find('m\u00001'), s);
});

test('a bound series is exported from its first observation; not-finite values are dropped', async () => {
  const { theirs, ours, reference, bound } = registries();
  const s = bound.labels({ model: 'm', version: '1' });
  reference.labels({ model: 'm', version: '1' });
  assert.equal(await ours.metrics(), await theirs.metrics(), 'no series yet');
  assert.doesNotMatch(await ours.metrics(), /model="m"/);
  s.observe(Number.NaN);
  s.observe(Number.POSITIVE_INFINITY);
  assert.doesNotMatch(await ours.metrics(), /model="m"/);
  s.observe(0.5);
  assert.match(await ours.metrics(), /x_seconds_count\{model="m",version="1"\} 1\n/);
  assert.match(await ours.metrics(), /x_seconds_sum\{model="m",version="1"\} 0.5\n/);
});

test('resetMetrics() zeroes bound series in place: they leave the output, and observations after it are exported', async () => {
  const { ours, bound } = registries();
  const s = bound.labels({ model: 'm', version: '1' });
  s.observe(0.5);
  s.observe(2);
  ours.resetMetrics();
  assert.doesNotMatch(await ours.metrics(), /model="m"/);
  s.observe(0.005);
  const text = await ours.metrics();
  assert.match(text, /x_seconds_count\{model="m",version="1"\} 1\n/);
  assert.match(text, /x_seconds_sum\{model="m",version="1"\} 0.005\n/);
  assert.match(text, /x_seconds_bucket\{le="0.001",model="m",version="1"\} 0\n/);
  assert.match(text, /x_seconds_bucket\{le="0.01",model="m",version="1"\} 1\n/);
});

for (const labels of [undefined, { instance_role: 'canary', model: 'shadowed by the series' }]) {
  test(`a scrape writes the request and batch histograms' lines itself, the text registry.metrics() gives${labels ? ', with default labels' : ''}`, async () => {
    const metrics = new Metrics({ processMetrics: false, labels });
    for (const [model, route] of [['a', '/models/:name/predict'], ['b"\\\nc', 'a "quoted\\" route\nline']] as const) {
      metrics.observeRequest(model, '1', route, 200, 0.003);
      metrics.observeRequest(model, '1', route, 422, 40);
      metrics.observeGrpc(model, '2', 'ModelInfer', 'OK', 0.0005);
      const batch = metrics.batchObserver(model, 1);
      batch({ rows: 3, requests: 2, queueWaitMs: [0.2, 7], answered: [true, true], runMs: 1.5, ok: true, unobserved: false } as BatchInfo);
      batch({ rows: 5000, requests: 1, queueWaitMs: [0], answered: [false], runMs: 70_000, ok: false, unobserved: false } as BatchInfo);
    }
    metrics.rejected('a', 'overloaded');
    // prom-client formats each line from a value object (escaping every label again): count how often it is asked for them.
    let asked = 0;
    for (const metric of metrics.registry.getMetricsAsArray() as unknown as Array<{ name: string; get: () => Promise<unknown> }>) {
      const get = metric.get.bind(metric);
      metric.get = () => { if (/^modelserve_(requests_total|request_duration|grpc_|queue_wait|inference_duration|batch_(size|requests))/.test(metric.name)) asked++; return get(); };
    }
    const text = await metrics.render();
    assert.equal(asked, 0, 'the request and batch histograms were formatted by prom-client');
    assert.equal(text, await metrics.registry.metrics());
    assert.match(text, /modelserve_request_duration_seconds_bucket\{le="0.005",model="b\\"\\\\\\nc",version="1",route="a \\"quoted\\\\\\" route\\nline",status="200"/);
  });
}
