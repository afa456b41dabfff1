// Every `modelserve serve` option in one table: flag, environment variable, default and doc.
// The parser, the validation (every problem reported at once) and --help are all derived from it,
// so an option cannot exist undocumented.
import { parseArgs } from 'node:util';
import { StartupError } from '../errors.js';
import { closestNames, parseArgsMessage } from '../closest-name.js';
import { isEnvName, NOT_AN_ENV_NAME } from './env-name.js';
import { EMPTY_MODEL_REPO } from './model-repo.js';
import { loadApiKeys } from '../http/plugins/auth.js';
import { defaultBurst, parseRate, type RateLimit } from '../http/plugins/rate-limit.js';
import { parseCorsOrigins } from '../http/plugins/cors.js';
import { redactList, resolveStreamOptions, type StreamOptions } from '../events/stream-options.js';
import { MAX_TIMEOUT_MS } from '../config/schema.js';

export type OptionKind = 'string' | 'int' | 'bytes' | 'boolean' | 'enum';

export interface OptionSpec {
  flag: string;
  env?: string;
  kind: OptionKind;
  default?: string | number | boolean;
  values?: readonly string[];
  min?: number;
  /** The largest value taken (a millisecond option's is the longest Node timer: past it, setTimeout fires at once). */
  max?: number;
  doc: string;
}

