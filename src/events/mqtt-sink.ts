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
// A publish with no PUBACK within ackTimeoutMs while connected is a failure (retried). Mosquitto answers a
// message past its message_size_limit with PUBACK 0x95, which MQTT 5 does not allow there: MQTT.js
// drops that PUBACK as malformed and reads nothing more on that connection, so the publish waited for
// good and no event was sent again. The timed-out connection is dropped (MQTT.js reconnects). A batch
// that timed out is sent in halves, and later batches are cut under its size; one event that timed out
// ACK_TIMEOUTS_TO_DROP times in a row while connected is dropped (reason rejected), so later events are sent.
// That cut is firm when the connection had the PUBACK MQTT.js cannot read (the broker's size limit);
// after a plain timeout (a broker or network that stalled for a while) it rises again by about one
// event per publish acknowledged in time, as TCP's additive increase: a passing stall left the sink
// at one event per round trip for good.
import type { MqttClient } from 'mqtt';
import { connectClient, UNREADABLE_PUBACK, type MqttConnectionOptions } from '../mqtt/connection.js';
import { BoundedSink, type BoundedSinkOptions } from './sink.js';

/**
 * The sink's own connection: connectClient's, except that the PUBACK MQTT.js cannot read is the
 * sink's to report (MqttSink says what it was), not a broker that cannot be connected to.
 */
export function connectEventsClient(options: MqttConnectionOptions, warn: (detail: Record<string, unknown>, message: string) => void): MqttClient {
  return connectClient(options, {}, warn, (err) => err.message === UNREADABLE_PUBACK);
}

export interface MqttSinkOptions extends BoundedSinkOptions {
  client: MqttClient;
  topic: string;
  /** Close the client on close() (when the sink made its own). */
  ownsClient?: boolean;
  /** How long a publish waits for its PUBACK while connected, ms (default 10,000, as the webhook's attempt). */
  ackTimeoutMs?: number;
}

