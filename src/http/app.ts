// buildApp(options) assembles the Fastify application, the JSON REST front door over the
// inference core (src/core); it does not listen (see src/server.ts), so tests can use inject() or
// listen on port 0. Given a started core it serves it; given configs and a runtime it starts its
// own core in onReady (a model that fails to load makes ready()/listen() reject) and closes it in
// onClose. Routes follow the live set of models: versions that appear, reload or go away.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { ModelConfig } from '../config/types.js';
import { MAX_MODEL_NAME_LENGTH } from '../config/schema.js';
import { InferenceCore, type CoreOptions, type ServiceState } from '../core/core.js';
import type { ServableVersion } from '../core/servable.js';
import { whyNotReady } from '../core/readiness.js';
import type { InferenceRuntime } from '../runtime/types.js';
import { ERRORS, ModelServeError } from '../errors.js';
import { buildOpenApiDocument, CachedDocument } from './openapi.js';
import { installErrorBoundary, sendError } from './errors.js';
import { modelRoutes, modelStatusInfo } from './model-info.js';
import { repositoryRoutes } from './routes/repository.js';
import { oipRoutes } from './routes/oip.js';
import { InferenceStatistics } from '../protocols/oip/statistics.js';
import { stickyKey } from '../traffic/sticky.js';
import { TrafficRouter } from '../traffic/router.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { VERSION } from '../version.js';
import { Metrics } from '../metrics/metrics.js';
import { installAuth, withSecuritySchemes, type AuthOptions } from './plugins/auth.js';
import { installCors } from './plugins/cors.js';
import { installMetrics } from './plugins/metrics.js';
import { loadShedding } from './plugins/load-shedding.js';
import { installSecurityHeaders } from './plugins/security-headers.js';
import { installContentEncoding } from './plugins/content-encoding.js';
import { answerConnect, answerExpectation, answeredBeforeBody, continueWhenRead, lowLevelErrorOptions, refuseBeforeContinue, refuseFraming, unknownModelBeforeContinue } from './low-level-errors.js';
import { predictFastPath, requestIdOf } from './fast-path.js';
import { parseJsonBody } from '../protocols/json-body.js';
import { deadlineFrom, TIMEOUT_HEADER } from '../protocols/deadline.js';
import { parseVersion } from '../protocols/version-param.js';

export interface AppOptions {
  /** A started inference core to serve (startServer); or configs + runtime for the app to start one. */
  core?: InferenceCore;
  configs?: readonly ModelConfig[];
  runtime?: InferenceRuntime;
  /** Max request body in bytes (413 past it). */
  bodyLimit?: number;
  /** pino logger options, or false. */
  logger?: FastifyServerOptions['logger'];
  /** Load-time optimiser on/off for every model (each config can also turn it off). */
  optimize?: boolean;
  /** Extra core options when the app starts its own core (batch observers). */
  registry?: Pick<CoreOptions, 'onBatch'>;
  /** API-key / bearer auth (off when absent). */
  auth?: AuthOptions;
  /** CORS allowed origins ('*' for any); CORS is off when absent or empty. */
  corsOrigins?: readonly string[];
  /** Prometheus metrics: a Metrics instance to use, or false for none (default: a new one). */
  metrics?: Metrics | false;
  /** Open Inference Protocol statistics fed by the core's batches (startServer shares one with gRPC); default: a new one. */
  statistics?: InferenceStatistics;
  /** Extra readiness: a reason the service is not ready (e.g. a required MQTT broker), or undefined. */
  readiness?: () => string | undefined;
  /** The predict fast path in front of Fastify (default on; off: every request through Fastify's routes, e.g. to compare). */
  fastPath?: boolean;
  /** Fields the dashboard shows as '[redacted]' in its latest predictions. */
  redact?: readonly string[];
  /** How long a request may take to arrive completely, in ms (408 past it; default 60 s): shorter in tests. */
  requestTimeoutMs?: number;
}

export type { ServiceState };

