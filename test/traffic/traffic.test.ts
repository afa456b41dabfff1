// Traffic routing per model, from config: a 90/10 canary split measured over 5,000 requests,
// sticky by header, and shadow traffic — compared with the served answers (agreement metric),
// never in the client's answer, and a shadow that is slow or fails every request neither delays
// nor fails the served answers: they all arrive while the shadow's calls are held (by order, not
// by a latency bound).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startServer, type RunningServer } from '../../src/server.js';
import { stickyPoint } from '../../src/traffic/router.js';
import type { PredictionRecord } from '../../src/core/prediction-tap.js';
import { call } from '../helpers/http.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { grpcClients, rpc } from '../helpers/oip.js';
import { Metadata } from '@grpc/grpc-js';
import { exampleModel, newRepo, WEATHER_REMOTE_FIELDS, WEATHER_ROW, writeConfig } from '../pipelines/helpers.js';
import { checkRepository } from '../../src/check/repository.js';
import { BOOK_ROW, writeBookVersion } from '../core/fixtures.js';

let server: RunningServer;
let sleeper: Server;
let failer: Server;
/** The x-request-id of each call the failing remote service got. */
const failerIds: Array<string | string[] | undefined> = [];
/** While set, the remote services (the shadows' remote steps) hold their answers until releaseHeld(): the test decides how long a shadow's call stays in flight. */
let holding = false;
const heldAnswers: Array<() => void> = [];
function answerOrHold(answer: () => void): void {
  if (!holding) return answer();
  heldAnswers.push(answer);
}
function releaseHeld(): void {
  holding = false;
  for (const answer of heldAnswers.splice(0)) answer();
}
/** Once `n` answers are held (up to 60 s: a hang guard). */
async function held(n: number): Promise<void> {
  for (let i = 0; i < 2400 && heldAnswers.length < n; i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(heldAnswers.length >= n, `${heldAnswers.length} answers held, ${n} expected`);
}

const listen = (s: Server) => new Promise<number>((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)));

function remoteShadowPipeline(repo: string, name: string, port: number): void {
  writeConfig(repo, name, `
pipeline:
  sequence:
    - name: remote
      remote:
        url: http://127.0.0.1:${port}
        model: weather
        timeout_ms: 60000
        retries: 0
        fields:
${WEATHER_REMOTE_FIELDS}
        outputs: { prediction: string, rain_probability: number }
`);
}

before(async () => {
  sleeper = createServer((req, res) => { req.resume(); answerOrHold(() => res.writeHead(200, { 'content-type': 'application/json' }).end('[{"prediction":"Rain","rain_probability":1}]')); });
  failer = createServer((req, res) => { failerIds.push(req.headers['x-request-id']); req.resume(); answerOrHold(() => res.writeHead(500, { 'content-type': 'application/json' }).end('{"detail":"always fails"}')); });
  const [sleepPort, failPort] = await Promise.all([listen(sleeper), listen(failer)]);
  const repo = newRepo();
  const canary = exampleModel(repo, 'weather', 'canary', 'version_policy: { all: true }\ntraffic: { 1: 90, 2: 10 }\n');
  const sticky = exampleModel(repo, 'weather', 'sticky', 'version_policy: { all: true }\ntraffic: { 1: 50, 2: 50 }\nsticky: { header: x-user }\n');
  for (const dir of [canary, sticky]) for (const v of ['1', '2']) mkdirSync(join(dir, v));
  // A split naming a version that is not on disk (removed, or not copied yet).
  mkdirSync(join(exampleModel(repo, 'weather', 'canary-missing', 'version_policy: { all: true }\ntraffic: { 1: 90, 3: 10 }\n'), '1'));
  exampleModel(repo, 'weather', 'twin');
  exampleModel(repo, 'weather', 'mirrored', 'shadow: { model: twin, sample_disagreements: 1 }\n');
  // Its own model as the shadow: the newest version, the one serving every request here.
  exampleModel(repo, 'weather', 'self-shadowed', 'shadow: { model: self-shadowed }\n');
  // Their shadows' (and remote steps') timeouts are hang guards, far above any served answer: the
  // test holds the remote services' answers while it drives these models.
  exampleModel(repo, 'weather', 'shadow-slow', 'shadow: { model: sleepy, timeout_ms: 60000, max_in_flight: 16 }\n');
  exampleModel(repo, 'weather', 'shadow-failing', 'shadow: { model: failing, timeout_ms: 60000 }\n');
  remoteShadowPipeline(repo, 'sleepy', sleepPort);
  remoteShadowPipeline(repo, 'failing', failPort);
  server = await startServer({ repo, port: 0, workers: 1 });
});

