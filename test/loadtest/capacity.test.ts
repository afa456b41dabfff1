// The capacity search's stepping/bisecting and step judgement, and how `compare` treats the capacity,
// on synthetic step results (the end-to-end search against a real server is in cli.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findCapacity, judgeStep } from '../../src/loadtest/capacity.js';
import { compareRuns, formatComparison } from '../../src/loadtest/compare.js';
import { parseThreshold } from '../../src/loadtest/thresholds.js';
import { capacitySummary } from '../../src/loadtest/reporters/console.js';
import { renderHtml } from '../../src/loadtest/reporters/html.js';
import type { CapacityResult, CapacityStep, RunResult, SeriesPoint } from '../../src/loadtest/types.js';

function result(p99: number, opts: { errorRate?: number; requests?: number; scheduled?: number; bottleneck?: boolean; series?: number[] } = {}): RunResult {
  const lat = { min: 1, mean: p99 / 2, stdev: 1, p50: p99 / 3, p66: 0, p75: 0, p80: 0, p90: 0, p95: p99 / 1.5, p98: 0, p99, 'p99.9': p99, 'p99.99': p99, max: p99 };
  const series: SeriesPoint[] = (opts.series ?? []).map((v, i) => ({ t: i + 1, ts: 0, users: 0, offered: 0, requests: 1, failures: 0, rps: 1, fps: 0, p50: v, p95: v, p99: v, totalRequests: 0, totalFailures: 0, cumulative: [], totalMeanMs: null, totalMinMs: null, totalBytes: 0 }));
  const requests = opts.requests ?? 1000;
  return {
    tool: 'modelserve-loadtest', schema: 1, config: { url: 'http://x/', method: 'GET', model: 'open', connections: 1, timeoutMs: 1, bodies: 0, bodySource: '' },
    startedAt: '', elapsedS: 1, requests, ok: requests, failures: 0, errorRate: opts.errorRate ?? 0, rps: requests, bytesReceived: 0, latencyMs: lat,
    distribution: [], histogram: '', statusCounts: {}, errorKinds: {}, series,
    schedule: { offeredRate: 0, scheduled: opts.scheduled ?? requests, late: 0, lateToleranceMs: 10, maxSendLagMs: 0, unsent: 0 },
    generator: { eventLoopLagP99Ms: 0, eventLoopLagMaxMs: 0, cpuPercent: 0, bottleneck: opts.bottleneck ?? false },
  };
}

const slo = [parseThreshold('p99<50ms')];

test('a step fails on the SLO, the error budget, falling behind, or rising latency', () => {
  assert.equal(judgeStep(100, result(10), slo, 0.001).ok, true);
  assert.match(judgeStep(100, result(60), slo, 0.001).reason!, /p99<50ms/);
  assert.match(judgeStep(100, result(10, { errorRate: 0.01 }), slo, 0.001).reason!, /errors 1\.00%/);
  assert.match(judgeStep(100, result(10, { requests: 800, scheduled: 1000 }), slo, 0.001).reason!, /keep up/);
  const rising = judgeStep(100, result(10, { series: [2, 2, 2, 9, 12, 15] }), slo, 0.001);
  assert.equal(rising.stable, false);
  assert.match(rising.reason!, /latency rising/);
  assert.equal(judgeStep(100, result(10, { series: [2, 3, 2, 3, 2, 3] }), slo, 0.001).stable, true);
});

test('a step in which no request succeeded fails whatever the error budget (a server refusing every request with a quick 429 met the SLO under --max-error-rate 100%)', () => {
  const refused = { ...result(5, { errorRate: 1 }), ok: 0, failures: 1000, statusCounts: { 429: 1000 } };
  const s = judgeStep(100, refused, slo, 1);
  assert.equal(s.ok, false);
  assert.match(s.reason!, /no request succeeded/);
  assert.equal(judgeStep(100, { ...result(5, { errorRate: 0.999 }), ok: 1 }, slo, 1).ok, true, 'one success is a measurement');
});

