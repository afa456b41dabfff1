// One loaded version of a model: its session in the runtime (under a unique key) and, compiled
// once, the request path around it — validate -> encode -> batch -> run -> decode. Front doors
// call infer() with encoded tensors (OIP, pipelines) or predict() with validated JSON rows; both
// go through the same batcher, so requests from every front door share batches.
import type { ModelConfig } from '../config/types.js';
import { Batcher, clientGone, type BatchInfo } from '../batching/batcher.js';
import { compileDecoder, neededOutputs, type Decoder, type PredictionObject } from '../response/decode.js';
import { compileRowsSerializer, compileSerializers, type Serializers } from '../response/serialize.js';
import { compileColumnEncoder, compileEncoder, type Encoder } from '../tensors/encode.js';
import type { InferenceRuntime, ModelSignature, NamedTensors, TensorData } from '../runtime/types.js';
import { allowedNumber, compileColumnCheck, compileRequestValidator, type RequestValidator, type Row } from '../validation/request-validator.js';
import { rawBatchable, rawOutputs, rawRowShapeVaries } from '../config/signature.js';
import { allocateTensor } from '../tensors/allocate.js';
import { ModelServeError } from '../errors.js';
import { concatRequests, joinSlices, sliceRows, splitOutputs, stackRuns, type EncodedRequest } from './tensor-batch.js';
import { isObserved, type PredictionJson, type PredictionTap, type RequestContext } from './prediction-tap.js';

import type { InferOptions, OptimizationSummary, RequestObserver, ServableVersion } from './servable.js';
import type { ClassLinks } from './class-labels.js';

export type { InferOptions, OptimizationSummary } from './servable.js';

/** A queued request: encoded inputs, row count, and the outputs it needs (undefined: the version's default set). */
export interface QueuedRequest extends EncodedRequest {
  outputs?: readonly string[];
}

/**
 * A request row built from the fields' examples (or defaults, first enum values, else a value the
 * field's bounds allow), used to warm up and in docs. (A field whose bounds allow none is a config
 * problem the loader reports.)
 */
export function exampleRow(config: ModelConfig): Row {
  const row: Row = {};
  for (const f of config.fields) {
    row[f.name] = f.example ?? f.default ?? f.enum?.[0] ?? (f.type === 'string' ? '' : f.type === 'boolean' ? false : (allowedNumber(f) ?? f.minimum ?? 0));
  }
  return row;
}

/**
 * A raw model's warm-up feeds: one row (variable dimensions 1) of zeros / empty strings. Undefined
 * when an input declares no shape: no rank is known to fit the graph (a scalar would not fit a MatMul).
 */
export function exampleFeeds(signature: ModelSignature): NamedTensors | undefined {
  if (signature.inputs.some((i) => i.shapeDeclared === false)) return undefined;
  const feeds: NamedTensors = {};
  for (const input of signature.inputs) {
    const dims = input.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : 1));
    const type = input.type as TensorData['type'];
    const data = allocateTensor(type, dims.reduce((a, b) => a * b, 1))!;
    feeds[input.name] = { type, dims, data };
  }
  return feeds;
}

export interface ModelVersionParts {
  config: ModelConfig;
  signature: ModelSignature;
  /** The runtime's key for this version's sessions (unique per load). */
  key: string;
  runtime: InferenceRuntime;
  optimization?: OptimizationSummary;
  /** The classes of the graph's probabilities outputs (Triton's classification extension). */
  classLinks?: ClassLinks;
  onBatch?: (info: BatchInfo) => void;
  /** Told of every request's outcome (the statistics extension), but the warm-up run's. */
  onRequest?: RequestObserver;
  /** Where successful predictions are reported (prediction events, dashboard). */
  tap?: PredictionTap;
  /**
   * Most rows one runtime run gets: a larger batch (one big request) runs as consecutive slices
   * of this many rows, so the memory onnxruntime keeps for its intermediates is bounded by this,
   * not by the largest request. 0 or undefined: no limit. Only for batched versions (rows independent).
   */
  maxRunRows?: number;
  /** Runs each request alone from the start: a raw model found not to answer per row when loaded before from the same bytes. */
  runsAlone?: boolean;
  /** Told once, when a raw model is found not to answer per row (the core remembers it for a load of the same bytes). */
  onRunsAlone?: () => void;
}