after(async () => {
  releaseHeld();
  await server?.shutdown();
  sleeper?.closeAllConnections();
  sleeper?.close();
  failer?.close();
});

/** `total` requests to a model, `concurrency` at a time, `onAnswer` called as each answer arrives; the answers' x-model-version. */
async function drive(model: string, total: number, concurrency: number, headers: (i: number) => Record<string, string> = () => ({}), onAnswer: () => Promise<void> = async () => undefined) {
  const versions = new Map<string, number>();
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total) {
      const i = next++;
      const res = await call(`${server.url}/models/${model}/predict`, { body: WEATHER_ROW, headers: headers(i) });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(Object.keys(res.body), ['prediction', 'rain_probability']);
      const v = String(res.headers['x-model-version']);
      versions.set(v, (versions.get(v) ?? 0) + 1);
      await onAnswer();
    }
  }));
  return { versions };
}

test('canary 90/10: over 5,000 requests version 2 gets 10 % ± 2 points; metrics per version', async () => {
  const { versions } = await drive('canary', 5000, 8);
  const share = ((versions.get('2') ?? 0) / 5000) * 100;
  assert.ok(Math.abs(share - 10) <= 2, `version 2 got ${share.toFixed(2)} % (${JSON.stringify([...versions])})`);
  assert.equal((versions.get('1') ?? 0) + (versions.get('2') ?? 0), 5000);
  // An explicit version is never split.
  const pinned = await call(`${server.url}/models/canary/versions/2/predict`, { body: WEATHER_ROW });
  assert.equal(pinned.headers['x-model-version'], '2');
  const metrics = (await call(`${server.url}/metrics`)).text;
  assert.match(metrics, /modelserve_requests_total\{model="canary",version="2",route="\/models\/:name\/predict",status="200"\} \d+/);
});

test('a split version that is not on disk gives its share to the others: every request is answered by version 1', async () => {
  const { versions } = await drive('canary-missing', 200, 4);
  assert.deepEqual([...versions], [['1', 200]]);
});

test('sticky by header: the same x-user always gets the same version, and users spread over both', async () => {
  const users = Array.from({ length: 40 }, (_, i) => `user-${i}`);
  const seen = new Map<string, Set<string>>();
  for (let round = 0; round < 3; round++) {
    for (const user of users) {
      const res = await call(`${server.url}/models/sticky/predict`, { body: WEATHER_ROW, headers: { 'x-user': user } });
      const set = seen.get(user) ?? new Set<string>();
      set.add(String(res.headers['x-model-version']));
      seen.set(user, set);
      assert.equal(String(res.headers['x-model-version']), stickyPoint(user) < 50 ? '1' : '2');
    }
  }
  assert.ok([...seen.values()].every((s) => s.size === 1));
  const versions = new Set([...seen.values()].map((s) => [...s][0]));
  assert.deepEqual([...versions].sort(), ['1', '2']);
});

test('shadow: a copy of each request goes to the shadow, answers are compared (agreement metric), the client sees only the served answer', async () => {
  await drive('mirrored', 50, 2);
  // Each copy is counted once, by its outcome, when it settles: once all 50 are, the counts are final.
  const metrics = await shadowSettled('mirrored', 'twin', 50);
  assert.match(metrics, /modelserve_shadow_requests_total\{model="mirrored",shadow="twin",outcome="ok"\} 50/);
  assert.match(metrics, /modelserve_shadow_rows_total\{model="mirrored",shadow="twin",result="agree"\} 50/);
  assert.doesNotMatch(metrics, /shadow="twin",result="disagree"/);
});

test('a shadow that is slow or fails every request neither delays nor fails the served requests: every answer arrives while the shadow\'s calls are held', async () => {
  // The remote services hold every answer until the test releases them: the shadows' copies stay in
  // flight (up to their cap; the rest are dropped) while the served requests are driven. A shadow
  // awaited before answering would hold the served answer until the copy settled (its timeout).
  const n = 64;
  holding = true;
  try {
    for (const [model, shadow, cap] of [['shadow-slow', 'sleepy', 16], ['shadow-failing', 'failing', 64]] as const) {
      const heldBefore = heldAnswers.length;
      await drive(model, n, 4, undefined, async () => {
        const settled = shadowOutcomes(await metricsText(), model, shadow);
        assert.deepEqual([settled.ok, settled.error, settled.timeout], [0, 0, 0], `a served answer of ${model} arrived after a copy to its shadow had settled: ${JSON.stringify(settled)}`);
      });
      // Every copy under the cap is in flight at the remote service, held; the others were dropped, none waited.
      await held(heldBefore + cap);
      assert.deepEqual(shadowOutcomes(await metricsText(), model, shadow), { ok: 0, error: 0, timeout: 0, dropped: n - cap });
    }
  } finally {
    releaseHeld();
  }
  const slow = shadowOutcomes(await shadowSettled('shadow-slow', 'sleepy', n), 'shadow-slow', 'sleepy');
  assert.deepEqual(slow, { ok: 16, error: 0, timeout: 0, dropped: n - 16 });
  const failing = shadowOutcomes(await shadowSettled('shadow-failing', 'failing', n), 'shadow-failing', 'failing');
  assert.deepEqual(failing, { ok: 0, error: n, timeout: 0, dropped: 0 });
});

