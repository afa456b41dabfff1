// The Open Inference Protocol over gRPC (inference.GRPCInferenceService, from proto/grpc_service.proto
// loaded at runtime) plus the standard grpc.health.v1.Health service, on the inference core: the
// same models, versions, batches and statistics as the REST front doors. Errors are gRPC status
// codes with the same messages; API keys arrive in the `authorization` metadata (Bearer <key>, as
// over HTTP; x-api-key also works); the repository RPCs need an admin key, the probes (ServerLive,
// ServerReady, Health Check) none.
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { shownName, type InferenceCore } from '../core/core.js';
import type { ServableVersion } from '../core/servable.js';
import { whyNotReady } from '../core/readiness.js';
import { isServerFault, ModelServeError, rejectReasonOf, type ErrorCode, type RejectReason } from '../errors.js';
import type { KeyGate } from '../http/plugins/auth.js';
import { checkRequestParameters, classificationCount, inferTensors, withTimeoutParameter } from '../protocols/oip/codec.js';
import { acquire, checkLoadParameters, modelConfig, modelMetadata, modelStatistics, repositoryIndex, serverMetadata, whyModelNotReady } from '../protocols/oip/service.js';
import type { InferenceStatistics } from '../protocols/oip/statistics.js';
import { badTensor, checkDatatype, fromBytes, MAX_ELEMENTS, noInputs, fromContents, hasContents, toBytes, toContents, type OipTensor } from '../protocols/oip/tensors.js';
import { dimension, inferCodec, type InferRequestMessage, type Int64 } from './infer-codec.js';
import { PROTO_DIR } from './proto.js';
import { checkAtHeaders } from './early-auth.js';
import { ArrivalBound, watchCalls, watchUnknownMethods } from './call-watch.js';
import { listenGrpc, type GrpcListener } from './listener.js';
import type { ClientProbe } from '../batching/batcher.js';
import { plainRequestId, requestIdFrom } from '../protocols/request-id.js';
import type { TrafficRouter } from '../traffic/router.js';


export const INFERENCE_SERVICE = 'inference.GRPCInferenceService';

/** How often health watchers are told of a change in the workers' or the extra readiness (a required MQTT broker). */
const READINESS_POLL_MS = 1000;

/**
 * Health Watch streams held open at most, per client connection and in all: a watcher (grpc's
 * client-side health checking) needs one per service, and each is held until the client goes, so
 * past these a Watch is RESOURCE_EXHAUSTED (Check, what probes use, is never refused).
 */
export const MAX_WATCHES_PER_CONNECTION = 8;
export const MAX_WATCHES = 1000;

