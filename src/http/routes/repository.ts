// The model-repository extension of the Open Inference Protocol (Triton's): list every model and
// version with its state, and load or unload a model while the service runs. With auth on, only
// admin keys may call these (see plugins/auth.ts).
import type { FastifyPluginAsync } from 'fastify';
import type { InferenceCore } from '../../core/core.js';

export interface RepositoryRoutesOptions {
  core: () => InferenceCore;
}

export const repositoryRoutes: FastifyPluginAsync<RepositoryRoutesOptions> = async (app, options) => {
  const hide = { schema: { hide: true } };
  // Triton's index: [{name, version, state, reason}], one entry per version (a model with none: one entry without version).
  app.post('/v2/repository/index', hide, async () =>
    options.core().status().flatMap((m) => {
      const rows = m.versions.map((v) => ({ name: m.name, version: String(v.version), state: v.state.toUpperCase(), reason: v.reason ?? '' }));
      return rows.length > 0 ? rows : [{ name: m.name, version: '', state: m.state.toUpperCase(), reason: '' }];
    }));
  app.post<{ Params: { name: string } }>('/v2/repository/models/:name/load', hide, async (request) => {
    const status = await options.core().loadModel(request.params.name);
    return { name: status.name, state: status.state, serving_version: status.serving ?? null, versions: status.versions };
  });
  app.post<{ Params: { name: string } }>('/v2/repository/models/:name/unload', hide, async (request) => {
    const status = await options.core().unloadModel(request.params.name);
    return { name: status.name, state: status.state, versions: status.versions };
  });
};
