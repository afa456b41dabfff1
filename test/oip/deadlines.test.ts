// One deadline rule on every front door: the sooner of the caller's deadline and the model's own
// queue.timeout_ms. OIP REST reads x-modelserve-timeout-ms as the JSON routes do; a gRPC client's
// deadline can shorten a request's wait but not lengthen it past the model's own limit. Triton's `timeout`
// request parameter (microseconds) is one more caller's deadline, over REST and gRPC alike. A full
// queue is refused alike too, with its retry hint on each door (Retry-After; gRPC's trailers).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { startServer, type RunningServer } from '../../src/server.js';
import { BOOK_FIELDS, bookRows, tempDir, writeBookModelFolder } from '../helpers/paths.js';
import { fp64, grpcClients } from '../helpers/oip.js';
import { call } from '../helpers/http.js';
import { sampleSum } from '../helpers/prom.js';
import { InProcessRuntime } from '../../src/runtime/in-process.js';
import type { ModelSignature, ModelSource } from '../../src/runtime/types.js';
import { writeBookVersion } from '../core/fixtures.js';
import { HeldRuntime as RunHeldRuntime } from '../helpers/held-runtime.js';

const big = bookRows(19_000);
const small = bookRows(10);
const oipBody = JSON.stringify({ inputs: BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [small.length], data: small.map((r) => r[f]) })) });

/** The SVM as shipped on one worker, runs not sliced: two large requests fill both run slots for seconds. */
async function serverWithTimeout(timeoutMs: number): Promise<RunningServer> {
  const repo = tempDir();
  writeBookModelFolder(repo, `optimize: false\nqueue: { max_rows: 1000000, timeout_ms: ${timeoutMs} }\n`);
  return startServer({ repo, port: 0, grpcPort: 'free', workers: 1, logger: false, bodyLimit: 16 * 2 ** 20, maxRunRows: 1_000_000 });
}

/** Starts two large requests and resolves once they hold both run slots. */
async function fillRunSlots(server: RunningServer): Promise<Promise<Response>[]> {
  const busy = [0, 1].map(() => fetch(`${server.url}/models/book-weather/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(big) }));
  const batcher = server.core.resolve('book-weather')!.batcher;
  const until = Date.now() + 10_000;
  while (batcher.stats().inFlightBatches < 2) {
    if (Date.now() > until) assert.fail(`the large requests never ran: ${JSON.stringify(batcher.stats())}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return busy;
}

test('OIP REST: x-modelserve-timeout-ms bounds the wait as on the JSON routes — 504 in the OIP error shape', async () => {
  const server = await serverWithTimeout(60_000);
  try {
    const busy = await fillRunSlots(server);
    const infer = (headers: Record<string, string>) => fetch(`${server.url}/v2/models/book-weather/infer`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: oipBody });
    const [hurried, patient] = await Promise.all([infer({ 'x-modelserve-timeout-ms': '200' }), infer({})]);
    assert.equal(hurried.status, 504, await hurried.clone().text());
    assert.match(((await hurried.json()) as { error: string }).error, /passed its deadline/);
    assert.equal(patient.status, 200, 'without the header the model\'s own 60 s applies');
    for (const res of await Promise.all(busy)) assert.equal(res.status, 200);
    // The statistics extension: the 504 is a failed request of the model; the JSON API's two are successes as the OIP one is.
    const s = ((await (await fetch(`${server.url}/v2/models/book-weather/stats`)).json()) as { model_stats: Array<{ inference_count: number; inference_stats: Record<string, { count: number; ns: number }> }> }).model_stats[0]!;
    assert.equal(s.inference_stats.success!.count, 3);
    assert.equal(s.inference_stats.fail!.count, 1);
    assert.ok(s.inference_stats.fail!.ns > 0);
    assert.equal(s.inference_count, 2 * big.length + small.length);
  } finally {
    await server.shutdown();
  }
});

test("gRPC: a client's deadline longer than the model's queue.timeout_ms does not extend it", async () => {
  // The run slots are taken by held runs: the request surely waits past the model's 1 s whatever the
  // machine's speed. (Slots filled by large requests raced the model's then 300 ms on a loaded machine:
  // a large request could pass it before the other had been read, so the slots never were all taken.)
  const repo = tempDir();
  writeBookModelFolder(repo, 'optimize: false\nqueue: { timeout_ms: 1000 }\n');
  const runtime = new RunHeldRuntime();
  const server = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, logger: false, runtime });
  const clients = grpcClients(server.grpcPort!);
  runtime.hold();
  try {
    const batcher = server.core.resolve('book-weather')!.batcher;
    const busy = Array.from({ length: runtime.parallelism }, () => fetch(`${server.url}/models/book-weather/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(small) }));
    const until = Date.now() + 10_000;
    while (batcher.stats().inFlightBatches < runtime.parallelism) {
      if (Date.now() > until) assert.fail(`the held requests never ran: ${JSON.stringify(batcher.stats())}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    const request = { model_name: 'book-weather', inputs: BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [small.length] })), raw_input_contents: BOOK_FIELDS.map((f) => Buffer.from(fp64(small.map((r) => r[f]!)))) };
    const err = await new Promise<grpc.ServiceError | null>((resolve) => {
      (clients.inference as unknown as { ModelInfer(r: unknown, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null) => void): void })
        .ModelInfer(request, new grpc.Metadata(), { deadline: Date.now() + 60_000 }, (e) => resolve(e));
    });
    assert.equal(err?.code, grpc.status.DEADLINE_EXCEEDED, String(err));
    assert.match(err!.details, /passed its deadline/, 'the server\'s own timeout answered, not the client\'s 60 s');
    // The held requests themselves passed the model's 1 s while running: 504, as documented.
    for (const res of await Promise.all(busy)) assert.equal(res.status, 504);
  } finally {
    runtime.letGo();
    clients.close();
    await server.shutdown();
  }
});

