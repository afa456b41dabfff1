// Triton's streaming inference over gRPC (ModelStreamInfer), with a @grpc/grpc-js client built from
// the project's .proto: many requests on one stream, each answered by its own message (matched by
// id) exactly as ModelInfer answers it; an error answers its request in error_message and the
// stream goes on; a client that does not read holds the server back (flow control) instead of
// piling answers up in it; the API key is checked when the stream opens; requests on one stream
// share a batch; an answer past the message size limit answers its request with an error; on
// drain, a stream's answers in flight are written and then it ends with status OK.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import type { BatchInfo } from '../../src/batching/batcher.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { BOOK_FIELDS, bookRows, tempDir, writeBookModelFolder } from '../helpers/paths.js';
import { fp64, grpcClients, grpcFrame, grpcMessageReader, rpc, type GrpcClient } from '../helpers/oip.js';
import { HeldRuntime } from '../helpers/held-runtime.js';

const KEY = 'stream-key-0123456789abcdef';
const rows = bookRows(6);
const auth = () => {
  const m = new grpc.Metadata();
  m.set('authorization', `Bearer ${KEY}`);
  return m;
};
const typedInputs = (rs: typeof rows) => BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [rs.length, 1], contents: { fp64_contents: rs.map((r) => r[f]!) } }));
const rawRequest = (id: string, rs: typeof rows) => ({
  model_name: 'book-weather',
  id,
  inputs: BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [rs.length] })),
  raw_input_contents: BOOK_FIELDS.map((f) => Buffer.from(fp64(rs.map((r) => r[f]!)))),
});

interface StreamAnswer { error_message: string; infer_response: { id: string; outputs: Array<{ name: string; contents?: { bytes_contents: Buffer[] } }>; raw_output_contents: Buffer[] } | null }
interface StreamResult { answers: StreamAnswer[]; status: grpc.StatusObject | grpc.ServiceError }

/** Opens a stream, writes `requests` (ending the client's side unless `keepOpen`), collects every answer and the final status. */
function stream(client: GrpcClient, requests: unknown[], metadata = new grpc.Metadata(), keepOpen = false): { result: Promise<StreamResult>; call: grpc.ClientDuplexStream<unknown, StreamAnswer> } {
  const call = (client as unknown as { ModelStreamInfer(m: grpc.Metadata): grpc.ClientDuplexStream<unknown, StreamAnswer> }).ModelStreamInfer(metadata);
  const answers: StreamAnswer[] = [];
  const result = new Promise<StreamResult>((resolve) => {
    call.on('data', (a: StreamAnswer) => answers.push(a));
    call.on('status', (status) => resolve({ answers, status }));
    call.on('error', () => { /* the status event carries it */ });
  });
  for (const r of requests) call.write(r);
  if (!keepOpen) call.end();
  return { result, call };
}

let server: RunningServer;
let clients: ReturnType<typeof grpcClients>;
before(async () => {
  const repo = tempDir();
  writeBookModelFolder(repo);
  server = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, app: { auth: { keys: [KEY] } } });
  clients = grpcClients(server.grpcPort!);
});
after(async () => {
  clients?.close();
  await server?.shutdown();
});