export const SERVE_OPTIONS = {
  host: { flag: 'host', env: 'HOST', kind: 'string', default: '127.0.0.1', doc: 'Address to listen on (0.0.0.0 in containers).' },
  port: { flag: 'port', env: 'PORT', kind: 'int', default: 8000, min: 0, max: 65535, doc: 'TCP port (0 picks a free one).' },
  grpcPort: { flag: 'grpc-port', env: 'MODELSERVE_GRPC_PORT', kind: 'int', default: 8001, min: 0, max: 65535, doc: 'Port of the Open Inference Protocol gRPC service (inference.GRPCInferenceService and grpc.health.v1.Health), on --host; 0 turns gRPC off.' },
  grpcMaxMessageSize: { flag: 'grpc-max-message-size', env: 'MODELSERVE_GRPC_MAX_MESSAGE_SIZE', kind: 'bytes', default: '4mb', doc: 'Largest gRPC message received or sent (e.g. 16mb); larger ones fail with RESOURCE_EXHAUSTED (an answer on a ModelStreamInfer stream fails its own request, in its error_message, and the stream goes on). One message is decoded and answered on the main thread: a huge one holds up every front door while it is.' },
  grpcMaxConcurrentStreams: { flag: 'grpc-max-concurrent-streams', env: 'MODELSERVE_GRPC_MAX_CONCURRENT_STREAMS', kind: 'int', min: 0, default: 1000, doc: 'Most gRPC calls in flight on one client connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: a client queues the rest itself). Each open call holds server memory (20,000 idle ModelStreamInfer streams on one connection took about 130 MB). 0: no limit.' },
  grpcMaxStreams: { flag: 'grpc-max-streams', env: 'MODELSERVE_GRPC_MAX_STREAMS', kind: 'int', min: 0, default: 10000, doc: 'Most ModelStreamInfer streams open at once on the server, over all client connections (connections are not capped, so --grpc-max-concurrent-streams alone does not bound them; an idle stream holds about 6 KB): the next one is refused at once with RESOURCE_EXHAUSTED (MS_ERR_TOO_MANY_STREAMS). An open stream is never closed for being idle, as in Triton: a client may hold one for a session. 0: no limit.' },
  grpcMaxConnectionAge: { flag: 'grpc-max-connection-age', env: 'MODELSERVE_GRPC_MAX_CONNECTION_AGE_MS', kind: 'int', min: 0, max: MAX_TIMEOUT_MS, default: 0, doc: 'Ms after which a gRPC client connection is asked to go away (GOAWAY; its calls in flight get --drain-timeout to finish) and the client reconnects: long-lived gRPC connections otherwise never move to replicas added behind a load balancer. 0: never.' },
  grpcMaxConnectionIdle: { flag: 'grpc-max-connection-idle', env: 'MODELSERVE_GRPC_MAX_CONNECTION_IDLE_MS', kind: 'int', min: 0, max: MAX_TIMEOUT_MS, default: 300000, doc: 'Ms a gRPC client connection may stay without a call before it is closed (GOAWAY; gRPC clients reconnect on their next call): a connection a client opened and left, or never used, otherwise holds a socket for good. An open stream (ModelStreamInfer, a health Watch) is a call. 0: never.' },
  workers: { flag: 'workers', env: 'MODELSERVE_WORKERS', kind: 'int', min: 0, doc: 'Inference worker threads; default: the CPU quota (cgroup) or the CPU count. 0 runs inference on the main thread.' },
  threadsPerWorker: { flag: 'threads-per-worker', env: 'MODELSERVE_THREADS_PER_WORKER', kind: 'int', min: 1, doc: 'onnxruntime intra-op threads per worker; default: CPUs / workers (never oversubscribed), 1 with --workers 0.' },
  runTimeoutMs: { flag: 'run-timeout-ms', env: 'MODELSERVE_RUN_TIMEOUT_MS', kind: 'int', min: 0, max: MAX_TIMEOUT_MS, default: 10000, doc: 'Run watchdog: a run on a worker thread that takes longer than this, or than its model\'s queue.timeout_ms when that is longer (its requests have all timed out by then), takes the worker out of service (a graph that loops for minutes on some input): the runs sent to it fail at once with MS_ERR_INFERENCE, a replacement starts, and the stuck thread ends when its run returns. See docs/runtime.md. 0: no watchdog. Ignored with --workers 0.' },
  inlineMaxUs: { flag: 'inline-max-us', env: 'MODELSERVE_INLINE_MAX_US', kind: 'int', min: 0, default: 250, doc: 'Batches whose run is expected to take at most this many microseconds (timed per model when it loads) run on the main thread instead of a worker: a thread hand-off costs more than that on busy or virtual machines. A batch over half of it that costs more than 50 µs per request it serves goes to a worker all the same. 0: every batch on a worker. Ignored with --workers 0.' },
  bodyLimit: { flag: 'body-limit', env: 'MODELSERVE_BODY_LIMIT', kind: 'bytes', default: '1mb', doc: 'Largest request body (e.g. 512kb, 1mb); larger ones get 413.' },
  drainTimeout: { flag: 'drain-timeout', env: 'MODELSERVE_DRAIN_TIMEOUT_MS', kind: 'int', default: 10000, min: 0, max: MAX_TIMEOUT_MS, doc: 'On SIGTERM/SIGINT, ms to let in-flight requests (and their queued batches) finish before exiting; exit 0 if they did, 1 if connections had to be cut.' },
  shutdownDelay: { flag: 'shutdown-delay', env: 'MODELSERVE_SHUTDOWN_DELAY_MS', kind: 'int', default: 0, min: 0, max: MAX_TIMEOUT_MS, doc: 'On SIGTERM/SIGINT, ms to keep accepting connections with /readyz already 503 (so load balancers stop routing here) before the listener closes.' },
  apiKeysEnv: { flag: 'api-keys-env', env: 'MODELSERVE_API_KEYS_ENV', kind: 'string', doc: 'Turns auth on: NAME of an environment variable holding the API keys (comma/space separated, each at least 16 characters). Clients send Authorization: Bearer <key> or X-API-Key: <key>.' },
  apiKeysFile: { flag: 'api-keys-file', env: 'MODELSERVE_API_KEYS_FILE', kind: 'string', doc: 'Turns auth on: file with one API key per line (# comments), e.g. a mounted secret. Combines with --api-keys-env.' },
  adminApiKeysEnv: { flag: 'admin-api-keys-env', env: 'MODELSERVE_ADMIN_API_KEYS_ENV', kind: 'string', doc: 'NAME of an environment variable holding admin API keys: they work everywhere a key does and are the only keys allowed to call the repository API (/v2/repository/…); other keys get 403. Turns auth on.' },
  adminApiKeysFile: { flag: 'admin-api-keys-file', env: 'MODELSERVE_ADMIN_API_KEYS_FILE', kind: 'string', doc: 'File with one admin API key per line (# comments). Combines with --admin-api-keys-env.' },
  watch: { flag: 'watch', env: 'MODELSERVE_WATCH', kind: 'boolean', default: false, doc: 'Watch the model repository: new, changed and removed versions are loaded, swapped in and unloaded without a restart (file events, debounced, with a 1 s polling fallback, 10 s while the events can be trusted and nothing is settling). A broken version never takes traffic.' },
  maxLoadedModels: { flag: 'max-loaded-models', env: 'MODELSERVE_MAX_LOADED_MODELS', kind: 'int', min: 0, default: 0, doc: 'Memory budget: at most this many models loaded at once; a request for an unloaded model loads it, and the least recently used models are unloaded (after draining) past the budget. 0: no limit.' },
  maxRunRows: { flag: 'max-run-rows', env: 'MODELSERVE_MAX_RUN_ROWS', kind: 'int', min: 0, default: 256, doc: 'Most rows one onnxruntime run gets: a larger batch (one big request) runs as consecutive slices of this many rows. onnxruntime keeps the memory of its largest run\'s intermediates per worker, so this bounds memory by this size instead of by the largest request (a 5,000-row request to an SVM grew RSS by 250 MB to 1.1 GB without it), and slices of a few hundred rows run as fast or faster. 0: no limit.' },
  publicDocs: { flag: 'public-docs', env: 'MODELSERVE_PUBLIC_DOCS', kind: 'boolean', default: true, doc: 'With auth on, serve /docs and /openapi.json without a key (--no-public-docs protects them). /healthz and /readyz are always open.' },
  publicMetrics: { flag: 'public-metrics', env: 'MODELSERVE_PUBLIC_METRICS', kind: 'boolean', default: false, doc: 'With auth on, serve /metrics and the dashboard data (/dashboard/stats, /dashboard/events: its latest predictions show request rows, less the --events-redact fields) without a key (by default Prometheus must send a key as a bearer token).' },
  rateLimit: { flag: 'rate-limit', env: 'MODELSERVE_RATE_LIMIT', kind: 'string', doc: 'Per-API-key rate limit for every key (e.g. 100/s, 600/min): a token bucket per key; past it 429 with Retry-After. A key line in the keys file can set its own (`KEY rate=10/s burst=20`, or `rate=none`). Needs auth; requests without auth are never limited.' },
  rateBurst: { flag: 'rate-burst', env: 'MODELSERVE_RATE_BURST', kind: 'int', min: 1, doc: 'Bucket size of --rate-limit: the requests a key may send at once after being idle; default: one second of the rate.' },
  corsOrigin: { flag: 'cors-origin', env: 'MODELSERVE_CORS_ORIGIN', kind: 'string', doc: "CORS allowed origins, comma-separated (e.g. https://app.example.com), or '*'. CORS is off when unset." },
  mqttUrl: { flag: 'mqtt-url', env: 'MODELSERVE_MQTT_URL', kind: 'string', doc: 'Serve predictions over MQTT through this broker (mqtt://host:port, mqtts:// for TLS; ws:// or wss:// for MQTT over WebSocket): a JSON row or array of rows on the request topic is answered on the MQTT 5 response topic (with its correlation data) or the predictions topic; errors go to the errors topic. QoS 1, reconnects with backoff.' },
  mqttUsername: { flag: 'mqtt-username', env: 'MODELSERVE_MQTT_USERNAME', kind: 'string', doc: 'MQTT user name.' },
  mqttPasswordEnv: { flag: 'mqtt-password-env', env: 'MODELSERVE_MQTT_PASSWORD_ENV', kind: 'string', doc: 'NAME of an environment variable holding the MQTT password.' },
  mqttPasswordFile: { flag: 'mqtt-password-file', env: 'MODELSERVE_MQTT_PASSWORD_FILE', kind: 'string', doc: 'File holding the MQTT password (e.g. a mounted secret).' },
  mqttCaFile: { flag: 'mqtt-ca-file', env: 'MODELSERVE_MQTT_CA_FILE', kind: 'string', doc: 'TLS: PEM file of the CA(s) that signed the broker\'s certificate (mqtts://).' },
  mqttCertFile: { flag: 'mqtt-cert-file', env: 'MODELSERVE_MQTT_CERT_FILE', kind: 'string', doc: 'TLS: client certificate (PEM) for brokers that require one.' },
  mqttKeyFile: { flag: 'mqtt-key-file', env: 'MODELSERVE_MQTT_KEY_FILE', kind: 'string', doc: 'TLS: the client certificate\'s private key (PEM).' },
  mqttClientId: { flag: 'mqtt-client-id', env: 'MODELSERVE_MQTT_CLIENT_ID', kind: 'string', doc: 'MQTT client id (default modelserve-<host>-<random>); the broker keeps its session for 5 minutes across disconnects, and without --mqtt-group across restarts: requests published while modelserve restarts are answered by the next process.' },
  mqttGroup: { flag: 'mqtt-group', env: 'MODELSERVE_MQTT_GROUP', kind: 'string', doc: 'Shared-subscription group: replicas with the same group split the request stream ($share/<group>/<topic>); no /, + or # in the name.' },
  mqttRequestTopic: { flag: 'mqtt-request-topic', env: 'MODELSERVE_MQTT_REQUEST_TOPIC', kind: 'string', default: 'modelserve/{model}/predict', doc: 'Request topic per model ({model} is replaced by the model\'s name).' },
  mqttPredictionsTopic: { flag: 'mqtt-predictions-topic', env: 'MODELSERVE_MQTT_PREDICTIONS_TOPIC', kind: 'string', default: 'modelserve/{model}/predictions', doc: 'Where answers go when the request has no MQTT 5 response topic.' },
  mqttErrorsTopic: { flag: 'mqtt-errors-topic', env: 'MODELSERVE_MQTT_ERRORS_TOPIC', kind: 'string', default: 'modelserve/{model}/errors', doc: 'Where error messages ({detail, code, status, request_id}) go.' },
  mqttMaxPayload: { flag: 'mqtt-max-payload', env: 'MODELSERVE_MQTT_MAX_PAYLOAD', kind: 'bytes', default: '256kb', doc: 'Largest MQTT request payload; larger ones get an MS_ERR_BODY_TOO_LARGE error message; ones past twice it (+64 KiB) are dropped by the broker (the Maximum Packet Size modelserve announces), never read into memory.' },
  mqttRequired: { flag: 'mqtt-required', env: 'MODELSERVE_MQTT_REQUIRED', kind: 'boolean', default: false, doc: '/readyz answers 503 while not connected to the broker and subscribed.' },
  eventsMqttTopic: { flag: 'events-mqtt-topic', env: 'MODELSERVE_EVENTS_MQTT_TOPIC', kind: 'string', doc: 'Send every prediction as a CloudEvent to this MQTT topic (QoS 1, on the --mqtt-url broker).' },
  eventsWebhook: { flag: 'events-webhook', env: 'MODELSERVE_EVENTS_WEBHOOK', kind: 'string', doc: 'Send every prediction as a CloudEvent to this URL (POST; retried with backoff until it answers 2xx; a 4xx other than 404, 408, 409 and 429 drops that batch).' },
  eventsWebhookTokenEnv: { flag: 'events-webhook-token-env', env: 'MODELSERVE_EVENTS_WEBHOOK_TOKEN_ENV', kind: 'string', doc: 'NAME of an environment variable holding a token sent to --events-webhook as Authorization: Bearer <token>.' },
  eventsWebhookTokenFile: { flag: 'events-webhook-token-file', env: 'MODELSERVE_EVENTS_WEBHOOK_TOKEN_FILE', kind: 'string', doc: 'File holding a token sent to --events-webhook as Authorization: Bearer <token> (e.g. a mounted secret).' },
  eventsFile: { flag: 'events-file', env: 'MODELSERVE_EVENTS_FILE', kind: 'string', doc: 'Append every prediction as a CloudEvent to this JSON Lines file (rotated by size).' },
  eventsFileMaxBytes: { flag: 'events-file-max-bytes', env: 'MODELSERVE_EVENTS_FILE_MAX_BYTES', kind: 'bytes', default: '100mb', doc: 'Rotate the events file past this size (FILE -> FILE.1 -> FILE.2 ...).' },
  eventsFileKeep: { flag: 'events-file-keep', env: 'MODELSERVE_EVENTS_FILE_KEEP', kind: 'int', default: 5, min: 1, doc: 'Rotated events files kept.' },
  eventsQueue: { flag: 'events-queue', env: 'MODELSERVE_EVENTS_QUEUE', kind: 'int', default: 10000, min: 1, doc: 'Events each sink holds while its destination is slow or down; past it new events are dropped and counted (modelserve_events_total{outcome="dropped"}).' },
  eventsQueueBytes: { flag: 'events-queue-bytes', env: 'MODELSERVE_EVENTS_QUEUE_BYTES', kind: 'bytes', default: '64mb', doc: 'JSON text of the events each sink holds (an event in several sinks is held once); past it new events are dropped and counted, so events of large requests cannot exhaust memory while a destination is down.' },
  eventsSample: { flag: 'events-sample', env: 'MODELSERVE_EVENTS_SAMPLE', kind: 'string', default: '1', doc: 'Fraction of predictions sent as events (0 to 1).' },
  eventsRedact: { flag: 'events-redact', env: 'MODELSERVE_EVENTS_REDACT', kind: 'string', doc: 'Comma-separated field names (request or answer) sent as "[redacted]" in events and shown so on the dashboard.' },
  metrics: { flag: 'metrics', env: 'MODELSERVE_METRICS', kind: 'boolean', default: true, doc: 'Serve Prometheus metrics at /metrics.' },
  logLevel: { flag: 'log-level', env: 'LOG_LEVEL', kind: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info', doc: 'Log level of the JSON logs, in any case (INFO is info).' },
  optimize: { flag: 'optimize', env: 'MODELSERVE_OPTIMIZE', kind: 'boolean', default: true, doc: 'Rewrite SVM/Scaler operators into dense tensor ops at load (--no-optimize turns it off for every model).' },
  check: { flag: 'check', env: 'MODELSERVE_CHECK', kind: 'boolean', default: false, doc: 'Check every model (config, scaler files, ONNX signature, one warm-up run, optimiser) as `modelserve check` does, print every problem and exit 0/1 without opening a port.' },
} as const satisfies Record<string, OptionSpec>;

export type ServeOptionName = keyof typeof SERVE_OPTIONS;

export interface ServeOptions {
  repo: string;
  host: string;
  port: number;
  grpcPort: number;
  grpcMaxMessageSize: number;
  grpcMaxConcurrentStreams: number;
  grpcMaxStreams: number;
  grpcMaxConnectionAge: number;
  grpcMaxConnectionIdle: number;
  workers?: number;
  threadsPerWorker?: number;
  runTimeoutMs: number;
  inlineMaxUs: number;
  bodyLimit: number;
  drainTimeout: number;
  shutdownDelay: number;
  logLevel: string;
  optimize: boolean;
  check: boolean;
  apiKeysEnv?: string;
  apiKeysFile?: string;
  adminApiKeysEnv?: string;
  adminApiKeysFile?: string;
  watch: boolean;
  maxLoadedModels: number;
  maxRunRows: number;
  /** Resolved from --admin-api-keys-env/--admin-api-keys-file. */
  adminApiKeys?: string[];
  publicDocs: boolean;
  publicMetrics: boolean;
  corsOrigin?: string;
  rateLimit?: string;
  rateBurst?: number;
  metrics: boolean;
  /** Resolved from --api-keys-env/--api-keys-file: auth is on when present. */
  apiKeys?: string[];
  /** Resolved from --rate-limit/--rate-burst and the key lines: each limited key's bucket. */
  rateLimits?: Map<string, RateLimit>;
  /** Resolved from --cors-origin. */
  corsOrigins?: string[];
  /** The MQTT front door and prediction events (resolved from the --mqtt-* and --events-* options). */
  streams?: StreamOptions;
  /** Resolved from --events-redact: the fields events and the dashboard show as "[redacted]". */
  redact: string[];
  /** Start-up warnings: MODELSERVE_* variables nothing reads (a mistyped name). */
  warnings: string[];
}

function parseBytes(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|k|mb|m|gb|g)?\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = (m[2] ?? 'b').toLowerCase()[0];
  const factor = unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1;
  return Math.floor(Number(m[1]) * factor);
}

