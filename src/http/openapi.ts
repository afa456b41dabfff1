// The service's OpenAPI 3.0 document, built from the model configs: every model gets its own
// request/response schemas, descriptions and examples, so Swagger UI's "Try it out" works as is.
import type { FieldSpec, ModelConfig, OutputSpec } from '../config/types.js';
import { exampleRow } from '../core/model-version.js';
import { rowSchema, type Row } from '../validation/request-validator.js';
import { OIP_SCHEMAS, oipPaths, operationIdNames, VERSIONED_ID_SUFFIX, versionParameter, type LoadedVersion } from '../protocols/oip/openapi.js';
import { declareRequestId, failureTexts, MODEL_VERSION_HEADER, MODEL_VERSION_IF_REACHED_HEADER, REQUEST_ID_HEADER, RESPONSE_HEADERS, RETRY_AFTER_HEADER, WWW_AUTHENTICATE_HEADER } from '../protocols/openapi-statuses.js';

type Schema = Record<string, unknown>;

function pascal(name: string): string {
  return name.split(/[-_]/).filter(Boolean).map((s) => s[0]!.toUpperCase() + s.slice(1)).join('');
}

/**
 * Each model's prefix of its schema names (`WeatherRequest`): its name in PascalCase, unless
 * another model's is the same (my-model, my_model) or a shared schema has the name (a model
 * oip-inference and OipInferenceRequest); then its name as written plus '_', which no PascalCase
 * name holds, so one model's schemas never replace another's.
 */
function schemaPrefixes(configs: readonly ModelConfig[], shared: Record<string, Schema>): Map<string, string> {
  const count = new Map<string, number>();
  for (const c of configs) count.set(pascal(c.name), (count.get(pascal(c.name)) ?? 0) + 1);
  const taken = (prefix: string) => count.get(prefix)! > 1 || `${prefix}Request` in shared || `${prefix}Response` in shared;
  return new Map(configs.map((c) => [c.name, taken(pascal(c.name)) ? `${c.name}_` : pascal(c.name)]));
}

/** A field's documented schema: exactly the one the validator enforces (bounds included), plus words and an example. */
function fieldSchema(f: FieldSpec, enforced: Schema): Schema {
  const s: Schema = { ...enforced };
  if (f.description) s.description = f.description;
  if (f.example !== undefined) s.example = f.example;
  return s;
}

function outputSchema(o: OutputSpec): Schema {
  switch (o.kind) {
    case 'label': {
      // A value the map does not name is answered as the model gave it (README, "outputs"), so the
      // labels are no enum (it refused those). Nor an anyOf of the labels' enum and any string, which
      // said the same: client generators typed that as unknown, or a wrapper class, not a string.
      const labels = [...new Set(Object.values(o.map))];
      return {
        type: 'string',
        description: `Output '${o.from}' mapped to a class label (${labels.join(', ')}); a value the map does not name is answered as the model's own (its decimal digits).`,
        ...(labels.length > 0 ? { example: labels[0] } : {}),
      };
    }
    // JSON has no NaN or Infinity: a non-finite value is answered as null.
    case 'column': return { type: 'number', nullable: true, description: `Column ${o.column} of output '${o.from}' (null where the model gave NaN or ±Infinity).` };
    case 'raw': {
      const scalar = { oneOf: [{ type: 'number', nullable: true }, { type: 'string' }, { type: 'boolean' }] };
      return { description: `The raw values of output '${o.from}' for this row: a number (null for NaN or ±Infinity), a string or a boolean, as the output's element type; an array of them when the row has several.`, oneOf: [...scalar.oneOf, { type: 'array', items: scalar }] };
    }
  }
}

const ERROR_SCHEMAS: Record<string, Schema> = {
  ValidationError: {
    type: 'object',
    required: ['loc', 'msg', 'type'],
    properties: {
      loc: { type: 'array', items: { oneOf: [{ type: 'string' }, { type: 'integer' }] } },
      msg: { type: 'string' },
      type: { type: 'string' },
      ctx: { type: 'object' },
    },
  },
  HTTPValidationError: {
    type: 'object',
    required: ['detail'],
    properties: { detail: { type: 'array', items: { $ref: '#/components/schemas/ValidationError' } } },
  },
  Error: {
    type: 'object',
    required: ['detail', 'code'],
    properties: {
      detail: { type: 'string', description: 'What went wrong.' },
      code: { type: 'string', description: 'Stable error code (MS_ERR_…), documented in docs/errors.md.' },
      request_id: { type: 'string' },
    },
  },
};

