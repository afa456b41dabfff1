// Errors that never reach a route handler, in the project's {detail, code, request_id} shape:
// - Node's HTTP parser errors (broken framing, oversized headers, request timeout) arrive as the
//   server's 'clientError' event, before any request object exists: Fastify's clientErrorHandler
//   option answers them on the raw socket and closes it (the framing cannot be trusted after).
// - Router errors (malformed percent-encoding, a path parameter past maxParamLength) arrive as
//   Fastify's frameworkErrors option, with a request and a reply.
// - A path that exists for other methods gets 405 with Allow instead of 404 (methodsFor below,
//   used by the not-found handler in errors.ts): Fastify's router has no notion of 405.
// - An Expect header other than 100-continue arrives as the server's 'checkExpectation' event
//   (answerExpectation, installed by app.ts's server factory).
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions, preParsingHookHandler } from 'fastify';
import { ERRORS, type ErrorCode } from '../errors.js';
import { API_HEADERS } from './plugins/security-headers.js';
import { errorBodyFor } from './errors.js';
import { requestIdFrom } from '../protocols/request-id.js';
import { parseVersion } from '../protocols/version-param.js';
import { MAX_MODEL_NAME_LENGTH } from '../config/schema.js';

interface ParserError extends Error {
  code?: string;
  /** llhttp's description of what it refused, e.g. "Invalid header value char". */
  reason?: string;
}

function parserErrorAnswer(error: ParserError): { code: ErrorCode; detail: string } {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return { code: 'MS_ERR_HEADERS_TOO_LARGE', detail: 'the request line and headers are larger than the server accepts (16 KiB)' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { code: 'MS_ERR_REQUEST_TIMEOUT', detail: 'the request did not arrive completely in time' };
    default: {
      const what = typeof error.reason === 'string' && error.reason !== '' ? error.reason : (error.code ?? 'unparsable request');
      return { code: 'MS_ERR_BAD_REQUEST', detail: `malformed HTTP request: ${what.slice(0, 200)}` };
    }
  }
}

/** An error answer outside any route: its status, headers and body in the project's shape (OIP's for a /v2 URL, when known). */
function errorParts(code: ErrorCode, detail: string, requestId: string, url = ''): { status: number; headers: Record<string, string | number>; body: string } {
  const body = JSON.stringify(errorBodyFor(url, code, detail, requestId));
  const headers = { ...API_HEADERS, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'x-request-id': requestId };
  return { status: ERRORS[code].status, headers, body };
}

