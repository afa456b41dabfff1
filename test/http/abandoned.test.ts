// A request whose client went away while it waited in the queue is dropped, not run — over JSON
// REST (a closed connection) and gRPC (a cancelled call): under overload, abandoned work would
// otherwise fill the runs. It shows as 499 (MS_ERR_CLIENT_GONE) in the metrics.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { startServer, type RunningServer } from '../../src/server.js';
import { BOOK_FIELDS, bookRows, tempDir, writeBookModelFolder } from '../helpers/paths.js';
import { fp64, grpcClients } from '../helpers/oip.js';
import { sampleSum } from '../helpers/prom.js';

let server: RunningServer;
let clients: ReturnType<typeof grpcClients>;

before(async () => {
  // The SVM as shipped (no optimiser) on one worker, runs not cut into slices: a large request keeps
  // the worker busy for a while, and nothing runs between its parts.
  const repo = tempDir();
  writeBookModelFolder(repo, 'optimize: false\nqueue: { max_rows: 1000000, timeout_ms: 60000 }\n');
  server = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, logger: false, bodyLimit: 16 * 2 ** 20, maxRunRows: 1_000_000 });
  clients = grpcClients(server.grpcPort!);
});
after(async () => {
  clients?.close();
  await server?.shutdown();
});

type Duration = { count: number; ns: number };
const stats = async () => ((await (await fetch(`${server.url}/v2/models/book-weather/stats`)).json()) as { model_stats: Array<{ inference_stats: Record<'success' | 'fail' | 'compute_infer', Duration> }> }).model_stats[0]!;
const rowsRun = async () => Number(((await (await fetch(`${server.url}/v2/models/book-weather/stats`)).json()) as { model_stats: Array<{ inference_count: number }> }).model_stats[0]!.inference_count);
const dashboardRequests = async () => ((await (await fetch(`${server.url}/dashboard/stats`)).json()) as { versions: Array<{ requests: number }> }).versions[0]!.requests;
const big = bookRows(19_000);
const small = bookRows(100);

/** Sends a JSON predict request on a raw socket; resolves with the socket (to close, unanswered). */
function send(body: unknown): Promise<Socket> {
  const url = new URL(server.url);
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.write(`POST /models/book-weather/predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${payload.length}\r\n\r\n`);
      socket.write(payload, () => resolve(socket));
    });
    socket.on('error', () => undefined);
  });
}

const queued = () => server.core.resolve('book-weather')!.batcher.stats();
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}: ${JSON.stringify(queued())}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('JSON REST and gRPC requests whose client left while they were queued are not run', async () => {
  const before = await rowsRun();
  // Two large requests take both of the model's run slots for a while; what comes next waits in the queue.
  const busy = [0, 1].map(() => fetch(`${server.url}/models/book-weather/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(big) }));
  await until(() => queued().inFlightBatches === 2 && queued().queuedRequests === 0, 'the large requests running');
  const calls: grpc.ClientUnaryCall[] = [];
  const cancelled = Array.from({ length: 3 }, () => new Promise<grpc.ServiceError | null>((resolve) => {
    const request = { model_name: 'book-weather', inputs: BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [small.length] })), raw_input_contents: BOOK_FIELDS.map((f) => Buffer.from(fp64(small.map((r) => r[f]!)))) };
    calls.push((clients.inference as unknown as { ModelInfer(r: unknown, cb: (e: grpc.ServiceError | null) => void): grpc.ClientUnaryCall }).ModelInfer(request, (err) => resolve(err)));
  }));
  const sockets = await Promise.all([send(small), send(small), send(small)]);
  // All six wait behind the running one; then their clients leave.
  await until(() => queued().queuedRequests === 6, 'the six requests queued');
  for (const socket of sockets) socket.destroy();
  for (const c of calls) c.cancel();
  for (const err of await Promise.all(cancelled)) assert.equal(err?.code, grpc.status.CANCELLED);
  for (const res of await Promise.all(busy)) assert.equal(res.status, 200);
  // Then the queue is served: a request from a client that stays is run and answered.
  const stays = await fetch(`${server.url}/models/book-weather/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(small) });
  assert.equal(stays.status, 200);
  assert.equal((await rowsRun()) - before, 2 * big.length + small.length, 'only the large requests and the last one ran');
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  assert.match(metrics, /modelserve_requests_total\{model="book-weather",version="1",route="\/models\/:name\/predict",status="499"\} 3/);
});