export function errorResponse(description: string, ref = 'Error', headers: Schema = {}): Schema {
  return { description, headers: { ...REQUEST_ID_HEADER, ...headers }, content: { 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } } };
}

function predictOperation(config: ModelConfig, name: string, operationId: string, summary: string, example: Row): Schema {
  const failures = failureTexts(config, "x-modelserve-timeout-ms or the model's queue.timeout_ms");
  return {
    tags: [config.name],
    summary,
    description: `${config.description}\n\nSend one object of fields for one prediction, or an array of objects for one prediction each (same order).`.trim(),
    operationId,
    requestBody: {
      required: true,
      content: {
        'application/json': {
          schema: { oneOf: [{ $ref: `#/components/schemas/${name}Request` }, { type: 'array', minItems: 1, items: { $ref: `#/components/schemas/${name}Request` } }] },
          example,
        },
      },
    },
    responses: {
      200: {
        description: 'The prediction (an array of predictions for an array request).',
        headers: MODEL_VERSION_HEADER,
        content: { 'application/json': { schema: { oneOf: [{ $ref: `#/components/schemas/${name}Response` }, { type: 'array', items: { $ref: `#/components/schemas/${name}Response` } }] } } },
      },
      400: errorResponse('The body is not valid JSON.'),
      413: errorResponse('The body is larger than the limit.'),
      415: errorResponse('The Content-Type is not application/json.'),
      422: errorResponse(`Some fields are invalid: each is named with its location.${failures.stepValidation ? ` ${failures.stepValidation} Its issues' loc starts with ['step', <step>] (a switch's no_branch: ['body', <row>, <field>]).` : ''}`, 'HTTPValidationError', MODEL_VERSION_HEADER),
      503: errorResponse(failures[503], 'Error', { ...RETRY_AFTER_HEADER, ...MODEL_VERSION_IF_REACHED_HEADER }),
      504: errorResponse(failures[504], 'Error', MODEL_VERSION_IF_REACHED_HEADER),
      500: errorResponse('onnxruntime failed on this request (MS_ERR_INFERENCE); details are in the log under the request id.', 'Error', MODEL_VERSION_IF_REACHED_HEADER),
      502: errorResponse(failures[502], 'Error', MODEL_VERSION_IF_REACHED_HEADER),
    },
  };
}

/** Which version a name-only prediction reaches: the traffic split's pick when the model has one, else the newest ready. */
function predictSummary(config: ModelConfig): string {
  const split = config.routing?.traffic;
  if (split) return `Predict with ${config.name} (a traffic split: ${split.map((s) => `version ${s.version} ${s.percent} %`).join(', ')}; X-Model-Version says which answered)`;
  return `Predict with ${config.name} (the newest ready version, now ${config.modelVersion})`;
}

export interface OpenApiOptions {
  title: string;
  version: string;
  /** One of the configs: served on POST /predict too. */
  defaultModel?: ModelConfig;
  /**
   * A model's serving version, once loaded: its signature documents the bounds enforced on fields
   * feeding int32/int64 inputs, and a raw model's graph inputs give its OIP infer example.
   */
  loaded?: LoadedVersion;
  /**
   * The configs of every version of a model that serves or can (a traffic split or a version in the
   * path reaches each): the schemas then hold what each version answers and needs, not only the newest's.
   */
  versions?: (model: string) => readonly ModelConfig[];
}

/**
 * A model's request and response schemas over its versions (the documented config first): a request
 * sends every field some version requires; a response holds the outputs every version answers.
 */
