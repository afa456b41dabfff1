// The book's weather SVM (../shared/seed/svc.onnx) and the project's examples, rewritten by the
// pass and run by onnxruntime against the original graph on every row of the book's sample data
// (19,289 rows) and of each example's test set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { optimizeModel } from '../../src/optimize/index.js';
import { decodeModel } from '../../src/optimize/proto.js';
import { REPO, SHARED, compare, sampleRows, scaleRows, session } from './helpers.js';

const SVC = resolve(SHARED, 'seed/svc.onnx');
const WEATHER = resolve(REPO, 'examples/weather');
const LOAN = resolve(REPO, 'examples/loan');
const WEATHER_COLUMNS = ['temp_c', 'humidity', 'wind_speed_kmph', 'wind_bearing_degree', 'visibility_km', 'pressure_millibars', 'current_weather_condition'];

/** Stated tolerances (docs/optimize.md): largest |Δ| of the float outputs. */
const SVC_SCORE_TOL = { float32: 1e-4, mixed: 1e-4, float64: 2e-5 } as const;
const WEATHER_PROB_TOL = { float32: 1e-5, mixed: 1e-5, float64: 1e-5 } as const;

test('svc.onnx: labels identical and scores within tolerance on all 19,289 sample rows', async () => {
  const bytes = new Uint8Array(readFileSync(SVC));
  const rows = sampleRows();
  assert.equal(rows.length, 19289);
  const x = scaleRows(rows);
  const original = await session(bytes);
  for (const rbf of ['float32', 'mixed', 'float64'] as const) {
    const result = optimizeModel(bytes, { rbf });
    assert.equal(result.changed, true);
    assert.deepEqual(result.rewrites.map((r) => r.op), ['SVMClassifier']);
    const g = decodeModel(result.bytes).graph!;
    assert.equal(g.node!.some((n) => n.domain === 'ai.onnx.ml'), false, 'no ai.onnx.ml node left');
    assert.deepEqual(g.output!.map((o) => [o.name, o.type?.tensorType?.elemType]), [['label', 7], ['probabilities', 1]]);
    const optimised = await session(result.bytes);
    // in chunks of 1,000 rows (the full [19289, 6760] kernel matrix would take 0.5 GB)
    let worst = 0;
    for (let i = 0; i < rows.length; i += 1000) {
      const n = Math.min(1000, rows.length - i);
      const feed = { float_input: new ort.Tensor('float32', x.subarray(i * 7, (i + n) * 7), [n, 7]) };
      const c = await compare(original, optimised, feed);
      assert.equal(c.labelMismatches, 0, `${rbf}: rows ${i}..${i + n}: ${c.labelMismatches} labels differ`);
      worst = Math.max(worst, c.maxAbsDiff);
    }
    assert.ok(worst <= SVC_SCORE_TOL[rbf], `${rbf}: largest score difference ${worst} > ${SVC_SCORE_TOL[rbf]}`);
  }
});

test('svc.onnx: batch 1 and batch 64 give the same answers as the original', async () => {
  const bytes = new Uint8Array(readFileSync(SVC));
  const x = scaleRows(sampleRows().slice(0, 64));
  const original = await session(bytes);
  const optimised = await session(optimizeModel(bytes).bytes);
  for (const n of [1, 64]) {
    const c = await compare(original, optimised, { float_input: new ort.Tensor('float32', x.subarray(0, n * 7), [n, 7]) });
    assert.equal(c.labelMismatches, 0);
    assert.ok(c.maxAbsDiff <= SVC_SCORE_TOL.float32);
  }
});

test('examples/weather: Scaler + Platt SVC rewritten; test set and book sample rows agree', { skip: !existsSync(resolve(WEATHER, 'model.onnx')) && 'examples/weather/model.onnx not present' }, async () => {
  const bytes = new Uint8Array(readFileSync(resolve(WEATHER, 'model.onnx')));
  const testset = JSON.parse(readFileSync(resolve(WEATHER, 'testset.json'), 'utf8')) as { rows: Array<Record<string, number>> };
  const rows = [...testset.rows.map((r) => WEATHER_COLUMNS.map((c) => r[c])), ...sampleRows()];
  const x = Float32Array.from(rows.flat());
  const original = await session(bytes);
  for (const [rbf, probabilities] of [['float32', 'operator'], ['mixed', 'operator'], ['float64', 'ops'], ['float32', 'ops']] as const) {
    const result = optimizeModel(bytes, { rbf, probabilities });
    assert.deepEqual(result.rewrites.map((r) => r.op), ['Scaler', 'SVMClassifier']);
    const optimised = await session(result.bytes);
    let worst = 0;
    for (let i = 0; i < rows.length; i += 2000) {
      const n = Math.min(2000, rows.length - i);
      const c = await compare(original, optimised, { float_input: new ort.Tensor('float32', x.subarray(i * 7, (i + n) * 7), [n, 7]) });
      assert.equal(c.labelMismatches, 0, `${rbf}/${probabilities}: rows ${i}..: ${c.labelMismatches} labels differ`);
      worst = Math.max(worst, c.maxAbsDiff);
    }
    assert.ok(worst <= WEATHER_PROB_TOL[rbf], `${rbf}/${probabilities}: largest probability difference ${worst}`);
  }
});

test('examples/loan: the tree ensemble is left untouched (byte-identical)', { skip: !existsSync(resolve(LOAN, 'model.onnx')) && 'examples/loan/model.onnx not present' }, () => {
  const bytes = new Uint8Array(readFileSync(resolve(LOAN, 'model.onnx')));
  const result = optimizeModel(bytes);
  assert.equal(result.changed, false);
  assert.deepEqual(result.rewrites, []);
  assert.equal(result.bytes, bytes);
});

test('svc.onnx: rows with NaN get the original label (a raw ONNX model served without a config takes any FP32)', async () => {
  const bytes = new Uint8Array(readFileSync(SVC));
  const x = scaleRows(sampleRows().slice(0, 8));
  x.fill(Number.NaN, 0, 7); // row 0 all NaN
  x[7 + 3] = Number.NaN; // row 1 one NaN
  const feed = { float_input: new ort.Tensor('float32', x, [8, 7]) };
  const original = (await (await session(bytes)).run(feed)).label!.data as BigInt64Array;
  const optimised = (await (await session(optimizeModel(bytes).bytes)).run(feed)).label!.data as BigInt64Array;
  assert.deepEqual([...optimised], [...original]);
});