test('a client that half-closes after its request (FIN) gets no answer from Node, so the request is counted 499, not 200, on the fast path and the Fastify route alike', async () => {
  const url = new URL(server.url);
  const metric = async (route: string, status: number) => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const m = new RegExp(`^modelserve_requests_total\\{model="[^"]*",version="[^"]*",route="${route.replace(/[/:]/g, (c) => `\\${c}`)}",status="${status}"\\} (\\d+)`, 'm').exec(text);
    return Number(m?.[1] ?? 0);
  };
  const halfClose = (head: string, body = '') => new Promise<string>((resolve) => {
    let text = '';
    const socket = connect(Number(url.port), url.hostname, () => socket.end(head + body));
    socket.on('data', (d) => (text += d.toString()));
    socket.on('close', () => resolve(text));
    socket.on('error', () => resolve(text));
  });
  // A large request runs for a while: the client's FIN arrives while it runs (a run is never
  // cancelled). The predict fast path, and the Fastify route a query string takes.
  const payload = JSON.stringify(big);
  const cases: Array<[string, string, string]> = [
    ['/models/:name/predict', `POST /models/book-weather/predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${payload.length}\r\n\r\n`, payload],
    ['/models/:name/predict', `POST /models/book-weather/predict?via=fastify HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${payload.length}\r\n\r\n`, payload],
  ];
  for (const [route, head, body] of cases) {
    const [ok, gone] = [await metric(route, 200), await metric(route, 499)];
    const statsBefore = await stats();
    const servedBefore = await dashboardRequests();
    assert.equal(await halfClose(head, body), '', 'Node answers nothing on a half-closed connection');
    // Both routes run it (its body was read before the FIN), and count its undelivered answer as a 499.
    for (let waited = 0; (await metric(route, 499)) === gone && waited < 200; waited++) await new Promise((r) => setTimeout(r, 50));
    await until(() => queued().inFlightBatches === 0, 'the run to finish');
    assert.equal(await metric(route, 499), gone + 1, `${route}: ran and counted 499 (${head.includes('?') ? 'Fastify route' : 'fast path'})`);
    assert.equal(await metric(route, 200), ok, `${route}: no 200 for an answer never delivered`);
    // The statistics extension agrees: an answer no one reads is a failed request, with no compute of its own.
    const statsAfter = await stats();
    assert.equal(statsAfter.inference_stats.success.count, statsBefore.inference_stats.success.count, `${route}: no success`);
    assert.equal(statsAfter.inference_stats.fail.count - statsBefore.inference_stats.fail.count, 1, `${route}: the 499 is a fail`);
    assert.equal(statsAfter.inference_stats.compute_infer.count, statsBefore.inference_stats.compute_infer.count, `${route}: compute is counted for answered requests`);
    // And the dashboard: the 499 is among its errors (from the metrics), not a prediction served as well.
    assert.equal(await dashboardRequests(), servedBefore, `${route}: the dashboard counts no prediction for it`);
  }
});