declare module 'fastify' {
  interface FastifyInstance {
    /** The inference core; available once ready() resolved. */
    core: InferenceCore;
    /** The core's state ('starting' until it exists). */
    serviceState: ServiceState;
    /** Prometheus metrics of this app (undefined when disabled). */
    metrics: Metrics | undefined;
    /** Requests answered by the predict fast path (fast-path.ts) rather than Fastify's routes. */
    fastPathServed: number;
    /** The models' traffic splits and shadows, shared with the other front doors (gRPC, MQTT). */
    traffic: TrafficRouter;
    /** The OpenAPI document served at /openapi.json and /docs/json, built once per change of the models. */
    openApiDocument: CachedDocument;
  }
}

/** Routes that are never access-logged nor refused by overload protection; /healthz and /readyz are never authenticated (/metrics is, unless publicMetrics). */
export const PROBE_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  if (options.core === undefined && (options.configs === undefined || options.runtime === undefined)) throw new Error('buildApp: give a core, or configs and a runtime');
  let fastPath: ((req: IncomingMessage, res: ServerResponse) => boolean) | undefined;
  let fastPathServed = 0;
  const requestTimeout = options.requestTimeoutMs ?? 60_000;
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    // Fastify's own per-request lines off (the onResponse hook below writes one access line).
    logController: new LogController({ disableRequestLogging: true }),
    // JSON.parse makes __proto__ an own data property (no pollution): the validator treats it, and
    // constructor, as unknown fields like any other (ignored, or 422 with strict: true).
    // A model name is a path parameter: the longest a config may give (Fastify's default, said once).
    routerOptions: { maxParamLength: MAX_MODEL_NAME_LENGTH },
    onProtoPoisoning: 'ignore',
    onConstructorPoisoning: 'ignore',
    ...lowLevelErrorOptions(),
    // genReqId reads X-Request-Id itself (with requestIdHeader set, Fastify would take any value
    // of the header verbatim and never call genReqId).
    requestIdHeader: false,
    // Accept a caller's X-Request-Id only when it is short and plain (it goes into logs).
    genReqId: requestIdOf,
    // The predict fast path answers plain JSON predictions before Fastify sees them (fast-path.ts).
    serverFactory: (handler, serverOptions) => {
      // Node checks for timed-out requests every connectionsCheckingInterval (30 s by default).
      // Answered here, outside Fastify and its metrics hook: counted as the router's refusals are (no route).
      const unmatched = (status: number) => app.metrics?.observeRequest('', '', 'unmatched', status, 0);
      const server = createServer({ requireHostHeader: false, connectionsCheckingInterval: Math.min(30_000, requestTimeout) }, (req, res) => {
        if (refuseFraming(req, res)) return unmatched(res.statusCode);
        if (fastPath !== undefined && fastPath(req, res)) fastPathServed++;
        else handler(req, res);
      });
      // Node emits no 'request' for these once checkContinue is handled: emitted here, every
      // 'request' listener (the handler above, the drain's count in server.ts) sees them.
      server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
        continueWhenRead(req, res);
        server.emit('request', req, res);
      });
      server.on('connect', (req: IncomingMessage, socket: Socket) => {
        answerConnect(req, socket);
        unmatched(ERRORS.MS_ERR_METHOD_NOT_ALLOWED.status);
      });
      // What Fastify sets on the servers it creates itself.
      const timeouts = serverOptions as { keepAliveTimeout?: number; requestTimeout?: number; connectionTimeout?: number };
      server.keepAliveTimeout = timeouts.keepAliveTimeout ?? 72_000;
      server.requestTimeout = timeouts.requestTimeout ?? 0;
      server.headersTimeout = Math.min(server.headersTimeout, requestTimeout);
      server.setTimeout(timeouts.connectionTimeout ?? 0);
      server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
        answerExpectation(req, res, app.serviceState === 'draining' || app.serviceState === 'closed');
        unmatched(res.statusCode);
      });
      return server;
    },
    // While closing, Fastify answers requests that arrive on already-open keep-alive connections
    // with `Connection: close`; with return503OnClosing: false it also still serves them (the
    // instance can: its workers run until the drain ends) instead of refusing them with a 503, so
    // a client mid-stream loses nothing and reconnects elsewhere. The drain timeout bounds it.
    return503OnClosing: false,
    // Slow-upload guard: a request must arrive completely within 60 s (Node's headersTimeout
    // already bounds the headers).
    requestTimeout,
  });
  let core: InferenceCore | undefined = options.core;
  app.decorate('core', { getter: () => core as InferenceCore });
  app.decorate('serviceState', {
    getter: (): ServiceState => core?.state ?? 'starting',
    setter(state: ServiceState) {
      if (core) core.state = state;
    },
  });
  const metrics = options.metrics === false ? undefined : (options.metrics ?? new Metrics());
  app.decorate('metrics', metrics);
  app.decorate('fastPathServed', { getter: () => fastPathServed });
  installErrorBoundary(app);
  // Per-request hooks are callback-style: on the one main thread an async hook's promise is a
  // measurable share of a request's cost.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  // A client that ended its side of the connection (FIN) before its answer: Node's HTTP server
  // ends the connection then (it does not answer a half-closed request), so the answer goes nowhere.
  // It is counted and logged as 499 (MS_ERR_CLIENT_GONE), not as the status that was never delivered.
  app.addHook('onSend', (request, reply, payload, done) => {
    if (request.raw.socket.writable === false) { // (false, not absent: app.inject()'s socket has no such property)
      reply.code(ERRORS.MS_ERR_CLIENT_GONE.status);
      // Node emits neither 'finish' nor 'error' for an answer it drops, and Fastify runs the onResponse
      // hooks (metrics, access log) on one of them: without this, the fast path counted the request and this route did not.
      if (reply.raw.listenerCount('error') > 0) reply.raw.emit('error', new ModelServeError('MS_ERR_CLIENT_GONE', 'the client ended its side of the connection before the answer'));
    }
    // Draining: keep-alive clients are told to reconnect (to another instance) after this response,
    // decided when it is sent: a request that arrived before the drain began is answered after it.
    if (app.serviceState === 'draining' || app.serviceState === 'closed') reply.header('connection', 'close');
    answeredBeforeBody(request.raw);
    done(null, payload);
  });
  installSecurityHeaders(app);
  if (options.corsOrigins && options.corsOrigins.length > 0) await installCors(app, options.corsOrigins);
  if (options.auth) installAuth(app, options.auth);
  const shed = loadShedding(app);
  // Only JSON bodies: drop Fastify's built-in text/plain parser so other types get 415; JSON is
  // parsed by the one parser the fast path uses too (its errors name what is wrong).
  app.removeContentTypeParser(['text/plain', 'application/json']);
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, bytes, done) => {
    try {
      done(null, parseJsonBody(bytes as Buffer));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
  installContentEncoding(app);

  // Decided once: below info there is no access-log hook at all.
  const accessLog = ['trace', 'debug', 'info'].includes(app.log.level);
  if (accessLog) {
    app.addHook('onResponse', (request, reply, done) => {
      if (!PROBE_ROUTES.has(request.routeOptions.url ?? '')) {
        request.log.info({ method: request.method, url: request.url, status: reply.statusCode, ms: Number(reply.elapsedTime.toFixed(3)) }, 'request');
      }
      done();
    });
  }

  const statistics = options.statistics ?? new InferenceStatistics();
  const extraOnBatch = options.registry?.onBatch;
  const onBatch: CoreOptions['onBatch'] = (model, version) => {
    const observers = [metrics?.batchObserver(model, version), extraOnBatch?.(model, version), statistics.observer(model, version)].filter((o) => o !== undefined);
    return (info) => { for (const o of observers) o(info); };
  };
  const ownsCore = core === undefined;
  app.addHook('onReady', async () => {
    if (core !== undefined) return; // started and watched by startServer
    core = new InferenceCore({ configs: options.configs, runtime: options.runtime!, onBatch, onRequest: (model, version) => statistics.requestObserver(model, version), optimize: options.optimize });
    metrics?.watchCore(core);
    statistics.watchCore(core);
    await core.start();
  });
  app.addHook('onClose', async () => {
    // Requests are all answered by now; batches whose requests already timed out (504) may still
    // be running: let them finish before the workers stop.
    if (ownsCore) await core?.close();
    else await core?.drain();
    metrics?.coreClosed();
  });
  // Why the service is not ready (undefined: ready), for every readiness probe here: /readyz, OIP's
  // /v2/health/ready, the gauge; gRPC's probes ask the same function (src/core/readiness.ts).
  const notReady = (): string | undefined => whyNotReady({ core, extra: options.readiness });
  if (metrics) {
    metrics.setReadySource(() => notReady() === undefined);
    installMetrics(app, { metrics, isModel: (name) => core?.has(name) ?? false, defaultModel: () => core?.defaultModelName });
  }

  // The OpenAPI document follows the live set of models: built again after a change, on the next read.
  const openApiDocument = new CachedDocument(() => {
    const serving = core?.servableConfigs() ?? options.configs ?? [];
    const defaultName = core?.defaultModelName;
    const loaded = (name: string) => core?.peek(name);
    const base = buildOpenApiDocument(serving, { title: 'modelserve', version: VERSION, defaultModel: serving.find((c) => c.name === defaultName), loaded, versions: (name) => core?.versionConfigs(name) ?? [] });
    return options.auth ? withSecuritySchemes(base, { rateLimited: options.auth.gate?.limited ?? (options.auth.rateLimits?.size ?? 0) > 0 }) : base;
  });
  app.decorate('openApiDocument', openApiDocument);
  app.addHook('onReady', async () => {
    core!.on('event', () => openApiDocument.invalidate());
  });
  // @fastify/swagger-ui answers /docs/yaml as bare application/x-yaml, set after transformSpecification
  // runs (so not settable there): without a charset a browser may read the UTF-8 of a model's
  // description as Latin-1. An onSend hook of that route alone, added when it is registered.
  app.addHook('onRoute', (route) => {
    if (route.url !== '/docs/yaml') return;
    const charset: import('fastify').onSendHookHandler = (_request, reply, payload, done) => {
      reply.header('content-type', 'application/x-yaml; charset=utf-8');
      done(null, payload);
    };
    route.onSend = route.onSend === undefined ? [charset] : [...[route.onSend].flat(), charset];
  });
  await app.register(swagger, { openapi: { openapi: '3.0.3', info: { title: 'modelserve', version: VERSION } } });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    // filter: a box that narrows the operations by tag (one tag per model: hundreds with a large repository).
    uiConfig: { tryItOutEnabled: true, displayRequestDuration: true, filter: true },
    transformSpecificationClone: false,
    // /docs/json (what Swagger UI reads) gets the serialised text; /docs/yaml the object, to turn into YAML.
    transformSpecification: (_spec, request, reply) => {
      if (request.url.split('?')[0]!.endsWith('/yaml')) return openApiDocument.object();
      void reply.type('application/json; charset=utf-8');
      return openApiDocument.json() as unknown as Record<string, unknown>;
    },
  });
  app.get('/openapi.json', { schema: { hide: true } }, async (_request, reply) => reply.type('application/json; charset=utf-8').send(openApiDocument.json()));

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) => {
    const reason = notReady();
    if (reason !== undefined) return sendError(reply, 'MS_ERR_NOT_READY', reason);
    return { status: 'ready', models: core!.servingVersions().map((v) => v.name).sort() };
  });

  app.get('/', { schema: { hide: true } }, async () => {
    const defaultName = core!.defaultModelName;
    const defaultVersion = defaultName === undefined ? undefined : core!.peek(defaultName);
    if (defaultVersion?.config.rootResponse) return defaultVersion.config.rootResponse;
    return {
      service: 'modelserve',
      version: VERSION,
      models: core!.status().map((m) => ({ name: m.name, version: m.serving ?? null, state: m.state, ...modelRoutes(m.name, core!.peek(m.name)) })),
      default_model: defaultName ?? null,
      docs: '/docs',
      openapi: '/openapi.json',
    };
  });
  app.get('/models', { schema: { hide: true } }, async () => ({ models: core!.status().map((status) => modelStatusInfo(status, core!.peek(status.name))) }));
  app.get<{ Params: { name: string } }>('/models/:name', { schema: { hide: true } }, async (request) => {
    const [status] = core!.status(request.params.name);
    return modelStatusInfo(status!, core!.peek(request.params.name));
  });

  // Canary split and shadow traffic per model (its config's traffic: / sticky: / shadow:).
  const traffic = new TrafficRouter({ core: () => core!, observer: metrics?.shadow, log: app.log });
  app.decorate('traffic', traffic);
  // Authentication, rate limits and CORS run in Fastify's hooks: with any of them on, every request takes Fastify's route.
  if (options.fastPath !== false && !options.auth && !(options.corsOrigins && options.corsOrigins.length > 0)) {
    fastPath = predictFastPath({
      core: () => core,
      bodyLimit: app.initialConfig.bodyLimit ?? 1024 * 1024,
      metrics,
      accessLog: accessLog ? app.log : undefined,
      log: app.log,
      routed: (name) => traffic.routed(name),
    });
  }
  const predict = async (model: ServableVersion, body: unknown, reply: import('fastify').FastifyReply, deadline?: number) => {
    reply.header('x-model-version', model.versionHeader);
    const validated = model.validate(body);
    if (!validated.ok) return reply.code(422).send({ detail: validated.issues });
    const predictions = await model.predict(validated.rows, deadline ?? deadlineFrom(reply.request.headers[TIMEOUT_HEADER], model.config.queue.timeoutMs), { requestId: reply.request.id, frontDoor: 'http', client: reply.request.raw.socket, batch: validated.batch });
    traffic.mirror(model, validated.rows, predictions, reply.request.id);
    reply.type('application/json; charset=utf-8');
    return validated.batch ? model.serialize.many(predictions) : model.serialize.one(predictions[0]!);
  };
  // The loaded version at once (the hot path); else a load on demand (memory budget) first.
  const serve = (name: string, version: number | undefined, body: unknown, reply: import('fastify').FastifyReply) => {
    version ??= traffic.pick(name, (sticky) => stickyKey(sticky, reply.request.headers, body));
    const ready = core!.resolve(name, version);
    if (ready !== undefined) return predict(ready, body, reply);
    // A load on demand first: the caller's deadline (if it sent one) bounds the load too.
    const header = reply.request.headers[TIMEOUT_HEADER];
    const deadline = header === undefined ? undefined : deadlineFrom(header, 0);
    return core!.acquire(name, version, deadline).then((v) => predict(v, body, reply, deadline === undefined ? undefined : Math.min(deadline, v.config.queue.timeoutMs > 0 ? performance.now() + v.config.queue.timeoutMs : Infinity)));
  };
  const modelBeforeContinue = unknownModelBeforeContinue(() => core);
  app.post<{ Params: { name: string } }>('/models/:name/predict', { schema: { hide: true }, onRequest: shed, preParsing: modelBeforeContinue }, async (request, reply) =>
    serve(request.params.name, undefined, request.body, reply));
  app.post<{ Params: { name: string; version: string } }>('/models/:name/versions/:version/predict', { schema: { hide: true }, onRequest: shed, preParsing: modelBeforeContinue }, async (request, reply) => {
    // '' cannot reach here (the router needs a segment): parseVersion answers a number or throws.
    return serve(request.params.name, parseVersion(request.params.version), request.body, reply);
  });
  const noDefaultModel = () => new ModelServeError('MS_ERR_MODEL_NOT_FOUND', `no default model: ${core!.modelNames().length} models are served and none is marked default: true; use /models/{name}/predict`);
  // Without a default model the answer is a 404 whatever the body: given at once to a client waiting for 100 Continue.
  const noDefaultBeforeContinue = refuseBeforeContinue(() => {
    if (core !== undefined && core.defaultModelName === undefined) throw noDefaultModel();
  });
  app.post('/predict', { schema: { hide: true }, onRequest: shed, preParsing: noDefaultBeforeContinue }, async (request, reply) => {
    const name = core!.defaultModelName;
    if (name === undefined) throw noDefaultModel();
    return serve(name, undefined, request.body, reply);
  });
  await app.register(repositoryRoutes, { core: () => core!, corsOrigins: options.corsOrigins });
  await app.register(oipRoutes, { core: () => core!, stats: statistics, shed, notReady, traffic });
  await app.register(dashboardRoutes, { core: () => core, metrics, redact: options.redact ?? [] });
  return app;
}