test('many requests on one stream, each answered as ModelInfer answers it; an error answers its own request and the stream goes on', async () => {
  const requests = [
    { model_name: 'book-weather', id: 'typed', inputs: typedInputs(rows.slice(0, 2)) },
    rawRequest('raw', rows.slice(2, 5)),
    { model_name: 'book-weather', id: 'bad', inputs: [...typedInputs(rows.slice(0, 1)), { name: 'colour', datatype: 'FP64', shape: [1], contents: { fp64_contents: [1] } }] },
    { model_name: 'nope', id: 'unknown-model', inputs: typedInputs(rows.slice(0, 1)) },
    rawRequest('after-errors', rows.slice(5, 6)),
  ];
  const { result } = stream(clients.inference, requests, auth());
  const { answers, status } = await result;
  assert.equal(status.code, grpc.status.OK, status.details);
  assert.equal(answers.length, requests.length);
  const byId = new Map(answers.filter((a) => a.infer_response).map((a) => [a.infer_response!.id, a]));
  const errors = answers.filter((a) => a.error_message !== '').map((a) => a.error_message).sort();
  assert.equal(errors.length, 2, JSON.stringify(errors));
  assert.match(errors[0]!, /model 'nope' not found/);
  assert.match(errors[1]!, /unknown input 'colour'/);
  // Each error names its request (id and model), as Triton's do.
  assert.match(byId.get('unknown-model')?.error_message ?? '', /model 'nope' not found/);
  assert.equal((byId.get('unknown-model')?.infer_response as { model_name?: string } | undefined)?.model_name, 'nope');
  assert.match(byId.get('bad')?.error_message ?? '', /unknown input 'colour'/);
  for (const request of [requests[0], requests[1], requests[4]]) {
    const unary = await rpc<NonNullable<StreamAnswer['infer_response']>>(clients.inference, 'ModelInfer', request, auth());
    const streamed = byId.get((request as { id: string }).id);
    assert.ok(streamed, (request as { id: string }).id);
    assert.equal(streamed.error_message, '');
    assert.deepEqual(streamed.infer_response, unary);
  }
});

test('a client that sends without reading is held back: the server stops reading once its answers fill the buffer, then answers everything when the client reads', { timeout: 60_000 }, async () => {
  // What the server answers before holding back is its buffers (about 1,100–1,600 answers here, more on a loaded
  // machine, where it reads one more socket chunk of ~225 requests before pausing), not N: N is far above that.
  const N = 6000;
  const method = clients.inference.ModelStreamInfer as unknown as { path: string; requestSerialize(m: unknown): Buffer };
  const frame = grpcFrame(method.requestSerialize(rawRequest('flood', rows.slice(0, 1))));
  const succeeded = async () => {
    const { model_stats } = await rpc<{ model_stats: Array<{ inference_stats: { success: { count: string } } }> }>(clients.inference, 'ModelStatistics', { name: 'book-weather' }, auth());
    return Number(model_stats[0]!.inference_stats.success.count);
  };
  const before = await succeeded();
  const session = connect(`http://127.0.0.1:${server.grpcPort}`);
  try {
    const stream = session.request({ ':method': 'POST', ':path': method.path, 'content-type': 'application/grpc', te: 'trailers', authorization: `Bearer ${KEY}` });
    stream.pause(); // reads nothing: the server's answers fill the HTTP/2 window, then its own buffer
    for (let i = 0; i < N; i++) stream.write(frame);
    stream.end();
    // Wait until the server has stopped answering (the count holds still for 0.5 s).
    let last = -1;
    for (let now = await succeeded(); now !== last; now = await succeeded()) {
      last = now;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    assert.ok(last - before < N / 2, `the server answered ${last - before} of ${N} requests to a client that reads nothing`);
    // The client reads: every request is answered, then the stream ends with status OK.
    let answers = 0;
    const status = await new Promise<string | undefined>((resolve, reject) => {
      stream.on('data', grpcMessageReader((message) => {
        assert.equal(message[0], 0x12, 'an answer with infer_response (no error_message)');
        answers++;
      }));
      stream.on('trailers', (trailers) => resolve(trailers['grpc-status'] as string | undefined));
      stream.on('error', reject);
      stream.resume();
    });
    assert.equal(status, '0');
    assert.equal(answers, N);
    assert.equal(await succeeded() - before, N);
  } finally {
    session.destroy(); // also when an assertion failed with the stream still open
  }
});

test('an answer past --grpc-max-message-size answers its own request with an error naming the size and the limit, and the stream goes on; ModelInfer answers RESOURCE_EXHAUSTED saying the same', async () => {
  const repo = tempDir();
  // 24 more FP32 outputs per row: the answer is about twice the size of the request.
  writeBookModelFolder(repo, Array.from({ length: 24 }, (_, i) => `  score_${i}:\n    from: probabilities\n    column: ${i % 2}\n`).join(''));
  const limit = 64 * 1024;
  const s = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, grpcMaxMessageSize: limit });
  const c = grpcClients(s.grpcPort!);
  try {
    const big = { model_name: 'book-weather', id: 'too-big', inputs: typedInputs(bookRows(1000)) };
    const serialize = (c.inference.ModelInfer as unknown as { requestSerialize(m: unknown): Buffer }).requestSerialize;
    assert.ok(serialize(big).byteLength < limit, 'the request itself fits in the limit');
    const tooLarge = (message: string) => {
      const m = /^the answer is (\d+) bytes, more than the gRPC message limit of (\d+) bytes \(--grpc-max-message-size\)/.exec(message);
      assert.ok(m, message);
      assert.ok(Number(m[1]) > limit, message);
      assert.equal(Number(m[2]), limit);
    };
    const { answers, status } = await stream(c.inference, [big, rawRequest('small', rows.slice(0, 2))]).result;
    assert.equal(status.code, grpc.status.OK, status.details);
    assert.equal(answers.length, 2);
    const byId = new Map(answers.map((a) => [a.infer_response!.id, a]));
    tooLarge(byId.get('too-big')!.error_message);
    assert.equal((byId.get('too-big')!.infer_response as { model_name?: string }).model_name, 'book-weather');
    assert.equal(byId.get('small')!.error_message, '');
    assert.equal(byId.get('small')!.infer_response!.raw_output_contents.length, 25);
    await assert.rejects(rpc(c.inference, 'ModelInfer', big), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED, err.details);
      tooLarge(err.details);
      return true;
    });
  } finally {
    c.close();
    await s.shutdown();
  }
});

