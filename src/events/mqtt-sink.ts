// Prediction events to an MQTT topic at QoS 1. The event leaves the sink's queue when the broker
// acknowledged it (PUBACK); while the broker is away the sink waits for the client's reconnect and
// the queue holds what arrives meanwhile, up to its bound.
import type { MqttClient } from 'mqtt';
import { BoundedSink, type BoundedSinkOptions } from './sink.js';

export interface MqttSinkOptions extends BoundedSinkOptions {
  client: MqttClient;
  topic: string;
  /** Close the client on close() (when the sink made its own). */
  ownsClient?: boolean;
}

export class MqttSink extends BoundedSink {
  readonly kind = 'mqtt';
  readonly target: string;
  private readonly client: MqttClient;
  private readonly topic: string;
  private readonly ownsClient: boolean;

  constructor(options: MqttSinkOptions) {
    super(options);
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
    return new Promise((resolve, reject) => {
      let pending = events.length;
      let failed: Error | undefined;
      const done = (err?: Error) => {
        if (err) failed ??= err;
        if (--pending === 0) {
          if (failed) reject(failed);
          else resolve();
        }
      };
      const properties = { contentType: 'application/cloudevents+json' };
      for (const event of events) this.client.publish(this.topic, event, { qos: 1, properties }, (err) => done(err ?? undefined));
    });
  }

  protected override async release(): Promise<void> {
    if (this.ownsClient) await this.client.endAsync().catch(() => undefined);
  }
}