/** The bound of a millisecond option, for --help and the README ('' for other options). */
function timerBound(spec: OptionSpec): string {
  return spec.max === MAX_TIMEOUT_MS ? `at most ${MAX_TIMEOUT_MS} (24.8 days)` : '';
}

export function serveHelp(): string {
  const lines = [
    'Usage: modelserve serve [MODEL_REPO] [options]',
    '',
    'Serves every model of MODEL_REPO (a folder with one subfolder per model, or one model folder',
    'holding model.yaml and its .onnx file). MODEL_REPO defaults to $MODELSERVE_MODEL_REPO or ./models.',
    '',
    'Options (each can also be set by the environment variable shown):',
  ];
  for (const spec of Object.values(SERVE_OPTIONS) as OptionSpec[]) {
    const name = spec.kind === 'boolean' ? `--[no-]${spec.flag}` : `--${spec.flag} <${spec.kind === 'enum' ? spec.values!.join('|') : spec.kind === 'bytes' ? 'size' : spec.kind === 'int' ? 'n' : 'value'}>`;
    const extra = [spec.env ? `env ${spec.env}` : '', spec.default !== undefined ? `default ${spec.default}` : '', timerBound(spec)].filter(Boolean).join(', ');
    lines.push(`  ${name.padEnd(34)} ${spec.doc}${extra ? ` (${extra})` : ''}`);
  }
  lines.push(`  ${'-h, --help'.padEnd(34)} Show this help.`);
  lines.push('', 'Endpoints: POST /predict, POST /models/{name}/predict, POST /models/{name}/versions/{version}/predict, GET /, /models, /models/{name}, /docs, /openapi.json, /healthz, /readyz, /metrics, /dashboard, /dashboard/{stats,events}; POST /v2/repository/index, /v2/repository/models/{name}/load, /v2/repository/models/{name}/unload; Open Inference Protocol: GET /v2, /v2/health/{live,ready}, /v2/models/stats, /v2/models/{name}[/versions/{v}][/ready|/config|/stats], POST /v2/models/{name}[/versions/{v}]/infer, and gRPC on --grpc-port.');
  lines.push('Per-model overload limits (queue.max_rows -> 503 + Retry-After, queue.timeout_ms -> 504) are set in each model.yaml.');
  return lines.join('\n');
}