test('the API key is checked when the stream opens', async () => {
  const missing = await stream(clients.inference, [rawRequest('x', rows.slice(0, 1))]).result;
  assert.equal(missing.status.code, grpc.status.UNAUTHENTICATED);
  assert.match(missing.status.details, /authentication required/);
  assert.equal(missing.answers.length, 0);
});

test('requests on one stream are batched together, with the other front doors', async () => {
  const batches: BatchInfo[] = [];
  const repo = tempDir();
  writeBookModelFolder(repo, 'batching:\n  max_queue_delay_ms: 1500\n');
  const s = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, app: { registry: { onBatch: () => (info) => batches.push(info) } } });
  const c = grpcClients(s.grpcPort!);
  try {
    batches.length = 0;
    const [streamed, unary] = await Promise.all([
      stream(c.inference, [rawRequest('a', rows.slice(0, 1)), rawRequest('b', rows.slice(1, 3))]).result,
      rpc(c.inference, 'ModelInfer', rawRequest('c', rows.slice(3, 4))),
    ]);
    assert.equal(streamed.status.code, grpc.status.OK);
    assert.deepEqual(streamed.answers.map((a) => a.infer_response!.id).sort(), ['a', 'b']);
    assert.equal((unary as { id: string }).id, 'c');
    assert.equal(batches.length, 1, JSON.stringify(batches));
    assert.equal(batches[0]!.requests, 3);
    assert.equal(batches[0]!.rows, 4);
  } finally {
    c.close();
    await s.shutdown();
  }
});

test('graceful drain: each open stream gets its answers in flight, then ends with status OK', { timeout: 30_000 }, async () => {
  const repo = tempDir();
  writeBookModelFolder(repo, 'batching:\n  max_queue_delay_ms: 800\n');
  const s = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, drainTimeout: 5000 });
  const c = grpcClients(s.grpcPort!);
  try {
    // Neither client ends its side. One stream is idle (its answer already came), one has a request in flight.
    const idle = stream(c.inference, [rawRequest('answered', rows.slice(0, 1))], new grpc.Metadata(), true);
    await new Promise((resolve) => idle.call.once('data', resolve));
    const busy = stream(c.inference, [rawRequest('in-flight', rows.slice(1, 2))], new grpc.Metadata(), true);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const drained = await s.shutdown();
    for (const [{ result }, id] of [[idle, 'answered'], [busy, 'in-flight']] as const) {
      const { answers, status } = await result;
      assert.equal(status.code, grpc.status.OK, `${id}: ${status.details}`);
      assert.deepEqual(answers.map((a) => a.infer_response?.id), [id]);
    }
    assert.equal(drained, true);
  } finally {
    c.close();
  }
});