export interface GrpcServerOptions {
  core: InferenceCore;
  stats: InferenceStatistics;
  host?: string;
  /** 0 picks a free port. */
  port: number;
  /** Largest message received or sent, bytes (default 4 MiB, gRPC's own default for received messages). */
  maxMessageBytes?: number;
  /** Limits on client connections; absent or 0: none. */
  connections?: GrpcConnectionLimits;
  /** Who may call (auth is off when absent): the same gate as HTTP's, so a key has one rate limit; admin keys may also call the repository RPCs. */
  auth?: KeyGate;
  /** Every answer has an access line at info (as HTTP's), but the probes' (ServerLive, ServerReady, grpc.health.v1). */
  log?: { info?(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void; debug?(obj: object, msg: string): void };
  /** Every answer counts in modelserve_grpc_requests_total; load shedding and deadlines in modelserve_rejected_total, as over HTTP. */
  metrics?: { rejected(model: string, reason: RejectReason): void; observeGrpc?(model: string, version: string, rpc: string, code: string, seconds: number): void };
  /** Extra readiness, as /readyz's (a required MQTT broker): a reason the service is not ready, or undefined. */
  readiness?: () => string | undefined;
  /** The models' traffic splits (the HTTP app's), which a ModelInfer without model_version follows (sticky by header: the call's metadata). */
  traffic?: TrafficRouter;
  /**
   * How long a call's request may take to arrive, ms (HTTP's request timeout, the same value; default
   * 60 s; 0: no bound): one that took one message and has not sent it and ended its body is answered
   * DEADLINE_EXCEEDED (MS_ERR_REQUEST_TIMEOUT).
   */
  requestTimeoutMs?: number;
}

export interface GrpcConnectionLimits {
  /** Calls in flight per connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). */
  maxConcurrentStreams?: number;
  /** ModelStreamInfer streams open at once, over all connections (ours, not a channel option). */
  maxInferStreams?: number;
  /** A connection older than this gets GOAWAY (clients reconnect, so load balancers can spread them). */
  maxAgeMs?: number;
  /** How long calls in flight may run on after that GOAWAY. */
  graceMs?: number;
  /** A connection without calls for this long is closed. */
  maxIdleMs?: number;
}

/** grpc-js's channel options for these limits (an option left out is grpc-js's default: no limit). */
export function connectionOptions(limits: GrpcConnectionLimits = {}): grpc.ServerOptions {
  const options: grpc.ServerOptions = {};
  if (limits.maxConcurrentStreams) options['grpc.max_concurrent_streams'] = limits.maxConcurrentStreams;
  if (limits.maxAgeMs) {
    options['grpc.max_connection_age_ms'] = limits.maxAgeMs;
    if (limits.graceMs !== undefined) options['grpc.max_connection_age_grace_ms'] = limits.graceMs;
  }
  if (limits.maxIdleMs) options['grpc.max_connection_idle_ms'] = limits.maxIdleMs;
  return options;
}

export interface RunningGrpcServer {
  port: number;
  /**
   * Tells health watchers what Check now answers (NOT_SERVING once the core is draining): shutdown
   * calls it at once, while calls are still served through --shutdown-delay, so a client that
   * watches health (grpc-js and grpc-go health checking) moves away before the port closes.
   */
  publishHealth(): void;
  /** Health NOT_SERVING, refuse new calls, let running ones finish (force-closes at the deadline). Resolves true if drained. */
  drain(timeoutMs: number): Promise<boolean>;
}

/** Codes whose gRPC status is not the one their HTTP status gives (BY_HTTP_STATUS below). */
const STATUS: Partial<Record<ErrorCode, grpc.status>> = {
  // Load shedding is RESOURCE_EXHAUSTED over gRPC (a 503 otherwise means UNAVAILABLE).
  MS_ERR_OVERLOADED: grpc.status.RESOURCE_EXHAUSTED,
  // The model exists but has no fields API: the call is not implemented for it.
  MS_ERR_NO_FIELDS_API: grpc.status.UNIMPLEMENTED,
  // The caller cancelled (499, nginx's "client closed request").
  MS_ERR_CLIENT_GONE: grpc.status.CANCELLED,
  // The model's answer, not a server that may come back (502 otherwise means UNAVAILABLE, which clients retry).
  MS_ERR_OUTPUT_RANGE: grpc.status.OUT_OF_RANGE,
  // A cap on streams held open (health Watch): retrying at once would not help.
  MS_ERR_TOO_MANY_STREAMS: grpc.status.RESOURCE_EXHAUSTED,
};

/** The gRPC status of the same meaning as an HTTP status. */
const BY_HTTP_STATUS: Record<number, grpc.status> = {
  400: grpc.status.INVALID_ARGUMENT, 413: grpc.status.RESOURCE_EXHAUSTED, 415: grpc.status.INVALID_ARGUMENT, 422: grpc.status.INVALID_ARGUMENT,
  401: grpc.status.UNAUTHENTICATED, 403: grpc.status.PERMISSION_DENIED, 404: grpc.status.NOT_FOUND, 429: grpc.status.RESOURCE_EXHAUSTED,
  502: grpc.status.UNAVAILABLE, 503: grpc.status.UNAVAILABLE, 504: grpc.status.DEADLINE_EXCEEDED,
  // HTTP framing only (they cannot come from a gRPC call), mapped for completeness.
  405: grpc.status.UNIMPLEMENTED, 408: grpc.status.DEADLINE_EXCEEDED, 414: grpc.status.INVALID_ARGUMENT, 417: grpc.status.INVALID_ARGUMENT, 431: grpc.status.RESOURCE_EXHAUSTED,
};

/** The gRPC status of a registry error: INTERNAL only for a 500. */
export function grpcStatusOf(err: ModelServeError): grpc.status {
  return STATUS[err.code] ?? BY_HTTP_STATUS[err.status] ?? grpc.status.INTERNAL;
}

/**
 * Characters of a status message at most. It travels in a trailer (percent-encoded), and one past the
 * client's header limit is not delivered: a grpc-js client's call never ended, C-core refuses
 * trailers past 8 KiB. (Messages that list every model or input grow with the repository.)
 */
export const MAX_STATUS_DETAILS = 1024;

export function statusDetails(message: string): string {
  return message.length <= MAX_STATUS_DETAILS ? message : `${message.slice(0, MAX_STATUS_DETAILS)}… (${message.length - MAX_STATUS_DETAILS} more characters)`;
}

/**
 * A refusal's retry hint (overload, rate limit: HTTP's Retry-After) as trailers: `retry-after` in
 * seconds as over HTTP, and gRPC's own `grpc-retry-pushback-ms`, which a client's retry policy
 * obeys (gRFC A6) instead of retrying at once.
 */
/**
 * A ModelRepositoryParameter with none of its members set (an empty oneof: proto-loader gives no
 * parameter_choice) has no value to load or unload with: refused naming it, as Triton does, not ignored.
 */
function checkRepositoryParameterValues(parameters: Record<string, { parameter_choice?: string }> | undefined, request: 'load' | 'unload'): void {
  const empty = Object.entries(parameters ?? {}).filter(([, p]) => p.parameter_choice === undefined).map(([key]) => `parameters[${JSON.stringify(key.slice(0, 64))}]`);
  if (empty.length === 0) return;
  throw new ModelServeError('MS_ERR_UNSUPPORTED_PARAMETER', `${request} ${empty.join(', ')} ${empty.length === 1 ? 'has' : 'have'} no value: a ModelRepositoryParameter needs one of bool_param, int64_param, string_param, bytes_param set`);
}

function retryTrailers(err: ModelServeError): grpc.Metadata | undefined {
  const seconds = err.headers['retry-after'];
  if (seconds === undefined) return undefined;
  const trailers = new grpc.Metadata();
  trailers.set('retry-after', seconds);
  trailers.set('grpc-retry-pushback-ms', String(Number(seconds) * 1000));
  return trailers;
}

function toServiceError(err: unknown, log: GrpcServerOptions['log'], reqId: string): Partial<grpc.ServiceError> & { code: grpc.status } {
  if (err instanceof ModelServeError) {
    const code = grpcStatusOf(err);
    if (isServerFault(err)) log?.error({ reqId, err, cause: err.cause }, err.message);
    const details = err.code === 'MS_ERR_INFERENCE' ? `inference failed; see the server log for request ${reqId}` : statusDetails(err.message);
    const metadata = retryTrailers(err);
    return metadata === undefined ? { code, details } : { code, details, metadata };
  }
  log?.error({ reqId, err }, 'unhandled error in a gRPC call');
  return { code: grpc.status.INTERNAL, details: `internal server error; see the server log for request ${reqId}` };
}

/** The rpc label (and access line's rpc) of a call to a method the server does not have. */
export const UNKNOWN_RPC = 'unknown';
/** Characters of an unknown method's path its access line shows at most. */
const MAX_METHOD_SHOWN = 128;

/** RPCs that are probes: counted, never access-logged (as /healthz and /readyz). */
const PROBE_RPCS: ReadonlySet<string> = new Set(['ServerLive', 'ServerReady']);

/** A sticky split's key from the call's metadata (as HTTP's header), when it is text. */
function stickyHeader(metadata: grpc.Metadata, key: string): string | undefined {
  const value = metadata.get(key)[0];
  return typeof value === 'string' ? value : undefined;
}

/** The API key a call carries: its authorization metadata's bearer token, else its x-api-key. */
function keyOf(metadata: grpc.Metadata): string | undefined {
  const auth = metadata.get('authorization')[0];
  const bearer = typeof auth === 'string' ? /^Bearer[ ]+(\S+)\s*$/i.exec(auth)?.[1] : undefined;
  const apiKey = metadata.get('x-api-key')[0];
  return bearer ?? (typeof apiKey === 'string' && apiKey !== '' ? apiKey.trim() : undefined);
}

/** Methods open without a key when keys are on (probes, as REST's /v2/health/* and /healthz). */
const OPEN_PATHS: ReadonlySet<string> = new Set(['/inference.GRPCInferenceService/ServerLive', '/inference.GRPCInferenceService/ServerReady', '/grpc.health.v1.Health/Check']);
/** Methods only admin keys may call (the repository API). */
const ADMIN_PATHS: ReadonlySet<string> = new Set(['RepositoryIndex', 'RepositoryModelLoad', 'RepositoryModelUnload'].map((m) => `/inference.GRPCInferenceService/${m}`));

/** The caller's x-request-id metadata when it is plain (as HTTP's header is read). */
function requestIdOf(metadata: grpc.Metadata): string | undefined {
  return plainRequestId(metadata.get('x-request-id')[0]);
}

/** The model a request names (unknown for an undecodable message). */
function modelNamed(request: unknown): unknown {
  if (typeof request !== 'object' || request === null || request instanceof InvalidMessage) return undefined;
  const r = request as { model_name?: unknown; name?: unknown };
  return r.model_name ?? r.name;
}

/** What a request's bytes decode to when they are not a valid message of the RPC's request type. */
class InvalidMessage {
  constructor(readonly details: string) {}
  /** INVALID_ARGUMENT, as any other bad request. */
  get error(): grpc.ServiceError {
    return { code: grpc.status.INVALID_ARGUMENT, details: this.details } as grpc.ServiceError;
  }
}

/** An RPC's request message type, package included (inference.ModelInferRequest). */
function requestTypeOf(name: string, method: grpc.MethodDefinition<unknown, unknown>): string {
  // proto-loader names the request type without its package, the service's (the path is /package.Service/Method).
  const pkg = method.path.split('/')[1]!.replace(/\.[^.]*$/, '');
  return `${pkg}.${(method as { requestType?: { type?: { name?: string } } }).requestType?.type?.name ?? `${name}Request`}`;
}

/**
 * The service with every RPC's request deserializer wrapped: grpc-js answers a deserializer's throw
 * with INTERNAL ("Error deserializing request"); here it gives an InvalidMessage, which the handler
 * answers with INVALID_ARGUMENT naming the message type (after the key check, as any bad request).
 */
function checkingRequests(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  return Object.fromEntries(Object.entries(definition).map(([name, method]) => {
    const type = requestTypeOf(name, method);
    const deserialize = method.requestDeserialize;
    const requestDeserialize = (bytes: Buffer): unknown => {
      try {
        return deserialize(bytes);
      } catch (err) {
        return new InvalidMessage(`the message is not a valid ${type}: ${(err as Error).message}`);
      }
    };
    return [name, { ...method, requestDeserialize }];
  }));
}

const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, arrays: true, oneofs: true, includeDirs: [PROTO_DIR] };

