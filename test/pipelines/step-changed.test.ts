// A step's model reloaded (POST /v2/repository/models/{name}/load) with outputs the pipeline no
// longer finds: the pipeline's requests are a 502 MS_ERR_STEP_FAILED naming the step and the
// missing field on every front door — never an answer without the field, nor a crash of the
// server (a JSON answer missing a response field used to throw in the serializer, uncaught) —
// until the pipeline is reloaded too, and then it serves the model's new outputs. Meanwhile it is
// not ready (OIP ModelReady) and GET /models/{name} says why.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/server.js';
import { EXAMPLES } from '../helpers/paths.js';
import { call } from '../helpers/http.js';
import { newRepo, WEATHER_ROW, writeConfig } from './helpers.js';

let server: RunningServer;
let repo: string;
const original = readFileSync(join(EXAMPLES, 'weather', 'model.yaml'), 'utf8');
before(async () => {
  repo = newRepo();
  // The model file in the folder, as a real repository has it (a reload reads the folder again).
  writeConfig(repo, 'weather', original);
  copyFileSync(join(EXAMPLES, 'weather', 'model.onnx'), join(repo, 'weather', 'model.onnx'));
  writeConfig(repo, 'forecast', 'pipeline:\n  sequence:\n    - name: classify\n      model: weather\n');
  server = await startServer({ repo, port: 0, grpcPort: 0, workers: 0, logger: false });
});
after(async () => {
  await server?.shutdown();
});

const load = async (name: string) => assert.equal((await fetch(`${server.url}/v2/repository/models/${name}/load`, { method: 'POST' })).status, 200);

test("a step's model reloaded without a field the pipeline answers: 502 naming the step and the field, then the pipeline's reload serves the new outputs", async () => {
  const first = await call(`${server.url}/models/forecast/predict`, { body: WEATHER_ROW });
  assert.equal(first.status, 200, first.text);
  assert.deepEqual(Object.keys(first.body as object).sort(), ['prediction', 'rain_probability']);

  const renamed = original.replace(/^ {2}rain_probability:$/m, '  chance_of_rain:');
  assert.notEqual(renamed, original);
  writeFileSync(join(repo, 'weather', 'model.yaml'), renamed);
  await load('weather');
  const direct = await call(`${server.url}/models/weather/predict`, { body: WEATHER_ROW });
  assert.deepEqual(Object.keys(direct.body as object).sort(), ['chance_of_rain', 'prediction'], direct.text);

  const message = /^step 'classify': model 'weather' version 1 answers no 'rain_probability', which pipeline 'forecast' reads \(the model changed since the pipeline loaded: reload the pipeline\)$/;
  for (const body of [WEATHER_ROW, [WEATHER_ROW, WEATHER_ROW]]) {
    const res = await call(`${server.url}/models/forecast/predict`, { body });
    assert.equal(res.status, 502, res.text);
    assert.equal((res.body as { code: string }).code, 'MS_ERR_STEP_FAILED');
    assert.match((res.body as { detail: string }).detail, message);
  }
  const oip = await call(`${server.url}/v2/models/forecast/infer`, {
    body: { inputs: Object.entries(WEATHER_ROW).map(([name, v]) => ({ name, datatype: 'FP64', shape: [1, 1], data: [v] })) },
  });
  assert.equal(oip.status, 502, oip.text);
  assert.match((oip.body as { error: string }).error, message);

  // It does not say it is ready while it can only answer 502s: OIP ModelReady, GET /models name why.
  assert.equal((await fetch(`${server.url}/v2/models/forecast/ready`)).status, 400);
  const status = await call(`${server.url}/models/forecast`);
  assert.equal((status.body as { state: string }).state, 'unavailable', status.text);
  assert.match((status.body as { versions: Array<{ reason: string }> }).versions[0]!.reason, message);
  assert.equal((await fetch(`${server.url}/v2/models/weather/ready`)).status, 200);

  await load('forecast');
  assert.equal((await fetch(`${server.url}/v2/models/forecast/ready`)).status, 200);
  const reloaded = await call(`${server.url}/models/forecast/predict`, { body: WEATHER_ROW });
  assert.equal(reloaded.status, 200, reloaded.text);
  assert.deepEqual(Object.keys(reloaded.body as object).sort(), ['chance_of_rain', 'prediction']);
});