/** A raw model's validate(): the JSON fields API is not offered for it. */
function noFieldsApi(name: string): RequestValidator {
  return () => {
    throw new ModelServeError('MS_ERR_NO_FIELDS_API', `model '${name}' has no fields (it is served from its .onnx file without a model.yaml): send tensors with POST /v2/models/${name}/infer (Open Inference Protocol)`);
  };
}

/** ServableVersion.encodeColumns for a model whose fields are all numbers (else undefined). */
function columnShortcut(config: ModelConfig, signature: ModelSignature): ModelVersion['encodeColumns'] {
  const check = compileColumnCheck(config, signature);
  const encode = compileColumnEncoder(config, signature);
  if (check === undefined || encode === undefined) return undefined;
  return (columns, rows) => (check(columns) ? encode(columns, rows) : undefined);
}

/** onnxruntime's words for memory it could not allocate: the server's limit, not the request's fault. */
const OUT_OF_MEMORY = /failed to allocate|bad_alloc/i;

/** Whether two requests' tensors match past the first dimension (they concatenate along the rows). */
function sameRowShape(a: QueuedRequest, b: QueuedRequest): boolean {
  for (const name of Object.keys(a.feeds)) {
    const x = a.feeds[name]!.dims;
    const y = b.feeds[name]?.dims;
    if (y === undefined || x.length !== y.length) return false;
    for (let i = 1; i < x.length; i++) if (x[i] !== y[i]) return false;
  }
  return true;
}

/** Whether every output holds one entry per row of a run of `rows` rows (its first dimension). */
function oneEntryPerRow(outputs: NamedTensors, rows: number): boolean {
  for (const name of Object.keys(outputs)) if (outputs[name]!.dims[0] !== rows) return false;
  return true;
}

/**
 * One batch as consecutive runs of at most `size` rows, joined back (see ModelVersionParts.maxRunRows).
 * With `rowAnswers` (a fields model, whose rows each get their own answer) runs of one row are
 * stacked: each row's answer is its run's whole outputs, a constant or whole-run output included.
 */
async function runSlices(runtime: InferenceRuntime, key: string, feeds: NamedTensors, rows: number, size: number, names: string[], rowAnswers: boolean): Promise<NamedTensors> {
  const parts: Array<{ outputs: NamedTensors; rows: number }> = [];
  for (let from = 0; from < rows; from += size) {
    const to = Math.min(rows, from + size);
    parts.push({ outputs: await runtime.run(key, sliceRows(feeds, rows, from, to), names), rows: to - from });
  }
  return rowAnswers && size === 1 ? stackRuns(parts.map((p) => p.outputs)) : joinSlices(parts, rows);
}

export class ModelVersion implements ServableVersion {
  readonly kind = 'model' as const;
  readonly name: string;
  readonly version: number;
  readonly key: string;
  /** The x-model-version header's value. */
  readonly versionHeader: string;
  readonly config: ModelConfig;
  readonly signature: ModelSignature;
  readonly optimization: OptimizationSummary | undefined;
  readonly classLinks: ClassLinks | undefined;
  readonly validate: RequestValidator;
  readonly encode: Encoder;
  readonly encodeColumns: ServableVersion['encodeColumns'];
  readonly decode: Decoder;
  /** JSON serializers for one prediction and for an array of them. */
  readonly serialize: Serializers;
  readonly batcher: Batcher<QueuedRequest, NamedTensors>;
  private readonly defaultOutputs: readonly string[];
  private readonly tap: PredictionTap | undefined;
  /** Compiled on the first observed prediction (only servers with observers pay for it). */
  private json: PredictionJson | undefined;

