// Graceful shutdown with MQTT requests in flight: a request the front door took (and acknowledged)
// is answered within --drain-timeout, as an HTTP request is, however long it waits for its batch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { startServer } from '../../src/server.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir } from '../helpers/paths.js';
import { sample as promValue } from '../helpers/prom.js';
import { exampleModel } from '../pipelines/helpers.js';

const row = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('an MQTT request in flight at shutdown is answered within the drain timeout, however long its batch waits', async () => {
  const broker = await startMosquitto();
  const repo = tempDir();
  // The row waits up to 8 s for others: longer than the front door used to wait for its requests at shutdown (5 s).
  exampleModel(repo, 'weather', 'weather', 'batching: { max_queue_delay_ms: 8000 }\n');
  const server = await startServer({ repo, port: 0, workers: 1, logger: false, drainTimeout: 30_000, streams: { mqtt: { url: broker.url } } });
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'shutdown-test' });
  try {
    await server.streams!.frontDoor!.waitReady();
    const answers: string[] = [];
    client.on('message', (topic, payload) => { if (topic === 'test/answers') answers.push(payload.toString()); });
    await client.subscribeAsync('test/answers', { qos: 1 });
    await client.publishAsync('modelserve/weather/predict', JSON.stringify(row), { qos: 1, properties: { responseTopic: 'test/answers' } });
    // Taken: the row waits in the model's queue.
    await until(async () => (promValue(await (await fetch(`${server.url}/metrics`)).text(), 'modelserve_queue_depth', { model: 'weather', version: '1' }) ?? 0) === 1, 10_000, 'the row in the queue');
    const drained = await server.shutdown();
    await until(() => answers.length === 1, 15_000, 'the answer');
    assert.equal((JSON.parse(answers[0]!) as { prediction: string }).prediction, 'No_Rain');
    assert.equal(drained, true);
  } finally {
    await client.endAsync();
    await server.shutdown();
    await broker.stop();
  }
});

test('with --mqtt-client-id (no group) a restart loses no request: those published during the shutdown or while no process runs are answered by the next process', async () => {
  const broker = await startMosquitto();
  const repo = tempDir();
  // The first row waits in its batch, so the shutdown is under way while it is in flight.
  exampleModel(repo, 'weather', 'weather', 'batching: { max_queue_delay_ms: 3000 }\n');
  const streams = { mqtt: { url: broker.url, clientId: 'modelserve-restart-test' } };
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'restart-test' });
  let server = await startServer({ repo, port: 0, workers: 1, logger: false, drainTimeout: 30_000, streams });
  try {
    await server.streams!.frontDoor!.waitReady();
    const answers: string[] = [];
    client.on('message', (topic, _payload, packet) => { if (topic === 'test/answers') answers.push(packet.properties!.correlationData!.toString()); });
    await client.subscribeAsync('test/answers', { qos: 1 });
    const send = (id: string) => client.publishAsync('modelserve/weather/predict', JSON.stringify(row), { qos: 1, properties: { responseTopic: 'test/answers', correlationData: Buffer.from(id) } });
    await send('in-flight');
    await until(async () => (promValue(await (await fetch(`${server.url}/metrics`)).text(), 'modelserve_queue_depth', { model: 'weather', version: '1' }) ?? 0) === 1, 10_000, 'the row in the queue');
    const shutdown = server.shutdown();
    await send('during-shutdown');
    assert.equal(await shutdown, true);
    // Published while no modelserve runs: the broker keeps it for the session (it used to be unsubscribed at shutdown, and the request dropped).
    await send('between');
    server = await startServer({ repo, port: 0, workers: 1, logger: false, streams });
    await until(() => answers.length >= 3, 15_000, `the three answers (got ${JSON.stringify(answers)})`);
    assert.deepEqual([...answers].sort(), ['between', 'during-shutdown', 'in-flight'], 'each answered once');
  } finally {
    await client.endAsync();
    await server.shutdown();
    await broker.stop();
  }
});