function versionSchemas(versions: readonly ModelConfig[], loaded: LoadedVersion | undefined): { request: Schema; response: Schema; example: Row } {
  const [config] = versions as [ModelConfig, ...ModelConfig[]];
  const fields = new Map<string, Schema>();
  const required = new Set<string>();
  const example = exampleRow(config);
  for (const version of versions) {
    // The serving version's signature bounds fields feeding integer inputs; another version's config alone.
    const enforced = rowSchema(version, version === config ? loaded?.(config.name)?.signature : undefined) as { properties: Record<string, Schema>; required: string[] };
    for (const f of version.fields) if (!fields.has(f.name)) fields.set(f.name, fieldSchema(f, enforced.properties[f.name]!));
    for (const name of enforced.required) {
      required.add(name);
      if (!(name in example)) example[name] = exampleRow(version)[name];
    }
  }
  const outputs = new Map<string, Schema>();
  for (const version of versions) for (const o of version.outputs) if (!outputs.has(o.field)) outputs.set(o.field, outputSchema(o));
  const answeredByAll = [...outputs.keys()].filter((field) => versions.every((v) => v.outputs.some((o) => o.field === field)));
  return {
    request: {
      type: 'object',
      description: `Input fields of model '${config.name}'.`,
      // OpenAPI 3.0's schema object wants at least one name in `required` (a model whose fields
      // may all be absent, e.g. an XGBoost model's missing values, has none).
      ...(required.size > 0 ? { required: [...required] } : {}),
      properties: Object.fromEntries(fields),
      additionalProperties: !config.strict,
    },
    // As for a request: no empty `required` (versions of a traffic split may share no output).
    response: { type: 'object', ...(answeredByAll.length > 0 ? { required: answeredByAll } : {}), properties: Object.fromEntries(outputs) },
    example,
  };
}