const metricsText = async (): Promise<string> => (await call(`${server.url}/metrics`)).text;

/** The copies of `model`'s requests to `shadow`, by outcome, from /metrics. */
function shadowOutcomes(metrics: string, model: string, shadow: string): Record<'ok' | 'error' | 'timeout' | 'dropped', number> {
  const count = (outcome: string) => Number(new RegExp(`^modelserve_shadow_requests_total\\{model="${model}",shadow="${shadow}",outcome="${outcome}"\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0);
  return { ok: count('ok'), error: count('error'), timeout: count('timeout'), dropped: count('dropped') };
}

// (Last: the requests here would change the counts the tests above read.)
test('a shadow\'s prediction carries the served request\'s id (front door \'shadow\'), and a remote step sends the client\'s id as X-Request-Id', async () => {
  const records: PredictionRecord[] = [];
  const remove = server.core.predictions.add((r) => records.push(r));
  try {
    const res = await call(`${server.url}/models/mirrored/predict`, { body: WEATHER_ROW, headers: { 'x-request-id': 'shadowed-1' } });
    assert.equal(res.status, 200);
    await until(() => records.some((r) => r.model === 'twin'), 'the shadow\'s prediction');
    assert.deepEqual(records.filter((r) => r.model === 'twin').map((r) => [r.requestId, r.frontDoor]), [['shadowed-1', 'shadow']]);
    // The failing shadow is a pipeline with a remote step: the remote service is told the id.
    await call(`${server.url}/models/shadow-failing/predict`, { body: WEATHER_ROW, headers: { 'x-request-id': 'remote-1' } });
    await until(() => failerIds.includes('remote-1'), 'the remote step\'s call with the id');
  } finally {
    remove();
  }
});

test('every front door follows the split for a name-only request (OIP REST, gRPC, MQTT, sticky by their header, metadata, user property); an explicit version is never split; MQTT requests are mirrored', async () => {
  // All traffic to version 1: the newest, version 2, is a canary that gets none (but the shadow's copies).
  const repo = newRepo();
  const dir = exampleModel(repo, 'weather', 'held', 'version_policy: { all: true }\ntraffic: { 1: 100, 2: 0 }\nshadow: { version: 2 }\n');
  const halves = exampleModel(repo, 'weather', 'halves', 'version_policy: { all: true }\ntraffic: { 1: 50, 2: 50 }\nsticky: { header: X-User }\n');
  for (const d of [dir, halves]) for (const v of ['1', '2']) mkdirSync(join(d, v));
  const broker = await startMosquitto();
  const own = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, logger: false, streams: { mqtt: { url: broker.url, required: true } } });
  const grpc = grpcClients(own.grpcPort!);
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
  try {
    const inputs = Object.entries(WEATHER_ROW).map(([name, v]) => ({ name, datatype: 'FP64', shape: [1], data: [v] }));
    const rest = await call(`${own.url}/v2/models/held/infer`, { body: { inputs } });
    assert.equal(rest.status, 200, rest.text);
    assert.deepEqual([rest.body.model_version, rest.headers['x-model-version']], ['1', '1']);
    assert.equal((await call(`${own.url}/v2/models/held/versions/2/infer`, { body: { inputs } })).body.model_version, '2');
    const grpcInputs = Object.entries(WEATHER_ROW).map(([name, v]) => ({ name, datatype: 'FP64', shape: [1, 1], contents: { fp64_contents: [v] } }));
    assert.equal((await rpc<{ model_version: string }>(grpc.inference, 'ModelInfer', { model_name: 'held', inputs: grpcInputs })).model_version, '1');
    assert.equal((await rpc<{ model_version: string }>(grpc.inference, 'ModelInfer', { model_name: 'held', model_version: '2', inputs: grpcInputs })).model_version, '2');
    await own.streams!.frontDoor!.waitReady();
    await client.subscribeAsync('test/held', { qos: 1 });
    const versions: unknown[] = [];
    client.on('message', (_topic, _payload, packet) => versions.push(packet.properties?.userProperties?.model_version));
    await client.publishAsync('modelserve/held/predict', JSON.stringify(WEATHER_ROW), { qos: 1, properties: { responseTopic: 'test/held' } });
    await until(() => versions.length === 1, 'the MQTT answer');
    assert.deepEqual(versions, ['1']);
    // The MQTT request was mirrored to the shadow (the OIP ones, tensors, are not).
    let metrics = '';
    for (let i = 0; i < 200 && !metrics.includes('shadow="held:2",outcome="ok"'); i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 25));
      metrics = (await call(`${own.url}/metrics`)).text;
    }
    assert.match(metrics, /modelserve_shadow_requests_total\{model="held",shadow="held:2",outcome="ok"\} 1\n/);
    // Sticky: each user gets the version its key hashes to, whichever door it comes through.
    const users = Array.from({ length: 8 }, (_, i) => `user-${i}`);
    for (const user of users) {
      const expected = stickyPoint(user) < 50 ? '1' : '2';
      assert.equal((await call(`${own.url}/v2/models/halves/infer`, { body: { inputs }, headers: { 'x-user': user } })).body.model_version, expected, user);
      const metadata = new Metadata();
      metadata.set('x-user', user);
      assert.equal((await rpc<{ model_version: string }>(grpc.inference, 'ModelInfer', { model_name: 'halves', inputs: grpcInputs }, metadata)).model_version, expected, user);
      await client.publishAsync('modelserve/halves/predict', JSON.stringify(WEATHER_ROW), { qos: 1, properties: { responseTopic: 'test/held', userProperties: { 'X-User': user } } });
      await until(() => versions.length === 2, 'the MQTT answer');
      assert.equal(versions.pop(), expected, user);
    }
    assert.deepEqual(new Set(users.map((u) => (stickyPoint(u) < 50 ? '1' : '2'))).size, 2);
  } finally {
    await client.endAsync();
    grpc.close();
    await own.shutdown();
    await broker.stop();
  }
});

test('a shadow naming its own model (no version) is never the version that served: no copy to itself', async () => {
  const records: PredictionRecord[] = [];
  const remove = server.core.predictions.add((r) => records.push(r));
  try {
    assert.equal((await call(`${server.url}/models/self-shadowed/predict`, { body: WEATHER_ROW })).status, 200);
    // A shadow mirrored after it: by the time its copy is predicted, a copy of the first would be too.
    assert.equal((await call(`${server.url}/models/mirrored/predict`, { body: WEATHER_ROW })).status, 200);
    await until(() => records.some((r) => r.model === 'twin'), 'the other shadow\'s prediction');
    assert.deepEqual(records.filter((r) => r.model === 'self-shadowed').map((r) => r.frontDoor), ['http']);
    assert.doesNotMatch((await call(`${server.url}/metrics`)).text, /shadow="self-shadowed"/);
  } finally {
    remove();
  }
});

/** /metrics once `n` copies of `model`'s requests to `shadow` are counted, whatever their outcome (up to 60 s: a loaded machine is slow, not wrong). */
async function shadowSettled(model: string, shadow: string, n: number): Promise<string> {
  const counted = (metrics: string) => [...metrics.matchAll(new RegExp(`^modelserve_shadow_requests_total\\{model="${model}",shadow="${shadow}",outcome="\\w+"\\} (\\d+)$`, 'gm'))].reduce((sum, m) => sum + Number(m[1]), 0);
  let metrics = (await call(`${server.url}/metrics`)).text;
  for (let i = 0; i < 600 && counted(metrics) < n; i++) {
    await new Promise((r) => setTimeout(r, 100));
    metrics = (await call(`${server.url}/metrics`)).text;
  }
  assert.equal(counted(metrics), n, `copies of ${model}'s requests to ${shadow} counted:\n${metrics.split('\n').filter((l) => l.includes(`shadow="${shadow}"`)).join('\n')}`);
  return metrics;
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(check(), what);
}

test("a canary's full queue does not refuse the split's other versions' requests: a name-only request is shed by the version the split picks, not by the newest", async () => {
  const repo = newRepo();
  const dir = exampleModel(repo, 'weather', 'slow-canary', 'version_policy: { all: true }\ntraffic: { 1: 100, 2: 0 }\n');
  mkdirSync(join(dir, '1'));
  mkdirSync(join(dir, '2'));
  // Version 2 (the newest: the canary) holds a lone row in its queue for 10 s, and takes one row at most: full.
  writeFileSync(join(dir, '2', 'model.yaml'), `${readFileSync(join(dir, 'model.yaml'), 'utf8').replace(/^traffic:.*$/m, '')}\nbatching: { max_batch_size: 64, max_queue_delay_ms: 10000 }\nqueue: { max_rows: 1 }\n`);
  const own = await startServer({ repo, port: 0, grpcPort: 0, workers: 1, logger: false });
  try {
    const held = call(`${own.url}/models/slow-canary/versions/2/predict`, { body: WEATHER_ROW });
    // The canary's queue is full now: its own requests are refused at once.
    for (let i = 0; i < 100 && (await call(`${own.url}/models/slow-canary/versions/2/predict`, { body: WEATHER_ROW })).status !== 503; i++) await new Promise((r) => setTimeout(r, 20));
    const full = await call(`${own.url}/models/slow-canary/versions/2/predict`, { body: WEATHER_ROW });
    assert.equal(full.status, 503, full.text);
    // The split sends every name-only request to version 1, whose queue is empty.
    for (const path of ['/models/slow-canary/predict', '/v2/models/slow-canary/infer']) {
      const body = path.startsWith('/v2') ? { inputs: Object.entries(WEATHER_ROW).map(([name, v]) => ({ name, datatype: 'FP64', shape: [1], data: [v] })) } : WEATHER_ROW;
      const res = await call(`${own.url}${path}`, { body });
      assert.equal(res.status, 200, `${path}: ${res.text}`);
      assert.equal(res.headers['x-model-version'], '1', path);
    }
    // A version the routes do not read as one is their 404, whatever the queue of version 1.
    assert.equal((await call(`${own.url}/models/slow-canary/versions/02/predict`, { body: WEATHER_ROW })).status, 404);
    void held.catch(() => undefined);
  } finally {
    await own.shutdown();
  }
});

test('names of no model asked for over OIP REST and gRPC are 404 / NOT_FOUND and are not kept by the traffic router (a client sending random names cannot grow it)', async () => {
  const repo = newRepo();
  exampleModel(repo, 'weather', 'only');
  const own = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, logger: false });
  const grpc = grpcClients(own.grpcPort!);
  try {
    const inputs = [{ name: 'x', datatype: 'FP64', shape: [1], data: [1] }];
    for (let i = 0; i < 50; i++) {
      assert.equal((await call(`${own.url}/v2/models/nosuch-${i}/infer`, { body: { inputs } })).status, 404);
      await assert.rejects(rpc(grpc.inference, 'ModelInfer', { model_name: `nosuch-grpc-${i}`, inputs: [{ name: 'x', datatype: 'FP64', shape: [1], contents: { fp64_contents: [1] } }] }), (err: { code: number }) => err.code === 5);
    }
    assert.equal((own.app.traffic as unknown as { cache: Map<string, unknown> }).cache.size, 0);
  } finally {
    grpc.close();
    await own.shutdown();
  }
});

