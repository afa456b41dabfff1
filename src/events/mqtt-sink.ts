// Prediction events to an MQTT topic at QoS 1. The event leaves the sink's queue when the broker
// acknowledged it (PUBACK); while the broker is away the sink waits for the client's reconnect and
// the queue holds what arrives meanwhile, up to its bound.
// One waiting event is published as a structured CloudEvent (content type
// application/cloudevents+json); when several wait (under load, while the previous PUBACK is on its
// way) they go as one message in the spec's JSON batch format (application/cloudevents-batch+json,
// an array): an MQTT publish costs ~40 µs of CPU in MQTT.js, which per event was a third of an
// HTTP prediction's budget.
// A PUBACK that refuses the message for good (Not authorized: the broker's ACL; Topic Name invalid;
// Payload format invalid) drops that batch (reason rejected) and the next is published after a pause (BoundedSink).
import type { MqttClient } from 'mqtt';
import { BoundedSink, type BoundedSinkOptions } from './sink.js';

export interface MqttSinkOptions extends BoundedSinkOptions {
  client: MqttClient;
  topic: string;
  /** Close the client on close() (when the sink made its own). */
  ownsClient?: boolean;
}

/**
 * MQTT 5 PUBACK reason codes that resending the message cannot change. The others past 0x80 may pass
 * (0x80 Unspecified error, 0x83 Implementation specific error, 0x91 Packet Identifier in use,
 * 0x97 Quota exceeded): those are retried.
 */
const REJECTED_PUBACK: ReadonlyMap<number, string> = new Map([
  [0x87, "Not authorized: the broker's ACL does not let this client publish to it; allow the topic for the client's user in the broker's ACL, or give --events-mqtt-topic a topic it allows"],
  [0x90, 'Topic Name invalid: give --events-mqtt-topic a topic the broker accepts'],
  [0x99, 'Payload format invalid'],
]);

/** Under load, events gather for this long between publishes (BENCHMARKS.md, MQTT section). */
export const DEFAULT_LINGER_MS = 10;

export class MqttSink extends BoundedSink {
  readonly kind = 'mqtt';
  readonly target: string;
  private readonly client: MqttClient;
  private readonly topic: string;
  private readonly ownsClient: boolean;

  /** The largest packet the broker takes (CONNACK's Maximum Packet Size), if it says. */
  private maxPacket: number | undefined;

  constructor(options: MqttSinkOptions) {
    super({ ...options, lingerMs: options.lingerMs ?? DEFAULT_LINGER_MS });
    this.client = options.client;
    this.topic = options.topic;
    this.target = options.topic;
    this.ownsClient = options.ownsClient ?? false;
    this.client.on('connect', (connack) => {
      this.maxPacket = connack.properties?.maximumPacketSize;
      this.poke();
    });
  }

  protected override ready(): boolean {
    return this.client.connected;
  }

  protected async deliver(events: string[], signal: AbortSignal): Promise<void> {
    // A message past the broker's Maximum Packet Size makes it drop the connection, and MQTT.js
    // resends it after every reconnect: the sink would never deliver again. So batches are cut to
    // fit, and an event that alone does not fit is dropped (and counted).
    let from = 0;
    while (from < events.length) {
      let to = events.length;
      while (to - from > 1 && !this.fits(events.slice(from, to))) to = from + Math.ceil((to - from) / 2);
      const part = events.slice(from, to);
      if (this.fits(part)) await this.publish(part, signal);
      else this.refuse(1, `an event of ${Buffer.byteLength(part[0]!)} bytes is larger than the MQTT broker accepts (maximum packet size ${this.maxPacket} bytes)`);
      from = to;
    }
  }

  private fits(events: string[]): boolean {
    if (this.maxPacket === undefined) return true;
    let bytes = 128 + Buffer.byteLength(this.topic) + events.length; // header, properties, the batch's brackets and commas
    for (const e of events) bytes += Buffer.byteLength(e);
    return bytes <= this.maxPacket;
  }

  private publish(events: string[], signal: AbortSignal): Promise<void> {
    const single = events.length === 1;
    const payload = single ? events[0]! : `[${events.join(',')}]`;
    const properties = { contentType: single ? 'application/cloudevents+json' : 'application/cloudevents-batch+json' };
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(new Error('the sink is closed'));
      signal.addEventListener('abort', onAbort, { once: true });
      this.client.publish(this.topic, payload, { qos: 1, properties }, (err) => {
        signal.removeEventListener('abort', onAbort);
        const reason = (err as { code?: unknown } | undefined)?.code;
        const code = typeof reason === 'number' ? reason : -1;
        const rejected = REJECTED_PUBACK.get(code);
        // Sent again, it was refused again, forever (a warning every 10 s) while the queue filled.
        if (rejected !== undefined) {
          this.refuse(events.length, `the MQTT broker refused the events topic '${this.topic}' (PUBACK reason 0x${code.toString(16)} ${rejected}): these events are dropped, later ones are still sent`, 'rejected');
          resolve();
        } else if (err) reject(err);
        else {
          // Acknowledged: a later part's retryable failure (PUBACK 0x80, 0x83, 0x97) does not publish this one again.
          this.acknowledged(events.length);
          resolve();
        }
      });
    });
  }

  protected override async release(): Promise<void> {
    if (!this.ownsClient) return;
    // A broker that stopped answering (no DISCONNECT acknowledgement) must not hold up shutdown.
    await Promise.race([this.client.endAsync().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
    // end(true) does nothing once an end() is under way: the socket is closed here.
    if (!this.client.disconnected) this.client.stream?.destroy();
  }
}