  constructor(parts: ModelVersionParts) {
    const { config, signature, runtime, key } = parts;
    this.name = config.name;
    this.version = config.modelVersion;
    this.key = key;
    this.versionHeader = String(config.modelVersion);
    this.config = config;
    this.signature = signature;
    this.optimization = parts.optimization;
    this.classLinks = parts.classLinks;
    const raw = config.kind === 'raw';
    this.validate = raw ? noFieldsApi(config.name) : compileRequestValidator(config, signature);
    this.encode = compileEncoder(config, signature);
    this.encodeColumns = raw ? undefined : columnShortcut(config, signature);
    this.decode = compileDecoder(config);
    this.serialize = compileSerializers(config);
    // A raw model answers with every tensor output of its graph.
    this.defaultOutputs = raw ? rawOutputs(signature).map((o) => o.name) : neededOutputs(config);
    this.tap = parts.tap;
    const defaults = this.defaultOutputs;
    // Inputs that take any shape (the graph declares none): only onnxruntime's run can refuse one.
    const anyShape = raw ? signature.inputs.filter((i) => i.shapeDeclared === false).map((i) => `'${i.name}'`) : [];
    // First dimensions the graph names apart (N, M): passed as sent, so only onnxruntime's run can refuse a mismatch.
    const namedApart = raw ? [...new Set(signature.inputs.map((i) => i.shape[0]).filter((d): d is string => typeof d === 'string' && d !== ''))] : [];
    // Why a raw model's tensors reach onnxruntime unchecked, said when it refuses them.
    const passedAsSent = anyShape.length > 0
      ? ` (the graph declares no shape for input ${anyShape.join(', ')}, so any shape is passed to it)`
      : namedApart.length > 1 ? ` (the graph names the inputs' first dimensions apart: ${namedApart.join(', ')}, so each is passed as sent)` : '';
    const runPrefix = `model '${key}': `;
    // A raw model shares runs only when it has a batch dimension, as its /config says (rawBatchable).
    const batched = config.batching.enabled && (!raw || rawBatchable(signature));
    // A graph exported with a fixed batch of one ([1, k]: a static-shape export) is run one row at a
    // time: onnxruntime refuses it more, so an array request or a shared batch would fail.
    const oneRowRuns = !raw && signature.inputs.some((i) => i.shape[0] === 1);
    // An output whose first dimension the graph fixes (Shape(x) as [2], a constant [3]) is not one
    // entry per row, yet a run of exactly that many rows looks as if it were and was split across
    // the rows: such a graph is run as one whose answer is the whole run's from the start.
    // (A raw model with such an output, or one of no declared shape, is not batched: rawBatchable.)
    const wholeRun = !raw && signature.outputs.some((o) => defaults.includes(o.name) && typeof o.shape[0] === 'number' && o.shape[0] >= 0);
    let sliceRowsAt = oneRowRuns || wholeRun ? 1 : batched && parts.maxRunRows !== undefined && parts.maxRunRows > 0 ? parts.maxRunRows : Infinity;
    this.batcher = new Batcher<QueuedRequest, NamedTensors>({
      enabled: batched,
      maxBatchSize: config.batching.maxBatchSize,
      maxQueueDelayMs: config.batching.maxQueueDelayMs,
      maxQueueRows: config.queue.maxRows,
      timeoutMs: config.queue.timeoutMs,
      concurrency: runtime.parallelism,
      // Batches the runtime runs on the calling thread are not worth splitting over its slots.
      minSplitRows: () => Math.max(8, (runtime.inlineRows?.(key) ?? 0) + 1),
      // Inputs of a variable width ([N, M]) concatenate only along the rows: a run's requests share every other dimension.
      ...(raw && rawRowShapeVaries(signature) ? { joins: sameRowShape } : {}),
      name: config.name,
      onBatch: parts.onBatch,
      // The statistics extension, told by the batcher where each request settles.
      onSettled: parts.onRequest,
      runBatch: async (requests, rows, phases) => {
        const t0 = performance.now();
        // The union of the outputs the batch's requests asked for.
        let names: readonly string[] = requests[0]!.outputs ?? defaults;
        for (let i = 1; i < requests.length; i++) {
          const more = requests[i]!.outputs ?? defaults;
          if (more !== names) names = [...new Set([...names, ...more])];
        }
        const feeds = concatRequests(requests, rows);
        const t1 = performance.now();
        phases.inputMs = t1 - t0;
        let outputs: NamedTensors;
        try {
          outputs = rows <= sliceRowsAt ? await runtime.run(key, feeds, names as string[], requests.length) : await runSlices(runtime, key, feeds, rows, sliceRowsAt, names as string[], !raw);
          // A graph that answers for the whole run, not per row (a scalar, a sum over the batch):
          // requests sharing a batch must not get each other's answers.
          if (rows > 1 && !oneEntryPerRow(outputs, rows)) {
            if (!raw && sliceRowsAt > 1) {
              // Each row the responses decode must be its own answer: from now on one row per run.
              sliceRowsAt = 1;
              outputs = await runSlices(runtime, key, feeds, rows, 1, names as string[], true);
            } else if (raw) {
              // A raw model's answer belongs to one request, whose tensor may hold many rows: from now
              // on requests neither share runs nor are cut into runs of --max-run-rows; this batch's
              // are run again, each whole.
              if (!this.batcher.runsAlone) parts.onRunsAlone?.();
              this.batcher.runAlone();
              const sliced = rows > sliceRowsAt;
              sliceRowsAt = Infinity;
              if (requests.length > 1 || sliced) {
                const alone: NamedTensors[] = [];
                for (const r of requests) alone.push(await runtime.run(key, r.feeds, (r.outputs ?? defaults) as string[]));
                phases.outputMs = 0;
                return alone;
              }
            }
          }
        } catch (err) {
          // Its sessions were released (the version was unloaded, replaced or removed) after a request
          // had been given it: the model may serve again, and the runtime's key ('m/1#3') means nothing to a client.
          if (err instanceof ModelServeError && err.code === 'MS_ERR_MODEL_NOT_FOUND') {
            throw new ModelServeError('MS_ERR_MODEL_UNAVAILABLE', `model '${config.name}' version ${config.modelVersion} was unloaded before this request ran; send it again`);
          }
          // A run of one request that onnxruntime's session refused (its text, after the key runSession
          // puts first): the graph ran at load on the warm-up's tensors, so the cause is this request's
          // tensors (a Gather index out of range, a shape the graph's ops cannot take): a 400 naming the
          // reason. A failed run of several is not told apart here: the batcher runs each request alone
          // again. A worker that exited, no worker, or memory onnxruntime could not allocate stay 500s.
          if (raw && requests.length === 1 && err instanceof ModelServeError && err.code === 'MS_ERR_INFERENCE' && err.message.startsWith(runPrefix) && !OUT_OF_MEMORY.test(err.message)) {
            const reason = err.message.slice(runPrefix.length);
            throw new ModelServeError('MS_ERR_BAD_TENSOR', `onnxruntime could not run the model on these tensors${passedAsSent}: ${reason}`, { cause: err });
          }
          throw err;
        }
        const t2 = performance.now();
        const results = splitOutputs(outputs, requests.map((r) => r.rows), rows);
        phases.outputMs = performance.now() - t2;
        return results;
      },
    });
    if (raw && parts.runsAlone === true) {
      this.batcher.runAlone();
      sliceRowsAt = Infinity;
    }
  }

