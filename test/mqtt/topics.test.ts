// Per-model MQTT topics from model.yaml (`mqtt:`), overriding the server's topic templates, against
// a real mosquitto; and a wildcard in a configured topic is a config problem naming the key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { startServer } from '../../src/server.js';
import { loadRepository } from '../../src/config/load.js';
import { StartupError } from '../../src/errors.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { EXAMPLES, writeBookModelFolder } from '../helpers/paths.js';

const ROW = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };
const TOPICS = 'mqtt:\n  request_topic: plant/7/weather/in\n  predictions_topic: plant/7/weather/out\n  errors_topic: plant/7/weather/err\n';

test("a model's own topics in model.yaml replace the server's templates for it", async () => {
  const broker = await startMosquitto();
  const server = await startServer({ repo: writeBookModelFolder(undefined, TOPICS), port: 0, workers: 1, logger: false, streams: { mqtt: { url: broker.url } } });
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'topics-test' });
  try {
    await server.streams!.frontDoor!.waitReady();
    const got: Record<string, string[]> = {};
    client.on('message', (topic, payload) => { (got[topic] ??= []).push(payload.toString()); });
    await client.subscribeAsync(['plant/7/weather/out', 'plant/7/weather/err'], { qos: 1 });
    await client.publishAsync('plant/7/weather/in', JSON.stringify(ROW), { qos: 1 });
    await client.publishAsync('plant/7/weather/in', JSON.stringify({ ...ROW, humidity: 'wet' }), { qos: 1 });
    const end = Date.now() + 10_000;
    while ((got['plant/7/weather/out']?.length ?? 0) < 1 || (got['plant/7/weather/err']?.length ?? 0) < 1) {
      assert.ok(Date.now() < end, `no answers on the model's topics: ${JSON.stringify(got)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const http = await fetch(`${server.url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ROW) });
    assert.equal(got['plant/7/weather/out']![0], await http.text(), 'the same answer as HTTP');
    assert.match(got['plant/7/weather/err']![0]!, /"loc":\["body","humidity"\]/);
  } finally {
    await client.endAsync();
    await server.shutdown();
    await broker.stop();
  }
});

test('a wildcard or a $share/ prefix in a configured topic is a config problem naming the key', () => {
  const dir = writeBookModelFolder(undefined, 'mqtt:\n  request_topic: plant/+/in\n');
  assert.throws(() => loadRepository(dir), (err: unknown) => err instanceof StartupError && /mqtt\.request_topic/.test(err.message));
  // $share/g/plant/in was subscribed (and counted ready), but its messages arrive as plant/in: never answered.
  const shared = writeBookModelFolder(undefined, 'mqtt:\n  request_topic: $share/g/plant/in\n');
  assert.throws(() => loadRepository(shared), (err: unknown) => err instanceof StartupError && /mqtt\.request_topic: '\$share\/g\/plant\/in' starts with \$share\/, which names a shared subscription/.test(err.message));
});

test('models that would share a request topic keep the server from starting, naming them and the topic', async () => {
  const broker = await startMosquitto();
  try {
    // No {model} in the template: every example model would get plant/in, and all but one be unreachable.
    const refusal = await startServer({ repo: EXAMPLES, port: 0, workers: 1, logger: false, streams: { mqtt: { url: broker.url, topics: { request: 'plant/in' } } } })
      .then(async (started) => { await started.shutdown(); return undefined; }, (err: unknown) => err as Error);
    assert.match(refusal?.message ?? 'it started', /the models 'loan', 'rain-xgboost', 'weather' have the same request topic 'plant\/in'/);
    // With one model such a template is fine.
    const server = await startServer({ repo: writeBookModelFolder(), port: 0, workers: 1, logger: false, streams: { mqtt: { url: broker.url, topics: { request: 'plant/in' } } } });
    try {
      await server.streams!.frontDoor!.waitReady();
    } finally {
      await server.shutdown();
    }
  } finally {
    await broker.stop();
  }
});

test("--events-mqtt-topic equal to a model's request topic keeps the server from starting (each event came back as a request: with defaults for every field, endlessly)", async () => {
  const broker = await startMosquitto();
  try {
    const refusal = await startServer({ repo: writeBookModelFolder(), port: 0, workers: 1, logger: false, streams: { mqtt: { url: broker.url }, events: { mqttTopic: 'modelserve/book-weather/predict' } } })
      .then(async (started) => { await started.shutdown(); return undefined; }, (err: unknown) => err as Error);
    assert.match(refusal?.message ?? 'it started', /--events-mqtt-topic 'modelserve\/book-weather\/predict' is the request topic of the model 'book-weather'/);
  } finally {
    await broker.stop();
  }
});

