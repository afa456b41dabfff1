// Prediction events: the core's PredictionTap -> sampling -> a CloudEvent (redaction applied) ->
// every sink's bounded queue. observe() runs on the prediction's path, so it only samples, builds
// one JSON text (PredictionEventWriter) and offers it; delivery happens in each sink's own loop.
import type { PredictionRecord } from '../core/prediction-tap.js';
import { Counter, Gauge, type Registry } from 'prom-client';
import { PredictionEventWriter } from './cloudevent.js';
import { DROP_REASONS, type EventSink, type SinkHooks } from './sink.js';

export interface PredictionEventsOptions {
  sinks: EventSink[];
  /** Fraction of predictions emitted, 0..1 (default 1). */
  sampleRate?: number;
  /** Field names (request or answer) whose values are replaced by '[redacted]'. */
  redact?: readonly string[];
  sourcePrefix?: string;
}

export class PredictionEvents {
  readonly sinks: EventSink[];
  private readonly sampleRate: number;
  private readonly writer: PredictionEventWriter;
  /** Events built (sampled in). */
  emitted = 0;

  constructor(options: PredictionEventsOptions) {
    this.sinks = options.sinks;
    this.sampleRate = options.sampleRate ?? 1;
    this.writer = new PredictionEventWriter({ redact: new Set(options.redact ?? []), sourcePrefix: options.sourcePrefix });
  }

  /** The observer to add to the core (core.predictions.add(events.observe)). */
  readonly observe = (record: PredictionRecord): void => {
    if (this.sinks.length === 0) return;
    if (this.sampleRate < 1 && Math.random() >= this.sampleRate) return;
    this.emitted++;
    const text = this.writer.write(record);
    for (const sink of this.sinks) sink.offer(text);
  };

  async close(timeoutMs = 5_000): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.close(timeoutMs)));
  }
}

/**
 * Sink hooks that count in Prometheus (modelserve_events_total{sink, outcome}, the drops by reason in
 * modelserve_events_dropped_total{sink, reason}), a queue gauge and whether each sink still delivers.
 */
export function eventMetricsHooks(registry: Registry, sinks: () => readonly EventSink[]): Required<Pick<SinkHooks, 'onDelivered' | 'onDropped' | 'onFailure'>> {
  const events = new Counter({ name: 'modelserve_events_total', help: 'Prediction events by sink (mqtt, webhook, file) and outcome: delivered (acknowledged by the destination), dropped (the sink\'s queue was full, the event is larger than the destination accepts or was refused for good, or it was still queued at shutdown), failed (a delivery attempt failed; retried).', labelNames: ['sink', 'outcome'], registers: [registry] });
  new Gauge({
    name: 'modelserve_events_queued',
    help: 'Prediction events waiting in the sink\'s queue (not yet acknowledged).',
    labelNames: ['sink'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of sinks()) this.set({ sink: s.kind }, s.counters().queued);
    },
  });
  // outcome="dropped" above stays the total; this tells why, so a shutdown's or a retired webhook's losses are not read as an undersized queue.
  const dropped = new Counter({ name: 'modelserve_events_dropped_total', help: 'Prediction events dropped, by sink and reason: queue_full (the sink\'s queue was full), too_large (larger than the destination accepts), stopped (the webhook answered 410 or a redirect and is sent nothing more), rejected (refused for good, not retried: a webhook\'s 400/401/403/405/415/422…, an MQTT broker\'s PUBACK 0x87 Not authorized…; later events are still sent), shutdown (still queued when the shutdown\'s flush deadline passed, or finished after the sink began closing).', labelNames: ['sink', 'reason'], registers: [registry] });
  new Gauge({
    name: 'modelserve_events_sink_running',
    help: 'Per sink: 1 while it delivers (or retries); 0 once it stopped for good (the webhook answered 410 Gone or a redirect; every event since is dropped): restart with the new URL in --events-webhook or $MODELSERVE_EVENTS_WEBHOOK, whichever gave it.',
    labelNames: ['sink'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of sinks()) this.set({ sink: s.kind }, s.stopped?.() === undefined ? 1 : 0);
    },
  });
  for (const sink of sinks()) {
    for (const outcome of ['delivered', 'dropped', 'failed']) events.inc({ sink: sink.kind, outcome }, 0);
    for (const reason of DROP_REASONS) dropped.inc({ sink: sink.kind, reason }, 0);
  }
  return {
    onDelivered: (sink, n) => events.inc({ sink, outcome: 'delivered' }, n),
    onDropped: (sink, n, reason) => {
      events.inc({ sink, outcome: 'dropped' }, n);
      dropped.inc({ sink, reason }, n);
    },
    onFailure: (sink) => events.inc({ sink, outcome: 'failed' }),
  };
}
