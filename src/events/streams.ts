// The optional streaming side of a server, started by startServer when asked: the MQTT front door
// and the prediction-event sinks. Kept out of server.ts so that file only calls start/stop here.
import type { Metrics, RejectReason } from '../metrics/metrics.js';
import type { InferenceCore } from '../core/core.js';
import type { MqttConnectionOptions } from '../mqtt/connection.js';
import { MqttFrontDoor, type Logger } from '../mqtt/front-door.js';
import type { MqttTopics } from '../mqtt/topics.js';
import { PredictionEvents, eventMetricsHooks } from './events.js';
import { FileSink } from './file-sink.js';
import { connectEventsClient, MqttSink } from './mqtt-sink.js';
import type { DropReason, EventSink } from './sink.js';
import { WebhookSink } from './webhook-sink.js';
import type { TrafficRouter } from '../traffic/router.js';

export interface StreamOptions {
  /** The broker (the front door's and the MQTT sink's). */
  mqtt?: MqttConnectionOptions & {
    /** Serve predictions over MQTT (default true when a broker is given). */
    frontDoor?: boolean;
    topics?: Partial<MqttTopics>;
    group?: string;
    maxPayload?: number;
    /** /readyz answers 503 while not connected and subscribed. */
    required?: boolean;
  };
  events?: {
    /** MQTT topic for events (on the broker above). */
    mqttTopic?: string;
    webhook?: string;
    webhookHeaders?: Record<string, string>;
    /** Where webhookHeaders' token was given (the option or variable, never the token), for the warning on a 401/403. */
    webhookCredentials?: string;
    /** Where the URL was given (`--events-webhook` or `$MODELSERVE_EVENTS_WEBHOOK`), for the warning after a redirect. */
    webhookSource?: string;
    file?: string;
    fileMaxBytes?: number;
    fileKeep?: number;
    /** Per-sink queue bounds: events, and their JSON text in bytes. */
    maxQueue?: number;
    maxQueueBytes?: number;
    sampleRate?: number;
    redact?: readonly string[];
  };
}

export interface RunningStreams {
  frontDoor: MqttFrontDoor | undefined;
  events: PredictionEvents | undefined;
  /** Why the service is not ready because of the streams (undefined: ready). */
  notReady(): string | undefined;
  /** Stops taking MQTT requests (unsubscribes) and waits for those in flight (up to timeoutMs, default 5 s). */
  stopIntake(timeoutMs?: number): Promise<void>;
  /** Flushes the event sinks (for up to timeoutMs, default 5 s) and disconnects. */
  close(timeoutMs?: number): Promise<void>;
}

export function hasStreams(options: StreamOptions | undefined): options is StreamOptions {
  return options !== undefined && (options.mqtt !== undefined || options.events?.mqttTopic !== undefined || options.events?.webhook !== undefined || options.events?.file !== undefined);
}

export function startStreams(options: StreamOptions, core: InferenceCore, metrics: Metrics | undefined, log: Logger, traffic?: TrafficRouter): RunningStreams {
  const mqtt = options.mqtt;
  const registry = metrics?.registry;
  const rejected = metrics && ((model: string, reason: RejectReason) => metrics.rejected(model, reason));
  const frontDoor = mqtt && (mqtt.frontDoor ?? true) ? new MqttFrontDoor({ ...mqtt, core, registry, rejected, log, eventsTopic: options.events?.mqttTopic, traffic }) : undefined;
  const ev = options.events;
  const sinks: EventSink[] = [];
  let events: PredictionEvents | undefined;
  if (ev && (ev.mqttTopic || ev.webhook || ev.file)) {
    // The hooks look the counter up when called, so it can be created after the sinks (their series start at 0).
    let counted: ReturnType<typeof eventMetricsHooks> | undefined;
    const common = {
      onDelivered: (sink: string, n: number) => counted?.onDelivered(sink, n),
      onDropped: (sink: string, n: number, reason: DropReason) => counted?.onDropped(sink, n, reason),
      onFailure: (sink: string) => counted?.onFailure(sink),
      warn: (message: string, detail: Record<string, unknown>) => log.warn(detail, message),
      maxQueue: ev.maxQueue,
      maxQueueBytes: ev.maxQueueBytes,
    };
    if (ev.mqttTopic) {
      if (!mqtt) throw new Error('events to MQTT need --mqtt-url');
      // Its own connection: events never queue behind (or hold up) the front door's answers.
      const client = connectEventsClient({ ...mqtt, clientId: mqtt.clientId ? `${mqtt.clientId}-events` : undefined }, (detail, message) => log.warn({ ...detail, connection: 'events' }, message));
      sinks.push(new MqttSink({ ...common, client, topic: ev.mqttTopic, ownsClient: true }));
    }
    if (ev.webhook) sinks.push(new WebhookSink({ ...common, url: ev.webhook, headers: ev.webhookHeaders, credentials: ev.webhookCredentials, urlSource: ev.webhookSource }));
    if (ev.file) sinks.push(new FileSink({ ...common, path: ev.file, maxBytes: ev.fileMaxBytes, keep: ev.fileKeep }));
    if (registry) counted = eventMetricsHooks(registry, () => sinks);
    events = new PredictionEvents({ sinks, sampleRate: ev.sampleRate, redact: ev.redact });
    core.predictions.add(events.observe);
  }
  return {
    frontDoor,
    events,
    notReady: () => (mqtt?.required && frontDoor && !frontDoor.ready() ? 'not connected to the MQTT broker' : undefined),
    stopIntake: async (timeoutMs) => { await frontDoor?.close(timeoutMs); },
    close: async (timeoutMs) => {
      await frontDoor?.close(timeoutMs);
      await events?.close(timeoutMs);
    },
  };
}
