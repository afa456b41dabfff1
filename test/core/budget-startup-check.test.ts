// --max-loaded-models: the models the budget leaves unloaded at start are not loaded, but their files are checked
// (no onnxruntime session): a file bound to fail stops the start, in one message naming every bad file, as a bad
// model the budget loads does. Before, the server reported ready and the first request to such a model got the
// failure. The real server with the example models.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from '../../src/server.js';
import { call } from '../helpers/http.js';
import { EXAMPLES, tempDir } from '../helpers/paths.js';

/** A repository of the examples (weather the default) and copies of weather / rain-xgboost under other names. */
function repository(copies: Record<string, 'weather' | 'rain-xgboost'>): string {
  const repo = tempDir();
  for (const name of ['loan', 'weather', 'rain-xgboost']) cpSync(join(EXAMPLES, name), join(repo, name), { recursive: true });
  for (const [name, from] of Object.entries(copies)) {
    cpSync(join(EXAMPLES, from), join(repo, name), { recursive: true });
    const yaml = join(repo, name, 'model.yaml');
    writeFileSync(yaml, readFileSync(yaml, 'utf8').replace(/^name: .*$/m, `name: ${name}`).replace(/^default: true$/m, ''));
  }
  return repo;
}

test('--max-loaded-models 1: ONNX files cut short or a Git LFS pointer, and XGBoost JSON of the wrong structure, outside the budget, stop the start in one message naming each file', async () => {
  const repo = repository({ 'zz-cut': 'weather', 'zz-lfs': 'weather', 'zz-xgb': 'rain-xgboost' });
  writeFileSync(join(repo, 'zz-cut', 'model.onnx'), readFileSync(join(repo, 'zz-cut', 'model.onnx')).subarray(0, 4000));
  writeFileSync(join(repo, 'zz-lfs', 'model.onnx'), 'version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n');
  writeFileSync(join(repo, 'zz-xgb', 'model.json'), JSON.stringify({ learner: { gradient_booster: { trees: 'none' } }, version: [2, 0, 0] }));
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    await assert.rejects(
      async () => { server = await startServer({ repo, port: 0, workers: 1, maxLoadedModels: 1, logger: false }); },
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'MS_ERR_MODEL_LOAD', err.message);
        assert.match(err.message, /zz-cut\/model\.yaml: model: .*zz-cut\/model\.onnx is not a valid ONNX model: it is \d+ bytes long, but a field from byte \d+ runs to byte \d+/);
        assert.match(err.message, /zz-lfs\/model\.yaml: model: .*zz-lfs\/model\.onnx is not a valid ONNX model: it is a Git LFS pointer, not the model/);
        assert.match(err.message, /zz-xgb\/model\.yaml: model: .*zz-xgb\/model\.json is not an XGBoost JSON model|zz-xgb\/model\.json is an XGBoost model modelserve cannot convert/);
        // The good models are not named.
        assert.doesNotMatch(err.message, /(^|\/)(loan|weather|rain-xgboost)\//m);
        return true;
      },
    );
  } finally {
    await server?.shutdown();
  }
});

test('--max-loaded-models 1: good models outside the budget (ONNX and XGBoost) still start unloaded, and load on their first request', async () => {
  const repo = repository({});
  const server = await startServer({ repo, port: 0, workers: 1, maxLoadedModels: 1, logger: false });
  try {
    const states = Object.fromEntries(((await call(`${server.url}/models`)).body.models as Array<{ name: string; state: string }>).map((m) => [m.name, m.state]));
    assert.deepEqual(states, { loan: 'unavailable', 'rain-xgboost': 'unavailable', weather: 'ready' });
    const rain = await call(`${server.url}/models/rain-xgboost/predict`, { method: 'POST', body: { temp_c: 8, humidity: 0.8, wind_bearing_degree: 200, pressure_millibars: 1010, current_weather_condition: 1 } });
    assert.equal(rain.status, 200, JSON.stringify(rain.body));
  } finally {
    await server.shutdown();
  }
});

// A config that does not match its model's inputs and outputs, outside the budget, was found only by the first request
// (a 503 naming the mismatch) while the server reported ready. Now the file's declared signature (read from its protobuf,
// no session; an XGBoost model's from its conversion) is checked at start: one message naming each file and every problem.
test('--max-loaded-models 1: configs that do not match their model (ONNX and XGBoost) outside the budget stop the start in one message naming each file and every problem', async () => {
  const repo = repository({ 'zz-onnx': 'weather', 'zz-xgb': 'rain-xgboost' });
  const edit = (name: string, from: string, to: string) => {
    const yaml = join(repo, name, 'model.yaml');
    writeFileSync(yaml, readFileSync(yaml, 'utf8').replace(from, to));
  };
  edit('zz-onnx', '  float_input:\n', '  features:\n');
  edit('zz-onnx', 'from: label\n', 'from: labels\n');
  edit('zz-xgb', 'from: probabilities\n', 'from: probability\n');
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    await assert.rejects(
      async () => { server = await startServer({ repo, port: 0, workers: 1, maxLoadedModels: 1, logger: false }); },
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'MS_ERR_MODEL_SIGNATURE', err.message);
        assert.match(err.message, /zz-onnx\/model\.yaml: inputs\.features: the model has no input 'features' \(its inputs: 'float_input'\)/);
        assert.match(err.message, /zz-onnx\/model\.yaml: inputs: the model's input 'float_input' is not fed/);
        assert.match(err.message, /zz-onnx\/model\.yaml: outputs\.prediction\.from: the model has no output 'labels'/);
        assert.match(err.message, /zz-xgb\/model\.yaml: outputs\.rain_probability\.from: the model has no output 'probability'/);
        assert.doesNotMatch(err.message, /(^|\/)(loan|weather|rain-xgboost)\//m);
        return true;
      },
    );
  } finally {
    await server?.shutdown();
  }
});
