// The proof, end to end against a real mosquitto:
// - 10,000 readings at QoS 1 -> 10,000 predictions, each equal to the HTTP answer for the same row,
//   with the broker stopped for 3 s mid-stream and restarted: no prediction and no event missing
//   (duplicates allowed and counted), and a webhook that answers 500 for a while still receives
//   every event afterwards; the events are valid CloudEvents (checked with the cloudevents SDK);
// - a sink whose bound is exceeded drops and counts, and no prediction waits for its delivery;
// - 1,000 malformed messages -> 1,000 error messages, the service still up.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { CloudEvent } from 'cloudevents';
import { startServer } from '../../src/server.js';
import { noDelay } from '../../src/mqtt/connection.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { EXAMPLES, tempDir } from '../helpers/paths.js';
import { sample } from '../helpers/prom.js';

type Row = Record<string, number>;
let broker: Broker;
const base = (JSON.parse(readFileSync(join(EXAMPLES, 'weather', 'testset.json'), 'utf8')) as { rows: Row[] }).rows;
const rowAt = (i: number): Row => {
  const r = base[i % base.length]!;
  // Distinct rows: the temperature moves by 0.01 °C per pass over the test set.
  return { ...r, temp_c: Math.round((r.temp_c! + Math.floor(i / base.length) * 0.01) * 100) / 100 };
};

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function httpAnswers(url: string, rows: Row[]): Promise<unknown[]> {
  const out: unknown[] = [];
  for (let i = 0; i < rows.length; i += 500) {
    const res = await fetch(`${url}/models/weather/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(rows.slice(i, i + 500)) });
    assert.equal(res.status, 200);
    out.push(...(await res.json() as unknown[]));
  }
  return out;
}

async function persistentClient(id: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: id, clean: false, properties: { sessionExpiryInterval: 600 }, reconnectPeriod: 300 });
  noDelay(client);
  client.on('connect', () => noDelay(client));
  return client;
}

before(async () => { broker = await startMosquitto(); });
after(async () => { await broker?.stop(); });

test('10,000 readings at QoS 1 through a 3 s broker outage: every prediction equals HTTP, no prediction or event missing; a failing webhook gets every event afterwards', async (t) => {
  const N = 10_000;
  // The webhook: 500 for the first seconds, then 200; collects event ids (single or batch mode).
  let failing = true;
  const webhookIds = new Map<string, number>();
  let webhookRefused = 0;
  const webhook: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (failing) { webhookRefused++; res.statusCode = 500; return res.end(); }
      const body = JSON.parse(Buffer.concat(chunks).toString()) as unknown;
      const events = (req.headers['content-type'] ?? '').startsWith('application/cloudevents-batch+json') ? body as Array<{ requestid: string }> : [body as { requestid: string }];
      for (const e of events) webhookIds.set(e.requestid, (webhookIds.get(e.requestid) ?? 0) + 1);
      res.statusCode = 204;
      res.end();
    });
  });
  await new Promise<void>((r) => webhook.listen(0, '127.0.0.1', r));
  const eventsFile = join(tempDir(), 'events.jsonl');
  const server = await startServer({
    repo: EXAMPLES, port: 0, logger: false,
    streams: {
      mqtt: { url: broker.url },
      events: { mqttTopic: 'cloud/events', webhook: `http://127.0.0.1:${(webhook.address() as { port: number }).port}/events`, file: eventsFile, maxQueue: 50_000 },
    },
  });
  const eventsClient = await persistentClient('proof-events');
  const requester = await persistentClient('proof-requester');
  try {
    await server.streams!.frontDoor!.waitReady();
    const rows = Array.from({ length: N }, (_, i) => rowAt(i));
    const expected = await httpAnswers(server.url, rows);
    // The HTTP calls above made events too: only the MQTT requests' ids (p-<i>) are counted below.
    const eventIds = new Map<string, number>();
    const sampled: unknown[] = [];
    await eventsClient.subscribeAsync('cloud/events', { qos: 1 });
    let batches = 0;
    eventsClient.on('message', (_topic, payload, packet) => {
      // One structured event, or several in the JSON batch format (as the content type says).
      const batch = packet.properties?.contentType === 'application/cloudevents-batch+json';
      if (batch) batches++;
      const parsed = JSON.parse(payload.toString()) as { requestid: string } | Array<{ requestid: string }>;
      for (const event of batch ? parsed as Array<{ requestid: string }> : [parsed as { requestid: string }]) {
        eventIds.set(event.requestid, (eventIds.get(event.requestid) ?? 0) + 1);
        if (sampled.length < 50 && event.requestid.startsWith('p-')) sampled.push(event);
      }
    });
    const answers = new Map<number, string>();
    let duplicates = 0;
    await requester.subscribeAsync('test/answers', { qos: 1 });
    requester.on('message', (_topic, payload, packet) => {
      const i = Number(packet.properties?.correlationData?.toString());
      if (answers.has(i)) duplicates++;
      answers.set(i, payload.toString());
    });

    // Published at ~2,500/s; at 30 % the broker stops for 3 s (the clients queue and resend).
    let outage: Promise<void> | undefined;
    const started = Date.now();
    setTimeout(() => { failing = false; }, 4000);
    for (let i = 0; i < N; i++) {
      requester.publish('modelserve/weather/predict', JSON.stringify(rows[i]), { qos: 1, properties: { responseTopic: 'test/answers', correlationData: Buffer.from(String(i)), userProperties: { request_id: `p-${i}` } } });
      if (i === N * 0.3) outage = (async () => { await broker.stop(); await new Promise((r) => setTimeout(r, 3000)); await broker.start(); })();
      if (i % 100 === 99) await new Promise((r) => setTimeout(r, 40));
    }
    await outage;
    await until(() => answers.size === N, 120_000, `all ${N} predictions (have ${answers.size})`);
    t.diagnostic(`${N} predictions in ${((Date.now() - started) / 1000).toFixed(1)} s, ${duplicates} duplicates`);
    for (let i = 0; i < N; i++) assert.deepEqual(JSON.parse(answers.get(i)!), expected[i], `prediction ${i}`);

    const mqttIds = () => [...eventIds.keys()].filter((id) => id.startsWith('p-')).length;
    await until(() => mqttIds() === N, 60_000, `every event on MQTT (have ${mqttIds()})`);
    const hookIds = () => [...webhookIds.keys()].filter((id) => id.startsWith('p-')).length;
    await until(() => hookIds() === N, 60_000, `every event at the webhook (have ${hookIds()})`);
    const counts = server.streams!.events!.sinks.map((s) => ({ kind: s.kind, ...s.counters() }));
    await until(() => server.streams!.events!.sinks.every((s) => s.counters().queued === 0), 30_000, 'the file sink');
    const fileIds = new Set(readFileSync(eventsFile, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { requestid: string }).requestid).filter((id) => id.startsWith('p-')));
    assert.equal(fileIds.size, N);
    const eventDuplicates = [...eventIds.values()].reduce((a, n) => a + n - 1, 0);
    t.diagnostic(`events: MQTT ${eventIds.size} ids (${eventDuplicates} duplicates, ${batches} batch messages); webhook refused ${webhookRefused} posts then took ${webhookIds.size} ids; sinks ${JSON.stringify(counts)}`);
    assert.ok(webhookRefused > 0, 'the webhook refused events for a while');

    // CloudEvents 1.0, as the SDK reads them: a new id per event, the request id as the requestid extension, type/source/subject name the model and version.
    for (const raw of sampled) {
      const event = new CloudEvent(raw as Record<string, unknown>, true);
      const i = Number(String(event.requestid).slice(2));
      assert.match(event.id, /^[0-9a-f-]{36}$/);
      assert.equal(event.specversion, '1.0');
      assert.equal(event.type, 'dev.modelserve.prediction');
      assert.equal(event.source, '/modelserve/models/weather/versions/1');
      assert.equal(event.subject, 'weather/1');
      const data = event.data as unknown as { inputs: Row[]; predictions: unknown[]; latency_ms: number; front_door: string };
      assert.deepEqual(data.inputs, [rows[i]]);
      assert.deepEqual(data.predictions, [expected[i]]);
      assert.equal(data.front_door, 'mqtt');
      assert.ok(data.latency_ms >= 0);
    }
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.equal(sample(metrics, 'modelserve_events_total', { sink: 'webhook', outcome: 'dropped' }) ?? 0, 0);
    assert.ok(sample(metrics, 'modelserve_events_total', { sink: 'webhook', outcome: 'failed' })! > 0);
    assert.ok(sample(metrics, 'modelserve_events_total', { sink: 'mqtt', outcome: 'delivered' })! >= N);
  } finally {
    await requester.endAsync();
    await eventsClient.endAsync();
    await server.shutdown();
    webhook.close();
  }
});

