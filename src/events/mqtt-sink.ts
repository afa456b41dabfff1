// Prediction events to an MQTT topic at QoS 1. The event leaves the sink's queue when the broker
// acknowledged it (PUBACK); while the broker is away the sink waits for the client's reconnect and
// the queue holds what arrives meanwhile, up to its bound.
// One waiting event is published as a structured CloudEvent (content type
// application/cloudevents+json); when several wait (under load, while the previous PUBACK is on its
// way) they go as one message in the spec's JSON batch format (application/cloudevents-batch+json,
// an array): an MQTT publish costs ~40 µs of CPU in MQTT.js, which per event was a third of an
// HTTP prediction's budget.
import type { MqttClient } from 'mqtt';
import { BoundedSink, type BoundedSinkOptions } from './sink.js';

export interface MqttSinkOptions extends BoundedSinkOptions {
  client: MqttClient;
  topic: string;
  /** Close the client on close() (when the sink made its own). */
  ownsClient?: boolean;
}

/** Under load, events gather for this long between publishes (BENCHMARKS.md, MQTT section). */
export const DEFAULT_LINGER_MS = 10;

export class MqttSink extends BoundedSink {
  readonly kind = 'mqtt';
  readonly target: string;
  private readonly client: MqttClient;
  private readonly topic: string;
  private readonly ownsClient: boolean;

  constructor(options: MqttSinkOptions) {
    super({ ...options, lingerMs: options.lingerMs ?? DEFAULT_LINGER_MS });
    this.client = options.client;
    this.topic = options.topic;
    this.target = options.topic;
    this.ownsClient = options.ownsClient ?? false;
    this.client.on('connect', () => this.poke());
  }

  protected override ready(): boolean {
    return this.client.connected;
  }

  protected deliver(events: string[]): Promise<void> {
    const single = events.length === 1;
    const payload = single ? events[0]! : `[${events.join(',')}]`;
    const properties = { contentType: single ? 'application/cloudevents+json' : 'application/cloudevents-batch+json' };
    return new Promise((resolve, reject) => {
      this.client.publish(this.topic, payload, { qos: 1, properties }, (err) => (err ? reject(err) : resolve()));
    });
  }

  protected override async release(): Promise<void> {
    if (this.ownsClient) await this.client.endAsync().catch(() => undefined);
  }
}
