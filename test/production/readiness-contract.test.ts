// One verdict on readiness, whichever front door asks. For each way of not being ready, every probe
// is asked at once and must agree: /readyz, the Open Inference Protocol's /v2/health/ready, the
// modelserve_ready gauge in /metrics, gRPC ServerReady, and grpc.health.v1 Check for the server ('')
// and for the inference service. One real server over real sockets: a real pool of one worker (made
// unable to take a run by a crash loop whose back-off is a mocked timer, as in
// test/oip/model-ready.test.ts), a real mosquitto as the required broker (stopped and started
// again), and a real shutdown whose --shutdown-delay is held open by a mocked timer.
import { after, before, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startServer, type RunningServer } from '../../src/server.js';
import { INFERENCE_SERVICE, startGrpcServer } from '../../src/grpc/server.js';
import { buildApp } from '../../src/http/app.js';
import { InferenceCore } from '../../src/core/core.js';
import { loadRepository } from '../../src/config/load.js';
import { InProcessRuntime } from '../../src/runtime/in-process.js';
import { InferenceStatistics } from '../../src/protocols/oip/statistics.js';
import { WorkerPoolRuntime } from '../../src/workers/pool.js';
import { EXAMPLES } from '../helpers/paths.js';
import { grpcClients, rpc } from '../helpers/oip.js';
import { sample } from '../helpers/prom.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { crashIntoBackOff, workerExits } from '../helpers/crash-loop.js';

const SHUTDOWN_DELAY_MS = 5_000;
/** The pool's longest crash-loop back-off before a worker is started again (src/workers/pool.ts replace()). */
const MAX_RESPAWN_BACKOFF_MS = 5_000;

let broker: Broker;
let server: RunningServer;
let pool: WorkerPoolRuntime;
let clients: ReturnType<typeof grpcClients>;
let shutdown: Promise<boolean> | undefined;
const exits = workerExits();

before(async () => {
  broker = await startMosquitto();
  pool = new WorkerPoolRuntime({ workers: 1, intraOpThreads: 1, interOpThreads: 1, onWorkerExit: exits.onExit });
  server = await startServer({ repo: EXAMPLES, port: 0, runtime: pool, grpcPort: 'free', logger: false, shutdownDelay: SHUTDOWN_DELAY_MS, streams: { mqtt: { url: broker.url, required: true } } });
  clients = grpcClients(server.grpcPort!);
  await server.streams!.frontDoor!.waitReady(30_000);
});
after(async () => {
  mock.timers.reset();
  clients?.close();
  await (shutdown ?? server?.shutdown());
  await broker?.stop();
});

/** GET over a fresh connection of node:http (no client-side timers: some rows run with setTimeout mocked). */
function get(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { text += chunk; });
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** What every front door says right now: the reason where the door can say one, else ready or not. */
async function verdicts(url = server.url, grpcClient = clients) {
  const [readyz, oip, metrics, serverReady, check, checkInference] = await Promise.all([
    get(`${url}/readyz`),
    get(`${url}/v2/health/ready`),
    get(`${url}/metrics`),
    rpc<{ ready: boolean }>(grpcClient.inference, 'ServerReady', {}),
    rpc<{ status: string }>(grpcClient.health, 'Check', { service: '' }),
    rpc<{ status: string }>(grpcClient.health, 'Check', { service: INFERENCE_SERVICE }),
  ]);
  const readyzBody = JSON.parse(readyz.text) as { detail?: string; code?: string; status?: string };
  const oipBody = JSON.parse(oip.text) as { error?: string; code?: string; ready?: boolean };
  return {
    '/readyz': readyz.status === 200 && readyzBody.status === 'ready' ? 'ready' : `${readyz.status} ${readyzBody.code}: ${readyzBody.detail}`,
    '/v2/health/ready': oip.status === 200 && oipBody.ready === true ? 'ready' : `${oip.status} ${oipBody.code}: ${oipBody.error}${oipBody.ready === false ? '' : ' (ready not false)'}`,
    modelserve_ready: sample(metrics.text, 'modelserve_ready', {}),
    ServerReady: serverReady.ready,
    "Check ''": check.status,
    [`Check ${INFERENCE_SERVICE}`]: checkInference.status,
  };
}

