// The Open Inference Protocol routes in the OpenAPI document: the shared V2 schemas, and per model
// its infer/metadata paths with the view it has ('fields': one tensor per field; 'raw': the ONNX
// graph's own tensors). Valid OpenAPI 3.0 (checked with swagger-parser in the tests).
import type { ModelConfig } from '../../config/types.js';
import { exampleRow } from '../../core/model-version.js';
import { DATATYPES } from './tensors.js';
import type { ServableVersion } from '../../core/servable.js';
import { DECLARED, viewOf, type TensorMetadata } from './codec.js';
import { failureTexts, INFERENCE_HEADER_LENGTH_HEADER, MODEL_VERSION_HEADER, MODEL_VERSION_IF_REACHED_HEADER, RETRY_AFTER_HEADER } from '../openapi-statuses.js';

type Schema = Record<string, unknown>;

const parameters = { type: 'object', additionalProperties: { oneOf: [{ type: 'string' }, { type: 'number' }, { type: 'boolean' }] } };
const tensorMeta = { type: 'object', required: ['name', 'datatype', 'shape'], properties: { name: { type: 'string' }, datatype: { type: 'string', enum: [...DATATYPES] }, shape: { type: 'array', items: { type: 'integer' } } } };

export const OIP_SCHEMAS: Record<string, Schema> = {
  OipError: { type: 'object', required: ['error'], properties: { error: { type: 'string', description: 'What went wrong (names the tensor for bad input).' } } },
  OipParameters: parameters,
  OipTensorMetadata: tensorMeta,
  OipRequestInput: {
    type: 'object',
    required: ['name', 'shape', 'datatype'],
    properties: {
      name: { type: 'string' },
      shape: { type: 'array', items: { type: 'integer', minimum: 0 } },
      datatype: { type: 'string', enum: [...DATATYPES] },
      parameters: { $ref: '#/components/schemas/OipParameters' },
      data: { type: 'array', items: {}, description: 'Row-major elements, flat or nested (absent with parameters.binary_data_size).' },
    },
  },
  OipInferenceRequest: {
    type: 'object',
    required: ['inputs'],
    properties: {
      id: { type: 'string' },
      parameters: { $ref: '#/components/schemas/OipParameters' },
      inputs: { type: 'array', minItems: 1, items: { $ref: '#/components/schemas/OipRequestInput' } },
      outputs: { type: 'array', items: { type: 'object', required: ['name'], properties: { name: { type: 'string' }, parameters: { allOf: [{ $ref: '#/components/schemas/OipParameters' }], description: 'binary_data (true: this output as binary data); classification (Triton\'s classification extension: a positive integer K, the output answered instead as BYTES "<value>:<index>[:<label>]", the top K of each row, largest first).' } } } },
    },
  },
  OipInferenceResponse: {
    type: 'object',
    required: ['model_name', 'outputs'],
    properties: {
      model_name: { type: 'string' },
      model_version: { type: 'string' },
      id: { type: 'string' },
      parameters: { $ref: '#/components/schemas/OipParameters' },
      outputs: { type: 'array', items: { type: 'object', required: ['name', 'shape', 'datatype'], properties: { name: { type: 'string' }, shape: { type: 'array', items: { type: 'integer' } }, datatype: { type: 'string' }, parameters: { $ref: '#/components/schemas/OipParameters' }, data: { type: 'array', items: {} } } } },
    },
  },
  OipModelMetadata: {
    type: 'object',
    required: ['name', 'platform', 'inputs', 'outputs'],
    properties: {
      name: { type: 'string' }, versions: { type: 'array', items: { type: 'string' } }, platform: { type: 'string' },
      inputs: { type: 'array', items: { $ref: '#/components/schemas/OipTensorMetadata' } },
      outputs: { type: 'array', items: { $ref: '#/components/schemas/OipTensorMetadata' } },
      properties: { type: 'object', properties: { view: { type: 'string', enum: ['fields', 'raw'] } } },
    },
  },
};

const json = (ref: string) => ({ 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } });
const error = (description: string) => ({ description, content: json('OipError') });
/** An inference's failure once its version was picked (its tensors, queue, deadline, run) names that version, as the JSON routes' do. */
const reachedError = (description: string, headers: Record<string, unknown> = {}) => ({ ...error(description), headers: { ...headers, ...MODEL_VERSION_IF_REACHED_HEADER } });
const object = (description: string) => ({ 200: { description, content: { 'application/json': { schema: { type: 'object' } } } } });