/** Times in a row one event may go unacknowledged while connected before it is dropped. */
const ACK_TIMEOUTS_TO_DROP = 3;


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
  /**
   * Below the size of a publish that went unacknowledged: later batches are cut under it (kept
   * across the reconnects the timeouts cause). `size`: on a connection that had the unreadable PUBACK
   * (the broker's size limit), kept; `stall`: after a plain timeout, rising with each acknowledgement.
   */
  private unackedBelow = { size: Infinity, stall: Infinity };
  /** This connection had the PUBACK MQTT.js cannot read (a message past the broker's size limit). */
  private sizeRefusedOnConnection = false;
  /** The single event that went unacknowledged, and how many times in a row. */
  private unacked: { event: string; times: number } | undefined;
  private readonly ackTimeoutMs: number;

  constructor(options: MqttSinkOptions) {
    super({ ...options, lingerMs: options.lingerMs ?? DEFAULT_LINGER_MS });
    this.client = options.client;
    this.topic = options.topic;
    this.target = options.topic;
    this.ownsClient = options.ownsClient ?? false;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 10_000;
    this.client.on('connect', (connack) => {
      this.maxPacket = connack.properties?.maximumPacketSize;
      this.sizeRefusedOnConnection = false;
      this.poke();
    });
    // (At most once per connection: MQTT.js reads nothing more on it, and the publish's ack timeout drops it.)
    this.client.on('error', (err) => {
      if (err.message !== UNREADABLE_PUBACK) return;
      this.sizeRefusedOnConnection = true;
      this.hooks.warn?.(`prediction events: the MQTT broker refused a publish with a PUBACK MQTT.js cannot read (reason 0x95 Packet too large, which mosquitto sends past its message_size_limit); MQTT.js reads nothing more on that connection, so it is dropped after ${this.ackTimeoutMs / 1000} s without an acknowledgement and the events are sent again in smaller parts`, { sink: this.kind, target: this.target });
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
      if (part.length === 1 && this.unacked?.event === part[0] && this.unacked.times >= ACK_TIMEOUTS_TO_DROP) {
        this.refuse(1, `the MQTT broker did not acknowledge an event of ${Buffer.byteLength(part[0]!)} bytes in ${ACK_TIMEOUTS_TO_DROP} publishes of ${this.ackTimeoutMs / 1000} s each while connected (a broker that drops messages past its size limit, such as mosquitto's message_size_limit, answers no valid PUBACK): it is dropped, later events are still sent`, 'rejected');
        this.unacked = undefined;
      } else if (this.fits(part)) await this.publish(part, signal);
      else this.refuse(1, `an event of ${Buffer.byteLength(part[0]!)} bytes is larger than the MQTT broker accepts (maximum packet size ${this.maxPacket} bytes)`);
      from = to;
    }
  }

  /** A batch's size by the sink's reckoning: header, properties, the batch's brackets and commas, and the events. */
  private packetBytes(events: string[]): number {
    let bytes = 128 + Buffer.byteLength(this.topic) + events.length;
    for (const e of events) bytes += Buffer.byteLength(e);
    return bytes;
  }

  private fits(events: string[]): boolean {
    const unackedBelow = Math.min(this.unackedBelow.size, this.unackedBelow.stall);
    if (this.maxPacket === undefined && unackedBelow === Infinity) return true;
    // One event always goes (as itself) under a limit only a timeout taught: the broker may take it.
    if (events.length === 1 && this.maxPacket === undefined) return true;
    const bytes = this.packetBytes(events);
    return bytes <= (this.maxPacket ?? Infinity) && (events.length === 1 || bytes < unackedBelow);
  }

  private publish(events: string[], signal: AbortSignal): Promise<void> {
    const single = events.length === 1;
    const payload = single ? events[0]! : `[${events.join(',')}]`;
    const properties = { contentType: single ? 'application/cloudevents+json' : 'application/cloudevents-batch+json' };
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(timer);
        reject(new Error('the sink is closed'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      let timedOut = false;
      const acked = (err?: Error) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (timedOut) return; // answered by the timeout: its removal from MQTT.js's store calls back here
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
          if (single && this.unacked?.event === events[0]) this.unacked = undefined;
          // Acknowledged in time: a cut a stall taught rises by about one event (the publish's mean).
          if (this.unackedBelow.stall !== Infinity) this.unackedBelow.stall += Buffer.byteLength(payload) / events.length;
          this.acknowledged(events.length);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        // Offline, MQTT.js resends it after the reconnect, and the PUBACK may still come: only a connected wait counts.
        if (!this.client.connected) return timer.refresh();
        timedOut = true;
        signal.removeEventListener('abort', onAbort);
        // Out of MQTT.js's store: not resent by a reconnect while the sink sends it again itself.
        for (const [id, entry] of Object.entries(this.client.outgoing)) if (entry.cb === acked) this.client.removeOutgoingMessage(Number(id));
        // A connection whose answer went missing is not trusted: after the malformed PUBACK, MQTT.js read no other
        // packet on it (every later publish went unacknowledged). MQTT.js reconnects; the sink waits for it.
        this.client.stream?.destroy();
        if (single) this.unacked = { event: events[0]!, times: this.unacked?.event === events[0] ? this.unacked.times + 1 : 1 };
        else {
          const cut = this.sizeRefusedOnConnection ? 'size' : 'stall';
          this.unackedBelow[cut] = Math.min(this.unackedBelow[cut], this.packetBytes(events));
        }
        reject(new Error(`the MQTT broker did not acknowledge a publish of ${events.length} event(s) (${Buffer.byteLength(payload)} bytes) within ${this.ackTimeoutMs / 1000} s while connected`));
      }, this.ackTimeoutMs).unref();
      this.client.publish(this.topic, payload, { qos: 1, properties }, acked);
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