// Readiness keeps its answer per step until the step's model is another loaded version: a reload
// that takes the field away and one that gives it back are each seen, without reloading the pipeline.
test("a step's model reloaded with the field back: the pipeline is ready again without its own reload", async () => {
  // The pipeline, reloaded by the test above, reads chance_of_rain.
  const renamed = original.replace(/^ {2}rain_probability:$/m, '  chance_of_rain:');
  assert.equal((await fetch(`${server.url}/v2/models/forecast/ready`)).status, 200);
  writeFileSync(join(repo, 'weather', 'model.yaml'), original);
  await load('weather');
  assert.equal((await fetch(`${server.url}/v2/models/forecast/ready`)).status, 400);
  assert.equal(((await call(`${server.url}/models/forecast`)).body as { state: string }).state, 'unavailable');

  writeFileSync(join(repo, 'weather', 'model.yaml'), renamed);
  await load('weather');
  assert.equal((await fetch(`${server.url}/v2/models/forecast/ready`)).status, 200);
  const status = await call(`${server.url}/models/forecast`);
  assert.equal((status.body as { state: string }).state, 'ready', status.text);
  const res = await call(`${server.url}/models/forecast/predict`, { body: WEATHER_ROW });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(Object.keys(res.body as object).sort(), ['chance_of_rain', 'prediction']);
});

