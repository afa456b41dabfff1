// Structured JSON logs (pino through Fastify): a request id on every line of a request (the
// caller's X-Request-Id when it is plain, echoed back), access lines that skip probes, and a
// configurable level.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/http/app.js';
import { loadRepository } from '../../src/config/load.js';
import { InProcessRuntime } from '../../src/runtime/in-process.js';
import { EXAMPLES } from '../helpers/paths.js';
import { call } from '../helpers/http.js';

const ROW = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };
type Line = Record<string, unknown> & { level: number; msg: string; reqId?: string };

async function start(level: string): Promise<{ app: FastifyInstance; url: string; lines: Line[] }> {
  const lines: Line[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString().split('\n')) if (text.trim() !== '') lines.push(JSON.parse(text) as Line);
      done();
    },
  });
  const app = await buildApp({ configs: loadRepository(EXAMPLES), runtime: new InProcessRuntime({ intraOpThreads: 1, interOpThreads: 1 }), logger: { level, stream } });
  app.get('/test-only/boom', async () => {
    throw new Error('boom');
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  lines.length = 0; // drop the startup lines: what follows belongs to requests
  return { app, url, lines };
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
    await new Promise((r) => setTimeout(r, 50));
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
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(s.lines.filter((l) => l.msg === 'request'), []);
    await call(`${s.url}/models`);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(s.lines.filter((l) => l.msg === 'request').length, 1);
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
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(s.lines.filter((l) => l.msg === 'request'), []);
    assert.ok(s.lines.some((l) => l.reqId === 'warn-500' && l.level >= 50));
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
    await new Promise((r) => setTimeout(r, 50));
    const logged = s.lines.filter((l) => l.msg === 'client error');
    assert.equal(logged.length, 2, JSON.stringify(s.lines));
    const text = JSON.stringify(s.lines);
    for (const secret of [key, Buffer.from(key).toJSON().data.slice(0, 8).join(','), 'secret-body']) assert.ok(!text.includes(secret), `the log holds ${secret}: ${text.slice(0, 500)}`);
    assert.match(String(logged[0]!.reason), /HPE_/);
  });
});
