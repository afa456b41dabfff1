// The MQTT front door and event sink against brokers that limit or forget: a broker whose Maximum
// Packet Size an answer or an event exceeds (publishing it would make the broker drop the
// connection, and MQTT.js would resend it after every reconnect: an outage from one message), and
// a broker restarted without its persistence (every session lost).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { startServer, type RunningServer } from '../../src/server.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { EXAMPLES, tempDir } from '../helpers/paths.js';
import { exampleModel } from '../pipelines/helpers.js';
import { startServe } from '../helpers/serve.js';
import { sample as promValue } from '../helpers/prom.js';

const MAX_PACKET = 65_536;
let broker: Broker;
let server: RunningServer;
let client: MqttClient;
const row = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The messages on a topic. */
function collect(topic: string): Array<Record<string, unknown>> {
  const got: Array<Record<string, unknown>> = [];
  client.on('message', (t, payload) => { if (t === topic) got.push(JSON.parse(payload.toString()) as Record<string, unknown>); });
  return got;
}

const metric = async (name: string, labels: Record<string, string>) => promValue(await (await fetch(`${server.url}/metrics`)).text(), name, labels) ?? 0;

/** The weather example, and the XGBoost example with every reading optional ('sparse'): an empty row is valid, its answer ~50 bytes. */
function repository(): string {
  const repo = tempDir();
  exampleModel(repo, 'weather');
  mkdirSync(join(repo, 'sparse'));
  const yaml = readFileSync(join(EXAMPLES, 'rain-xgboost', 'model.yaml'), 'utf8')
    .replace(/^name: .*$/m, 'name: sparse')
    .replace(/^model: model\.json$/m, `model: ${join(EXAMPLES, 'rain-xgboost', 'model.json')}`)
    .replaceAll('{ type: number,', '{ type: number, required: false,');
  writeFileSync(join(repo, 'sparse', 'model.yaml'), yaml);
  return repo;
}

before(async () => {
  broker = await startMosquitto([`max_packet_size ${MAX_PACKET}`]);
  server = await startServer({
    repo: repository(), port: 0, workers: 1, logger: false,
    streams: { mqtt: { url: broker.url, required: true, maxPayload: 1 << 20 }, events: { mqttTopic: 'test/events' } },
  });
  await server.streams!.frontDoor!.waitReady();
  client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'limits-client' });
  await client.subscribeAsync(['modelserve/+/predictions', 'modelserve/+/errors', 'test/events'], { qos: 1 });
});
after(async () => {
  await client?.endAsync();
  await server?.shutdown();
  await broker?.stop();
});

test('an answer larger than the broker accepts is MS_ERR_ANSWER_TOO_LARGE; a 422 too large carries its first issues; the connection survives', async () => {
  const errors = collect('modelserve/sparse/errors');
  const weatherErrors = collect('modelserve/weather/errors');
  const answers = collect('modelserve/weather/predictions');
  const reconnects = await metric('modelserve_mqtt_reconnects_total', {});
  // 'sparse' takes empty rows: 60 KB in, ~1 MB of answers out.
  const empties = JSON.stringify(Array.from({ length: 20_000 }, () => ({})));
  await client.publishAsync('modelserve/sparse/predict', empties, { qos: 1 });
  await until(() => errors.length > 0, 15_000, 'the error');
  assert.equal(errors[0]!.code, 'MS_ERR_ANSWER_TOO_LARGE');
  assert.equal(errors[0]!.status, 413);
  assert.match(String(errors[0]!.detail), /the answer is \d+ bytes, more than the MQTT broker accepts \(its maximum packet size is 65536 bytes\): send fewer rows per message/);
  // The weather model refuses them: 140,000 issues, ~14 MB, of which the first that fit are sent.
  await client.publishAsync('modelserve/weather/predict', empties, { qos: 1 });
  await until(() => weatherErrors.length > 0, 15_000, 'the 422');
  assert.equal(weatherErrors[0]!.code, 'MS_ERR_VALIDATION');
  const issues = weatherErrors[0]!.detail as Array<{ loc: unknown[] }>;
  assert.ok(issues.length > 10 && issues.length < 140_000, `${issues.length} issues`);
  assert.deepEqual(issues[0]!.loc, ['body', 0, 'temp_c']);
  // Still connected, never dropped: a plain request is answered at once.
  await client.publishAsync('modelserve/weather/predict', JSON.stringify(row), { qos: 1 });
  await until(() => answers.length > 0, 5_000, 'the answer');
  assert.equal(await metric('modelserve_mqtt_reconnects_total', {}), reconnects);
  assert.equal(await metric('modelserve_mqtt_connected', {}), 1);
});