/** Parses argv + env into validated options; throws one StartupError naming every bad option. */
export function parseServeOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): ServeOptions & { help: boolean } {
  const specs = SERVE_OPTIONS as Record<string, OptionSpec>;
  const parseSpec: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const spec of Object.values(specs)) {
    parseSpec[spec.flag] = { type: spec.kind === 'boolean' ? 'boolean' : 'string' };
    if (spec.kind === 'boolean') parseSpec[`no-${spec.flag}`] = { type: 'boolean' };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options: parseSpec, allowPositionals: true, strict: true });
  } catch (err) {
    throw new StartupError('MS_ERR_SERVER_OPTIONS', `modelserve serve: ${parseArgsMessage(err, parseSpec)} (see --help)`);
  }
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  // Where each value came from (a flag, a variable, a default), for problems that involve two options.
  const sources: Record<string, string> = {};
  for (const [key, spec] of Object.entries(specs)) {
    const fromFlag = parsed.values[spec.flag];
    const negated = parsed.values[`no-${spec.flag}`];
    let raw: string | boolean | undefined = negated === true ? false : (fromFlag as string | boolean | undefined);
    let source = `--${spec.flag}`;
    if (raw === undefined && spec.env && env[spec.env] !== undefined && env[spec.env]!.trim() !== '') {
      raw = env[spec.env];
      source = `$${spec.env}`;
    }
    // Surrounding blanks are dropped from every value, flag or variable: `PORT= 8080` in a .env file
    // or `"true "` in YAML is never meant, and a message quoting the value hid them.
    if (typeof raw === 'string') raw = raw.trim();
    if (raw === undefined) {
      if (spec.default !== undefined) raw = spec.kind === 'bytes' ? String(spec.default) : (spec.default as string | boolean);
      else continue;
      source = `default of --${spec.flag}`;
    }
    sources[key] = source;
    switch (spec.kind) {
      case 'boolean':
        if (typeof raw === 'boolean') out[key] = raw;
        else if (/^(1|true|yes|on)$/i.test(raw)) out[key] = true;
        else if (/^(0|false|no|off)$/i.test(raw)) out[key] = false;
        else problems.push(`${source}: '${raw}' is not a boolean (true/false)`);
        break;
      case 'int': {
        // A sign is read so that -1 is told the minimum rather than called no whole number.
        const n = typeof raw === 'number' ? raw : /^\s*-?\d+\s*$/.test(String(raw)) ? Number(raw) : NaN;
        if (!Number.isSafeInteger(n)) problems.push(`${source}: '${raw}' is not a whole number`);
        else if (spec.min !== undefined && n < spec.min) problems.push(`${source}: must be at least ${spec.min}`);
        else if (spec.max !== undefined && n > spec.max) problems.push(`${source}: must be at most ${spec.max}${spec.max === MAX_TIMEOUT_MS ? ' ms (about 24.8 days, the longest timer Node keeps; a longer one would fire at once)' : ''}`);
        else out[key] = n;
        break;
      }
      case 'bytes': {
        const n = parseBytes(String(raw));
        if (n === undefined || n < 1) problems.push(`${source}: '${raw}' is not a size (e.g. 1048576, 512kb, 1mb)`);
        else out[key] = n;
        break;
      }
      case 'enum': {
        // Case-insensitive: platforms and .env files often write LOG_LEVEL=INFO.
        const value = spec.values!.find((v) => v === String(raw).toLowerCase());
        if (value === undefined) problems.push(`${source}: '${raw}' must be one of ${spec.values!.join(', ')}`);
        else out[key] = value;
        break;
      }
      case 'string':
        if (String(raw).trim() === '') problems.push(`${source}: must not be empty`);
        else out[key] = String(raw);
        break;
    }
  }
  // An empty variable is unset, except those that turn auth on: `MODELSERVE_API_KEYS_FILE=${KEYS}` with
  // KEYS unset on the host served without auth, and nothing said so. Given another key source, auth is on.
  const keySources = ['apiKeysEnv', 'apiKeysFile', 'adminApiKeysEnv', 'adminApiKeysFile'] as const;
  if (keySources.every((key) => out[key] === undefined)) {
    for (const key of keySources) {
      const name = SERVE_OPTIONS[key].env;
      if (env[name]?.trim() === '') problems.push(`$${name}: is empty, which would serve without auth (a variable unset where the manifest or compose file took it from?): give a value, or remove ${name} to serve without auth`);
    }
  }
  // Options whose values need more than a type check (keys are read here, so a missing secret
  // file is reported together with every other problem, before anything loads).
  if (out.apiKeysEnv !== undefined && !isEnvName(String(out.apiKeysEnv))) {
    problems.push(`--api-keys-env: ${NOT_AN_ENV_NAME} (give the NAME of the variable holding the keys, not a key)`);
  } else if (out.apiKeysEnv !== undefined || out.apiKeysFile !== undefined) {
    const loaded = loadApiKeys({ envName: out.apiKeysEnv as string | undefined, file: out.apiKeysFile as string | undefined }, env);
    problems.push(...loaded.problems);
    if (loaded.problems.length === 0) {
      out.apiKeys = loaded.keys;
      const limits = resolveRateLimits(loaded.keys, loaded.rates, out.rateLimit as string | undefined, out.rateBurst as number | undefined, problems);
      if (limits.size > 0) out.rateLimits = limits;
    }
  }
  if (out.adminApiKeysEnv !== undefined && !isEnvName(String(out.adminApiKeysEnv))) {
    problems.push(`--admin-api-keys-env: ${NOT_AN_ENV_NAME} (give the NAME of the variable holding the keys, not a key)`);
  } else if (out.adminApiKeysEnv !== undefined || out.adminApiKeysFile !== undefined) {
    const loaded = loadApiKeys({ envName: out.adminApiKeysEnv as string | undefined, file: out.adminApiKeysFile as string | undefined }, env);
    problems.push(...loaded.problems.map((p) => p.replace('--api-keys', '--admin-api-keys')));
    if (loaded.problems.length === 0) out.adminApiKeys = loaded.keys;
  }
  if (out.rateLimit !== undefined && out.apiKeysEnv === undefined && out.apiKeysFile === undefined) {
    problems.push('--rate-limit: limits are per API key, so it needs --api-keys-env or --api-keys-file (requests without auth are never limited)');
  }
  // One port for both listeners: gRPC's bind would fail with EADDRINUSE, blamed on "another server"
  // (e.g. PORT=8001 from a platform meets gRPC's default 8001).
  if (out.port !== undefined && out.port !== 0 && out.port === out.grpcPort) {
    problems.push(`${sources.grpcPort}: ${out.port} is also the HTTP port (${sources.port}); give gRPC another port, or 0 to turn it off`);
  }
  if (out.rateBurst !== undefined && out.rateLimit === undefined) problems.push('--rate-burst: needs --rate-limit (the rate the bucket refills at)');
  if (out.corsOrigin !== undefined) {
    const cors = parseCorsOrigins(String(out.corsOrigin));
    problems.push(...cors.problems);
    out.corsOrigins = cors.origins;
  }
  // A setting for a part that is off (an MQTT user name without a broker) was ignored without a word,
  // as a mistyped variable once was; a deployment that set it meant that part on.
  for (const [keys, needed, what] of NEEDS) {
    if (needed.some((key) => out[key] !== undefined)) continue;
    for (const key of keys) {
      if (sources[key] !== undefined && !sources[key].startsWith('default')) problems.push(`--${SERVE_OPTIONS[key].flag}: needs ${what}; without it nothing reads this setting`);
    }
  }
  out.warnings = [...unreadVariables(env, out, problems), ...secretsOnCommandLine(out, sources)];
  out.streams = resolveStreamOptions(out, env, problems, sources);
  out.redact = redactList(out.eventsRedact as string | undefined);
  if (parsed.positionals[0] === '') problems.push(EMPTY_MODEL_REPO);
  if (parsed.positionals.length > 1) problems.push(`expected at most one MODEL_REPO, got ${parsed.positionals.length}: ${parsed.positionals.join(' ')}`);
  if (problems.length > 0) {
    // The checks past the type check (keys, CORS, MQTT, events) start their problems with the flag;
    // for a value set by its variable, name the variable: the user never typed the flag.
    const sourceOfFlag = new Map(Object.entries(specs).map(([key, spec]) => [`--${spec.flag}`, sources[key]]));
    const named = problems.map((problem) => {
      const flag = /^--[a-z-]+(?=:)/.exec(problem)?.[0];
      const source = flag === undefined ? undefined : sourceOfFlag.get(flag);
      return source?.startsWith('$') ? source + problem.slice(flag!.length) : problem;
    });
    throw new StartupError('MS_ERR_SERVER_OPTIONS', `modelserve serve: invalid options:\n${named.map((p) => `  ${p}`).join('\n')}`);
  }
  return {
    ...(out as Omit<ServeOptions, 'repo'>),
    // Empty is unset, as for every other variable (a compose file's `MODELSERVE_MODEL_REPO=` served the working folder).
    repo: parsed.positionals[0] ?? (env.MODELSERVE_MODEL_REPO?.trim() || 'models'),
    help: parsed.values.help === true,
  };
}

