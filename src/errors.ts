// Error registry: every error the service or CLI reports has a stable code (MS_ERR_*), an HTTP
// status where it reaches a client, and a one-line doc. test/errors.test.ts checks that each code
// is documented in docs/errors.md. Add new codes here, never reuse or renumber one.

export interface ErrorDef {
  status: number;
  /** What it means, for docs/errors.md. */
  doc: string;
}

export const ERRORS = {
  // --- startup (config and model loading) ---
  MS_ERR_CONFIG_INVALID: { status: 0, doc: 'A model config (model.yaml/model.json) failed validation; every problem is listed with file and key path.' },
  MS_ERR_CONFIG_NOT_FOUND: { status: 0, doc: 'The model repository or a model folder has no model.yaml/model.yml/model.json.' },
  MS_ERR_MODEL_LOAD: { status: 0, doc: 'An ONNX file is missing, unreadable or corrupt, or onnxruntime refused it.' },
  MS_ERR_MODEL_SIGNATURE: { status: 0, doc: "A config's inputs/outputs do not match the model's real names, element types or widths." },
  MS_ERR_SERVER_OPTIONS: { status: 0, doc: 'A server option (CLI flag or environment variable) is invalid.' },
  // --- requests ---
  MS_ERR_VALIDATION: { status: 422, doc: 'One or more request fields are missing, of the wrong type, out of range or not finite.' },
  MS_ERR_BAD_JSON: { status: 400, doc: 'The request body (or MQTT payload) is not valid JSON, or not UTF-8 (a leading byte order mark is allowed).' },
  MS_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, doc: 'The request has a Content-Type other than application/json.' },
  MS_ERR_BODY_TOO_LARGE: { status: 413, doc: 'The request body (or MQTT payload) is larger than the configured limit (--body-limit; --mqtt-max-payload over MQTT).' },
  MS_ERR_MODEL_NOT_FOUND: { status: 404, doc: 'No model of that name is served, or no such version of it (including a version in the path that is not a version number).' },
  MS_ERR_NOT_FOUND: { status: 404, doc: 'No route matches the method and path.' },
  MS_ERR_UNAUTHORIZED: { status: 401, doc: 'Authentication is enabled and the request has no valid API key or bearer token.' },
  MS_ERR_OVERLOADED: { status: 503, doc: "The model's queue is full; retry after the Retry-After seconds." },
  MS_ERR_NOT_READY: { status: 503, doc: 'The service is starting or shutting down, or no inference worker can take a run (every one quarantined by the run watchdog or restarting after crashes; the message says which).' },
  MS_ERR_MODEL_UNAVAILABLE: { status: 503, doc: 'The model (or version) exists but cannot serve now: unloaded through the repository API, unloaded or replaced between the request being given it and running, or a pipeline derived again with other fields while the request ran (send it again; Retry-After), or every version failed to load (the reason is in the detail and in GET /models/{name}). A request waiting for its model to load gets 504 MS_ERR_TIMEOUT past its deadline.' },
  MS_ERR_MODEL_NOT_READY: { status: 400, doc: "GET /v2/models/{name}[/versions/{version}]/ready: the model (or version) is not ready to serve, and the message says why — its own state first (loading, unloaded, failed, not loaded under the memory budget, a pipeline step's model that cannot serve), else no inference worker can take a run (the protocol answers a model that is not ready with a 4xx; an unknown model or version is a 404 MS_ERR_MODEL_NOT_FOUND); the body keeps the protocol's name and ready: false." },
  MS_ERR_MODEL_LOAD_FAILED: { status: 400, doc: 'POST /v2/repository/models/{name}/load could not load the model; the detail names the file and every problem.' },
  MS_ERR_UNSUPPORTED_PARAMETER: { status: 400, doc: "A repository load request (REST or gRPC) asks for a Triton override modelserve does not support — parameters.config (a config override) or file:… (model files in the request) — or its parameters are not an object, or (gRPC) a ModelRepositoryParameter has none of its members set (the message names it; Triton refuses it too); the model folder is loaded as it is on disk. Over gRPC: INVALID_ARGUMENT." },
  MS_ERR_NO_FIELDS_API: { status: 404, doc: 'The model is served from its .onnx file alone (no model.yaml), so it has no JSON fields API; call it over the Open Inference Protocol (POST /v2/models/{name}/infer or gRPC ModelInfer).' },
  MS_ERR_BAD_TENSOR: { status: 400, doc: 'An Open Inference Protocol request (REST or gRPC) is malformed: unknown, missing or wrongly typed tensor, shape and data disagree, a binary section of the wrong size, a BYTES element that is not UTF-8 (the message names the tensor), or a gRPC message that is not a valid ModelInferRequest, or a timeout request parameter that is not a non-negative integer, or tensors onnxruntime refuses when it runs a raw model (an .onnx file alone) on them: a Gather index out of range, a shape the operators of the graph cannot take (the message gives the reason onnxruntime gives; in a run shared by several requests, only the request that fails alone gets it). Over gRPC: INVALID_ARGUMENT.' },
  MS_ERR_FORBIDDEN: { status: 403, doc: 'The API key is valid but not allowed to do this (the repository API needs an admin key); or a browser page on another origin (not listed in `--cors-origin`) called the repository API.' },
  MS_ERR_TIMEOUT: { status: 504, doc: "The request waited longer than the per-request deadline (queue.timeout_ms, or the caller's deadline when sooner: x-modelserve-timeout-ms on the JSON and OIP REST routes, a gRPC call's deadline, an MQTT 5 request's message expiry interval, Triton's timeout request parameter over OIP REST and gRPC)." },
  MS_ERR_OUTPUT_RANGE: { status: 502, doc: "A response field that is a number (a column:, or a raw output on the JSON API) reads a 64-bit integer output (int64, uint64) and the model gave a value past ±(2^53 - 1), which a number (JSON's, OIP's FP64) does not carry exactly: the request is refused, never answered rounded; the detail names the field, the output and the value. Over gRPC: OUT_OF_RANGE." },
  MS_ERR_INFERENCE: { status: 500, doc: 'onnxruntime failed on this request; details are in the log under the request id. (For a raw model, a run onnxruntime refuses on the request\'s tensors is MS_ERR_BAD_TENSOR; a worker that exited during the run, or memory onnxruntime could not allocate, stays this.)' },
  MS_ERR_BAD_REQUEST: { status: 400, doc: 'The request is not well-formed HTTP (e.g. a Content-Length that is not a number, both Transfer-Encoding: chunked and Content-Length, a transfer coding other than chunked, an HTTP/1.1 request without Host, a bad header); the connection is closed.' },
  MS_ERR_BAD_URL: { status: 400, doc: 'The URL path has malformed percent-encoding (e.g. /models/%ff/predict).' },
  MS_ERR_URI_TOO_LONG: { status: 414, doc: 'A path parameter (such as the model name) is longer than the router accepts (100 characters).' },
  MS_ERR_HEADERS_TOO_LARGE: { status: 431, doc: "The request line and headers together are larger than Node's limit (16 KiB); the connection is closed." },
  MS_ERR_REQUEST_TIMEOUT: { status: 408, doc: 'The request did not arrive completely within the request timeout (60 s); the connection is closed. Over gRPC: a call whose message and end of body did not arrive in that time, DEADLINE_EXCEEDED (the connection stays).' },
  MS_ERR_EXPECTATION_FAILED: { status: 417, doc: 'The request has an Expect header other than 100-continue, which is the only expectation served.' },
  MS_ERR_METHOD_NOT_ALLOWED: { status: 405, doc: 'The path exists but not for this method; the Allow header lists the methods it has.' },
  MS_ERR_UNSUPPORTED_ENCODING: { status: 415, doc: 'The request has a Content-Encoding other than gzip, deflate, br or identity (or several codings).' },
  MS_ERR_BAD_ENCODING: { status: 400, doc: 'The request body does not decode with the Content-Encoding it declares (corrupt gzip/deflate/br data).' },
  MS_ERR_UNSUPPORTED_CHARSET: { status: 415, doc: 'The Content-Type names a charset other than UTF-8 (JSON bodies must be UTF-8).' },
  MS_ERR_BAD_RESPONSE_TOPIC: { status: 400, doc: "An MQTT request's response topic cannot be published to (empty, a wildcard + or #, or U+0000), or is one of the server's request topics (the answer would come back as a request): the request is not run, and the error goes to the model's errors topic only. A response topic the broker refuses the answer on (not authorised by its ACL, a $SYS/… topic) gets it too, on the errors topic, naming the broker's reason: the request was run, its answer is lost." },
  MS_ERR_CLIENT_GONE: { status: 499, doc: "The client closed its connection (or cancelled its gRPC call) while its request waited in the queue: it was not run. Nobody reads this answer; it shows in logs and metrics as 499, nginx's 'client closed request'. Over gRPC: CANCELLED. An answer whose client ended its side of the connection before it was ready (Node's HTTP server does not answer a half-closed connection) is logged and counted as 499 too." },
  MS_ERR_ANSWER_TOO_LARGE: { status: 413, doc: "An MQTT request's answer is larger than the broker accepts (the Maximum Packet Size it announced): the answer is not published; send fewer rows per message. A 422 too large to send carries its first issues only. Over gRPC, an inference answer past --grpc-max-message-size (RESOURCE_EXHAUSTED for ModelInfer, the request's error_message on a ModelStreamInfer stream, which goes on)." },
  MS_ERR_TOO_MANY_STREAMS: { status: 503, doc: 'As many dashboard event streams (GET /dashboard/events) are open as the server keeps (100, each holding up to 256 KiB for a reader that falls behind); retry after the Retry-After seconds, close a dashboard, or poll GET /dashboard/stats. Over gRPC (RESOURCE_EXHAUSTED): a grpc.health.v1 Watch past 8 open on the client connection or 1000 on the server, or a ModelStreamInfer stream past --grpc-max-streams (10,000 by default) open on the server.' },
  MS_ERR_RATE_LIMITED: { status: 429, doc: "The API key has used up its request budget (--rate-limit/--rate-burst or its line in the keys file); retry after the Retry-After seconds. Distinct from MS_ERR_OVERLOADED, which is about the whole server." },
  // --- pipelines (a step is a model of the repository or a remote service; the detail names the step) ---
  MS_ERR_STEP_VALIDATION: { status: 422, doc: "A pipeline step rejected its input (or a row matched no branch of a switch): FastAPI-shaped detail whose loc starts with ['step', <step name>]." },
  MS_ERR_STEP_FAILED: { status: 502, doc: "A remote pipeline step could not be reached or closed the connection before its answer was complete, answered an error or an unreadable answer (not JSON, a value not of its declared type, more than 64 MiB), or a local step's model no longer answers a field the pipeline reads (it changed since the pipeline loaded); the detail names the step." },
  MS_ERR_STEP_TIMEOUT: { status: 504, doc: "A remote pipeline step did not answer within its timeout_ms (retries included) or the request's own deadline, or answered 504 itself; the detail names the step." },
  MS_ERR_STEP_UNAVAILABLE: { status: 503, doc: 'A pipeline step cannot serve now: its model is unloaded or failed, or the remote service answered 503 or 429 (its Retry-After passed on); the detail names the step.' },
  MS_ERR_INTERNAL: { status: 500, doc: 'An unexpected server error; details are in the log under the request id.' },
} as const satisfies Record<string, ErrorDef>;

