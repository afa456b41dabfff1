// The reader of refused PUBACKs' packet ids, on bytes as a connection brings them: packets of every
// size, split anywhere across chunks (the front-door test against mosquitto shows it in place).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PubackReader } from '../../src/mqtt/puback-reader.js';

/** A packet: its type, its remaining length (1 to 4 bytes), its body. */
function packet(type: number, body: Buffer): Buffer {
  const length: number[] = [];
  let n = body.length;
  do { let b = n % 128; n = Math.floor(n / 128); if (n > 0) b |= 0x80; length.push(b); } while (n > 0);
  return Buffer.concat([Buffer.from([type << 4, ...length]), body]);
}

test('finds the packet ids of the PUBACKs with a reason code MQTT 5 does not allow there, however the bytes are split', () => {
  const stream = Buffer.concat([
    packet(2, Buffer.from([0, 0, 3, 0])), // CONNACK
    packet(3, Buffer.concat([Buffer.from([0, 1, 0x61, 0x95, 0x95]), Buffer.alloc(20_000, 0x95)])), // a PUBLISH full of 0x95 bytes (a 3-byte length)
    packet(4, Buffer.from([0x01, 0x02])), // PUBACK 258, Success (no reason code)
    packet(4, Buffer.from([0x01, 0x03, 0x10])), // PUBACK 259, No matching subscribers
    packet(4, Buffer.from([0x01, 0x04, 0x95])), // PUBACK 260, 0x95 (mosquitto's message_size_limit)
    packet(13, Buffer.alloc(0)), // PINGRESP
    packet(4, Buffer.from([0xff, 0xfe, 0x95, 0x00])), // PUBACK 65534, 0x95 with an empty property length
    packet(4, Buffer.from([0x00, 0x07, 0x87])), // PUBACK 7, Not authorized (allowed)
  ]);
  for (const size of [1, 2, 3, 7, 1000, stream.length]) {
    const reader = new PubackReader();
    for (let at = 0; at < stream.length; at += size) reader.feed(stream.subarray(at, at + size));
    assert.deepEqual(reader.refused, [260, 65534], `chunks of ${size} bytes`);
  }
});
