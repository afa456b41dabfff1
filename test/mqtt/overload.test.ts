// The MQTT front door under overload and long stalls, against a real mosquitto. Stalls are made
// with the real in-process onnxruntime whose runs wait, once held, until let go: no timing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { startServer, type RunningServer } from '../../src/server.js';
import type { ModelVersion } from '../../src/core/model-version.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { HeldRuntime } from '../helpers/held-runtime.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BOOK_MODEL, bookModelYaml, bookRows, tempDir, writeBookModelFolder } from '../helpers/paths.js';

interface Got { payload: Buffer; packet: mqtt.IPublishPacket }

let broker: Broker;
let client: MqttClient;

before(async () => {
  broker = await startMosquitto();
  client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'test-overload' });
});
after(async () => {
  await client?.endAsync();
  await broker?.stop();
});

function collect(topic: string): Got[] {
  const got: Got[] = [];
  client.on('message', (t, payload, packet) => { if (t === topic) got.push({ payload, packet }); });
  return got;
}

async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function serve(prefix: string, queue: string, mqttOptions: Record<string, unknown> = {}): Promise<{ server: RunningServer; runtime: HeldRuntime }> {
  const repo = tempDir();
  writeBookModelFolder(repo, `optimize: false\nqueue: { ${queue} }\n`);
  const runtime = new HeldRuntime();
  const server = await startServer({ repo, port: 0, grpcPort: 0, workers: 1, logger: false, runtime, streams: { mqtt: { url: broker.url, topics: { request: `${prefix}/{model}/in`, predictions: `${prefix}/{model}/out`, errors: `${prefix}/{model}/err` }, ...mqttOptions } } });
  await server.streams!.frontDoor!.waitReady();
  await client.subscribeAsync([`${prefix}/book-weather/out`, `${prefix}/book-weather/err`, `${prefix}/answers`], { qos: 1 });
  return { server, runtime };
}

