// The MQTT front door against a mosquitto with message_size_limit (no Maximum Packet Size in its
// CONNACK): an answer past the limit is refused with PUBACK 0x95, which MQTT 5 does not allow in a
// PUBACK and MQTT.js cannot read. The front door used to go deaf on that connection (every later
// request unanswered, /readyz still 200); now the client hears MS_ERR_ANSWER_TOO_LARGE (or a 422's
// first issues), later requests are answered, and answers that large are not sent again.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import { startServer, type RunningServer } from '../../src/server.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { HeldRuntime } from '../helpers/held-runtime.js';
import { EXAMPLES, tempDir } from '../helpers/paths.js';
import { exampleModel } from '../pipelines/helpers.js';
import { sample as promValue } from '../helpers/prom.js';
import { captureLogLines } from '../helpers/logs.js';

const LIMIT = 8_000;
let broker: Broker;
let server: RunningServer;
let client: MqttClient;
const logs = captureLogLines<{ msg: string }>();
const row = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };

async function until(check: () => boolean, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function collect(topic: string): Array<{ body: Record<string, unknown> | unknown[]; packet: IPublishPacket }> {
  const got: Array<{ body: Record<string, unknown> | unknown[]; packet: IPublishPacket }> = [];
  client.on('message', (t, payload, packet) => { if (t === topic) got.push({ body: JSON.parse(payload.toString()) as Record<string, unknown>, packet }); });
  return got;
}

const reconnects = async () => promValue(await (await fetch(`${server.url}/metrics`)).text(), 'modelserve_mqtt_reconnects_total') ?? 0;

before(async () => {
  broker = await startMosquitto([`message_size_limit ${LIMIT}`]);
  // The weather example, and the XGBoost example with every reading optional: an empty row (2 bytes) is valid, its answer ~60 bytes.
  const repo = tempDir();
  exampleModel(repo, 'weather');
  mkdirSync(join(repo, 'sparse'));
  writeFileSync(join(repo, 'sparse', 'model.yaml'), readFileSync(join(EXAMPLES, 'rain-xgboost', 'model.yaml'), 'utf8')
    .replace(/^name: .*$/m, 'name: sparse')
    .replace(/^model: model\.json$/m, `model: ${join(EXAMPLES, 'rain-xgboost', 'model.json')}`)
    .replaceAll('{ type: number,', '{ type: number, required: false,'));
  server = await startServer({ repo, port: 0, workers: 1, logger: { level: 'warn', stream: logs.stream }, streams: { mqtt: { url: broker.url, required: true, maxPayload: LIMIT } } });
  await server.streams!.frontDoor!.waitReady();
  client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'size-limit-client' });
  await client.subscribeAsync(['modelserve/+/predictions', 'modelserve/+/errors', 'test/#'], { qos: 1 });
});
after(async () => {
  await client?.endAsync();
  await server?.shutdown();
  await broker?.stop();
});

