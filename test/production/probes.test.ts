// Every readiness probe tells the same story: /readyz, the Open Inference Protocol's
// /v2/health/ready (KServe's readiness probe), gRPC's ServerReady and grpc.health.v1, and the
// modelserve_ready gauge — including the extra readiness of a required MQTT broker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildApp } from '../../src/http/app.js';
import { loadRepository } from '../../src/config/load.js';
import { InProcessRuntime } from '../../src/runtime/in-process.js';
import { startServer } from '../../src/server.js';
import { startGrpcServer } from '../../src/grpc/server.js';
import { InferenceStatistics } from '../../src/protocols/oip/statistics.js';
import { EXAMPLES } from '../helpers/paths.js';
import { grpcClients, rpc, watchHealth } from '../helpers/oip.js';
import { sample } from '../helpers/prom.js';

test('not ready for an extra reason (a required MQTT broker away): /readyz, /v2/health/ready and the gauge all say 503 / 0, in their error shapes', async (t) => {
  let reason: string | undefined = 'not connected to the MQTT broker';
  const app = await buildApp({ configs: loadRepository(EXAMPLES), runtime: new InProcessRuntime({ intraOpThreads: 1, interOpThreads: 1 }), readiness: () => reason });
  t.after(() => app.close());
  await app.ready();
  const readyz = await app.inject({ url: '/readyz' });
  assert.equal(readyz.statusCode, 503);
  assert.deepEqual(readyz.json(), { detail: reason, code: 'MS_ERR_NOT_READY', request_id: readyz.headers['x-request-id'] });
  const oip = await app.inject({ url: '/v2/health/ready' });
  assert.equal(oip.statusCode, 503, 'KServe\'s readiness probe must not route traffic here either');
  assert.deepEqual(oip.json(), { error: reason, code: 'MS_ERR_NOT_READY', request_id: oip.headers['x-request-id'], ready: false });
  assert.equal(sample(await app.metrics!.render(), 'modelserve_ready', {}), 0);
  reason = undefined;
  assert.equal((await app.inject({ url: '/readyz' })).statusCode, 200);
  assert.deepEqual((await app.inject({ url: '/v2/health/ready' })).json(), { ready: true });
  assert.equal(sample(await app.metrics!.render(), 'modelserve_ready', {}), 1);
});

test('shutting down: /v2/health/ready answers 503 in the /v2 error shape ({error, code, request_id}), as docs/errors.md says', async (t) => {
  const server = await startServer({ repo: EXAMPLES, port: 0, workers: 1 });
  t.after(() => server.shutdown());
  server.app.serviceState = 'draining';
  const res = await server.app.inject({ url: '/v2/health/ready' });
  assert.equal(res.statusCode, 503);
  assert.deepEqual(res.json(), { error: 'shutting down', code: 'MS_ERR_NOT_READY', request_id: res.headers['x-request-id'], ready: false });
  server.app.serviceState = 'ready';
});

test('gRPC ServerReady and grpc.health.v1 Check follow the extra readiness too', async (t) => {
  const server = await startServer({ repo: EXAMPLES, port: 0, workers: 1 });
  let reason: string | undefined = 'not connected to the MQTT broker';
  const grpc = await startGrpcServer({ core: server.core, stats: new InferenceStatistics(), port: 0, readiness: () => reason });
  const clients = grpcClients(grpc.port);
  t.after(async () => {
    clients.close();
    await grpc.drain(0);
    await server.shutdown();
  });
  assert.deepEqual(await rpc(clients.inference, 'ServerReady', {}), { ready: false });
  assert.deepEqual(await rpc(clients.health, 'Check', { service: '' }), { status: 'NOT_SERVING' });
  // A watcher hears of the change as it happens (it was told only at shutdown).
  const { statuses: watched, cancel } = watchHealth(clients.health);
  t.after(cancel);
  await until(() => watched.length === 1, 'the first status');
  reason = undefined;
  assert.deepEqual(await rpc(clients.inference, 'ServerReady', {}), { ready: true });
  assert.deepEqual(await rpc(clients.health, 'Check', { service: '' }), { status: 'SERVING' });
  await until(() => watched.length === 2, 'the watcher told of SERVING');
  reason = 'not connected to the MQTT broker';
  await until(() => watched.length === 3, 'the watcher told of NOT_SERVING');
  assert.deepEqual(watched, ['NOT_SERVING', 'SERVING', 'NOT_SERVING']);
});

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 300 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(check(), what);
}
