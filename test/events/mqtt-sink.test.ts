// The MQTT event sink against a real mosquitto whose ACL refuses the events topic: MQTT 5 answers
// such a QoS 1 publish with a PUBACK of reason 0x87 (Not authorized), however often it is sent.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { MqttSink } from '../../src/events/mqtt-sink.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { tempDir } from '../helpers/paths.js';

let broker: Broker | undefined;
after(async () => { await broker?.stop(); });

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; !check();) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('mqtt sink: a topic the broker refuses (PUBACK 0x87 Not authorized) drops that batch as rejected, with a warning naming the topic and the reason, and the next batch is published', async () => {
  // It was retried forever (a warning every 10 s) while the queue filled and new events were dropped as queue_full.
  const acl = join(tempDir('modelserve-acl-'), 'acl');
  writeFileSync(acl, 'topic readwrite other/#\n');
  broker = await startMosquitto([`acl_file ${acl}`]);
  const warnings: string[] = [];
  const drops: string[] = [];
  const client = mqtt.connect(broker.url, { protocolVersion: 5, reconnectPeriod: 50 });
  const sink = new MqttSink({
    client, topic: 'cloud/events', ownsClient: true, backoffMs: 10, maxBackoffMs: 10,
    warn: (message) => warnings.push(message),
    onDropped: (_sink, n, reason) => drops.push(`${reason} ${n}`),
  });
  try {
    sink.offer('{"n":1}');
    sink.offer('{"n":2}');
    await until(() => sink.counters().dropped === 2, 'the refused events dropped');
    assert.deepEqual(sink.counters(), { delivered: 0, dropped: 2, failures: 0, queued: 0 });
    assert.ok(drops.every((d) => d.startsWith('rejected ')), drops.join());
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0]!, /the MQTT broker refused the events topic 'cloud\/events' \(PUBACK reason 0x87 Not authorized: the broker's ACL does not let this client publish to it; .*--events-mqtt-topic.*\): these events are dropped, later ones are still sent/);
    // The ACL fixed (the broker restarted with it): the sink never stopped, so the next event is delivered.
    writeFileSync(acl, 'topic readwrite cloud/#\n');
    await broker.stop();
    await broker.start();
    const watcher = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
    const got: string[] = [];
    watcher.on('message', (_topic, payload) => got.push(payload.toString()));
    await watcher.subscribeAsync('cloud/events', { qos: 1 });
    await until(() => client.connected, 'the sink reconnected');
    sink.offer('{"n":3}');
    await until(() => got.length === 1, 'the next event');
    assert.equal(got[0], '{"n":3}');
    assert.equal(sink.counters().delivered, 1);
    await watcher.endAsync();
  } finally {
    await sink.close(1000);
  }
});

test('mqtt sink: after a refused publish the next batch waits (the retry backoff); a broker refusing every publish is not sent one per batch', async () => {
  const acl = join(tempDir('modelserve-acl-'), 'acl');
  writeFileSync(acl, 'topic readwrite other/#\n');
  const own = await startMosquitto([`acl_file ${acl}`]);
  const client = mqtt.connect(own.url, { protocolVersion: 5, reconnectPeriod: 50 });
  let publishes = 0;
  client.on('packetsend', (packet) => { if (packet.cmd === 'publish') publishes++; });
  const drops: string[] = [];
  // No linger (each event would go at once) and a pause far longer than this test.
  const sink = new MqttSink({ client, topic: 'cloud/events', ownsClient: true, lingerMs: 0, backoffMs: 600_000, maxBackoffMs: 600_000, onDropped: (_sink, n, reason) => drops.push(`${reason} ${n}`) });
  try {
    sink.offer('{"n":1}');
    await until(() => sink.counters().dropped === 1, 'the refused event dropped');
    sink.offer('{"n":2}');
    sink.offer('{"n":3}');
    await sink.close(300);
    assert.equal(publishes, 1, 'one publish: the events after the refusal waited');
    assert.deepEqual(drops, ['rejected 1', 'shutdown 2']);
  } finally {
    await sink.close(0);
    await own.stop();
  }
});
