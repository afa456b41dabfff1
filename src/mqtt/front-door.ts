// Inference over MQTT: an adapter over the inference core, like the Fastify app. A message on a
// model's request topic holds one JSON row or an array of rows; it is validated exactly as over HTTP
// (ModelVersion.validate: the same 422 detail), predicted through the same batcher
// (ModelVersion.predict), and answered with the same JSON body as HTTP:
// - to the MQTT 5 response topic with the request's correlation data, when it has one;
// - else to the model's predictions topic;
// - errors (bad JSON, too large, invalid rows, overload) to the model's errors topic as
//   {detail, code, status, request_id} — and to the response topic too when there is one; a
//   refusal with HTTP's Retry-After (overload) carries it as the user property retry_after.
// The request id (user property request_id on the answer) is the request's own request_id user
// property when it has a plain one, else a new UUID.
//
// QoS 1 in and out; with a group the subscriptions are shared ($share/<group>/<topic>), so N
// replicas split one stream. Flow control: a message is acknowledged (PUBACK) when it is accepted
// for processing; past maxInFlight unanswered messages the client stops reading, so the broker
// holds the rest; and a message's rows wait here while the MQTT rows in flight for its model would
// pass the model's queue limit (queue.max_rows), so large batches are not shed as overload (503).
import type { IPublishPacket, MqttClient } from 'mqtt';
import type { Registry } from 'prom-client';
import type { InferenceCore } from '../core/core.js';
import type { ServableVersion } from '../core/servable.js';
import { ERRORS, isServerFault, ModelServeError, rejectReasonOf, type ErrorCode, type RejectReason } from '../errors.js';
import { bodyTooLarge, parseJsonBody } from '../protocols/json-body.js';
import { StepValidationError } from '../pipelines/errors.js';
import { requestIdFrom } from '../protocols/request-id.js';
import { delayUntil } from '../protocols/deadline.js';
import { connectClient, UNREADABLE_PUBACK, type MqttConnectionOptions } from './connection.js';
import { urlForMessages } from '../outbound-http.js';
import { MqttMetrics } from './metrics.js';
import { PubackReader } from './puback-reader.js';

import { DEFAULT_TOPICS, type MqttTopics } from './topics.js';
import { stickyKey } from '../traffic/sticky.js';
import type { TrafficRouter } from '../traffic/router.js';

export { DEFAULT_TOPICS, type MqttTopics };

/** The packets whose reading resets MQTT.js's keepalive timer (its handlers/index.js). */
const KEEPALIVE_RESETS = new Set(['puback', 'pubrec', 'pubcomp', 'suback', 'unsuback', 'pubrel', 'auth', 'pingresp']);

/** How the events topic is named among the topics the server publishes to. */
const EVENTS_TOPIC = '--events-mqtt-topic';

export interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface MqttFrontDoorOptions extends MqttConnectionOptions {
  core: InferenceCore;
  topics?: Partial<MqttTopics>;
  /** Shared-subscription group: replicas with the same group split the messages. */
  group?: string;
  /** Largest payload accepted, bytes (default 256 KiB); larger ones get MS_ERR_BODY_TOO_LARGE. */
  maxPayload?: number;
  /** Messages being processed at once before the client stops reading (default 512). */
  maxInFlight?: number;
  /**
   * The prediction events' topic (--events-mqtt-topic), never a request topic: each prediction's
   * event would come back as a request, and with a lax model whose fields all have defaults be
   * predicted, giving another event, endlessly.
   */
  eventsTopic?: string;
  registry?: Registry;
  /** Told of each request refused for a full queue or its deadline (modelserve_rejected_total, as HTTP and gRPC count them). */
  rejected?: (model: string, reason: RejectReason) => void;
  log?: Logger;
  /** The models' traffic splits and shadows (the HTTP app's): a request follows its model's split (sticky by header: a user property of that name) and is mirrored to its shadow. */
  traffic?: TrafficRouter;
}


/** Beside the payload, a request message's topic and properties (response topic, correlation data, user properties). */
const PACKET_OVERHEAD_ALLOWANCE = 64 * 1024;
/** The largest Maximum Packet Size MQTT can express (and the largest packet). */
const MQTT_MAX_PACKET = 268_435_455;

/** The Maximum Packet Size the front door announces: room for payloads up to twice the limit, so one a little too large is answered MS_ERR_BODY_TOO_LARGE. */
function maximumPacketSizeFor(maxPayload: number): number {
  return Math.min(MQTT_MAX_PACKET, 2 * maxPayload + PACKET_OVERHEAD_ALLOWANCE);
}

/** The topic a template gives for a model. */
export function topicFor(template: string, model: string): string {
  return template.split('{model}').join(model);
}

