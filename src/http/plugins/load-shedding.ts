// Early load shedding for prediction routes. The batcher refuses a request whose rows would push
// its model's queue past queue.max_rows — but only after Fastify has read, parsed and validated the
// body, which under heavy overload costs the main thread nearly as much as serving it (goodput
// collapses: the CPU goes into refusing). This onRequest hook refuses, before the body is read, the
// requests the batcher would certainly refuse: those arriving while the queue already holds
// max_rows rows (no request of one row or more fits then). Same answer: 503, MS_ERR_OVERLOADED,
// Retry-After: 1. Probes, /metrics and every other route are never affected.
import type { FastifyInstance } from 'fastify';
import { ModelServeError } from '../../errors.js';

const PREDICT_ROUTES = new Set(['/predict', '/models/:name/predict']);

export function installLoadShedding(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    if (request.method !== 'POST' || !PREDICT_ROUTES.has(request.routeOptions.url ?? '')) return;
    const registry = app.registry;
    if (registry === undefined) return;
    const name = (request.params as { name?: string }).name;
    const model = name === undefined ? registry.defaultModel : registry.models.get(name);
    if (model === undefined) return; // the handler answers 404
    const { queuedRows } = model.batcher.stats();
    const limit = model.config.queue.maxRows;
    if (queuedRows >= limit) {
      throw new ModelServeError('MS_ERR_OVERLOADED', `model '${model.config.name}' is overloaded: ${queuedRows} rows are waiting (limit ${limit}); retry later`, {
        headers: { 'retry-after': '1' },
      });
    }
  });
}
