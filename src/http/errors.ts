// The one error boundary: every error that reaches a client leaves through here, with a stable
// code, a short message and the request id; details (stacks, paths) go to the log only.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERRORS, isServerFault, ModelServeError, type ErrorCode } from '../errors.js';
import { refusedMethod, trackRouteMethods } from './low-level-errors.js';
import { bodyTooLarge } from '../protocols/json-body.js';
import { StepValidationError } from '../pipelines/errors.js';
import type { ValidationIssue } from '../validation/request-validator.js';

export interface ErrorBody {
  detail: string;
  code: ErrorCode;
  request_id: string;
}

/**
 * The Open Inference Protocol's error body, on every route under /v2 (OIP and Triton's extensions):
 * the message in `error`, which tritonclient and KServe's clients read on any non-200, with the
 * project's code and request id beside it.
 */
export interface OipErrorBody {
  error: string;
  code: ErrorCode;
  request_id: string;
}

/** Whether a request URL (path and query) is one of the OIP routes, whose errors are OipErrorBody. */
export function isOipUrl(url: string): boolean {
  if (url.charCodeAt(0) !== 47 /* '/' */) url = pathOf(url); // the absolute form, http://host/v2/...
  return url.startsWith('/v2') && (url.length === 3 || url[3] === '/' || url[3] === '?');
}

export function oipErrorBody(code: ErrorCode, error: string, requestId: string): OipErrorBody {
  return { error, code, request_id: requestId };
}

/** An error body for this request's URL: the project's shape, or OIP's under /v2. */
export function errorBodyFor(url: string, code: ErrorCode, detail: string, requestId: string): ErrorBody | OipErrorBody {
  return isOipUrl(url) ? oipErrorBody(code, detail, requestId) : { detail, code, request_id: requestId };
}

export function sendError(reply: FastifyReply, code: ErrorCode, detail: string, headers: Record<string, string> = {}): FastifyReply {
  return reply.code(ERRORS[code].status).headers(headers).send(errorBodyFor(reply.request.url, code, detail, String(reply.request.id)));
}

/** Maps Fastify's own errors (body parsing, limits) onto the registry; `bodyLimit` is the app's (named in a 413). */
function classify(error: FastifyError, bodyLimit?: number): { code: ErrorCode; detail: string } | undefined {
  const tooLarge = () => ({ code: 'MS_ERR_BODY_TOO_LARGE' as const, detail: bodyLimit === undefined ? 'request body is larger than the limit' : bodyTooLarge(bodyLimit).message });
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { code: 'MS_ERR_UNSUPPORTED_MEDIA_TYPE', detail: 'Content-Type must be application/json' };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return tooLarge();
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { code: 'MS_ERR_BAD_REQUEST', detail: 'the body length does not match Content-Length' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { code: 'MS_ERR_BAD_JSON', detail: 'request body is empty; expected a JSON object or array' };
  }
  if (error.statusCode === 400 || error instanceof SyntaxError) {
    return { code: 'MS_ERR_BAD_JSON', detail: `request body is not valid JSON: ${error.message.replace(/\s+/g, ' ').slice(0, 200)}` };
  }
  // @fastify/static refuses a path outside its folder (../) with a 403: for the client it is no file.
  if (error.statusCode === 403 || error.statusCode === 404) return { code: 'MS_ERR_NOT_FOUND', detail: 'no such file' };
  if (error.statusCode === 413) return tooLarge();
  if (error.statusCode === 415) return { code: 'MS_ERR_UNSUPPORTED_MEDIA_TYPE', detail: 'Content-Type must be application/json' };
  return undefined;
}

/** What a handler's error becomes for the client, on every HTTP path (Fastify's and the predict fast path). */
export interface ErrorAnswer {
  status: number;
  /** The body without its request id: FastAPI's 422 issues, or the project's code and detail. */
  issues?: ValidationIssue[];
  code?: ErrorCode;
  detail?: string;
  headers?: Record<string, string>;
  /** Why it is logged at error level (server faults only). */
  logAsError?: string;
}

export function errorAnswer(error: unknown, bodyLimit?: number): ErrorAnswer {
  if (error instanceof ModelServeError) {
    // A pipeline step's 422 keeps FastAPI's shape; its loc names the step.
    if (error instanceof StepValidationError) return { status: 422, issues: error.issues };
    const detail = error.code === 'MS_ERR_INFERENCE' ? 'inference failed; see the server log for this request id' : error.message;
    return { status: ERRORS[error.code].status, code: error.code, detail, headers: error.headers, logAsError: isServerFault(error) ? error.message : undefined };
  }
  const known = typeof error === 'object' && error !== null ? classify(error as FastifyError, bodyLimit) : undefined;
  if (known) return { status: ERRORS[known.code].status, ...known };
  return { status: 500, code: 'MS_ERR_INTERNAL', detail: 'internal server error; see the server log for this request id', logAsError: 'unhandled error' };
}

/** The JSON body of an answer (under /v2, OIP's shape: a 422's issues become its message). */
export function errorBody(answer: ErrorAnswer, requestId: string, url = ''): ErrorBody | OipErrorBody | { detail: ValidationIssue[] } {
  if (answer.issues && isOipUrl(url)) return oipErrorBody('MS_ERR_VALIDATION', answer.issues.map((i) => `${i.loc.join('.')}: ${i.msg}`).join('; '), requestId);
  return answer.issues ? { detail: answer.issues } : errorBodyFor(url, answer.code!, answer.detail!, requestId);
}

/** The path of a request target: origin-form (/a/b?q) or absolute-form (http://host/a/b?q, which the router also accepts). */
function pathOf(url: string): string {
  const origin = /^https?:\/\/[^/?#]*/i.exec(url);
  const path = (origin ? url.slice(origin[0].length) : url).split('?')[0]!;
  return path === '' ? '/' : path;
}

export function installErrorBoundary(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const answer = errorAnswer(error, app.initialConfig.bodyLimit);
    if (answer.logAsError) request.log.error({ err: error, cause: (error as Error).cause }, answer.logAsError);
    return reply.code(answer.status).headers(answer.headers ?? {}).send(errorBody(answer, String(request.id), request.url));
  });
  const methodsFor = trackRouteMethods(app);
  const notFound = (request: FastifyRequest, reply: FastifyReply) => {
    const path = pathOf(request.url);
    const { allowed, route, name } = methodsFor(path);
    if (allowed.length > 0 && !allowed.includes(request.method)) {
      // A real route's path: counted under that route (and its model), as its other answers are.
      if (route !== undefined) refusedMethod(request.raw, { route, name });
      return sendError(reply, 'MS_ERR_METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${path}; allowed: ${allowed.join(', ')}`, { allow: allowed.join(', ') });
    }
    return sendError(reply, 'MS_ERR_NOT_FOUND', `no route for ${request.method} ${path}`);
  };
  app.setNotFoundHandler(notFound);
  // Fastify reads and parses a body before its not-found handler runs: a wrong path or method
  // with a JSON body got the body's 400 (not valid JSON, empty) or 415 (charset, encoding) instead
  // of its 404 or 405, and a client waiting for 100 Continue would be asked for a body only to hear
  // 404 or 405 after it. The answer comes first; Node discards the unread body.
  app.addHook('preParsing', (request, reply, payload, done) => {
    if (request.is404) void notFound(request, reply);
    else done(null, payload);
  });
}
