// RunCostEstimate: the load-time fit, scaled by a decaying minimum of what real runs take (never past the fit).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RunCostEstimate } from '../../src/runtime/run-cost.js';

test('real runs slower than the fit change nothing', () => {
  const e = new RunCostEstimate({ fixedMs: 0.1, perRowMs: 0.01 });
  assert.equal(e.observe(1, 0.5), false);
  assert.equal(e.observe(16, 2), false);
  assert.deepEqual(e.cost, { fixedMs: 0.1, perRowMs: 0.01 });
});

test('a faster real run scales the whole fit down by its ratio, reported once it is a notable drop', () => {
  const e = new RunCostEstimate({ fixedMs: 0.4, perRowMs: 0.04 });
  // The fit at 10 rows is 0.8 ms; a run of 0.4 ms halves it.
  assert.equal(e.observe(10, 0.4), true);
  assert.ok(Math.abs(e.cost.fixedMs - 0.2) < 1e-12 && Math.abs(e.cost.perRowMs - 0.02) < 1e-12, JSON.stringify(e.cost));
  // 2 % lower: kept, not reported.
  assert.equal(e.observe(10, 0.392), false);
  assert.ok(Math.abs(e.cost.fixedMs - 0.2) < 1e-12);
  // One slower run moves it up by 1 % only: not reported.
  assert.equal(e.observe(1, 10), false);
  assert.ok(Math.abs(e.cost.perRowMs - 0.02) < 1e-12);
});

test('one unusually fast run is forgotten: runs at the typical cost bring the estimate back up, step by step, never past the load-time fit', () => {
  // It stayed 5× down for good: up to 5× more rows ran on the main thread for as long as the process lived.
  const e = new RunCostEstimate({ fixedMs: 1, perRowMs: 0.1 });
  assert.equal(e.observe(1, 0.0001), true);
  const fitAt = (rows: number) => 1 + 0.1 * rows;
  const scale = () => e.cost.fixedMs;
  let reports = 0;
  for (let i = 0; i < 20; i++) if (e.observe(4, fitAt(4))) reports++;
  assert.ok(scale() > 0.2 && scale() < 0.3, `after 20 typical runs it is on its way up: ${scale()}`);
  assert.ok(reports >= 2 && reports <= 4, `reported in notable steps, not on every run: ${reports}`);
  for (let i = 0; i < 200; i++) e.observe(4, fitAt(4) * 3); // slower than the fit (contention)
  assert.deepEqual(e.cost, { fixedMs: 1, perRowMs: 0.1 }, 'back at the load-time fit, and no higher');
});

test('a typical cost below the fit holds between slower runs (contention does not lift it while fast runs keep coming)', () => {
  const e = new RunCostEstimate({ fixedMs: 1, perRowMs: 0.1 });
  const cost = e.cost;
  assert.equal(e.observe(10, 1), true); // half the fit
  let reports = 0;
  for (let i = 0; i < 100; i++) {
    if (e.observe(10, 2)) reports++; // contended runs, three in four
    if (e.observe(10, 2)) reports++;
    if (e.observe(10, 2)) reports++;
    if (e.observe(10, 1)) reports++;
  }
  assert.equal(reports, 0);
  assert.ok(Math.abs(e.cost.fixedMs - 0.5) < 1e-12, JSON.stringify(e.cost));
  assert.notEqual(e.cost, cost);
  const same = e.cost;
  e.observe(10, 1);
  assert.equal(e.cost, same, 'no new object per run');
});

test('it comes down at most 5× (one run on unusual data is not the typical cost)', () => {
  const e = new RunCostEstimate({ fixedMs: 1, perRowMs: 0.1 });
  assert.equal(e.observe(1, 0.0001), true);
  assert.ok(Math.abs(e.cost.fixedMs - 0.2) < 1e-12 && Math.abs(e.cost.perRowMs - 0.02) < 1e-12, JSON.stringify(e.cost));
});

test('nonsense observations are ignored', () => {
  const e = new RunCostEstimate({ fixedMs: 1, perRowMs: 0.1 });
  assert.equal(e.observe(0, 0.1), false);
  assert.equal(e.observe(4, Number.NaN), false);
  assert.equal(e.observe(4, -1), false);
  assert.deepEqual(e.cost, { fixedMs: 1, perRowMs: 0.1 });
});
