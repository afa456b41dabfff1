// OIP model readiness says why truthfully: a model that is not loaded (unloaded through the
// repository API) is not ready for that reason, not for the inference workers', even while no worker
// can take a run; the workers are named only for a model that is loaded; an unknown model or version
// is a 404 naming what is served. REST says why in its 400; gRPC ModelReady, which has no field for
// it, agrees on ready and on the unknown model. A real server, a real pool of one worker, whose crash
// loop (a replacement dying while it reloads) leaves it waiting out its back-off (a mocked timer).
import { after, before, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startServer, type RunningServer } from '../../src/server.js';
import { WorkerPoolRuntime } from '../../src/workers/pool.js';
import { BOOK_MODEL, tempDir, writeBookModelFolder } from '../helpers/paths.js';
import { grpcClients, rpc } from '../helpers/oip.js';
import { crashIntoBackOff, workerExits } from '../helpers/crash-loop.js';

let server: RunningServer;
let pool: WorkerPoolRuntime;
let clients: ReturnType<typeof grpcClients>;
const exits = workerExits();

before(async () => {
  const repo = tempDir();
  writeBookModelFolder(repo);
  mkdirSync(join(repo, 'spare', '1'), { recursive: true });
  symlinkSync(BOOK_MODEL, join(repo, 'spare', '1', 'model.onnx'));
  pool = new WorkerPoolRuntime({ workers: 1, intraOpThreads: 1, interOpThreads: 1, onWorkerExit: exits.onExit });
  server = await startServer({ repo, port: 0, runtime: pool, grpcPort: 'free', logger: false });
  clients = grpcClients(server.grpcPort!);
});
after(async () => {
  mock.timers.reset();
  clients?.close();
  await server?.shutdown();
});

const ready = async (path: string) => {
  const res = await server.app.inject({ url: path });
  return { status: res.statusCode, body: res.json() as { error?: string; code?: string; name?: string; ready?: boolean } };
};

test('model ready names the model\'s own state before the workers\'; the workers only for a loaded model; unknown ones are 404', async () => {
  assert.equal((await server.app.inject({ method: 'POST', url: '/v2/repository/models/spare/unload' })).statusCode, 200);
  // Workers fine: the unloaded model says so (it said only "is not ready").
  assert.deepEqual((await ready('/v2/models/spare/ready')).body.error, "model 'spare' is not ready: unloaded by request");

  // A crash, replaced at once; its replacement dies while it reloads: the next waits out a back-off (mocked: it never ends here).
  mock.timers.enable({ apis: ['setTimeout'] });
  await crashIntoBackOff(pool, exits);
  const workers = pool.unavailable();
  assert.match(workers ?? '', /^no inference worker can take a run: 1 of 1 worker is restarting/);
  mock.timers.reset();

  // Loaded: the workers are why.
  const loaded = await ready('/v2/models/book-weather/ready');
  assert.equal(loaded.status, 400);
  assert.deepEqual(loaded.body, { error: `model 'book-weather' is not ready: ${workers}`, code: 'MS_ERR_MODEL_NOT_READY', request_id: (loaded.body as { request_id?: string }).request_id, name: 'book-weather', ready: false });
  assert.equal((await ready('/v2/models/book-weather/versions/1/ready')).body.error, `model 'book-weather' version 1 is not ready: ${workers}`);
  // Not loaded: its own state, not the workers' (it said "not ready: no inference worker can take a run …").
  for (const path of ['/v2/models/spare/ready', '/v2/models/spare/versions/1/ready']) {
    const spare = await ready(path);
    assert.equal(spare.status, 400, path);
    assert.equal(spare.body.code, 'MS_ERR_MODEL_NOT_READY', path);
    assert.match(spare.body.error ?? '', /^model 'spare'( version 1)? is not ready: unloaded by request$/, path);
  }
  // Unknown model or version: 404 naming what is served.
  const typo = await ready('/v2/models/book-wether/ready');
  assert.equal(typo.status, 404);
  assert.equal(typo.body.code, 'MS_ERR_MODEL_NOT_FOUND');
  assert.match(typo.body.error ?? '', /^model 'book-wether' not found; served models: book-weather, spare$/);
  const noVersion = await ready('/v2/models/book-weather/versions/7/ready');
  assert.equal(noVersion.status, 404);
  assert.match(noVersion.body.error ?? '', /^model 'book-weather' has no version 7; versions: 1$/);

  // gRPC agrees: not ready for both, NOT_FOUND for the unknown model.
  assert.deepEqual(await rpc(clients.inference, 'ModelReady', { name: 'book-weather', version: '' }), { ready: false });
  assert.deepEqual(await rpc(clients.inference, 'ModelReady', { name: 'spare', version: '' }), { ready: false });
  await assert.rejects(rpc(clients.inference, 'ModelReady', { name: 'book-wether', version: '' }), (err: grpc.ServiceError) => err.code === grpc.status.NOT_FOUND && /model 'book-wether' not found/.test(err.details));
});
