// A pipeline is ready only while its local steps' models can serve: unloading a step's model
// through the repository API makes the pipeline not ready (OIP REST and gRPC ModelReady), and a
// traffic split moves its share off such a pipeline version; loading the model back restores it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/server.js';
import { EXAMPLES, tempDir } from '../helpers/paths.js';
import { grpcClients } from '../helpers/oip.js';
import { call } from '../helpers/http.js';

let server: RunningServer;
let clients: ReturnType<typeof grpcClients>;
const ROW = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };

before(async () => {
  const repo = tempDir();
  cpSync(join(EXAMPLES, 'weather'), join(repo, 'weather'), { recursive: true });
  for (const name of ['weather-gb', 'weather-ensemble']) cpSync(join(EXAMPLES, 'pipelines', name), join(repo, name), { recursive: true });
  // Two versions of one pipeline, split 50/50: version 1 is the SVM alone, version 2 the trees alone.
  const split = join(repo, 'rain');
  for (const [v, model] of [['1', 'weather'], ['2', 'weather-gb']] as const) {
    mkdirSync(join(split, v), { recursive: true });
    writeFileSync(join(split, v, 'model.yaml'), `name: rain\nversion_policy: { all: true }\ntraffic: { 1: 50, 2: 50 }\npipeline:\n  sequence:\n    - model: ${model}\n`);
  }
  server = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, logger: false });
  clients = grpcClients(server.grpcPort!);
});
after(async () => {
  clients?.close();
  await server?.shutdown();
});

const restReady = async (name: string) => (await fetch(`${server.url}/v2/models/${name}/ready`)).status;
const grpcReady = (name: string) => new Promise<boolean>((resolve, reject) => {
  (clients.inference as unknown as { ModelReady(r: unknown, cb: (e: Error | null, r?: { ready: boolean }) => void): void })
    .ModelReady({ name }, (err, res) => (err ? reject(err) : resolve(res!.ready)));
});
const repository = (name: string, action: 'load' | 'unload') => fetch(`${server.url}/v2/repository/models/${name}/${action}`, { method: 'POST' });

test("a pipeline whose step's model is unloaded is not ready, over OIP REST and gRPC; ready again once it is loaded", async () => {
  assert.equal(await restReady('weather-ensemble'), 200);
  assert.equal(await grpcReady('weather-ensemble'), true);
  assert.equal((await repository('weather-gb', 'unload')).status, 200);
  try {
    assert.equal(await restReady('weather-gb'), 400);
    assert.equal(await restReady('weather-ensemble'), 400, 'the ensemble cannot answer without weather-gb');
    // Each says why: its own state, the step it cannot do without.
    assert.equal((await call(`${server.url}/v2/models/weather-gb/ready`)).body.error, "model 'weather-gb' is not ready: unloaded by request");
    assert.equal((await call(`${server.url}/v2/models/weather-ensemble/ready`)).body.error, "model 'weather-ensemble' is not ready: its pipeline step's model 'weather-gb' cannot serve");
    assert.equal(await grpcReady('weather-ensemble'), false);
    assert.equal(await restReady('weather'), 200, 'the other member is still ready');
    const res = await call(`${server.url}/models/weather-ensemble/predict`, { body: ROW });
    assert.equal(res.status, 503, res.text);
  } finally {
    assert.equal((await repository('weather-gb', 'load')).status, 200);
  }
  assert.equal(await restReady('weather-ensemble'), 200);
  assert.equal(await grpcReady('weather-ensemble'), true);
});

test("a traffic split moves a pipeline version's share to the others while its step's model is unloaded", async () => {
  const versions = async () => {
    const seen = new Map<string, number>();
    for (let i = 0; i < 40; i++) {
      const res = await call(`${server.url}/models/rain/predict`, { body: ROW });
      assert.equal(res.status, 200, res.text);
      const v = res.headers['x-model-version'] as string;
      seen.set(v, (seen.get(v) ?? 0) + 1);
    }
    return seen;
  };
  assert.deepEqual([...(await versions()).keys()].sort(), ['1', '2'], 'both versions get a share');
  assert.equal((await repository('weather-gb', 'unload')).status, 200);
  try {
    assert.deepEqual([...(await versions()).keys()], ['1'], 'every request goes to the version that can answer');
  } finally {
    assert.equal((await repository('weather-gb', 'load')).status, 200);
  }
  assert.deepEqual([...(await versions()).keys()].sort(), ['1', '2']);
});

test('under a memory budget a step model that was evicted still counts: it loads on demand, so the pipeline stays ready and answers', async () => {
  const repo = tempDir();
  cpSync(join(EXAMPLES, 'weather'), join(repo, 'weather'), { recursive: true });
  cpSync(join(EXAMPLES, 'loan'), join(repo, 'loan'), { recursive: true });
  for (const name of ['weather-gb', 'weather-ensemble']) cpSync(join(EXAMPLES, 'pipelines', name), join(repo, name), { recursive: true });
  const budgeted = await startServer({ repo, port: 0, workers: 1, logger: false, maxLoadedModels: 2 });
  try {
    const ready = async (name: string) => (await fetch(`${budgeted.url}/v2/models/${name}/ready`)).status;
    assert.equal((await call(`${budgeted.url}/models/weather-ensemble/predict`, { body: ROW })).status, 200);
    const loanRow = JSON.parse(readFileSync(join(EXAMPLES, 'loan', 'samples', 'valid.json'), 'utf8'))[0];
    assert.equal((await call(`${budgeted.url}/models/loan/predict`, { body: loanRow })).status, 200);
    // Loading loan evicted the least recently used member (weather): not ready itself, the pipeline still is.
    assert.equal(await ready('weather'), 400);
    assert.equal(await ready('weather-ensemble'), 200);
    assert.equal((await call(`${budgeted.url}/models/weather-ensemble/predict`, { body: ROW })).status, 200);
  } finally {
    await budgeted.shutdown();
  }
});
