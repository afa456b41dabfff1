// buildApp(options) assembles the Fastify application; it does not listen (see src/server.ts),
// so tests can use inject() or listen on port 0. Models are loaded in the onReady lifecycle hook:
// a model that fails to load makes ready()/listen() reject, so there is never a half-started server.
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { ModelConfig } from '../config/types.js';
import { defaultModel } from '../config/load.js';
import { ModelRegistry, type RegistryOptions, type ServedModel } from '../models/registry.js';
import type { InferenceRuntime } from '../runtime/types.js';
import { buildOpenApiDocument } from './openapi.js';
import { installErrorBoundary, sendError } from './errors.js';
import { modelInfo } from './model-info.js';
import { VERSION } from '../version.js';
import { Metrics } from '../metrics/metrics.js';
import { installAuth, withSecuritySchemes, type AuthOptions } from './plugins/auth.js';
import { installCors } from './plugins/cors.js';
import { installMetrics } from './plugins/metrics.js';
import { loadShedding } from './plugins/load-shedding.js';
import { installSecurityHeaders } from './plugins/security-headers.js';
import { installContentEncoding } from './plugins/content-encoding.js';
import { lowLevelErrorOptions } from './low-level-errors.js';

export interface AppOptions {
  configs: readonly ModelConfig[];
  runtime: InferenceRuntime;
  /** Max request body in bytes (413 past it). */
  bodyLimit?: number;
  /** pino logger options, or false. */
  logger?: FastifyServerOptions['logger'];
  /** Load-time optimiser on/off for every model (each config can also turn it off). */
  optimize?: boolean;
  /** Extra registry hooks (metrics). */
  registry?: Omit<RegistryOptions, 'optimize'>;
  /** API-key / bearer auth (off when absent). */
  auth?: AuthOptions;
  /** CORS allowed origins ('*' for any); CORS is off when absent or empty. */
  corsOrigins?: readonly string[];
  /** Prometheus metrics: a Metrics instance to use, or false for none (default: a new one). */
  metrics?: Metrics | false;
}

export type ServiceState = 'starting' | 'ready' | 'draining';

declare module 'fastify' {
  interface FastifyInstance {
    /** The loaded models; available once ready() resolved. */
    registry: ModelRegistry;
    serviceState: ServiceState;
    /** Prometheus metrics of this app (undefined when disabled). */
    metrics: Metrics | undefined;
  }
}