test('an errors or predictions topic that is a request topic, or events on an answer topic, keep the server from starting (an error published to the request topic came back as a request: a 422, endlessly)', async () => {
  const broker = await startMosquitto();
  try {
    const refused = (streams: Parameters<typeof startServer>[0]['streams']) => startServer({ repo: writeBookModelFolder(), port: 0, workers: 1, logger: false, streams })
      .then(async (started) => { await started.shutdown(); return 'it started'; }, (err: unknown) => (err as Error).message);
    assert.match(await refused({ mqtt: { url: broker.url, topics: { errors: 'modelserve/{model}/predict' } } }),
      /mqtt: the model 'book-weather''s errors topic 'modelserve\/book-weather\/predict' is the request topic of the model 'book-weather': each message published there would come back as a request/);
    assert.match(await refused({ mqtt: { url: broker.url, topics: { predictions: 'plant/in' } } }), /it started/);
    assert.match(await refused({ mqtt: { url: broker.url, topics: { request: 'plant/in', predictions: 'plant/in' } } }),
      /the model 'book-weather''s predictions topic 'plant\/in' is the request topic of the model 'book-weather'/);
    assert.match(await refused({ mqtt: { url: broker.url }, events: { mqttTopic: 'modelserve/book-weather/predictions' } }),
      /--events-mqtt-topic 'modelserve\/book-weather\/predictions' is the model 'book-weather''s predictions topic: events and answers would be mixed on it/);
  } finally {
    await broker.stop();
  }
});

test('a retained message on a request topic is not answered when the front door subscribes (each restart would answer it again); requests published after are', async () => {
  const broker = await startMosquitto();
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'retained-test' });
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    const answers: string[] = [];
    client.on('message', (topic, _payload, packet) => { if (topic === 'retained/answers') answers.push(String(packet.properties?.correlationData)); });
    await client.subscribeAsync('retained/answers', { qos: 1 });
    const request = (id: string, retain: boolean) => client.publishAsync('modelserve/book-weather/predict', JSON.stringify(ROW), { qos: 1, retain, properties: { responseTopic: 'retained/answers', correlationData: Buffer.from(id) } });
    await request('retained', true);
    server = await startServer({ repo: writeBookModelFolder(), port: 0, workers: 1, logger: false, streams: { mqtt: { url: broker.url } } });
    await server.streams!.frontDoor!.waitReady();
    await request('live', false);
    const end = Date.now() + 10_000;
    while (answers.length < 1) {
      assert.ok(Date.now() < end, 'no answer to the live request');
      await new Promise((r) => setTimeout(r, 20));
    }
    // The retained request was there before the subscription, so its answer would have come first.
    assert.deepEqual(answers, ['live']);
  } finally {
    await client.endAsync();
    await server?.shutdown();
    await broker.stop();
  }
});

test('a request whose response topic is the events topic is refused: a client cannot have the server publish into the events stream with its permissions', async () => {
  const broker = await startMosquitto();
  const server = await startServer({ repo: writeBookModelFolder(), port: 0, workers: 1, logger: false, streams: { mqtt: { url: broker.url }, events: { mqttTopic: 'cloud/events' } } });
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'events-topic-test' });
  try {
    await server.streams!.frontDoor!.waitReady();
    const got: Record<string, string[]> = {};
    client.on('message', (topic, payload) => { (got[topic] ??= []).push(payload.toString()); });
    await client.subscribeAsync(['cloud/events', 'modelserve/book-weather/errors', 'events-topic-test/marker'], { qos: 1 });
    await client.publishAsync('modelserve/book-weather/predict', JSON.stringify(ROW), { qos: 1, properties: { responseTopic: 'cloud/events', userProperties: { request_id: 'refused' } } });
    const end = Date.now() + 10_000;
    while ((got['modelserve/book-weather/errors']?.length ?? 0) < 1) {
      assert.ok(Date.now() < end, `no error: ${JSON.stringify(got)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const error = JSON.parse(got['modelserve/book-weather/errors']![0]!) as { code: string; detail: string };
    assert.equal(error.code, 'MS_ERR_BAD_RESPONSE_TOPIC');
    assert.match(error.detail, /the response topic "cloud\/events" is the prediction events' topic \(--events-mqtt-topic\)/);
    // A marker request, run: had the refused one been run, its answer was published before the
    // marker's (one front-door connection, in order) and its event before the marker's (the sink
    // sends events in prediction order). A fixed sleep passed on a slow machine whatever came later.
    await client.publishAsync('modelserve/book-weather/predict', JSON.stringify(ROW), { qos: 1, properties: { responseTopic: 'events-topic-test/marker', userProperties: { request_id: 'marker' } } });
    const events = () => (got['cloud/events'] ?? []).flatMap((m) => JSON.parse(m) as { requestid?: string } | Array<{ requestid?: string }>);
    const markerEnd = Date.now() + 10_000;
    while ((got['events-topic-test/marker']?.length ?? 0) < 1 || !events().some((e) => e.requestid === 'marker')) {
      assert.ok(Date.now() < markerEnd, `no answer or no event for the marker: ${JSON.stringify(got)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    // The request was not run: no event for it, and nothing but events on the events topic.
    assert.deepEqual(events().filter((e) => e.requestid === 'refused'), [], 'no event for the refused request');
    for (const message of got['cloud/events'] ?? []) assert.ok('specversion' in (JSON.parse(message) as object), `not an event: ${message}`);
  } finally {
    await client.endAsync();
    await server.shutdown();
    await broker.stop();
  }
});