test('a sink past its bound drops and counts, and predictions never wait for it: all answered while its delivery is held unanswered', { timeout: 120_000 }, async () => {
  // A webhook that holds every POST unanswered until the test releases it: until then the sink's
  // delivery is pending and its queue fills. Decided by order, not by latency: a prediction that
  // waited for the sink would not be answered before the release (the old bug added the sink's
  // whole timeout to it).
  const held: ServerResponse[] = [];
  let holding = true;
  let posted!: () => void;
  const firstPost = new Promise<void>((resolve) => { posted = resolve; });
  const webhook = createServer((req, res) => {
    req.resume();
    posted();
    if (holding) held.push(res);
    else res.writeHead(200).end();
  });
  await new Promise<void>((r) => webhook.listen(0, '127.0.0.1', r));
  const bound = 20;
  const n = 3 * bound;
  const server = await startServer({ repo: EXAMPLES, port: 0, workers: 1, logger: false, streams: { events: { webhook: `http://127.0.0.1:${(webhook.address() as { port: number }).port}/`, maxQueue: bound } } });
  const sink = server.streams!.events!.sinks[0]!;
  try {
    const row = rowAt(0);
    const predict = async () => {
      const res = await fetch(`${server.url}/models/weather/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(row) });
      await res.arrayBuffer();
      assert.equal(res.status, 200);
    };
    // The first prediction's event starts the sink's delivery, which the webhook holds.
    const first = predict();
    await firstPost;
    await first;
    for (let i = 1; i < n; i++) {
      await predict();
      // Answered while the webhook has answered nothing: no delivery has succeeded, none was waited for.
      assert.ok(held.length > 0, "the webhook holds the sink's POST");
      assert.equal(sink.counters().delivered, 0, `prediction ${i} answered after a delivery`);
    }
    assert.deepEqual({ queued: sink.counters().queued, dropped: sink.counters().dropped, delivered: sink.counters().delivered }, { queued: bound, dropped: n - bound, delivered: 0 });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.equal(sample(metrics, 'modelserve_events_total', { sink: 'webhook', outcome: 'dropped' }), n - bound);
    assert.equal(sample(metrics, 'modelserve_events_queued', { sink: 'webhook' }), bound);
    // Released, the webhook takes what the sink queued: it was the held delivery that kept them queued.
    holding = false;
    for (const res of held.splice(0)) res.writeHead(200).end();
    await until(() => sink.counters().delivered === bound, 30_000, `the ${bound} queued events delivered (have ${sink.counters().delivered})`);
  } finally {
    holding = false;
    for (const res of held.splice(0)) res.writeHead(200).end();
    await server.shutdown();
    webhook.closeAllConnections();
    webhook.close();
  }
});

test('1,000 malformed MQTT messages (bad JSON, wrong types, too large, binary garbage) -> 1,000 error messages, the service still up', async () => {
  const server = await startServer({ repo: EXAMPLES, port: 0, workers: 1, logger: false, streams: { mqtt: { url: broker.url, maxPayload: 4096 } } });
  const c = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'malformed' });
  try {
    await server.streams!.frontDoor!.waitReady();
    const errors = new Map<number, { code: string; detail: unknown }>();
    await c.subscribeAsync('modelserve/weather/errors', { qos: 1 });
    c.on('message', (_t, payload, packet) => errors.set(Number(packet.properties?.correlationData?.toString()), JSON.parse(payload.toString()) as { code: string; detail: unknown }));
    const kinds = ['MS_ERR_BAD_JSON', 'MS_ERR_VALIDATION', 'MS_ERR_BODY_TOO_LARGE', 'garbage'] as const;
    for (let i = 0; i < 1000; i++) {
      const kind = kinds[i % 4]!;
      let payload: Buffer;
      if (kind === 'MS_ERR_BAD_JSON') payload = Buffer.from(`{"temp_c": ${i},`);
      else if (kind === 'MS_ERR_VALIDATION') payload = Buffer.from(JSON.stringify({ ...rowAt(i), humidity: 'wet', wind_speed_kmph: -i - 1 }));
      else if (kind === 'MS_ERR_BODY_TOO_LARGE') payload = Buffer.from(JSON.stringify(Array.from({ length: 40 }, (_, k) => rowAt(k))));
      else payload = Buffer.concat([Buffer.from([0xff, 0xfe, 0x00]), randomBytes(61)]);
      c.publish('modelserve/weather/predict', payload, { qos: 1, properties: { correlationData: Buffer.from(String(i)) } });
    }
    await until(() => errors.size === 1000, 30_000, `1,000 error messages (have ${errors.size})`);
    for (const [i, e] of errors) {
      const kind = kinds[i % 4]!;
      assert.equal(e.code, kind === 'garbage' ? 'MS_ERR_BAD_JSON' : kind, `message ${i}`);
      if (kind === 'MS_ERR_VALIDATION') assert.ok(Array.isArray(e.detail) && e.detail.length === 2, JSON.stringify(e.detail));
    }
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    const answers: string[] = [];
    await c.subscribeAsync('test/still-up', { qos: 1 });
    c.on('message', (t, p) => { if (t === 'test/still-up') answers.push(p.toString()); });
    await c.publishAsync('modelserve/weather/predict', JSON.stringify(rowAt(1)), { qos: 1, properties: { responseTopic: 'test/still-up' } });
    await until(() => answers.length === 1, 10_000, 'a prediction after the garbage');
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.equal(sample(metrics, 'modelserve_mqtt_messages_total', { model: 'weather', outcome: 'invalid' }), 1000);
  } finally {
    await c.endAsync();
    await server.shutdown();
  }
});
