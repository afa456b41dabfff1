// One place that turns modelserve's MQTT options (URL, credentials from env or file, TLS files)
// into an MQTT.js client: MQTT 5, a persistent session (so QoS 1 messages for it wait in the broker
// while it reconnects), and reconnects with exponential backoff (MQTT.js retries at a fixed
// period; the period is doubled after each failed attempt and reset on connect).
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { readUserFile, readUserText } from '../user-file.js';
import { urlForMessages } from '../outbound-http.js';
import type { IClientOptions, MqttClient } from 'mqtt';
import { mqtt } from '../lazy-modules.js';

export interface MqttConnectionOptions {
  /** mqtt://host:port, mqtts://host:port (TLS), ws:// or wss://. */
  url: string;
  username?: string;
  password?: string;
  /** TLS: CA bundle, client certificate and key (PEM files). */
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** Default: modelserve-<host>-<random>. */
  clientId?: string;
  /** How long the broker keeps the session (and queues QoS 1 messages for it) while disconnected (default 300 s). */
  sessionExpirySeconds?: number;
  /** The Maximum Packet Size announced in CONNECT: the broker drops larger messages for this client instead of sending them (default: none announced). */
  maximumPacketSize?: number;
  /** MQTT keepalive, seconds (default 30): with nothing read for 1.5 × this, MQTT.js drops the connection and reconnects. */
  keepaliveSeconds?: number;
  /** Reconnect backoff: first and largest pause, ms (default 250 and 5,000). */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
}

/** A client id unique to this process (a replica must not take over another's session). */
export function defaultClientId(prefix = 'modelserve'): string {
  return `${prefix}-${hostname().replace(/[^A-Za-z0-9_-]/g, '').slice(0, 40)}-${randomBytes(4).toString('hex')}`;
}

/** Reads a password from a file (a mounted secret; one line, trailing newline ignored). */
export function readSecretFile(path: string): string {
  return readUserText(path, 'secret').replace(/\r?\n$/, '');
}

export function clientOptions(options: MqttConnectionOptions): IClientOptions {
  const min = options.reconnectMinMs ?? 250;
  return {
    protocolVersion: 5,
    clientId: options.clientId ?? defaultClientId(),
    clean: false,
    properties: { sessionExpiryInterval: options.sessionExpirySeconds ?? 300, ...(options.maximumPacketSize === undefined ? {} : { maximumPacketSize: options.maximumPacketSize }) },
    reconnectPeriod: min,
    // A refused CONNECT (wrong credentials, not authorised yet) is retried too: the broker's users may change.
    reconnectOnConnackError: true,
    connectTimeout: 10_000,
    keepalive: options.keepaliveSeconds ?? 30,
    username: options.username,
    password: options.password,
    ca: options.caFile ? readUserFile(options.caFile, 'secret') : undefined,
    cert: options.certFile ? readUserFile(options.certFile, 'secret') : undefined,
    key: options.keyFile ? readUserFile(options.keyFile, 'secret') : undefined,
  };
}

/**
 * Turns Nagle's algorithm off on the client's socket: MQTT.js resends a session's stored messages
 * one write at a time, each after the last one's write callback, which Nagle + delayed ACKs turn
 * into ~40 ms per message (30 messages/s after a reconnect).
 */
export function noDelay(client: MqttClient): void {
  const stream = client.stream as unknown as { setNoDelay?: (on: boolean) => void; socket?: { setNoDelay?: (on: boolean) => void } };
  stream.setNoDelay?.(true);
}

/**
 * MQTT.js's parser error for a PUBACK reason code MQTT 5 does not allow there: mosquitto refuses a
 * message past its message_size_limit with 0x95. MQTT.js reads nothing more on that connection.
 */
export const UNREADABLE_PUBACK = 'Invalid puback reason code';

/** How often a connection that keeps failing is logged. */
const CONNECT_WARN_EVERY_MS = 30_000;

/** The warning for a live connection lost (its detail says why, when known). */
export const LOST_CONNECTION = 'mqtt: lost the connection to the broker; reconnecting with backoff';

/** The reason given when the broker closed the connection cleanly (no error says so). */
export const BROKER_CLOSED = 'the broker closed the connection';

/**
 * Connects (in the background: the client retries until the broker answers) and applies the
 * backoff. `warn` hears why connecting fails (refused, unreachable, not authorised), at most once
 * every 30 s, and why a live connection was lost (the broker closed it, a keepalive timeout, a
 * reset), once per connection; errors `ownError` says the caller handles (and logs) itself are not
 * reported as either, nor is the loss of a connection such an error ended. A connection the client
 * closes itself (end(), or its stream ended by the caller) is not reported.
 */
export function connectClient(options: MqttConnectionOptions, extra: IClientOptions = {}, warn?: (detail: Record<string, unknown>, message: string) => void, ownError?: (err: Error) => boolean): MqttClient {
  const client = mqtt().connect(options.url, { ...clientOptions(options), ...extra });
  const min = options.reconnectMinMs ?? 250;
  const max = options.reconnectMaxMs ?? 5_000;
  const url = urlForMessages(options.url);
  // Whether an error is the live connection's: MQTT.js emits it before the connection's 'close'.
  // 'settled': its loss was reported (or is the caller's own): the rest of its dying says nothing.
  let connection: 'none' | 'live' | 'settled' = 'none';
  const lost = (detail: Record<string, unknown>) => {
    if (connection === 'live') warn?.({ url, ...detail }, LOST_CONNECTION);
    connection = 'settled';
  };
  // An MQTT 5 broker may say why before it closes (DISCONNECT: 0x8B shutting down, 0x8E session taken over).
  let disconnectReason: number | undefined;
  client.on('disconnect', (packet) => { disconnectReason = packet.reasonCode; });
  client.on('connect', () => {
    connection = 'live';
    disconnectReason = undefined;
    client.options.reconnectPeriod = min;
    noDelay(client);
    // A broker that closes the connection cleanly (it is stopped, it takes the session elsewhere)
    // raises no error: its end of the stream is the only sign. Not ours: after our own end() (the
    // stream's writable side ended first) the broker's end only answers it; a stream the caller
    // destroys emits no 'end'. (Node ends the writable side on the next tick after 'end'.)
    const stream = client.stream;
    stream.once('end', () => {
      if (client.stream === stream && !client.disconnecting && !stream.writableEnded) lost({ reason: BROKER_CLOSED, ...(disconnectReason === undefined ? {} : { reasonCode: disconnectReason }) });
    });
  });
  client.on('close', () => {
    // (A live connection that ends without an error or the broker's end: lost, for a reason not known.)
    if (connection === 'live' && !client.disconnecting && !client.stream.writableEnded) lost({});
    connection = 'none';
    // MQTT.js has just scheduled the next attempt with the current period; the one after waits longer.
    client.options.reconnectPeriod = Math.min(max, (client.options.reconnectPeriod ?? min) * 2);
  });
  // (An 'error' without a listener would throw.)
  let lastWarning = -Infinity;
  client.on('error', (err) => {
    // (Nor does it hold back the next real connect failure's warning.)
    if (ownError?.(err) === true) {
      if (connection === 'live') connection = 'settled';
      return;
    }
    if (connection !== 'none') {
      // (A dying connection may report more than one error: its first says why.)
      lost({ err: err.message });
      return;
    }
    const now = Date.now();
    if (now - lastWarning < CONNECT_WARN_EVERY_MS) return;
    lastWarning = now;
    warn?.({ url, err: err.message }, 'mqtt: cannot connect to the broker; retrying with backoff');
  });
  return client;
}
