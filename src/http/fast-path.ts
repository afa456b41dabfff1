// The predict fast path: plain JSON predictions answered straight from node:http, in front of
// Fastify (its serverFactory). On a 2-core machine one main thread does every request's HTTP work,
// so Fastify's per-request machinery (routing, request/reply objects, hooks, the content-type
// parser) is a large share of a one-row prediction's cost; this path does only what such a
// request needs and answers it exactly as the Fastify route would (same status, body and headers:
// test/http/fast-path.test.ts runs one set of requests against both and compares them).
//
// It takes a request only when the headers alone show it is the plain case: POST /predict or
// /models/{name}/predict, `Content-Type: application/json` (UTF-8), a Content-Length within the
// body limit and no Content-Encoding; no Origin (CORS), no auth configured; the service ready (not
// draining); the model loaded, not traffic-routed (split or shadow) and its queue not full. Every
// other request goes to Fastify untouched (its body has not been read), which answers it as ever.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import type { InferenceCore } from '../core/core.js';
import type { ServableVersion } from '../core/servable.js';
import type { Metrics } from '../metrics/metrics.js';
import { errorAnswer, errorBody } from './errors.js';
import { parseJsonBody } from './json-body.js';
import { API_HEADERS } from './plugins/security-headers.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The request id: the caller's X-Request-Id when it is short and plain (it goes into logs), else a new UUID. */
export function requestIdOf(req: IncomingMessage): string {
  const incoming = req.headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
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

/** Returns the request handler: true when it took the request, false to let Fastify have it. */
export function predictFastPath(options: FastPathOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { bodyLimit, metrics, accessLog, log, routed } = options;

  /** `version`: the x-model-version header, absent when the body was refused before reaching the model (as on the Fastify route). */
  const answer = (req: IncomingMessage, res: ServerResponse, id: string, started: number, route: string, model: ServableVersion, version: string | undefined, status: number, payload: string, extra?: Record<string, string>) => {
    const headers: Array<string> = ['x-request-id', id, ...SECURITY];
    if (version !== undefined) headers.push('x-model-version', version);
    if (extra) for (const name in extra) headers.push(name, extra[name]!);
    headers.push('content-type', JSON_TYPE, 'content-length', String(Buffer.byteLength(payload)));
    res.writeHead(status, headers);
    res.end(payload);
    const seconds = (performance.now() - started) / 1000;
    metrics?.observeRequest(model.name, version ?? '', route, status, seconds);
    accessLog?.info({ reqId: id, method: 'POST', url: req.url, status, ms: Number((seconds * 1000).toFixed(3)) }, 'request');
  };

  const fail = (req: IncomingMessage, res: ServerResponse, id: string, started: number, route: string, model: ServableVersion, version: string | undefined, error: unknown) => {
    const a = errorAnswer(error);
    if (a.logAsError) log.error({ reqId: id, err: error, cause: (error as Error).cause }, a.logAsError);
    if (a.code === 'MS_ERR_OVERLOADED') metrics?.rejected(model.name, 'overloaded');
    else if (a.code === 'MS_ERR_TIMEOUT') metrics?.rejected(model.name, 'timeout');
    answer(req, res, id, started, route, model, version, a.status, JSON.stringify(errorBody(a, id)), a.headers);
  };

  const serve = (req: IncomingMessage, res: ServerResponse, started: number, route: string, model: ServableVersion, text: string) => {
    const id = requestIdOf(req);
    let body: unknown;
    try {
      body = parseJsonBody(text);
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
    model.predict(validated.rows, undefined, { requestId: id, frontDoor: 'http' }).then(
      (predictions) => answer(req, res, id, started, route, model, version, 200, validated.batch ? model.serialize.many(predictions) : model.serialize.one(predictions[0]!)),
      (error: unknown) => fail(req, res, id, started, route, model, version, error),
    );
  };

  return (req, res) => {
    if (req.method !== 'POST') return false;
    const url = req.url!;
    const core = options.core();
    if (core === undefined || core.state !== 'ready') return false;
    let name: string | undefined;
    let route: string;
    if (url === '/predict') {
      name = core.defaultModelName;
      route = '/predict';
    } else if (url.startsWith('/models/') && url.endsWith('/predict')) {
      name = url.slice(8, -8);
      if (!PLAIN_NAME.test(name)) return false;
      route = '/models/:name/predict';
    } else return false;
    const headers = req.headers;
    if (name === undefined || !JSON_TYPES.has(headers['content-type']!) || headers['content-encoding'] !== undefined || headers['transfer-encoding'] !== undefined || headers.origin !== undefined) return false;
    const length = Number(headers['content-length']);
    if (!(length > 0 && length <= bodyLimit)) return false;
    if (!core.has(name) || routed(name)) return false;
    const model = core.resolve(name);
    if (model === undefined || model.batcher.stats().queuedRows >= model.config.queue.maxRows) return false;

    // Content-Length framing: the parser delivers exactly `length` bytes, or the request aborts.
    const started = performance.now();
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => serve(req, res, started, route, model, chunks.length === 1 ? chunks[0]!.toString() : Buffer.concat(chunks).toString()));
    return true;
  };
}
