// What every front door serves: one version of a model — an ONNX model (ModelVersion) or a
// pipeline of models (src/pipelines PipelineVersion). The HTTP, OIP and other adapters depend on
// this interface only, so a pipeline is served exactly like a model.
import type { ModelConfig } from '../config/types.js';
import type { BatcherStats } from '../batching/batcher.js';
import type { ModelServeError } from '../errors.js';
import type { Decoder, PredictionObject } from '../response/decode.js';
import type { Serializers } from '../response/serialize.js';
import type { Encoder } from '../tensors/encode.js';
import type { ModelSignature, NamedTensors } from '../runtime/types.js';
import type { NumberColumn, RequestValidator, Row } from '../validation/request-validator.js';
import type { RequestContext } from './prediction-tap.js';
import type { ClassLinks } from './class-labels.js';

export interface OptimizationSummary {
  changed: boolean;
  rewrites: Array<{ op: string; node: string; detail: string }>;
  skipped: Array<{ op: string; node: string; reason: string }>;
}

export interface InferOptions extends RequestContext {
  /** Absolute deadline in performance.now() ms. */
  deadline?: number;
  /** Outputs to fetch (default: the ones the config's response fields read). */
  outputs?: readonly string[];
}

/**
 * Told of each inference request a version answers, whichever front door sent it (the statistics
 * extension): whether it succeeded, its rows, and its time in the version (queue and run), ms. The
 * core's load-time warm-up run is not reported.
 */
export type RequestObserver = (ok: boolean, rows: number, ms: number) => void;

export interface ServableVersion {
  readonly kind: 'model' | 'pipeline';
  readonly name: string;
  readonly version: number;
  /** The x-model-version header's value. */
  readonly versionHeader: string;
  /** Fields (request) and outputs (response) as served; a pipeline's are derived from its steps. */
  readonly config: ModelConfig;
  /** Tensor-level inputs and outputs (a pipeline: one tensor per request field and per response field). */
  readonly signature: ModelSignature;
  readonly optimization: OptimizationSummary | undefined;
  /** Which classes the graph's probabilities outputs' columns stand for, when a classifier names them (a pipeline: none). */
  readonly classLinks?: ClassLinks;
  readonly validate: RequestValidator;
  readonly encode: Encoder;
  /**
   * Columns of numbers, one per field (OIP input tensors) -> feeds, without building rows: the
   * feeds encode() gives for those rows. Undefined (absent, or as the result) where that shortcut
   * does not apply — a missing column, a value the row validator would refuse or convert, fields
   * that are not all numbers: then the caller builds rows and takes validate() and encode().
   */
  readonly encodeColumns?: (columns: ReadonlyMap<string, NumberColumn>, rows: number) => NamedTensors | undefined;
  readonly decode: Decoder;
  readonly serialize: Serializers;
  /** Queue and in-flight work (metrics), drain (retire), and the refusal of a full queue (Batcher.shed; a pipeline has no queue). */
  readonly batcher: { stats(): BatcherStats; drain(): Promise<void>; shed?(): ModelServeError | undefined };
  /**
   * True once a raw model's requests run one at a time (its answers turned out not to be one entry
   * per input row, though the graph's shapes said they would be): Triton's config then says
   * max_batch_size 0. Absent (a pipeline): as the view says.
   */
  readonly runsAlone?: boolean;
  /** Encoded tensors (first dimension = rows) -> output tensors. */
  infer(feeds: NamedTensors, rows: number, options?: InferOptions): Promise<NamedTensors>;
  /** Validated rows -> one prediction object per row, in order (context: who asked, for prediction events). */
  predict(rows: Row[], deadline?: number, context?: RequestContext): Promise<PredictionObject[]>;
}
