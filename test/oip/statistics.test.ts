// Triton's statistics extension (GET /v2/models/{m}/stats, gRPC ModelStatistics) describes a
// model's inference whichever front door asked — the JSON API, OIP REST, gRPC, a pipeline's local
// steps — in consistent numbers: success.count successful requests holding inference_count rows,
// run in execution_count executions (batch_stats), each request's queue and compute time once. The
// load-time warm-up run is not an inference request: it is not counted and sets no last_inference.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/server.js';
import { BOOK_FIELDS, EXAMPLES, bookRows, tempDir, writeBookModelFolder } from '../helpers/paths.js';
import * as grpc from '@grpc/grpc-js';
import { fp64, grpcClients, rpc } from '../helpers/oip.js';

interface Duration { count: number; ns: number }
interface ModelStat {
  name: string;
  version: string;
  last_inference: number;
  inference_count: number;
  execution_count: number;
  inference_stats: Record<'success' | 'fail' | 'queue' | 'compute_input' | 'compute_infer' | 'compute_output' | 'cache_hit' | 'cache_miss', Duration>;
  batch_stats: Array<{ batch_size: number; compute_input: Duration; compute_infer: Duration; compute_output: Duration }>;
}

let server: RunningServer;
let clients: ReturnType<typeof grpcClients>;

before(async () => {
  // weather and weather-gb, and the weather-ensemble pipeline over them (local steps).
  server = await startServer({ repo: join(EXAMPLES, 'pipelines'), port: 0, grpcPort: 'free', workers: 1, logger: false });
  clients = grpcClients(server.grpcPort!);
});
after(async () => {
  clients?.close();
  await server?.shutdown();
});

const FIELDS = ['temp_c', 'humidity', 'wind_speed_kmph', 'wind_bearing_degree', 'visibility_km', 'pressure_millibars', 'current_weather_condition'] as const;
const row = (i: number): Record<string, number> => ({ temp_c: 8.75 + i, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: i % 2 });
const rows = (n: number, from = 0) => Array.from({ length: n }, (_, i) => row(from + i));

async function stats(name: string): Promise<ModelStat> {
  const res = await fetch(`${server.url}/v2/models/${name}/stats`);
  assert.equal(res.status, 200);
  const body = await res.json() as { model_stats: ModelStat[] };
  assert.equal(body.model_stats.length, 1);
  return body.model_stats[0]!;
}