test('a gRPC call, or a request on a stream, cancelled while its run is under way is counted and logged CANCELLED, as the statistics count it failed (it was counted OK: an answer no one got)', async () => {
  const rows = bookRows(4_000);
  const request = { model_name: 'book-weather', inputs: BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [rows.length] })), raw_input_contents: BOOK_FIELDS.map((f) => Buffer.from(fp64(rows.map((r) => r[f]!)))) };
  const count = async (rpc: string, code: string) => sampleSum(await (await fetch(`${server.url}/metrics`)).text(), 'modelserve_grpc_requests_total', { rpc, code });
  const inference = clients.inference as unknown as {
    ModelInfer(r: unknown, cb: (e: grpc.ServiceError | null) => void): grpc.ClientUnaryCall;
    ModelStreamInfer(): grpc.ClientDuplexStream<unknown, unknown>;
  };
  const start: Record<string, () => { cancel(): void; ended: Promise<unknown> }> = {
    ModelInfer: () => {
      let call!: grpc.ClientUnaryCall;
      const ended = new Promise((resolve) => { call = inference.ModelInfer(request, resolve); });
      return { cancel: () => call.cancel(), ended };
    },
    ModelStreamInfer: () => {
      const stream = inference.ModelStreamInfer();
      const ended = new Promise((resolve) => stream.on('error', resolve));
      stream.write(request);
      return { cancel: () => stream.cancel(), ended };
    },
  };
  for (const [rpc, open] of Object.entries(start)) {
    const [ok, cancelled] = [await count(rpc, 'OK'), await count(rpc, 'CANCELLED')];
    const statsBefore = await stats();
    const call = open();
    await until(() => queued().inFlightBatches === 1, `${rpc}: its run under way`);
    call.cancel();
    await call.ended;
    await until(() => queued().inFlightBatches === 0, `${rpc}: its run over`);
    for (let waited = 0; (await count(rpc, 'CANCELLED')) === cancelled && waited < 200; waited++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await count(rpc, 'CANCELLED'), cancelled + 1, `${rpc}: counted CANCELLED`);
    assert.equal(await count(rpc, 'OK'), ok, `${rpc}: no OK for an answer never delivered`);
    const statsAfter = await stats();
    assert.equal(statsAfter.inference_stats.fail.count - statsBefore.inference_stats.fail.count, 1, `${rpc}: a fail in the statistics`);
    assert.equal(statsAfter.inference_stats.success.count, statsBefore.inference_stats.success.count, `${rpc}: no success`);
  }
});

test('a client that cancels 100 calls and 20 streams in flight at once leaves nothing behind: the queue and the runs go back to 0, and each request that reached the model has one count, as in the statistics', async () => {
  const rows = bookRows(500);
  const request = { model_name: 'book-weather', inputs: BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [rows.length] })), raw_input_contents: BOOK_FIELDS.map((f) => Buffer.from(fp64(rows.map((r) => r[f]!)))) };
  const counted = async () => sampleSum(await (await fetch(`${server.url}/metrics`)).text(), 'modelserve_grpc_requests_total', { model: 'book-weather' });
  const reached = async () => { const s = (await stats()).inference_stats; return s.success.count + s.fail.count; };
  const [countedBefore, reachedBefore] = [await counted(), await reached()];
  // Its own connection, so the cancels (RST_STREAM) are this client's alone.
  const own = grpcClients(server.grpcPort!, { 'grpc.use_local_subchannel_pool': 1 });
  const inference = own.inference as unknown as {
    ModelInfer(r: unknown, cb: () => void): grpc.ClientUnaryCall;
    ModelStreamInfer(): grpc.ClientDuplexStream<unknown, unknown>;
  };
  const calls: Array<{ cancel(): void }> = Array.from({ length: 100 }, () => inference.ModelInfer(request, () => undefined));
  for (let i = 0; i < 20; i++) {
    const stream = inference.ModelStreamInfer();
    stream.on('error', () => undefined);
    stream.on('data', () => undefined);
    for (let j = 0; j < 5; j++) stream.write(request);
    calls.push(stream);
  }
  await until(() => queued().queuedRequests > 0, 'requests queued');
  for (const call of calls) call.cancel();
  own.close();
  await until(() => queued().queuedRequests === 0 && queued().queuedRows === 0 && queued().inFlightBatches === 0, 'the queue and the runs empty');
  assert.match(await (await fetch(`${server.url}/metrics`)).text(), /^modelserve_queue_depth\{model="book-weather",version="1"\} 0$/m);
  // Each request that reached the model is answered (or counted undelivered) once: its count and access line.
  for (let waited = 0; (await counted()) - countedBefore !== (await reached()) - reachedBefore && waited < 100; waited++) await new Promise((r) => setTimeout(r, 50));
  assert.equal((await counted()) - countedBefore, (await reached()) - reachedBefore);
  assert.ok((await reached()) > reachedBefore, 'some requests reached the model');
});
