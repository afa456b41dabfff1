// MQTT over WebSocket (ws:// broker URLs, which --mqtt-url takes) against a real mosquitto listening
// on websockets: the PubackReader reads the refused PUBACKs' packet ids from the client's stream as
// the front door attaches it, and the stream over ws carries the same MQTT bytes as over TCP.
// (mosquitto 2.0.11 starts a websockets listener only beside a plain one: startMosquitto's.)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { PubackReader } from '../../src/mqtt/puback-reader.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/net.js';

let broker: Broker;
let wsUrl: string;

before(async () => {
  const port = await freePort();
  broker = await startMosquitto(['message_size_limit 300', `listener ${port} 127.0.0.1`, 'protocol websockets']);
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
    client.publish('ws/big', 'x'.repeat(400), { qos: 1 });
    await until(() => errors.includes('Invalid puback reason code'), 'MQTT.js failing to read the PUBACK');
    await until(() => reader.refused.length > 0, 'the reader finding it');
    assert.equal(ids.length, 2);
    assert.deepEqual(reader.refused, [ids[1]]);
  } finally {
    client.end(true);
  }
});
