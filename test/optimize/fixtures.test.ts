// Every fixture model (test/fixtures/optimize, built by make_fixtures.py): the rewritten graph,
// run by onnxruntime, must give the original graph's outputs — same names, element types and
// dims, identical labels, float outputs within tolerance — on held-out and random rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { optimizeModel, type OptimizeOptions } from '../../src/optimize/index.js';
import { decodeModel } from '../../src/optimize/proto.js';
import { FIXTURES, compare, randomRows, session, tensor } from './helpers.js';

interface Fixture {
  input: string;
  type: string;
  width: number;
  rows: number[][];
  note: string;
}

const manifest = JSON.parse(readFileSync(resolve(FIXTURES, 'manifest.json'), 'utf8')) as Record<string, Fixture>;
/** Float outputs: |Δ| ≤ TOL · max(1, |original|). */
const TOL = 1e-4;

/** Fixtures the pass must leave alone (reason substring). */
const EXPECT_SKIP: Record<string, RegExp> = {
  svc_rbf_bin_probit: /PROBIT/,
  scaler_opset11: /opset 11/,
};

function expectedOps(name: string): string[] {
  const ops: string[] = [];
  if (name.startsWith('scaler')) ops.push('Scaler');
  if (name.includes('svc')) ops.push('SVMClassifier');
  if (name.includes('svr') || name.startsWith('oneclass')) ops.push('SVMRegressor');
  return ops;
}

const variants: Array<[string, OptimizeOptions]> = [
  ['default (float32, operator)', {}],
  ['rbf mixed', { rbf: 'mixed' }],
  ['rbf float64, probabilities by ops', { rbf: 'float64', probabilities: 'ops' }],
];

for (const [name, fx] of Object.entries(manifest)) {
  test(`fixture ${name}`, async () => {
    const bytes = new Uint8Array(readFileSync(resolve(FIXTURES, `${name}.onnx`)));
    const original = await session(bytes);
    const feeds = [fx.rows, randomRows(64, fx.width, 2, name.length * 7919), randomRows(1, fx.width, 1, 3)];
    for (const [label, opts] of variants) {
      const result = optimizeModel(bytes, opts);
      const skipReason = EXPECT_SKIP[name];
      const multiProbByOps = opts.probabilities === 'ops' && /_(3c|4c)_prob(_|$)/.test(name);
      if (skipReason || multiProbByOps) {
        assert.ok(result.skipped.some((s) => (skipReason ?? /iterative/).test(s.reason)), `${label}: expected a skip, got ${JSON.stringify(result.skipped)}`);
        if (skipReason) {
          assert.equal(result.changed, false);
          assert.equal(result.bytes, bytes, 'unchanged model is returned as is');
        }
        continue;
      }
      assert.equal(result.changed, true, `${label}: ${JSON.stringify(result.skipped)}`);
      assert.deepEqual(result.skipped, []);
      assert.deepEqual(result.rewrites.map((r) => r.op).sort(), expectedOps(name).sort(), label);
      // no ai.onnx.ml node is left except the exact probability tail
      const g = decodeModel(result.bytes).graph!;
      const ml = g.node!.filter((n) => n.domain === 'ai.onnx.ml');
      const tailAllowed = /_prob(_|$)/.test(name) && opts.probabilities !== 'ops';
      assert.equal(ml.length, tailAllowed ? 1 : 0, `${label}: leftover ML nodes ${ml.map((n) => n.opType)}`);
      if (tailAllowed) assert.equal(ml[0].input![0].includes('/'), true, 'tail reads the computed decision values');
      const optimised = await session(result.bytes);
      assert.deepEqual(optimised.inputNames, original.inputNames);
      assert.deepEqual(optimised.outputNames, original.outputNames);
      for (const rows of feeds) {
        const feed = { [fx.input]: tensor(fx.type, rows, fx.width) };
        const c = await compare(original, optimised, feed);
        assert.equal(c.labelMismatches, 0, `${label}: labels differ on ${c.labelMismatches} rows`);
        assert.ok(c.maxRelDiff <= TOL, `${label}: max relative difference ${c.maxRelDiff} > ${TOL}`);
      }
    }
  });
}

test('binary Platt coupling unrolled in standard ops matches onnxruntime over every probability', async () => {
  // decision value = x; sweep x so that the Platt probability covers (0, 1) densely, including the
  // band around 0.5 where libsvm's coupling stops at [0.5, 0.5] and the 1- and 2-loop regions.
  const bytes = new Uint8Array(readFileSync(resolve(FIXTURES, 'svc_identity_prob_sweep.onnx')));
  const result = optimizeModel(bytes, { probabilities: 'ops' });
  assert.equal(result.changed, true);
  const original = await session(bytes);
  const optimised = await session(result.bytes);
  const n = 200_000;
  const xs = Array.from({ length: n }, (_, i) => [-18 + (36 * i) / (n - 1)]);
  const c = await compare(original, optimised, { X: tensor('float32', xs, 1) });
  assert.equal(c.labelMismatches, 0);
  assert.ok(c.maxAbsDiff <= 1e-5, `max abs difference ${c.maxAbsDiff}`);
});

test('a model without a default-domain opset import gets one; existing imports are kept', () => {
  const bytes = new Uint8Array(readFileSync(resolve(FIXTURES, 'scaler_only_ml_opset.onnx')));
  assert.deepEqual(decodeModel(bytes).opsetImport!.map((o) => o.domain), ['ai.onnx.ml']);
  const out = decodeModel(optimizeModel(bytes).bytes);
  const imports = Object.fromEntries(out.opsetImport!.map((o) => [o.domain ?? '', Number(o.version)]));
  assert.deepEqual(imports, { 'ai.onnx.ml': 1, '': 15 });
});

test('options can disable single operators', () => {
  const bytes = new Uint8Array(readFileSync(resolve(FIXTURES, 'scaler_svc_rbf_bin_prob.onnx')));
  const r = optimizeModel(bytes, { ops: { Scaler: false } });
  assert.deepEqual(r.rewrites.map((x) => x.op), ['SVMClassifier']);
  assert.deepEqual(r.skipped.map((x) => [x.op, x.reason]), [['Scaler', 'disabled by options']]);
});

test('garbage bytes throw instead of returning a model', () => {
  assert.throws(() => optimizeModel(new Uint8Array([0xff, 0xff, 0xff, 0x01, 0x02])));
});

test('mayOptimize: true for every fixture with a rewritable node, false for the loan trees and svc-free models', async () => {
  const { mayOptimize } = await import('../../src/optimize/probe.js');
  for (const name of Object.keys(manifest)) {
    const bytes = new Uint8Array(readFileSync(resolve(FIXTURES, `${name}.onnx`)));
    assert.equal(mayOptimize(bytes), true, name);
  }
  const loan = resolve(FIXTURES, '../../../examples/loan/model.onnx');
  if (existsSync(loan)) assert.equal(mayOptimize(new Uint8Array(readFileSync(loan))), false);
  assert.equal(mayOptimize(new Uint8Array(Buffer.from('no ml domain here: SVMClassifier'))), false);
});