async function predict(model: string, body: unknown): Promise<void> {
  const res = await fetch(`${server.url}/models/${model}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(res.status, 200, await res.text());
}

/** The internal consistency Triton's definitions imply (no response cache here; a pipeline executes no model of its own). */
function assertConsistent(s: ModelStat, pipeline = false): void {
  const { success, queue, compute_infer: infer } = s.inference_stats;
  assert.ok(s.inference_count >= success.count, `${s.name}: every successful request has a row (inference_count ${s.inference_count}, success ${success.count})`);
  assert.equal(s.batch_stats.reduce((n, b) => n + b.compute_infer.count, 0), s.execution_count, `${s.name}: batch_stats count the executions`);
  // compute_input and compute_output are measured for the same requests and executions as compute_infer.
  assert.equal(s.inference_stats.compute_input.count, infer.count, `${s.name}: compute_input per request`);
  assert.equal(s.inference_stats.compute_output.count, infer.count, `${s.name}: compute_output per request`);
  for (const b of s.batch_stats) assert.ok(b.compute_input.count === b.compute_infer.count && b.compute_output.count === b.compute_infer.count, `${s.name}: batch ${b.batch_size}`);
  if (!pipeline) assert.ok(s.batch_stats.reduce((n, b) => n + b.batch_size * b.compute_infer.count, 0) >= s.inference_count, `${s.name}: the executions ran at least the rows counted`);
  // Queue and compute times are the successful requests' (as Triton records them); a pipeline has neither.
  assert.equal(queue.count, pipeline ? 0 : success.count, `${s.name}: queue counted once per successful request`);
  assert.equal(infer.count, pipeline ? 0 : success.count, `${s.name}: compute counted once per successful request`);
  assert.equal(s.inference_stats.cache_hit.count, 0);
  if (success.count + s.inference_stats.fail.count === 0) assert.equal(s.last_inference, 0, `${s.name}: no request, no last_inference`);
}

test('the load-time warm-up run is not counted and sets no last_inference', async () => {
  for (const name of ['weather', 'weather-gb', 'weather-ensemble']) {
    const s = await stats(name);
    assert.equal(s.last_inference, 0, name);
    assert.equal(s.inference_count, 0, name);
    assert.equal(s.execution_count, 0, name);
    for (const [key, d] of Object.entries(s.inference_stats)) assert.deepEqual(d, { count: 0, ns: 0 }, `${name} ${key}`);
    assert.deepEqual(s.batch_stats, [], name);
  }
});

test('requests from the JSON API, OIP REST and gRPC are all counted, consistently', async () => {
  const before = await stats('weather');
  const t0 = Date.now();
  // JSON API: one row, one row, three rows.
  await predict('weather', row(0));
  await predict('weather', [row(1)]);
  await predict('weather', rows(3, 2));
  // OIP REST: two rows.
  const oip = rows(2, 5);
  const rest = await fetch(`${server.url}/v2/models/weather/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [oip.length, 1], data: oip.map((r) => r[f]) })) }) });
  assert.equal(rest.status, 200, await rest.text());
  // gRPC: four rows.
  const g = rows(4, 7);
  await rpc(clients.inference, 'ModelInfer', { model_name: 'weather', inputs: FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [g.length, 1] })), raw_input_contents: FIELDS.map((f) => Buffer.from(fp64(g.map((r) => r[f]!)))) });
  const s = await stats('weather');
  const requests = 5;
  const n = 1 + 1 + 3 + 2 + 4;
  assert.equal(s.inference_stats.success.count - before.inference_stats.success.count, requests, 'success: every front door');
  assert.equal(s.inference_stats.fail.count, before.inference_stats.fail.count);
  assert.equal(s.inference_count - before.inference_count, n, 'inference_count: the rows of the successful requests');
  const executions = s.execution_count - before.execution_count;
  assert.ok(executions >= 1 && executions <= requests, `execution_count ${executions}`);
  assert.equal(s.inference_stats.queue.count - before.inference_stats.queue.count, requests, 'queue: once per request');
  assert.equal(s.inference_stats.compute_infer.count - before.inference_stats.compute_infer.count, requests, 'compute_infer: once per request');
  assert.ok(s.inference_stats.success.ns > before.inference_stats.success.ns);
  assert.ok(s.inference_stats.compute_infer.ns > before.inference_stats.compute_infer.ns);
  // Putting the batch's inputs together and splitting its outputs take time too (they were 0 before).
  assert.ok(s.inference_stats.compute_input.ns > before.inference_stats.compute_input.ns, 'compute_input is measured');
  assert.ok(s.inference_stats.compute_output.ns > before.inference_stats.compute_output.ns, 'compute_output is measured');
  assert.ok(s.last_inference >= t0 && s.last_inference <= Date.now(), `last_inference ${s.last_inference} is ms since the epoch, of this test`);
  assertConsistent(s);
  // gRPC ModelStatistics answers the same numbers.
  const viaGrpc = await rpc<{ model_stats: Array<{ inference_count: string; execution_count: string; inference_stats: { success: { count: string } } }> }>(clients.inference, 'ModelStatistics', { name: 'weather' });
  assert.equal(Number(viaGrpc.model_stats[0]!.inference_count), s.inference_count);
  assert.equal(Number(viaGrpc.model_stats[0]!.execution_count), s.execution_count);
  assert.equal(Number(viaGrpc.model_stats[0]!.inference_stats.success.count), s.inference_stats.success.count);
});

test('a pipeline request is counted on the pipeline, and its local steps on their models', async () => {
  const before = { pipeline: await stats('weather-ensemble'), weather: await stats('weather'), gb: await stats('weather-gb') };
  await predict('weather-ensemble', rows(3));
  const after = { pipeline: await stats('weather-ensemble'), weather: await stats('weather'), gb: await stats('weather-gb') };
  for (const key of ['pipeline', 'weather', 'gb'] as const) {
    assert.equal(after[key].inference_stats.success.count - before[key].inference_stats.success.count, 1, key);
    assert.equal(after[key].inference_count - before[key].inference_count, 3, key);
    assert.ok(after[key].last_inference > 0, key);
    assertConsistent(after[key], key === 'pipeline');
  }
  // The pipeline runs no model of its own: its members' executions are theirs.
  assert.equal(after.pipeline.execution_count, 0);
  assert.deepEqual(after.pipeline.batch_stats, []);
  assert.equal(after.weather.execution_count - before.weather.execution_count, 1);
});

