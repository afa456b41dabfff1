// Loads every configured model into the inference runtime and assembles, per model, the request
// path: validator -> batcher -> encoder -> runtime -> decoder. Compiled once at startup.
import { readFileSync } from 'node:fs';
import type { ModelConfig } from '../config/types.js';
import { collectModelProblems, formatModelProblems } from '../check/problems.js';
import { defaultModel } from '../config/load.js';
import { ModelServeError, StartupError } from '../errors.js';
import { Batcher } from '../batching/batcher.js';
import type { BatchInfo } from '../batching/batcher.js';
import { mayOptimize } from '../optimize/probe.js';
import { compileDecoder, neededOutputs, type PredictionObject } from '../response/decode.js';
import { compileSerializers, type Serializers } from '../response/serialize.js';
import { compileEncoder } from '../tensors/encode.js';
import type { InferenceRuntime, ModelSignature, ModelSource } from '../runtime/types.js';
import { compileRequestValidator, type RequestValidator, type Row } from '../validation/request-validator.js';
import { relative } from 'node:path';

export interface OptimizationSummary {
  changed: boolean;
  rewrites: Array<{ op: string; node: string; detail: string }>;
  skipped: Array<{ op: string; node: string; reason: string }>;
}

export interface ServedModel {
  readonly config: ModelConfig;
  readonly signature: ModelSignature;
  readonly validate: RequestValidator;
  readonly optimization: OptimizationSummary | undefined;
  readonly batcher: Batcher<Row, PredictionObject>;
  /** JSON serializers for one prediction and for an array of them, compiled at startup. */
  readonly serialize: Serializers;
  /** Rows -> one prediction object per row, in order, through the batcher. */
  predict(rows: Row[], deadline?: number): Promise<PredictionObject[]>;
}

export interface RegistryOptions {
  /** Turns the load-time optimiser off for every model (--no-optimize). */
  optimize?: boolean;
  /** Called for every batch run (metrics). */
  onBatch?: (model: string) => ((info: BatchInfo) => void) | undefined;
}

/** A request row built from the fields' examples (or defaults), used to warm up and in docs. */
export function exampleRow(config: ModelConfig): Row {
  const row: Row = {};
  for (const f of config.fields) {
    row[f.name] = f.example ?? f.default ?? f.enum?.[0] ?? (f.type === 'string' ? '' : f.type === 'boolean' ? false : (f.minimum ?? 0));
  }
  return row;
}

async function readModel(config: ModelConfig, optimize: boolean): Promise<{ source: ModelSource; optimization?: OptimizationSummary }> {
  let bytes: Uint8Array;
  try {
    // An XGBoost model is converted to ONNX here (the converter, and its protobuf library, load only then).
    bytes = config.format === 'xgboost' ? (await import('../xgboost/load.js')).readModelBytes(config) : readFileSync(config.modelFile);
  } catch (err) {
    throw new StartupError('MS_ERR_MODEL_LOAD', `${relative(process.cwd(), config.modelFile)}: cannot read the model file: ${(err as Error).message}`);
  }
  // The optimiser's protobuf library is loaded only for models that may hold an operator it rewrites.
  if (!optimize || !config.optimize || !mayOptimize(bytes)) return { source: { name: config.name, path: config.modelFile, bytes } };
  try {
    const { optimizeModel } = await import('../optimize/index.js');
    const result = optimizeModel(bytes);
    const optimization = { changed: result.changed, rewrites: result.rewrites, skipped: result.skipped };
    return { source: { name: config.name, path: config.modelFile, bytes: result.changed ? result.bytes : bytes }, optimization };
  } catch (err) {
    // The optimiser also parses the protobuf: a file it cannot read is corrupt.
    throw new StartupError('MS_ERR_MODEL_LOAD', `${relative(process.cwd(), config.modelFile)}: not a valid ONNX model: ${(err as Error).message}`);
  }
}

export class ModelRegistry {
  readonly models: ReadonlyMap<string, ServedModel>;
  readonly defaultModel: ServedModel | undefined;

  private constructor(models: Map<string, ServedModel>, defaultName: string | undefined) {
    this.models = models;
    this.defaultModel = defaultName === undefined ? undefined : models.get(defaultName);
  }

  static async load(configs: readonly ModelConfig[], runtime: InferenceRuntime, options: RegistryOptions = {}): Promise<ModelRegistry> {
    const read = await Promise.all(configs.map((c) => readModel(c, options.optimize ?? true)));
    const signatures = await runtime.load(read.map((r) => r.source));
    for (const config of configs) {
      if (!signatures[config.name]) throw new StartupError('MS_ERR_MODEL_LOAD', `${config.modelFile}: the runtime did not load this model`);
    }
    const problems = collectModelProblems(configs, signatures);
    if (problems.length > 0) throw new StartupError('MS_ERR_MODEL_SIGNATURE', formatModelProblems(problems));
    const models = new Map<string, ServedModel>();
    configs.forEach((config, i) => {
      const signature = signatures[config.name]!;
      const encode = compileEncoder(config, signature);
      const decode = compileDecoder(config);
      const outputNames = neededOutputs(config);
      const batcher = new Batcher<Row, PredictionObject>({
        enabled: config.batching.enabled,
        maxBatchSize: config.batching.maxBatchSize,
        maxQueueDelayMs: config.batching.maxQueueDelayMs,
        maxQueueRows: config.queue.maxRows,
        timeoutMs: config.queue.timeoutMs,
        concurrency: runtime.parallelism,
        runBatch: async (rows) => decode(await runtime.run(config.name, encode(rows), outputNames), rows.length),
        onBatch: options.onBatch?.(config.name),
        name: config.name,
      });
      models.set(config.name, {
        config,
        signature,
        validate: compileRequestValidator(config),
        optimization: read[i]!.optimization,
        batcher,
        serialize: compileSerializers(config),
        predict: (rows, deadline) => batcher.submit(rows, deadline === undefined ? undefined : { deadline }),
      });
    });
    return new ModelRegistry(models, defaultModel(configs)?.name);
  }

  get(name: string): ServedModel {
    const model = this.models.get(name);
    if (!model) throw new ModelServeError('MS_ERR_MODEL_NOT_FOUND', `model '${name}' not found; served models: ${[...this.models.keys()].join(', ')}`);
    return model;
  }

  /**
   * Runs every model's example row through the whole path once (validation, batching, encoding,
   * a worker, decoding, serialization): a config whose mapping cannot work fails here, before
   * /readyz turns 200. (Each worker has already run every session once on zeros when it loaded.)
   */
  async warmUp(): Promise<void> {
    for (const model of this.models.values()) {
      const validated = model.validate(exampleRow(model.config));
      if (!validated.ok) throw new StartupError('MS_ERR_CONFIG_INVALID', `${model.config.configFile}: the fields' examples do not form a valid request: ${JSON.stringify(validated.issues)}`);
      model.serialize.many(await model.batcher.submit(validated.rows));
    }
  }

  /** Waits until every queued and in-flight batch has finished (graceful shutdown). */
  async drain(): Promise<void> {
    await Promise.all([...this.models.values()].map((m) => m.batcher.drain()));
  }
}
