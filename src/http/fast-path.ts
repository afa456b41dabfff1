// The predict fast path: plain JSON predictions answered straight from node:http, in front of
// Fastify (its serverFactory). On a 2-core machine one main thread does every request's HTTP work,
// so Fastify's per-request machinery (routing, request/reply objects, hooks, the content-type
// parser) is a large share of a one-row prediction's cost; this path does only what such a
// request needs and answers it exactly as the Fastify route would (same status, body and headers:
// test/http/fast-path.test.ts runs one set of requests against both and compares them).
//
// It takes a request only when the headers alone show it is the plain case: POST /predict or
// /models/{name}/predict with `Content-Type: application/json` (UTF-8), or the Open Inference
// Protocol's POST /v2/models/{name}/infer with JSON or `application/octet-stream` (binary tensors);
// a Content-Length within the body limit and no Content-Encoding; no Origin (CORS), no auth configured; the service ready (not
// draining); the model loaded, not traffic-routed (split or shadow) and its queue not full. Every
// other request goes to Fastify untouched (its body has not been read), which answers it as ever.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import type { InferenceCore } from '../core/core.js';
import type { ServableVersion } from '../core/servable.js';
import type { Metrics } from '../metrics/metrics.js';
import { ERRORS, rejectReasonOf } from '../errors.js';
import { restError, restInfer } from '../protocols/oip/service.js';
import { errorAnswer, errorBody, oipErrorBody } from './errors.js';
import { parseJsonBody } from '../protocols/json-body.js';
import { requestIdFrom } from '../protocols/request-id.js';
import { API_HEADERS } from './plugins/security-headers.js';
import { deadlineFrom, TIMEOUT_HEADER } from '../protocols/deadline.js';
import { readingBody } from './low-level-errors.js';

const CLIENT_GONE = ERRORS.MS_ERR_CLIENT_GONE.status;

/** The request's id: its X-Request-Id when plain, else a new UUID (requestIdFrom). */
export function requestIdOf(req: IncomingMessage): string {
  return requestIdFrom(req.headers['x-request-id']);
}

/** A model name the fast path takes from the URL as is (anything else, e.g. percent-encoded, goes to Fastify's router). */
const PLAIN_NAME = /^[A-Za-z0-9_.-]{1,100}$/;
const JSON_TYPES = new Set(['application/json', 'application/json; charset=utf-8', 'application/json;charset=utf-8', 'application/json; charset=UTF-8']);

// Response headers in the order the Fastify route sends them; flat [name, value, …] for writeHead.
const SECURITY = Object.entries(API_HEADERS).flat();
const JSON_TYPE = 'application/json; charset=utf-8';

export interface FastPathOptions {
  core: () => InferenceCore | undefined;
  bodyLimit: number;
  metrics: Metrics | undefined;
  /** Access log line per request (at info), as the Fastify path's onResponse hook writes it. */
  accessLog: FastifyBaseLogger | undefined;
  log: FastifyBaseLogger;
  /** Whether requests to this model need Fastify's route (traffic split, shadow). */
  routed: (name: string) => boolean;
}

const OIP_ROUTE = '/v2/models/:name/infer';
const OIP_TYPES = new Set([...JSON_TYPES, 'application/octet-stream']);

