// The MQTT event sink against a real mosquitto whose ACL refuses the events topic: MQTT 5 answers
// such a QoS 1 publish with a PUBACK of reason 0x87 (Not authorized), however often it is sent. And a
// scripted MQTT 5 broker on a real socket for a retryable PUBACK on a chosen publish, which mosquitto cannot answer.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { connectEventsClient, MqttSink } from '../../src/events/mqtt-sink.js';
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

/**
 * A tiny MQTT 5 broker on a real socket, for what mosquitto cannot be made to answer: a retryable PUBACK reason
 * on a chosen publish. Its CONNACK says `maxPacket` (Maximum Packet Size); the n-th PUBLISH is answered with
 * `pubacks[n]` (0 past the list; -1: no PUBACK at all, a broker that stalls). `published` lists each PUBLISH's payload with the reason it got.
 */
async function scriptedBroker(maxPacket: number, pubacks: number[]) {
  const { createServer } = await import('node:net');
  const published: Array<{ payload: string; reason: number }> = [];
  const varint = (n: number) => { const out: number[] = []; do { let b = n % 128; n = Math.floor(n / 128); if (n > 0) b |= 0x80; out.push(b); } while (n > 0); return Buffer.from(out); };
  const packet = (first: number, body: Buffer) => Buffer.concat([Buffer.from([first]), varint(body.length), body]);
  const server = createServer((socket) => {
    let buffered = Buffer.alloc(0);
    socket.on('error', () => undefined);
    socket.on('data', (data: Buffer) => {
      buffered = Buffer.concat([buffered, data]);
      for (;;) {
        // Fixed header: type and flags, then the remaining length as a variable byte integer.
        let length = 0;
        let at = 1;
        for (let shift = 0; at < buffered.length; shift += 7) { const b = buffered[at++]!; length += (b & 0x7f) * 2 ** shift; if ((b & 0x80) === 0) break; }
        if (at >= buffered.length + 1 || buffered.length < at + length || buffered.length < 2) return;
        const first = buffered[0]!;
        const body = buffered.subarray(at, at + length);
        buffered = buffered.subarray(at + length);
        const type = first >> 4;
        if (type === 1) {
          // CONNACK: no session present, success, properties: Maximum Packet Size (0x27).
          const props = Buffer.alloc(5);
          props[0] = 0x27;
          props.writeUInt32BE(maxPacket, 1);
          socket.write(packet(0x20, Buffer.concat([Buffer.from([0, 0]), varint(props.length), props])));
        } else if (type === 3) {
          const topicLength = body.readUInt16BE(0);
          let p = 2 + topicLength;
          const id = body.readUInt16BE(p);
          p += 2;
          let propsLength = 0;
          for (let shift = 0; ; shift += 7) { const b = body[p++]!; propsLength += (b & 0x7f) * 2 ** shift; if ((b & 0x80) === 0) break; }
          const reason = pubacks[published.length] ?? 0;
          published.push({ payload: body.subarray(p + propsLength).toString(), reason });
          if (reason >= 0) socket.write(packet(0x40, Buffer.from([id >> 8, id & 0xff, reason, 0])));
        } else if (type === 12) socket.write(Buffer.from([0xd0, 0]));
        else if (type === 14) socket.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`, published, close: () => new Promise((resolve) => server.close(resolve)) };
}

test('mqtt sink: a batch cut to fit the Maximum Packet Size whose later part gets a retryable PUBACK (0x80, 0x83, 0x97) publishes again only that part, not the parts acknowledged before', async () => {
  // The whole batch was published again: the acknowledged parts reached the topic twice.
  for (const code of [0x80, 0x83, 0x97]) {
    // Four events of 20 bytes: 213 bytes as one batch by the sink's reckoning, 171 as two; cut into [1,2] [3,4].
    const events = [1, 2, 3, 4].map((n) => JSON.stringify({ n, pad: 'x'.repeat(4) }));
    assert.ok(events.every((e) => e.length === 20));
    const broker = await scriptedBroker(180, [0, code]);
    const client = mqtt.connect(broker.url, { protocolVersion: 5, reconnectPeriod: 50 });
    let failures = 0;
    const sink = new MqttSink({ client, topic: 'e', ownsClient: true, backoffMs: 10, maxBackoffMs: 10, onFailure: () => failures++ });
    try {
      // Offered before the client is connected: one batch once it is.
      for (const e of events) sink.offer(e);
      await until(() => sink.counters().queued === 0, 'the batch delivered');
      assert.deepEqual(broker.published, [
        { payload: `[${events[0]},${events[1]}]`, reason: 0 },
        { payload: `[${events[2]},${events[3]}]`, reason: code },
        { payload: `[${events[2]},${events[3]}]`, reason: 0 },
      ], `PUBACK 0x${code.toString(16)}`);
      assert.equal(failures, 1);
      assert.deepEqual(sink.counters(), { delivered: 4, dropped: 0, failures: 1, queued: 0 });
    } finally {
      await sink.close(1000);
      await broker.close();
    }
  }
});

test('mqtt sink: an event past mosquitto\'s message_size_limit (answered with a PUBACK MQTT.js cannot read) no longer holds the sink for good: the batch is cut, that event dropped as rejected after its unacknowledged publishes, the others delivered', async () => {
  // Mosquitto answers it with PUBACK 0x95, which MQTT 5 does not allow in a PUBACK: MQTT.js drops it
  // as malformed, the publish waited for good and no event was sent again.
  const own = await startMosquitto(['message_size_limit 300']);
  // The server's wiring (streams.ts): the connection's warnings and the sink's go to one log.
  const warnings: string[] = [];
  const client = connectEventsClient({ url: own.url, reconnectMinMs: 50, reconnectMaxMs: 50 }, (_detail, message) => warnings.push(message));
  const watcher = await mqtt.connectAsync(own.url, { protocolVersion: 5 });
  const got: string[] = [];
  watcher.on('message', (_topic, payload) => got.push(payload.toString()));
  await watcher.subscribeAsync('cloud/events', { qos: 1 });
  const drops: string[] = [];
  const sink = new MqttSink({
    client, topic: 'cloud/events', ownsClient: true, lingerMs: 0, backoffMs: 10, maxBackoffMs: 10, ackTimeoutMs: 200,
    warn: (message) => warnings.push(message),
    onDropped: (_sink, n, reason) => drops.push(`${reason} ${n}`),
  });
  try {
    await until(() => client.connected, 'the sink connected');
    const big = JSON.stringify({ n: 0, pad: 'x'.repeat(400) });
    sink.offer(big);
    sink.offer('{"n":1}');
    sink.offer('{"n":2}');
    await until(() => sink.counters().dropped === 1 && sink.counters().delivered === 2, 'the small events delivered and the large one dropped', 30_000);
    assert.deepEqual(drops, ['rejected 1']);
    await until(() => got.length >= 1 && got.join('').includes('"n":1') && got.join('').includes('"n":2'), 'the small events on the topic');
    assert.ok(!got.some((m) => m.includes('xxxx')), 'the large event never reached the topic');
    assert.ok(warnings.some((w) => /did not acknowledge an event of \d+ bytes in 3 publishes .*message_size_limit.*dropped, later events are still sent/.test(w)), warnings.join('\n'));
    // The log says what happened: the broker refused a publish, it is not a broker that cannot be connected to.
    assert.ok(warnings.some((w) => /^prediction events: the MQTT broker refused a publish with a PUBACK MQTT\.js cannot read \(reason 0x95 Packet too large, which mosquitto sends past its message_size_limit\)/.test(w)), warnings.join('\n'));
    assert.deepEqual(warnings.filter((w) => /cannot connect|unreachable/.test(w)), []);
  } finally {
    await watcher.endAsync();
    await sink.close(1000);
    await own.stop();
  }
});

test('mqtt sink: a batch cut after a publish a passing stall left unacknowledged grows back as publishes are acknowledged in time; a cut the broker\'s size refusal taught (the PUBACK MQTT.js cannot read) is kept', async () => {
  // The cut never rose again: a broker that stalled once left the sink at small batches (down to one event per round trip) for good.
  const events = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => JSON.stringify({ n, pad: 'x'.repeat(4) }));
  const batch = (from: number, to: number) => `[${events.slice(from, to).join(',')}]`;
  for (const [first, grows] of [[-1, true], [0x95, false]] as const) {
    const broker = await scriptedBroker(1_000_000, [first]);
    const client = connectEventsClient({ url: broker.url, reconnectMinMs: 50, reconnectMaxMs: 50 }, () => undefined);
    // Batches of 4: a full batch does not wait out the (long) linger, so each group of 4 offered goes as one.
    const sink = new MqttSink({ client, topic: 'e', ownsClient: true, lingerMs: 600_000, maxBatch: 4, backoffMs: 10, maxBackoffMs: 10, ackTimeoutMs: 200 });
    try {
      for (const e of events.slice(0, 4)) sink.offer(e);
      await until(() => sink.counters().delivered === 4, 'the first batch delivered in halves');
      for (const e of events.slice(4)) sink.offer(e);
      await until(() => sink.counters().delivered === 8, 'the second batch delivered');
      assert.deepEqual(broker.published.map((p) => p.payload), [
        batch(0, 4), batch(0, 2), batch(2, 4),
        ...(grows ? [batch(4, 8)] : [batch(4, 6), batch(6, 8)]),
      ], first === -1 ? 'after a stall' : 'after PUBACK 0x95');
    } finally {
      await sink.close(1000);
      await broker.close();
    }
  }
});
