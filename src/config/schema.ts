// JSON Schema of a model config file as written by users (snake_case keys). Validated with ajv
// (allErrors) so that every problem is reported at once; cross-field checks live in load.ts.

const scalar = { type: ['number', 'string', 'boolean'] };

const field = {
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  properties: {
    type: { enum: ['number', 'integer', 'string', 'boolean'] },
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

const output = {
  type: 'object',
  additionalProperties: false,
  required: ['from'],
  properties: {
    from: { type: 'string', minLength: 1 },
    map: { type: 'object', minProperties: 1, additionalProperties: { type: 'string' } },
    column: { type: 'integer', minimum: 0 },
  },
  not: { required: ['map', 'column'] },
};

export const MODEL_CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['fields', 'inputs', 'outputs'],
  properties: {
    name: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]*$' },
    version: { type: ['string', 'number'] },
    description: { type: 'string' },
    model: { type: 'string', minLength: 1 },
    format: { enum: ['onnx', 'xgboost'] },
    default: { type: 'boolean' },
    strict: { type: 'boolean' },
    lax: { type: 'boolean' },
    optimize: { type: 'boolean' },
    root_response: { type: 'object' },
    // Which numbered version folders are served (Triton's version_policy): the newest N, all, or a list.
    version_policy: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      maxProperties: 1,
      properties: {
        latest: { type: 'integer', minimum: 1 },
        all: { const: true },
        specific: { type: 'array', minItems: 1, items: { type: 'integer', minimum: 1 } },
      },
    },
    fields: { type: 'object', minProperties: 1, additionalProperties: field, propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]*$' } },
    inputs: { type: 'object', minProperties: 1, additionalProperties: tensor },
    outputs: { type: 'object', minProperties: 1, additionalProperties: output },
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
        max_rows: { type: 'integer', minimum: 1 },
        timeout_ms: { type: 'integer', minimum: 0 },
      },
    },
  },
} as const;

export const DEFAULTS = {
  model: 'model.onnx',
  batching: { enabled: true, maxBatchSize: 64, maxQueueDelayMs: 0 },
  queue: { maxRows: 4096, timeoutMs: 30000 },
} as const;
