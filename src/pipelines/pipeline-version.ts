// One loaded version of a pipeline: a ServableVersion like a model's, so every front door serves
// it unchanged. Its request is validated against the fields derived from its steps, then:
// - sequence: each step gets the fields it takes (renamed as configured) from the request and
//   the earlier steps' answers; its answer's fields become fields of the next steps;
// - ensemble: every member gets the same rows at once; the answers are combined per row (mean,
//   weighted mean, majority vote);
// - switch: each row goes to the first branch whose condition holds (else the default branch);
//   each branch gets its rows in one call, and the answers are put back in the request's order.
// Local steps resolve their model in the core and call its predict(): no HTTP hop, and their
// rows join the model's batches with every other request. Remote steps go through RemoteStep.
import { performance } from 'node:perf_hooks';
import { clientGone, type BatcherStats } from '../batching/batcher.js';
import type { FieldSpec, ModelConfig, PipelineStepSpec, StepCondition, ValueType } from '../config/types.js';
import type { InferOptions, RequestObserver, ServableVersion } from '../core/servable.js';
import { isObserved, type PredictionJson, type PredictionTap, type RequestContext } from '../core/prediction-tap.js';
import { compileDecoder, type PredictionObject } from '../response/decode.js';
import { compileRowsSerializer, compileSerializers } from '../response/serialize.js';
import type { ModelSignature, NamedTensors, TensorData } from '../runtime/types.js';
import { compileRequestValidator, type Row, type ValidationIssue } from '../validation/request-validator.js';
import { ModelServeError } from '../errors.js';
import { changedUnder, StepChangedError, stepError, stepValidationError, StepValidationError, type RowOrigin } from './errors.js';
import { RemoteStep } from './remote.js';

/** Where local steps find their models (the inference core). */
export interface StepModels {
  resolve(name: string, version?: number): ServableVersion | undefined;
  acquire(name: string, version?: number, deadline?: number): Promise<ServableVersion>;
  /** The version a model (version) serves now, without counting as a request (throws for one no longer there). */
  peek(name: string, version?: number): ServableVersion | undefined;
}

export type StepObserver = (step: string, seconds: number, outcome: 'ok' | 'error') => void;

interface RunnableStep {
  spec: PipelineStepSpec;
  run(rows: Row[], origin: RowOrigin, deadline?: number): Promise<PredictionObject[]>;
  close?(): Promise<void>;
}

const FIELD_TENSOR: Record<FieldSpec['type'], TensorData['type']> = { number: 'float64', integer: 'int64', string: 'string', boolean: 'bool' };
/**
 * The tensor type of a raw response field's values (tensorOf: numbers are float64). 'any' is
 * unknown until answered (a model's raw output: configs do not hold its ONNX type): the metadata
 * says FP64, the usual case; a BOOL or string output is answered BOOL / BYTES (docs/pipelines.md).
 */
const RAW_TENSOR: Record<ValueType, TensorData['type']> = { number: 'float64', integer: 'float64', string: 'string', boolean: 'bool', any: 'float64' };

/** What a step is sent: exactly its fields, each read from the field its inputs: names (default: the same name). */
function project(rows: readonly Row[], fields: readonly FieldSpec[], renames: Readonly<Record<string, string>>): Row[] {
  return rows.map((row) => {
    const out: Row = {};
    for (const f of fields) {
      // Own keys only: a field named like an Object method (constructor, toString) is neither a rename nor a value.
      const key = Object.hasOwn(renames, f.name) ? renames[f.name]! : f.name;
      const value = Object.hasOwn(row, key) ? row[key] : undefined;
      if (value !== undefined) out[f.name] = value;
    }
    return out;
  });
}

/**
 * A local step's answer must have the fields the pipeline read from it when it loaded: its model
 * may have been reloaded since with other outputs. Then the step failed (a 502 naming it and the
 * field), rather than a later step's 422 or an answer without the field.
 */
function checkAnswers(spec: PipelineStepSpec, pipeline: string, model: ServableVersion, answers: PredictionObject[]): PredictionObject[] {
  for (const field of spec.answers ?? []) {
    if (answers.some((a) => !Object.hasOwn(a, field))) throw new StepChangedError(stepChanged(spec, pipeline, model, field));
  }
  return answers;
}