// Options read only when another is set: [these options, any one of those, what to name].
const NEEDS: Array<[ServeOptionName[], ServeOptionName[], string]> = [
  [['mqttUsername', 'mqttPasswordEnv', 'mqttPasswordFile', 'mqttCaFile', 'mqttCertFile', 'mqttKeyFile', 'mqttClientId', 'mqttGroup', 'mqttRequestTopic', 'mqttPredictionsTopic', 'mqttErrorsTopic', 'mqttMaxPayload', 'mqttRequired'],
    ['mqttUrl'], '--mqtt-url (MODELSERVE_MQTT_URL), the broker it is for'],
  [['eventsFileMaxBytes', 'eventsFileKeep'], ['eventsFile'], '--events-file (MODELSERVE_EVENTS_FILE), the file it is for'],
  [['eventsQueue', 'eventsQueueBytes', 'eventsSample'], ['eventsFile', 'eventsWebhook', 'eventsMqttTopic'], 'an events destination (--events-file, --events-webhook or --events-mqtt-topic)'],
];

// Variables read besides the options' own: the repository, and the image tag of deploy/swarm's stack files.
const OTHER_VARIABLES = ['MODELSERVE_MODEL_REPO', 'MODELSERVE_IMAGE'];

// Variables that hold a secret themselves, by the name one may guess: the --*-env option that reads them, and what as.
const SECRET_VARIABLES: Record<string, [string, string]> = {
  MODELSERVE_API_KEYS: ['MODELSERVE_API_KEYS_ENV', 'keys'],
  MODELSERVE_ADMIN_API_KEYS: ['MODELSERVE_ADMIN_API_KEYS_ENV', 'keys'],
  MODELSERVE_MQTT_PASSWORD: ['MODELSERVE_MQTT_PASSWORD_ENV', 'the MQTT password'],
  MODELSERVE_EVENTS_WEBHOOK_TOKEN: ['MODELSERVE_EVENTS_WEBHOOK_TOKEN_ENV', 'the webhook token'],
};

