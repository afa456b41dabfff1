// The Open Inference Protocol (KServe / Triton "V2") over REST on the main port: health, server and
// model metadata, inference (JSON tensors and Triton's binary tensor extension), and Triton's model
// configuration and statistics extensions. An encapsulated plugin: its body parser (any content
// type, read as bytes) and its error shape ({"error": "…"}, which tritonclient reads on any non-200)
// apply to these routes only. The codec and the answers live in src/protocols/oip (shared with gRPC).
import type { FastifyPluginAsync, FastifyReply, onRequestHookHandler } from 'fastify';
import type { InferenceCore } from '../../core/core.js';
import type { ServableVersion } from '../../core/servable.js';
import { ERRORS, ModelServeError, type ErrorCode } from '../../errors.js';
import { oipErrorBody } from '../errors.js';
import { acquire, modelConfig, modelMetadata, modelStatistics, restError, restInfer, serverMetadata, whyModelNotReady } from '../../protocols/oip/service.js';
import type { InferenceStatistics } from '../../protocols/oip/statistics.js';
import type { ClientProbe } from '../../core/prediction-tap.js';
import { deadlineFrom, TIMEOUT_HEADER } from '../../protocols/deadline.js';
import { bodyTooLarge } from '../../protocols/json-body.js';
import { unknownModelBeforeContinue } from '../low-level-errors.js';
import { stickyKey } from '../../traffic/sticky.js';
import type { TrafficRouter } from '../../traffic/router.js';

export interface OipRoutesOptions {
  core: () => InferenceCore;
  stats: InferenceStatistics;
  /** The prediction routes' early load shedding (plugins/load-shedding.ts). */
  shed?: onRequestHookHandler;
  /** Why the service is not ready (as /readyz says), or undefined when it is. */
  notReady: () => string | undefined;
  /** The models' traffic splits, which a name-only infer follows (sticky by header: the request's). */
  traffic?: TrafficRouter;
}

type Params = { name: string; version?: string };

