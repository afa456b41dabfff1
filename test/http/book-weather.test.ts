// The book's real artifacts: svc.onnx + its StandardScaler served as the book's API, checked on
// every row of the real sample data against onnxruntime run directly on the correctly scaled rows.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';
import { startServer, type RunningServer } from '../../src/server.js';
import { BOOK_FIELDS, BOOK_MODEL, BOOK_SCALER, bookRows, writeBookModelFolder } from '../helpers/paths.js';
import { call } from '../helpers/http.js';

let server: RunningServer;
const rows = bookRows();
let expected: string[];

before(async () => {
  // Reference: the original graph (no optimiser), the stored mean/scale applied in float64, then float32.
  const { mean, scale } = JSON.parse(readFileSync(BOOK_SCALER, 'utf8')) as { mean: number[]; scale: number[] };
  const x = new Float32Array(rows.length * 7);
  rows.forEach((row, r) => BOOK_FIELDS.forEach((f, c) => { x[r * 7 + c] = (row[f]! - mean[c]!) / scale[c]!; }));
  const session = await ort.InferenceSession.create(BOOK_MODEL);
  const out = await session.run({ float_input: new ort.Tensor('float32', x, [rows.length, 7]) });
  expected = Array.from(out.label!.data as BigInt64Array, (v) => (v === 1n ? 'Rain' : 'No_Rain'));
  await session.release();
  server = await startServer({ repo: writeBookModelFolder(), port: 0, workers: 2 });
});
after(async () => {
  await server?.shutdown();
});

test('the sample data has its 19,289 rows and both classes', () => {
  assert.equal(rows.length, 19289);
  assert.ok(expected.includes('Rain') && expected.includes('No_Rain'));
});

test('batched over HTTP: every one of the 19,289 rows matches onnxruntime on the scaled row', async () => {
  const size = 500;
  const answers: string[] = [];
  for (let i = 0; i < rows.length; i += size) {
    const res = await call(`${server.url}/predict`, { body: rows.slice(i, i + size) });
    assert.equal(res.status, 200, res.text);
    answers.push(...res.body.map((r: { prediction: string }) => r.prediction));
  }
  assert.equal(answers.length, rows.length);
  const wrong = answers.map((a, i) => (a === expected[i] ? -1 : i)).filter((i) => i >= 0);
  assert.deepEqual(wrong, [], `rows answered differently: ${wrong.slice(0, 10).join(', ')}`);
});

test('single requests (the book\'s API: one WeatherVariables object -> {"prediction"}), 600 rows concurrently', async () => {
  const step = Math.floor(rows.length / 600);
  const picks = Array.from({ length: 600 }, (_, k) => k * step);
  const answers = await Promise.all(picks.map((i) => call(`${server.url}/predict`, { body: rows[i] })));
  picks.forEach((i, k) => {
    assert.equal(answers[k]!.status, 200);
    assert.deepEqual(answers[k]!.body, { prediction: expected[i] }, `row ${i}`);
  });
});

test('the answer depends on the input (the book\'s fit_transform bug would answer the same for all)', () => {
  assert.ok(new Set(expected).size === 2);
});