test("an answer past mosquitto's message_size_limit is MS_ERR_ANSWER_TOO_LARGE to its client; the front door answers the next requests instead of going deaf", async () => {
  const weatherErrors = collect('modelserve/weather/errors');
  const sparseErrors = collect('modelserve/sparse/errors');
  const bigAnswers = collect('test/big');
  const answers = collect('test/after');
  const empties = JSON.stringify(Array.from({ length: 200 }, () => ({})));

  // 600 bytes in: 1,400 issues out (~130 KB), then the first issues that fit.
  await client.publishAsync('modelserve/weather/predict', empties, { qos: 1, properties: { correlationData: Buffer.from('422') } });
  await until(() => weatherErrors.length > 0, 15_000, 'the 422');
  const issues = weatherErrors[0]!.body as { code: string; detail: Array<{ loc: unknown[] }> };
  assert.equal(issues.code, 'MS_ERR_VALIDATION');
  assert.ok(issues.detail.length > 1 && issues.detail.length < 1400, `${issues.detail.length} issues`);
  assert.deepEqual(issues.detail[0]!.loc, ['body', 0, 'temp_c']);
  assert.equal(weatherErrors[0]!.packet.properties?.correlationData?.toString(), '422');

  // 600 bytes in, ~12 KB of predictions out.
  await client.publishAsync('modelserve/sparse/predict', empties, { qos: 1, properties: { responseTopic: 'test/big', correlationData: Buffer.from('big-1') } });
  await until(() => sparseErrors.length > 0 && bigAnswers.length > 0, 15_000, 'the error');
  for (const { body, packet } of [sparseErrors[0]!, bigAnswers[0]!]) {
    assert.equal((body as { code: string }).code, 'MS_ERR_ANSWER_TOO_LARGE');
    assert.equal((body as { status: number }).status, 413);
    assert.match(String((body as { detail: string }).detail), /^the answer is \d+ bytes, more than the MQTT broker accepts \(it refused a message of \d+ bytes: a limit such as mosquitto's message_size_limit\): send fewer rows per message$/);
    assert.equal(packet.properties?.correlationData?.toString(), 'big-1');
  }

  // The connection reads again: a plain request is answered.
  await client.publishAsync('modelserve/weather/predict', JSON.stringify(row), { qos: 1, properties: { responseTopic: 'test/after' } });
  await until(() => answers.length === 1, 15_000, 'the answer after');
  // The log says what happened: not a broker that cannot be reached or connected to.
  const said = logs.lines.map((l) => l.msg);
  assert.ok(said.includes('mqtt: dropped the connection to the broker after a PUBACK MQTT.js cannot read (it reads nothing more on it); reconnecting'), JSON.stringify(said));
  assert.deepEqual(said.filter((m) => /cannot connect|unreachable|lost the connection/.test(m)), []);

  // The limit is learnt: the next answer that large is refused here, without a refusal and reconnect.
  const before = await reconnects();
  await client.publishAsync('modelserve/sparse/predict', empties, { qos: 1, properties: { correlationData: Buffer.from('big-2') } });
  await until(() => sparseErrors.length > 1, 15_000, 'the second error');
  assert.equal((sparseErrors[1]!.body as { code: string }).code, 'MS_ERR_ANSWER_TOO_LARGE');
  await client.publishAsync('modelserve/weather/predict', JSON.stringify(row), { qos: 1, properties: { responseTopic: 'test/after' } });
  await until(() => answers.length === 2, 15_000, 'the second answer after');
  assert.equal(await reconnects(), before);
  assert.equal(Object.keys(server.streams!.frontDoor!.client.outgoing).length, 0, 'every answer acknowledged');
});

/** A TCP relay to the broker whose two directions can each be held (their bytes kept) and let go as one write. */
async function relay(port: number) {
  const held = { up: undefined as Buffer[] | undefined, down: undefined as Buffer[] | undefined };
  let pair: { client: Socket; broker: Socket } | undefined;
  const server = createServer((client) => {
    const broker = connect(port, '127.0.0.1');
    pair = { client, broker };
    client.setNoDelay(true);
    broker.setNoDelay(true);
    client.on('data', (b: Buffer) => { if (held.up) held.up.push(b); else broker.write(b); });
    broker.on('data', (b: Buffer) => { if (held.down) held.down.push(b); else client.write(b); });
    client.on('error', () => broker.destroy());
    broker.on('error', () => client.destroy());
    client.on('close', () => broker.destroy());
    broker.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`,
    hold(way: 'up' | 'down') { held[way] = []; },
    held(way: 'up' | 'down'): Buffer { return Buffer.concat(held[way] ?? []); },
    letGo(way: 'up' | 'down') {
      const bytes = Buffer.concat(held[way] ?? []);
      held[way] = undefined;
      if (bytes.length > 0) (way === 'up' ? pair!.broker : pair!.client).write(bytes);
    },
    close: () => new Promise<void>((r) => { pair?.client.destroy(); pair?.broker.destroy(); server.close(() => r()); }),
  };
}

/** The MQTT packets in a run of bytes (whole packets): type and body. */
function packets(bytes: Buffer): Array<{ type: number; body: Buffer }> {
  const out: Array<{ type: number; body: Buffer }> = [];
  for (let at = 0; at < bytes.length;) {
    let length = 0;
    let i = at + 1;
    for (let shift = 0; ; shift += 7) { const b = bytes[i++]!; length += (b & 0x7f) * 2 ** shift; if (!(b & 0x80)) break; }
    out.push({ type: bytes[at]! >> 4, body: bytes.subarray(i, i + length) });
    at = i + length;
  }
  return out;
}

test('the refused answer is found by the packet id of the PUBACK refusing it: a request read just before it (the pump paused behind it) and an answer acknowledged in the same read are not blamed', async () => {
  const proxy = await relay(broker.port);
  const runtime = new HeldRuntime();
  const repo = tempDir();
  exampleModel(repo, 'weather');
  // One message in processing at most: the request read just before the refusal holds MQTT.js's reading (its run held).
  const paused = await startServer({ repo, port: 0, workers: 1, logger: false, runtime, streams: { mqtt: { url: proxy.url, maxPayload: LIMIT, topics: { request: 'paused/{model}/in', predictions: 'paused/{model}/out', errors: 'paused/{model}/err' }, ...{ maxInFlight: 1 } } } });
  const got: Array<{ topic: string; correlation: string; body: { code?: string; detail?: unknown[] } }> = [];
  client.on('message', (topic, payload, packet) => {
    if (topic.startsWith('paused/')) got.push({ topic, correlation: packet.properties?.correlationData?.toString() ?? '', body: JSON.parse(payload.toString()) as { code?: string; detail?: unknown[] } });
  });
  const of = (c: string) => got.filter((g) => g.correlation === c);
  try {
    const door = paused.streams!.frontDoor!;
    await door.waitReady();
    await client.subscribeAsync(['paused/weather/out', 'paused/weather/err'], { qos: 1 });
    runtime.hold();
    proxy.hold('up');
    // A 422 of 7 issues (~1 KB, fits), then one of 1,400 issues (~130 KB, refused): both published, neither acknowledged yet.
    await client.publishAsync('paused/weather/in', JSON.stringify([{}]), { qos: 1, properties: { correlationData: Buffer.from('small') } });
    await client.publishAsync('paused/weather/in', JSON.stringify(Array.from({ length: 200 }, () => ({}))), { qos: 1, properties: { correlationData: Buffer.from('big') } });
    await until(() => Object.keys(door.client.outgoing).length === 2, 15_000, 'both answers published');
    // A request read, in one chunk, before the small answer's PUBACK and the big one's PUBACK 0x95.
    proxy.hold('down');
    await client.publishAsync('paused/weather/in', JSON.stringify(row), { qos: 1, properties: { correlationData: Buffer.from('row') } });
    await until(() => packets(proxy.held('down')).some((p) => p.type === 3), 15_000, 'the request at the relay');
    proxy.letGo('up');
    await until(() => packets(proxy.held('down')).some((p) => p.type === 4 && p.body[2] === 0x95), 15_000, 'the PUBACK 0x95 at the relay');
    assert.deepEqual(packets(proxy.held('down')).map((p) => p.type), [3, 4, 4], 'the request, the small answer\'s PUBACK, the big one\'s');
    let reconnects = 0;
    door.client.on('reconnect', () => { reconnects++; });
    proxy.letGo('down');
    // The refusal handled (the connection, unreadable now, dropped), the run is let go: the request held
    // MQTT.js's reading, and with it the acknowledgements its resends after the reconnect wait for.
    await until(() => reconnects > 0, 15_000, 'the reconnect after the refusal');
    runtime.letGo();
    await until(() => of('big').length === 1, 15_000, `the big 422 said again under the limit (got ${JSON.stringify(got.map((g) => [g.correlation, g.body.code, g.body.detail?.length]))})`);
    assert.equal(of('big')[0]!.body.code, 'MS_ERR_VALIDATION');
    assert.ok(of('big')[0]!.body.detail!.length < 1400, `${of('big')[0]!.body.detail!.length} issues`);
    await until(() => of('row').length >= 1, 15_000, 'the request\'s answer');
    // Answers as large as the small 422 still go: it was not taken for the refused one.
    await client.publishAsync('paused/weather/in', JSON.stringify([{}]), { qos: 1, properties: { correlationData: Buffer.from('small-again') } });
    await until(() => of('small-again').length === 1, 15_000, 'the second small 422');
    assert.equal(of('small-again')[0]!.body.detail!.length, 7);
    // (Its PUBACK, read but not handled when the connection was dropped, is lost with it: QoS 1 resends it, the same message.)
    assert.ok(of('small').length >= 1);
    for (const g of of('small')) assert.deepEqual([g.body.code, g.body.detail!.length], ['MS_ERR_VALIDATION', 7]);
  } finally {
    runtime.letGo();
    await paused.shutdown();
    await proxy.close();
  }
});

test('the limit a refusal taught is forgotten when the connection to the broker is lost and made again: a broker restarted with a larger message_size_limit gets the answers it now takes', async () => {
  const sparseErrors = collect('modelserve/sparse/errors');
  const bigAnswers = collect('test/big-after-restart');
  const empties = JSON.stringify(Array.from({ length: 200 }, () => ({})));
  const door = server.streams!.frontDoor!;
  // The first test taught the ~12 KB answer's size; the broker now restarts taking 10 times the limit.
  await broker.stop();
  const conf = join(broker.dir, 'mosquitto.conf');
  writeFileSync(conf, readFileSync(conf, 'utf8').replace(`message_size_limit ${LIMIT}`, `message_size_limit ${LIMIT * 10}`));
  await broker.start();
  await until(() => door.ready() && client.connected, 30_000, 'the front door and the client connected again');
  await client.subscribeAsync(['modelserve/+/errors', 'test/#'], { qos: 1 });
  await client.publishAsync('modelserve/sparse/predict', empties, { qos: 1, properties: { responseTopic: 'test/big-after-restart', correlationData: Buffer.from('big-3') } });
  await until(() => bigAnswers.length > 0 || sparseErrors.length > 0, 15_000, 'the answer');
  assert.deepEqual(sparseErrors.map((e) => e.body), [], 'not refused under the old limit');
  assert.ok(Array.isArray(bigAnswers[0]!.body) || !('code' in bigAnswers[0]!.body), JSON.stringify(bigAnswers[0]!.body).slice(0, 300));
  assert.equal(bigAnswers[0]!.packet.properties?.correlationData?.toString(), 'big-3');
});