  get runsAlone(): boolean {
    return this.batcher.runsAlone;
  }

  /** Runs encoded tensors (first dimension = rows) through the batcher; resolves with this request's outputs. */
  infer(feeds: NamedTensors, rows: number, options: InferOptions = {}): Promise<NamedTensors> {
    const running = this.run(feeds, rows, options);
    const tap = this.tap;
    if (!isObserved(tap, options)) return running;
    const started = performance.now();
    return running.then((outputs) => {
      tap.emit({ model: this.name, version: this.version, requestId: options.requestId, frontDoor: options.frontDoor, rows, latencyMs: performance.now() - started, time: Date.now(), undelivered: clientGone(options.client), feeds, outputs });
      return outputs;
    });
  }

  /** A raw model's warm-up feeds (see exampleFeeds). */
  exampleFeeds(): NamedTensors | undefined {
    return exampleFeeds(this.signature);
  }

  /** Validated rows -> one prediction object per row, in order. */
  async predict(rows: Row[], deadline?: number, context?: RequestContext): Promise<PredictionObject[]> {
    const tap = this.tap;
    const observed = isObserved(tap, context);
    const started = observed ? performance.now() : 0;
    const outputs = await this.run(this.encode(rows), rows.length, { deadline, client: context?.client, unobserved: context?.unobserved });
    const predictions = this.decode(outputs, rows.length);
    if (observed) {
      tap.emit({ model: this.name, version: this.version, requestId: context?.requestId, frontDoor: context?.frontDoor, rows: rows.length, latencyMs: performance.now() - started, time: Date.now(), undelivered: clientGone(context?.client), inputs: rows, predictions, json: this.json ??= { inputs: compileRowsSerializer(this.config), predictions: this.serialize.many } });
    }
    return predictions;
  }

  /** Every request of every front door, and the warm-up run (`unobserved`), is queued here. */
  private run(feeds: NamedTensors, rows: number, options: InferOptions): Promise<NamedTensors> {
    const request: QueuedRequest = options.outputs === undefined ? { feeds, rows } : { feeds, rows, outputs: options.outputs };
    return this.batcher.submit(request, rows, options);
  }
}
