// MQTT over WebSocket (ws:// broker URLs, which --mqtt-url takes) against a real mosquitto listening
// on websockets: the PubackReader reads the refused PUBACKs' packet ids from the client's stream as
// the front door attaches it, and the stream over ws carries the same MQTT bytes as over TCP.
// (mosquitto 2.0.11 starts a websockets listener only beside a plain one: startMosquitto's.)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { PubackReader } from '../../src/mqtt/puback-reader.js';
import { startServer } from '../../src/server.js';
import { bookRows, tempDir, writeBookModelFolder } from '../helpers/paths.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/net.js';

let broker: Broker;
let wsUrl: string;

before(async () => {
  const port = await freePort();
  broker = await startMosquitto(['message_size_limit 1000', `listener ${port} 127.0.0.1`, 'protocol websockets']);
  wsUrl = `ws://127.0.0.1:${port}`;
});
after(async () => { await broker?.stop(); });

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; !check();) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('over ws://, the PubackReader finds the packet id of a publish mosquitto refused past its message_size_limit (PUBACK 0x95, which MQTT.js cannot read)', async () => {
  const client = mqtt.connect(wsUrl, { protocolVersion: 5, reconnectPeriod: 0 });
  // As the front door does: from the connection's first byte.
  const reader = new PubackReader();
  client.stream.on('data', (bytes: Buffer) => reader.feed(bytes));
  const errors: string[] = [];
  client.on('error', (err) => errors.push(err.message));
  const ids: number[] = [];
  client.on('packetsend', (packet) => { if (packet.cmd === 'publish' && packet.messageId !== undefined) ids.push(packet.messageId); });
  try {
    await until(() => client.connected, 'the connection over ws');
    // A small one acknowledged first (a PUBACK the reader must pass over), then one past the limit.
    await client.publishAsync('ws/small', 'ok', { qos: 1 });
    client.publish('ws/big', 'x'.repeat(1200), { qos: 1 });
    await until(() => errors.includes('Invalid puback reason code'), 'MQTT.js failing to read the PUBACK');
    await until(() => reader.refused.length > 0, 'the reader finding it');
    assert.equal(ids.length, 2);
    assert.deepEqual(reader.refused, [ids[1]]);
  } finally {
    client.end(true);
  }
});

test('the front door over ws://: an error past message_size_limit (refused with PUBACK 0x95) is said again with the first issues that fit, and the next request is answered', async () => {
  const repo = tempDir();
  writeBookModelFolder(repo, 'optimize: false\n');
  const server = await startServer({ repo, port: 0, grpcPort: 0, workers: 1, logger: false, streams: { mqtt: { url: wsUrl, topics: { request: 'ws/{model}/in', predictions: 'ws/{model}/out', errors: 'ws/{model}/err' } } } });
  const client = await mqtt.connectAsync(wsUrl, { protocolVersion: 5 });
  try {
    await server.streams!.frontDoor!.waitReady();
    const errors: Array<{ code: string; detail: unknown[] }> = [];
    const answers: string[] = [];
    client.on('message', (topic, payload) => {
      if (topic === 'ws/book-weather/err') errors.push(JSON.parse(payload.toString()) as { code: string; detail: unknown[] });
      if (topic === 'ws/book-weather/out') answers.push(payload.toString());
    });
    await client.subscribeAsync(['ws/book-weather/out', 'ws/book-weather/err'], { qos: 1 });
    // 3 empty rows: their 422 (an issue per missing field) is past the limit, its first half is not.
    await client.publishAsync('ws/book-weather/in', JSON.stringify(Array.from({ length: 3 }, () => ({}))), { qos: 1 });
    await until(() => errors.length === 1, `the 422 said again under the limit (${JSON.stringify(errors)} ${answers.length} ${broker.log()})`);
    assert.equal(errors[0]!.code, 'MS_ERR_VALIDATION');
    // Fewer issues than the whole 422 (HTTP's): the first publish was refused, the first issues said again.
    const whole = await (await fetch(`${server.url}/models/book-weather/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(Array.from({ length: 3 }, () => ({}))) })).json() as { detail: unknown[] };
    assert.ok(errors[0]!.detail.length >= 1 && errors[0]!.detail.length < whole.detail.length, `${errors[0]!.detail.length} of ${whole.detail.length} issues`);
    await client.publishAsync('ws/book-weather/in', JSON.stringify(bookRows(1)[0]), { qos: 1 });
    await until(() => answers.length === 1, 'the next answer');
  } finally {
    await client.endAsync();
    await server.shutdown();
  }
});