/**
 * A warning for each MODELSERVE_* variable nothing reads: a mistyped one (MODELSERVE_WOKERS) was
 * ignored without a word. One holding API keys that no --*-env option names, with auth off, is a
 * problem instead: the deployment meant keys and would serve without them.
 */
function unreadVariables(env: NodeJS.ProcessEnv, out: Record<string, unknown>, problems: string[]): string[] {
  // Names are compared after MODELSERVE_ (the shared prefix would make any name close to any other);
  // PORT, HOST and LOG_LEVEL are suggested for the MODELSERVE_ form one may guess for them.
  const prefix = 'MODELSERVE_';
  const suggestion = new Map<string, string>();
  for (const spec of Object.values(SERVE_OPTIONS) as OptionSpec[]) {
    if (spec.env !== undefined) suggestion.set(spec.env.startsWith(prefix) ? spec.env.slice(prefix.length) : spec.env, spec.env);
  }
  const read = new Set<unknown>([...OTHER_VARIABLES, out.apiKeysEnv, out.adminApiKeysEnv, out.mqttPasswordEnv, out.eventsWebhookTokenEnv]);
  const authOn = out.apiKeysEnv !== undefined || out.apiKeysFile !== undefined || out.adminApiKeysEnv !== undefined || out.adminApiKeysFile !== undefined;
  const warnings: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith(prefix) || read.has(name) || suggestion.get(name.slice(prefix.length)) === name) continue;
    const [secretOption, secretUse] = SECRET_VARIABLES[name] ?? [];
    const keysOption = secretUse === 'keys' ? secretOption : undefined;
    if (keysOption !== undefined && !authOn) {
      problems.push(`$${name}: no option reads it, so the server would run without auth: set ${keysOption}=${name} to use it as the keys, or remove it`);
      continue;
    }
    const close = closestNames(name.slice(prefix.length), suggestion.keys()).map((known) => suggestion.get(known)!);
    // "did you mean MODELSERVE_MQTT_PASSWORD_ENV?" would have the password taken as a variable's name.
    const hint = secretOption !== undefined ? `set ${secretOption}=${name} to use it as ${secretUse}` : close.length > 0 ? `did you mean ${close.join(' or ')}?` : 'see modelserve serve --help';
    warnings.push(`$${name} is not read by modelserve serve (${hint})`);
  }
  return warnings;
}