const stepChanged = (spec: PipelineStepSpec, pipeline: string, model: ServableVersion, field: string) =>
  `step '${spec.name}': model '${model.name}' version ${model.version} answers no '${field}', which pipeline '${pipeline}' reads (the model changed since the pipeline loaded: reload the pipeline)`;

/**
 * Why a local step's model, as loaded now, cannot give the pipeline what it read from it when the
 * pipeline loaded (a response field it no longer has); undefined when it can. The core's readiness
 * and status use it, so a pipeline that can only answer 502s does not say it is ready.
 */
export function changedStep(spec: PipelineStepSpec, pipeline: string, model: ServableVersion): string | undefined {
  // Readiness asks this per request (a split whose versions are pipelines): the answer only
  // changes when the step's model is another loaded version, so it is kept until then.
  const known = changedSteps.get(spec);
  if (known !== undefined && known.model === model && known.pipeline === pipeline) return known.why;
  const fields = new Set(model.config.outputs.map((o) => o.field));
  const missing = spec.answers?.find((field) => !fields.has(field));
  const why = missing === undefined ? undefined : stepChanged(spec, pipeline, model, missing);
  changedSteps.set(spec, { model, pipeline, why });
  return why;
}

/** changedStep's last answer per step (a step's spec belongs to one loaded pipeline config). */
const changedSteps = new WeakMap<PipelineStepSpec, { model: ServableVersion; pipeline: string; why: string | undefined }>();

function localStep(spec: PipelineStepSpec, models: StepModels, pipeline: string): RunnableStep {
  const { name, version } = spec.model!;
  return {
    spec,
    async run(rows, origin, deadline) {
      const model = models.resolve(name, version) ?? (await models.acquire(name, version, deadline));
      const checked = model.validate(project(rows, model.config.fields, spec.inputs));
      if (!checked.ok) throw stepValidationError(spec.name, checked.issues, origin);
      // A step's prediction is reported (events, dashboard) with the client's request id, as
      // asked for by a pipeline: front door 'pipeline'.
      const context = { client: origin.client, requestId: origin.requestId, frontDoor: 'pipeline' };
      if (!isPipelineVersion(model)) return checkAnswers(spec, pipeline, model, await model.predict(checked.rows, deadline, context));
      // A nested pipeline addresses its issues by the rows it got (always as an array, so that a
      // row index is there to translate); they are re-addressed to the client's rows under this step.
      try {
        return checkAnswers(spec, pipeline, model, await model.run(checked.rows, { indexes: checked.rows.map((_, i) => i), batch: true, client: origin.client, requestId: origin.requestId }, deadline, context));
      } catch (err) {
        if (err instanceof StepValidationError) throw stepValidationError(spec.name, err.issues, origin);
        throw err;
      }
    },
  };
}

function matches(condition: StepCondition, value: unknown): boolean {
  if ('equals' in condition) return value === condition.equals;
  if ('in' in condition) return condition.in.includes(value as never);
  if (typeof value !== 'number') return false;
  const r = condition.range;
  return (r.gt === undefined || value > r.gt) && (r.gte === undefined || value >= r.gte) && (r.lt === undefined || value < r.lt) && (r.lte === undefined || value <= r.lte);
}

const isScalar = (v: unknown) => v === null || typeof v !== 'object';

/**
 * A raw field's values as one tensor: rows of lists of scalars of one length are a matrix [n, k];
 * anything else is one element per row. Values that are neither numbers nor booleans are BYTES,
 * a remote 'any' object or ragged list as its JSON text.
 */
function tensorOf(values: unknown[], n: number): TensorData {
  const first = values[0];
  const width = Array.isArray(first) && values.every((v) => Array.isArray(v) && v.length === first.length && v.every(isScalar)) ? first.length : undefined;
  const flat = width === undefined ? values : values.flat();
  const dims = [n, width ?? 1];
  if (flat.every((v) => typeof v === 'number' || v === null)) return { type: 'float64', dims, data: Float64Array.from(flat, (v) => (v === null ? NaN : (v as number))) };
  if (flat.every((v) => typeof v === 'boolean')) return { type: 'bool', dims, data: Uint8Array.from(flat, (v) => (v ? 1 : 0)) };
  return { type: 'string', dims, data: flat.map((v) => (typeof v === 'string' ? v : JSON.stringify(v) ?? String(v))) };
}