export const oipRoutes: FastifyPluginAsync<OipRoutesOptions> = async (app, options) => {
  const { stats } = options;
  const hide = { schema: { hide: true } };

  // Inference bodies are JSON, or JSON followed by binary tensors: read every body as bytes.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    if (error instanceof ModelServeError) {
      const answer = restError(error, request.id);
      if (answer.logAsError) request.log.error({ err: error, cause: error.cause }, answer.logAsError);
      return reply.code(answer.status).headers(answer.headers ?? {}).send(oipErrorBody(answer.code, answer.message, request.id));
    }
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || error.statusCode === 413) return fail(reply, 'MS_ERR_BODY_TOO_LARGE', bodyTooLarge(app.initialConfig.bodyLimit ?? 1024 * 1024).message);
    // Any media type is read as JSON (+ binary tensors); only an empty or unparsable header gets here.
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return fail(reply, 'MS_ERR_UNSUPPORTED_MEDIA_TYPE', `the Content-Type header ${JSON.stringify(String(request.headers['content-type'] ?? '').slice(0, 100))} is not a media type: send application/json (or application/octet-stream with Inference-Header-Content-Length for binary tensors)`);
    if (error.statusCode !== undefined && error.statusCode < 500) return reply.code(error.statusCode).send(oipErrorBody('MS_ERR_BAD_REQUEST', error.message, request.id));
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send(oipErrorBody('MS_ERR_INTERNAL', `internal server error; see the server log for request ${request.id}`, request.id));
  });

  const fail = (reply: FastifyReply, code: ErrorCode, message: string) => reply.code(ERRORS[code].status).send(oipErrorBody(code, message, reply.request.id));

  app.get('/v2', hide, async () => serverMetadata());
  app.get('/v2/health/live', hide, async () => ({ live: true }));
  // KServe's readiness probe: it follows /readyz (a required MQTT broker included), in the /v2 error shape.
  app.get('/v2/health/ready', hide, async (request, reply) => {
    const reason = options.notReady();
    if (reason === undefined) return { ready: true };
    return reply.code(503).send({ ...oipErrorBody('MS_ERR_NOT_READY', reason, request.id), ready: false });
  });

  const ready = async (request: { params: Params }, reply: FastifyReply) => {
    const { name, version } = request.params;
    // An unknown model or version throws: 404 MS_ERR_MODEL_NOT_FOUND, naming what is served.
    const why = whyModelNotReady(options.core(), name, version);
    if (why === undefined) return { name, ready: true };
    return reply.code(400).send({ ...oipErrorBody('MS_ERR_MODEL_NOT_READY', `model '${name}'${version ? ` version ${version}` : ''} is not ready: ${why}`, reply.request.id), name, ready: false });
  };
  app.get<{ Params: Params }>('/v2/models/:name/ready', hide, ready);
  app.get<{ Params: Params }>('/v2/models/:name/versions/:version/ready', hide, ready);

  // The version answering carries x-model-version, as on the infer routes (a client asking for the
  // model's latest learns which one it described).
  const metadata = async (request: { params: Params }, reply: FastifyReply) => {
    const version = await acquire(options.core(), request.params.name, request.params.version);
    reply.header('x-model-version', version.versionHeader);
    return modelMetadata(options.core(), version);
  };
  app.get<{ Params: Params }>('/v2/models/:name', hide, metadata);
  app.get<{ Params: Params }>('/v2/models/:name/versions/:version', hide, metadata);

  const config = async (request: { params: Params }, reply: FastifyReply) => {
    const version = await acquire(options.core(), request.params.name, request.params.version);
    reply.header('x-model-version', version.versionHeader);
    return modelConfig(version);
  };
  app.get<{ Params: Params }>('/v2/models/:name/config', hide, config);
  app.get<{ Params: Params }>('/v2/models/:name/versions/:version/config', hide, config);

  const statistics = async (request: { params: Partial<Params> }) => ({ model_stats: modelStatistics(options.core(), stats, request.params.name, request.params.version) });
  app.get<{ Params: Partial<Params> }>('/v2/models/stats', hide, statistics);
  app.get<{ Params: Params }>('/v2/models/:name/stats', hide, statistics);
  app.get<{ Params: Params }>('/v2/models/:name/versions/:version/stats', hide, statistics);

  const infer = async (request: { id: string; params: Params; body: unknown; headers: Record<string, string | string[] | undefined>; raw: { socket: ClientProbe } }, reply: FastifyReply) => {
    const { name } = request.params;
    // The caller's x-modelserve-timeout-ms, as on the JSON routes: it bounds a load on demand and the request (the model's own queue.timeout_ms still applies when sooner).
    const deadline = deadlineFrom(request.headers[TIMEOUT_HEADER], 0);
    // (A split sticky by a field draws at random here: the field is a tensor, decoded only for the version chosen.)
    const split = options.traffic && ((model: string) => options.traffic!.pick(model, (sticky) => stickyKey(sticky, request.headers, undefined)));
    const version: ServableVersion = await acquire(options.core(), name, request.params.version, deadline, split);
    // Set before the body is read, as the JSON routes do: a refusal from here on (bad tensors, overload, a deadline) names the version that would have served it (header, metrics label).
    reply.header('x-model-version', version.versionHeader);
    const body = request.body;
    if (!Buffer.isBuffer(body)) return fail(reply, 'MS_ERR_BAD_TENSOR', 'the request has no body; send an inference request object');
    const headerLength = request.headers['inference-header-content-length'];
    const response = await restInfer(version, body, typeof headerLength === 'string' ? headerLength : undefined, { client: request.raw.socket, deadline, requestId: request.id });
    if (response.headerLength === undefined) return reply.type('application/json').send(response.body);
    return reply.type('application/octet-stream').header('inference-header-content-length', response.headerLength).send(response.body);
  };
  const shed = options.shed ? { onRequest: options.shed } : {};
  const preParsing = unknownModelBeforeContinue(options.core);
  app.post<{ Params: Params }>('/v2/models/:name/infer', { ...hide, ...shed, preParsing }, infer);
  app.post<{ Params: Params }>('/v2/models/:name/versions/:version/infer', { ...hide, ...shed, preParsing }, infer);
};
