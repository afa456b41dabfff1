// A pipeline over the Open Inference Protocol: the datatype its metadata (REST and gRPC) gives for
// each output is the datatype its infer answers. A response field that passes a string through (a
// request field selected by outputs:) is BYTES in both, not FP64 in the metadata and BYTES in the answer.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/server.js';
import { call } from '../helpers/http.js';
import { grpcClients, rpc } from '../helpers/oip.js';
import { writeIdentityModels } from '../helpers/onnx.js';
import { EXAMPLES } from '../helpers/paths.js';
import { exampleModel, newRepo, writeConfig } from './helpers.js';

let server: RunningServer;
before(async () => {
  const repo = newRepo();
  exampleModel(repo, 'loan');
  writeConfig(repo, 'loan-echo', `
pipeline:
  sequence:
    - model: loan
  outputs: [default_proba, City, Term]
`);
  writeConfig(repo, 'loan-switch', `
pipeline:
  switch:
    - name: rural
      when: { field: UrbanRural, equals: 2 }
      model: loan
    - name: other
      default: true
      model: loan-echo
  outputs: { proba: default_proba, city: City }
`);
  // A model's raw BOOL and string outputs, passed through by a pipeline (the exception below).
  writeIdentityModels(repo, [{ file: 'raw-bool/model.onnx', elem: 'BOOL', inputElem: 'DOUBLE', shape: ['N', 1] }, { file: 'raw-text/model.onnx', elem: 'STRING', shape: ['N', 1] }]);
  writeConfig(repo, 'raw-bool', 'fields:\n  a: { type: number, example: 1 }\ninputs:\n  x: { fields: [a] }\noutputs:\n  values: { from: y }\n');
  writeConfig(repo, 'raw-text', 'fields:\n  s: { type: string, example: hi }\ninputs:\n  x: { fields: [s] }\noutputs:\n  values: { from: y }\n');
  writeConfig(repo, 'raw-bool-pipe', 'pipeline:\n  sequence:\n    - model: raw-bool\n');
  writeConfig(repo, 'raw-text-pipe', 'pipeline:\n  sequence:\n    - model: raw-text\n');
  // The XGBoost example, whose optional fields without a default are missing values when left
  // out; one of them made an integer here (an INT64 column cannot hold a missing value).
  const rain = readFileSync(join(EXAMPLES, 'rain-xgboost', 'model.yaml'), 'utf8').replace(/^name: .*$/m, 'name: rain').replace(/^model: model\.json$/m, `model: ${join(EXAMPLES, 'rain-xgboost', 'model.json')}`)
    .replace('current_weather_condition: { type: number,', 'current_weather_condition: { type: integer, required: false,');
  assert.match(rain, /type: integer, required: false/);
  writeConfig(repo, 'rain', rain);
  writeConfig(repo, 'rain-pipe', 'pipeline:\n  sequence:\n    - model: rain\n');
  server = await startServer({ repo, port: 0, grpcPort: 'free', workers: 0, logger: false });
});
after(async () => {
  await server?.shutdown();
});

const LOAN: Record<string, unknown> = {
  Term: 84, NoEmp: 5, CreateJob: 0, RetainedJob: 5, longitude: -87.6298, latitude: 41.8781, GrAppv: 150000, SBA_Appv: 127500, is_new: 'False', FranchiseCode: '1',
  UrbanRural: 1, City: 'CHICAGO', State: 'IL', Bank: 'JPMORGAN CHASE BANK NATL ASSOC', BankState: 'OH', RevLineCr: 'N', naics_first_two: '44', same_state: 'False',
};

type Tensor = { name: string; datatype: string; shape: number[]; data: unknown[] };

