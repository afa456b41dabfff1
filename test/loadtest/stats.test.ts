import assert from 'node:assert/strict';
import { test } from 'node:test';
import hdr from 'hdr-histogram-js';
import { Stats, distribution, exactPercentile, summarize } from '../../src/loadtest/stats.js';

test('HDR summary: percentiles within the histogram precision', () => {
  const s = new Stats(0);
  for (let i = 1; i <= 1000; i++) s.record(i / 10, 200, null, 10); // 0.1 .. 100 ms
  const L = summarize(s.total);
  const close = (a: number, b: number): void => assert.ok(Math.abs(a - b) <= b * 0.002 + 0.001, `${a} vs ${b}`);
  close(L.p50, 50);
  close(L.p90, 90);
  close(L.p99, 99);
  close(L['p99.9'], 99.9);
  close(L.max, 100);
  close(L.min, 0.1);
  close(L.mean, 50.05);
  assert.equal(s.ok, 1000);
  assert.equal(s.bytes, 10_000);
  const d = distribution(s.total);
  assert.equal(d[0]![0], 0);
  assert.equal(d[d.length - 1]![0], 100);
  for (let i = 1; i < d.length; i++) assert.ok(d[i]![1] >= d[i - 1]![1], 'distribution is monotonic');
});

test('failures: statuses >= 300 by code, transport errors by kind; timeouts keep their latency', () => {
  const s = new Stats(0);
  s.record(1, 200, null, 0);
  s.record(1, 503, null, 0);
  s.record(1, 503, null, 0);
  s.record(1, 404, null, 0);
  s.record(250, 0, 'timeout', 0);
  s.record(0.1, 0, 'connect', 0);
  assert.equal(s.requests, 6);
  assert.equal(s.ok, 1);
  assert.equal(s.failures, 5);
  assert.deepEqual(s.statusCountsRecord(), { 200: 1, 404: 1, 503: 2 });
  assert.deepEqual(s.errorKindsRecord(), { timeout: 1, connect: 1 });
  assert.equal(s.total.totalCount, 5, 'the timeout is in the histogram, the connect error is not');
  assert.ok(Math.abs(summarize(s.total).max - 250) < 0.5);
});

test('per-second series: each window has its own counts and percentiles, plus cumulative totals', () => {
  const s = new Stats(0);
  for (let i = 0; i < 10; i++) s.record(1, 200, null, 0);
  const a = s.tick(1000, 4, 0);
  for (let i = 0; i < 5; i++) s.record(20, 500, null, 0);
  const b = s.tick(2000, 4, 0);
  const c = s.tick(3000, 0, 0);
  assert.equal(a.requests, 10);
  assert.equal(a.rps, 10);
  assert.equal(a.failures, 0);
  assert.ok(Math.abs(a.p95! - 1) < 0.01);
  assert.equal(b.requests, 5);
  assert.equal(b.fps, 5);
  assert.ok(Math.abs(b.p50! - 20) < 0.1);
  assert.equal(b.totalRequests, 15);
  assert.equal(b.cumulative.length, 11);
  assert.equal(c.p95, null);
  assert.equal(s.series.length, 3);
});

test('the encoded histogram decodes to the same counts', () => {
  const s = new Stats(0);
  for (let i = 1; i <= 500; i++) s.record(i / 7, 200, null, 0);
  const h = hdr.decodeFromCompressedBase64(s.encodedHistogram());
  assert.equal(h.totalCount, 500);
  assert.equal(h.getValueAtPercentile(99), s.total.getValueAtPercentile(99));
});

test('exact percentiles match numpy.percentile (linear interpolation)', () => {
  const xs = [15, 20, 35, 40, 50];
  assert.equal(exactPercentile(xs, 50), 35);
  assert.equal(exactPercentile(xs, 95), 48); // numpy.percentile([15,20,35,40,50], 95) == 48.0
  assert.equal(exactPercentile(xs, 40), 29); // == 29.0
  assert.equal(exactPercentile(xs, 100), 50);
});

test('percentiles stay within the recorded min and max (HDR gave a bucket\'s upper edge: one request of 3018.123 ms had a p50 of 3018.751 ms above its max)', () => {
  const s = new Stats(0);
  for (const ms of [3001, 3004, 3018.123]) s.record(ms, 200, null, 0);
  const L = summarize(s.total);
  assert.equal(L.max, 3018.123);
  assert.equal(L.min, 3001);
  for (const key of ['p50', 'p66', 'p75', 'p80', 'p90', 'p95', 'p98', 'p99', 'p99.9', 'p99.99'] as const) {
    assert.ok(L[key] >= L.min && L[key] <= L.max, `${key} ${L[key]} within [${L.min}, ${L.max}]`);
  }
  const point = s.tick(1000, 1, 0);
  for (const v of [point.p50, point.p95, point.p99, ...point.cumulative]) assert.ok(v !== null && v >= 3001 && v <= 3018.123, `${v}`);
  const d = distribution(s.total);
  assert.ok(d.every(([, v]) => v >= 3001 && v <= 3018.123), JSON.stringify(d));
  const one = new Stats(0);
  one.record(3018.123, 200, null, 0);
  assert.equal(summarize(one.total).p50, 3018.123);
});
