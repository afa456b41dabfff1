// A pipeline over MQTT against a real mosquitto: a step's 422 (a row no branch of a switch takes,
// a nested pipeline's step rejecting a row) reaches the errors topic as HTTP answers it — FastAPI's
// issues naming the step — not as one line of text.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { startServer, type RunningServer } from '../../src/server.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { exampleModel, newRepo, WEATHER_ROW, writeConfig } from './helpers.js';

let broker: Broker;
let server: RunningServer;
let client: MqttClient;

before(async () => {
  const repo = newRepo();
  exampleModel(repo, 'weather');
  writeConfig(repo, 'warm-only', `
pipeline:
  switch:
    - name: warm
      when: { field: temp_c, range: { gte: 10 } }
      model: weather
`);
  writeConfig(repo, 'wrapped', `
pipeline:
  sequence:
    - name: inner
      model: warm-only
`);
  broker = await startMosquitto();
  server = await startServer({ repo, port: 0, workers: 1, logger: false, streams: { mqtt: { url: broker.url, required: true } } });
  await server.streams!.frontDoor!.waitReady();
  client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'pipeline-mqtt-test' });
});
after(async () => {
  await client?.endAsync();
  await server?.shutdown();
  await broker?.stop();
});

async function overMqtt(model: string, body: unknown): Promise<Record<string, unknown>> {
  const topic = `modelserve/${model}/errors`;
  await client.subscribeAsync(topic, { qos: 1 });
  const got = new Promise<Buffer>((resolve) => {
    const on = (t: string, payload: Buffer) => { if (t === topic) { client.off('message', on); resolve(payload); } };
    client.on('message', on);
  });
  await client.publishAsync(`modelserve/${model}/predict`, JSON.stringify(body), { qos: 1 });
  return JSON.parse((await got).toString()) as Record<string, unknown>;
}

async function overHttp(model: string, body: unknown): Promise<{ status: number; body: { detail: unknown } }> {
  const res = await fetch(`${server.url}/models/${model}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() as { detail: unknown } };
}

test("a step's 422 over MQTT is HTTP's FastAPI detail (naming the step), code MS_ERR_STEP_VALIDATION, status 422", async () => {
  const cold = { ...WEATHER_ROW, temp_c: 2 };
  for (const [model, body, loc] of [
    ['warm-only', cold, ['body', 'temp_c']],
    ['wrapped', [{ ...WEATHER_ROW, temp_c: 20 }, cold], ['step', 'inner', 'body', 1, 'temp_c']],
  ] as const) {
    const http = await overHttp(model, body);
    assert.equal(http.status, 422);
    const message = await overMqtt(model, body);
    assert.equal(message.code, 'MS_ERR_STEP_VALIDATION');
    assert.equal(message.status, 422);
    assert.ok(Array.isArray(message.detail), `${model}: detail is ${JSON.stringify(message.detail)}`);
    assert.deepEqual(message.detail, http.body.detail);
    assert.deepEqual((message.detail as Array<{ loc: unknown }>)[0]!.loc, loc);
  }
});
