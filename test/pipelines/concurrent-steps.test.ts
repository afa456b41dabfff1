// Steps that run at once — a switch's branches, an ensemble's members — and reject rows of one
// request: the 422 lists every rejected row of every step, in the client's row order, as a
// model's own 422 lists every bad row — not only the rows of whichever step failed first. A step
// failing otherwise (503...) is the answer, whatever the others did.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type RunningServer } from '../../src/server.js';
import { call } from '../helpers/http.js';
import { exampleModel, newRepo, WEATHER_ROW, writeConfig } from './helpers.js';

let server: RunningServer;
before(async () => {
  const repo = newRepo();
  exampleModel(repo, 'weather');
  // Each step reads the request's humidity as its temp_c (-60..60) first, so the pipeline takes
  // humidity 5, and then as its own humidity (0..1), which rejects it.
  writeConfig(repo, 'by-condition', `
pipeline:
  switch:
    - name: clear
      when: { field: current_weather_condition, equals: 1 }
      model: weather
      inputs: { temp_c: humidity }
    - name: other
      default: true
      model: weather
      inputs: { temp_c: humidity }
`);
  writeConfig(repo, 'both', `
pipeline:
  ensemble:
    - name: a
      model: weather
      inputs: { temp_c: humidity }
    - name: b
      model: weather
      inputs: { temp_c: humidity }
  combine:
    rain_probability: { mean: rain_probability }
`);
  exampleModel(repo, 'weather', 'weather-spare');
  writeConfig(repo, 'mixed', `
pipeline:
  switch:
    - name: clear
      when: { field: current_weather_condition, equals: 1 }
      model: weather
      inputs: { temp_c: humidity }
    - name: spare
      default: true
      model: weather-spare
`);
  server = await startServer({ repo, port: 0, grpcPort: 0, workers: 0, logger: false });
});
after(async () => {
  await server?.shutdown();
});

type Detail = { detail: Array<{ loc: unknown[]; msg: string; type: string }> };
const WET = { ...WEATHER_ROW, humidity: 5 };
const OTHER = { ...WEATHER_ROW, current_weather_condition: 0 };

test('switch: rows rejected by two branches are all in the 422, in the request\'s row order', async () => {
  const res = await call(`${server.url}/models/by-condition/predict`, { body: [{ ...OTHER, humidity: 5 }, WEATHER_ROW, WET, OTHER] });
  assert.equal(res.status, 422, res.text);
  assert.deepEqual((res.body as Detail).detail.map((i) => i.loc), [
    ['step', 'other', 'body', 0, 'humidity'],
    ['step', 'clear', 'body', 2, 'humidity'],
  ]);
  const fine = await call(`${server.url}/models/by-condition/predict`, { body: [{ ...OTHER, humidity: 0.5 }, WEATHER_ROW] });
  assert.equal(fine.status, 200, fine.text);
});

test('ensemble: every member that rejects a row is named', async () => {
  const res = await call(`${server.url}/models/both/predict`, { body: [WEATHER_ROW, WET] });
  assert.equal(res.status, 422, res.text);
  assert.deepEqual((res.body as Detail).detail.map((i) => i.loc), [
    ['step', 'a', 'body', 1, 'humidity'],
    ['step', 'b', 'body', 1, 'humidity'],
  ]);
});

test('switch: a branch that cannot serve (503) is the answer even when another branch rejects rows (422)', async () => {
  assert.equal((await fetch(`${server.url}/v2/repository/models/weather-spare/unload`, { method: 'POST' })).status, 200);
  try {
    const res = await call(`${server.url}/models/mixed/predict`, { body: [WET, OTHER] });
    assert.equal(res.status, 503, res.text);
    assert.match(res.text, /step 'spare'/);
  } finally {
    assert.equal((await fetch(`${server.url}/v2/repository/models/weather-spare/load`, { method: 'POST' })).status, 200);
  }
});