/** Routes that are never access-logged nor refused by overload protection; /healthz and /readyz are never authenticated (/metrics is, unless publicMetrics). */
export const PROBE_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { configs, runtime } = options;
  const defaultConfig = defaultModel(configs);
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    // Fastify's own per-request lines off (the onResponse hook below writes one access line).
    logController: new LogController({ disableRequestLogging: true }),
    // JSON.parse makes __proto__ an own data property (no pollution): the validator treats it, and
    // constructor, as unknown fields like any other (ignored, or 422 with strict: true).
    onProtoPoisoning: 'ignore',
    onConstructorPoisoning: 'ignore',
    ...lowLevelErrorOptions(),
    // genReqId reads X-Request-Id itself (with requestIdHeader set, Fastify would take any value
    // of the header verbatim and never call genReqId).
    requestIdHeader: false,
    // Accept a caller's X-Request-Id only when it is short and plain (it goes into logs).
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    // While closing, Fastify answers requests that arrive on already-open keep-alive connections
    // with `Connection: close`; with return503OnClosing: false it also still serves them (the
    // instance can: its workers run until the drain ends) instead of refusing them with a 503, so
    // a client mid-stream loses nothing and reconnects elsewhere. The drain timeout bounds it.
    return503OnClosing: false,
    // Slow-upload guard: a request must arrive completely within 60 s (Node's headersTimeout
    // already bounds the headers).
    requestTimeout: 60_000,
  });
  app.decorate('serviceState', 'starting' as ServiceState);
  app.decorate('registry', undefined as unknown as ModelRegistry);
  const metrics = options.metrics === false ? undefined : (options.metrics ?? new Metrics());
  app.decorate('metrics', metrics);
  installErrorBoundary(app);
  // Per-request hooks are callback-style: on the one main thread an async hook's promise is a
  // measurable share of a request's cost.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    // Draining: keep-alive clients are told to reconnect (to another instance) after this response.
    if (app.serviceState === 'draining') reply.header('connection', 'close');
    done();
  });
  installSecurityHeaders(app);
  if (options.corsOrigins && options.corsOrigins.length > 0) await installCors(app, options.corsOrigins);
  if (options.auth) installAuth(app, options.auth);
  const shed = loadShedding(app);
  // Only JSON bodies: drop Fastify's built-in text/plain parser so other types get 415.
  app.removeContentTypeParser('text/plain');
  installContentEncoding(app);

  // Decided once: below info there is no access-log hook at all.
  if (['trace', 'debug', 'info'].includes(app.log.level)) {
    app.addHook('onResponse', (request, reply, done) => {
      if (!PROBE_ROUTES.has(request.routeOptions.url ?? '')) {
        request.log.info({ method: request.method, url: request.url, status: reply.statusCode, ms: Number(reply.elapsedTime.toFixed(3)) }, 'request');
      }
      done();
    });
  }

  const extraOnBatch = options.registry?.onBatch;
  const onBatch: RegistryOptions['onBatch'] = metrics === undefined ? extraOnBatch : (model) => {
    const a = metrics.batchObserver(model);
    const b = extraOnBatch?.(model);
    return b === undefined ? a : (info) => { a(info); b(info); };
  };
  app.addHook('onReady', async () => {
    app.registry = await ModelRegistry.load(configs, runtime, { ...options.registry, onBatch, optimize: options.optimize });
    if (metrics) {
      for (const name of app.registry.models.keys()) metrics.setModelLoaded(name, true);
      const models = [...app.registry.models.entries()];
      metrics.setQueueSource(function* () {
        for (const [name, m] of models) {
          const stats = m.batcher.stats();
          yield [name, stats.queuedRows, stats.inFlightBatches];
        }
      });
    }
  });
  app.addHook('onClose', async () => {
    // Requests are all answered by now; batches whose requests already timed out (504) may still
    // be running: let them finish before the workers stop.
    await app.registry?.drain();
    await runtime.close();
    if (metrics) for (const c of configs) metrics.setModelLoaded(c.name, false);
  });
  if (metrics) {
    metrics.setReadySource(() => app.serviceState === 'ready');
    installMetrics(app, { metrics, models: configs.map((c) => c.name), defaultModel: defaultConfig?.name });
  }

  const baseDocument = buildOpenApiDocument(configs, { title: 'modelserve', version: VERSION, defaultModel: defaultConfig });
  const document = options.auth ? withSecuritySchemes(baseDocument) : baseDocument;
  await app.register(swagger, { openapi: { openapi: '3.0.3', info: { title: 'modelserve', version: VERSION } }, transformObject: () => document as never });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { tryItOutEnabled: true, displayRequestDuration: true } });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) => {
    if (app.serviceState === 'ready') return { status: 'ready', models: [...app.registry.models.keys()] };
    return sendError(reply, 'MS_ERR_NOT_READY', app.serviceState === 'draining' ? 'shutting down' : 'models are loading');
  });

  app.get('/', { schema: { hide: true } }, async () => {
    if (defaultConfig?.rootResponse) return defaultConfig.rootResponse;
    return {
      service: 'modelserve',
      version: VERSION,
      models: configs.map((c) => ({ name: c.name, version: c.version, predict: `/models/${c.name}/predict` })),
      default_model: defaultConfig?.name ?? null,
      docs: '/docs',
      openapi: '/openapi.json',
    };
  });
  app.get('/models', { schema: { hide: true } }, async () => ({ models: [...app.registry.models.values()].map((m) => modelInfo(m)) }));
  app.get<{ Params: { name: string } }>('/models/:name', { schema: { hide: true } }, async (request) => modelInfo(app.registry.get(request.params.name)));

  const predict = async (model: ServedModel, body: unknown, reply: import('fastify').FastifyReply) => {
    const validated = model.validate(body);
    if (!validated.ok) return reply.code(422).send({ detail: validated.issues });
    const predictions = await model.predict(validated.rows);
    reply.type('application/json; charset=utf-8');
    return validated.batch ? model.serialize.many(predictions) : model.serialize.one(predictions[0]!);
  };
  app.post<{ Params: { name: string } }>('/models/:name/predict', { schema: { hide: true }, onRequest: shed }, async (request, reply) =>
    predict(app.registry.get(request.params.name), request.body, reply));
  app.post('/predict', { schema: { hide: true }, onRequest: shed }, async (request, reply) => {
    const model = app.registry.defaultModel;
    if (!model) {
      return sendError(reply, 'MS_ERR_MODEL_NOT_FOUND', `no default model: ${configs.length} models are served and none is marked default: true; use /models/{name}/predict`);
    }
    return predict(model, request.body, reply);
  });
  return app;
}