/** Where an issue's client row is in its loc (after 'body'), for ordering; -1 for none. */
function rowOf(issue: ValidationIssue): number {
  const at = issue.loc.indexOf('body');
  const row = at < 0 ? undefined : issue.loc[at + 1];
  return typeof row === 'number' ? row : -1;
}

/**
 * Steps run at once (ensemble members, switch branches): every one is waited for, so that when
 * several reject rows the 422 lists every rejected row of every step (in the client's row order),
 * as a model's own 422 does — not only the rows of whichever step failed first. A failure that is
 * not a 422 (a step unavailable, timed out...) is answered as is (the first such in the steps' order), 422s or not.
 */
async function everyStep<T>(work: Array<Promise<T>>): Promise<T[]> {
  const settled = await Promise.allSettled(work);
  const failures = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected').map((s) => s.reason as unknown);
  if (failures.length === 0) return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
  const other = failures.find((e) => !(e instanceof StepValidationError));
  if (other !== undefined || failures.length === 1) throw other ?? failures[0];
  const issues = (failures as StepValidationError[]).flatMap((e) => e.issues).map((issue, i) => ({ issue, i }))
    .sort((a, b) => rowOf(a.issue) - rowOf(b.issue) || a.i - b.i).map((x) => x.issue);
  throw new StepValidationError((failures[0] as StepValidationError).message, issues);
}

export class PipelineVersion implements ServableVersion {
  readonly kind = 'pipeline' as const;
  readonly name: string;
  readonly version: number;
  readonly versionHeader: string;
  readonly config: ModelConfig;
  readonly signature: ModelSignature;
  readonly optimization = undefined;
  readonly validate;
  readonly decode;
  readonly serialize;
  readonly batcher: { stats(): BatcherStats; drain(): Promise<void> };
  private readonly steps: RunnableStep[];
  private json: PredictionJson | undefined;
  private inFlight = 0;
  private idle: Array<() => void> = [];

