// A switch with no default branch: a row no branch takes is the 422 docs/pipelines.md and
// docs/errors.md (MS_ERR_STEP_VALIDATION) describe — FastAPI's shape, type value_error.no_branch,
// loc ["body", <row>, "<field>"] (no row index for a single object) — and no row of the request runs.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/server.js';
import { EXAMPLES, tempDir } from '../helpers/paths.js';
import { call } from '../helpers/http.js';

let server: RunningServer;
before(async () => {
  const repo = tempDir('modelserve-switch-');
  symlinkSync(join(EXAMPLES, 'weather'), join(repo, 'weather'));
  mkdirSync(join(repo, 'by-condition'));
  writeFileSync(join(repo, 'by-condition', 'model.yaml'), [
    'pipeline:',
    '  switch:',
    '    - name: clear',
    '      when: { field: current_weather_condition, equals: 1 }',
    '      model: weather',
    '',
  ].join('\n'));
  server = await startServer({ repo, port: 0, grpcPort: 0, workers: 0, logger: false });
});
after(async () => {
  await server?.shutdown();
});

const ROW = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };
const URL_ = () => `${server.url}/models/by-condition/predict`;

test('switch: a row a branch takes is answered by that branch', async () => {
  const res = await call(URL_(), { body: ROW });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(Object.keys(res.body as object).sort(), ['prediction', 'rain_probability']);
});

test('switch: a row no branch takes (and no default) is a 422 value_error.no_branch at ["body", <row>, <field>]', async () => {
  const one = await call(URL_(), { body: { ...ROW, current_weather_condition: 0 } });
  assert.equal(one.status, 422, one.text);
  const [issue] = (one.body as { detail: Array<{ loc: unknown[]; msg: string; type: string }> }).detail;
  assert.deepEqual(issue!.loc, ['body', 'current_weather_condition']);
  assert.equal(issue!.type, 'value_error.no_branch');
  assert.match(issue!.msg, /^no branch of pipeline 'by-condition' takes current_weather_condition=0 and it has no default branch$/);

  const batch = await call(URL_(), { body: [ROW, { ...ROW, current_weather_condition: 0 }] });
  assert.equal(batch.status, 422, batch.text);
  const issues = (batch.body as { detail: Array<{ loc: unknown[]; type: string }> }).detail;
  assert.deepEqual(issues.map((i) => [i.loc, i.type]), [[['body', 1, 'current_weather_condition'], 'value_error.no_branch']]);

  // Over the Open Inference Protocol the same refusal carries its code.
  const oip = await call(`${server.url}/v2/models/by-condition/infer`, {
    body: { inputs: Object.entries({ ...ROW, current_weather_condition: 0 }).map(([name, v]) => ({ name, datatype: 'FP64', shape: [1], data: [v] })) },
  });
  assert.equal(oip.status, 422, oip.text);
  assert.equal((oip.body as { code: string }).code, 'MS_ERR_STEP_VALIDATION');
});