test('doubles until the SLO breaks, then bisects to within the precision', async () => {
  const tried: number[] = [];
  const { capacity } = await findCapacity({
    slo, maxErrorRate: 0.001, startRate: 50, maxRate: 100_000, precision: 0.05,
    step: async (rate) => { tried.push(rate); return result(rate <= 333 ? 10 : 500); },
  });
  assert.deepEqual(tried.slice(0, 5), [50, 100, 200, 400, 300]);
  const found = capacity.capacity ?? NaN;
  assert.ok(found <= 333 && found >= 333 * 0.95, `${found}`);
  const bad = Math.min(...capacity.steps.filter((s) => !s.ok).map((s) => s.rate));
  assert.ok((bad - found) / found <= 0.05 || capacity.steps.length >= 11);
  assert.equal(capacity.toolLimited, false);
});

test('stops at --max-rate when everything passes; reports 0 when nothing does', async () => {
  const all = await findCapacity({ slo, maxErrorRate: 0.001, startRate: 50, maxRate: 300, precision: 0.05, step: async () => result(1) });
  assert.equal(all.capacity.capacity, 300);
  assert.deepEqual(all.capacity.steps.map((s) => s.rate), [50, 100, 200, 300]);
  // Stopped by the ceiling, not by the server: said so, on the console too.
  assert.equal(all.capacity.capped, true);
  const text = capacitySummary({ ...all.best!, capacity: all.capacity });
  assert.match(text, /capacity: ≥ 300 req\/s/);
  assert.match(text, /capped: every step up to --max-rate met the SLO, so the capacity is at least 300 req\/s; raise --max-rate/);
  const none = await findCapacity({ slo, maxErrorRate: 0.001, startRate: 50, maxRate: 300, precision: 0.05, maxBisect: 3, step: async () => result(100) });
  // 0 is a measurement here (steps were judged and all failed), not "not measured".
  assert.equal(none.capacity.capacity, 0);
  assert.ok(none.capacity.steps.length > 0 && none.capacity.steps.every((s) => !s.ok));
  assert.equal(none.best, null);
  assert.equal(none.capacity.capped, undefined);
  assert.match(capacitySummary({ ...none.last, capacity: none.capacity }), /^capacity: no tested rate met p99<50ms/);
  assert.match(renderHtml({ ...none.last, capacity: none.capacity }), /No tested rate met the SLO\./);
});

test('an aborted search (Ctrl-C) drops the step under way, runs no more and says it was interrupted', async () => {
  const ac = new AbortController();
  const tried: number[] = [];
  const search = await findCapacity({
    slo, maxErrorRate: 0.001, startRate: 50, maxRate: 10_000, precision: 0.05, signal: ac.signal,
    step: async (rate) => {
      tried.push(rate);
      if (rate === 200) ac.abort(); // Ctrl-C during the third step
      return result(rate === 200 ? 900 : 1);
    },
  });
  assert.deepEqual(tried, [50, 100, 200]);
  assert.deepEqual(search.capacity.steps.map((s) => s.rate), [50, 100], 'the cut-short step is not judged');
  assert.equal(search.capacity.capacity, 100);
  assert.equal(search.capacity.interrupted, true);
  assert.equal(search.capacity.capped, undefined);
  assert.match(capacitySummary({ ...search.best!, capacity: search.capacity }), /interrupted by Ctrl-C/);
});

test('a failing step where the generator stalled is re-run once; a persistent stall stops the search', async () => {
  const retries: boolean[] = [];
  const once = await findCapacity({
    slo, maxErrorRate: 0.001, startRate: 100, maxRate: 100, precision: 0.05,
    step: async (_rate, retry) => (retries.push(retry) === 1 ? result(500, { bottleneck: true }) : result(5)),
  });
  assert.deepEqual(retries, [false, true], 'the second run of the rate is told it is a retry');
  assert.equal(once.capacity.capacity, 100);
  const stuck = await findCapacity({ slo, maxErrorRate: 0.001, startRate: 100, maxRate: 1000, precision: 0.05, step: async (r) => result(r > 150 ? 500 : 5, { bottleneck: r > 150 }) });
  assert.equal(stuck.capacity.toolLimited, true);
  assert.equal(stuck.capacity.capacity, 100);
});