export class MqttFrontDoor {
  readonly client: MqttClient;
  private readonly core: InferenceCore;
  private readonly topics: MqttTopics;
  private readonly group: string | undefined;
  private readonly maxPayload: number;
  private readonly maxInFlight: number;
  private readonly eventsTopic: string | undefined;
  private readonly log: Logger | undefined;
  readonly metrics: MqttMetrics | undefined;
  private readonly rejected: MqttFrontDoorOptions['rejected'];
  private readonly traffic: TrafficRouter | undefined;
  /** request topic -> model name, for the models subscribed. */
  private byTopic = new Map<string, string>();
  private subscribed = new Set<string>();
  private inFlight = 0;
  private paused: Array<() => void> = [];
  /** Requests taken (being processed) on this connection whose PUBACK is not sent yet, by packet id. */
  private takenUnacked = new Map<number, IPublishPacket>();
  /**
   * The previous connection's: the broker resends each to the session (DUP set, the same packet id,
   * MQTT 5 4.4) and that copy is not run again. Kept for the next connection only (bounded by maxInFlight).
   */
  private takenBefore = new Map<number, IPublishPacket>();
  /** Redeliveries of requests taken before the reconnect: acknowledged at once, not run again. */
  private readonly redeliveries = new WeakSet<IPublishPacket>();
  /** MQTT.js has sent a PINGREQ and read no packet that resets its keepalive since. */
  private pingOutstanding = false;
  /** Connected since the last outage began ('offline'): the next outage is a lost connection, not an unreachable broker. */
  private connectedThisOutage = false;
  private readonly shownUrl: string;
  /** Rows of accepted messages being predicted, per model, and the messages waiting for room (admitRows). */
  private readonly rowsInFlight = new Map<string, number>();
  private readonly rowWaiters = new Map<string, Array<() => void>>();
  private closed = false;
  /**
   * A client id of the user's outside a group: the session is this service's, and the next process
   * with that id takes it over. Shutdown keeps its subscriptions (unsubscribing made the broker drop
   * every request published during a restart) and leaves what arrives meanwhile unacknowledged, so
   * the broker gives it to that process.
   */
  private readonly keepsSession: boolean;
  /** Shutting down with the session kept: requests that arrive are left to the next process. */
  private holding = false;
  /** A request was left unacknowledged: reading stopped behind it. */
  private held = false;
  /** publishedTopics(), kept until the models change (a response topic is checked against it on every request). */
  private publishedCache: Map<string, string> | undefined;
  /** Answer topics found equal to a request topic (logged once each). */
  private readonly loopWarned = new Set<string>();
  /** Request topics found shared by two models (logged once each). */
  private readonly clashWarned = new Set<string>();
  /** The largest packet the broker takes (CONNACK's Maximum Packet Size), if it says. */
  private maxPacket: number | undefined;
  /**
   * The smallest payload the broker refused with a PUBACK MQTT.js cannot read (mosquitto's
   * message_size_limit): payloads this large no longer fit. Kept across the reconnect that refusal
   * causes (refusedLimitHolds); forgotten on any other new connection, as maxPacket is read again:
   * a broker restarted with a larger limit got answers cut under the old one for good.
   */
  private refusedBytes: number | undefined;
  /** The connection was dropped for a refusal: the next CONNACK is the same broker's, its limit unchanged. */
  private refusedLimitHolds = false;
  /** This connection had its CONNACK (a close without one is an attempt that failed: the broker was away). */
  private connackReceived = false;
  /** The current connection's reader of refused PUBACKs' packet ids (onUnreadablePuback). */
  private pubacks: PubackReader | undefined;
  /** Answers and errors published and not acknowledged yet, oldest first, and how to say it again should the broker refuse one as too large. */
  private readonly unacked = new Map<(err?: Error) => void, Unacked>();
  /** Their packet ids (MQTT.js keeps a message's id when it resends it after a reconnect). */
  private readonly byId = new Map<number, (err?: Error) => void>();
  /** Each model's topics, recomputed when the set of models or their configs change. */
  private readonly topicCache = new Map<string, MqttTopics>();
  /**
   * Request topics no longer served -> the model and its topics then: the model is gone from the
   * repository, or its request topic changed (--watch). A request can still arrive there (before
   * the unsubscribe is done, or redelivered from the session) and is answered MS_ERR_MODEL_NOT_FOUND
   * on them, as a request to an unknown model (naming the new topic when the model moved), not
   * dropped. (One entry per topic ever retired: a handful even with --watch.)
   */
  private readonly retired = new Map<string, { model: string; topics: MqttTopics }>();
  private readonly onCoreEvent = () => {
    const names = new Set(this.core.modelNames());
    // (The cache still has every subscribed model's topics: wantedTopics filled it.)
    const before = [...this.byTopic].map(([topic, model]) => ({ topic, model, topics: this.topicCache.get(model) }));
    this.topicCache.clear();
    this.publishedCache = undefined;
    for (const { topic, model, topics } of before) {
      if (topics !== undefined && (!names.has(model) || this.topicsOf(model).request !== topic)) this.retired.set(topic, { model, topics });
    }
    void this.syncSubscriptions();
  };