function viewText(config: ModelConfig): string {
  if (config.kind === 'raw') return `View: **raw** — served from its .onnx file (no model.yaml): the inputs and outputs are the ONNX graph's own (see GET /v2/models/${config.name}); the request example, once the model is loaded, is zeros of each input with variable dimensions as 1 (none when an input declares no shape: no tensor is known to fit the graph). No JSON fields API.`;
  const inputs = config.fields.map((f) => `\`${f.name}\` (${DECLARED[f.type]})`).join(', ');
  return `View: **fields** — one input tensor per field, shape [N] or [N, 1]: ${inputs}; one output tensor per response field: ${config.outputs.map((o) => `\`${o.field}\``).join(', ')}.`;
}

/** The version of a model that is serving now, else undefined (a raw model's view is read from its loaded graph). */
export type LoadedVersion = (model: string) => ServableVersion | undefined;

/** Past this many elements a raw example (an image, say) would bloat the document: none is given. */
const MAX_RAW_EXAMPLE_ELEMENTS = 1024;

/**
 * A loaded raw model's graph inputs (a fields model's example comes from its fields). None when an
 * input declares no shape: no tensor is known to fit the graph (a [1] of zero would not fit a MatMul).
 */
function rawInputsOf(version: ServableVersion | undefined): readonly TensorMetadata[] | undefined {
  if (version === undefined || version.signature.inputs.some((i) => i.shapeDeclared === false)) return undefined;
  return viewOf(version).inputs;
}

/** One zero-filled tensor per graph input, variable dimensions as 1 (a batch of one row). */
function rawExample(inputs: readonly TensorMetadata[] | undefined): Schema | undefined {
  if (inputs === undefined || inputs.length === 0) return undefined;
  let elements = 0;
  const tensors = inputs.map((t) => {
    const shape = t.shape.map((d) => (d < 0 ? 1 : d));
    const count = shape.reduce((a, b) => a * b, 1);
    elements += count;
    const zero = t.datatype === 'BOOL' ? false : t.datatype === 'BYTES' ? '' : 0;
    return { name: t.name, datatype: t.datatype, shape, data: new Array<unknown>(count).fill(zero) };
  });
  return elements <= MAX_RAW_EXAMPLE_ELEMENTS ? { inputs: tensors } : undefined;
}

/**
 * A fields model's infer example that every version of it accepts (a traffic split may send a name-only
 * request to any): the newest's fields that every version takes as the same tensor, when every version's
 * required fields are among them; else undefined (an unknown tensor is a 400, not ignored as a JSON field is).
 */
function exampleForEveryVersion(versions: readonly [ModelConfig, ...ModelConfig[]]): Schema | undefined {
  const [newest] = versions;
  const tensorOf = (version: ModelConfig, name: string) => { const f = version.fields.find((field) => field.name === name); return f && DECLARED[f.type]; };
  const shared = newest.fields.filter((f) => versions.every((v) => tensorOf(v, f.name) === DECLARED[f.type]));
  if (shared.length === 0 || !versions.every((v) => v.fields.every((f) => !f.required || shared.some((s) => s.name === f.name)))) return undefined;
  const row = exampleRow(newest);
  return { inputs: shared.map((f) => ({ name: f.name, datatype: DECLARED[f.type], shape: [1, 1], data: [row[f.name]] })) };
}

/**
 * The infer request body's example, which "Try it out" sends: with a fields-view model, one row of the
 * fields' examples that every version accepts when there is one, else the newest version's (`forNewestOnly`:
 * the description says so); with a raw one that is loaded, zeros of the graph's inputs.
 */
function inferRequestBody(versions: readonly [ModelConfig, ...ModelConfig[]], loaded?: LoadedVersion): { body: Schema; forNewestOnly: boolean } {
  const [config] = versions;
  const every = config.kind === 'raw' ? undefined : exampleForEveryVersion(versions);
  const example = every ?? (config.kind === 'raw' ? rawExample(rawInputsOf(loaded?.(config.name))) : exampleForEveryVersion([config]));
  return { body: { schema: { $ref: '#/components/schemas/OipInferenceRequest' }, ...(example ? { example } : {}) }, forNewestOnly: config.kind !== 'raw' && every === undefined };
}

/** What the metadata and config routes answer when the model cannot be read now (they take a serving version, loading it on demand). */
const notServing = {
  404: error('No such model.'),
  503: error('The model cannot serve now: unloaded through the repository API, or every version failed to load (MS_ERR_MODEL_UNAVAILABLE); or the service is shutting down.'),
  504: error('Loading the model on demand (--max-loaded-models) outlived its queue.timeout_ms (MS_ERR_TIMEOUT).'),
};

/**
 * Ends the operation id of a versioned route (predict_weather_byVersion): its capital V is in no model
 * name ([a-z0-9_-]), so no model's own ids can equal another's versioned ones (a model named
 * weather_version had the id predict_weather_version of weather's versioned route).
 */
export const VERSIONED_ID_SUFFIX = '_byVersion';

/**
 * An operation id as client generators fold it into a method name: openapi-generator camel-cases at
 * every character but letters and digits (predict_my-model and predict_my_model are both
 * predictMyModel) and dedups methods case-insensitively.
 */
export function foldOperationId(id: string): string {
  return id.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/**
 * The part of each model's operation ids that names it (predict_<part>, oip_infer_<part>_byVersion):
 * its name as written, unless another model's ids fold to the same method names (my-model and
 * my_model; a and a-by-version, whose predict id folds as a's versioned one). Then the name that sorts
 * first keeps its own and each other gets the first free `_2`, `_3`, ...: names that collide with
 * none keep their ids (generated clients call them), and the result does not depend on the order.
 */
export function operationIdNames(names: readonly string[]): Map<string, string> {
  const suffix = foldOperationId(VERSIONED_ID_SUFFIX);
  // Every model's ids are <prefix>_<part>[_byVersion] with the same prefixes: two collide when these meet.
  const keys = (part: string) => [foldOperationId(part), foldOperationId(part) + suffix];
  const owners = new Map<string, number>();
  for (const name of names) for (const key of new Set(keys(name))) owners.set(key, (owners.get(key) ?? 0) + 1);
  const colliding = (name: string) => keys(name).some((key) => owners.get(key)! > 1);
  const parts = new Map<string, string>();
  const taken = new Set<string>();
  const take = (name: string, part: string) => { parts.set(name, part); for (const key of keys(part)) taken.add(key); };
  for (const name of names) if (!colliding(name)) take(name, name);
  for (const name of [...names].filter(colliding).sort()) {
    let part = name;
    for (let n = 2; keys(part).some((key) => taken.has(key)); n++) part = `${name}_${n}`;
    take(name, part);
  }
  return parts;
}

/** The version path parameter of the versioned routes (JSON REST's and OIP's). */
export function versionParameter(config: ModelConfig): Schema {
  return { name: 'version', in: 'path', required: true, description: 'The version number (a numbered folder of the model).', schema: { type: 'integer', minimum: 1, example: config.modelVersion } };
}

/** A model's OIP operations under `base`: the model's own paths, or one version's (`{version}` in base: 404 for no such version). */
function modelPaths(versions: readonly [ModelConfig, ...ModelConfig[]], description: string, loaded: LoadedVersion | undefined, base: string, idSuffix: string, idName: string): Record<string, Schema> {
  const [config] = versions;
  const n = config.name;
  const request = inferRequestBody(versions, loaded);
  const exampleNote = request.forNewestOnly ? `\n\nThe example is version ${config.modelVersion}'s: no one request suits every version (their tensors differ), and ${config.routing?.traffic ? 'the traffic split may send a name-only request to another version' : 'another version takes other tensors'}; send a version's own tensors to /v2/models/${n}/versions/{version}/infer.` : '';
  const versioned = idSuffix !== '';
  const which = versioned ? `one version of ${n}` : n;
  const noVersion = versioned ? { 404: error('No such version.') } : {};
  const failures = failureTexts(config, "x-modelserve-timeout-ms, parameters.timeout or the model's queue.timeout_ms");
  const operation = (id: string, op: Schema): Schema => ({ tags: [n], operationId: `${id}_${idName}${idSuffix}`, ...(versioned ? { parameters: [versionParameter(config)] } : {}), ...op });
  return {
    [base]: { get: operation('oip_metadata', { summary: `Metadata of ${which} (OIP)`, description, responses: { 200: { description: 'Model metadata; properties.view says which view the model has.', headers: MODEL_VERSION_HEADER, content: json('OipModelMetadata') }, ...notServing, ...noVersion } }) },
    [`${base}/ready`]: { get: operation('oip_model_ready', { summary: `Is ${which} ready (OIP)`, responses: { ...object('Ready.'), 400: error('Not ready.'), ...noVersion } }) },
    [`${base}/config`]: { get: operation('oip_config', { summary: `Model configuration of ${which} (Triton model_configuration extension)`, responses: { 200: { ...object('Triton ModelConfig as JSON: max_batch_size, input, output; parameters.view.')[200], headers: MODEL_VERSION_HEADER }, ...notServing, ...noVersion } }) },
    [`${base}/stats`]: { get: operation('oip_stats', { summary: `Statistics of ${which} (Triton statistics extension)`, responses: { ...object('model_stats.'), ...noVersion } }) },
    [`${base}/infer`]: {
      post: operation('oip_infer', {
        summary: `Infer with ${which} (Open Inference Protocol)`,
        description: `${description}\n\nJSON tensors, or Triton's binary tensor extension (Inference-Header-Content-Length; binary_data_size on inputs, binary_data / binary_data_output for outputs). An output's parameters.classification = K (Triton's classification extension) answers it as BYTES "<value>:<index>[:<label>]", the top K of each row. parameters.timeout (Triton's): the request's deadline in microseconds, 0 for none.${exampleNote}`,
        requestBody: { required: true, content: { 'application/json': request.body, 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
        responses: {
          200: { description: 'The output tensors (binary ones after the JSON header when asked for).', headers: { ...MODEL_VERSION_HEADER, ...INFERENCE_HEADER_LENGTH_HEADER }, content: { ...json('OipInferenceResponse'), 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
          400: reachedError('Bad input: the message names the tensor.'),
          404: error(versioned ? 'No such version.' : 'No such model or version.'),
          413: error('The body is larger than the limit (--body-limit).'),
          415: error('The Content-Type is neither application/json nor application/octet-stream, or its charset or Content-Encoding is not supported.'),
          ...(failures.stepValidation ? { 422: reachedError(`${failures.stepValidation} The message names the step and its first issue.`) } : {}),
          503: reachedError(failures[503], RETRY_AFTER_HEADER),
          504: reachedError(failures[504]),
          500: reachedError('onnxruntime failed on this request (MS_ERR_INFERENCE); details are in the log under the request id.'),
          502: reachedError(failures[502]),
        },
      }),
    },
  };
}