/** The raw HTTP/1.1 response for a parser error (exported for tests of the exact bytes). */
export function rawErrorResponse(code: ErrorCode, detail: string, requestId: string = randomUUID(), url = ''): string {
  const { status, headers, body } = errorParts(code, detail, requestId, url);
  const head = Object.entries({ ...headers, connection: 'close' }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${head}\r\n${body}`;
}

/** The response a connection is sending (Node's socket._httpMessage), and its request. */
type InProgress = { headersSent?: boolean; req?: { complete?: boolean }; once(event: 'finish' | 'close', listener: () => void): unknown };

/** Connections whose parser error is answered (or waits to be): llhttp repeats its error on every later read. */
const answering = new WeakSet<Socket>();

/** Node's parser on a connection (socket.parser, internal): the request it is reading, and how long it has been reading it. */
type Parser = { incoming?: IncomingMessage | null; duration?: () => number };

/** The labels a request counts under in modelserve_requests_total. */
export interface RouteLabels {
  model: string;
  route: string;
}

/** Requests whose body a route (or the fast path) reads, with their labels: one whose body breaks is answered by clientErrorHandler. */
const bodyReaders = new WeakMap<IncomingMessage, RouteLabels>();

/** Records that a route reads this request's body: a malformed or timed-out body is then counted under its labels, not as unmatched. */
export function readingBody(req: IncomingMessage, labels: RouteLabels): void {
  bodyReaders.set(req, labels);
}

/** Requests answered before their body was read whole (401, 413 by Content-Length, 503…): Node reads the rest to discard it. */
const answeredEarly = new WeakSet<IncomingMessage>();

/** Called as a request's answer is sent: if its body is still arriving, a break in it later gets no second answer. */
export function answeredBeforeBody(req: IncomingMessage): void {
  if (req.complete === false) answeredEarly.add(req);
}

function clientErrorHandler(this: FastifyInstance, error: ParserError, socket: Socket): void {
  // A reset connection has no one to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed || answering.has(socket)) return;
  answering.add(socket);
  const { code, detail } = parserErrorAnswer(error);
  // What is wrong, not the error object: Node's parser errors carry the raw request bytes
  // (rawPacket), which hold its API key and body.
  this.log.debug({ code, reason: error.code, detail }, 'client error');
  const parser = (socket as Socket & { parser?: Parser | null }).parser;
  // A request whose headers were read whole (its body broke or timed out) keeps the caller's
  // X-Request-Id and URL; before that, Node has handed over no header.
  const incoming = parser?.incoming?.complete === false ? parser.incoming : undefined;
  // Its answer already went out (and was counted) while Node discarded its body: one request gets
  // one answer, so the connection just ends.
  if (incoming !== undefined && answeredEarly.has(incoming)) {
    socket.end();
    return;
  }
  // Counted under the route that was reading its body, if any (its route never answers it), else
  // as the router's refusals are (no route); timed from the start of the message Node was reading.
  const ms = typeof parser?.duration === 'function' ? parser.duration() : 0;
  const labels = incoming === undefined ? undefined : bodyReaders.get(incoming);
  this.metrics?.observeRequest(labels?.model ?? '', '', labels?.route ?? 'unmatched', ERRORS[code].status, ms / 1000);
  answerAfterEarlierRequests(socket, rawErrorResponse(code, detail, requestIdFrom(incoming?.headers['x-request-id']), incoming?.url));
}

/**
 * Writes the error answer and closes, in the connection's order: requests read whole before the
 * broken bytes (pipelined) are answered first (written at once, the 400 took the place of the first
 * one's answer, which was lost). A response whose own request is incomplete (its body is what broke
 * or timed out) is this error's request: answered now if nothing of it was sent, else cut.
 */
function answerAfterEarlierRequests(socket: Socket, answer: string): void {
  const inProgress = (socket as Socket & { _httpMessage?: InProgress | null })._httpMessage;
  if (inProgress?.req?.complete === true) {
    let waited = false;
    const next = () => {
      if (waited) return;
      waited = true;
      // After Node hands the socket to the next queued response, if any.
      setImmediate(() => answerAfterEarlierRequests(socket, answer));
    };
    inProgress.once('finish', next);
    inProgress.once('close', next);
    return;
  }
  if (socket.writable && !inProgress?.headersSent) socket.end(answer);
  else socket.destroy();
}

/**
 * Framing Node's parser lets through, or answers itself without a body: an HTTP/1.1 request
 * without Host (RFC 9112 3.2: 400; the server is created with requireHostHeader: false so that
 * the answer is in the project's shape), and a transfer coding other than chunked (gzip, chunked
 * was read as chunked, the gzip coding ignored). Answers and returns true, else false.
 */
export function refuseFraming(req: IncomingMessage, res: ServerResponse): boolean {
  const coding = req.headers['transfer-encoding'];
  let detail: string | undefined;
  if (req.headers.host === undefined && req.httpVersionMinor === 1 && req.httpVersionMajor === 1) detail = 'an HTTP/1.1 request must have a Host header';
  else if (coding !== undefined && coding.trim().toLowerCase() !== 'chunked') detail = `Transfer-Encoding ${JSON.stringify(coding.slice(0, 100))} is not supported: only chunked (a compressed body goes in Content-Encoding)`;
  if (detail === undefined) return false;
  const { status, headers, body } = errorParts('MS_ERR_BAD_REQUEST', detail, requestIdFrom(req.headers['x-request-id']), req.url);
  // The connection ends with this answer; llhttp then meets the same framing in the body
  // (HPE_INVALID_TRANSFER_ENCODING), which is this request's error, answered and counted here.
  answering.add(req.socket);
  res.shouldKeepAlive = false;
  res.writeHead(status, { ...headers, connection: 'close' }).end(body);
  return true;
}

/** CONNECT (a proxy's method): 405 in the project's shape rather than a closed connection. */
export function answerConnect(req: IncomingMessage, socket: Socket): void {
  socket.on('error', () => undefined);
  socket.end(rawErrorResponse('MS_ERR_METHOD_NOT_ALLOWED', 'CONNECT is not supported: this server is not a proxy', undefined, req.url));
}

/** An Expect header other than 100-continue: 417 in the project's shape (Node's own has no body); `draining`: with Connection: close, as every answer then. */
export function answerExpectation(req: IncomingMessage, res: ServerResponse, draining = false): void {
  const { status, headers, body } = errorParts('MS_ERR_EXPECTATION_FAILED', `Expect: ${JSON.stringify(String(req.headers.expect).slice(0, 100))} is not supported (only 100-continue is)`, requestIdFrom(req.headers['x-request-id']), req.url);
  res.writeHead(status, draining ? { ...headers, connection: 'close' } : headers).end(body);
}

/** Requests whose client waits for 100 Continue before it sends the body, until the 100 is sent. */
const awaitingContinue = new WeakSet<IncomingMessage>();

/**
 * Expect: 100-continue (the server's 'checkContinue' event): the 100 goes out only when something
 * reads the body, so a request its headers alone refuse (401, 404, 413 by Content-Length, 415, 503;
 * the routes add theirs with refuseBeforeContinue)
 * gets that answer at once and the client never sends the body. Node closes the connection after a
 * final answer sent without the 100 (the client may or may not send the body then).
 */
export function continueWhenRead(req: IncomingMessage, res: ServerResponse): void {
  awaitingContinue.add(req);
  // Every reader of the body here (on('data'), pipe) resumes the stream; Node's dump of an unread body after the answer does too.
  req.once('resume', () => {
    awaitingContinue.delete(req);
    if (!res.headersSent) res.writeContinue();
  });
}

/** Whether the client is still waiting for 100 Continue before it sends the body. */
export function awaitsContinue(req: IncomingMessage): boolean {
  return awaitingContinue.has(req);
}

/**
 * A route's preParsing hook for Expect: 100-continue: `refuse` throws the error the route would
 * answer after the body when its URL and headers already decide it, so a client waiting for 100
 * Continue gets that answer now and never sends the body. Without Expect the route answers as ever.
 */
export function refuseBeforeContinue(refuse: (request: FastifyRequest) => void): preParsingHookHandler {
  return (request, _reply, payload, done) => {
    if (awaitsContinue(request.raw)) {
      try {
        refuse(request);
      } catch (err) {
        done(err as Error);
        return;
      }
    }
    done(null, payload);
  };
}

/**
 * A prediction route's preParsing hook: such a route looks its model (and version, when the URL
 * names one) up after the body, so a client waiting for 100 Continue to send a body for a model or
 * version that is not served gets the 404 now.
 */
export function unknownModelBeforeContinue(core: () => { peek(name: string, version?: number): unknown } | undefined): preParsingHookHandler {
  return refuseBeforeContinue((request) => {
    const { name, version } = request.params as { name: string; version?: string };
    core()?.peek(name, parseVersion(version));
  });
}

function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  // The onRequest and onSend hooks never run for these: set what they would have set.
  reply.headers({ ...API_HEADERS, 'x-request-id': request.id });
  const state = request.server.serviceState;
  if (state === 'draining' || state === 'closed') reply.header('connection', 'close');
  const path = (request.raw.url ?? '').split('?')[0]!.slice(0, 200);
  const answer = (code: ErrorCode, detail: string) => {
    reply.code(ERRORS[code].status).send(errorBodyFor(request.raw.url ?? '', code, detail, String(request.id)));
    // No route, so no onResponse hook: counted here, as any unmatched request is.
    request.server.metrics?.observeRequest('', '', 'unmatched', ERRORS[code].status, reply.elapsedTime / 1000);
  };
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      return answer('MS_ERR_BAD_URL', `the URL path ${JSON.stringify(path)} has malformed percent-encoding`);
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return answer('MS_ERR_URI_TOO_LONG', `a path parameter (such as a model name) is longer than ${MAX_MODEL_NAME_LENGTH} characters`);
    default:
      return answer('MS_ERR_BAD_REQUEST', `the request cannot be routed: ${error.code ?? 'unknown'}`);
  }
}

/** Fastify server options that put low-level errors into the project's error shape. */
export function lowLevelErrorOptions(): Pick<FastifyServerOptions, 'clientErrorHandler' | 'frameworkErrors'> {
  return { clientErrorHandler: clientErrorHandler as FastifyServerOptions['clientErrorHandler'], frameworkErrors };
}

/** Requests answered 405 on a route's path: counted under that route, not as unmatched. */
const refusedMethods = new WeakMap<IncomingMessage, RefusedMethod>();

/** A 405's route template and its path's `:name` segment (a model's name, or anything a client sent). */
export interface RefusedMethod {
  route: string;
  name?: string;
}

/** Records the route whose path a 405 request named. */
export function refusedMethod(req: IncomingMessage, refused: RefusedMethod): void {
  refusedMethods.set(req, refused);
}

/** The route of a request answered 405 on a route's path, if it was. */
export function refusedMethodOf(req: IncomingMessage): RefusedMethod | undefined {
  return refusedMethods.get(req);
}

/** The methods a path has and the first route template it matches (`name`: its `:name` segment), to tell "no such path" (404) from "not with this method" (405). */
export type RouteMethods = (path: string) => { allowed: string[]; route?: string; name?: string };

/** Route patterns seen by onRoute, to tell "no such path" (404) from "not with this method" (405). */
export function trackRouteMethods(app: FastifyInstance): RouteMethods {
  const patterns: Array<{ url: string; pattern: RegExp; methods: Set<string> }> = [];
  const byUrl = new Map<string, Set<string>>();
  app.addHook('onRoute', (route) => {
    const url = route.url ?? route.path;
    // Catch-alls (CORS's OPTIONS *) match every path: they would turn every 404 into a 405.
    if (url === undefined || url === '*' || url === '/*') return;
    let methods = byUrl.get(url);
    if (methods === undefined) {
      methods = new Set();
      byUrl.set(url, methods);
      // A parameter may be empty, as the router matches it (POST /models//predict is model '' not found), so that
      // GET /models//predict is the 405 GET /models/x/predict is, not a 404 'no route'.
      const source = url.split('/').map((segment) => segment.startsWith(':') ? '[^/]*' : segment === '*' ? '.*' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('/');
      patterns.push({ url, pattern: new RegExp(`^${source}$`), methods });
    }
    for (const m of [route.method].flat()) methods.add(m);
    if (methods.has('GET')) methods.add('HEAD');
  });
  return (path) => {
    const allowed = new Set<string>();
    let route: string | undefined;
    for (const { url, pattern, methods } of patterns) {
      if (!pattern.test(path)) continue;
      route ??= url;
      for (const m of methods) allowed.add(m);
    }
    if (route === undefined) return { allowed: [] };
    const at = route.split('/').indexOf(':name');
    const segment = at < 0 ? undefined : path.split('/')[at];
    let name: string | undefined;
    try {
      name = segment === undefined ? undefined : decodeURIComponent(segment);
    } catch {
      name = undefined; // malformed percent-encoding: not a model's name
    }
    return { allowed: [...allowed].sort(), route, name };
  };
}
