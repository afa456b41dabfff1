// The one error boundary: every error that reaches a client leaves through here, with a stable
// code, a short message and the request id; details (stacks, paths) go to the log only.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERRORS, ModelServeError, type ErrorCode } from '../errors.js';
import { trackRouteMethods } from './low-level-errors.js';
import { StepValidationError } from '../pipelines/errors.js';

export interface ErrorBody {
  detail: string;
  code: ErrorCode;
  request_id: string;
}

export function sendError(reply: FastifyReply, code: ErrorCode, detail: string, headers: Record<string, string> = {}): FastifyReply {
  const body: ErrorBody = { detail, code, request_id: String(reply.request.id) };
  return reply.code(ERRORS[code].status).headers(headers).send(body);
}

/** Maps Fastify's own errors (body parsing, limits) onto the registry. */
function classify(error: FastifyError): { code: ErrorCode; detail: string } | undefined {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { code: 'MS_ERR_UNSUPPORTED_MEDIA_TYPE', detail: 'Content-Type must be application/json' };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { code: 'MS_ERR_BODY_TOO_LARGE', detail: 'request body is larger than the limit' };
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
  if (error.statusCode === 413) return { code: 'MS_ERR_BODY_TOO_LARGE', detail: 'request body is larger than the limit' };
  if (error.statusCode === 415) return { code: 'MS_ERR_UNSUPPORTED_MEDIA_TYPE', detail: 'Content-Type must be application/json' };
  return undefined;
}

export function installErrorBoundary(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof ModelServeError) {
      // A pipeline step's 422 keeps FastAPI's shape; its loc names the step.
      if (error instanceof StepValidationError) return reply.code(422).send({ detail: error.issues });
      if (error.status >= 500) request.log.error({ err: error, cause: error.cause }, error.message);
      const detail = error.code === 'MS_ERR_INFERENCE' ? 'inference failed; see the server log for this request id' : error.message;
      return sendError(reply, error.code, detail, error.headers);
    }
    const known = classify(error);
    if (known) return sendError(reply, known.code, known.detail);
    request.log.error({ err: error }, 'unhandled error');
    return sendError(reply, 'MS_ERR_INTERNAL', 'internal server error; see the server log for this request id');
  });
  const methodsFor = trackRouteMethods(app);
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    const allowed = methodsFor(path);
    if (allowed.length > 0 && !allowed.includes(request.method)) {
      return sendError(reply, 'MS_ERR_METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${path}; allowed: ${allowed.join(', ')}`, { allow: allowed.join(', ') });
    }
    return sendError(reply, 'MS_ERR_NOT_FOUND', `no route for ${request.method} ${path}`);
  });
}