/** The OIP paths for the served models. */
export function oipPaths(configs: readonly ModelConfig[], loaded?: LoadedVersion, versionsOf: (config: ModelConfig) => readonly [ModelConfig, ...ModelConfig[]] = (config) => [config], idNames = operationIdNames(configs.map((c) => c.name))): Record<string, Schema> {
  const paths: Record<string, Schema> = {};
  const tags = ['open inference protocol'];
  paths['/v2'] = { get: { tags, summary: 'Server metadata (name, version, extensions)', operationId: 'oip_server_metadata', responses: object('Server metadata.') } };
  paths['/v2/health/live'] = { get: { tags, summary: 'Server live', operationId: 'oip_live', responses: object('Live.') } };
  paths['/v2/health/ready'] = { get: { tags, summary: 'Server ready', operationId: 'oip_ready', responses: { ...object('Ready.'), 503: error('Starting, shutting down, or no inference worker can take a run (all quarantined or restarting).') } } };
  // 'oip_stats', not 'oip_stats_all': a model named all has that one.
  paths['/v2/models/stats'] = { get: { tags, summary: 'Statistics of every model (Triton statistics extension)', operationId: 'oip_stats', responses: object('model_stats.') } };
  for (const config of configs) {
    const n = config.name;
    // Operation ids hold the name as the predict operations' do (operationIdNames).
    const description = `${config.description}\n\n${viewText(config)}`.trim();
    const idName = idNames.get(n)!;
    Object.assign(paths, modelPaths(versionsOf(config), description, loaded, `/v2/models/${n}`, '', idName));
    // The same operations on one version (a generated client pins a version over OIP, as with /models/{name}/versions/{version}/predict).
    Object.assign(paths, modelPaths(versionsOf(config), description, loaded, `/v2/models/${n}/versions/{version}`, VERSIONED_ID_SUFFIX, idName));
  }
  return paths;
}