/**
 * A warning for each URL flag that carries a secret: any user of the machine reads a command line
 * (`ps`, /proc/PID/cmdline), while a process's environment is its own user's. Names the flag and the
 * safer way, never the secret.
 */
function secretsOnCommandLine(out: Record<string, unknown>, sources: Record<string, string>): string[] {
  const ps = 'which every user of this machine can read in ps';
  // A user name alone may be the secret: ThingsBoard's MQTT API takes a device's access token as the user name, and
  // a webhook's `token@host` is sent as Basic auth. It may as well be a plain name: the warning's words fit both.
  const userName = 'a user name (brokers such as ThingsBoard take an access token there)';
  const mqttName = 'set the URL in MODELSERVE_MQTT_URL or the user name in MODELSERVE_MQTT_USERNAME instead (--mqtt-username is on the command line too)';
  const warnings: string[] = [];
  for (const [key, instead, nameInstead] of [
    ['mqttUrl', 'set the URL in MODELSERVE_MQTT_URL, or give the password with --mqtt-password-env or --mqtt-password-file', mqttName],
    ['eventsWebhook', 'set the URL in MODELSERVE_EVENTS_WEBHOOK, or send a token with --events-webhook-token-env or --events-webhook-token-file', undefined],
  ] as const) {
    const flag = `--${SERVE_OPTIONS[key].flag}`;
    const value = out[key];
    if (sources[key] !== flag || typeof value !== 'string' || !URL.canParse(value)) continue;
    const url = new URL(value);
    // Query names that usually carry a credential (?token=, ?sig= of a signed URL, ?code= of Azure Functions).
    const secretParams = [...url.searchParams.keys()].filter((name) => /token|secret|key|sig|pass|pwd|auth|code|credential/i.test(name));
    const holds = url.password !== '' ? 'a password' : secretParams.length > 0 ? `what looks like a secret in its query (${[...new Set(secretParams)].map((n) => `${n}=`).join(', ')})`
      : url.username !== '' ? (key === 'mqttUrl' ? userName : 'a user name (sent as Basic auth, where some services take an access token)') : undefined;
    if (holds !== undefined) warnings.push(`${flag} holds ${holds}, ${ps}: ${holds.startsWith('a user name') ? nameInstead ?? instead : instead}`);
  }
  // --mqtt-username is no safer than a URL's user name.
  if (sources.mqttUsername === `--${SERVE_OPTIONS.mqttUsername.flag}`) warnings.push(`--${SERVE_OPTIONS.mqttUsername.flag} holds ${userName}, ${ps}: set MODELSERVE_MQTT_USERNAME instead`);
  return warnings;
}

