// The validated, frozen shape of a model's config (model.yaml / model.json). See README "Config reference".
import type { ElementType } from '../runtime/types.js';

export type FieldType = 'number' | 'integer' | 'string' | 'boolean';

export interface FieldSpec {
  name: string;
  type: FieldType;
  required: boolean;
  default?: number | string | boolean;
  minimum?: number;
  maximum?: number;
  enum?: Array<number | string | boolean>;
  description?: string;
  example?: number | string | boolean;
}

export interface TensorSpec {
  /** ONNX input name. */
  name: string;
  /** Fields concatenated in this order into a [N, k] tensor (or [N] when the model input is 1-D). */
  fields: string[];
  /** Element type; when omitted it is taken from the model's input metadata. */
  type?: ElementType;
  /** Optional standard scaling applied per column: (x - mean) / scale. */
  scale?: { mean: number[]; scale: number[] };
}

export type OutputSpec =
  /** Class-label mapping: the output's value for the row, looked up in `map` (keys are the stringified values). */
  | { field: string; from: string; kind: 'label'; map: Record<string, string> }
  /** One column of the output's row as a number, e.g. the probability of class 1 (from any numeric or bool output). */
  | { field: string; from: string; kind: 'column'; column: number }
  /** The row's raw values: a scalar when the row has one element, else an array. */
  | { field: string; from: string; kind: 'raw' };

export interface BatchingSpec {
  enabled: boolean;
  /** Max rows per session.run. */
  maxBatchSize: number;
  /** Max time the first queued row waits for others, in ms. */
  maxQueueDelayMs: number;
}

export interface QueueSpec {
  /** Max rows waiting for inference; past it requests get 503 + Retry-After. */
  maxRows: number;
  /** Per-request deadline in ms (504 past it); 0 disables. */
  timeoutMs: number;
}

/** Which numbered versions of a model are served (Triton's latest / all / specific). */
export type VersionPolicy = { latest: number } | { all: true } | { specific: number[] };

/**
 * How clients see a model: 'fields' (a config names fields, inputs and outputs: the JSON API and OIP
 * tensors per field) or 'raw' (a folder with only an .onnx file: served over the Open Inference
 * Protocol with the ONNX graph's own inputs and outputs, no JSON fields API).
 */
export type ModelKind = 'fields' | 'raw';

export interface ModelConfig {
  name: string;
  /** Absent: 'fields'. A 'raw' config is synthesized (no fields, inputs or outputs). */
  kind?: ModelKind;
  /** The config's free-form `version:` label (e.g. "1.0"); the served version number is modelVersion. */
  version: string;
  /** The version number: the numbered folder it was read from, or 1 for a flat model folder. */
  modelVersion: number;
  /** The model's version policy (from the model folder's config, else the newest version's). */
  versionPolicy: VersionPolicy;
  description: string;
  /** Absolute path of the version's folder and of its config file (for messages). */
  dir: string;
  /** The model folder (the version folder's parent; the same as dir for a flat layout). */
  modelDir: string;
  configFile: string;
  /** Absolute path of the model file: .onnx, or XGBoost's JSON with format xgboost. */
  modelFile: string;
  /** The model file as its config's `model:` writes it (absent: the default name); how API clients read a file outside the repository. */
  modelAsWritten?: string;
  /** xgboost: the file is XGBoost's JSON model, converted to ONNX at load (src/xgboost). */
  format?: 'onnx' | 'xgboost';
  default: boolean;
  /** Reject unknown fields (422) instead of ignoring them. */
  strict: boolean;
  /** pydantic-1 lax parsing: "84" -> 84 for numbers, true -> "True" for strings. */
  lax: boolean;
  fields: FieldSpec[];
  tensors: TensorSpec[];
  outputs: OutputSpec[];
  batching: BatchingSpec;
  queue: QueueSpec;
  /** Rewrite classic-ML operators (SVM, Scaler) into dense tensor ops at load. */
  optimize: boolean;
  /** When this model is the default, GET / answers exactly this object (e.g. the article's message). */
  rootResponse?: Record<string, unknown>;
  /** This model's MQTT topics, overriding the server's templates (--mqtt-*-topic). */
  mqtt?: { requestTopic?: string; predictionsTopic?: string; errorsTopic?: string };
  /**
   * Set for a pipeline (a config with `pipeline:` instead of `model:`): its steps. Then modelFile is
   * '' and tensors is empty; fields and outputs are derived from the steps when the core loads it.
   */
  pipeline?: PipelineSpec;
  /** Model-level traffic routing (canary split, shadow); read like version_policy. */
  routing?: RoutingSpec;
}

// --- pipelines (src/pipelines) -----------------------------------------------------------------

/** A field's value type as a pipeline sees it flow between steps. */
export type ValueType = FieldType | 'any';

export interface RemoteStepSpec {
  /** modelserve: base URL + model (POST {url}/models/{model}/predict); json: the predict URL itself; oip: base URL + model (POST {url}/v2/models/{model}/infer). */
  protocol: 'modelserve' | 'json' | 'oip';
  url: string;
  model?: string;
  timeoutMs: number;
  retries: number;
  /** Predictions have no side effects, so a failed connection may be retried (false: never retry). */
  idempotent: boolean;
  maxInFlight: number;
  /** What the service takes (request fields). */
  fields: FieldSpec[];
  /** What it answers: field -> type. */
  outputs: Array<{ field: string; type: ValueType }>;
}

export type StepCondition =
  | { field: string; equals: number | string | boolean }
  | { field: string; in: Array<number | string | boolean> }
  | { field: string; range: { gt?: number; gte?: number; lt?: number; lte?: number } };

export interface PipelineStepSpec {
  /** Unique within the pipeline; names the step in errors and metrics. */
  name: string;
  /** Key path of the step in the config (messages). */
  path: string;
  /** A model (or pipeline) of the same repository... */
  model?: { name: string; version?: number };
  /** ...or a remote service. */
  remote?: RemoteStepSpec;
  /** The step's field <- a field available at this point (request fields and earlier steps' outputs). */
  inputs: Record<string, string>;
  /** Ensemble weight (weighted mean, vote). */
  weight: number;
  /** Switch: the condition routing a row here; undefined for the default branch. */
  when?: StepCondition;
  isDefault: boolean;
  /** Derived at load (src/pipelines/check.ts): the fields the step answered then, which the pipeline reads. */
  answers?: string[];
}

export type CombineMethod = 'mean' | 'weighted_mean' | 'vote';

export interface PipelineSpec {
  kind: 'sequence' | 'ensemble' | 'switch';
  steps: PipelineStepSpec[];
  /** Selection and renames of the answer: output field <- available field (sequence, switch). */
  outputs?: Record<string, string>;
  /** Ensemble: output field <- how the steps' values of a field are combined. */
  combine?: Record<string, { method: CombineMethod; from: string }>;
  /** Derived at load (src/pipelines/check.ts): each response field's type (OIP metadata, a nested pipeline's type checks). */
  outputTypes?: Record<string, ValueType>;
}

// --- traffic routing (src/traffic) -----------------------------------------------------------

export interface RoutingSpec {
  /** The config file it is read from: the model folder's own when there is one (a problem in it names that file). */
  file: string;
  /** Version -> percentage of name-only requests (sums to 100). */
  traffic?: Array<{ version: number; percent: number }>;
  /** Sticky split: the same header value or field value always gets the same version. */
  sticky?: { header: string } | { field: string };
  /** Mirror every request to another version of this model or another model. */
  shadow?: { model?: string; version?: number; percent: number; timeoutMs: number; maxInFlight: number; sampleDisagreements: number };
}
