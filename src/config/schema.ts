// JSON Schema of a model config file as written by users (snake_case keys). Validated with ajv
// (allErrors) so that every problem is reported at once; cross-field checks live in load.ts.

const scalar = { type: ['number', 'string', 'boolean'] };

/** A field's types (load.ts checks values against them only for one of these). */
export const FIELD_TYPES = ['number', 'integer', 'string', 'boolean'] as const;

const field = {
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  properties: {
    type: { enum: [...FIELD_TYPES] },
    required: { type: 'boolean' },
    default: scalar,
    minimum: { type: 'number' },
    maximum: { type: 'number' },
    enum: { type: 'array', minItems: 1, items: scalar },
    description: { type: 'string' },
    example: scalar,
  },
};

const tensor = {
  type: 'object',
  additionalProperties: false,
  required: ['fields'],
  properties: {
    fields: { type: 'array', minItems: 1, items: { type: 'string' } },
    type: { enum: ['float32', 'float64', 'int32', 'int64', 'string', 'bool'] },
    scale: {
      type: 'object',
      additionalProperties: false,
      properties: {
        file: { type: 'string', minLength: 1 },
        mean: { type: 'array', items: { type: 'number' } },
        scale: { type: 'array', items: { type: 'number', not: { const: 0 } } },
      },
    },
  },
};

/**
 * The largest `column:` index: no row of an output is that wide (2^31 float32s are 8 GB), and 1e300 was taken
 * for an output of no fixed width, which the load cannot check against the model.
 */
export const MAX_OUTPUT_COLUMN = 2_147_483_646;

const output = {
  type: 'object',
  additionalProperties: false,
  required: ['from'],
  properties: {
    from: { type: 'string', minLength: 1 },
    map: { type: 'object', minProperties: 1, additionalProperties: { type: 'string' } },
    column: { type: 'integer', minimum: 0, maximum: MAX_OUTPUT_COLUMN },
  },
  not: { required: ['map', 'column'] },
};

/**
 * A field's name: an identifier, and not __proto__, which as a key of the objects the server
 * builds from it (rows, schemas) would set their prototype instead.
 */
/** The longest model name: the HTTP router's limit on a path parameter (a longer one could not be addressed by any URL). */
export const MAX_MODEL_NAME_LENGTH = 100;

/** A model name made from a file or folder name (init's default, and the folder the hint for a model file names): lower-case letters, digits, - and _. */
export function modelNameFrom(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^[^a-z0-9]+/, '').replace(/-+$/, '') || 'model';
}

export const NAME_PATTERN = '^(?!__proto__$)[A-Za-z_][A-Za-z0-9_]*$';
const identifier = { type: 'string', pattern: NAME_PATTERN };
/** Keys that are not fields (tensor and output names): any string but __proto__. */
const anyKeyButProto = { not: { const: '__proto__' } };
const modelName = { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]*$' };
/** A version number: a version folder's name has at most 9 digits (load.ts), so a larger one names no version. */
export const MAX_VERSION = 999_999_999;
const versionNumber = { type: 'integer', minimum: 1, maximum: MAX_VERSION };
/** The longest timeout a Node timer takes (2^31 - 1 ms, about 24.8 days): past it, setTimeout fires at once. */
export const MAX_TIMEOUT_MS = 2_147_483_647;
/** The most rows a model's queue may hold: far past any memory budget (each row is an object of its fields), and 1e300 was taken. */
export const MAX_QUEUE_ROWS = 10_000_000;

/**
 * The largest ensemble member weight: weights are relative, so a million to one is past any real use,
 * and unbounded ones (1e308) summed to Infinity and made every weighted mean NaN.
 */
export const MAX_ENSEMBLE_WEIGHT = 1_000_000;

const remoteStep = {
  type: 'object',
  additionalProperties: false,
  required: ['url', 'fields', 'outputs'],
  properties: {
    url: { type: 'string', pattern: '^https?://' },
    protocol: { enum: ['modelserve', 'json', 'oip'] },
    model: { type: 'string', minLength: 1 },
    timeout_ms: { type: 'integer', minimum: 1, maximum: 600000 },
    retries: { type: 'integer', minimum: 0, maximum: 10 },
    idempotent: { type: 'boolean' },
    max_in_flight: { type: 'integer', minimum: 1, maximum: 10000 },
    fields: { type: 'object', minProperties: 1, additionalProperties: field, propertyNames: { pattern: NAME_PATTERN } },
    outputs: { type: 'object', minProperties: 1, additionalProperties: { enum: ['number', 'integer', 'string', 'boolean', 'any'] }, propertyNames: { pattern: NAME_PATTERN } },
  },
};

