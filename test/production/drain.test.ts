// shutdown() in process: queued batches finish before the workers stop; a drain that cannot finish
// in --drain-timeout reports it and still stops (bounded), rather than hanging.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { Agent, request } from 'undici';
import { startServer } from '../../src/server.js';
import { bookRows, writeBookModelFolder } from '../helpers/paths.js';
import { sample } from '../helpers/prom.js';
import { HeldRuntime } from '../helpers/held-runtime.js';

const rows = bookRows(1024);

async function fire(url: string, dispatcher: Agent, n: number, rowsPer: number) {
  return Promise.all(Array.from({ length: n }, async (_, i) => {
    try {
      const res = await request(`${url}/predict`, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json' }, body: JSON.stringify(rows.slice(i % 8, (i % 8) + rowsPer)) });
      const text = await res.body.text();
      return { status: res.statusCode, n: res.statusCode === 200 ? (JSON.parse(text) as unknown[]).length : 0 };
    } catch (err) {
      return { status: 0, n: 0, error: (err as { code?: string }).code };
    }
  }));
}

test('shutdown waits for every queued batch: all requests in the queue at the signal are answered 200', { timeout: 60_000 }, async (t) => {
  const dir = writeBookModelFolder(undefined, 'optimize: false\nbatching: { max_batch_size: 256, max_queue_delay_ms: 1 }\nqueue: { max_rows: 100000 }\n');
  const server = await startServer({ repo: dir, port: 0, workers: 1, drainTimeout: 30_000 });
  const dispatcher = new Agent({ connections: 64 });
  t.after(async () => {
    await server.shutdown();
    await dispatcher.destroy();
  });
  let read = 0;
  server.app.server.on('request', () => { read++; });
  const pending = fire(server.url, dispatcher, 40, 256);
  // Wait until the server has read every request and some are queued behind the running batch.
  const metrics = server.app.metrics!;
  let depth = 0;
  for (let i = 0; i < 400 && (depth === 0 || read < 40); i++) {
    depth = sample(await metrics.render(), 'modelserve_queue_depth', { model: 'book-weather' }) ?? 0;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.ok(depth > 0 && read === 40, `rows were queued when shutdown began (read ${read}, queued rows ${depth})`);
  const drained = await server.shutdown();
  const results = await pending;
  assert.equal(drained, true);
  assert.deepEqual(results.filter((r) => r.status !== 200), [], 'every request read before the shutdown is answered');
  assert.ok(results.every((r) => r.n === 256));
  assert.equal(server.core.resolve('book-weather')!.batcher.stats().queuedRows, 0);
});

test('a drain longer than drainTimeout: shutdown reports false and still stops promptly, without waiting for the queue', { timeout: 60_000 }, async (t) => {
  // The runs are held (real onnxruntime, let go only after the shutdown): the drain cannot finish on
  // any machine, however fast. A shutdown that waited for the queue would never resolve, and this test
  // would fail at its timeout; no clock is read (it used to assert the shutdown took under 10 s, which
  // a fast machine could meet by running the whole queue within AFTER_DRAIN_MS).
  const dir = writeBookModelFolder(undefined, 'optimize: false\nbatching: { max_batch_size: 1024, max_queue_delay_ms: 1 }\nqueue: { max_rows: 100000 }\n');
  const runtime = new HeldRuntime();
  const server = await startServer({ repo: dir, port: 0, workers: 1, drainTimeout: 1, runtime });
  const dispatcher = new Agent({ connections: 64 });
  t.after(async () => {
    runtime.letGo();
    await server.shutdown();
    await dispatcher.destroy();
  });
  runtime.hold();
  let read = 0;
  server.app.server.on('request', () => { read++; });
  const pending = fire(server.url, dispatcher, 40, 1000);
  // Requests the server has read (a request it never read is not one the drain owes an answer).
  for (let i = 0; i < 400 && read < 40; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(read, 40);
  const drained = await server.shutdown();
  // Resolved while every run is still held: the shutdown did not wait for the queue.
  assert.equal(drained, false);
  const results = await pending;
  // Cut connections show up as client errors, never as hangs (or answers: no run has finished).
  assert.deepEqual(results.filter((r) => r.status !== 0), [], 'every request was cut');
});

test('an idle server with a drain timeout of 0 or 1 ms is drained: stopping the workers is not counted as connections cut', { timeout: 60_000 }, async () => {
  for (const drainTimeout of [0, 1]) {
    const server = await startServer({ repo: writeBookModelFolder(), port: 0, workers: 1, logger: false, drainTimeout });
    const res = await request(`${server.url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(rows[0]) });
    assert.equal(res.statusCode, 200);
    await res.body.text();
    assert.equal(await server.shutdown(), true, `drainTimeout ${drainTimeout}`);
    assert.equal(server.core.state, 'closed', 'the workers stopped');
  }
});

test('a request read before the drain began and answered after it carries Connection: close, on the fast path, the Fastify route, a URL the router refuses and an unsupported Expect', { timeout: 20_000 }, async (t) => {
  // Answered keep-alive, the client would send its next request on a connection about to close.
  const dir = writeBookModelFolder(undefined, 'optimize: false\n');
  const server = await startServer({ repo: dir, port: 0, workers: 1, drainTimeout: 5000 });
  t.after(async () => { await server.shutdown(); });
  const body = JSON.stringify(rows[0]);
  // And keep-alive connections open before the drain, whose next request the router refuses, or
  // that has an Expect header other than 100-continue.
  const idle = connect(server.port, '127.0.0.1');
  const expecting = connect(server.port, '127.0.0.1');
  // One answer each first: accepted by the server (a connection still in the listen backlog is reset when the listener closes).
  await Promise.all([idle, expecting].map((s) => new Promise<void>((resolve) => {
    let text = '';
    const onData = (c: Buffer) => { text += c.toString('latin1'); if (text.endsWith('{"status":"ok"}')) { s.off('data', onData); resolve(); } };
    s.on('data', onData);
    s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  })));
  const fastServed = server.app.fastPathServed;
  const sockets = ['/predict', '/models/book-weather/versions/1/predict'].map((path) => {
    const socket = connect(server.port, '127.0.0.1');
    let received = '';
    socket.on('data', (c: Buffer) => { received += c.toString('latin1'); });
    // Headers and the first byte of the body: the request is taken, its body not complete.
    socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 1)}`);
    const answered = new Promise<string>((resolve) => socket.on('data', () => { if (/\r\n\r\n[^]*\}$/.test(received)) resolve(received); }));
    return { socket, answered };
  });
  let seen = 0;
  await new Promise<void>((resolve) => server.app.server.on('request', () => { if (++seen === 2) resolve(); }));
  assert.equal(server.app.fastPathServed, fastServed + 1, '/predict was taken by the fast path');
  const drained = server.shutdown();
  assert.equal(server.app.serviceState, 'draining');
  for (const { socket } of sockets) socket.write(body.slice(1));
  let refused = '';
  const badUrl = new Promise<string>((resolve) => idle.on('data', (c: Buffer) => { refused += c.toString('latin1'); if (/\r\n\r\n[^]*\}$/.test(refused)) resolve(refused); }));
  idle.write('GET /models/%ff HTTP/1.1\r\nHost: x\r\n\r\n');
  let expected = '';
  const expectation = new Promise<string>((resolve) => expecting.on('data', (c: Buffer) => { expected += c.toString('latin1'); if (/\r\n\r\n[^]*\}$/.test(expected)) resolve(expected); }));
  expecting.write('GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: something\r\n\r\n');
  const answers = await Promise.all([...sockets.map((s) => s.answered), badUrl, expectation]);
  for (const { socket } of sockets) socket.destroy();
  idle.destroy();
  expecting.destroy();
  for (const answer of answers) {
    assert.match(answer, /^HTTP\/1\.1 (200|400|417) /);
    assert.match(answer, /\r\nconnection: close\r\n/i, answer);
  }
  assert.equal(await drained, true);
});