export function buildOpenApiDocument(configs: readonly ModelConfig[], options: OpenApiOptions): Schema {
  const schemas: Record<string, Schema> = { ...ERROR_SCHEMAS, ...OIP_SCHEMAS };
  const paths: Record<string, Schema> = {};
  const fieldModels = configs.filter((c) => c.kind !== 'raw'); // raw: no fields, served over the Open Inference Protocol only (below)
  const prefixes = schemaPrefixes(fieldModels, schemas);
  const examples = new Map<string, Row>();
  const idNames = operationIdNames(configs.map((c) => c.name));
  // The documented config first, then every other version that serves or can (a fields model's).
  const versionsOf = (config: ModelConfig): [ModelConfig, ...ModelConfig[]] => [config, ...(options.versions?.(config.name) ?? []).filter((c) => c.kind !== 'raw' && c.modelVersion !== config.modelVersion)];
  for (const config of fieldModels) {
    const name = prefixes.get(config.name)!;
    const { request, response, example } = versionSchemas(versionsOf(config), options.loaded);
    schemas[`${name}Request`] = request;
    schemas[`${name}Response`] = response;
    examples.set(config.name, example);
    paths[`/models/${config.name}/predict`] = { post: predictOperation(config, name, `predict_${idNames.get(config.name)!}`, predictSummary(config), example) };
    const versioned = predictOperation(config, name, `predict_${idNames.get(config.name)!}${VERSIONED_ID_SUFFIX}`, `Predict with one version of ${config.name}`, example);
    versioned.parameters = [versionParameter(config)];
    (versioned.responses as Record<string, unknown>)[404] = errorResponse('No such version.');
    paths[`/models/${config.name}/versions/{version}/predict`] = { post: versioned };
  }
  const repositoryOperation = (operationId: string, summary: string, description: string, withName: boolean): Schema => ({
    post: {
      tags: ['repository'], summary, description, operationId,
      ...(withName ? { parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }] } : {}),
      responses: {
        200: { description: 'Done.', content: { 'application/json': { schema: withName ? { type: 'object' } : { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, version: { type: 'string' }, state: { type: 'string' }, reason: { type: 'string' } } } } } } },
        400: errorResponse('The model could not be loaded (the message names the file and every problem).', 'OipError'),
        401: errorResponse('No valid API key.', 'OipError', WWW_AUTHENTICATE_HEADER),
        403: errorResponse('The key is not an admin key.', 'OipError'),
        404: errorResponse('No such model.', 'OipError'),
        413: errorResponse('The body is larger than the limit (--body-limit).', 'OipError'),
      },
    },
  });
  paths['/v2/repository/index'] = repositoryOperation('repository_index', 'Every model and version with its state', 'Triton\'s model-repository extension: one entry per version, with state (READY, LOADING, FAILED, UNLOADING, UNAVAILABLE) and the reason of a failure; `{"ready": true}` lists only the versions ready for inference.', false);
  const index = paths['/v2/repository/index'].post as Schema;
  index.requestBody = { required: false, content: { 'application/json': { schema: { type: 'object', properties: { ready: { type: 'boolean', description: 'Only the versions ready for inference.' } } } } } };
  (index.responses as Schema)[422] = errorResponse('The body is not an object, or its ready is not a boolean (MS_ERR_VALIDATION).', 'OipError');
  paths['/v2/repository/models/{name}/load'] = repositoryOperation('repository_load', 'Load (or reload) a model', 'Reads the model folder again and loads the versions its policy selects; the previous load serves until the new one is warm.', true);
  paths['/v2/repository/models/{name}/unload'] = repositoryOperation('repository_unload', 'Unload a model', 'Stops routing to the model, lets queued requests finish, then releases its sessions. It stays unloaded until loaded again.', true);
  Object.assign(paths, oipPaths(configs, options.loaded, versionsOf, idNames));
  if (options.defaultModel && options.defaultModel.kind !== 'raw') {
    paths['/predict'] = { post: predictOperation(options.defaultModel, prefixes.get(options.defaultModel.name)!, 'predict', `Predict with the default model (${options.defaultModel.name})`, examples.get(options.defaultModel.name)!) };
  }
  const plain = (description: string) => ({ 200: { description, content: { 'application/json': { schema: { type: 'object' } } } } });
  paths['/'] = { get: { tags: ['service'], summary: 'Service information', operationId: 'service_info', responses: plain('Service name, version, models and where the docs are.') } };
  paths['/models'] = { get: { tags: ['service'], summary: 'List the served models', operationId: 'list_models', responses: plain('The served models.') } };
  paths['/models/{name}'] = {
    get: {
      tags: ['service'], summary: "A model's fields, outputs, version and ONNX signature", operationId: 'get_model',
      // The example is the value "Try it out" starts with: without one Swagger UI shows the enum's
      // first name but holds none, and Execute sends nothing. No enum with no models (OpenAPI wants one).
      parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string', ...(configs.length > 0 ? { enum: configs.map((c) => c.name) } : {}) }, ...(configs.length > 0 ? { example: configs[0]!.name } : {}) }],
      responses: { ...plain('The model.'), 404: errorResponse('No such model.') },
    },
  };
  paths['/healthz'] = { get: { tags: ['probes'], summary: 'Liveness', operationId: 'healthz', responses: plain('The process is alive.') } };
  paths['/readyz'] = { get: { tags: ['probes'], summary: 'Readiness', operationId: 'readyz', responses: { ...plain('Every model is loaded and warmed up.'), 503: errorResponse('Starting, shutting down, or no inference worker can take a run (all quarantined or restarting).') } } };
  declareRequestId(paths);
  return {
    openapi: '3.0.3',
    info: { title: options.title, version: options.version, description: `Served by modelserve. Models: ${configs.map((c) => `${c.name} v${c.modelVersion}`).join(', ') || 'none'}.` },
    paths,
    components: { schemas, headers: RESPONSE_HEADERS },
  };
}

/**
 * The document and its JSON text, built on the first read after the models changed: with hundreds of
 * models one build and serialisation take ~0.1 s and megabytes, so the reads between changes share them.
 */
export class CachedDocument {
  private document: Record<string, unknown> | undefined;
  private text: string | undefined;
  /** How many times the document was built (the tests count rebuilds with it). */
  builds = 0;

  constructor(private readonly build: () => Record<string, unknown>) {}

  object(): Record<string, unknown> {
    if (this.document === undefined) {
      this.document = this.build();
      this.builds += 1;
    }
    return this.document;
  }

  json(): string {
    return (this.text ??= JSON.stringify(this.object()));
  }

  invalidate(): void {
    this.document = undefined;
    this.text = undefined;
  }
}
