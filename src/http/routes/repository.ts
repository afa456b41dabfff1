// The model-repository extension of the Open Inference Protocol (Triton's): list every model and
// version with its state, and load or unload a model while the service runs. With auth on, only
// admin keys may call these (see plugins/auth.ts). Errors are OIP's {"error": message} (errors.ts).
import { isIP } from 'node:net';
import type { FastifyPluginAsync } from 'fastify';
import type { InferenceCore } from '../../core/core.js';
import { ModelServeError } from '../../errors.js';
import { checkLoadParameters, checkParametersObject, repositoryIndex } from '../../protocols/oip/service.js';
import { sendError } from '../errors.js';

export interface RepositoryRoutesOptions {
  core: () => InferenceCore;
  /** --cors-origin: other origins whose pages may call these routes ('*': any). */
  corsOrigins?: readonly string[];
}

/**
 * Whether a browser page on another origin sent this request. These routes take any content type
 * (or none), so a browser sends them from any page without a CORS preflight: with auth off, a page
 * the operator visits could unload every model. Browsers always send Origin on such a POST;
 * Triton's clients, curl and the SDKs send none. Same-origin pages on an address or localhost, and
 * --cors-origin ones, may call.
 */
function crossSiteBrowser(origin: string | undefined, host: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined || allowed.includes('*') || allowed.includes(origin)) return false;
  try {
    const page = new URL(origin);
    if (page.host !== (host ?? '').toLowerCase()) return true;
    // Same origin by name alone proves nothing under DNS rebinding: evil.example, re-pointed at this
    // server's address, is "its own origin" to the browser. An address or localhost cannot be re-pointed;
    // a DNS name of this server is trusted once listed in --cors-origin.
    return !(isIP(page.hostname.replace(/^\[|\]$/g, '')) !== 0 || page.hostname === 'localhost' || page.hostname.endsWith('.localhost'));
  } catch {
    return true; // 'null' (a sandboxed frame, a file:// page) and anything unparsable
  }
}

/** A body's options: none (an empty body), else a JSON object; anything else is refused, not ignored. */
function bodyOptions(body: unknown, example: string): Record<string, unknown> {
  if (body === undefined) return {};
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) return body as Record<string, unknown>;
  throw new ModelServeError('MS_ERR_VALIDATION', `body: value is not a valid dict (send an object such as ${example}, or no body)`);
}

export const repositoryRoutes: FastifyPluginAsync<RepositoryRoutesOptions> = async (app, options) => {
  const hide = { schema: { hide: true } };
  app.addHook('onRequest', async (request, reply) => {
    if (!crossSiteBrowser(request.headers.origin, request.headers.host, options.corsOrigins ?? [])) return;
    return sendError(reply, 'MS_ERR_FORBIDDEN', `the repository API cannot be called from a page on ${JSON.stringify(request.headers.origin!.slice(0, 100))}: only from this server's own origin by address or localhost, or one listed in --cors-origin (a DNS name of this server: list it)`);
  });
  // Triton's clients post these with an empty body and often no (or a form) content type: any
  // content type is read as JSON, an empty body as no options.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(new ModelServeError('MS_ERR_BAD_JSON', `request body is not valid JSON: ${(err as Error).message.slice(0, 200)}`), undefined);
    }
  });
  // Triton's index: [{name, version, state, reason}], one entry per version (a model with none: one
  // entry without version); {"ready": true} lists only the versions ready for inference.
  app.post('/v2/repository/index', hide, async (request, reply) => {
    const ready = bodyOptions(request.body, '{"ready": true}').ready;
    if (ready !== undefined && typeof ready !== 'boolean') {
      return sendError(reply, 'MS_ERR_VALIDATION', 'body.ready: value could not be parsed to a boolean');
    }
    return repositoryIndex(options.core(), ready === true);
  });
  app.post<{ Params: { name: string } }>('/v2/repository/models/:name/load', hide, async (request) => {
    checkLoadParameters(bodyOptions(request.body, '{"parameters": {}}').parameters);
    const status = await options.core().loadModel(request.params.name);
    return { name: status.name, state: status.state, serving_version: status.serving ?? null, versions: status.versions };
  });
  app.post<{ Params: { name: string } }>('/v2/repository/models/:name/unload', hide, async (request) => {
    // Its parameters (Triton's unload_dependents) are not read, but ones that are not an object are refused as load's are.
    checkParametersObject(bodyOptions(request.body, '{"parameters": {}}').parameters);
    const status = await options.core().unloadModel(request.params.name);
    return { name: status.name, state: status.state, versions: status.versions };
  });
};