test('a start rate above the max rate is refused, not run with no step to report', async () => {
  let ran = 0;
  await assert.rejects(findCapacity({ slo, maxErrorRate: 0.001, startRate: 100, maxRate: 50, precision: 0.05, step: async () => { ran++; return result(1); } }), RangeError);
  assert.equal(ran, 0);
});

test('a search aborted during its first step judges nothing and its summary says no step finished (not "lowest tried Infinity")', async () => {
  const ac = new AbortController();
  const search = await findCapacity({
    slo, maxErrorRate: 0.001, startRate: 50, maxRate: 400, precision: 0.05, signal: ac.signal,
    step: async (rate) => { ac.abort(); return { ...result(1), config: { ...result(1).config, rate } }; },
  });
  assert.deepEqual(search.capacity.steps, []);
  assert.equal(search.capacity.interrupted, true);
  assert.equal(search.capacity.capacity, null, 'no rate was measured: not 0, which would read as "0 req/s meets the SLO"');
  assert.equal(search.best, null);
  assert.equal(search.last.config.rate, 50, 'the cut-short run is kept to report');
  const text = capacitySummary({ ...search.last, capacity: search.capacity });
  assert.doesNotMatch(text, /Infinity|no tested rate met|best rate found so far/);
  assert.match(text, /^capacity: not measured: no step finished/);
  assert.match(text, /interrupted by Ctrl-C during the first step \(50 req\/s\)/);
  const html = renderHtml({ ...search.last, capacity: search.capacity });
  assert.match(html, /Capacity: not measured \(no step finished\)\./);
  assert.doesNotMatch(html, /No tested rate met|<b>0 req\/s/);
});

test('rates below 100 req/s print as tried (12.5, 1.6), not rounded to integers, in the console and the HTML report', async () => {
  const tried: number[] = [];
  const none = await findCapacity({ slo, maxErrorRate: 0.001, startRate: 50, maxRate: 400, precision: 0.05, maxBisect: 5, step: async (rate) => { tried.push(rate); return { ...result(100), rps: rate * 0.96 }; } });
  assert.deepEqual(tried, [50, 25, 12.5, 6.3, 3.2, 1.6]);
  const r = { ...none.last, capacity: none.capacity };
  const text = capacitySummary(r);
  assert.match(text, /lowest tried 1\.6 req\/s/);
  const offered = text.split('\n').filter((l) => /fails:/.test(l)).map((l) => l.trim().split(/\s+/)[0]);
  assert.deepEqual(offered, ['50', '25', '12.5', '6.3', '3.2', '1.6']);
  // The achieved rate, measured, gets one decimal below 100 req/s too.
  assert.match(text, /^12\.5\s+12\.0\s/m);
  const html = renderHtml(r);
  assert.match(html, /<td>3<\/td><td>12\.5<\/td><td>12\.0<\/td>/);
  assert.match(html, /<td>6<\/td><td>1\.6<\/td>/);

  // A capacity found below 100 req/s (and a cap) is printed as the rate tried.
  const low = await findCapacity({ slo, maxErrorRate: 0.001, startRate: 5, maxRate: 12.5, precision: 0.05, step: async () => result(1) });
  assert.deepEqual(low.capacity.steps.map((s) => s.rate), [5, 10, 12.5]);
  const lowText = capacitySummary({ ...low.best!, capacity: low.capacity });
  assert.match(lowText, /capacity: ≥ 12\.5 req\/s meets/);
  assert.match(lowText, /at least 12\.5 req\/s/);
  assert.match(renderHtml({ ...low.best!, capacity: low.capacity }), /<b>≥ 12\.5 req\/s<\/b>/);
});

