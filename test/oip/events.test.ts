// An Open Inference Protocol request's prediction is reported (prediction events, the dashboard)
// with its front door and request id, as a JSON predict's is: OIP REST with the X-Request-Id it
// answers (fast path and Fastify route), gRPC with its x-request-id metadata, else the request's id,
// else a generated one (as the access line's).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PredictionRecord } from '../../src/core/prediction-tap.js';
import { startServer } from '../../src/server.js';
import { BOOK_FIELDS, bookRows, tempDir, writeBookModelFolder } from '../helpers/paths.js';
import { call } from '../helpers/http.js';
import * as grpc from '@grpc/grpc-js';
import { grpcClients, rpc } from '../helpers/oip.js';

test('OIP REST and gRPC predictions are reported with their front door and request id', async () => {
  const records: PredictionRecord[] = [];
  const repo = tempDir();
  writeBookModelFolder(repo);
  const s = await startServer({ repo, port: 0, grpcPort: 'free', workers: 0 });
  // The same request on the Fastify route (the fast path off).
  const routes = await startServer({ repo, port: 0, grpcPort: 0, workers: 0, app: { fastPath: false } });
  routes.core.predictions.add((r) => records.push(r));
  const clients = grpcClients(s.grpcPort!);
  const remove = s.core.predictions.add((r) => records.push(r));
  try {
    const [row] = bookRows(1);
    const inputs = BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [1], data: [row![f]] }));
    const fast = await call(`${s.url}/v2/models/book-weather/infer`, { body: { inputs }, headers: { 'x-request-id': 'rest-1' } });
    const routed = await call(`${routes.url}/v2/models/book-weather/infer`, { body: { inputs }, headers: { 'x-request-id': 'rest-2' } });
    assert.equal(fast.status, 200, fast.text);
    assert.equal(routed.status, 200, routed.text);
    await rpc(clients.inference, 'ModelInfer', { model_name: 'book-weather', id: 'grpc-1', inputs: BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [1, 1], contents: { fp64_contents: [row![f]] } })) });
    // An id that is not plain is not reported as the request id (as an X-Request-Id is not): a generated one is.
    await rpc(clients.inference, 'ModelInfer', { model_name: 'book-weather', id: 'not plain!', inputs: BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [1, 1], contents: { fp64_contents: [row![f]] } })) });
    // The caller's x-request-id metadata comes first, as HTTP's header.
    const metadata = new grpc.Metadata();
    metadata.set('x-request-id', 'grpc-meta-1');
    await rpc(clients.inference, 'ModelInfer', { model_name: 'book-weather', id: 'grpc-2', inputs: BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [1, 1], contents: { fp64_contents: [row![f]] } })) }, metadata);
    assert.deepEqual(records.slice(0, 3).map((r) => [r.frontDoor, r.requestId]), [['http', 'rest-1'], ['http', 'rest-2'], ['grpc', 'grpc-1']]);
    assert.equal(records[3]!.frontDoor, 'grpc');
    assert.match(String(records[3]!.requestId), /^[0-9a-f-]{36}$/);
    assert.deepEqual([records[4]!.frontDoor, records[4]!.requestId], ['grpc', 'grpc-meta-1']);
    assert.equal(records.length, 5);
  } finally {
    remove();
    clients.close();
    await s.shutdown();
    await routes.shutdown();
  }
});