test('a response topic so long that the error does not fit beside it: the error goes to the errors topic alone, the connection survives', async () => {
  const errors = collect('modelserve/weather/errors');
  const answers = collect('modelserve/weather/predictions');
  const reconnects = await metric('modelserve_mqtt_reconnects_total', {});
  // The request fits the broker's 64 KiB; its 422 (7 issues) published to this topic would not.
  const topic = `test/${'t'.repeat(65_000)}`;
  await client.publishAsync('modelserve/weather/predict', '{}', { qos: 1, properties: { responseTopic: topic, correlationData: Buffer.from('long') } });
  await until(() => errors.length > 0, 15_000, 'the error');
  assert.equal(errors[0]!.code, 'MS_ERR_VALIDATION');
  // Published after the error on the same connection: had the broker dropped it, this would come after a reconnect.
  await client.publishAsync('modelserve/weather/predict', JSON.stringify(row), { qos: 1 });
  await until(() => answers.length > 0, 15_000, 'the answer');
  assert.equal(await metric('modelserve_mqtt_reconnects_total', {}), reconnects);
  assert.equal(await metric('modelserve_mqtt_connected', {}), 1);
});

test('an event larger than the broker accepts is dropped and counted; the events after it are delivered', async () => {
  const events = collect('test/events');
  const dropped = await metric('modelserve_events_total', { sink: 'mqtt', outcome: 'dropped' });
  const tooLarge = await metric('modelserve_events_dropped_total', { sink: 'mqtt', reason: 'too_large' });
  const big = await fetch(`${server.url}/models/sparse/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(Array.from({ length: 5_000 }, () => ({}))) });
  assert.equal(big.status, 200);
  await until(async () => (await metric('modelserve_events_total', { sink: 'mqtt', outcome: 'dropped' })) === dropped + 1, 10_000, 'the drop counted');
  assert.equal(await metric('modelserve_events_dropped_total', { sink: 'mqtt', reason: 'too_large' }), tooLarge + 1, 'counted as too large');
  const small = await fetch(`${server.url}/models/weather/predict`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'after-the-big-one' }, body: JSON.stringify(row) });
  assert.equal(small.status, 200);
  await until(() => JSON.stringify(events).includes('after-the-big-one'), 10_000, 'the next event');
  assert.equal(await metric('modelserve_events_queued', { sink: 'mqtt' }), 0);
});

test('a broker restarted without its sessions: the front door subscribes again and /readyz comes back', async () => {
  assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
  await client.endAsync();
  await broker.stop();
  await until(() => !server.streams!.frontDoor!.client.connected, 5_000, 'the disconnect');
  assert.equal((await fetch(`${server.url}/readyz`)).status, 503);
  await broker.start({ forget: true });
  await until(async () => (await fetch(`${server.url}/readyz`)).status === 200, 20_000, '/readyz 200 again');
  assert.equal(await metric('modelserve_mqtt_subscribed', { model: 'weather' }), 1);
  client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'limits-client' });
  await client.subscribeAsync('modelserve/weather/predictions', { qos: 1 });
  const answers = collect('modelserve/weather/predictions');
  await client.publishAsync('modelserve/weather/predict', JSON.stringify(row), { qos: 1 });
  await until(() => answers.length > 0, 5_000, 'the answer after the restart');
});

test('a broker that refuses the credentials is logged and retried: once it accepts them, the front door connects', async (t) => {
  const dir = tempDir();
  const passwords = join(dir, 'passwords');
  writeFileSync(passwords, '');
  const setPassword = (password: string) => execFileSync('mosquitto_passwd', ['-b', passwords, 'modelserve', password]);
  setPassword('the-old-one');
  const locked = await startMosquitto(['allow_anonymous false', `password_file ${passwords}`]);
  t.after(() => locked.stop());
  const logs: string[] = [];
  const stream = new Writable({ write(chunk: Buffer, _e, done) { logs.push(chunk.toString()); done(); } });
  const guarded = await startServer({
    repo: repository(), port: 0, workers: 1, logger: { level: 'warn', stream },
    streams: { mqtt: { url: locked.url, username: 'modelserve', password: 'the-new-one', required: true } },
  });
  t.after(() => guarded.shutdown());
  await until(() => logs.some((l) => l.includes('mqtt: cannot connect to the broker')), 10_000, 'the refusal logged');
  assert.equal((await fetch(`${guarded.url}/readyz`)).status, 503);
  setPassword('the-new-one');
  await locked.stop();
  await locked.start();
  await guarded.streams!.frontDoor!.waitReady(20_000);
  assert.equal((await fetch(`${guarded.url}/readyz`)).status, 200);
});

test('a user:password given in --mqtt-url never reaches the log: the URL is logged with …@ in its place', async (t) => {
  const dir = tempDir();
  const passwords = join(dir, 'passwords');
  writeFileSync(passwords, '');
  execFileSync('mosquitto_passwd', ['-b', passwords, 'modelserve', 'the-right-one']);
  const locked = await startMosquitto(['allow_anonymous false', `password_file ${passwords}`]);
  t.after(() => locked.stop());
  const logs: string[] = [];
  const stream = new Writable({ write(chunk: Buffer, _e, done) { logs.push(chunk.toString()); done(); } });
  const withUrl = (password: string) => locked.url.replace('mqtt://', `mqtt://modelserve:${password}@`);
  // A wrong one first (the refusal is logged with the URL), then the right one (so is the connection).
  const refused = await startServer({ repo: repository(), port: 0, workers: 1, logger: { level: 'info', stream }, streams: { mqtt: { url: withUrl('wrong-Secret-7f3a') } } });
  t.after(() => refused.shutdown());
  await until(() => logs.some((l) => l.includes('mqtt: cannot connect to the broker')), 10_000, 'the refusal logged');
  const accepted = await startServer({ repo: repository(), port: 0, workers: 1, logger: { level: 'info', stream }, streams: { mqtt: { url: withUrl('the-right-one') } } });
  t.after(() => accepted.shutdown());
  await accepted.streams!.frontDoor!.waitReady(10_000);
  const log = logs.join('');
  assert.match(log, /mqtt: connected/);
  assert.ok(log.includes(locked.url.replace('mqtt://', 'mqtt://…@')), log);
  assert.doesNotMatch(log, /wrong-Secret-7f3a|the-right-one|modelserve:/);
});

test('SIGTERM with the MQTT front door and events: the process ends because nothing holds it, not by its 3 s fallback exit', async (t) => {
  const probe = join(tempDir(), 'probe.cjs');
  // 'beforeExit' fires only when the event loop empties by itself (process.exit() skips it).
  writeFileSync(probe, "process.on('beforeExit', () => process.stderr.write('[event loop empty]\\n'));\n");
  const cli = startServe([join(EXAMPLES, 'weather'), '--port', '0', '--grpc-port', '0', '--workers', '1', '--log-level', 'warn', '--mqtt-url', broker.url, '--events-mqtt-topic', 'test/cli-events'], { nodeArgs: ['--require', probe] });
  t.after(() => cli.kill());
  const url = await cli.url;
  assert.equal((await fetch(`${url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(row) })).status, 200);
  cli.child.kill('SIGTERM');
  assert.equal(await cli.exited, 0);
  assert.match(cli.stderr(), /\[event loop empty\]/);
});
