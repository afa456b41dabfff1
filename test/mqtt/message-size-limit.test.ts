// The MQTT front door against a mosquitto with message_size_limit (no Maximum Packet Size in its
// CONNACK): an answer past the limit is refused with PUBACK 0x95, which MQTT 5 does not allow in a
// PUBACK and MQTT.js cannot read. The front door used to go deaf on that connection (every later
// request unanswered, /readyz still 200); now the client hears MS_ERR_ANSWER_TOO_LARGE (or a 422's
// first issues), later requests are answered, and answers that large are not sent again.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import { startServer, type RunningServer } from '../../src/server.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { EXAMPLES, tempDir } from '../helpers/paths.js';
import { exampleModel } from '../pipelines/helpers.js';
import { sample as promValue } from '../helpers/prom.js';

const LIMIT = 8_000;
let broker: Broker;
let server: RunningServer;
let client: MqttClient;
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
  server = await startServer({ repo, port: 0, workers: 1, logger: false, streams: { mqtt: { url: broker.url, required: true, maxPayload: LIMIT } } });
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
