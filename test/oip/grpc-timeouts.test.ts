// The gRPC port against clients that never finish: a connection that never sends the HTTP/2 preface
// is closed, and a call whose request never arrives is answered, within the request timeout (HTTP's,
// the same value), as HTTP's 408; a normal client is not touched.
// Real sockets: a raw HTTP/2 client for what grpc-js clients never send, a grpc-js client for the rest.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type ClientHttp2Session } from 'node:http2';
import { connect as connectTcp, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { startServer, type RunningServer } from '../../src/server.js';
import { BOOK_FIELDS, bookRows, tempDir, writeBookModelFolder } from '../helpers/paths.js';
import { grpcClients, grpcFrame, grpcMessageReader, rpc } from '../helpers/oip.js';
import { captureLogLines } from '../helpers/logs.js';
import { sample } from '../helpers/prom.js';

// Long enough that a loaded machine sends a preface in pieces (100 ms of pauses) and prompt calls within it.
const REQUEST_TIMEOUT = 1500;
let server: RunningServer;
const { lines, stream } = captureLogLines<{ msg: string; reqId?: string; rpc?: string; grpcStatus?: string }>();

before(async () => {
  const repo = tempDir();
  writeBookModelFolder(repo);
  server = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, logger: { level: 'info', stream }, app: { requestTimeoutMs: REQUEST_TIMEOUT } });
});
after(async () => {
  await server?.shutdown();
});

const rows = bookRows(1);
const inferRequest = { model_name: 'book-weather', inputs: BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [1, 1], contents: { fp64_contents: rows.map((r) => r[f]!) } })) };

interface Ended { status: string; message: string; answers: number }

/** Opens a call on the session, writes `body` (ending it only if told) and resolves with its status and how many answers came. */
function open(session: ClientHttp2Session, path: string, id: string, body?: Buffer, end = false): { ended: Promise<Ended>; end(b: Buffer): void } {
  const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', 'x-request-id': id });
  let answers = 0;
  const ended = new Promise<Ended>((resolve, reject) => {
    req.on('data', grpcMessageReader(() => answers++));
    const done = (h: Record<string, unknown>) => resolve({ status: grpc.status[Number(h['grpc-status'])] ?? String(h['grpc-status']), message: decodeURIComponent(String(h['grpc-message'] ?? '')), answers });
    req.on('response', (h) => { if (h['grpc-status'] !== undefined) done(h); });
    req.on('trailers', done);
    req.on('error', reject);
  });
  if (body !== undefined && end) req.end(body);
  else if (body !== undefined) req.write(body);
  return { ended, end: (b) => req.end(b) };
}

test('a call whose request never arrives (headers and no message; its message but no end of body) is answered DEADLINE_EXCEEDED within the request timeout, with an access line and a count; it was held, with its connection, for good', { timeout: 30_000 }, async () => {
  const session = connect(`http://127.0.0.1:${server.grpcPort}`);
  session.on('error', () => undefined);
  const encode = (inference: unknown) => grpcFrame((inference as { ModelInfer: { requestSerialize(m: unknown): Buffer } }).ModelInfer.requestSerialize(inferRequest));
  const clients = grpcClients(server.grpcPort!);
  try {
    // A stream opened first, with no request yet: streams are not bounded (a request comes when the client has one).
    const streamCall = open(session, '/inference.GRPCInferenceService/ModelStreamInfer', 'stream-waits');
    const good = encode(clients.inference);
    const headersOnly = open(session, '/inference.GRPCInferenceService/ModelInfer', 'headers-only');
    const unended = open(session, '/inference.GRPCInferenceService/ModelInfer', 'message-no-end', good);
    const check = open(session, '/grpc.health.v1.Health/Check', 'check-headers-only');
    for (const [what, call] of [['headers only', headersOnly], ['message, body not ended', unended], ['health Check, headers only', check]] as const) {
      const ended = await call.ended;
      assert.equal(ended.status, 'DEADLINE_EXCEEDED', `${what}: ${ended.message}`);
      assert.match(ended.message, new RegExp(`the request did not arrive completely within the request timeout \\(${REQUEST_TIMEOUT} ms\\)`), what);
      assert.equal(ended.answers, 0, what);
    }
    // The stream is still served, though older than the calls just timed out.
    streamCall.end(Buffer.concat([good, good]));
    assert.deepEqual(await streamCall.ended, { status: 'OK', message: 'OK', answers: 2 });
    // Calls that send their request are answered as ever.
    const answer = await rpc<{ outputs: Array<{ name: string }> }>(clients.inference, 'ModelInfer', inferRequest);
    assert.ok(answer.outputs.length > 0);
    assert.deepEqual(await rpc(clients.health, 'Check', { service: '' }), { status: 'SERVING' });
    // Counted and logged as HTTP's 408 is (the inference calls; health calls never are).
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.equal(sample(metrics, 'modelserve_grpc_requests_total', { rpc: 'ModelInfer', code: 'DEADLINE_EXCEEDED' }), 2);
    for (const id of ['headers-only', 'message-no-end']) {
      const line = lines.find((l) => l.msg === 'request' && l.reqId === id);
      assert.equal(line?.grpcStatus, 'DEADLINE_EXCEEDED', id);
      assert.equal(line?.rpc, 'ModelInfer', id);
    }
  } finally {
    clients.close();
    session.destroy();
  }
});

