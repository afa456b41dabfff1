// HTTP/2 "rapid reset" (CVE-2023-44487) against the gRPC interceptor that bounds a call's arrival
// (call-watch.ts): calls a client opens and resets at once must not be held for nobody. A real
// grpc-js server with the interceptor and a raw HTTP/2 client over a real socket (grpc-js clients
// never send a reset in the same write as the headers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { ArrivalBound, watchCalls } from '../../src/grpc/call-watch.js';
import { listenGrpc } from '../../src/grpc/listener.js';
import { loadProtos } from '../../src/grpc/server.js';

const MODEL_INFER = '/inference.GRPCInferenceService/ModelInfer';
const CHECK = '/grpc.health.v1.Health/Check';

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(stream, 5);
  return Buffer.concat([header, payload]);
}
// HPACK literal fields without indexing (RFC 7541 6.2.2), every length under 127.
const field = (name: string, value: string) => Buffer.concat([Buffer.from([0, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);
const headers = (path: string) => Buffer.concat([field(':method', 'POST'), field(':scheme', 'http'), field(':path', path), field(':authority', 'x'), field('content-type', 'application/grpc'), field('te', 'trailers')]);
const HEADERS = 1, RST_STREAM = 3, SETTINGS = 4, PING = 6, END_HEADERS = 4, ACK = 1, CANCEL = 8;

test('calls reset in the same write as their headers (rapid reset) are not held by the arrival bound until its sweep; a call still waiting for its message is', { timeout: 30_000 }, async () => {
  const bound = new ArrivalBound(60_000, { code: grpc.status.DEADLINE_EXCEEDED, details: 'late' });
  const watched = new Map([[MODEL_INFER, { rpc: 'ModelInfer', requestType: 'inference.ModelInferRequest' }]]);
  const server = new grpc.Server({ interceptors: [watchCalls(watched, () => undefined, bound)] });
  const { inference, health } = loadProtos();
  const service = (pkg: grpc.GrpcObject, path: string[]) => (path.reduce((o, k) => (o as grpc.GrpcObject)[k], pkg as unknown) as grpc.ServiceClientConstructor).service;
  server.addService(service(inference, ['inference', 'GRPCInferenceService']), { ModelInfer: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, {}) });
  server.addService(service(health, ['grpc', 'health', 'v1', 'Health']), { Check: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, { status: 'SERVING' }) });
  // Connections come as modelserve's own listener hands them over (listener.ts).
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const listener = await listenGrpc({ host: '127.0.0.1', port: 0, prefaceTimeoutMs: 0, inject: (socket) => injector.injectConnection(socket) });
  let socket: Socket | undefined;
  try {
    socket = connect(listener.port, '127.0.0.1');
    const s = socket;
    s.on('error', () => undefined);
    await new Promise((resolve) => s.once('connect', resolve));
    // A PING after the calls: its ACK says the server read every frame before it.
    let received = Buffer.alloc(0);
    const pinged = new Promise<void>((resolve) => s.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      for (let at = 0; at + 9 <= received.length; at += 9 + received.readUIntBE(at, 3)) {
        if (received[at + 3] === PING && (received[at + 4]! & ACK) !== 0) resolve();
      }
    }));
    const cancel = Buffer.alloc(4);
    cancel.writeUInt32BE(CANCEL, 0);
    // Stream 1: a ModelInfer whose message has not come yet, the bound's to hold.
    const parts = [Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), frame(SETTINGS, 0, 0, Buffer.alloc(0)), frame(HEADERS, END_HEADERS, 1, headers(MODEL_INFER))];
    // Then 400 calls, each reset right after its headers: ModelInfer (watched) and health Check (only bounded).
    for (let i = 0, id = 3; i < 400; i++, id += 2) parts.push(frame(HEADERS, END_HEADERS, id, headers(i % 2 === 0 ? MODEL_INFER : CHECK)), frame(RST_STREAM, 0, id, cancel));
    parts.push(frame(PING, 0, 0, Buffer.alloc(8)));
    s.write(Buffer.concat(parts));
    await pinged;
    // A cancel grpc-js does deliver comes a tick or two after its stream closed.
    for (let i = 0; i < 1000 && bound.size > 1; i++) await nextTurn();
    // Before, most of them (about 80 %) were held until the sweep, 60 to 90 s later.
    assert.equal(bound.size, 1, 'only the call still waiting for its message is held');
  } finally {
    socket?.destroy();
    listener.stop();
    listener.destroyAll();
    server.forceShutdown();
  }
});