const predict = (server: RunningServer, rows: unknown[]) => fetch(`${server.url}/models/book-weather/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(rows) });

test("a full queue: MS_ERR_OVERLOADED on the errors and the response topic with HTTP's Retry-After as the user property retry_after; the body keeps its documented shape", async () => {
  const { server, runtime } = await serve('full', 'max_rows: 2, timeout_ms: 60000');
  const errors = collect('full/book-weather/err');
  const answers = collect('full/answers');
  const busy: Promise<Response>[] = [];
  try {
    runtime.hold();
    // The run slot taken (held), then the queue filled.
    const batcher = server.core.resolve('book-weather')!.batcher;
    busy.push(predict(server, bookRows(1)));
    await until(() => batcher.stats().inFlightBatches === 1, 'the held run');
    busy.push(predict(server, bookRows(2)));
    await until(() => batcher.stats().queuedRows === 2, 'a full queue');
    const http = await predict(server, bookRows(1));
    assert.equal(http.status, 503);
    await client.publishAsync('full/book-weather/in', JSON.stringify(bookRows(1)), { qos: 1, properties: { responseTopic: 'full/answers', correlationData: Buffer.from('c-full'), userProperties: { request_id: 'too-many' } } });
    await until(() => errors.length === 1 && answers.length === 1, 'the overload errors');
    for (const got of [errors[0]!, answers[0]!]) {
      const body = JSON.parse(got.payload.toString()) as Record<string, unknown>;
      assert.deepEqual(Object.keys(body), ['detail', 'code', 'status', 'request_id']);
      assert.deepEqual([body.code, body.status, body.request_id], ['MS_ERR_OVERLOADED', 503, 'too-many']);
      const props = got.packet.properties?.userProperties;
      assert.equal(props?.retry_after, http.headers.get('retry-after'), JSON.stringify(props));
      assert.equal(props?.status, '503');
    }
    assert.equal(answers[0]!.packet.properties?.correlationData?.toString(), 'c-full');
  } finally {
    runtime.letGo();
    await Promise.all(busy);
    await server.shutdown();
  }
});

test('a stall longer than the keepalive (nothing finishing, the most messages in flight) does not drop the connection: the front door reads on to the PINGRESP and refuses what it reads meanwhile as overload', async () => {
  // One message in flight at most, a keepalive of 1 s: MQTT.js times out 1.5 s after the last packet it read.
  const { server, runtime } = await serve('stall', 'max_rows: 1000, timeout_ms: 600000', { maxInFlight: 1, keepaliveSeconds: 1 });
  const door = server.streams!.frontDoor!;
  const answers = collect('stall/book-weather/out');
  const errors = collect('stall/book-weather/err');
  let pingresps = 0;
  let drops = 0;
  door.client.on('packetreceive', (packet) => { if (packet.cmd === 'pingresp') pingresps++; });
  door.client.on('close', () => { drops++; });
  try {
    runtime.hold();
    await client.publishAsync('stall/book-weather/in', JSON.stringify(bookRows(1)), { qos: 1, properties: { userProperties: { request_id: 'held' } } });
    await client.publishAsync('stall/book-weather/in', JSON.stringify(bookRows(1)), { qos: 1, properties: { userProperties: { request_id: 'past-the-limit' } } });
    // Two keepalive rounds answered while the first message's run is held, or the connection dropped.
    await until(() => pingresps >= 2 || drops > 0, 'two PINGRESPs read or a dropped connection');
    assert.equal(drops, 0, 'the front door\'s connection was dropped (keepalive timeout) while a message was held');
    assert.equal(errors.length, 1);
    const refused = JSON.parse(errors[0]!.payload.toString()) as { code: string; request_id: string };
    assert.deepEqual([refused.code, refused.request_id], ['MS_ERR_OVERLOADED', 'past-the-limit']);
    assert.equal(errors[0]!.packet.properties?.userProperties?.retry_after, '1');
    assert.equal(answers.length, 0);
    runtime.letGo();
    await until(() => answers.length === 1, 'the held message\'s answer');
    assert.equal(answers[0]!.packet.properties?.userProperties?.request_id, 'held');
    assert.equal(errors.length, 1);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(text, /modelserve_rejected_total\{model="book-weather",reason="overloaded"\} 1/);
  } finally {
    runtime.letGo();
    await server.shutdown();
  }
});

test("a message waiting for room in its model's queue (MQTT rows in flight at queue.max_rows) gets MS_ERR_TIMEOUT once its message expiry passes, not only once it gets in", async () => {
  const { server, runtime } = await serve('room', 'max_rows: 4, timeout_ms: 600000');
  const answers = collect('room/book-weather/out');
  const errors = collect('room/book-weather/err');
  try {
    runtime.hold();
    const batcher = server.core.resolve('book-weather')!.batcher;
    await client.publishAsync('room/book-weather/in', JSON.stringify(bookRows(4)), { qos: 1, properties: { userProperties: { request_id: 'first' } } });
    await until(() => batcher.stats().inFlightBatches === 1, 'the held run');
    // Its 4 rows do not fit beside the first message's 4: it waits for room, which the held run never makes.
    await client.publishAsync('room/book-weather/in', JSON.stringify(bookRows(4)), { qos: 1, properties: { messageExpiryInterval: 1, userProperties: { request_id: 'hurried' } } });
    await until(() => errors.length === 1, 'the hurried message\'s error while the run is held');
    const error = JSON.parse(errors[0]!.payload.toString()) as { code: string; status: number; request_id: string; detail: string };
    assert.deepEqual([error.code, error.status, error.request_id], ['MS_ERR_TIMEOUT', 504, 'hurried']);
    assert.match(error.detail, /passed its deadline waiting for room/);
    assert.equal(answers.length, 0);
    runtime.letGo();
    await until(() => answers.length === 1, 'the first message\'s answer');
    assert.equal(answers[0]!.packet.properties?.userProperties?.request_id, 'first');
    const text = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(text, /modelserve_rejected_total\{model="book-weather",reason="timeout"\} 1/);
  } finally {
    runtime.letGo();
    await server.shutdown();
  }
});

test("a message waiting for room in its model's queue (no message expiry) gets MS_ERR_TIMEOUT at its version's queue.timeout_ms since it arrived, not a wait without bound and a fresh timeout once it gets in", async () => {
  // Two versions split by the user property x-user: version 1 waits 600 s, version 2 300 ms. A
  // message for version 1 holds the model's MQTT rows (its run held); one for version 2 waits for room.
  const repo = tempDir();
  const dir = join(repo, 'book-weather');
  for (const [version, ms] of [[1, 600000], [2, 300]] as const) {
    mkdirSync(join(dir, String(version)), { recursive: true });
    writeFileSync(join(dir, String(version), 'model.yaml'), bookModelYaml({ name: 'book-weather', model: BOOK_MODEL, extra: `optimize: false\nqueue: { max_rows: 4, timeout_ms: ${ms} }\n` }));
  }
  writeFileSync(join(dir, 'model.yaml'), bookModelYaml({ name: 'book-weather', model: BOOK_MODEL, extra: 'optimize: false\nversion_policy: { all: true }\ntraffic: { 1: 50, 2: 50 }\nsticky: { header: x-user }\n' }));
  const runtime = new HeldRuntime();
  const server = await startServer({ repo, port: 0, grpcPort: 0, workers: 1, logger: false, runtime, streams: { mqtt: { url: broker.url, topics: { request: 'bound/{model}/in', predictions: 'bound/{model}/out', errors: 'bound/{model}/err' } } } });
  await server.streams!.frontDoor!.waitReady();
  await client.subscribeAsync(['bound/book-weather/out', 'bound/book-weather/err'], { qos: 1 });
  const answers = collect('bound/book-weather/out');
  const errors = collect('bound/book-weather/err');
  try {
    // A user for each version (the split is a hash of the header: asked over HTTP).
    const users = new Map<string, string>();
    for (let i = 0; users.size < 2 && i < 100; i++) {
      const res = await fetch(`${server.url}/models/book-weather/predict`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-user': `u${i}` }, body: JSON.stringify(bookRows(1)) });
      assert.equal(res.status, 200);
      const version = res.headers.get('x-model-version')!;
      if (!users.has(version)) users.set(version, `u${i}`);
    }
    runtime.hold();
    const first = server.core.resolve('book-weather', 1)!;
    await client.publishAsync('bound/book-weather/in', JSON.stringify(bookRows(4)), { qos: 1, properties: { userProperties: { request_id: 'first', 'x-user': users.get('1')! } } });
    await until(() => first.batcher.stats().inFlightBatches === 1, 'the held run');
    await client.publishAsync('bound/book-weather/in', JSON.stringify(bookRows(4)), { qos: 1, properties: { userProperties: { request_id: 'waiting', 'x-user': users.get('2')! } } });
    await until(() => errors.length === 1, 'the waiting message\'s error while the run is held');
    const error = JSON.parse(errors[0]!.payload.toString()) as { code: string; status: number; request_id: string; detail: string };
    assert.deepEqual([error.code, error.status, error.request_id], ['MS_ERR_TIMEOUT', 504, 'waiting']);
    assert.match(error.detail, /passed its deadline waiting for room/);
    assert.equal(errors[0]!.packet.properties?.userProperties?.model_version, '2');
    assert.equal(answers.length, 0);
    runtime.letGo();
    await until(() => answers.length === 1, 'the first message\'s answer');
    assert.equal(answers[0]!.packet.properties?.userProperties?.request_id, 'first');
  } finally {
    runtime.letGo();
    await server.shutdown();
  }
});

test('a message waiting for room in its model\'s queue while the model is reloaded is answered by the new load, not refused because the load it was given has been released', async () => {
  const { server, runtime } = await serve('reload', 'max_rows: 1, timeout_ms: 600000');
  const answers = collect('reload/book-weather/out');
  const errors = collect('reload/book-weather/err');
  try {
    const old = server.core.resolve('book-weather') as ModelVersion;
    // Only the serving load's runs are held: the reload's warm-up runs.
    runtime.hold(old.key);
    await client.publishAsync('reload/book-weather/in', JSON.stringify(bookRows(1)), { qos: 1, properties: { userProperties: { request_id: 'running' } } });
    await until(() => old.batcher.stats().inFlightBatches === 1, 'the held run');
    // Its row does not fit beside the first message's (max_rows 1): it waits for room, holding the version it was given.
    await client.publishAsync('reload/book-weather/in', JSON.stringify(bookRows(1)), { qos: 1, properties: { userProperties: { request_id: 'waiting' } } });
    const reloaded = server.core.loadModel('book-weather');
    await until(() => server.core.peek('book-weather') !== old, 'the reload serving');
    // The old load drains (the held run ends), then its session is released; only then does the waiting message get room.
    runtime.letGo();
    await reloaded;
    await until(() => answers.length + errors.length === 2, 'both answers');
    assert.deepEqual(errors.map((e) => e.payload.toString()), []);
    assert.deepEqual(answers.map((a) => a.packet.properties?.userProperties?.request_id).sort(), ['running', 'waiting']);
  } finally {
    runtime.letGo();
    await server.shutdown();
  }
});

test('a request the broker delivers again after a reconnect (its PUBACK held for back-pressure when the connection dropped: DUP, the same packet id) is acknowledged and not run again: one answer', async () => {
  // One message in flight at most: the held run's message has its PUBACK held too.
  const { server, runtime } = await serve('again', 'max_rows: 1000, timeout_ms: 600000', { maxInFlight: 1 });
  const door = server.streams!.frontDoor!;
  const answers = collect('again/answers');
  const correlations = () => answers.map((a) => a.packet.properties?.correlationData?.toString());
  let redelivered = 0;
  door.client.on('packetreceive', (packet) => { if (packet.cmd === 'publish' && packet.dup) redelivered++; });
  const ask = (id: string) => client.publishAsync('again/book-weather/in', JSON.stringify(bookRows(1)), { qos: 1, properties: { responseTopic: 'again/answers', correlationData: Buffer.from(id), userProperties: { request_id: id } } });
  try {
    runtime.hold();
    const batcher = server.core.resolve('book-weather')!.batcher;
    await ask('once');
    await until(() => batcher.stats().inFlightBatches === 1, 'the held run');
    // The connection drops before the PUBACK is sent: the broker delivers the request again to the session.
    door.client.stream.destroy();
    await until(() => redelivered === 1 && door.client.connected, 'the request delivered again after the reconnect');
    runtime.letGo();
    await until(() => answers.length >= 1, 'the answer');
    // A request after it: its answer comes after any second answer to the first.
    await ask('after');
    await until(() => correlations().includes('after'), 'the next answer');
    assert.deepEqual(correlations(), ['once', 'after']);
  } finally {
    runtime.letGo();
    await server.shutdown();
  }
});