test('compare: a capacity not measured (null, or an older report\'s 0 with no steps) cannot be compared; a measured 0 can', () => {
  const step = judgeStep(200, result(10), slo, 0.001);
  const search = (capacity: number | null, steps: CapacityStep[], extra: Partial<CapacityResult> = {}): RunResult => (
    { ...result(10), capacity: { slo: ['p99<50ms'], maxErrorRate: 0.001, capacity, steps, toolLimited: false, ...extra } });
  const measured = search(200, [step]);
  // Written before null: Ctrl-C during the first step gave `capacity: 0` with no steps.
  const legacyUnmeasured = search(0, [], { interrupted: true });
  const unmeasured = search(null, [], { interrupted: true });
  assert.deepEqual(compareRuns(unmeasured, measured)[0], compareRuns(legacyUnmeasured, measured)[0]);

  const [row] = compareRuns(legacyUnmeasured, measured);
  assert.deepEqual(row, { metric: 'capacity req/s', a: null, b: 200, diff: null, ratio: null, better: null, note: row!.note });
  assert.match(row!.note!, /cannot be compared: not measured in A/);
  const text = formatComparison(legacyUnmeasured, measured, 'cut', 'full');
  assert.match(text, /^capacity req\/s\s+not measured\s+200\.0\s+-\s+-\s+not comparable$/m);
  assert.doesNotMatch(text, /-100\.0%|^capacity req\/s\s+0\.0/m);
  assert.match(text, /note: the capacity cannot be compared: not measured in A /);
  assert.match(formatComparison(measured, legacyUnmeasured, 'full', 'cut'), /^capacity req\/s\s+200\.0\s+not measured\s+-\s+-\s+not comparable$/m);
  assert.match(compareRuns(legacyUnmeasured, legacyUnmeasured)[0]!.note!, /not measured in A and B/);

  // Every step broke the SLO: 0 is what was measured, and compares as a number.
  const none = search(0, [{ ...step, ok: false, reason: 'p99<50ms (90)' }]);
  const [zero] = compareRuns(none, measured);
  assert.deepEqual(zero, { metric: 'capacity req/s', a: 0, b: 200, diff: 200, ratio: null, better: true });
  assert.match(formatComparison(none, measured, 'before', 'after'), /^capacity req\/s\s+0\.0\s+200\.0\s+\+200\.0\s+-\s+better$/m);

  // A search capped by --max-rate found a lower bound: shown as ≥, with a note.
  const capped = search(400, [step], { capped: true });
  const [bound] = compareRuns(measured, capped);
  assert.deepEqual(bound!.atLeast, { a: false, b: true });
  const boundText = formatComparison(measured, capped, 'before', 'after');
  assert.match(boundText, /^capacity req\/s\s+200\.0\s+≥ 400\.0\s+\+200\.0\s+\+100\.0%\s+better$/m);
  assert.match(boundText, /note: B's capacity is a lower bound: every step up to --max-rate met the SLO\./);

  // A capacity search against a plain run: the row stays, saying why there is no difference.
  const plain = result(10);
  const [oneSided] = compareRuns(plain, measured);
  assert.deepEqual(oneSided, { metric: 'capacity req/s', a: null, b: 200, diff: null, ratio: null, better: null, note: oneSided!.note });
  assert.match(oneSided!.note!, /A was a plain run, not a capacity search \(--find-capacity\)/);
  const oneSidedText = formatComparison(capped, plain, 'search', 'plain');
  assert.match(oneSidedText, /^capacity req\/s\s+≥ 400\.0\s+not measured\s+-\s+-\s+not comparable$/m);
  assert.match(oneSidedText, /note: the capacity cannot be compared: B was a plain run, not a capacity search/);
  assert.equal(compareRuns(plain, plain)[0]!.metric, 'req/s', 'two plain runs: no capacity row');
});
