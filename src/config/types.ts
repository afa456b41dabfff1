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
  /** One column of the output's row as a float, e.g. the probability of class 1. */
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
}
