// The MQTT front door's Prometheus series, in the app's registry. Labels: model (served models only)
// and a fixed outcome word, so cardinality stays bounded whatever arrives on the broker.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type MqttOutcome = 'predicted' | 'invalid' | 'failed';

export class MqttMetrics {
  readonly messages: Counter<'model' | 'outcome'>;
  readonly duration: Histogram<'model'>;
  readonly reconnects: Counter;
  private subscriptions: string[] = [];

  constructor(registry: Registry, connected: () => boolean) {
    const registers = [registry];
    this.messages = new Counter({ name: 'modelserve_mqtt_messages_total', help: 'MQTT request messages handled, by model and outcome: predicted, invalid (bad JSON, too large, failed validation: an error message was sent), failed (overload, timeout, inference error).', labelNames: ['model', 'outcome'], registers });
    this.duration = new Histogram({ name: 'modelserve_mqtt_request_duration_seconds', help: 'MQTT request handling time, message received to answer handed to the client.', labelNames: ['model'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers });
    this.reconnects = new Counter({ name: 'modelserve_mqtt_reconnects_total', help: 'Reconnect attempts to the MQTT broker.', registers });
    new Gauge({ name: 'modelserve_mqtt_connected', help: '1 while connected to the MQTT broker.', registers, collect() { this.set(connected() ? 1 : 0); } });
    const subscribed = () => this.subscriptions;
    new Gauge({
      name: 'modelserve_mqtt_subscribed',
      help: "1 for each model whose request topic the broker acknowledged a subscription to (and while connected).",
      labelNames: ['model'],
      registers,
      collect() {
        this.reset();
        for (const model of subscribed()) this.set({ model }, connected() ? 1 : 0);
      },
    });
  }

  setSubscriptions(models: string[]): void {
    this.subscriptions = models;
  }

  observe(model: string, outcome: MqttOutcome, seconds: number): void {
    this.messages.inc({ model, outcome });
    this.duration.observe({ model }, seconds);
  }
}
