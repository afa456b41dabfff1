// A pipeline's predictions reach the core's observers (prediction events, the dashboard) as a
// model's do: the pipeline's own answer with the client's request id and front door, and each
// local step's prediction with the same request id and front door 'pipeline'.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { InferenceCore } from '../../src/core/core.js';
import type { PredictionRecord } from '../../src/core/prediction-tap.js';
import { loadRepository } from '../../src/config/load.js';
import { createRuntime } from '../../src/runtime/create.js';
import { LiveStats } from '../../src/dashboard/live-stats.js';
import { EXAMPLES } from '../helpers/paths.js';
import { exampleModel, newRepo, writeConfig, WEATHER_ROW } from './helpers.js';

test('a pipeline reports its predictions and its steps\' to observers, with the request id', async () => {
  // The examples' ensemble of weather and weather-gb, and a sequence whose step is that ensemble.
  const repo = newRepo();
  exampleModel(repo, 'weather');
  for (const name of ['weather-gb', 'weather-ensemble']) cpSync(join(EXAMPLES, 'pipelines', name), join(repo, name), { recursive: true });
  writeConfig(repo, 'outer', `name: outer
pipeline:
  sequence:
    - model: weather-ensemble
`);
  writeConfig(repo, 'by-temp', `name: by-temp
pipeline:
  switch:
    - name: cold
      when: { field: temp_c, range: { lt: 0 } }
      model: weather
    - name: other
      default: true
      model: weather-gb
`);
  const configs = loadRepository(repo);
  const runtime = await createRuntime({ workers: 0 });
  const records: PredictionRecord[] = [];
  const core = await InferenceCore.start({ configs, runtime, onPrediction: (r) => records.push(r) });
  const stats = new LiveStats(() => core, undefined, []);
  const remove = core.predictions.add(stats.observe);
  try {
    const ensemble = core.resolve('weather-ensemble')!;
    const validated = ensemble.validate(WEATHER_ROW);
    assert.ok(validated.ok);
    const answers = await ensemble.predict(validated.rows, undefined, { requestId: 'r-1', frontDoor: 'mqtt' });
    const seen = (from: number) => records.slice(from).map((r) => [r.model, r.requestId, r.frontDoor, r.rows]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    assert.deepEqual(seen(0), [['weather', 'r-1', 'pipeline', 1], ['weather-ensemble', 'r-1', 'mqtt', 1], ['weather-gb', 'r-1', 'pipeline', 1]]);
    const own = records.find((r) => r.model === 'weather-ensemble')!;
    assert.deepEqual(own.predictions, answers);
    assert.deepEqual(own.inputs, validated.rows);
    assert.equal(own.json?.predictions(answers), JSON.stringify(answers), 'events write its answer as the front doors do');

    // A tensor-level call (OIP) is reported with its tensors, as a model's infer() is.
    let from = records.length;
    await ensemble.infer(ensemble.encode(validated.rows), 1, { requestId: 't-1', frontDoor: 'grpc' });
    assert.deepEqual(seen(from), [['weather', 't-1', 'pipeline', 1], ['weather-ensemble', 't-1', 'grpc', 1], ['weather-gb', 't-1', 'pipeline', 1]]);
    assert.ok(records.find((r, i) => i >= from && r.model === 'weather-ensemble')!.outputs?.rain_probability);

    // A pipeline that is a step of another is reported as a step.
    from = records.length;
    const outer = core.resolve('outer')!;
    const rows = outer.validate([WEATHER_ROW, WEATHER_ROW]);
    assert.ok(rows.ok);
    await outer.predict(rows.rows, undefined, { requestId: 'o-1', frontDoor: 'http' });
    assert.deepEqual(seen(from), [['outer', 'o-1', 'http', 2], ['weather', 'o-1', 'pipeline', 2], ['weather-ensemble', 'o-1', 'pipeline', 2], ['weather-gb', 'o-1', 'pipeline', 2]]);

    // A switch's branches are steps too: reported with the request id (it was left out).
    from = records.length;
    const byTemp = core.resolve('by-temp')!;
    const mixed = byTemp.validate([WEATHER_ROW, { ...WEATHER_ROW, temp_c: -5 }]);
    assert.ok(mixed.ok);
    await byTemp.predict(mixed.rows, undefined, { requestId: 's-1', frontDoor: 'http' });
    assert.deepEqual(seen(from), [['by-temp', 's-1', 'http', 2], ['weather', 's-1', 'pipeline', 1], ['weather-gb', 's-1', 'pipeline', 1]]);

    // The core's warm-up and an unobserved call report nothing.
    from = records.length;
    await ensemble.predict(validated.rows, undefined, { unobserved: true });
    assert.deepEqual(seen(from).filter((r) => r[0] === 'weather-ensemble'), []);

    // The dashboard counts the pipeline's requests and its labels.
    const card = (await stats.snapshot()).versions.find((v) => v.model === 'weather-ensemble')!;
    assert.equal(card.requests, 3);
    assert.deepEqual(card.byFrontDoor, { mqtt: 1, grpc: 1, pipeline: 1 });
    assert.equal(card.labels?.counts[String(answers[0]!.prediction)], 1 + 2);
  } finally {
    remove();
    await core.close();
  }
});