/** Each key's bucket: its own rate=/burst= settings, else --rate-limit/--rate-burst; keys with neither are free. */
function resolveRateLimits(keys: readonly string[], own: ReadonlyMap<string, { rate?: number | null; burst?: number }>, rateText: string | undefined, burstOption: number | undefined, problems: string[]): Map<string, RateLimit> {
  const limits = new Map<string, RateLimit>();
  let defaultRate: number | undefined;
  if (rateText !== undefined) {
    defaultRate = parseRate(rateText);
    if (defaultRate === undefined) problems.push(`--rate-limit: '${rateText}' is not a rate (e.g. 100/s, 600/min, 36000/h)`);
  }
  let burstWithoutRate = 0;
  for (const key of keys) {
    const settings = own.get(key);
    const rate = settings?.rate !== undefined ? settings.rate : defaultRate;
    if (rate === null) continue; // rate=none
    if (rate === undefined) {
      if (settings?.burst !== undefined) burstWithoutRate += 1;
      continue;
    }
    const burst = settings?.burst ?? (settings?.rate !== undefined ? defaultBurst(rate) : (burstOption ?? defaultBurst(rate)));
    limits.set(key, { rate, burst });
  }
  if (burstWithoutRate > 0) problems.push(`${burstWithoutRate} key line(s) set burst= without rate=, and there is no --rate-limit to take the rate from`);
  return limits;
}

/** The options as a Markdown table (the README's copy is checked against this by a test). */
export function serveOptionsMarkdown(): string {
  const rows = ['| flag | env | default | meaning |', '| --- | --- | --- | --- |'];
  for (const spec of Object.values(SERVE_OPTIONS) as OptionSpec[]) {
    const flag = spec.kind === 'boolean' ? `\`--[no-]${spec.flag}\`` : `\`--${spec.flag}\``;
    const bound = timerBound(spec);
    rows.push(`| ${flag} | ${spec.env ? `\`${spec.env}\`` : ''} | ${spec.default !== undefined ? `\`${spec.default}\`` : ''} | ${spec.doc.replace(/\|/g, '\\|')}${bound ? ` ${bound[0].toUpperCase()}${bound.slice(1)}.` : ''} |`);
  }
  return rows.join('\n');
}