const condition = {
  type: 'object',
  additionalProperties: false,
  required: ['field'],
  minProperties: 2,
  maxProperties: 2,
  properties: {
    field: identifier,
    equals: scalar,
    in: { type: 'array', minItems: 1, items: scalar },
    range: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: { gt: { type: 'number' }, gte: { type: 'number' }, lt: { type: 'number' }, lte: { type: 'number' } },
    },
  },
};

const step = {
  type: 'object',
  additionalProperties: false,
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z0-9_-]+$' },
    model: modelName,
    version: versionNumber,
    remote: remoteStep,
    inputs: { type: 'object', additionalProperties: identifier },
    weight: { type: 'number', exclusiveMinimum: 0, maximum: MAX_ENSEMBLE_WEIGHT },
    when: condition,
    default: { const: true },
  },
};

const steps = { type: 'array', minItems: 1, items: step };

// A pipeline: exactly one of sequence / ensemble / switch (checked in load.ts for a clear message).
const pipeline = {
  type: 'object',
  additionalProperties: false,
  properties: {
    sequence: steps,
    ensemble: steps,
    switch: steps,
    // Selection and renames of the answer: a list of fields, or output -> field.
    outputs: {
      oneOf: [
        { type: 'array', minItems: 1, items: identifier },
        { type: 'object', minProperties: 1, additionalProperties: identifier, propertyNames: { pattern: NAME_PATTERN } },
      ],
    },
    combine: {
      type: 'object',
      minProperties: 1,
      propertyNames: { pattern: NAME_PATTERN },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        minProperties: 1,
        maxProperties: 1,
        properties: { mean: identifier, weighted_mean: identifier, vote: identifier },
      },
    },
  },
};

export const MODEL_CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  // fields / inputs / outputs are required of a model and refused for a pipeline (load.ts).
  properties: {
    pipeline,
    // Canary split of name-only requests between versions: {2: 90, 3: 10}.
    traffic: {
      type: 'object',
      minProperties: 1,
      propertyNames: { pattern: '^[1-9][0-9]{0,8}$' },
      additionalProperties: { type: 'number', minimum: 0, maximum: 100 },
    },
    sticky: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      maxProperties: 1,
      properties: { header: { type: 'string', pattern: '^[A-Za-z0-9-]+$' }, field: identifier },
    },
    shadow: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: {
        model: modelName,
        version: versionNumber,
        percent: { type: 'number', minimum: 0, maximum: 100 },
        timeout_ms: { type: 'integer', minimum: 1, maximum: 600000 },
        max_in_flight: { type: 'integer', minimum: 1, maximum: 100000 },
        sample_disagreements: { type: 'number', minimum: 0, maximum: 1 },
      },
    },
    name: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]*$', maxLength: MAX_MODEL_NAME_LENGTH },
    version: { type: ['string', 'number'] },
    description: { type: 'string' },
    model: { type: 'string', minLength: 1 },
    format: { enum: ['onnx', 'xgboost'] },
    default: { type: 'boolean' },
    strict: { type: 'boolean' },
    lax: { type: 'boolean' },
    optimize: { type: 'boolean' },
    root_response: { type: 'object' },
    // This model's MQTT topics (the server's templates otherwise); no wildcards.
    mqtt: {
      type: 'object',
      additionalProperties: false,
      properties: {
        request_topic: { type: 'string', minLength: 1, pattern: '^[^#+]+$' },
        predictions_topic: { type: 'string', minLength: 1, pattern: '^[^#+]+$' },
        errors_topic: { type: 'string', minLength: 1, pattern: '^[^#+]+$' },
      },
    },
    // Which numbered version folders are served (Triton's version_policy): the newest N, all, or a list.
    version_policy: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      maxProperties: 1,
      properties: {
        latest: versionNumber,
        all: { const: true },
        specific: { type: 'array', minItems: 1, items: versionNumber },
      },
    },
    fields: { type: 'object', minProperties: 1, additionalProperties: field, propertyNames: { pattern: NAME_PATTERN } },
    inputs: { type: 'object', minProperties: 1, additionalProperties: tensor, propertyNames: anyKeyButProto },
    outputs: { type: 'object', minProperties: 1, additionalProperties: output, propertyNames: anyKeyButProto },
    batching: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean' },
        max_batch_size: { type: 'integer', minimum: 1, maximum: 65536 },
        max_queue_delay_ms: { type: 'number', minimum: 0, maximum: 10000 },
      },
    },
    queue: {
      type: 'object',
      additionalProperties: false,
      properties: {
        max_rows: { type: 'integer', minimum: 1, maximum: MAX_QUEUE_ROWS },
        timeout_ms: { type: 'integer', minimum: 0, maximum: MAX_TIMEOUT_MS },
      },
    },
  },
} as const;

export const DEFAULTS = {
  model: 'model.onnx',
  batching: { enabled: true, maxBatchSize: 64, maxQueueDelayMs: 0 },
  queue: { maxRows: 4096, timeoutMs: 30000 },
} as const;
