// Wires Metrics into a Fastify app: an onResponse hook (requests, latency), an onError hook
// (overload / deadline rejections) and GET /metrics. The route is never authenticated unless asked
// (see auth.ts), never rate-limited (the queue limit only applies to predictions) and never
// access-logged; it runs on the main event loop, which inference never blocks (worker threads).
import type { FastifyInstance, FastifyRequest, preParsingHookHandler } from 'fastify';
import { ModelServeError, rejectReasonOf } from '../../errors.js';
import type { Metrics } from '../../metrics/metrics.js';
import { readingBody, refusedMethodOf } from '../low-level-errors.js';

/** Methods whose routes take a body (the others' bodies are never read). */
const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface MetricsPluginOptions {
  metrics: Metrics;
  /** Whether a name is a model of the repository (anything else is reported as model=""). */
  isModel: (name: string) => boolean;
  /** The model POST /predict serves, if any. */
  defaultModel: () => string | undefined;
}

export function installMetrics(app: FastifyInstance, options: MetricsPluginOptions): void {
  const { metrics, isModel, defaultModel } = options;
  const modelFor = (route: string | undefined, name: unknown): string => {
    if (typeof name === 'string') return isModel(name) ? name : '';
    return route === '/predict' ? (defaultModel() ?? '') : '';
  };
  const modelOf = (request: FastifyRequest): string => modelFor(request.routeOptions.url, (request.params as { name?: unknown } | undefined)?.name);

  // Callback-style hooks: they run on every request, and an async hook costs a promise each.
  app.addHook('onResponse', (request, reply, done) => {
    // Route templates only (bounded cardinality); unknown paths share one label, a 405 has its path's route.
    const version = reply.getHeader('x-model-version');
    const refused = request.routeOptions.url === undefined ? refusedMethodOf(request.raw) : undefined;
    if (refused !== undefined) metrics.observeRequest(modelFor(refused.route, refused.name), '', refused.route, reply.statusCode, reply.elapsedTime / 1000);
    else metrics.observeRequest(modelOf(request), typeof version === 'string' ? version : '', request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
  // A request whose body breaks (malformed framing, a timeout, a client gone mid-body) is answered
  // by the HTTP server's clientErrorHandler (low-level-errors.ts), never by its route: a route that
  // takes a body records its labels before reading it, for that count. (Framing broken in the
  // headers' own packet, behind an async onRequest hook such as auth's, still counts as unmatched.)
  const reading: preParsingHookHandler = (request, _reply, payload, done) => {
    readingBody(request.raw, { model: modelOf(request), route: request.routeOptions.url ?? 'unmatched' });
    done(null, payload);
  };
  app.addHook('onRoute', (route) => {
    if ([route.method].flat().every((m) => BODYLESS.has(m))) return;
    route.preParsing = route.preParsing === undefined ? [reading] : [reading, ...[route.preParsing].flat()];
  });
  app.addHook('onError', (request, _reply, error, done) => {
    const reason = error instanceof ModelServeError ? rejectReasonOf(error) : undefined;
    if (reason) metrics.rejected(modelOf(request), reason);
    done();
  });
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    const text = await metrics.render();
    return reply.type(metrics.contentType).send(text);
  });
}