/** Resolves once the server closed the socket (the test's timeout bounds the wait), with the bytes it sent. */
function closedByServer(socket: Socket): Promise<Buffer> {
  const got: Buffer[] = [];
  socket.on('data', (c: Buffer) => got.push(c));
  socket.on('error', () => undefined);
  return new Promise((resolve) => socket.on('close', () => resolve(Buffer.concat(got))));
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

test('a connection that does not send the HTTP/2 client preface within the request timeout (nothing, or a few bytes of it) is closed; it was held for good with --grpc-max-connection-idle 0, for 5 minutes by default', { timeout: 30_000 }, async () => {
  const repo = tempDir();
  writeBookModelFolder(repo);
  const own = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, grpcConnections: { maxIdleMs: 0 }, app: { requestTimeoutMs: REQUEST_TIMEOUT } });
  try {
    const silent = connectTcp(own.grpcPort!, '127.0.0.1');
    const partial = connectTcp(own.grpcPort!, '127.0.0.1');
    partial.write(PREFACE.subarray(0, 10));
    // Both listened to at once: the two close together, and a close before its listener would be missed.
    const [fromSilent, fromPartial] = await Promise.all([closedByServer(silent), closedByServer(partial)]);
    assert.equal(fromSilent.length, 0);
    assert.equal(fromPartial.length, 0);
    // A preface sent in pieces reaches grpc-js whole: it acknowledges the client's SETTINGS (a preface
    // it could not read gets GOAWAY), and then the connection serves calls.
    const pieces = connectTcp(own.grpcPort!, '127.0.0.1');
    const acked = new Promise<void>((resolve, reject) => {
      let got = Buffer.alloc(0);
      pieces.on('data', (c: Buffer) => {
        got = Buffer.concat([got, c]);
        for (let at = 0; at + 9 <= got.length; at += 9 + got.readUIntBE(at, 3)) {
          const [type, flags] = [got[at + 3], got[at + 4]];
          if (type === 7) reject(new Error('GOAWAY'));
          if (type === 4 && flags === 1) resolve();
        }
      });
      pieces.on('close', () => reject(new Error('closed')));
    });
    pieces.write(PREFACE.subarray(0, 5));
    await new Promise((r) => setTimeout(r, 50));
    pieces.write(PREFACE.subarray(5, 17));
    await new Promise((r) => setTimeout(r, 50));
    pieces.write(Buffer.concat([PREFACE.subarray(17), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])])); // the rest, and an empty SETTINGS
    await acked;
    pieces.destroy();
    const clients = grpcClients(own.grpcPort!);
    try {
      assert.deepEqual(await rpc(clients.health, 'Check', { service: '' }), { status: 'SERVING' });
      const answer = await rpc<{ outputs: unknown[] }>(clients.inference, 'ModelInfer', inferRequest);
      assert.ok(answer.outputs.length > 0);
    } finally {
      clients.close();
    }
  } finally {
    await own.shutdown();
  }
});
