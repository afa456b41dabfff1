// A pipeline that is a step of another: a 422 from inside it (one of its steps rejecting a row,
// or a row none of its switch's branches takes) names the outer step and then the inner one, and
// its row is the client's row — not the row's index among the rows the nested pipeline was given
// (a switch gives it a subset).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type RunningServer } from '../../src/server.js';
import { call } from '../helpers/http.js';
import { exampleModel, newRepo, WEATHER_ROW, writeConfig } from './helpers.js';

let server: RunningServer;
before(async () => {
  const repo = newRepo();
  exampleModel(repo, 'weather');
  // Its request field temp_c is read by both steps; the second takes it as humidity (0..1), so a
  // row the pipeline accepts (temp_c -20) is rejected by its step 'again'.
  writeConfig(repo, 'inner-seq', `
pipeline:
  sequence:
    - model: weather
    - name: again
      model: weather
      inputs: { humidity: temp_c }
`);
  writeConfig(repo, 'inner-switch', `
pipeline:
  switch:
    - name: clear
      when: { field: current_weather_condition, equals: 1 }
      model: weather
`);
  writeConfig(repo, 'outer', `
pipeline:
  switch:
    - name: seq
      when: { field: temp_c, range: { lt: -10 } }
      model: inner-seq
    - name: sw
      when: { field: temp_c, range: { gte: 30 } }
      model: inner-switch
    - name: plain
      default: true
      model: weather
`);
  server = await startServer({ repo, port: 0, grpcPort: 0, workers: 0, logger: false });
});
after(async () => {
  await server?.shutdown();
});

type Detail = { detail: Array<{ loc: unknown[]; msg: string; type: string }> };
const predict = (body: unknown) => call(`${server.url}/models/outer/predict`, { body });
const OK = WEATHER_ROW;
const SEQ = { ...WEATHER_ROW, temp_c: -20 };
const SW = { ...WEATHER_ROW, temp_c: 35, current_weather_condition: 0 };

test('a nested pipeline\'s step rejecting a row: loc names both steps and the client\'s row', async () => {
  const batch = await predict([OK, OK, SEQ]);
  assert.equal(batch.status, 422, batch.text);
  const [issue] = (batch.body as Detail).detail;
  assert.deepEqual(issue!.loc, ['step', 'seq', 'step', 'again', 'body', 2, 'humidity']);
  assert.match(issue!.msg, /^step 'seq': step 'again': /);

  const two = await predict([SEQ, OK]);
  assert.equal(two.status, 422, two.text);
  assert.deepEqual((two.body as Detail).detail[0]!.loc, ['step', 'seq', 'step', 'again', 'body', 0, 'humidity']);

  const single = await predict(SEQ);
  assert.equal(single.status, 422, single.text);
  assert.deepEqual((single.body as Detail).detail[0]!.loc, ['step', 'seq', 'step', 'again', 'body', 'humidity']);

  // An array of one row is an array: its row is named, as a plain model's 422 names it.
  const one = await predict([SEQ]);
  assert.equal(one.status, 422, one.text);
  assert.deepEqual((one.body as Detail).detail[0]!.loc, ['step', 'seq', 'step', 'again', 'body', 0, 'humidity']);
  const plain = await call(`${server.url}/models/weather/predict`, { body: [{ ...OK, humidity: 'wet' }] });
  assert.deepEqual((plain.body as Detail).detail[0]!.loc, ['body', 0, 'humidity']);
});

test('a row no branch of a nested switch takes: loc names the outer step and the client\'s row', async () => {
  const batch = await predict([OK, SW]);
  assert.equal(batch.status, 422, batch.text);
  const [issue] = (batch.body as Detail).detail;
  assert.deepEqual(issue!.loc, ['step', 'sw', 'body', 1, 'current_weather_condition']);
  assert.equal(issue!.type, 'value_error.no_branch');

  const single = await predict(SW);
  assert.equal(single.status, 422, single.text);
  assert.deepEqual((single.body as Detail).detail[0]!.loc, ['step', 'sw', 'body', 'current_weather_condition']);
});

test('rows the nested pipelines take are answered in the request\'s order', async () => {
  const res = await predict([OK, { ...SW, current_weather_condition: 1 }, OK]);
  assert.equal(res.status, 200, res.text);
  const answers = res.body as Array<Record<string, unknown>>;
  assert.equal(answers.length, 3);
  for (const a of answers) assert.deepEqual(Object.keys(a).sort(), ['prediction', 'rain_probability']);
});