/** Every door ready, or every door not ready for `reason` (the doors that carry a reason name it). */
function expected(reason: string | undefined) {
  return {
    '/readyz': reason === undefined ? 'ready' : `503 MS_ERR_NOT_READY: ${reason}`,
    '/v2/health/ready': reason === undefined ? 'ready' : `503 MS_ERR_NOT_READY: ${reason}`,
    modelserve_ready: reason === undefined ? 1 : 0,
    ServerReady: reason === undefined,
    "Check ''": reason === undefined ? 'SERVING' : 'NOT_SERVING',
    [`Check ${INFERENCE_SERVICE}`]: reason === undefined ? 'SERVING' : 'NOT_SERVING',
  };
}

async function until(check: () => boolean, what: string, tries = 1500): Promise<void> {
  for (let i = 0; i < tries && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(check(), what);
}

// The rows run in this order on the one server: each leaves it ready for the next (the shutdown is the end).
const conditions: Array<{ name: string; enter: () => Promise<void>; reason: () => string | undefined; leave?: () => Promise<void> }> = [
  { name: 'ready', enter: async () => undefined, reason: () => undefined },
  {
    name: 'a required MQTT broker away',
    enter: async () => {
      await broker.stop();
      await until(() => !server.streams!.frontDoor!.ready(), 'the front door saw the broker go');
    },
    reason: () => 'not connected to the MQTT broker',
    leave: async () => {
      await broker.start();
      await server.streams!.frontDoor!.waitReady(60_000);
    },
  },
  { name: 'ready again (the broker back)', enter: async () => undefined, reason: () => undefined },
  {
    name: 'no inference worker can take a run',
    enter: async () => {
      // A crash, replaced at once; its replacement dies while it reloads: the next waits out a back-off
      // (a mocked timer: it lasts until the test ticks past it).
      mock.timers.enable({ apis: ['setTimeout'] });
      await crashIntoBackOff(pool, exits);
      assert.match(pool.unavailable() ?? '', /^no inference worker can take a run/);
    },
    reason: () => pool.unavailable(),
    leave: async () => {
      mock.timers.tick(MAX_RESPAWN_BACKOFF_MS);
      mock.timers.reset();
      await until(() => pool.unavailable() === undefined, 'the worker replaced after its back-off', 3000);
    },
  },
  { name: 'ready again (a worker back)', enter: async () => undefined, reason: () => undefined },
  {
    name: 'shutting down (inside --shutdown-delay, every door still accepting)',
    enter: async () => {
      // The delay's timer is mocked, so the window lasts until the test ticks past it.
      mock.timers.enable({ apis: ['setTimeout'] });
      shutdown = server.shutdown();
    },
    reason: () => 'shutting down',
    leave: async () => {
      mock.timers.tick(SHUTDOWN_DELAY_MS);
      // Before the delay's continuation runs (a microtask later): the rest of the drain gets real timers.
      mock.timers.reset();
    },
  },
];

for (const condition of conditions) {
  test(`every front door agrees: ${condition.name}`, async () => {
    await condition.enter();
    try {
      const reason = condition.reason();
      assert.deepEqual(await verdicts(), expected(reason));
    } finally {
      await condition.leave?.();
    }
  });
}

// startServer opens no door before its core has started, so this row is composed by hand: the same
// parts (a real core, the HTTP app, the gRPC server, each listening) around a core not started yet.
test('every front door agrees: models loading (the core not started yet), then ready', async (t) => {
  const core = new InferenceCore({ configs: loadRepository(EXAMPLES), runtime: new InProcessRuntime({ intraOpThreads: 1, interOpThreads: 1 }) });
  const app = await buildApp({ core, logger: false });
  t.after(() => core.close());
  t.after(() => app.close());
  await app.listen({ host: '127.0.0.1', port: 0 });
  const grpcServer = await startGrpcServer({ core, stats: new InferenceStatistics(), port: 0 });
  t.after(() => grpcServer.drain(0));
  const own = grpcClients(grpcServer.port);
  t.after(() => own.close());
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  assert.deepEqual(await verdicts(url, own), expected('models are loading'));
  await core.start();
  assert.deepEqual(await verdicts(url, own), expected(undefined));
});