for (const [model, expected] of [
  ['loan-echo', { default_proba: 'FP64', City: 'BYTES', Term: 'FP64' }],
  ['loan-switch', { proba: 'FP64', city: 'BYTES' }],
] as const) {
  test(`${model}: the metadata's output datatypes are those its infer answers, over REST and gRPC`, async () => {
    const meta = await call(`${server.url}/v2/models/${model}`);
    assert.equal(meta.status, 200, meta.text);
    const { inputs, outputs } = meta.body as { inputs: Tensor[]; outputs: Tensor[] };
    const declared = Object.fromEntries(outputs.map((o) => [o.name, o.datatype]));
    assert.deepEqual(declared, expected);

    const res = await call(`${server.url}/v2/models/${model}/infer`, {
      body: { inputs: inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: [2, 1], data: [LOAN[i.name], LOAN[i.name]] })) },
    });
    assert.equal(res.status, 200, res.text);
    const answered = Object.fromEntries((res.body as { outputs: Tensor[] }).outputs.map((o) => [o.name, o.datatype]));
    assert.deepEqual(answered, declared);

    const clients = grpcClients(server.grpcPort!);
    try {
      const g = await rpc<{ outputs: Array<{ name: string; datatype: string }> }>(clients.inference, 'ModelMetadata', { name: model });
      assert.deepEqual(Object.fromEntries(g.outputs.map((o) => [o.name, o.datatype])), declared);
    } finally {
      clients.close();
    }
  });
}

// The documented exception (docs/pipelines.md): a model's raw output has no type in its config, so
// the pipeline's metadata says FP64 (OIP has no "any"); the answer's datatype follows the values.
for (const [model, input, answered] of [
  ['raw-bool-pipe', { name: 'a', datatype: 'FP64', shape: [1, 1], data: [1] }, 'BOOL'],
  ['raw-text-pipe', { name: 's', datatype: 'BYTES', shape: [1, 1], data: ['hi'] }, 'BYTES'],
] as const) {
  test(`${model}: a raw field of a type known only when answered is FP64 in the metadata, ${answered} in the answer`, async () => {
    const meta = await call(`${server.url}/v2/models/${model}`);
    assert.deepEqual((meta.body as { outputs: Tensor[] }).outputs.map((o) => [o.name, o.datatype]), [['values', 'FP64']], meta.text);
    const res = await call(`${server.url}/v2/models/${model}/infer`, { body: { inputs: [input] } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual((res.body as { outputs: Tensor[] }).outputs.map((o) => [o.name, o.datatype]), [['values', answered]]);
  });
}

test('an optional field without a default (an XGBoost model\'s missing value) may be left out over OIP, as over JSON: the pipeline answers what its model does', async () => {
  // wind_speed_kmph (a number) and current_weather_condition (an integer) left out: a 422
  // 'invalid input' and a 500 ('Cannot convert undefined to a BigInt') before.
  const row = { temp_c: 8.75, humidity: 0.83, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51 };
  const inputs = Object.entries(row).map(([name, v]) => ({ name, datatype: 'FP64', shape: [2, 1], data: [v, v * 0.9] }));
  const model = await call(`${server.url}/v2/models/rain/infer`, { body: { inputs } });
  assert.equal(model.status, 200, model.text);
  const pipe = await call(`${server.url}/v2/models/rain-pipe/infer`, { body: { inputs } });
  assert.equal(pipe.status, 200, pipe.text);
  const data = (res: { body: unknown }) => Object.fromEntries((res.body as { outputs: Tensor[] }).outputs.map((o) => [o.name, o.data]));
  assert.deepEqual(data(pipe), data(model));
  const json = await call(`${server.url}/models/rain-pipe/predict`, { body: row });
  assert.equal(json.status, 200, json.text);
  assert.equal((json.body as { rain_probability: number }).rain_probability, data(model).rain_probability![0]);
});

test('a pipeline\'s metadata and config say platform "ensemble", as Triton\'s do (they said onnxruntime_onnx, with an onnxruntime backend); a model\'s still onnxruntime_onnx', async () => {
  assert.equal((await call(`${server.url}/v2/models/loan-echo`)).body.platform, 'ensemble');
  const config = (await call(`${server.url}/v2/models/loan-echo/config`)).body;
  assert.equal(config.platform, 'ensemble');
  assert.equal(config.backend, undefined);
  assert.equal((await call(`${server.url}/v2/models/loan`)).body.platform, 'onnxruntime_onnx');
  assert.equal((await call(`${server.url}/v2/models/loan/config`)).body.backend, 'onnxruntime');
  const clients = grpcClients(server.grpcPort!);
  try {
    assert.equal((await rpc<{ platform: string }>(clients.inference, 'ModelMetadata', { name: 'loan-echo' })).platform, 'ensemble');
  } finally {
    clients.close();
  }
});