/** The loaded package definitions (also used by tests and benchmarks to build clients). */
export function loadProtos(): { inference: grpc.GrpcObject; health: grpc.GrpcObject } {
  const inference = grpc.loadPackageDefinition(protoLoader.loadSync('grpc_service.proto', LOADER_OPTIONS));
  const health = grpc.loadPackageDefinition(protoLoader.loadSync('health.proto', LOADER_OPTIONS));
  return { inference, health };
}

function shapeOf(name: string, shape: readonly Int64[]): number[] {
  // Shown as sent: a dimension past 2^53 as a number would be rounded (2^63 - 1 shown as 9223372036854776000).
  const sent = () => `[${shape.slice(0, 8).map(String).join(', ')}${shape.length > 8 ? `, … (${shape.length} dimensions)` : ''}]`;
  return shape.map((d) => {
    const n = dimension(d);
    if (!Number.isInteger(n) || n < 0) throw badTensor(`input '${name}': shape ${sent()} has a dimension that is not a non-negative integer`);
    if (!Number.isSafeInteger(n)) throw badTensor(`input '${name}': shape ${sent()} declares more than ${MAX_ELEMENTS} elements`);
    return n;
  });
}

/** The request's input tensors, from typed contents or raw_input_contents (never both). */
export function decodeInputs(request: InferRequestMessage): OipTensor[] {
  const raw = request.raw_input_contents;
  if (request.inputs.length === 0) throw noInputs();
  if (raw.length > 0 && raw.length !== request.inputs.length) {
    throw badTensor(`raw_input_contents has ${raw.length} entries but the request has ${request.inputs.length} inputs (one per input, in order)`);
  }
  return request.inputs.map((input, i) => {
    const datatype = checkDatatype('input', input.name, input.datatype);
    const shape = shapeOf(input.name, input.shape);
    if (raw.length === 0) return fromContents(input.name, datatype, shape, input.contents);
    if (hasContents(input.contents)) throw badTensor(`input '${input.name}': has contents while the request uses raw_input_contents (use one or the other)`);
    return fromBytes(input.name, datatype, shape, raw[i]!, 'raw_input_contents');
  });
}

