// connectClient's warnings against a real mosquitto: a broker it never reached is "cannot connect";
// a connection that was up and is lost (a keepalive timeout: the broker hung; a reset on the way)
// says so with its reason — it was logged as "cannot connect to the broker".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { connectClient } from '../../src/mqtt/connection.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/net.js';

interface Warning { detail: Record<string, unknown>; message: string }

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a broker never reached is "cannot connect to the broker"', async (t) => {
  const warnings: Warning[] = [];
  const port = await freePort();
  const client = connectClient({ url: `mqtt://127.0.0.1:${port}` }, {}, (detail, message) => warnings.push({ detail, message }));
  t.after(() => client.end(true));
  await until(() => warnings.length > 0, 10_000, 'a warning');
  assert.equal(warnings[0]!.message, 'mqtt: cannot connect to the broker; retrying with backoff');
  assert.match(String(warnings[0]!.detail.err), /ECONNREFUSED/);
});

test('a live connection lost to a keepalive timeout (the broker hung) is "lost the connection", with the reason; it reconnects once the broker answers', async (t) => {
  const broker = await startMosquitto();
  t.after(async () => { broker.resume(); await broker.stop(); });
  const warnings: Warning[] = [];
  const client = connectClient({ url: broker.url, keepaliveSeconds: 1, reconnectMaxMs: 250 }, {}, (detail, message) => warnings.push({ detail, message }));
  t.after(() => client.end(true));
  await new Promise((r) => client.once('connect', r));
  broker.pause();
  await until(() => warnings.length > 0, 10_000, 'a warning');
  assert.deepEqual(warnings[0], { detail: { url: broker.url, err: 'Keepalive timeout' }, message: 'mqtt: lost the connection to the broker; reconnecting with backoff' });
  broker.resume();
  await new Promise((r) => client.once('connect', r));
  assert.equal(warnings.filter((w) => w.message.startsWith('mqtt: lost')).length, 1, 'one loss, one warning');
});

test('a live connection reset on the way to the broker is "lost the connection" once, with the reason; a broker then unreachable is "cannot connect"', async (t) => {
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  // A TCP relay to the broker (a load balancer) that can reset the client's side.
  const sockets: Socket[] = [];
  const relay = createServer((socket) => {
    sockets.push(socket);
    const upstream = connect(broker.port, '127.0.0.1');
    socket.pipe(upstream).pipe(socket);
    socket.on('error', () => upstream.destroy());
    upstream.on('error', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => relay.close(() => r())));
  const port = (relay.address() as { port: number }).port;
  const warnings: Warning[] = [];
  const client = connectClient({ url: `mqtt://127.0.0.1:${port}` }, {}, (detail, message) => warnings.push({ detail, message }));
  t.after(() => client.end(true));
  await new Promise((r) => client.once('connect', r));
  relay.close(); // no new connection: the reconnects are refused
  for (const s of sockets) s.resetAndDestroy();
  await until(() => warnings.length >= 2, 10_000, 'two warnings');
  assert.deepEqual(warnings[0], { detail: { url: `mqtt://127.0.0.1:${port}`, err: 'read ECONNRESET' }, message: 'mqtt: lost the connection to the broker; reconnecting with backoff' });
  assert.equal(warnings[1]!.message, 'mqtt: cannot connect to the broker; retrying with backoff');
  assert.match(String(warnings[1]!.detail.err), /ECONNREFUSED/);
});

test('a live connection the broker closes cleanly (mosquitto stopped) is "lost the connection" once, saying the broker closed it; the refused reconnects are "cannot connect"', async (t) => {
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const warnings: Warning[] = [];
  const client = connectClient({ url: broker.url }, {}, (detail, message) => warnings.push({ detail, message }));
  t.after(() => client.end(true));
  await new Promise((r) => client.once('connect', r));
  await broker.stop();
  await until(() => warnings.length >= 2, 10_000, 'two warnings');
  assert.deepEqual(warnings[0], { detail: { url: broker.url, reason: 'the broker closed the connection' }, message: 'mqtt: lost the connection to the broker; reconnecting with backoff' });
  assert.equal(warnings[1]!.message, 'mqtt: cannot connect to the broker; retrying with backoff');
  assert.match(String(warnings[1]!.detail.err), /ECONNREFUSED/);
});

test('a connection the client ends itself (end(), or its stream ended by the caller) is not reported', async (t) => {
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const warnings: Warning[] = [];
  const client = connectClient({ url: broker.url }, {}, (detail, message) => warnings.push({ detail, message }));
  t.after(() => client.end(true));
  await new Promise((r) => client.once('connect', r));
  // The caller ends its side (as the front door's session-kept shutdown does): the broker's end answers it.
  client.stream.end();
  await new Promise((r) => client.once('connect', r));
  await client.endAsync();
  assert.deepEqual(warnings, []);
});