test("Triton's timeout parameter (microseconds) is a deadline on OIP REST and gRPC: the soonest of it, the header or the gRPC deadline wins; 0 is none", async () => {
  const server = await serverWithTimeout(60_000);
  const clients = grpcClients(server.grpcPort!);
  try {
    // 1 µs from when the request is read has passed once its tensors are decoded and validated, before
    // it is queued: a deadline already past, with a 60 s header, gRPC deadline and queue.timeout_ms beside it.
    const infer = (parameters: Record<string, unknown>, headers: Record<string, string> = {}) => fetch(`${server.url}/v2/models/book-weather/infer`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ ...(JSON.parse(oipBody) as object), parameters }),
    });
    for (const [what, res] of [['parameters.timeout', await infer({ timeout: 1 })], ['parameters.timeout sooner than the header', await infer({ timeout: 1 }, { 'x-modelserve-timeout-ms': '60000' })]] as const) {
      assert.equal(res.status, 504, `${what}: ${await res.clone().text()}`);
      assert.match(((await res.json()) as { error: string }).error, /passed its deadline/);
    }
    assert.equal((await infer({ timeout: 0 })).status, 200, 'timeout 0 is no timeout (Triton\'s default)');
    assert.equal((await infer({ timeout: 60_000_000 }, { 'x-modelserve-timeout-ms': '60000' })).status, 200);
    const request = (timeout: number) => ({ model_name: 'book-weather', inputs: BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [small.length] })), raw_input_contents: BOOK_FIELDS.map((f) => Buffer.from(fp64(small.map((r) => r[f]!)))), parameters: { timeout: { int64_param: timeout } } });
    const overGrpc = (timeout: number) => new Promise<grpc.ServiceError | null>((resolve) => {
      (clients.inference as unknown as { ModelInfer(r: unknown, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null) => void): void })
        .ModelInfer(request(timeout), new grpc.Metadata(), { deadline: Date.now() + 60_000 }, (e) => resolve(e));
    });
    const err = await overGrpc(1);
    assert.equal(err?.code, grpc.status.DEADLINE_EXCEEDED, String(err));
    assert.match(err!.details, /passed its deadline/, 'the parameter answered, not the client\'s 60 s');
    assert.equal(await overGrpc(0), null, 'timeout 0 is no timeout');
  } finally {
    clients.close();
    await server.shutdown();
  }
});