  /** `config` is the pipeline's served config (fields and outputs derived by resolvePipelines). */
  /** `onRequest`: told of each request to the pipeline (its local steps are requests to their models, counted there). */
  /** `tap`: where its predictions are reported (events, dashboard), as a model's are. */
  constructor(config: ModelConfig, private readonly models: StepModels, private readonly observe?: StepObserver, private readonly onRequest?: RequestObserver, private readonly tap?: PredictionTap) {
    if (!config.pipeline) throw new Error(`${config.configFile}: not a pipeline`);
    this.config = config;
    this.name = config.name;
    this.version = config.modelVersion;
    this.versionHeader = String(config.modelVersion);
    this.validate = compileRequestValidator(config);
    this.decode = compileDecoder(config);
    this.serialize = compileSerializers(config);
    this.signature = {
      inputs: config.fields.map((f) => ({ name: f.name, type: FIELD_TENSOR[f.type], shape: [-1, 1] })),
      // A raw field's tensor is what tensorOf() makes of its values: a string or boolean field's is BYTES / BOOL.
      outputs: config.outputs.map((o) => {
        const type = o.kind === 'label' ? 'string' : o.kind === 'column' ? 'float64' : RAW_TENSOR[config.pipeline?.outputTypes?.[o.field] ?? 'any'];
        return { name: o.field, type, shape: o.kind === 'raw' ? [-1, -1] : [-1, 1] };
      }),
    };
    this.steps = config.pipeline.steps.map((spec) => {
      if (!spec.remote) return localStep(spec, models, config.name);
      const remote = new RemoteStep(spec.name, spec.remote);
      const fields = spec.remote.fields;
      return { spec, run: (rows, origin, deadline) => remote.run(project(rows, fields, spec.inputs), origin, deadline), close: () => remote.close() };
    });
    this.batcher = {
      stats: () => ({ queuedRows: 0, queuedRequests: 0, inFlightBatches: this.inFlight }),
      drain: () => (this.inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => this.idle.push(resolve))),
    };
  }

  /** Request rows -> one tensor per field (the pipeline's tensor-level inputs). */
  readonly encode = (rows: readonly Row[]): NamedTensors => {
    const out: NamedTensors = {};
    for (const f of this.config.fields) {
      const values = rows.map((r) => r[f.name] ?? f.default);
      const type = FIELD_TENSOR[f.type];
      const dims = [rows.length, 1];
      // A value left out of an XGBoost model's optional field (no default) is a missing value: NaN
      // in an FP64 column, as the model reads it (an INT64 or BOOL column cannot hold it); infer() reads it back as absent.
      const missing = f.type !== 'string' && values.includes(undefined);
      out[f.name] = missing ? { type: 'float64', dims, data: Float64Array.from(values, (v) => (v === undefined ? NaN : Number(v))) }
        : type === 'float64' ? { type, dims, data: Float64Array.from(values as number[]) }
        : type === 'int64' ? { type, dims, data: BigInt64Array.from(values as number[], (v) => BigInt(v)) }
        : type === 'bool' ? { type, dims, data: Uint8Array.from(values, (v) => (v ? 1 : 0)) }
        : { type, dims, data: values.map((v) => String(v)) };
    }
    return out;
  };

  /** Tensor-level call (OIP): one tensor per request field in, one per response field out. */
  async infer(feeds: NamedTensors, rows: number, options: InferOptions = {}): Promise<NamedTensors> {
    const objects: Row[] = Array.from({ length: rows }, () => ({}));
    for (const f of this.config.fields) {
      const tensor = feeds[f.name];
      if (!tensor) continue; // the validator reports it (or fills the default)
      const data = tensor.data as ArrayLike<unknown>;
      for (let r = 0; r < rows; r++) {
        const v = data[r];
        if (Number.isNaN(v)) continue; // a missing value (encode): absent, as the client left it
        objects[r]![f.name] = typeof v === 'bigint' ? Number(v) : f.type === 'boolean' ? Boolean(v) : v;
      }
    }
    const checked = this.validate(objects);
    if (!checked.ok) throw new StepValidationError(`pipeline '${this.name}': invalid input`, checked.issues);
    const started = performance.now();
    // Reported here, as a tensor-level call (its tensors), rather than by run() as rows.
    const predictions = await this.run(checked.rows, { indexes: checked.rows.map((_, i) => i), batch: rows > 1, client: options.client, requestId: options.requestId }, options.deadline);
    const names = options.outputs ?? this.config.outputs.map((o) => o.field);
    const out: NamedTensors = {};
    for (const name of names) out[name] = tensorOf(predictions.map((p) => p[name]), rows);
    const tap = this.tap;
    if (isObserved(tap, options)) {
      tap.emit({ model: this.name, version: this.version, requestId: options.requestId, frontDoor: options.frontDoor, rows, latencyMs: performance.now() - started, time: Date.now(), undelivered: clientGone(options.client), feeds, outputs: out });
    }
    return out;
  }

  /** Validated rows -> one answer per row, in order. */
  predict(rows: Row[], deadline?: number, context?: RequestContext): Promise<PredictionObject[]> {
    return this.run(rows, { indexes: rows.map((_, i) => i), batch: context?.batch ?? rows.length > 1, client: context?.client, requestId: context?.requestId }, deadline, context);
  }

  /**
   * predict() with the rows' origin given: a pipeline that is a step of another addresses its 422s
   * by the rows it got. With a `context`, the prediction is reported to the tap (events, dashboard)
   * as a model's predict() reports it.
   */
  async run(rows: Row[], origin: RowOrigin, deadline?: number, context?: RequestContext): Promise<PredictionObject[]> {
    const started = performance.now();
    const answers = await this.runSteps(rows, origin, deadline);
    const tap = this.tap;
    if (context !== undefined && isObserved(tap, context)) {
      tap.emit({ model: this.name, version: this.version, requestId: context.requestId, frontDoor: context.frontDoor, rows: rows.length, latencyMs: performance.now() - started, time: Date.now(), undelivered: clientGone(context.client), inputs: rows, predictions: answers, json: this.json ??= { inputs: compileRowsSerializer(this.config), predictions: this.serialize.many } });
    }
    return answers;
  }

  private async runSteps(rows: Row[], origin: RowOrigin, deadline?: number): Promise<PredictionObject[]> {
    const timeout = this.config.queue.timeoutMs;
    // The sooner of the caller's deadline and the pipeline's own queue.timeout_ms (as the batcher does).
    const own = timeout > 0 ? performance.now() + timeout : Infinity;
    const soonest = Math.min(deadline ?? Infinity, own);
    const until = soonest === Infinity ? undefined : soonest;
    const started = performance.now();
    let ok = false;
    try {
      const answers = await this.tracked(() => this.runKind(rows, origin, until)).catch((err: unknown) => this.runAgain(err, rows, origin, until));
      ok = true;
      return answers;
    } finally {
      this.onRequest?.(ok, rows.length, performance.now() - started);
    }
  }

  private runKind(rows: Row[], origin: RowOrigin, deadline?: number): Promise<PredictionObject[]> {
    switch (this.config.pipeline!.kind) {
      case 'sequence': return this.sequence(rows, origin, deadline);
      case 'ensemble': return this.ensemble(rows, origin, deadline);
      default: return this.switch(rows, origin, deadline);
    }
  }

  /** Counts `work` in flight: drain() (and so close() of the remote steps) waits for it. */
  private async tracked<T>(work: () => Promise<T>): Promise<T> {
    this.inFlight++;
    try {
      return await work();
    } finally {
      // (splice(0) makes an array even when no one waits: not per request.)
      if (--this.inFlight === 0 && this.idle.length > 0) for (const resolve of this.idle.splice(0)) resolve();
    }
  }

  /**
   * A request past a sequence's first step when --watch swapped a later step's model reached the new model through
   * this pipeline, derived from the old one (a 502 "the model changed", or the step's 422), while the pipeline derived
   * again meanwhile serves. It runs once more on that one — a step is a pure prediction — when it takes and answers
   * what this one does (the front door checks and answers the request with this one's fields); else (or with a remote
   * step that is not idempotent) it is a 503 to send again, not a 502 blaming the server.
   */
  private runAgain(err: unknown, rows: Row[], origin: RowOrigin, deadline?: number): Promise<PredictionObject[]> {
    if (!changedUnder(err)) throw err;
    let next: ServableVersion | undefined;
    try {
      next = this.models.peek(this.name, this.version);
    } catch {
      throw err; // the pipeline is gone: its failure as it is
    }
    if (next === undefined || next === this || !isPipelineVersion(next)) throw err;
    const shape = (v: PipelineVersion) => JSON.stringify([v.config.fields, v.config.outputs, v.config.pipeline!.outputTypes]);
    const repeatable = this.steps.every((s) => s.spec.remote?.idempotent !== false);
    if (repeatable && shape(next) === shape(this)) return next.tracked(() => next.runKind(rows, origin, deadline));
    throw new ModelServeError('MS_ERR_MODEL_UNAVAILABLE', `pipeline '${this.name}' version ${this.version} was derived again from its steps' models while this request ran, and now ${repeatable ? 'takes or answers other fields' : 'has a step that may not be repeated'}: send it again (${(err as Error).message})`, { cause: err, headers: { 'retry-after': '1' } });
  }

  private async runStep(step: RunnableStep, rows: Row[], origin: RowOrigin, deadline?: number): Promise<PredictionObject[]> {
    const started = performance.now();
    try {
      const answers = await step.run(rows, origin, deadline);
      this.observe?.(step.spec.name, (performance.now() - started) / 1000, 'ok');
      return answers;
    } catch (err) {
      this.observe?.(step.spec.name, (performance.now() - started) / 1000, 'error');
      throw stepError(step.spec.name, err);
    }
  }

  private select(work: Row[]): PredictionObject[] {
    const pick = this.config.pipeline!.outputs;
    const fields = this.config.outputs.map((o) => o.field);
    return work.map((row) => {
      const out: PredictionObject = {};
      for (const field of fields) out[field] = row[pick?.[field] ?? field];
      return out;
    });
  }

  private async sequence(rows: Row[], origin: RowOrigin, deadline?: number): Promise<PredictionObject[]> {
    const work = rows.map((r) => ({ ...r }));
    for (const step of this.steps) {
      const answers = await this.runStep(step, work, origin, deadline);
      for (let i = 0; i < work.length; i++) Object.assign(work[i]!, answers[i]);
    }
    return this.select(work);
  }

  private async ensemble(rows: Row[], origin: RowOrigin, deadline?: number): Promise<PredictionObject[]> {
    const answers = await everyStep(this.steps.map((step) => this.runStep(step, rows, origin, deadline)));
    const combine = Object.entries(this.config.pipeline!.combine!);
    const weights = this.steps.map((s) => s.spec.weight);
    const total = weights.reduce((a, b) => a + b, 0);
    return rows.map((_, r) => {
      const out: PredictionObject = {};
      for (const [field, { method, from }] of combine) {
        const values = answers.map((a) => a[r]![from]);
        if (method === 'vote') {
          // Weighted majority; a tie goes to the value of the earliest step among the tied ones.
          const tally = new Map<string, { value: unknown; weight: number; first: number }>();
          values.forEach((v, i) => {
            const key = JSON.stringify(v);
            const t = tally.get(key) ?? { value: v, weight: 0, first: i };
            t.weight += weights[i]!;
            tally.set(key, t);
          });
          out[field] = [...tally.values()].sort((a, b) => b.weight - a.weight || a.first - b.first)[0]!.value;
        } else {
          // A member's null is a number that is not finite (NaN, ±Infinity): so is the mean (answered null), not a mean counting it as 0.
          const numbers = values.map((v) => (v === null ? NaN : Number(v)));
          const mean = method === 'mean' ? numbers.reduce((sum, v) => sum + v, 0) / values.length : numbers.reduce((sum, v, i) => sum + v * weights[i]!, 0) / total;
          out[field] = Number.isFinite(mean) ? mean : null;
        }
      }
      return out;
    });
  }

  private async switch(rows: Row[], origin: RowOrigin, deadline?: number): Promise<PredictionObject[]> {
    const groups = this.steps.map(() => [] as number[]);
    const fallback = this.steps.findIndex((s) => s.spec.isDefault);
    const unmatched: ValidationIssue[] = [];
    rows.forEach((row, i) => {
      let branch = this.steps.findIndex((s) => s.spec.when !== undefined && matches(s.spec.when, row[s.spec.when.field]));
      if (branch < 0) branch = fallback;
      if (branch >= 0) groups[branch]!.push(i);
      else {
        const fields = [...new Set(this.steps.map((s) => s.spec.when!.field))];
        unmatched.push({
          loc: ['body', ...(origin.batch ? [origin.indexes[i]!] : []), fields[0]!],
          msg: `no branch of pipeline '${this.name}' takes ${fields.map((f) => `${f}=${JSON.stringify(row[f])}`).join(', ')} and it has no default branch`,
          type: 'value_error.no_branch',
        });
      }
    });
    if (unmatched.length > 0) throw new StepValidationError(`pipeline '${this.name}': ${unmatched[0]!.msg}`, unmatched);
    const answers: PredictionObject[] = new Array(rows.length);
    await everyStep(groups.map(async (indexes, b) => {
      if (indexes.length === 0) return;
      const branchRows = indexes.map((i) => rows[i]!);
      const got = await this.runStep(this.steps[b]!, branchRows, { ...origin, indexes: indexes.map((i) => origin.indexes[i]!) }, deadline);
      indexes.forEach((i, k) => { answers[i] = { ...rows[i], ...got[k] }; });
    }));
    return this.select(answers);
  }

  /** Closes the remote steps' connection pools (after the core drained this version). */
  async close(): Promise<void> {
    await Promise.all(this.steps.map((s) => s.close?.()));
  }
}

export function isPipelineVersion(v: ServableVersion): v is PipelineVersion {
  return v.kind === 'pipeline';
}