function deadlineOf(call: { getDeadline(): grpc.Deadline }): number | undefined {
  const deadline = call.getDeadline();
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) ? performance.now() + (ms - Date.now()) : undefined;
}

/**
 * The code an answer is counted and logged with. A call whose client went away meanwhile got no answer:
 * CANCELLED (the statistics count it failed; HTTP counts an undelivered answer 499). grpc-js marks a call
 * whose deadline passed as cancelled too: that one stays DEADLINE_EXCEEDED, which is what its client got.
 */
function deliveredCode(call: { readonly cancelled: boolean; getDeadline(): grpc.Deadline }, code: grpc.status): grpc.status {
  if (!call.cancelled || code === grpc.status.DEADLINE_EXCEEDED) return code;
  const deadline = deadlineOf(call);
  return deadline !== undefined && deadline <= performance.now() ? grpc.status.DEADLINE_EXCEEDED : grpc.status.CANCELLED;
}

export async function startGrpcServer(options: GrpcServerOptions): Promise<RunningGrpcServer> {
  const { core, stats, log } = options;
  const { inference, health } = loadProtos();
  const max = options.maxMessageBytes ?? 4 * 1024 * 1024;
  // Channelz (grpc-js's per-call introspection counters) is off: nothing here reads it, and it is work on every call.
  const service = ((inference.inference as grpc.GrpcObject).GRPCInferenceService as grpc.ServiceClientConstructor).service;
  // What grpc-js answers by itself on the inference RPCs gets its access line and count (call-watch.ts).
  const watched = new Map(Object.entries(service).map(([rpc, method]) => [method.path, { rpc, requestType: requestTypeOf(rpc, method) }]));
  // A request that does not arrive within HTTP's request timeout gets what HTTP's 408 maps to.
  const requestTimeout = options.requestTimeoutMs ?? 60_000;
  const late = new ModelServeError('MS_ERR_REQUEST_TIMEOUT', `the request did not arrive completely within the request timeout (${requestTimeout} ms): its message was not sent, or its body not ended`);
  const bound = new ArrivalBound(requestTimeout, { code: grpcStatusOf(late), details: late.message });
  const interceptors = [watchCalls(watched, (rpc, metadata, code, started) => answered(rpc, (metadata && requestIdOf(metadata)) ?? requestIdFrom(undefined), undefined, '', code, started), bound)];
  // With keys, a call without a valid one is refused at its headers, before its message is read (early-auth.ts).
  const gate = options.auth;
  if (gate !== undefined) {
    interceptors.push(checkAtHeaders((path, metadata) => {
      if (OPEN_PATHS.has(path)) return undefined;
      // No token taken here: the handler takes it (authorize, below), once per call.
      const refused = gate.admit(keyOf(metadata), { admin: ADMIN_PATHS.has(path), rateLimited: false });
      if (refused === undefined) return undefined;
      const reqId = requestIdOf(metadata) ?? requestIdFrom(undefined);
      const error = toServiceError(refused, log, reqId);
      const method = watched.get(path);
      if (method !== undefined) answered(method.rpc, reqId, undefined, '', error.code, performance.now());
      return { code: error.code, details: error.details ?? '', ...(error.metadata ? { metadata: error.metadata } : {}) };
    }));
  }
  const server = new grpc.Server({ 'grpc.max_receive_message_length': max, 'grpc.max_send_message_length': max, 'grpc.enable_channelz': 0, interceptors, ...connectionOptions(options.connections) });
  // A call to a method the server does not have (UNIMPLEMENTED, answered by grpc-js): counted under
  // one rpc label, 'unknown' (the client's name would grow the label set without bound), and logged
  // with the method as sent (cut at MAX_METHOD_SHOWN characters).
  watchUnknownMethods(server, (path, code, started) => {
    const ms = performance.now() - started;
    options.metrics?.observeGrpc?.('', '', UNKNOWN_RPC, grpc.status[code] ?? String(code), ms / 1000);
    const method = path.length <= MAX_METHOD_SHOWN ? path : `${path.slice(0, MAX_METHOD_SHOWN)}…`;
    log?.info?.({ reqId: requestIdFrom(undefined), rpc: UNKNOWN_RPC, method, model: '', version: '', grpcStatus: grpc.status[code] ?? String(code), ms: Number(ms.toFixed(3)) }, 'request');
  });
  let draining = false;
  // The inference RPCs read and write their messages with protobufjs directly (infer-codec.ts).
  const codec = inferCodec();
  /**
   * An inference answer as it goes on the wire, or MS_ERR_ANSWER_TOO_LARGE (RESOURCE_EXHAUSTED) if it
   * is past the send limit: grpc-js would end the call with its own "Sent message larger than max" —
   * on ModelStreamInfer the whole stream, losing every other request's answer.
   */
  const fitting = (bytes: Buffer): Buffer => {
    if (bytes.byteLength <= max) return bytes;
    throw new ModelServeError('MS_ERR_ANSWER_TOO_LARGE', `the answer is ${bytes.byteLength} bytes, more than the gRPC message limit of ${max} bytes (--grpc-max-message-size): ask for fewer rows or outputs per request, or raise the limit`);
  };

  /** Throws 401/403/429 (as gRPC statuses) unless the call's key may make it; a rate-limited key takes a token per call (per message on a stream). */
  const authorize = (metadata: grpc.Metadata, route: 'infer' | 'admin' | 'open' | 'stream-open') => {
    if (gate === undefined || route === 'open') return;
    const refused = gate.admit(keyOf(metadata), { admin: route === 'admin', rateLimited: route !== 'stream-open' });
    if (refused !== undefined) throw refused;
  };

  /**
   * One answer (a unary call's, or one request's on a stream): its access line (as HTTP's: request
   * id, what was called, the model, the status, ms) and its metrics. The model label is a served
   * model's name only (bounded cardinality); the line shows the name as sent.
   */
  const answered = (rpc: string, reqId: string, name: unknown, version: string, code: grpc.status, started: number) => {
    const ms = performance.now() - started;
    const model = typeof name === 'string' ? name : '';
    options.metrics?.observeGrpc?.(model !== '' && core.has(model) ? model : '', version, rpc, grpc.status[code] ?? String(code), ms / 1000);
    if (!PROBE_RPCS.has(rpc)) log?.info?.({ reqId, rpc, model: shownName(model), version, grpcStatus: grpc.status[code] ?? String(code), ms: Number(ms.toFixed(3)) }, 'request');
  };

  /**
   * A refusal by load shedding or a deadline counts in modelserve_rejected_total, as HTTP's onError
   * counts it on any route: one that ran out while its model loaded on demand too, and ModelMetadata's
   * and ModelConfig's (the model label: a served model's name only).
   */
  const rejected = (err: unknown, name: unknown) => {
    const reason = rejectReasonOf(err);
    if (reason) options.metrics?.rejected(typeof name === 'string' && core.has(name) ? name : '', reason);
  };

  /** What a handler learns while answering: the request id (for events), the version that answered. */
  interface CallContext { reqId: string; version: string }
  type Handler = (request: never, call: grpc.ServerUnaryCall<unknown, unknown>, context: CallContext) => unknown;
  // Answers as soon as the handler does: a synchronous answer (or error) goes out in the same tick,
  // a promise's when it settles — no extra promise hops per call on the inference path.
  const unary = (rpc: string, handler: Handler, route: 'infer' | 'admin' | 'open' = 'infer'): grpc.handleUnaryCall<unknown, unknown> => (call, callback) => {
    const started = performance.now();
    // The caller's x-request-id, else (an inference) the request's own OIP id when plain, else a new one.
    // Only a caller's own is sent back, as on a stream: sending the headers ahead of the answer is a
    // write of its own per call (the answer's headers otherwise go out with it).
    const given = requestIdOf(call.metadata);
    const context: CallContext = { reqId: given ?? requestIdFrom((call.request as { id?: unknown } | null)?.id), version: '' };
    if (given !== undefined) {
      const echoed = new grpc.Metadata();
      echoed.set('x-request-id', given);
      call.sendMetadata(echoed);
    }
    const name = modelNamed(call.request);
    const fail = (err: unknown) => {
      rejected(err, name);
      const error = err instanceof InvalidMessage ? err.error : toServiceError(err, log, context.reqId);
      callback(error as grpc.ServiceError);
      answered(rpc, context.reqId, name, context.version, deliveredCode(call, error.code), started);
    };
    const succeed = (answer: unknown) => {
      callback(null, answer);
      answered(rpc, context.reqId, name, context.version, deliveredCode(call, grpc.status.OK), started);
    };
    let response: unknown;
    try {
      authorize(call.metadata, route);
      if (call.request instanceof InvalidMessage) return fail(call.request);
      response = handler(call.request as never, call, context);
    } catch (err) {
      return fail(err);
    }
    if (response instanceof Promise) response.then(succeed, fail);
    else succeed(response);
  };

  const answering = <V extends ServableVersion>(version: V, context: CallContext): V => {
    context.version = version.versionHeader;
    return version;
  };

  const modelInfer = async (request: InferRequestMessage, version: ServableVersion, deadline: number | undefined, client: ClientProbe, context: CallContext) => {
    const arrived = performance.now();
    const requestId = context.reqId;
    // A refusal from here on (bad tensors, overload, a deadline) is counted and logged under the version that would have served it, as the JSON routes' are.
    context.version = version.versionHeader;
    // (A refusal is counted in modelserve_rejected_total where it is answered: rejected(), above.)
    const inputs = decodeInputs(request);
    checkRequestParameters(request.parameters);
    // Made only when an output asks (the extension is rare; this runs per call).
    let classification: Map<string, number> | undefined;
    for (const o of request.outputs) {
      const count = classificationCount(o.name, o.parameters);
      if (count !== undefined) (classification ??= new Map()).set(o.name, count);
    }
    const requested = request.outputs.length > 0 ? request.outputs.map((o) => o.name) : undefined;
    const soonest = withTimeoutParameter(request.parameters.timeout, deadline, arrived);
    const outputs = await inferTensors(version, { inputs, outputs: requested, classification, deadline: soonest, client, requestId, frontDoor: 'grpc' });
    // Answer in the form asked in: raw contents for raw inputs (what tritonclient sends), else typed contents.
    const raw = request.raw_input_contents.length > 0;
    return {
      model_name: version.name,
      model_version: version.versionHeader,
      id: request.id,
      outputs: outputs.map((t) => (raw ? { name: t.name, datatype: t.datatype, shape: t.shape } : { name: t.name, datatype: t.datatype, shape: t.shape, contents: toContents(t) })),
      raw_output_contents: raw ? outputs.map(toBytes) : [],
    };
  };

  /** One inference request: a loaded version (the usual case) is used at once, one loading on demand is awaited. */
  const inferOne = (request: InferRequestMessage, deadline: number | undefined, client: ClientProbe, context: CallContext, metadata: grpc.Metadata) => {
    if (request.invalid !== undefined) throw badTensor(`the message is not a valid inference.ModelInferRequest: ${request.invalid}`);
    // (A split sticky by a field draws at random here: the field is a tensor, decoded only for the version chosen.)
    const split = options.traffic && ((model: string) => options.traffic!.pick(model, (sticky) => ('header' in sticky ? stickyHeader(metadata, sticky.header) : undefined)));
    const version = acquire(core, request.model_name, request.model_version, deadline, split);
    return version instanceof Promise ? version.then((v) => modelInfer(request, v, deadline, client, context)) : modelInfer(request, version, deadline, client, context);
  };

  // Triton's ModelStreamInfer: each message on the stream is one request with its own response
  // message, batched with every other front door's requests like a unary call. An error answers its
  // own request in error_message and the stream goes on; the key is checked once, when it opens.
  // A stream ends when the client has ended its side and every answer is written, or, once the
  // server drains, as soon as its answers in flight are written.
  const streams = new Set<() => void>();
  const maxInferStreams = options.connections?.maxInferStreams ?? 0;
  const streamInfer = (call: grpc.ServerDuplexStream<InferRequestMessage, unknown>) => {
    const opened = performance.now();
    // The caller's x-request-id names every request on the stream; else each request's OIP id when plain, else a new one.
    const streamId = requestIdOf(call.metadata);
    if (streamId !== undefined) {
      const echoed = new grpc.Metadata();
      echoed.set('x-request-id', streamId);
      call.sendMetadata(echoed);
    }
    try {
      authorize(call.metadata, 'stream-open');
    } catch (err) {
      const reqId = streamId ?? requestIdFrom(undefined);
      const error = toServiceError(err, log, reqId);
      call.emit('error', error);
      answered('ModelStreamInfer', reqId, undefined, '', error.code, opened);
      return;
    }
    // Connections are not capped, so neither would the streams an idle client holds open be (about 6 KB each).
    if (maxInferStreams > 0 && streams.size >= maxInferStreams) {
      const reqId = streamId ?? requestIdFrom(undefined);
      const error = toServiceError(new ModelServeError('MS_ERR_TOO_MANY_STREAMS', `${streams.size} ModelStreamInfer streams are open, as many as the server keeps (--grpc-max-streams): send on a stream already open, close one, or retry later`), log, reqId);
      call.emit('error', error);
      answered('ModelStreamInfer', reqId, undefined, '', error.code, opened);
      return;
    }
    let inFlight = 0;
    let clientDone = false;
    let closed = false;
    const closeIfIdle = () => {
      if (closed || inFlight > 0 || !(clientDone || draining)) return;
      closed = true;
      streams.delete(closeIfIdle);
      call.end();
    };
    // A client that sends but does not read would have its answers pile up here: once they fill
    // the call's buffer, reading stops until it drains (HTTP/2 flow control then holds the client).
    let paused = false;
    const answer = (message: Buffer) => {
      inFlight--;
      if (!closed && !call.cancelled && !call.write(message) && !paused) {
        paused = true;
        call.pause();
        call.once('drain', () => { paused = false; call.resume(); });
      }
      closeIfIdle();
    };
    // The error names its request as Triton's does: infer_response carries the request's id and model,
    // so a client with many requests on the stream knows which one failed.
    const failed = (request: InferRequestMessage, context: CallContext, started: number, err: unknown) => {
      rejected(err, request.model_name);
      const error = toServiceError(err, log, context.reqId);
      answer(codec.encodeStreamResponse({
        error_message: error.details,
        infer_response: { id: request.id, model_name: shownName(request.model_name), model_version: request.model_version },
      }));
      answered('ModelStreamInfer', context.reqId, request.model_name, context.version, deliveredCode(call, error.code), started);
    };
    // An answer past the send limit answers its request with that error instead, and the stream goes on.
    const succeeded = (request: InferRequestMessage, context: CallContext, started: number, response: { model_version: string }) => {
      let bytes: Buffer;
      try {
        bytes = fitting(codec.encodeStreamResponse({ infer_response: response }));
      } catch (err) {
        return failed(request, context, started, err);
      }
      answer(bytes);
      // (Cancelled meanwhile: no answer went out; counted as a unary call's is.)
      answered('ModelStreamInfer', context.reqId, request.model_name, response.model_version, deliveredCode(call, grpc.status.OK), started);
    };
    streams.add(closeIfIdle);
    // The stream's deadline (the client's grpc-timeout) bounds every request on it.
    const deadline = deadlineOf(call);
    // Gone only when cancelled: the stream itself ends its readable side whenever the client has
    // sent its last request, and still reads the answers.
    const probe: ClientProbe = { get cancelled() { return call.cancelled; } };
    call.on('data', (request: InferRequestMessage) => {
      if (closed) return;
      const started = performance.now();
      const context: CallContext = { reqId: streamId ?? requestIdFrom(request.id), version: '' };
      inFlight++;
      let response: ReturnType<typeof inferOne>;
      try {
        // Each message is a request: it takes a token from the key's rate limit (a refused one answers in its error_message).
        if (gate?.limited === true) authorize(call.metadata, 'infer');
        response = inferOne(request, deadline, probe, context, call.metadata);
      } catch (err) {
        return failed(request, context, started, err);
      }
      response.then((r) => succeeded(request, context, started, r), (err: unknown) => failed(request, context, started, err));
    });
    call.on('end', () => { clientDone = true; closeIfIdle(); });
    call.on('cancelled', () => { closed = true; streams.delete(closeIfIdle); });
    call.on('error', () => { closed = true; streams.delete(closeIfIdle); });
  };

  const handlers = {
    // Probes, open as REST's /v2/health/* and grpc.health.v1 are.
    ServerLive: unary('ServerLive', () => ({ live: true }), 'open'),
    ServerReady: unary('ServerReady', () => ({ ready: status() === 'SERVING' }), 'open'),
    // (ModelReadyResponse has no field for why: REST's 400 says it.)
    ModelReady: unary('ModelReady', (request: { name: string; version: string }) => ({ ready: whyModelNotReady(core, request.name, request.version) === undefined })),
    ServerMetadata: unary('ServerMetadata', () => serverMetadata()),
    // Their access lines and counts name the version answered (the newest ready one when none is asked), as inference's do.
    ModelMetadata: unary('ModelMetadata', async (request: { name: string; version: string }, call, context) => modelMetadata(core, answering(await acquire(core, request.name, request.version, deadlineOf(call)), context))),
    // Triton's model configuration: the same object as REST GET /v2/models/{m}/config (proto/model_config.proto).
    ModelConfig: unary('ModelConfig', async (request: { name: string; version: string }, call, context) => ({ config: modelConfig(answering(await acquire(core, request.name, request.version, deadlineOf(call)), context)) })),
    ModelInfer: unary('ModelInfer', (request: InferRequestMessage, call, context) => inferOne(request, deadlineOf(call), call, context, call.metadata).then((r) => fitting(codec.encodeResponse(r)))),
    ModelStreamInfer: streamInfer,
    ModelStatistics: unary('ModelStatistics', (request: { name: string; version: string }) => ({ model_stats: modelStatistics(core, stats, request.name, request.version) })),
    RepositoryIndex: unary('RepositoryIndex', (request: { ready: boolean }) => ({ models: repositoryIndex(core, request.ready) }), 'admin'),
    RepositoryModelLoad: unary('RepositoryModelLoad', async (request: { model_name: string; parameters?: Record<string, { parameter_choice?: string }> }) => {
      checkRepositoryParameterValues(request.parameters, 'load');
      checkLoadParameters(request.parameters);
      await core.loadModel(request.model_name);
      return {};
    }, 'admin'),
    // Its parameters (Triton's unload_dependents) are otherwise not read, as REST's unload body's are not.
    RepositoryModelUnload: unary('RepositoryModelUnload', async (request: { model_name: string; parameters?: Record<string, { parameter_choice?: string }> }) => {
      checkRepositoryParameterValues(request.parameters, 'unload');
      await core.unloadModel(request.model_name);
      return {};
    }, 'admin'),
  };
  // The inference RPCs' answers are already encoded (with their size checked: fitting, above).
  const encoded = (bytes: Buffer) => bytes;
  const definition: grpc.ServiceDefinition = {
    ...service,
    ModelInfer: { ...service.ModelInfer!, requestDeserialize: codec.decodeRequest, responseSerialize: encoded },
    ModelStreamInfer: { ...service.ModelStreamInfer!, requestDeserialize: codec.decodeRequest, responseSerialize: encoded },
  };
  server.addService(checkingRequests(definition), handlers as unknown as grpc.UntypedServiceImplementation);

  // grpc.health.v1: '' (the server) and the inference service are SERVING while /readyz answers 200
  // and this server is not draining (Kubernetes gRPC probes, grpc_health_probe).
  // Each watcher with the status last sent to it: it gets a message only when that changes.
  const watchers = new Map<grpc.ServerWritableStream<{ service: string }, unknown>, string>();
  // Open watchers per client connection (its peer address: one per TCP connection).
  const watchesByPeer = new Map<string, number>();
  const admitWatch = (peer: string) => {
    const onConnection = watchesByPeer.get(peer) ?? 0;
    if (onConnection >= MAX_WATCHES_PER_CONNECTION) throw new ModelServeError('MS_ERR_TOO_MANY_STREAMS', `this connection already holds ${onConnection} health Watch streams, the most one connection may (a client needs one per service): close one, or call Check`);
    if (watchers.size >= MAX_WATCHES) throw new ModelServeError('MS_ERR_TOO_MANY_STREAMS', `${watchers.size} health Watch streams are open, as many as the server keeps: retry later, or call Check`);
    watchesByPeer.set(peer, onConnection + 1);
  };
  const forgetWatch = (peer: string) => {
    const left = (watchesByPeer.get(peer) ?? 1) - 1;
    if (left > 0) watchesByPeer.set(peer, left);
    else watchesByPeer.delete(peer);
  };
  let readinessPoll: NodeJS.Timeout | undefined;
  // Composed where /readyz's is (src/core/readiness.ts).
  const status = () => (whyNotReady({ core, extra: options.readiness, draining }) === undefined ? 'SERVING' : 'NOT_SERVING');
  const known = (name: string) => name === '' || name === INFERENCE_SERVICE;
  const statusOf = (service: string) => (known(service) ? status() : 'SERVICE_UNKNOWN');
  const publishHealth = () => {
    for (const [w, sent] of watchers) {
      const now = statusOf(w.request.service);
      if (now !== sent) { watchers.set(w, now); w.write({ status: now }); }
    }
  };
  const healthService = ((health.grpc as grpc.GrpcObject).health as grpc.GrpcObject).v1 as grpc.GrpcObject;
  server.addService(checkingRequests((healthService.Health as grpc.ServiceClientConstructor).service), {
    Check: (call: grpc.ServerUnaryCall<{ service: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      if (call.request instanceof InvalidMessage) return callback(call.request.error);
      if (!known(call.request.service)) return callback({ code: grpc.status.NOT_FOUND, details: `unknown service '${shownName(call.request.service)}'` } as grpc.ServiceError);
      callback(null, { status: status() });
    },
    // A Watch is held open for as long as the client likes: unlike Check it needs a key (any user
    // key, one token of its rate limit) when auth is on, and is capped.
    Watch: (call: grpc.ServerWritableStream<{ service: string }, unknown>) => {
      const peer = call.getPeer();
      try {
        authorize(call.metadata, 'infer');
        if (call.request instanceof InvalidMessage) return void call.emit('error', call.request.error);
        admitWatch(peer);
      } catch (err) {
        return void call.emit('error', toServiceError(err, log, requestIdOf(call.metadata) ?? requestIdFrom(undefined)));
      }
      const now = statusOf(call.request.service);
      call.write({ status: now });
      watchers.set(call, now);
      // The workers' readiness (and the extra one: a required MQTT broker) change on their own: looked at every second while anyone watches.
      if (readinessPoll === undefined) readinessPoll = setInterval(publishHealth, READINESS_POLL_MS).unref();
      call.on('cancelled', () => {
        if (!watchers.delete(call)) return; // already ended by the drain
        forgetWatch(peer);
        if (watchers.size === 0) { clearInterval(readinessPoll); readinessPoll = undefined; }
      });
    },
  });

  // grpc-js writes its own errors to stderr ("E No address added…"), which repeat what reaches the
  // caller as an error (a failed bind): they go to the debug log instead.
  grpc.setLogger({ error: (...args: unknown[]) => options.log?.debug?.({ grpc: args.map(String).join(' ') }, 'grpc-js') });
  const host = options.host ?? '127.0.0.1';
  const address = `${host.includes(':') ? `[${host}]` : host}:${options.port}`;
  // modelserve owns the listener (listener.ts) and hands grpc-js each connection once it sent its
  // preface, within the request timeout (HTTP's bound on headers) or the idle bound, the shorter.
  const bounds = [requestTimeout, options.connections?.maxIdleMs ?? 0].filter((ms) => ms > 0);
  const prefaceTimeout = bounds.length > 0 ? Math.min(...bounds) : 0;
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  let listener: GrpcListener;
  try {
    listener = await listenGrpc({ host, port: options.port, prefaceTimeoutMs: prefaceTimeout, inject: (socket) => injector.injectConnection(socket), log });
  } catch (err) {
    server.forceShutdown();
    throw new Error(`gRPC: cannot listen on ${address}: ${(err as Error).message}`, { cause: err });
  }
  const port = listener.port;

  return {
    port,
    publishHealth,
    drain(timeoutMs) {
      draining = true;
      publishHealth();
      for (const w of watchers.keys()) w.end();
      watchers.clear();
      watchesByPeer.clear();
      clearInterval(readinessPoll);
      readinessPoll = undefined;
      for (const closeIfIdle of [...streams]) closeIfIdle();
      // No new connections; those that have not sent their preface hold no call.
      listener.stop();
      return new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          log?.warn({ timeoutMs }, 'gRPC drain timeout: cancelling the remaining calls');
          server.forceShutdown();
          // (grpc-js, without channelz, keeps no list of its sessions to destroy: the sockets are ours.)
          listener.destroyAll();
          resolve(false);
        }, Math.max(0, timeoutMs));
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    },
  };
}