test("a full queue: RESOURCE_EXHAUSTED over gRPC with HTTP's Retry-After as trailers (retry-after, grpc-retry-pushback-ms), a pipeline's step's too", async () => {
  const repo = tempDir();
  writeBookModelFolder(repo, 'optimize: false\nqueue: { max_rows: 5, timeout_ms: 60000 }\n');
  mkdirSync(join(repo, 'pipe'));
  writeFileSync(join(repo, 'pipe', 'model.yaml'), 'name: pipe\npipeline:\n  sequence:\n    - model: book-weather\n');
  const server = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, logger: false, bodyLimit: 16 * 2 ** 20, maxRunRows: 1_000_000 });
  const clients = grpcClients(server.grpcPort!);
  const predict = (rows: unknown[]) => fetch(`${server.url}/models/book-weather/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(rows) });
  const busy: Promise<Response>[] = [];
  try {
    // Both run slots taken one after the other (an empty queue admits any request), then the queue filled.
    const batcher = server.core.resolve('book-weather')!.batcher;
    for (const slots of [1, 2]) {
      busy.push(predict(big));
      while (batcher.stats().inFlightBatches < slots) await new Promise((r) => setTimeout(r, 5));
    }
    busy.push(predict(bookRows(5)));
    while (batcher.stats().queuedRows < 5) await new Promise((r) => setTimeout(r, 5));
    const refused = await predict(small);
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '1');
    for (const model of ['book-weather', 'pipe']) {
      const request = { model_name: model, inputs: BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [small.length] })), raw_input_contents: BOOK_FIELDS.map((f) => Buffer.from(fp64(small.map((r) => r[f]!)))) };
      const err = await new Promise<grpc.ServiceError | null>((resolve) => {
        (clients.inference as unknown as { ModelInfer(r: unknown, m: grpc.Metadata, cb: (e: grpc.ServiceError | null) => void): void }).ModelInfer(request, new grpc.Metadata(), (e) => resolve(e));
      });
      assert.equal(err?.code, grpc.status.RESOURCE_EXHAUSTED, `${model}: ${String(err)}`);
      assert.match(err!.details, /is overloaded/);
      assert.equal(err!.metadata.get('retry-after')[0], '1', `${model}: ${JSON.stringify(err!.metadata.getMap())}`);
      assert.equal(err!.metadata.get('grpc-retry-pushback-ms')[0], '1000');
    }
  } finally {
    clients.close();
    await Promise.all(busy);
    await server.shutdown();
  }
});

/** The real in-process runtime, whose loads wait, once held, until let go. */
class HeldRuntime extends InProcessRuntime {
  private held: Promise<void> | undefined;
  private release: (() => void) | undefined;
  hold(): void { this.held = new Promise((go) => { this.release = go; }); }
  letGo(): void { this.release?.(); this.held = undefined; }
  override async load(models: ModelSource[]): Promise<Record<string, ModelSignature>> {
    await this.held;
    return super.load(models);
  }
}

test('a request whose model loads on demand (memory budget) and whose deadline passes during the load counts in modelserve_rejected_total{reason="timeout"} over gRPC (ModelInfer, a stream request) as over HTTP (gRPC counted none)', async () => {
  const repo = tempDir();
  writeBookVersion(repo, 'book', 1, 'optimize: false\n');
  writeBookVersion(repo, 'other', 1, 'optimize: false\n');
  const runtime = new HeldRuntime();
  const server = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, logger: false, maxLoadedModels: 1, runtime });
  const clients = grpcClients(server.grpcPort!);
  try {
    // One model is loaded (the budget); the other loads on the first request for it, and that load is held.
    const loaded = ['book', 'other'].filter((m) => server.core.resolve(m) !== undefined);
    assert.equal(loaded.length, 1, `one model loaded: ${loaded.join(', ')}`);
    const cold = loaded[0] === 'book' ? 'other' : 'book';
    runtime.hold();
    // The load is held, so the deadlines surely pass during it; they need only outlast the requests' reading
    // (at 300 ms a loaded machine sometimes let them pass first: grpc-js answered, nothing was counted).
    const request = { model_name: cold, inputs: BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [small.length] })), raw_input_contents: BOOK_FIELDS.map((f) => Buffer.from(fp64(small.map((r) => r[f]!)))) };
    const unary = new Promise<grpc.ServiceError | null>((resolve) => {
      (clients.inference as unknown as { ModelInfer(r: unknown, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null) => void): void })
        .ModelInfer(request, new grpc.Metadata(), { deadline: Date.now() + 2000 }, (e) => resolve(e));
    });
    const streamed = new Promise<string>((resolve, reject) => {
      const s = (clients.inference as unknown as { ModelStreamInfer(m: grpc.Metadata, o: grpc.CallOptions): grpc.ClientDuplexStream<unknown, { error_message: string }> }).ModelStreamInfer(new grpc.Metadata(), { deadline: Date.now() + 2000 });
      // The client's own deadline may end the stream first: its request's answer is then never read.
      s.on('data', (m) => resolve(m.error_message));
      s.on('error', (e: grpc.ServiceError) => (e.code === grpc.status.DEADLINE_EXCEEDED ? resolve(e.details) : reject(e)));
      s.write(request);
    });
    const rest = fetch(`${server.url}/v2/models/${cold}/infer`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-modelserve-timeout-ms': '2000' }, body: oipBody });
    const err = await unary;
    assert.equal(err?.code, grpc.status.DEADLINE_EXCEEDED, String(err));
    assert.match(await streamed, /deadline|Deadline/);
    assert.equal((await rest).status, 504);
    // The client's deadline may end its calls before the server's answers: wait for the server's (their access counts).
    let metrics = '';
    const answered = (rpc: string) => sampleSum(metrics, 'modelserve_grpc_requests_total', { rpc, code: 'DEADLINE_EXCEEDED' });
    for (let tries = 0; tries < 200 && (answered('ModelInfer') < 1 || answered('ModelStreamInfer') < 1); tries++) {
      if (tries > 0) await new Promise((r) => setTimeout(r, 25));
      metrics = (await call(`${server.url}/metrics`)).text;
    }
    assert.equal(answered('ModelInfer'), 1);
    assert.equal(answered('ModelStreamInfer'), 1);
    assert.equal(sampleSum(metrics, 'modelserve_rejected_total', { model: cold, reason: 'timeout' }), 3, 'HTTP\'s, ModelInfer\'s and the stream request\'s');
  } finally {
    runtime.letGo();
    clients.close();
    await server.shutdown();
  }
});