  constructor(options: MqttFrontDoorOptions) {
    this.core = options.core;
    this.topics = { ...DEFAULT_TOPICS, ...options.topics };
    this.group = options.group;
    this.maxPayload = options.maxPayload ?? 256 * 1024;
    this.maxInFlight = options.maxInFlight ?? 512;
    this.eventsTopic = options.eventsTopic;
    this.keepsSession = this.group === undefined && options.clientId !== undefined && options.sessionExpirySeconds !== 0;
    this.log = options.log;
    this.shownUrl = urlForMessages(options.url);
    this.rejected = options.rejected;
    this.traffic = options.traffic;
    const clashes = this.requestTopicClashes();
    if (clashes.length > 0) throw new Error(clashes.join('; '));
    this.metrics = options.registry ? new MqttMetrics(options.registry, () => this.client.connected) : undefined;
    // Subscriptions are this class's (syncSubscriptions after every connect without a session):
    // MQTT.js's own resubscription made that subscribe a no-op granting nothing, so after a broker
    // restart that lost the session the front door never counted as subscribed (ready) again.
    // In a group, the session ends with the connection (expiry 0): a session that outlived its
    // replica (a crash; the next process has another client id) kept its share of the shared
    // subscription, and the broker queued every Nth request for it, never answered, for the
    // session's expiry. A replica away for a moment loses nothing: the others take the stream.
    const grouped = this.group !== undefined && options.sessionExpirySeconds === undefined ? { ...options, sessionExpirySeconds: 0 } : options;
    // MQTT.js reads a message whole before handing it over: without a Maximum Packet Size the broker
    // sends any size (mosquitto: up to 256 MB), and three 200 MB messages took RSS from 155 to 570 MiB.
    // Past the payload limit by a little (a batch too large), a message still gets its error message.
    const connection = { ...grouped, maximumPacketSize: maximumPacketSizeFor(this.maxPayload) };
    // While holding, a request is neither taken nor acknowledged: the broker resends it to the session's next connection.
    const customHandleAcks = (_topic: string, _payload: Buffer, packet: IPublishPacket, ack: (code: number) => void) => {
      if (this.holding) {
        this.held = true;
        return;
      }
      const id = packet.messageId;
      if (id !== undefined) {
        const before = this.takenBefore.get(id);
        // (A packet id the broker gives anew means the one taken before is settled.)
        if (before !== undefined) this.takenBefore.delete(id);
        if (before !== undefined && packet.dup && sameRequest(before, packet)) this.redeliveries.add(packet);
        else this.takenUnacked.set(id, packet);
      }
      ack(0);
    };
    // (Once closed, the connection's end is ours: nothing about it is a warning.)
    const warn = (detail: Record<string, unknown>, message: string) => { if (!this.closed) this.log?.warn(detail, message); };
    this.client = connectClient(connection, { resubscribe: false, customHandleAcks }, warn, (err) => err.message === UNREADABLE_PUBACK);
    // PUBACK after this callback: hold it (and the reading of the next packet) while too many are in
    // flight — but not while a PINGREQ waits for its PINGRESP (see pingOutstanding).
    this.client.handleMessage = (packet, done) => {
      if (this.inFlight < this.maxInFlight || this.pingOutstanding || this.redeliveries.has(packet as IPublishPacket)) done();
      else this.paused.push(() => done());
    };
    // MQTT.js reads no packet while one is held here, and resets its keepalive only on reading an
    // acknowledgement or PINGRESP: held past 1.5 × keepalive (nothing finishing: a slow model, a
    // stalled step), it declared the connection dead, and reconnected over and over under sustained
    // overload. Once it pings, reading goes on until the PINGRESP: the held message is let go (it is
    // already being processed) and any request read meanwhile is refused as overload.
    this.client.on('packetsend', (packet) => {
      // A new connection's CONNECT, its stream just made: its bytes are read for refused PUBACKs from the start.
      if (packet.cmd === 'connect') {
        this.readPubacks();
        return;
      }
      if (packet.cmd === 'publish' && packet.qos === 1 && packet.messageId !== undefined && !this.byId.has(packet.messageId)) {
        const cb = this.client.outgoing[packet.messageId]?.cb as ((err?: Error) => void) | undefined;
        if (cb !== undefined) this.track(packet.messageId, cb);
        return;
      }
      if (packet.cmd === 'puback') {
        if (packet.messageId !== undefined) this.takenUnacked.delete(packet.messageId);
        return;
      }
      if (packet.cmd !== 'pingreq') return;
      this.pingOutstanding = true;
      for (const resume of this.paused.splice(0)) resume();
    });
    // (The first connection's CONNECT was sent within connectClient, before the listener above: no byte read yet.)
    this.readPubacks();
    this.client.on('packetreceive', (packet) => { if (KEEPALIVE_RESETS.has(packet.cmd)) this.pingOutstanding = false; });
    this.client.on('close', () => {
      this.pingOutstanding = false;
      // (A reconnect after a refusal that failed: the broker was away, and may be back with another limit.)
      if (!this.connackReceived) this.refusedLimitHolds = false;
      this.connackReceived = false;
      // The PUBACKs held for back-pressure belonged to that connection: sent on the next one they
      // would acknowledge whatever has that packet id there. The broker resends those requests instead
      // (the reading of the next connection is not paused behind them), and takenBefore knows them.
      this.paused = [];
      this.takenBefore = this.takenUnacked;
      this.takenUnacked = new Map();
    });
    this.client.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet));
    this.client.on('connect', (connack) => {
      this.log?.info({ url: this.shownUrl, sessionPresent: connack.sessionPresent }, 'mqtt: connected');
      this.connectedThisOutage = true;
      this.connackReceived = true;
      this.maxPacket = connack.properties?.maximumPacketSize;
      if (!this.refusedLimitHolds) this.refusedBytes = undefined;
      this.refusedLimitHolds = false;
      // A session the broker kept still has our subscriptions; a new one needs them again.
      if (!connack.sessionPresent) {
        this.subscribed.clear();
        // (Nor does a new session resend anything.)
        this.takenBefore.clear();
      }
      void this.syncSubscriptions();
    });
    // mosquitto refuses a message past its message_size_limit with PUBACK 0x95, a reason MQTT 5 does
    // not allow there: MQTT.js's parser rejects it, drops the bytes it held, and read nothing right on
    // that connection again (every later request went unanswered while /readyz said ready).
    this.client.on('error', (err) => { if (err.message === UNREADABLE_PUBACK) this.onUnreadablePuback(); });
    // MQTT.js goes 'offline' once an outage begins (not again for each failed reconnect). Only a
    // broker never reached is unreachable: a connection that was up and is lost is connectClient's
    // to report (why it was lost), one onUnreadablePuback dropped was logged there, and one ended
    // by close() is nothing to warn about.
    this.client.on('offline', () => {
      const wasConnected = this.connectedThisOutage;
      this.connectedThisOutage = false;
      if (!wasConnected && !this.closed) this.log?.warn({ url: this.shownUrl }, 'mqtt: broker unreachable; reconnecting with backoff');
    });
    this.client.on('reconnect', () => this.metrics?.reconnects.inc());
    this.core.on('event', this.onCoreEvent);
  }

  /** Connected and subscribed to every served model's request topic. */
  ready(): boolean {
    return this.client.connected && [...this.wantedTopics().keys()].every((t) => this.subscribed.has(t));
  }

  /** Resolves when ready(), or rejects after timeoutMs. */
  async waitReady(timeoutMs = 10_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!this.ready()) {
      if (Date.now() > until) throw new Error(`mqtt: not connected and subscribed after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** A model's topics: its config's `mqtt:` keys, else the server's templates. */
  private topicsOf(model: string): MqttTopics {
    let topics = this.topicCache.get(model);
    if (topics === undefined) {
      const config = this.core.servableConfigs().find((c) => c.name === model);
      // A model gone from the repository answers its last requests on the topics it had.
      const gone = config === undefined ? [...this.retired.values()].find((r) => r.model === model) : undefined;
      if (gone !== undefined) return gone.topics;
      const own = config?.mqtt;
      topics = {
        request: own?.requestTopic ?? topicFor(this.topics.request, model),
        predictions: own?.predictionsTopic ?? topicFor(this.topics.predictions, model),
        errors: own?.errorsTopic ?? topicFor(this.topics.errors, model),
      };
      this.topicCache.set(model, topics);
    }
    return topics;
  }

  /**
   * Models that share a request topic: a message there could be answered by only one of them (it
   * would be whichever came last), so the others would be unreachable over MQTT without a word.
   */
  private requestTopicClashes(): string[] {
    const byTopic = new Map<string, string[]>();
    for (const name of this.core.modelNames()) {
      const topic = this.topicsOf(name).request;
      byTopic.set(topic, [...byTopic.get(topic) ?? [], name]);
    }
    const problems = [...byTopic].filter(([, names]) => names.length > 1).map(([topic, names]) =>
      `mqtt: the models ${names.map((n) => `'${n}'`).join(', ')} have the same request topic '${topic}': give each its own ({model} in --mqtt-request-topic, or mqtt.request_topic in a model's config)`);
    const models = (names: string[]) => `${names.length === 1 ? 'the model' : 'the models'} ${names.map((n) => `'${n}'`).join(', ')}`;
    // What the server publishes must never reach a request topic: it would come back as a request,
    // and an answer (or an error, or an event) to that one again, endlessly.
    const published = this.publishedTopics();
    for (const [topic, what] of published) {
      const requests = byTopic.get(topic);
      if (requests !== undefined) problems.push(`mqtt: ${what} '${topic}' is the request topic of ${models(requests)}: each message published there would come back as a request; give it another topic`);
    }
    // Events on an answer topic (the map names a topic by its first publisher, a model's): not a
    // loop, but its readers would get messages that are not answers, and the events' readers answers.
    const shared = this.eventsTopic === undefined ? undefined : published.get(this.eventsTopic);
    if (shared !== undefined && shared !== EVENTS_TOPIC) problems.push(`mqtt: --events-mqtt-topic '${this.eventsTopic}' is ${shared}: events and answers would be mixed on it; give the events another topic`);
    return problems;
  }

  /** Each topic the server publishes to (a model's predictions and errors topics, the events topic), with what it is. */
  private publishedTopics(): Map<string, string> {
    const published = new Map<string, string>();
    for (const name of this.core.modelNames()) {
      const { predictions, errors } = this.topicsOf(name);
      if (!published.has(predictions)) published.set(predictions, `the model '${name}''s predictions topic`);
      if (!published.has(errors)) published.set(errors, `the model '${name}''s errors topic`);
    }
    if (this.eventsTopic !== undefined && !published.has(this.eventsTopic)) published.set(this.eventsTopic, EVENTS_TOPIC);
    return published;
  }

  private wantedTopics(): Map<string, string> {
    const wanted = new Map<string, string>();
    const published = this.publishedTopics();
    for (const name of this.core.modelNames()) {
      const topic = this.topicsOf(name).request;
      // A model that appears later (--watch) whose request topic is one the server publishes to (the
      // events topic, a model's predictions or errors topic) is not served over MQTT: a loop otherwise.
      const publishedAs = published.get(topic);
      if (publishedAs !== undefined) {
        if (!this.clashWarned.has(topic)) this.log?.error({ topic, model: name, publishedAs }, 'mqtt: a model\'s request topic is a topic the server publishes to; it is not served over MQTT');
        this.clashWarned.add(topic);
        continue;
      }
      const other = wanted.get(topic);
      // A model that appears later (--watch) with a taken topic: the model that has it keeps it.
      if (other !== undefined) {
        const keep = this.byTopic.get(topic) === name ? name : other;
        if (!this.clashWarned.has(topic)) this.log?.error({ topic, models: [other, name], serving: keep }, 'mqtt: two models have the same request topic; only one of them is served over MQTT');
        this.clashWarned.add(topic);
        wanted.set(topic, keep);
        continue;
      }
      wanted.set(topic, name);
    }
    return wanted;
  }

  private filter(topic: string): string {
    return this.group ? `$share/${this.group}/${topic}` : topic;
  }

  private async syncSubscriptions(): Promise<void> {
    if (this.closed || this.closing || !this.client.connected) return;
    const wanted = this.wantedTopics();
    this.byTopic = wanted;
    const add = [...wanted.keys()].filter((t) => !this.subscribed.has(t));
    const remove = [...this.subscribed].filter((t) => !wanted.has(t));
    try {
      if (add.length > 0) {
        // rh 2: no retained message on subscribing. A retained request would be answered again at
        // every restart, reconnect and new replica; a request is answered when it is published.
        const granted = await this.client.subscribeAsync(add.map((t) => this.filter(t)), { qos: 1, rh: 2 });
        for (const g of granted) {
          const topic = this.group ? g.topic.slice(`$share/${this.group}/`.length) : g.topic;
          if (g.qos === 1 || g.qos === 0) this.subscribed.add(topic);
          else this.log?.error({ topic: g.topic, code: g.qos }, 'mqtt: subscription refused by the broker');
        }
      }
      if (remove.length > 0) {
        await this.client.unsubscribeAsync(remove.map((t) => this.filter(t)));
        for (const t of remove) this.subscribed.delete(t);
      }
    } catch (err) {
      this.log?.warn({ err: (err as Error).message }, 'mqtt: subscribing failed; retried on the next connect');
    }
    this.metrics?.setSubscriptions([...this.subscribed].map((t) => wanted.get(t) ?? ''));
  }

  private onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    // QoS 1 is at-least-once: a request whose PUBACK the lost connection never carried comes again. Its first copy is being (or was) answered.
    if (this.redeliveries.has(packet)) {
      this.log?.info({ topic, messageId: packet.messageId }, 'mqtt: a request the broker delivered again after a reconnect was taken before it: acknowledged, not run again');
      return;
    }
    // A topic whose model was removed or moved a moment ago: handle() answers MS_ERR_MODEL_NOT_FOUND.
    const served = this.byTopic.get(topic);
    const retired = served === undefined ? this.retired.get(topic) : undefined;
    const model = served ?? retired?.model;
    if (model === undefined) return; // not a request topic of ours
    const started = performance.now();
    const props = packet.properties ?? {};
    // Read only to reach a PINGRESP (handleMessage): refused, not taken in past maxInFlight.
    const shed = this.inFlight >= this.maxInFlight && this.pingOutstanding;
    this.inFlight++;
    // MQTT 5's message expiry (what is left of it when the broker delivers) is the caller's deadline,
    // as a gRPC deadline is: past it the answer is MS_ERR_TIMEOUT instead of one nobody waits for.
    const expiry = props.messageExpiryInterval;
    const deadline = expiry === undefined || expiry === 0 ? undefined : started + expiry * 1000;
    const reply: Reply = { responseTopic: props.responseTopic, correlationData: props.correlationData, requestId: requestIdFrom(props.userProperties?.request_id), status: 0, userProperties: props.userProperties, arrived: started, deadline, retired: retired?.topics, shed };
    void this.handle(model, payload, reply).then((outcome) => {
      const ms = performance.now() - started;
      this.metrics?.observe(model, outcome, ms / 1000);
      // The access line, as HTTP's and gRPC's: the status is the one the answer carries.
      this.log?.info({ reqId: reply.requestId, topic, model, status: reply.status, ms: Number(ms.toFixed(3)) }, 'request');
    }).finally(() => {
      this.inFlight--;
      const next = this.paused.shift();
      if (next) next();
    });
  }

  private async handle(model: string, payload: Buffer, reply: Reply): Promise<'predicted' | 'invalid' | 'failed'> {
    const requestId = reply.requestId;
    // Publishing to a topic name with a wildcard is a protocol error: the broker drops the
    // connection, and MQTT.js resends the unacknowledged answer after every reconnect (the front
    // door would never recover). Such a request is refused on the errors topic alone.
    if (reply.responseTopic !== undefined && (reply.responseTopic.includes('+') || reply.responseTopic.includes('#') || reply.responseTopic.includes('\0'))) {
      const topic = reply.responseTopic;
      reply.responseTopic = undefined;
      this.sendError(model, reply, 'MS_ERR_BAD_RESPONSE_TOPIC', `the response topic ${JSON.stringify(topic.slice(0, 200))} cannot be published to: a topic name may not hold the wildcards + or # (nor U+0000)`);
      return 'invalid';
    }
    // An empty topic name is no topic (MQTT 4.7.3): mosquitto passes the property on, but an answer
    // published to it is never acknowledged, so it would be lost without a word.
    if (reply.responseTopic === '') {
      reply.responseTopic = undefined;
      this.sendError(model, reply, 'MS_ERR_BAD_RESPONSE_TOPIC', 'the response topic is empty: a topic name needs at least one character');
      return 'invalid';
    }
    // A request topic as the response topic would feed the answer back in as a request, forever.
    if (reply.responseTopic !== undefined && this.byTopic.has(reply.responseTopic)) {
      const topic = reply.responseTopic;
      reply.responseTopic = undefined;
      this.sendError(model, reply, 'MS_ERR_BAD_RESPONSE_TOPIC', `the response topic ${JSON.stringify(topic)} is a request topic of this server: the answer would come back as a request`);
      return 'invalid';
    }
    // A topic the server publishes to for something else (the events, another model's answers or
    // errors): the client would have the server write there with the server's own permissions on the
    // broker, and that topic's readers would get a message not meant for them. (This model's own
    // topics are the client's to read anyway.)
    const own = this.topicsOf(model);
    const publishedAs = reply.responseTopic === undefined || reply.responseTopic === own.predictions || reply.responseTopic === own.errors ? undefined
      : (this.publishedCache ??= this.publishedTopics()).get(reply.responseTopic);
    if (publishedAs !== undefined) {
      const topic = reply.responseTopic!;
      reply.responseTopic = undefined;
      this.sendError(model, reply, 'MS_ERR_BAD_RESPONSE_TOPIC', `the response topic ${JSON.stringify(topic)} is ${publishedAs === EVENTS_TOPIC ? 'the prediction events\' topic (--events-mqtt-topic)' : publishedAs}: the server publishes only that there`);
      return 'invalid';
    }
    // The model is still served, on another request topic now (its mqtt.request_topic changed).
    if (reply.retired !== undefined && reply.retired.request !== this.topicsOf(model).request && this.core.modelNames().includes(model)) {
      this.sendError(model, reply, 'MS_ERR_MODEL_NOT_FOUND', `no model takes requests on the topic '${reply.retired.request}' any more: the model '${model}' takes them on '${this.topicsOf(model).request}'`);
      return 'invalid';
    }
    if (reply.shed) {
      this.rejected?.(model, 'overloaded');
      this.sendError(model, reply, 'MS_ERR_OVERLOADED', `the MQTT front door is overloaded: ${this.maxInFlight} messages are being processed (the most it takes at once) and none finished within the broker keepalive; retry later`, undefined, '1');
      return 'failed';
    }
    if (payload.length > this.maxPayload) {
      this.sendError(model, reply, 'MS_ERR_BODY_TOO_LARGE', bodyTooLarge(this.maxPayload).message);
      return 'invalid';
    }
    let body: unknown;
    try {
      body = parseJsonBody(payload);
    } catch (err) {
      const e = err as ModelServeError;
      this.sendError(model, reply, e.code, e.message);
      return 'invalid';
    }
    let version: ServableVersion | undefined;
    try {
      const split = this.traffic?.pick(model, (sticky) => stickyKey(sticky, userPropertiesAsHeaders(reply.userProperties), body));
      version = this.core.resolve(model, split) ?? await this.core.acquire(model, split, reply.deadline);
      let validated = version.validate(body);
      if (!validated.ok) {
        this.sendError(model, reply, 'MS_ERR_VALIDATION', validated.issues, version);
        return 'invalid';
      }
      const rows = validated.rows.length;
      // The version's queue.timeout_ms counts from the message's arrival: the batcher would start it
      // afresh at submit, so the wait for room (admitRows) was bounded by the message expiry alone.
      const limit = version.config.queue.timeoutMs;
      const deadline = limit > 0 ? Math.min(reply.deadline ?? Infinity, reply.arrived + limit) : reply.deadline;
      const waited = await this.admitRows(model, rows, version.config.queue.maxRows, deadline);
      let predictions;
      try {
        // While it waited for room, a reload or unload may have taken the version it was given out of service: that one's
        // sessions are released once it drains, and a run on it is refused (503). What serves the model now takes it.
        if (waited && this.core.peek(model, split) !== version) {
          version = this.core.resolve(model, split) ?? await this.core.acquire(model, split, deadline);
          validated = version.validate(body);
          if (!validated.ok) {
            this.sendError(model, reply, 'MS_ERR_VALIDATION', validated.issues, version);
            return 'invalid';
          }
        }
        predictions = await version.predict(validated.rows, deadline, { requestId, frontDoor: 'mqtt', batch: validated.batch });
      } finally {
        this.releaseRows(model, rows);
      }
      const answer = validated.batch ? version.serialize.many(predictions) : version.serialize.one(predictions[0]!);
      const topic = reply.responseTopic ?? this.topicsOf(model).predictions;
      if (!this.fits(topic, answer, reply)) {
        this.sendError(model, reply, 'MS_ERR_ANSWER_TOO_LARGE', this.tooLarge(answer), version);
        return 'invalid';
      }
      // A response topic the broker will not take from us (its ACL, a $SYS/… topic): the answer is
      // gone, so the client hears why on the errors topic.
      const refused = topic === reply.responseTopic
        ? (why: string) => this.sendError(model, { ...reply, responseTopic: undefined }, 'MS_ERR_BAD_RESPONSE_TOPIC', `the broker refused the answer on the response topic ${JSON.stringify(topic.slice(0, 200))}: ${why}`, version)
        : undefined;
      reply.status = 200;
      this.publish(topic, answer, reply, version, 200, () => this.sendError(model, reply, 'MS_ERR_ANSWER_TOO_LARGE', this.tooLarge(answer), version), refused);
      this.traffic?.mirror(version, validated.rows, predictions, requestId);
      return 'predicted';
    } catch (err) {
      // A pipeline step's 422: FastAPI's issues (naming the step), as HTTP answers them.
      if (err instanceof StepValidationError) {
        this.sendError(model, reply, err.code, err.issues, version);
        return 'invalid';
      }
      if (err instanceof ModelServeError) {
        const reason = rejectReasonOf(err);
        if (reason) this.rejected?.(model, reason);
        const detail = err.code === 'MS_ERR_INFERENCE' ? 'inference failed; see the server log for this request id' : err.message;
        if (isServerFault(err)) this.log?.error({ err, reqId: requestId, model }, err.message);
        this.sendError(model, reply, err.code, detail, version, err.headers['retry-after']);
      } else {
        this.log?.error({ err, reqId: requestId, model }, 'mqtt: unexpected error');
        this.sendError(model, reply, 'MS_ERR_INTERNAL', 'internal server error; see the server log for this request id', version);
      }
      return 'failed';
    }
  }

  /**
   * Resolves once `rows` more rows of the model fit beside the MQTT rows already being predicted
   * within its queue limit (a message alone always goes: a larger one gets the batcher's answer); true when it had to wait.
   * The broker holds what is not read yet; this holds what was read, as HTTP cannot (it sheds).
   */
  private async admitRows(model: string, rows: number, limit: number, deadline: number | undefined): Promise<boolean> {
    const since = performance.now();
    let waited = false;
    for (;;) {
      const busy = this.rowsInFlight.get(model) ?? 0;
      if (busy === 0 || busy + rows <= limit) break;
      // The request's message expiry bounds this wait too: it was checked only once the rows got in.
      await new Promise<void>((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined;
        const wake = () => { clearTimeout(timer); resolve(); };
        if (deadline !== undefined) {
          timer = setTimeout(() => {
            const waiting = this.rowWaiters.get(model);
            const at = waiting?.indexOf(wake) ?? -1;
            if (at >= 0) waiting!.splice(at, 1);
            reject(new ModelServeError('MS_ERR_TIMEOUT', `model '${model}': the request passed its deadline waiting for room in the queue (after ${Math.round(performance.now() - since)} ms)`));
          }, delayUntil(deadline));
        }
        const waiting = this.rowWaiters.get(model);
        if (waiting) waiting.push(wake);
        else this.rowWaiters.set(model, [wake]);
      });
      waited = true;
    }
    this.rowsInFlight.set(model, (this.rowsInFlight.get(model) ?? 0) + rows);
    return waited;
  }

  private releaseRows(model: string, rows: number): void {
    const left = (this.rowsInFlight.get(model) ?? 0) - rows;
    if (left > 0) this.rowsInFlight.set(model, left);
    else this.rowsInFlight.delete(model);
    // Every waiter looks again, in the order they came (one that still does not fit waits again).
    const waiting = this.rowWaiters.get(model);
    if (waiting === undefined) return;
    this.rowWaiters.delete(model);
    for (const wake of waiting) wake();
  }

  /** `retryAfter`: HTTP's Retry-After (seconds) for a refusal that has one (overload), sent as the user property retry_after. */
  private sendError(model: string, reply: Reply, code: ErrorCode, detail: unknown, version?: ServableVersion, retryAfter?: string): void {
    const status = ERRORS[code].status;
    // A request on a retired topic: its sender reads the errors topic that went with it.
    const errors = reply.retired?.errors ?? this.topicsOf(model).errors;
    const whole = JSON.stringify({ detail, code, status, request_id: reply.requestId });
    let body = whole;
    let sent = status;
    // The issues of thousands of rows can outgrow what the broker takes: the first ones are sent.
    for (let n = Array.isArray(detail) ? detail.length : 0; !this.fits(errors, body, reply) && n > 1;) {
      n = Math.floor(n / 2);
      body = JSON.stringify({ detail: (detail as unknown[]).slice(0, n), code, status, request_id: reply.requestId });
    }
    if (!this.fits(errors, body, reply)) {
      sent = ERRORS.MS_ERR_ANSWER_TOO_LARGE.status;
      body = JSON.stringify({ detail: this.tooLarge(whole), code: 'MS_ERR_ANSWER_TOO_LARGE', status: sent, request_id: reply.requestId });
    }
    reply.status = sent;
    // (Said again under a size limit learnt from the broker's refusal: the first issues that fit.)
    const again = () => this.sendError(model, reply, code, detail, version, retryAfter);
    // (Not for MS_ERR_ANSWER_TOO_LARGE in its place: sending that again gets the same.)
    const hint = sent === status ? retryAfter : undefined;
    this.publish(errors, body, reply, version, sent, again, undefined, hint);
    // (A response topic that is the errors topic gets the error once; one so long that the error
    // does not fit the broker's limit beside it gets it on the errors topic alone.)
    if (reply.responseTopic && reply.responseTopic !== errors && this.fits(reply.responseTopic, body, reply)) this.publish(reply.responseTopic, body, reply, version, sent, again, undefined, hint);
  }

  /**
   * Whether a message fits the broker's Maximum Packet Size. One that does not is a protocol error:
   * the broker drops the connection, and MQTT.js resends the message after every reconnect, so a
   * single oversized answer would keep the front door offline.
   */
  private fits(topic: string, body: string, reply: Reply): boolean {
    if (this.refusedBytes !== undefined && Buffer.byteLength(body) >= this.refusedBytes) return false;
    if (this.maxPacket === undefined) return true;
    // Beside topic and payload: the fixed header, packet id and properties (content type, user properties, correlation data).
    const overhead = 256 + Buffer.byteLength(topic) + Buffer.byteLength(reply.requestId) + (reply.correlationData?.length ?? 0);
    return overhead + Buffer.byteLength(body) <= this.maxPacket;
  }

  private tooLarge(body: string): string {
    const bytes = Buffer.byteLength(body);
    const limit = this.refusedBytes !== undefined && bytes >= this.refusedBytes
      ? `it refused a message of ${this.refusedBytes} bytes: a limit such as mosquitto's message_size_limit`
      : `its maximum packet size is ${this.maxPacket} bytes`;
    return `the answer is ${bytes} bytes, more than the MQTT broker accepts (${limit}): send fewer rows per message`;
  }

  /**
   * The broker refused a message with a PUBACK MQTT.js cannot read (0x95 Packet too large, from
   * mosquitto past its message_size_limit). The PubackReader names the refused packet ids: each such
   * message leaves MQTT.js's store (resent after a reconnect, it would be refused again, endlessly), its size is
   * remembered as too large, and its request is answered again under that limit. The connection,
   * unreadable now, is dropped: MQTT.js reconnects and the broker gives the session's unacknowledged
   * requests again.
   */
  private onUnreadablePuback(): void {
    setImmediate(() => {
      // (By now the reader has seen the bytes MQTT.js's parser stopped at.)
      const ids = this.pubacks?.refused.splice(0) ?? [];
      const found = ids.map((id) => this.byId.get(id)).map((acked) => acked === undefined ? undefined : this.unacked.get(acked)).filter((e) => e !== undefined);
      // (Should the reader have found none: the oldest answer not acknowledged, as a last guess.)
      const refused = found.length > 0 || ids.length > 0 ? found : [...this.unacked.values()].slice(0, 1);
      for (const { bytes, reply, again } of refused) {
        this.refusedBytes = Math.min(this.refusedBytes ?? Infinity, bytes);
        this.log?.warn({ bytes, reqId: reply.requestId }, 'mqtt: the broker refused an answer as too large with a PUBACK MQTT.js cannot read (mosquitto\'s message_size_limit?); answers this large are not sent again until the connection to the broker is lost and made again');
        // Every message of that request goes (an error is sent to the errors and the response topic).
        for (const [acked, entry] of [...this.unacked]) {
          if (entry.reply !== reply) continue;
          this.unacked.delete(acked);
          // (By its packet id: MQTT.js wraps the callback of a message it resends after a reconnect.)
          if (entry.id !== undefined) {
            this.byId.delete(entry.id);
            this.client.removeOutgoingMessage(entry.id);
          }
        }
        // Once only: what is said again, refused too, is dropped.
        if (!reply.saidAgain) {
          reply.saidAgain = true;
          again();
        }
      }
      this.refusedLimitHolds = true;
      if (this.client.connected) {
        this.log?.warn({ url: this.shownUrl }, 'mqtt: dropped the connection to the broker after a PUBACK MQTT.js cannot read (it reads nothing more on it); reconnecting');
      }
      this.client.stream?.destroy();
    });
  }

  /** `refused` hears why when the broker refuses the message (a PUBACK reason code of 0x80 or more). */
  private publish(topic: string, body: string, reply: Reply, version: ServableVersion | undefined, status: number, again: () => void, refused?: (why: string) => void, retryAfter?: string): void {
    // A predictions or errors topic configured equal to a request topic: the same endless loop.
    if (this.byTopic.has(topic)) {
      if (!this.loopWarned.has(topic)) this.log?.error({ topic }, 'mqtt: an answer topic is also a request topic (check the --mqtt-*-topic options and the models\' mqtt: keys); answers to it are not published');
      this.loopWarned.add(topic);
      return;
    }
    const userProperties: Record<string, string> = { request_id: reply.requestId, status: String(status) };
    if (version) userProperties.model_version = version.versionHeader;
    if (retryAfter !== undefined) userProperties.retry_after = retryAfter;
    const properties = reply.correlationData === undefined
      ? { contentType: 'application/json', userProperties }
      : { contentType: 'application/json', userProperties, correlationData: reply.correlationData };
    // QoS 1: MQTT.js keeps it (and resends it after a reconnect) until the broker acknowledged it.
    const acked = (err?: Error) => {
      // (Removed by onUnreadablePuback: said again there.)
      const entry = this.unacked.get(acked);
      if (entry === undefined) return;
      this.unacked.delete(acked);
      if (entry.id !== undefined) this.byId.delete(entry.id);
      if (err && !this.closed) this.log?.warn({ topic, reqId: reply.requestId, err: err.message }, 'mqtt: publishing an answer failed');
      // (MQTT.js gives the reason code as a number; a lost connection is an error without one.)
      const code = (err as { code?: unknown } | undefined)?.code;
      if (err && typeof code === 'number' && !this.closed) refused?.(`${err.message.replace(/^Publish error: /, '')} (reason code 0x${code.toString(16)})`);
    };
    const entry: Unacked = { bytes: Buffer.byteLength(body), reply, again, id: undefined };
    this.unacked.set(acked, entry);
    this.client.publish(topic, body, { qos: 1, properties }, acked);
    // Its packet id, given within publish() (else, queued behind a reconnect's resends, on its first send: packetsend).
    const id = this.client.messageIdProvider.getLastAllocated();
    if (id !== null && this.client.outgoing[id]?.cb === acked) this.track(id, acked);
  }

  /** Reads the current connection's bytes for refused PUBACKs, from its start (its CONNECT just sent). */
  private readPubacks(): void {
    const reader = new PubackReader();
    this.pubacks = reader;
    this.client.stream.on('data', (bytes: Buffer) => reader.feed(bytes));
  }

  private track(id: number, acked: (err?: Error) => void): void {
    const entry = this.unacked.get(acked);
    if (entry === undefined || entry.id !== undefined) return;
    entry.id = id;
    this.byId.set(id, acked);
  }

  private closing: Promise<void> | undefined;

  /** Unsubscribes (so a shared group sends nothing more here; with the session kept, stops taking requests instead), waits for answers in flight, disconnects. */
  close(timeoutMs = 5_000): Promise<void> {
    // One close: a second call (the streams' close after the drain's) waits for the first.
    this.closing ??= this.closeOnce(timeoutMs);
    return this.closing;
  }

  private async closeOnce(timeoutMs: number): Promise<void> {
    this.core.off('event', this.onCoreEvent);
    const until = Date.now() + timeoutMs;
    if (this.keepsSession) this.holding = true;
    else if (this.client.connected && this.subscribed.size > 0) {
      await Promise.race([this.client.unsubscribeAsync([...this.subscribed].map((t) => this.filter(t))).catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
    }
    for (const resume of this.paused.splice(0)) resume();
    while (this.inFlight > 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
    this.closed = true;
    if (this.held) {
      // The acknowledgements of the last answers wait behind the held request, never to be read, and
      // MQTT.js's end() waits for them: the socket is closed once its writes are out.
      const stream = this.client.stream;
      const gone = new Promise((r) => stream.once('close', r));
      stream.end();
      await Promise.race([gone, new Promise((r) => setTimeout(r, Math.max(100, until - Date.now())).unref())]);
      this.client.end(true); // (no reconnect)
      return;
    }
    // (Unref'd: a ref'd timer left running here held the process ~3 s after every drain.)
    await Promise.race([this.client.endAsync(), new Promise((r) => setTimeout(r, Math.max(100, until - Date.now())).unref())]).catch(() => undefined);
    // end(true) does nothing once an end() is under way: a broker that stopped answering has its socket closed here.
    if (!this.client.disconnected) this.client.stream?.destroy();
  }
}

/** The same message: topic, payload and correlation data alike (beside the packet id and DUP the caller checks). */
function sameRequest(a: IPublishPacket, b: IPublishPacket): boolean {
  const ca = a.properties?.correlationData;
  const cb = b.properties?.correlationData;
  return a.topic === b.topic && bytesOf(a.payload).equals(bytesOf(b.payload))
    && (ca === undefined ? cb === undefined : cb !== undefined && ca.equals(cb));
}

/** MQTT user properties as the HTTP headers a sticky split reads: names in lower case. */
function userPropertiesAsHeaders(properties: Record<string, string | string[]> | undefined): Record<string, string | string[]> {
  return Object.fromEntries(Object.entries(properties ?? {}).map(([name, value]) => [name.toLowerCase(), value]));
}

interface Unacked {
  bytes: number;
  reply: Reply;
  /** How to say it again should the broker refuse it as too large. */
  again: () => void;
  /** Its MQTT packet id, once known. */
  id: number | undefined;
}

interface Reply {
  responseTopic: string | undefined;
  correlationData: Buffer | undefined;
  requestId: string;
  /** The status the answer carries (200, or its error's), once sent. */
  status: number;
  /** The request's user properties (a split sticky by header reads the one of that name). */
  userProperties: Record<string, string | string[]> | undefined;
  /** When the message was read (performance.now() ms): its model's queue.timeout_ms counts from here. */
  arrived: number;
  /** The request's message expiry as a deadline (performance.now() ms), if it has one. */
  deadline: number | undefined;
  /** The model's topics when the request came on a topic no longer served (the model removed or moved). */
  retired: MqttTopics | undefined;
  /** Its answer was refused as too large and said again (onUnreadablePuback). */
  saidAgain?: boolean;
  /** Read past maxInFlight only to reach a PINGRESP: answered MS_ERR_OVERLOADED. */
  shed: boolean;
}

function bytesOf(payload: Buffer | string): Buffer {
  return typeof payload === 'string' ? Buffer.from(payload) : payload;
}
