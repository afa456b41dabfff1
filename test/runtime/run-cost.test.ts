// RunCostEstimate: the load-time fit, scaled down by what real runs take (never up).
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
  // It never goes back up.
  assert.equal(e.observe(1, 10), false);
  assert.ok(Math.abs(e.cost.perRowMs - 0.02) < 1e-12);
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
