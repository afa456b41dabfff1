// GET /metrics after real traffic: request counts and latency by model/route/status, queue wait and
// inference time separately, batch sizes, queue depth, model load state, Node process metrics;
// one registry per app.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type RunningServer } from '../../src/server.js';
import { buildApp } from '../../src/http/app.js';
import { loadRepository } from '../../src/config/load.js';
import { InProcessRuntime } from '../../src/runtime/in-process.js';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { EXAMPLES, tempDir } from '../helpers/paths.js';
import { BOOK_ROW, writeBookVersion } from '../core/fixtures.js';
import { call } from '../helpers/http.js';
import { sample, sampleSum } from '../helpers/prom.js';
import { Registry } from 'prom-client';
import { RequestSeries } from '../../src/metrics/request-series.js';

const ROW = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };
let a: RunningServer;
let b: RunningServer;

before(async () => {
  a = await startServer({ repo: EXAMPLES, port: 0, workers: 2 });
  b = await startServer({ repo: EXAMPLES, port: 0, workers: 1 });
});
after(async () => {
  await a?.shutdown();
  await b?.shutdown();
});

async function scrape(server: RunningServer): Promise<string> {
  const res = await call(`${server.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  return res.text;
}

test('a fresh app exposes its models as loaded, ready, nothing queued, no rejections', async () => {
  const text = await scrape(b);
  for (const model of ['weather', 'loan']) {
    assert.equal(sample(text, 'modelserve_model_loaded', { model }), 1);
    assert.equal(sample(text, 'modelserve_queue_depth', { model }), 0);
    assert.equal(sample(text, 'modelserve_rejected_total', { model, reason: 'overloaded' }), 0);
    assert.equal(sample(text, 'modelserve_rejected_total', { model, reason: 'timeout' }), 0);
    // The load-time warm-up run is not a client's batch.
    assert.equal(sampleSum(text, 'modelserve_batch_size_count', { model }), 0, model);
    assert.equal(sampleSum(text, 'modelserve_inference_duration_seconds_count', { model }), 0, model);
  }
  assert.equal(sample(text, 'modelserve_ready'), 1);
  // The Node process metrics of prom-client.
  for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_active_handles_total']) {
    assert.ok(sampleSum(text, name) > 0, name);
  }
  for (const name of ['nodejs_eventloop_lag_seconds', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_version_info']) {
    assert.notEqual(sample(text, name), undefined, name);
  }
});

test('requests are counted and timed by model, route template and status', async () => {
  const before = await scrape(a);
  const n = 7;
  await Promise.all(Array.from({ length: n }, () => call(`${a.url}/predict`, { body: ROW })));
  for (let i = 0; i < 3; i++) assert.equal((await call(`${a.url}/models/weather/predict`, { body: { ...ROW, temp_c: 'hot' } })).status, 422);
  assert.equal((await call(`${a.url}/models/no-such-model/predict`, { body: ROW })).status, 404);
  const batch = await call(`${a.url}/models/weather/predict`, { body: Array.from({ length: 25 }, () => ROW) });
  assert.equal(batch.status, 200);
  const text = await scrape(a);
  const delta = (name: string, labels: Record<string, string>) => (sample(text, name, labels) ?? 0) - (sample(before, name, labels) ?? 0);

  assert.equal(delta('modelserve_requests_total', { model: 'weather', route: '/predict', status: '200' }), n);
  assert.equal(delta('modelserve_requests_total', { model: 'weather', route: '/models/:name/predict', status: '422' }), 3);
  assert.equal(delta('modelserve_requests_total', { model: 'weather', route: '/models/:name/predict', status: '200' }), 1);
  assert.equal(delta('modelserve_request_duration_seconds_count', { model: 'weather', route: '/predict', status: '200' }), n);
  assert.ok(delta('modelserve_request_duration_seconds_sum', { model: 'weather', route: '/predict', status: '200' }) > 0);
  // A client-chosen model name never becomes a label value (bounded cardinality).
  assert.equal(delta('modelserve_requests_total', { model: '', route: '/models/:name/predict', status: '404' }), 1);
  assert.ok(!text.includes('no-such-model'));
  // The scrape before this one is counted too (probe routes are counted, just not logged).
  assert.ok((sample(text, 'modelserve_requests_total', { route: '/metrics', status: '200' }) ?? 0) >= 1);

  // Queue wait per request, inference per run, rows per run: 7 + 1 successful requests (422s
  // never reach the queue), 7 + 25 rows; the batcher may have merged the 7 into fewer runs.
  assert.equal(delta('modelserve_queue_wait_seconds_count', { model: 'weather' }), n + 1);
  const runs = delta('modelserve_inference_duration_seconds_count', { model: 'weather' });
  assert.ok(runs >= 2 && runs <= n + 1, `runs ${runs}`);
  assert.equal(delta('modelserve_batch_size_count', { model: 'weather' }), runs);
  assert.equal(delta('modelserve_batch_size_sum', { model: 'weather' }), n + 25);
  assert.ok(delta('modelserve_inference_duration_seconds_sum', { model: 'weather' }) > 0);
  // Nothing for the other model.
  assert.equal(delta('modelserve_batch_size_sum', { model: 'loan' }), 0);
});

test('a method a route does not have (405) counts under that route and its model, not as unmatched', async () => {
  const before = await scrape(a);
  assert.equal((await call(`${a.url}/models/weather/predict`, { method: 'GET' })).status, 405);
  assert.equal((await call(`${a.url}/predict`, { method: 'PUT', body: ROW })).status, 405);
  assert.equal((await call(`${a.url}/v2/models/loan/infer`, { method: 'GET' })).status, 405);
  // A name that is no model stays out of the labels.
  assert.equal((await call(`${a.url}/models/not-a-model-405/predict`, { method: 'DELETE' })).status, 405);
  const text = await scrape(a);
  const delta = (labels: Record<string, string>) => (sample(text, 'modelserve_requests_total', labels) ?? 0) - (sample(before, 'modelserve_requests_total', labels) ?? 0);
  assert.equal(delta({ model: 'weather', route: '/models/:name/predict', status: '405' }), 1);
  assert.equal(delta({ model: 'weather', route: '/predict', status: '405' }), 1);
  assert.equal(delta({ model: 'loan', route: '/v2/models/:name/infer', status: '405' }), 1);
  assert.equal(delta({ model: '', route: '/models/:name/predict', status: '405' }), 1);
  assert.equal(sampleSum(text, 'modelserve_requests_total', { route: 'unmatched', status: '405' }) - sampleSum(before, 'modelserve_requests_total', { route: 'unmatched', status: '405' }), 0);
  assert.ok(!text.includes('not-a-model-405'));
});

test('an Open Inference Protocol refusal counts under the version that would have served it, and says it in x-model-version, as the JSON routes do', async () => {
  const before = await scrape(a);
  const bad = { inputs: [{ name: 'no-such-input', datatype: 'FP32', shape: [1], data: [1] }] };
  // The fast path (a plain name) and Fastify's route (a versioned path) alike.
  for (const path of ['/v2/models/weather/infer', '/v2/models/weather/versions/1/infer']) {
    const res = await call(`${a.url}${path}`, { body: bad });
    assert.equal(res.status, 400, path);
    assert.equal(res.headers['x-model-version'], '1', path);
  }
  // No version for a model that has none to serve it.
  assert.equal((await call(`${a.url}/v2/models/weather/versions/9/infer`, { body: bad })).headers['x-model-version'], undefined);
  // A JSON route's 422, for comparison.
  assert.equal((await call(`${a.url}/models/weather/predict`, { body: { ...ROW, temp_c: 'hot' } })).headers['x-model-version'], '1');
  const text = await scrape(a);
  const delta = (labels: Record<string, string>) => sampleSum(text, 'modelserve_requests_total', labels) - sampleSum(before, 'modelserve_requests_total', labels);
  assert.equal(delta({ model: 'weather', version: '1', route: '/v2/models/:name/infer', status: '400' }), 1);
  assert.equal(delta({ model: 'weather', version: '1', route: '/v2/models/:name/versions/:version/infer', status: '400' }), 1);
  assert.equal(delta({ model: 'weather', version: '', route: '/v2/models/:name/versions/:version/infer' }), 1);
});

test('gRPC answers are counted by model, version, RPC and status code (a stream\'s requests one by one; a refusal under the version that would have served it), and shown among the dashboard\'s errors', async () => {
  const grpc = await import('@grpc/grpc-js');
  const { grpcClients, rpc } = await import('../helpers/oip.js');
  const { BOOK_FIELDS, bookRows, tempDir, writeBookModelFolder } = await import('../helpers/paths.js');
  const repo = tempDir();
  writeBookModelFolder(repo);
  const server = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, logger: false });
  const clients = grpcClients(server.grpcPort!);
  try {
    const [row] = bookRows(1);
    const request = (model: string) => ({ model_name: model, inputs: BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [1, 1], contents: { fp64_contents: [row![f]] } })) });
    for (let i = 0; i < 3; i++) await rpc(clients.inference, 'ModelInfer', request('book-weather'));
    await assert.rejects(rpc(clients.inference, 'ModelInfer', request('no-such-grpc-model')), { code: grpc.status.NOT_FOUND });
    await assert.rejects(rpc(clients.inference, 'ModelInfer', { ...request('book-weather'), inputs: [] }), { code: grpc.status.INVALID_ARGUMENT });
    await rpc(clients.inference, 'ServerLive', {});
    const stream = (clients.inference as unknown as { ModelStreamInfer(m: import('@grpc/grpc-js').Metadata): import('@grpc/grpc-js').ClientDuplexStream<unknown, unknown> }).ModelStreamInfer(new grpc.Metadata());
    stream.on('data', () => undefined);
    const ended = new Promise((resolve) => stream.on('end', resolve));
    for (let i = 0; i < 2; i++) stream.write(request('book-weather'));
    stream.write({ ...request('book-weather'), inputs: [] });
    stream.end();
    await ended;
    const text = await scrape(server);
    const count = (labels: Record<string, string>) => sampleSum(text, 'modelserve_grpc_requests_total', labels);
    assert.equal(count({ model: 'book-weather', version: '1', rpc: 'ModelInfer', code: 'OK' }), 3);
    assert.equal(count({ model: 'book-weather', version: '1', rpc: 'ModelInfer', code: 'INVALID_ARGUMENT' }), 1);
    // A client-chosen model name never becomes a label value.
    assert.equal(count({ model: '', rpc: 'ModelInfer', code: 'NOT_FOUND' }), 1);
    assert.ok(!text.includes('no-such-grpc-model'));
    assert.equal(count({ rpc: 'ServerLive', code: 'OK' }), 1);
    assert.equal(count({ model: 'book-weather', version: '1', rpc: 'ModelStreamInfer', code: 'OK' }), 2);
    assert.equal(count({ model: 'book-weather', version: '1', rpc: 'ModelStreamInfer', code: 'INVALID_ARGUMENT' }), 1);
    // No version served an unknown model's request.
    assert.equal(count({ version: '', rpc: 'ModelInfer', code: 'NOT_FOUND' }), 1);
    assert.equal(count({}), 3 + 1 + 1 + 1 + 3);
    assert.equal(sampleSum(text, 'modelserve_grpc_request_duration_seconds_count', { model: 'book-weather', rpc: 'ModelInfer', code: 'OK' }), 3);
    const stats = (await call(`${server.url}/dashboard/stats`)).body as { errors: Array<{ model: string; frontDoor: string; status: string; count: number }> };
    assert.deepEqual(stats.errors.filter((e) => e.frontDoor === 'grpc').map((e) => [e.model, e.status, e.count]).sort(), [['book-weather', 'INVALID_ARGUMENT', 2]]);
  } finally {
    clients.close();
    await server.shutdown();
  }
});

test('each app has its own registry', async () => {
  const beforeB = sample(await scrape(b), 'modelserve_requests_total', { model: 'weather', route: '/predict', status: '200' }) ?? 0;
  for (let i = 0; i < 4; i++) await call(`${a.url}/predict`, { body: ROW });
  const afterB = sample(await scrape(b), 'modelserve_requests_total', { model: 'weather', route: '/predict', status: '200' }) ?? 0;
  assert.equal(afterB, beforeB);
});

test('shutdown marks the models unloaded and the service not ready', async () => {
  const c = await startServer({ repo: EXAMPLES, port: 0, workers: 1 });
  const metrics = c.app.metrics!;
  assert.equal(sample(await metrics.render(), 'modelserve_model_loaded', { model: 'weather' }), 1);
  assert.equal(await c.shutdown(), true);
  const text = await metrics.render();
  assert.equal(sample(text, 'modelserve_model_loaded', { model: 'weather' }), 0);
  assert.equal(sample(text, 'modelserve_ready'), 0);
});

test('metrics: false (--no-metrics) serves no /metrics route', async () => {
  const app = await buildApp({ configs: loadRepository(EXAMPLES), runtime: new InProcessRuntime({ intraOpThreads: 1, interOpThreads: 1 }), metrics: false });
  try {
    await app.ready();
    assert.equal(app.metrics, undefined);
    assert.equal((await app.inject({ url: '/metrics' })).statusCode, 404);
    assert.equal((await app.inject({ method: 'POST', url: '/predict', payload: ROW })).statusCode, 200);
  } finally {
    await app.close();
  }
});

test('a model or a version removed from the repository loses its series; an unloaded one keeps them', async () => {
  const repo = tempDir();
  for (const name of ['unloaded', 'removed']) writeBookVersion(repo, name, 1);
  for (const v of [1, 2]) writeBookVersion(repo, 'kept', v, 'version_policy: { all: true }\n');
  const served = await startServer({ repo, port: 0, grpcPort: 0, workers: 1, logger: false });
  try {
    const predict = async (name: string, version?: number) => {
      const path = version === undefined ? `/models/${name}/predict` : `/v2/models/${name}/versions/${version}/infer`;
      const body = version === undefined ? BOOK_ROW : { inputs: Object.entries(BOOK_ROW).map(([field, value]) => ({ name: field, datatype: 'FP64', shape: [1], data: [value] })) };
      assert.equal((await call(`${served.url}${path}`, { body })).status, 200, path);
    };
    for (const name of ['kept', 'unloaded', 'removed']) await predict(name);
    await predict('kept', 1);
    const seriesOf = (text: string, labels: string) => text.split('\n').filter((l) => l.startsWith('modelserve_') && l.includes(labels));
    let text = await scrape(served);
    for (const labels of ['model="removed"', 'model="unloaded"', 'model="kept",version="1"', 'model="kept",version="2"']) assert.ok(seriesOf(text, labels).length > 0, labels);
    assert.equal((await call(`${served.url}/v2/repository/models/unloaded/unload`, { method: 'POST' })).status, 200);
    rmSync(join(repo, 'removed'), { recursive: true });
    rmSync(join(repo, 'kept', '1'), { recursive: true });
    await served.core.reconcile({});
    text = await scrape(served);
    assert.deepEqual(seriesOf(text, 'model="removed"'), [], 'a removed model');
    assert.deepEqual(seriesOf(text, 'model="kept",version="1"'), [], 'a removed version');
    assert.ok(seriesOf(text, 'modelserve_requests_total{model="unloaded",version="1"').length > 0, 'an unloaded model keeps its counts');
    assert.ok(seriesOf(text, 'modelserve_requests_total{model="kept",version="2"').length > 0, 'the version left keeps its counts');
    assert.ok(seriesOf(text, 'modelserve_model_loads_total{model="kept"').length > 0, 'the model left keeps its model-level series');
  } finally {
    await served.shutdown();
  }
});

test("a request series' last label set is not kept past forget(): the same labels observed again are counted in a series of their own", async () => {
  // RequestSeries keeps the last answer's series to skip building its key: it must not go on
  // counting into a series forget() dropped (a model removed, then added back under the same name).
  const registry = new Registry();
  const series = new RequestSeries(registry, [0.1, 1], { total: ['t_total', 'answers'], duration: ['t_seconds', 'durations'], labels: ['route', 'status'] });
  const totals = async () => ((await registry.getSingleMetric('t_total')!.get()) as { values: Array<{ labels: Record<string, string>; value: number }> }).values;
  series.observe('m', '1', '/predict', 200, 0.01);
  series.observe('m', '1', '/predict', 200, 0.01);
  series.observe('m', '1', '/predict', '200', 0.01);
  series.observe('n', '1', '/predict', 200, 0.01);
  assert.deepEqual(await totals(), [{ labels: { model: 'm', version: '1', route: '/predict', status: '200' }, value: 3 }, { labels: { model: 'n', version: '1', route: '/predict', status: '200' }, value: 1 }]);
  series.observe('m', '1', '/predict', 200, 0.01);
  series.forget((labels) => labels.model === 'm');
  series.observe('m', '1', '/predict', 200, 0.01);
  assert.deepEqual(await totals(), [{ labels: { model: 'n', version: '1', route: '/predict', status: '200' }, value: 1 }, { labels: { model: 'm', version: '1', route: '/predict', status: '200' }, value: 1 }]);
});