test("the stream's deadline (grpc-timeout) bounds its requests: past it they answer DEADLINE_EXCEEDED, counted in modelserve_rejected_total as over HTTP", async () => {
  // The runs are held, so the deadline surely passes while the server holds both requests (one running,
  // one waiting) whatever the machine's speed; the deadline only has to outlast reading two small
  // messages. (With a 200 ms deadline and no hold, a loaded machine let it pass before the server had read one.)
  const repo = tempDir();
  writeBookModelFolder(repo, 'optimize: false\n');
  const runtime = new HeldRuntime();
  const s = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, logger: false, runtime });
  const c = grpcClients(s.grpcPort!);
  const rejected = async () => {
    const text = await (await fetch(`${s.url}/metrics`)).text();
    return Number(/^modelserve_rejected_total\{model="book-weather",reason="timeout"\} (\d+)/m.exec(text)?.[1] ?? 0);
  };
  try {
    const before = await rejected();
    runtime.hold();
    const call = (c.inference as unknown as { ModelStreamInfer(m: grpc.Metadata, o: grpc.CallOptions): grpc.ClientDuplexStream<unknown, StreamAnswer> }).ModelStreamInfer(new grpc.Metadata(), { deadline: Date.now() + 2000 });
    const answers: StreamAnswer[] = [];
    const status = new Promise<grpc.StatusObject>((resolve) => { call.on('status', resolve); call.on('error', () => undefined); call.on('data', (a: StreamAnswer) => answers.push(a)); });
    call.write(rawRequest('running', rows.slice(0, 1)));
    call.write(rawRequest('waiting', rows.slice(1, 2)));
    assert.equal((await status).code, grpc.status.DEADLINE_EXCEEDED);
    assert.deepEqual(answers, [], 'no answer came: the runs were held past the deadline');
    // The client's deadline ends the call on its side; the server refuses both requests at the same deadline.
    const until = Date.now() + 20_000;
    while ((await rejected()) < before + 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    assert.equal((await rejected()) - before, 2, 'both requests past the stream deadline were refused by the server, and counted');
  } finally {
    runtime.letGo();
    c.close();
    await s.shutdown();
  }
});

test('ModelStreamInfer streams open at once are capped over all connections (--grpc-max-streams): the next is RESOURCE_EXHAUSTED at once, naming the option, and a stream closed frees its place (idle streams were bounded only per connection, and connections are not)', { timeout: 30_000 }, async () => {
  const { parseServeOptions } = await import('../../src/cli/serve-options.js');
  assert.equal(parseServeOptions([], {}).grpcMaxStreams, 10_000);
  const repo = tempDir();
  writeBookModelFolder(repo);
  const capped = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, logger: false, grpcConnections: { maxInferStreams: 3 } });
  // Two client connections (no shared subchannel), well under their per-connection limit.
  const a = grpcClients(capped.grpcPort!, { 'grpc.use_local_subchannel_pool': 1 });
  const b = grpcClients(capped.grpcPort!, { 'grpc.use_local_subchannel_pool': 1 });
  try {
    const open: Array<ReturnType<typeof stream>> = [];
    for (const client of [a, a, b]) {
      const s = stream(client.inference, [], new grpc.Metadata(), true);
      // Answered: the server holds the stream.
      const answered = new Promise((resolve) => s.call.once('data', resolve));
      s.call.write(rawRequest(`r${open.length}`, rows.slice(0, 1)));
      await answered;
      open.push(s);
    }
    const refused = await stream(b.inference, [rawRequest('refused', rows.slice(0, 1))], new grpc.Metadata(), true).result;
    assert.equal(refused.status.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(refused.status.details, /^3 ModelStreamInfer streams are open, as many as the server keeps \(--grpc-max-streams\)/);
    assert.equal(refused.answers.length, 0);
    // One ends: a new stream is served.
    open[0]!.call.end();
    assert.equal((await open[0]!.result).status.code, grpc.status.OK);
    const next = await stream(b.inference, [rawRequest('next', rows.slice(0, 1))]).result;
    assert.equal(next.status.code, grpc.status.OK);
    assert.equal(next.answers.length, 1);
    assert.equal(next.answers[0]!.error_message, '');
    for (const s of open.slice(1)) s.call.end();
    await Promise.all(open.slice(1).map((s) => s.result));
  } finally {
    a.close();
    b.close();
    await capped.shutdown();
  }
});
