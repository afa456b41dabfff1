// GET /models and GET /models/{name}: what a client needs to call a model, and the state of each
// of its versions (loading, ready, failed with the reason, unloading, unavailable).
import type { ModelStatus } from '../core/core.js';
import type { ServableVersion } from '../core/servable.js';

export function modelInfo(model: ServableVersion): Record<string, unknown> {
  const { config, signature } = model;
  return {
    name: config.name,
    version: model.version,
    config_version: config.version,
    description: config.description,
    default: config.default,
    // 'fields': the JSON API and OIP tensors per field; 'raw': OIP with the ONNX graph's own tensors only.
    view: config.kind ?? 'fields',
    ...modelRoutes(config.name, model),
    strict: config.strict,
    lax: config.lax,
    fields: config.fields.map((f) => ({
      name: f.name, type: f.type, required: f.required, default: f.default, minimum: f.minimum, maximum: f.maximum, enum: f.enum, description: f.description, example: f.example,
    })),
    outputs: config.outputs.map((o) => ({ field: o.field, from: o.from, kind: o.kind, ...(o.kind === 'label' ? { map: o.map } : o.kind === 'column' ? { column: o.column } : {}) })),
    signature,
    batching: config.batching,
    queue: config.queue,
    optimized: model.optimization ? { changed: model.optimization.changed, rewrites: model.optimization.rewrites.map((r) => `${r.op} ${r.node}`) } : { changed: false, rewrites: [] },
  };
}

/**
 * Where to call a model: the JSON fields API (none for a model served from its .onnx file alone)
 * and OIP. Without a serving version the JSON route is given: the model may be configured for it.
 */
export function modelRoutes(name: string, serving: ServableVersion | undefined): { predict: string | null; infer: string } {
  return { predict: serving?.config.kind === 'raw' ? null : `/models/${name}/predict`, infer: `/v2/models/${name}/infer` };
}

/** A model's status with, when a version serves, that version's details. */
export function modelStatusInfo(status: ModelStatus, serving: ServableVersion | undefined): Record<string, unknown> {
  const head = { name: status.name, state: status.state, serving_version: status.serving ?? null, versions: status.versions };
  return serving === undefined ? { ...head, ...modelRoutes(status.name, undefined) } : { ...modelInfo(serving), ...head };
}
