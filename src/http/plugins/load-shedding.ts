// Early load shedding for prediction routes. The batcher refuses a request whose rows would push
// its model's queue past queue.max_rows — but only after Fastify has read, parsed and validated the
// body, which under heavy overload costs the main thread nearly as much as serving it (goodput
// collapses: the CPU goes into refusing). This onRequest hook refuses, before the body is read, the
// requests the batcher would certainly refuse: those arriving while the queue already holds
// max_rows rows (no request of one row or more fits then). Same answer: 503, MS_ERR_OVERLOADED,
// Retry-After: 1. It is a route-level hook of the prediction routes only (app.ts), so probes,
// /metrics and every other route never run it.
import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import { parseVersion } from '../../protocols/version-param.js';

export function loadShedding(app: FastifyInstance): onRequestHookHandler {
  return (request, _reply, done) => {
    const core = app.core;
    if (core === undefined) return done();
    const params = request.params as { name?: string; version?: string };
    const name = params.name ?? core.defaultModelName;
    if (name === undefined || !core.has(name)) return done(); // the handler answers 404
    // A name-only request to a model with a traffic split: which version's queue it meets is the split's
    // pick, made by the handler (the newest version's full queue — a slow canary's — is not every version's).
    if (params.version === undefined && app.traffic.routed(name)) return done();
    let model;
    try {
      // (A version the routes do not read as one, '01' or '1e0', throws here too: the handler answers its 404.)
      model = core.resolve(name, parseVersion(params.version));
    } catch {
      return done(); // the handler answers 404
    }
    if (model === undefined) return done(); // not loaded: the handler loads it or answers 503
    // Refused by the batcher itself, the same refusal as at submit() (not in the statistics, in /metrics).
    done(model.batcher.shed?.());
  };
}