test('a connection that never sent a request does not hold the shutdown: drained, and the connection is closed', { timeout: 60_000 }, async (t) => {
  // A load balancer's connection pool or a browser's preconnect opens connections before it has
  // a request for them; Node counts them as active, so the drain used to wait for its timeout.
  const dir = writeBookModelFolder(undefined, 'optimize: false\n');
  const server = await startServer({ repo: dir, port: 0, workers: 1, drainTimeout: 5000 });
  t.after(async () => { await server.shutdown(); });
  const accepted = new Promise<void>((resolve) => server.app.server.once('connection', () => resolve()));
  const unused = connect(server.port, '127.0.0.1');
  const closed = new Promise<void>((resolve) => unused.on('close', () => resolve()));
  unused.on('error', () => undefined);
  await accepted;
  assert.equal(await server.shutdown(), true, 'every accepted request answered (there were none)');
  await closed;
});

test('after a drain that timed out, a stop of the workers that has not finished does not hold the shutdown, and the events\' flush is given at most AFTER_DRAIN_MS (not its own 5 s) and ends by it', { timeout: 60_000 }, async (t) => {
  const { createServer } = await import('node:http');
  const { AFTER_DRAIN_MS } = await import('../../src/server.js');
  // A webhook that takes the events and never answers: their flush would wait its full 5 s.
  const webhook = createServer(() => undefined);
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  t.after(() => { webhook.closeAllConnections(); webhook.close(); });
  const drainTimeout = 500;
  const server = await startServer({ repo: writeBookModelFolder(), port: 0, workers: 1, logger: false, drainTimeout, streams: { events: { webhook: `http://127.0.0.1:${(webhook.address() as { port: number }).port}/` } } });
  // Lets the held workers' stop below finish, so a shutdown that waits for it (the failure) ends after the test.
  let releaseWorkersStop = () => undefined as void;
  t.after(() => { releaseWorkersStop(); return server.shutdown(); });
  const res = await request(`${server.url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(rows[0]) });
  assert.equal(res.statusCode, 200, await res.body.text());
  // A request whose body never finishes holds the drain until its timeout.
  const half = connect(server.port, '127.0.0.1');
  t.after(() => half.destroy());
  half.on('error', () => undefined);
  await new Promise<void>((resolve) => half.once('connect', resolve));
  const read = new Promise((resolve) => server.app.server.once('request', resolve));
  half.write('POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"temp_c":');
  await read;
  // Decided by what each step was given, not by a clock: the sinks' flush gets what is left of
  // AFTER_DRAIN_MS (the old code gave it its own 5 s: the shutdown took ≥ 5.5 s).
  const sinks = server.streams!.events!.sinks;
  const flushes: { timeoutMs: number | undefined; closed: Promise<void> }[] = [];
  for (const sink of sinks) {
    const close = sink.close.bind(sink);
    sink.close = (timeoutMs) => {
      const closed = close(timeoutMs);
      flushes.push({ timeoutMs, closed });
      return closed;
    };
  }
  // The workers' stop does not tell the shutdown it finished until the test ends (it stops them all
  // the same): the shutdown goes on by its own bound (stopBy) to the flush. Had it waited for the
  // stop, this test would fail at its timeout (and the after hook releases the stop).
  const stopWorkers = server.core.close.bind(server.core);
  let workersStopping = false;
  server.core.close = () => {
    workersStopping = true;
    const stopped = stopWorkers();
    return new Promise<void>((resolve) => { releaseWorkersStop = resolve; }).then(() => stopped);
  };
  const drained = await server.shutdown();
  assert.ok(workersStopping, 'the shutdown stopped the workers');
  // The drain's timer ended it: the held request was never answered.
  assert.equal(drained, false);
  assert.equal(flushes.length, sinks.length, 'every sink was flushed');
  for (const { timeoutMs } of flushes) assert.ok(timeoutMs !== undefined && timeoutMs <= AFTER_DRAIN_MS, `the events' flush was given ${timeoutMs ?? 'its default 5000'} ms, more than the ${AFTER_DRAIN_MS} ms after the drain`);
  // ... and that timer ended the flush: the event the webhook never took was dropped at shutdown, not delivered.
  await Promise.all(flushes.map((f) => f.closed));
  assert.deepEqual(sinks.map((s) => ({ delivered: s.counters().delivered, dropped: s.counters().dropped })), [{ delivered: 0, dropped: 1 }]);
});