export type ErrorCode = keyof typeof ERRORS;

/** An error that carries a registry code; the HTTP error boundary maps it to a response. */
export class ModelServeError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly headers: Record<string, string>;
  /** The message as API clients may read it: a model's load failure without the lines of files it quotes (for the operator). */
  readonly forClients: string;
  constructor(code: ErrorCode, message: string, options: { cause?: unknown; headers?: Record<string, string>; forClients?: string } = {}) {
    super(message, { cause: options.cause });
    this.name = 'ModelServeError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.headers = options.headers ?? {};
    this.forClients = options.forClients ?? message;
  }
}

/** An error's message as API clients may read it (ModelServeError's forClients), else its message. */
export function messageForClients(err: unknown): string {
  return err instanceof ModelServeError ? err.forClients : (err as Error).message;
}

/**
 * Whether a request's error is the server's (or a remote step's) fault, logged at error level with
 * its stack: 500 and 502. Overload, not-ready, unavailable and deadline answers (503, 504) are
 * expected under load; their access line and metrics count them, and logging each at error level
 * flooded the log (thousands of stack traces a second) just when the server was busiest.
 */
export function isServerFault(error: ModelServeError): boolean {
  return error.status === 500 || error.status === 502;
}

/** A startup failure: the CLI prints `message` (which names the file) and exits non-zero. */
export class StartupError extends ModelServeError {}

