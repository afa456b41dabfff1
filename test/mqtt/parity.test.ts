// The same bad row over JSON REST and over MQTT gets the same error: the errors topic's
// {detail, code, status} equal to the HTTP answer's body and status. One table against one server
// and a real mosquitto, with the HTTP body limit and the MQTT payload limit set alike.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { startServer, type RunningServer } from '../../src/server.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { tempDir } from '../helpers/paths.js';
import { exampleModel } from '../pipelines/helpers.js';

const LIMIT = 4096;
const row = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };

const CASES: Array<{ title: string; model?: string; payload: string | Buffer }> = [
  { title: 'a payload that is not JSON', payload: 'not json' },
  { title: 'an empty payload', payload: '' },
  { title: 'a payload that is not UTF-8', payload: Buffer.concat([Buffer.from('{"temp_c": "'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]) },
  { title: 'a field of the wrong type', payload: JSON.stringify({ ...row, humidity: 'wet' }) },
  { title: 'a missing field', payload: JSON.stringify({ temp_c: 1 }) },
  { title: 'an unknown field in strict mode', model: 'strict', payload: JSON.stringify({ ...row, colour: 'red' }) },
  { title: 'a payload past the limit', payload: JSON.stringify(Array.from({ length: 40 }, () => row)) },
  { title: 'an empty array', payload: '[]' },
  { title: 'a JSON value that is not a row', payload: '42' },
];

let broker: Broker;
let server: RunningServer;
let client: MqttClient;

before(async () => {
  broker = await startMosquitto();
  const repo = tempDir();
  exampleModel(repo, 'weather');
  exampleModel(repo, 'weather', 'strict', 'strict: true\n');
  server = await startServer({ repo, port: 0, workers: 1, logger: false, bodyLimit: LIMIT, streams: { mqtt: { url: broker.url, required: true, maxPayload: LIMIT } } });
  await server.streams!.frontDoor!.waitReady();
  client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'test-parity' });
  await client.subscribeAsync(['modelserve/weather/errors', 'modelserve/strict/errors'], { qos: 1 });
});
after(async () => {
  await client?.endAsync();
  await server?.shutdown();
  await broker?.stop();
});

/** The next message on a model's errors topic with this correlation data. */
function errorFor(model: string, correlation: string): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const onMessage = (topic: string, payload: Buffer, packet: mqtt.IPublishPacket) => {
      if (topic !== `modelserve/${model}/errors` || packet.properties?.correlationData?.toString() !== correlation) return;
      client.off('message', onMessage);
      resolve(JSON.parse(payload.toString()) as Record<string, unknown>);
    };
    client.on('message', onMessage);
  });
}

for (const [i, c] of CASES.entries()) {
  test(`JSON REST and MQTT answer ${c.title} alike`, async () => {
    const model = c.model ?? 'weather';
    const res = await fetch(`${server.url}/models/${model}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: c.payload });
    const http = (await res.json()) as { detail: unknown; code?: string };
    assert.ok(res.status >= 400 && res.status < 500, `HTTP ${res.status}: ${JSON.stringify(http)}`);
    const arrived = errorFor(model, `case-${i}`);
    await client.publishAsync(`modelserve/${model}/predict`, c.payload, { qos: 1, properties: { correlationData: Buffer.from(`case-${i}`) } });
    const error = await arrived;
    // A 422 keeps FastAPI's body over HTTP ({detail} alone): its code is MS_ERR_VALIDATION.
    const code = http.code ?? (res.status === 422 ? 'MS_ERR_VALIDATION' : undefined);
    assert.deepEqual({ detail: error.detail, code: error.code, status: error.status }, { detail: http.detail, code, status: res.status });
  });
}