test('a request refused for a full queue is not in the statistics, as in Triton (never queued), whichever front door met it; /metrics counts it', async () => {
  const repo = tempDir('modelserve-stats-');
  // The book's unoptimised SVM takes long enough per 256 rows that concurrent requests fill a queue of one request's rows.
  writeBookModelFolder(repo, 'optimize: false\nbatching: { max_batch_size: 256, max_queue_delay_ms: 1 }\nqueue: { max_rows: 256, timeout_ms: 60000 }\n');
  const slow = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, logger: false });
  const grpcSlow = grpcClients(slow.grpcPort!);
  try {
    const book = bookRows(256);
    const json = JSON.stringify(book);
    const oip = JSON.stringify({ inputs: BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [book.length, 1], data: book.map((r) => r[f]) })) });
    const grpcRequest = { model_name: 'book-weather', inputs: BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [book.length, 1] })), raw_input_contents: BOOK_FIELDS.map((f) => Buffer.from(fp64(book.map((r) => r[f]!)))) };
    const post = async (path: string, body: string) => (await fetch(`${slow.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).status;
    const grpcCall = () => rpc(grpcSlow.inference, 'ModelInfer', grpcRequest).then(() => 200, (err: { code: number }) => (err.code === grpc.status.RESOURCE_EXHAUSTED ? 503 : err.code));
    const answers: number[] = [];
    // Until the HTTP routes have refused some (the queue is full when they arrive): bounded rounds.
    for (let round = 0; round < 5 && !answers.some((s) => s === 503); round++) {
      answers.push(...await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 3 === 0 ? post('/models/book-weather/predict', json) : i % 3 === 1 ? post('/v2/models/book-weather/infer', oip) : grpcCall()))));
    }
    assert.deepEqual([...new Set(answers)].sort(), [200, 503], 'only answers and refusals for a full queue');
    const res = await fetch(`${slow.url}/v2/models/book-weather/stats`);
    const s = ((await res.json()) as { model_stats: ModelStat[] }).model_stats[0]!;
    assert.equal(s.inference_stats.success.count, answers.filter((x) => x === 200).length, 'success: the 200s');
    // Triton's scheduler refuses a full queue before the request is enqueued, where no statistics are taken.
    assert.equal(s.inference_stats.fail.count, 0, 'fail: no 503 (RESOURCE_EXHAUSTED over gRPC) is a failure of the model');
    assertConsistent(s);
    const metrics = await (await fetch(`${slow.url}/metrics`)).text();
    const shedCount = Number(/^modelserve_rejected_total\{model="book-weather",reason="overloaded"\} (\d+)$/m.exec(metrics)?.[1]);
    assert.equal(shedCount, answers.filter((x) => x === 503).length, '/metrics: every 503, HTTP and gRPC');
  } finally {
    grpcSlow.close();
    await slow.shutdown();
  }
});

test('the statistics belong to the loaded model: a version unloaded and loaded again starts from zero', async () => {
  const repo = tempDir('modelserve-stats-');
  writeBookModelFolder(repo);
  const own = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, logger: false });
  const grpcOwn = grpcClients(own.grpcPort!);
  try {
    const read = async () => ((await (await fetch(`${own.url}/v2/models/book-weather/stats`)).json()) as { model_stats: ModelStat[] }).model_stats;
    const predicted = await fetch(`${own.url}/models/book-weather/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(bookRows(3)) });
    assert.equal(predicted.status, 200);
    assert.equal((await read())[0]!.inference_count, 3);
    assert.equal((await fetch(`${own.url}/v2/repository/models/book-weather/unload`, { method: 'POST' })).status, 200);
    assert.deepEqual(await read(), [], 'an unloaded model has no statistics');
    assert.equal((await fetch(`${own.url}/v2/repository/models/book-weather/load`, { method: 'POST' })).status, 200);
    const [s] = await read();
    assert.equal(s!.last_inference, 0);
    assert.equal(s!.inference_count, 0);
    assert.equal(s!.execution_count, 0);
    for (const [key, d] of Object.entries(s!.inference_stats)) assert.deepEqual(d, { count: 0, ns: 0 }, key);
    assert.deepEqual(s!.batch_stats, []);
    const viaGrpc = await rpc<{ model_stats: Array<{ inference_count: string; inference_stats: { success: { count: string } } }> }>(grpcOwn.inference, 'ModelStatistics', { name: 'book-weather' });
    assert.equal(Number(viaGrpc.model_stats[0]!.inference_count), 0);
    assert.equal(Number(viaGrpc.model_stats[0]!.inference_stats.success.count), 0);
  } finally {
    grpcOwn.close();
    await own.shutdown();
  }
});
