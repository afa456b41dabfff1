// Which of our messages a broker refused with a PUBACK MQTT.js cannot read. mosquitto answers a
// message past its message_size_limit with PUBACK reason 0x95, which MQTT 5 does not allow there:
// MQTT.js's parser stops with 'Invalid puback reason code' and the packet id is lost with it. Its
// parser is not reachable (a local of MqttClient.connect), so this reads the packet ids from the
// same bytes: it follows the packets' fixed headers and looks into PUBACKs alone (a few operations
// per packet, payloads skipped). Guessing instead (the oldest answer not acknowledged yet) blamed
// an answer whose PUBACK MQTT.js had read but not handled yet (its reading waits behind a request
// held for back-pressure): that request was answered twice and its size taken for the limit.

/** The reason codes MQTT 5 allows in a PUBACK (MQTT 5, 3.4.2.1; MQTT.js's parser refuses the others). */
const PUBACK_REASONS = new Set([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]);
const PUBACK = 4;

export class PubackReader {
  /** The fixed header of the packet being read, while it is: its first byte, then the remaining length's bytes. */
  private header: number[] = [];
  /** Bytes of the current packet still to come after its fixed header. */
  private left = 0;
  /** A PUBACK's first body bytes read so far (packet id, reason code); undefined for other packets. */
  private puback: number[] | undefined;
  /** Packet ids of the PUBACKs read with a reason code MQTT 5 does not allow (oldest first). */
  readonly refused: number[] = [];

  /** Reads the next bytes the connection brought (every byte, in order, from the start of the connection). */
  feed(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.left > 0) {
        if (this.puback !== undefined) {
          this.puback.push(chunk[i]!);
          i++;
          this.left--;
          if (this.puback.length === 3) {
            const [high, low, reason] = this.puback as [number, number, number];
            if (!PUBACK_REASONS.has(reason)) this.refused.push(high * 256 + low);
            this.puback = undefined;
          }
          continue;
        }
        const skip = Math.min(this.left, chunk.length - i);
        i += skip;
        this.left -= skip;
        continue;
      }
      const byte = chunk[i++]!;
      this.header.push(byte);
      // The remaining length: 1 to 4 bytes, each but the last with its high bit set.
      if (this.header.length === 1 || (byte & 0x80) !== 0) continue;
      let length = 0;
      for (let k = this.header.length - 1; k >= 1; k--) length = length * 128 + (this.header[k]! & 0x7f);
      // (A PUBACK of 2 bytes, the packet id alone, is Success.)
      this.puback = this.header[0]! >> 4 === PUBACK && length >= 3 ? [] : undefined;
      this.left = length;
      this.header = [];
    }
  }
}
