// A request on the topic of a model just removed from the repository, arriving before the front
// door's unsubscribe took effect, is answered MS_ERR_MODEL_NOT_FOUND — as HTTP answers a request
// to an unknown model — on the response topic and the model's errors topic, not dropped. A real
// mosquitto; the front door reaches it through a proxy that holds what the front door sends, so
// its UNSUBSCRIBE reaches the broker only after the request was routed to it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import mqtt from 'mqtt';
import { startServer } from '../../src/server.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir } from '../helpers/paths.js';
import { exampleModel, WEATHER_ROW } from '../pipelines/helpers.js';

/** A TCP proxy to the broker whose client-to-broker direction can be held and released. */
async function holdingProxy(port: number) {
  let held: Array<() => void> | undefined;
  const sockets: Socket[] = [];
  const server = createServer((inbound) => {
    const outbound = connect(port, '127.0.0.1');
    sockets.push(inbound, outbound);
    outbound.pipe(inbound);
    inbound.on('data', (chunk: Buffer) => (held ? held.push(() => outbound.write(chunk)) : outbound.write(chunk)));
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
    inbound.on('error', () => undefined);
    outbound.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`,
    hold: () => { held ??= []; },
    release: () => { const queued = held ?? []; held = undefined; for (const write of queued) write(); },
    close: () => { for (const s of sockets) s.destroy(); server.close(); },
  };
}

type Answer = { topic: string; correlation: string; body: string };

/**
 * A server on `repo` whose MQTT front door reaches a real mosquitto through a holding proxy, and a
 * client subscribed to `topics` that keeps every answer it gets. `request` publishes a weather row
 * (QoS 1) answered on `responseTopic`; `answered` waits until the answer to `correlation` came.
 */
async function frontDoorScene(repo: string, clientId: string, responseTopic: string, topics: string[]) {
  const broker = await startMosquitto();
  const proxy = await holdingProxy(broker.port);
  const server = await startServer({ repo, port: 0, workers: 1, logger: false, streams: { mqtt: { url: proxy.url } } });
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId });
  const close = async () => {
    proxy.release();
    await client.endAsync();
    await server.shutdown();
    proxy.close();
    await broker.stop();
  };
  const answers: Answer[] = [];
  try {
    await server.streams!.frontDoor!.waitReady();
    client.on('message', (topic, payload, packet) => answers.push({ topic, correlation: String(packet.properties?.correlationData), body: payload.toString() }));
    await client.subscribeAsync([responseTopic, ...topics], { qos: 1 });
  } catch (err) {
    await close();
    throw err;
  }
  return {
    server, proxy, answers, close,
    // The broker acknowledges a request once it has passed it on to the front door.
    request: (topic: string, id: string) => client.publishAsync(topic, JSON.stringify(WEATHER_ROW), { qos: 1, properties: { responseTopic, correlationData: Buffer.from(id) } }),
    answered: async (correlation: string) => {
      const end = Date.now() + 10_000;
      while (!answers.some((a) => a.correlation === correlation)) {
        assert.ok(Date.now() < end, `no answer to the request '${correlation}': ${JSON.stringify(answers)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

test("a request on a removed model's topic before the unsubscribe is answered MS_ERR_MODEL_NOT_FOUND, as HTTP answers it", async () => {
  const repo = tempDir();
  exampleModel(repo, 'weather');
  const gone = exampleModel(repo, 'weather', 'gone');
  const { server, proxy, answers, close, request, answered } = await frontDoorScene(repo, 'removed-test', 'removed/answers', ['modelserve/gone/errors']);
  try {
    proxy.hold();
    rmSync(gone, { recursive: true });
    await server.core.reconcile({});
    // The front door is still subscribed to the removed model's topic.
    await request('modelserve/gone/predict', 'gone');
    // A request to a served model after it: its answer comes after the first one's.
    await request('modelserve/weather/predict', 'served');
    proxy.release();

    await answered('served');
    const http = await fetch(`${server.url}/models/gone/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(WEATHER_ROW) });
    assert.equal(http.status, 404);
    const { detail, code } = await http.json() as { detail: string; code: string };
    assert.equal(code, 'MS_ERR_MODEL_NOT_FOUND');
    const toGone = answers.filter((a) => a.correlation === 'gone');
    assert.deepEqual(toGone.map((a) => a.topic).sort(), ['modelserve/gone/errors', 'removed/answers'], JSON.stringify(answers));
    for (const a of toGone) {
      const body = JSON.parse(a.body) as Record<string, unknown>;
      assert.deepEqual({ detail: body.detail, code: body.code, status: body.status }, { detail, code, status: 404 });
    }
  } finally {
    await close();
  }
});

test("a request on a model's old request topic, after its mqtt.request_topic changed, is answered MS_ERR_MODEL_NOT_FOUND naming the new topic", async () => {
  // It was acknowledged and dropped without any answer: the topic was no longer the model's, nor a removed model's.
  const repo = tempDir();
  exampleModel(repo, 'weather');
  exampleModel(repo, 'weather', 'moved', 'mqtt:\n  request_topic: plant/old/in\n');
  const { server, proxy, answers, close, request, answered } = await frontDoorScene(repo, 'moved-test', 'moved/answers', ['modelserve/moved/errors']);
  try {
    proxy.hold();
    exampleModel(repo, 'weather', 'moved', 'mqtt:\n  request_topic: plant/new/in\n');
    await server.core.reconcile({});
    await request('plant/old/in', 'old');
    await request('modelserve/weather/predict', 'served');
    proxy.release();

    await answered('served');
    const toOld = answers.filter((a) => a.correlation === 'old');
    assert.deepEqual(toOld.map((a) => a.topic).sort(), ['modelserve/moved/errors', 'moved/answers'], JSON.stringify(answers));
    for (const a of toOld) {
      const body = JSON.parse(a.body) as Record<string, unknown>;
      assert.deepEqual({ code: body.code, status: body.status }, { code: 'MS_ERR_MODEL_NOT_FOUND', status: 404 });
      assert.equal(body.detail, "no model takes requests on the topic 'plant/old/in' any more: the model 'moved' takes them on 'plant/new/in'");
    }
  } finally {
    await close();
  }
});