/**
 * onnxruntime's refusal of a model file (runtime/session.ts): "<path>: <reason>", the path (where the file is on the
 * server's disk, for the operator) kept apart from the reason, so that API clients can be told the file by another name.
 */
export class SessionLoadError extends StartupError {
  constructor(readonly path: string, readonly reason: string, options: { cause?: unknown } = {}) {
    super('MS_ERR_MODEL_LOAD', `${path}: ${reason}`, options);
  }
}

/**
 * A load cut short by the loss of an inference worker (it died during the load, or none was running): a passing
 * cause, not the model's files — the pool replaces the worker, and the core tries such a load again (a few times).
 */
export class WorkerLostError extends StartupError {}

/**
 * A run cut short by the loss of its inference worker (it exited during the run, none was running, or it is being
 * replaced): still a 500 MS_ERR_INFERENCE for a request, but a passing cause of a load's warm-up run, which the core
 * then tries again as a WorkerLostError.
 */
export class RunLostError extends ModelServeError {}

/**
 * A run that took longer than its bound (the pool's run watchdog took its worker out of service): its own inputs are
 * what hangs, so no part of it is run again (the batcher does not re-run its requests one by one on other workers).
 */
export class RunStuckError extends ModelServeError {
  constructor(message: string) {
    super('MS_ERR_INFERENCE', message);
  }
}

/** Why modelserve_rejected_total counts a refusal: load shedding, or a deadline. */
export type RejectReason = 'overloaded' | 'timeout';

/** Whether an error (of any front door) is one modelserve_rejected_total counts, and as what. */
export function rejectReasonOf(err: unknown): RejectReason | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'MS_ERR_OVERLOADED' ? 'overloaded' : code === 'MS_ERR_TIMEOUT' ? 'timeout' : undefined;
}