test("the model folder's own config holding only model-level keys routes the model when every version folder has its own config: the split, the shadow and the policy apply (serve and check agree)", async () => {
  const repo = newRepo();
  for (const v of [1, 2]) writeBookVersion(repo, 'book', v);
  writeBookVersion(repo, 'twin', 1);
  // Every name-only request to version 1, though version 2 is the newest; copies to twin.
  writeFileSync(join(repo, 'book', 'model.yaml'), 'version_policy: { all: true }\ntraffic: { 1: 100, 2: 0 }\nshadow: { model: twin }\n');
  const report = await checkRepository(repo);
  assert.deepEqual(report.problems.filter((p) => p.severity === 'error'), []);
  const own = await startServer({ repo, port: 0, grpcPort: 0, workers: 1, logger: false });
  try {
    for (let i = 0; i < 5; i++) {
      const res = await call(`${own.url}/models/book/predict`, { body: BOOK_ROW });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers['x-model-version'], '1');
    }
    let metrics = '';
    for (let i = 0; i < 200 && !/shadow="twin",outcome="ok"\} 5\n/.test(metrics); i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 25));
      metrics = (await call(`${own.url}/metrics`)).text;
    }
    assert.match(metrics, /modelserve_shadow_requests_total\{model="book",shadow="twin",outcome="ok"\} 5\n/);
    // Each version's Triton config tells the policy the model is served under (not the default, latest 1).
    for (const v of [1, 2]) assert.deepEqual((await call(`${own.url}/v2/models/book/versions/${v}/config`)).body.version_policy, { all: {} });
  } finally {
    await own.shutdown();
  }
});
