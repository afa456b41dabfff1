// Structured JSON logs (pino through Fastify): a request id on every line of a request (the
// caller's X-Request-Id when it is plain, echoed back), access lines that skip probes, and a
// configurable level.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/http/app.js';
import { loadRepository } from '../../src/config/load.js';
import { InProcessRuntime } from '../../src/runtime/in-process.js';
import { EXAMPLES } from '../helpers/paths.js';
import { call } from '../helpers/http.js';
import { captureLogLines, type CapturedLogLines } from '../helpers/logs.js';

const ROW = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };
type Line = Record<string, unknown> & { level: number; msg: string; reqId?: string };

async function start(level: string): Promise<{ app: FastifyInstance; url: string; lines: Line[]; until: CapturedLogLines<Line>['until'] }> {
  const { lines, stream, until } = captureLogLines<Line>();
  const app = await buildApp({ configs: loadRepository(EXAMPLES), runtime: new InProcessRuntime({ intraOpThreads: 1, interOpThreads: 1 }), logger: { level, stream } });
  app.get('/test-only/boom', async () => {
    throw new Error('boom');
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  lines.length = 0; // drop the startup lines: what follows belongs to requests
  return { app, url, lines, until };
}

describe('log level info', () => {
  let s: Awaited<ReturnType<typeof start>>;
  before(async () => {
    s = await start('info');
  });
  after(async () => {
    await s?.app.close();
  });

  test('every line is JSON with a request id; the caller\'s X-Request-Id is used and echoed', async () => {
    const res = await call(`${s.url}/predict`, { body: ROW, headers: { 'x-request-id': 'trace-abc-123' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-request-id'], 'trace-abc-123');
    await call(`${s.url}/models/nope/predict`, { body: ROW, headers: { 'x-request-id': 'trace-404' } });
    await call(`${s.url}/test-only/boom`, { headers: { 'x-request-id': 'trace-500' } });
    // Access lines are written once each response has gone out: awaited, not slept for.
    const ids = ['trace-abc-123', 'trace-404', 'trace-500'];
    await s.until((ls) => ids.every((id) => ls.some((l) => l.reqId === id && l.msg === 'request')), `access lines of ${ids.join(', ')}`);
    assert.ok(s.lines.length >= 3, JSON.stringify(s.lines));
    for (const line of s.lines) {
      assert.equal(typeof line.reqId, 'string', `line without a request id: ${JSON.stringify(line)}`);
      assert.equal(typeof line.time, 'number');
      assert.equal(typeof line.level, 'number');
    }
    const access = s.lines.find((l) => l.reqId === 'trace-abc-123' && l.msg === 'request');
    assert.ok(access, 'access line of the prediction');
    assert.equal(access.status, 200);
    assert.equal(access.method, 'POST');
    assert.equal(typeof access.ms, 'number');
    const error = s.lines.find((l) => l.reqId === 'trace-500' && l.level >= 50);
    assert.ok(error, 'the unexpected error is logged (with its stack) under the request id');
    assert.match(JSON.stringify(error.err), /boom/);
  });

  test('an unsafe or oversized X-Request-Id is replaced by a generated one', async () => {
    for (const bad of ['has spaces in it', 'x'.repeat(200), 'line\\nbreak"quote']) {
      const res = await call(`${s.url}/healthz`, { headers: { 'x-request-id': bad } });
      assert.notEqual(res.headers['x-request-id'], bad);
      assert.match(String(res.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    }
    const res = await call(`${s.url}/healthz`);
    assert.match(String(res.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  });

  test('probes and /metrics are not access-logged; other routes are', async () => {
    s.lines.length = 0;
    for (const path of ['/healthz', '/readyz', '/metrics']) await call(`${s.url}${path}`);
    // The probes were answered before /models was asked: once its line is there, theirs would be too.
    await call(`${s.url}/models`);
    await s.until((ls) => ls.some((l) => l.msg === 'request' && l.url === '/models'), 'access line of GET /models');
    assert.deepEqual(s.lines.filter((l) => l.msg === 'request').map((l) => l.url), ['/models']);
  });
});

describe('log level warn', () => {
  let s: Awaited<ReturnType<typeof start>>;
  before(async () => {
    s = await start('warn');
  });
  after(async () => {
    await s?.app.close();
  });

  test('no access lines, errors still logged with their request id', async () => {
    await call(`${s.url}/predict`, { body: ROW });
    await call(`${s.url}/test-only/boom`, { headers: { 'x-request-id': 'warn-500' } });
    // The prediction was answered before the failing request was sent: its access line, if any, comes first.
    await s.until((ls) => ls.some((l) => l.reqId === 'warn-500' && l.level >= 50), 'error line of warn-500');
    assert.deepEqual(s.lines.filter((l) => l.msg === 'request'), []);
    assert.ok(s.lines.every((l) => l.level >= 40));
  });
});

describe('log level debug', () => {
  let s: Awaited<ReturnType<typeof start>>;
  before(async () => {
    s = await start('debug');
  });
  after(async () => {
    await s?.app.close();
  });

  test('a malformed request is logged by what is wrong, never with its raw bytes (its API key, its body)', async () => {
    const { connect } = await import('node:net');
    const url = new URL(s.url);
    const key = 'k-secret-in-a-broken-request-0123';
    for (const raw of [
      `POST /predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Length: abc\r\n\r\n{"secret-body": 1}`,
      `POST /predict HTTP/1.1\r\nHost: x\r\nX-API-Key: ${key}\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`,
    ]) {
      const answer = await new Promise<string>((resolve) => {
        let text = '';
        const socket = connect(Number(url.port), url.hostname, () => socket.end(raw));
        socket.on('data', (d) => (text += d.toString()));
        socket.on('close', () => resolve(text));
        socket.on('error', () => resolve(text));
      });
      assert.match(answer, /^HTTP\/1\.1 400/);
    }
    await s.until((ls) => ls.filter((l) => l.msg === 'client error').length >= 2, 'two client error lines');
    const logged = s.lines.filter((l) => l.msg === 'client error');
    assert.equal(logged.length, 2, JSON.stringify(s.lines));
    const text = JSON.stringify(s.lines);
    for (const secret of [key, Buffer.from(key).toJSON().data.slice(0, 8).join(','), 'secret-body']) assert.ok(!text.includes(secret), `the log holds ${secret}: ${text.slice(0, 500)}`);
    assert.match(String(logged[0]!.reason), /HPE_/);
  });
});

describe('gRPC calls', () => {
  test('each call, and each request on a stream, gets an access line with its request id, RPC, model and status; probes do not', async () => {
    const { startServer } = await import('../../src/server.js');
    const { grpcClients, rpc } = await import('../helpers/oip.js');
    const { BOOK_FIELDS, bookRows, tempDir, writeBookModelFolder } = await import('../helpers/paths.js');
    const grpc = await import('@grpc/grpc-js');
    const { lines, stream, until } = captureLogLines<Line>();
    const repo = tempDir();
    writeBookModelFolder(repo);
    const server = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, logger: { level: 'info', stream } });
    const clients = grpcClients(server.grpcPort!);
    try {
      const [row] = bookRows(1);
      const request = (model: string) => ({ model_name: model, inputs: BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [1, 1], contents: { fp64_contents: [row![f]] } })) });
      lines.length = 0;
      // The caller's x-request-id is used and sent back in the response metadata.
      const metadata = new grpc.Metadata();
      metadata.set('x-request-id', 'grpc-trace-1');
      const echoed = await new Promise<unknown>((resolve, reject) => {
        const c = clients.inference.ModelInfer!(request('book-weather'), metadata, (err: Error | null) => { if (err) reject(err); });
        c.on('metadata', (m: import('@grpc/grpc-js').Metadata) => resolve(m.get('x-request-id')[0]));
      });
      assert.equal(echoed, 'grpc-trace-1');
      await assert.rejects(rpc(clients.inference, 'ModelInfer', request('no-such-model')), { code: grpc.status.NOT_FOUND });
      await rpc(clients.inference, 'ServerLive', {});
      await rpc(clients.inference, 'ServerReady', {});
      // A stream: one line per request on it, each with its own status.
      const call = (clients.inference as unknown as { ModelStreamInfer(m: import('@grpc/grpc-js').Metadata): import('@grpc/grpc-js').ClientDuplexStream<unknown, unknown> }).ModelStreamInfer(new grpc.Metadata());
      const answers: unknown[] = [];
      call.on('data', (m) => answers.push(m));
      const ended = new Promise((resolve) => call.on('end', resolve));
      call.write({ ...request('book-weather'), id: 'stream-a' });
      call.write({ ...request('other-missing'), id: 'stream-b' });
      call.end();
      await ended;
      assert.equal(answers.length, 2);
      // The probes were answered before the stream opened: their lines, if any, come before the last of these.
      await until((ls) => ls.filter((l) => l.msg === 'request').length >= 4, 'four access lines');

      const access = lines.filter((l) => l.msg === 'request');
      const shape = (l: Line) => [l.reqId, l.rpc, l.model, l.version, l.grpcStatus, typeof l.ms];
      assert.deepEqual(access.map(shape).sort((a, b) => String(a[0]).localeCompare(String(b[0]))), [
        ['grpc-trace-1', 'ModelInfer', 'book-weather', '1', 'OK', 'number'],
        ['stream-a', 'ModelStreamInfer', 'book-weather', '1', 'OK', 'number'],
        ['stream-b', 'ModelStreamInfer', 'other-missing', '', 'NOT_FOUND', 'number'],
        [access.find((l) => l.model === 'no-such-model')?.reqId, 'ModelInfer', 'no-such-model', '', 'NOT_FOUND', 'number'],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))));
      // No id given: a generated one.
      assert.match(String(access.find((l) => l.model === 'no-such-model')?.reqId), /^[0-9a-f-]{36}$/);
    } finally {
      clients.close();
      await server.shutdown();
    }
  });
});