// Under --watch the repository on disk is what serves: a pipeline follows its steps' models' files as it follows its own.
test("under --watch, a step's model edited: its pipelines (a nested one too) are derived again and serve its new outputs, without a reload of their own", async () => {
  const watched = newRepo();
  writeConfig(watched, 'weather', original);
  copyFileSync(join(EXAMPLES, 'weather', 'model.onnx'), join(watched, 'weather', 'model.onnx'));
  writeConfig(watched, 'forecast', 'pipeline:\n  sequence:\n    - name: classify\n      model: weather\n');
  writeConfig(watched, 'outer', 'pipeline:\n  sequence:\n    - model: forecast\n');
  const watching = await startServer({ repo: watched, port: 0, grpcPort: 0, workers: 0, logger: false, watch: { pollMs: 100, debounceMs: 50, settleMs: 200 } });
  try {
    const keys = async (name: string) => {
      const res = await call(`${watching.url}/models/${name}/predict`, { body: WEATHER_ROW });
      return res.status === 200 ? Object.keys(res.body as object).sort().join() : res.text;
    };
    writeFileSync(join(watched, 'weather', 'model.yaml'), original.replace(/^ {2}rain_probability:$/m, '  chance_of_rain:'));
    for (const name of ['forecast', 'outer']) {
      const deadline = Date.now() + 20_000;
      // It answered 502 "the model changed since the pipeline loaded: reload the pipeline" for good.
      while ((await keys(name)) !== 'chance_of_rain,prediction') {
        assert.ok(Date.now() < deadline, `${name} still answers: ${await keys(name)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal((await fetch(`${watching.url}/v2/models/${name}/ready`)).status, 200);
    }
    const doc = (await call(`${watching.url}/openapi.json`)).body as { components: { schemas: object } };
    assert.ok(JSON.stringify(doc.components.schemas).includes('chance_of_rain'), 'the docs follow the derived pipelines');

    // A change that breaks the pipeline is its failure, shown on it (once), while what it loaded before stays.
    writeConfig(watched, 'forecast', 'pipeline:\n  sequence:\n    - name: classify\n      model: weather\n  outputs: { p: chance_of_rain }\n');
    const deadline = Date.now() + 20_000;
    while ((await keys('outer')) !== 'p') {
      assert.ok(Date.now() < deadline, `outer still answers: ${await keys('outer')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    writeFileSync(join(watched, 'weather', 'model.yaml'), original);
    const failed = async () => ((await call(`${watching.url}/models/forecast`)).body as { versions: Array<{ reason?: string }> }).versions[0]?.reason ?? '';
    const until = Date.now() + 20_000;
    while (!/reload failed/.test(await failed())) {
      assert.ok(Date.now() < until, `forecast: ${await failed()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(await failed(), /forecast\/model\.yaml: pipeline\.outputs\.p: .*chance_of_rain/);
  } finally {
    await watching.shutdown();
  }
});

// The step's new version took traffic at once, the pipeline was derived again only when the whole scan pass had loaded
// everything it found (here another model arriving with it): meanwhile its requests answered 502 "the model changed
// since the pipeline loaded".
test("under --watch, a step's model edited while the pipeline takes requests: each answers with the old outputs or the new, never a 502", async () => {
  const watched = newRepo();
  writeConfig(watched, 'weather', original);
  copyFileSync(join(EXAMPLES, 'weather', 'model.onnx'), join(watched, 'weather', 'model.onnx'));
  writeConfig(watched, 'forecast', 'pipeline:\n  sequence:\n    - name: classify\n      model: weather\n');
  const watching = await startServer({ repo: watched, port: 0, grpcPort: 0, workers: 1, logger: false, watch: { pollMs: 100, debounceMs: 50, settleMs: 200 } });
  const answers = new Map<string, number>();
  let done = false;
  const client = async () => {
    while (!done) {
      const res = await call(`${watching.url}/models/forecast/predict`, { body: WEATHER_ROW });
      const said = res.status === 200 ? Object.keys(res.body as object).sort().join() : `${res.status} ${(res.body as { detail: string }).detail}`;
      answers.set(said, (answers.get(said) ?? 0) + 1);
    }
  };
  const clients = [client(), client(), client(), client()];
  try {
    const renamed = original.replace(/^ {2}rain_probability:$/m, '  chance_of_rain:');
    // Two models change in one pass (a deploy): the other, a new model from the XGBoost example, loads alongside.
    const arriving = join(watched, '.arriving');
    mkdirSync(arriving);
    for (const file of ['model.yaml', 'model.json']) copyFileSync(join(EXAMPLES, 'rain-xgboost', file), join(arriving, file));
    writeFileSync(join(watched, 'weather', 'model.yaml'), renamed);
    renameSync(arriving, join(watched, 'rain-xgboost'));
    const deadline = Date.now() + 20_000;
    while (!answers.has('chance_of_rain,prediction') || (await call(`${watching.url}/models/rain-xgboost`)).status !== 200) {
      assert.ok(Date.now() < deadline, `answers: ${JSON.stringify([...answers])}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    done = true;
    await Promise.all(clients);
    await watching.shutdown();
  }
  assert.deepEqual([...answers.keys()].sort(), ['chance_of_rain,prediction', 'prediction,rain_probability'], JSON.stringify([...answers]));
});

// A request already past a sequence's first step when --watch swaps a later step's model: it reached the new model
// through the pipeline derived from the old one, and answered 502 "the model changed since the pipeline loaded" —
// for a deploy the server itself followed. It now runs again on the pipeline derived meanwhile (a step is a pure
// prediction) when that takes and answers what the old one did; else it is a 503 with Retry-After (send it again).
// The first step is a remote service that holds the request until the swap is done; steady local traffic runs across it.
test("under --watch, a request past a sequence's first step when a later step's model changes: answered by the pipeline derived again, or a 503 to send again", async () => {
  let hold: (() => void) | undefined;
  let held: Promise<void> = Promise.resolve();
  const arrived: Array<() => void> = [];
  let gateCalls = 0;
  const gate = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => {
      gateCalls++;
      for (const tell of arrived.splice(0)) tell();
      void held.then(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify((JSON.parse(body) as unknown[]).map(() => ({ seen: 1 })))));
    });
  });
  const gatePort = await new Promise<number>((resolve) => gate.listen(0, '127.0.0.1', () => resolve((gate.address() as AddressInfo).port)));
  const watched = newRepo();
  const gb = join(EXAMPLES, 'pipelines', 'weather-gb');
  const gbConfig = readFileSync(join(gb, 'model.yaml'), 'utf8');
  writeConfig(watched, 'weather-gb', gbConfig);
  copyFileSync(join(gb, 'model.onnx'), join(watched, 'weather-gb', 'model.onnx'));
  writeConfig(watched, 'weather', original);
  copyFileSync(join(EXAMPLES, 'weather', 'model.onnx'), join(watched, 'weather', 'model.onnx'));
  const gateStep = `    - name: gate\n      remote: { url: "http://127.0.0.1:${gatePort}/", protocol: json, retries: 0, fields: { temp_c: { type: number } }, outputs: { seen: number } }\n`;
  // Its answer is the second step's prediction alone: the same fields before and after the change.
  writeConfig(watched, 'gated', `pipeline:\n  sequence:\n${gateStep}    - name: classify\n      model: weather-gb\n  outputs: [prediction]\n`);
  // Its answer is the second step's whole answer: it changes with it.
  writeConfig(watched, 'gated-all', `pipeline:\n  sequence:\n${gateStep}    - name: classify\n      model: weather-gb\n`);
  writeConfig(watched, 'local', 'pipeline:\n  sequence:\n    - name: first\n      model: weather\n    - name: second\n      model: weather-gb\n  outputs: [prediction]\n');
  const watching = await startServer({ repo: watched, port: 0, grpcPort: 0, workers: 1, logger: false, watch: { pollMs: 100, debounceMs: 50, settleMs: 200 } });
  const steady = new Map<string, number>();
  let done = false;
  const client = async () => {
    while (!done) {
      const res = await call(`${watching.url}/models/local/predict`, { body: WEATHER_ROW });
      const said = res.status === 200 ? Object.keys(res.body as object).sort().join() : `${res.status} ${(res.body as { detail: string }).detail}`;
      steady.set(said, (steady.get(said) ?? 0) + 1);
    }
  };
  const clients = [client(), client(), client()];
  try {
    held = new Promise<void>((resolve) => (hold = resolve));
    const inGate = new Promise<void>((resolve) => arrived.push(resolve));
    const pending = ['gated', 'gated-all'].map((name) => call(`${watching.url}/models/${name}/predict`, { body: WEATHER_ROW }));
    await inGate;
    while (gateCalls < 2) await new Promise((r) => setTimeout(r, 20));
    writeFileSync(join(watched, 'weather-gb', 'model.yaml'), gbConfig.replace(/^ {2}rain_probability:$/m, '  chance_of_rain:'));
    const deadline = Date.now() + 20_000;
    // The pipelines are derived again in the same step as the model's new load takes traffic.
    while ((await call(`${watching.url}/models/gated-all`)).text.includes('rain_probability')) {
      assert.ok(Date.now() < deadline, 'the pipeline was not derived again');
      await new Promise((r) => setTimeout(r, 50));
    }
    hold!();
    const [gated, gatedAll] = await Promise.all(pending);
    assert.equal(gated!.status, 200, gated!.text);
    assert.deepEqual(Object.keys(gated!.body as object), ['prediction']);
    assert.equal(gatedAll!.status, 503, gatedAll!.text);
    assert.equal((gatedAll!.body as { code: string }).code, 'MS_ERR_MODEL_UNAVAILABLE');
    assert.match((gatedAll!.body as { detail: string }).detail, /^pipeline 'gated-all' version 1 was derived again from its steps' models while this request ran, and now takes or answers other fields: send it again \(step 'classify': .*answers no 'rain_probability'/);
    assert.equal(gatedAll!.headers['retry-after'], '1');
    const again = await call(`${watching.url}/models/gated-all/predict`, { body: WEATHER_ROW });
    assert.deepEqual(Object.keys(again.body as object).sort(), ['chance_of_rain', 'prediction'], again.text);
  } finally {
    hold?.();
    done = true;
    await Promise.all(clients);
    await watching.shutdown();
    gate.close();
  }
  assert.deepEqual([...steady.keys()], ['prediction'], JSON.stringify([...steady]));
});

test("a step's model reloaded without a field the pipeline does not read (outputs: selects another): the pipeline stays ready and answers", async () => {
  const picky = newRepo();
  writeConfig(picky, 'weather', original);
  copyFileSync(join(EXAMPLES, 'weather', 'model.onnx'), join(picky, 'weather', 'model.onnx'));
  writeConfig(picky, 'label-only', 'pipeline:\n  sequence:\n    - name: classify\n      model: weather\n  outputs: [prediction]\n');
  const own = await startServer({ repo: picky, port: 0, grpcPort: 0, workers: 0, logger: false });
  try {
    assert.equal((await call(`${own.url}/models/label-only/predict`, { body: WEATHER_ROW })).status, 200);
    writeFileSync(join(picky, 'weather', 'model.yaml'), original.replace(/^ {2}rain_probability:$/m, '  chance_of_rain:'));
    assert.equal((await fetch(`${own.url}/v2/repository/models/weather/load`, { method: 'POST' })).status, 200);
    // rain_probability is gone from the step's answer, but the pipeline never read it.
    assert.equal((await fetch(`${own.url}/v2/models/label-only/ready`)).status, 200);
    const res = await call(`${own.url}/models/label-only/predict`, { body: WEATHER_ROW });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.body as object), ['prediction']);
  } finally {
    await own.shutdown();
  }
});
