// examples/rain-xgboost: the committed model.json served by a real server (format: xgboost) answers
// as XGBoost did when train.py wrote testset.json and samples/expected.json (within 1e-5), with
// missing sensor readings left out of the requests.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/server.js';
import { EXAMPLES } from '../helpers/paths.js';
import { call } from '../helpers/http.js';

const DIR = join(EXAMPLES, 'rain-xgboost');
const read = (name: string) => JSON.parse(readFileSync(join(DIR, name), 'utf8'));
let server: RunningServer;
before(async () => {
  server = await startServer({ repo: DIR, port: 0, workers: 1 });
});
after(async () => {
  await server?.shutdown();
});

test('rain-xgboost: the 400 held-out rows (some with gaps) get XGBoost\'s probabilities within 1e-5 and its labels', async () => {
  const testset = read('testset.json') as { rows: Array<Record<string, number>>; expected: { probabilities: number[][]; label: number[] } };
  assert.ok(testset.rows.filter((r) => Object.keys(r).length < 7).length > 20, 'the test set has rows with missing readings');
  const res = await call(`${server.url}/predict`, { body: testset.rows });
  assert.equal(res.status, 200, res.text);
  const answers = res.body as Array<{ prediction: string; rain_probability: number }>;
  answers.forEach((a, i) => {
    assert.ok(Math.abs(a.rain_probability - testset.expected.probabilities[i]![1]!) <= 1e-5, `row ${i}: ${a.rain_probability} vs ${testset.expected.probabilities[i]![1]}`);
    assert.equal(a.prediction, testset.expected.label[i] === 1 ? 'Rain' : 'No_Rain', `row ${i}`);
  });
});

test('rain-xgboost: samples/valid.json answers as samples/expected.json; a required field left out is a 422', async () => {
  const valid = read('samples/valid.json') as unknown[];
  const expected = read('samples/expected.json') as Array<{ prediction: string; rain_probability: number }>;
  for (const [i, body] of valid.entries()) {
    const res = await call(`${server.url}/predict`, { body });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.prediction, expected[i]!.prediction);
    assert.ok(Math.abs(res.body.rain_probability - expected[i]!.rain_probability) <= 1e-5);
  }
  const { humidity: _dropped, ...noHumidity } = valid[0] as Record<string, number>;
  const res = await call(`${server.url}/predict`, { body: noHumidity });
  assert.equal(res.status, 422);
  assert.deepEqual(res.body.detail[0].loc, ['body', 'humidity']);
  const info = await call(`${server.url}/models/rain-xgboost`);
  assert.deepEqual(info.body.signature.inputs, [{ name: 'input', type: 'float32', shape: ['N', 7] }]);
});