/** Returns the request handler: true when it took the request, false to let Fastify have it. */
export function predictFastPath(options: FastPathOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { bodyLimit, metrics, accessLog, log, routed } = options;

  /** `version`: the x-model-version header, absent when the body was refused before reaching the model (as on the Fastify route). */
  const answer = (req: IncomingMessage, res: ServerResponse, id: string, started: number, route: string, model: ServableVersion, version: string | undefined, answered: number, payload: string | Buffer, extra?: Record<string, string>, type = JSON_TYPE) => {
    // Its client ended its side before the answer (see clientGone in app.ts): counted and logged as 499.
    const status = req.socket.writable ? answered : CLIENT_GONE;
    const headers: Array<string> = ['x-request-id', id, ...SECURITY];
    if (version !== undefined) headers.push('x-model-version', version);
    if (extra) for (const name in extra) headers.push(name, extra[name]!);
    // Taken while ready, answered maybe after the drain began: Connection: close then, as on the Fastify route.
    const state = options.core()?.state;
    if (state === 'draining' || state === 'closed') headers.push('connection', 'close');
    headers.push('content-type', type, 'content-length', String(Buffer.byteLength(payload)));
    res.writeHead(status, headers);
    res.end(payload);
    const seconds = (performance.now() - started) / 1000;
    metrics?.observeRequest(model.name, version ?? '', route, status, seconds);
    accessLog?.info({ reqId: id, method: 'POST', url: req.url, status, ms: Number((seconds * 1000).toFixed(3)) }, 'request');
  };

  const fail = (req: IncomingMessage, res: ServerResponse, id: string, started: number, route: string, model: ServableVersion, version: string | undefined, error: unknown) => {
    const a = errorAnswer(error);
    if (a.logAsError) log.error({ reqId: id, err: error, cause: (error as Error).cause }, a.logAsError);
    const reason = rejectReasonOf(a);
    if (reason) metrics?.rejected(model.name, reason);
    answer(req, res, id, started, route, model, version, a.status, JSON.stringify(errorBody(a, id)), a.headers);
  };

  const serve = (req: IncomingMessage, res: ServerResponse, started: number, route: string, model: ServableVersion, bytes: Buffer) => {
    const id = requestIdOf(req);
    let body: unknown;
    try {
      body = parseJsonBody(bytes);
    } catch (error) {
      return fail(req, res, id, started, route, model, undefined, error);
    }
    const version = model.versionHeader;
    let validated;
    try {
      validated = model.validate(body);
    } catch (error) {
      return fail(req, res, id, started, route, model, version, error);
    }
    if (!validated.ok) return answer(req, res, id, started, route, model, version, 422, JSON.stringify({ detail: validated.issues }));
    model.predict(validated.rows, deadlineFrom(req.headers[TIMEOUT_HEADER], model.config.queue.timeoutMs), { requestId: id, frontDoor: 'http', client: req.socket, batch: validated.batch }).then(
      (predictions) => {
        let payload: string;
        try {
          payload = validated.batch ? model.serialize.many(predictions) : model.serialize.one(predictions[0]!);
        } catch (error) {
          // An answer that does not fit its response schema is a 500 like any other failure, as on
          // the Fastify route; thrown here, nothing would catch it and the process would die.
          return fail(req, res, id, started, route, model, version, error);
        }
        answer(req, res, id, started, route, model, version, 200, payload);
      },
      (error: unknown) => fail(req, res, id, started, route, model, version, error),
    );
  };

  /** An OIP inference, answered as routes/oip.ts does (its error shape is {"error": "…"}). */
  const serveOip = (req: IncomingMessage, res: ServerResponse, started: number, model: ServableVersion, body: Buffer) => {
    const id = requestIdOf(req);
    const headerLength = req.headers['inference-header-content-length'];
    restInfer(model, body, typeof headerLength === 'string' ? headerLength : undefined, { client: req.socket, deadline: deadlineFrom(req.headers[TIMEOUT_HEADER], 0), requestId: id }).then(
      (response) => {
        if (response.headerLength === undefined) answer(req, res, id, started, OIP_ROUTE, model, model.versionHeader, 200, response.body, undefined, 'application/json');
        else answer(req, res, id, started, OIP_ROUTE, model, model.versionHeader, 200, response.body, { 'inference-header-content-length': String(response.headerLength) }, 'application/octet-stream');
      },
      (error: unknown) => {
        const a = restError(error, id);
        if (a.logAsError) log.error({ reqId: id, err: error, cause: (error as Error).cause }, a.logAsError);
        const reason = rejectReasonOf(error);
        if (reason) metrics?.rejected(model.name, reason);
        // x-model-version on an error too, as on the Fastify route (set once the version is known).
        answer(req, res, id, started, OIP_ROUTE, model, model.versionHeader, a.status, JSON.stringify(oipErrorBody(a.code, a.message, id)), a.headers);
      },
    );
  };

  return (req, res) => {
    if (req.method !== 'POST') return false;
    const url = req.url!;
    const core = options.core();
    if (core === undefined || core.state !== 'ready') return false;
    let name: string | undefined;
    let route: string;
    if (url.startsWith('/v2/models/') && url.endsWith('/infer')) {
      name = url.slice(11, -6);
      if (!PLAIN_NAME.test(name)) return false;
      route = OIP_ROUTE;
    } else if (url === '/predict') {
      name = core.defaultModelName;
      route = '/predict';
    } else if (url.startsWith('/models/') && url.endsWith('/predict')) {
      name = url.slice(8, -8);
      if (!PLAIN_NAME.test(name)) return false;
      route = '/models/:name/predict';
    } else return false;
    const headers = req.headers;
    if (name === undefined || !(route === OIP_ROUTE ? OIP_TYPES : JSON_TYPES).has(headers['content-type']!) || headers['content-encoding'] !== undefined || headers['transfer-encoding'] !== undefined || headers.origin !== undefined) return false;
    const length = Number(headers['content-length']);
    if (!(length > 0 && length <= bodyLimit)) return false;
    if (!core.has(name) || routed(name)) return false;
    const model = core.resolve(name);
    if (model === undefined || model.batcher.stats().queuedRows >= model.config.queue.maxRows) return false;

    // Content-Length framing: the parser delivers exactly `length` bytes, or the request aborts
    // (then answered by the server's clientErrorHandler, which counts it under this route).
    const started = performance.now();
    if (metrics) readingBody(req, { model: model.name, route });
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      if (route === OIP_ROUTE) serveOip(req, res, started, model, body);
      else serve(req, res, started, route, model, body);
    });
    return true;
  };
}
