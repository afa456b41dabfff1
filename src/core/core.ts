// The inference core: the model repository (name -> versions, each loading / ready / failed /
// unloading), the runtime it loads them into, readiness, the memory budget, and drain and shutdown.
// It knows nothing of HTTP: every front door (the Fastify app, gRPC, MQTT, pipelines) is an
// adapter that resolves a model version here and calls its infer()/predict().
//
// Life of a version: its config is read and validated, its ONNX file read (and optimised), loaded
// into the runtime under a unique key, checked against the config, warmed with the config's
// example row, and only then made the one the model serves (atomically: one pointer). A version it
// replaces stops receiving requests at that moment, finishes what it queued, and is unloaded.
import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { basename, dirname, relative, sep } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { BatchInfo } from '../batching/batcher.js';
import { danglingReason, danglingVersionLinks, defaultModel, fileForClients, formatProblems, markedDefault, loadRepository, repositoryProblems, selectVersions, versionLocations, versionPolicySource, type Problem } from '../config/load.js';
import { checkRawSignature, checkSignature, rawBatchable, signatureWarnings } from '../config/signature.js';
import type { ModelConfig } from '../config/types.js';
import { messageForClients, ModelServeError, RunLostError, SessionLoadError, StartupError, WorkerLostError } from '../errors.js';
import type { InferenceRuntime, ModelSignature, ModelSource } from '../runtime/types.js';
import { formatModelProblems, type ModelProblem } from '../check/problems.js';
import { exampleRow, ModelVersion, type OptimizationSummary } from './model-version.js';
import { withDeclaredRanks, withGraphNames } from './graph-shapes.js';
import { rowMixing } from './batch-rows.js';
import { notBatchedMessage } from './load-decisions.js';
import { ModelBytesError, modelFileMayLoad, modelFileProblem, modelFileSignature, readModelBytes } from './model-bytes.js';
import type { RequestObserver, ServableVersion } from './servable.js';
import type { ClassLinks } from './class-labels.js';
import { resolvePipelines } from '../pipelines/check.js';
import { changedStep, PipelineVersion } from '../pipelines/pipeline-version.js';
import type { RoutingSpec } from '../config/types.js';
import { PredictionTap, type PredictionObserver } from './prediction-tap.js';
import { delayUntil } from '../protocols/deadline.js';
import { RepositoryWatcher, scanRepository, type ScannedModel, type WatchOptions, type WatchPassReport } from './repository.js';

export type VersionState = 'loading' | 'ready' | 'failed' | 'unloading' | 'unavailable';
export type ServiceState = 'starting' | 'ready' | 'draining' | 'closed';

export interface VersionStatus {
  version: number;
  state: VersionState;
  /** Why it failed (file and problem), or why it is unavailable. */
  reason?: string;
}

export interface ModelStatus {
  name: string;
  /** 'ready' when a version serves; 'unavailable' when unloaded (explicitly or by the memory budget); 'failed' when nothing can serve. */
  state: 'ready' | 'loading' | 'unavailable' | 'failed';
  /** The version /models/{name}/predict serves (the newest ready one). */
  serving?: number;
  versions: VersionStatus[];
}

/** A change the adapters may react to (OpenAPI, metrics labels). */
export type CoreEvent =
  | { type: 'version-ready'; model: string; version: number; loadMs: number; replaced?: number }
  // forClients: the reason as API clients read it (ModelServeError's forClients); `reason` is the operator's (logs).
  | { type: 'version-failed'; model: string; version: number; reason: string; forClients: string }
  /** Its model file is cut short (a copy stalled): not tried yet, what serves keeps serving. */
  | { type: 'version-incomplete'; model: string; version: number; reason: string }
  /** `why`: what made a model folder no model folder, when it is still there (its config gone, its version links to nothing). */
  | { type: 'version-unloaded'; model: string; version: number; reason: 'removed' | 'replaced' | 'unload' | 'evicted' | 'shutdown'; why?: string }
  /** A numbered entry of its folder is a symbolic link to no folder: that version is not served (said once, until it changes). */
  | { type: 'version-link-dangling'; model: string; version: number; reason: string }
  /** A subfolder of its folder is named like a version that is none (`02`, `v3`): not served (said once, until it changes). */
  | { type: 'version-folder-lookalike'; model: string; reason: string }
  /** A model removed (--watch) while no version of it was loaded (its loads failed, or the memory budget left it unloaded): no version-unloaded says so. */
  | { type: 'model-removed'; model: string; why?: string }
  | { type: 'eviction'; model: string }
  /** A load lost with its inference worker (a passing cause): tried again in `delayMs`, try `attempt` of `of` (LOAD_RETRY_DELAYS_MS). */
  | { type: 'version-load-retry'; model: string; version: number; attempt: number; of: number; delayMs: number; reason: string }
  | { type: 'models-changed' };

export interface CoreOptions {
  /** A model repository folder (scanned; needed for --watch and the repository API's load). */
  repo?: string;
  /** Or configs already loaded (tests, benchmarks). */
  configs?: readonly ModelConfig[];
  runtime: InferenceRuntime;
  /** Load-time optimiser for every model (each config can turn it off). */
  optimize?: boolean;
  /** Called for every batch run, per model version (metrics). */
  onBatch?: (model: string, version: number) => ((info: BatchInfo) => void) | undefined;
  /**
   * Told of each request a version answers, from any front door (the statistics extension); not of
   * the load-time warm-up run.
   */
  onRequest?: (model: string, version: number) => RequestObserver | undefined;
  /** At most this many models loaded at once; the least recently used are unloaded past it (0/undefined: no limit). */
  maxLoadedModels?: number;
  /** Most rows one runtime run gets; larger batches run in slices (see ModelVersionParts.maxRunRows). 0/undefined: no limit. */
  maxRunRows?: number;
  /** Where a failed load or reload is reported (the log). */
  onProblem?: (message: string, detail: { model: string; version: number }) => void;
  /** Where what loads but reads as a config mistake is reported (the log): "<config file>: key: message". */
  onWarning?: (message: string, detail: { model: string; version: number }) => void;
  /** Called after every successful prediction, from any front door (more: core.predictions.add()). */
  onPrediction?: PredictionObserver;
  /** Where what a version that loads does otherwise than its author may expect is said (the log, at info): a raw model not batched. */
  onInfo?: (message: string, detail: { model: string; version: number }) => void;
}

interface VersionSlot {
  version: number;
  state: VersionState;
  /** Read by API clients (status, a request's 'not available'): never what a load failure quotes of a file (forClients). */
  reason?: string;
  /** Set while and once loaded. */
  loaded?: ServableVersion;
  /** What was on disk when it was loaded (change detection for --watch). */
  fingerprint?: string;
  config?: ModelConfig;
  /** The load that put it there (a loading or ready slot): loads of one version are ordered by it. */
  load?: number;
}

interface ModelEntry {
  name: string;
  slots: Map<number, VersionSlot>;
  /** The newest ready version: what name-only requests get. Swapped atomically. */
  serving: ServableVersion | undefined;
  /** Configs of the versions the policy selects, as last read (what a load uses). */
  wanted: Map<number, { config: ModelConfig; fingerprint?: string }>;
  /** Unloaded by the repository API: stays unloaded (no on-demand load) until loaded again. */
  unloadedByRequest: boolean;
  /** A load in progress (concurrent requests wait for the same one). */
  loading?: Promise<void>;
  /** Every version load under way (--watch, the repository API, on demand), settled or not: what a request waits for. */
  pending: Map<number, Promise<void>>;
  lastUsed: number;
  /** When a request last asked for it (lastUsed counts loads too). */
  lastRequest: number;
  /** Requests waiting for a load of it: the memory budget does not unload it from under them. */
  waiting: number;
  /** Problems of the last scan that produced no version config (e.g. invalid YAML of a new model). */
  scanProblems: string[];
}

let keySequence = 0;

/**
 * The waits before each new try of a load lost with its inference worker (WorkerLostError: it died during the load or
 * its warm-up run, or none was running). The pool replaces the worker, so a try a moment later reaches a healthy one;
 * a bad file or config (or a warm-up run that fails for the model's own reasons) would fail the same way again and is
 * never retried. After the last, the version stays failed (as Triton's UNAVAILABLE) until its files change
 * or the repository API loads it.
 */
export const LOAD_RETRY_DELAYS_MS: readonly number[] = [1000, 2000, 4000];

/** A load lost with its worker, to be tried again: how many tries are spent, and the timer of the next. */
interface LoadRetry {
  tries: number;
  timer?: NodeJS.Timeout;
}

function isPipeline(entry: ModelEntry): boolean {
  for (const w of entry.wanted.values()) if (w.config.pipeline) return true;
  return false;
}

/**
 * Whether a model counts against the memory budget: it serves, or a load of it is under way — a
 * request's (entry.loading) or --watch's (a 'loading' slot), so that loads started together are
 * counted before any of them finishes.
 */
function holdsMemory(entry: ModelEntry): boolean {
  if (isPipeline(entry)) return false;
  if (entry.serving !== undefined || entry.loading !== undefined) return true;
  for (const s of entry.slots.values()) if (s.state === 'loading') return true;
  return false;
}

async function readModelSource(config: ModelConfig, key: string, optimize: boolean, repo: string): Promise<{ source: ModelSource; optimization?: OptimizationSummary; classLinks?: ClassLinks; written: Uint8Array }> {
  try {
    const { bytes, optimization, classLinks, written } = await readModelBytes(config, optimize, true);
    // A run past queue.timeout_ms answers no request any more: the runtime's watchdog may take its worker out of service then.
    const source: ModelSource = { name: key, path: config.modelFile, bytes, runTimeoutMs: config.queue.timeoutMs, label: `'${config.name}' version ${config.modelVersion}` };
    return { source, optimization, classLinks, written: written ?? bytes };
  } catch (err) {
    if (!(err instanceof ModelBytesError)) throw err;
    throw bytesFailure(config, err, repo);
  }
}

/**
 * A version's file (its config, or its model file) as API clients read its name: relative to the model repository
 * (`repo`), else its model file as `model:` writes it (fileForClients). The operator's messages name it relative to
 * the working directory, or as the absolute path it is.
 */
function fileOfVersionForClients(config: ModelConfig, file: string, repo: string): string {
  return fileForClients(file, repo, file === config.modelFile ? config.modelAsWritten : undefined);
}

/** A config that does not match its model's signature, as the load's failure (every problem); undefined when it matches. */
function signatureFailure(config: ModelConfig, signature: ModelSignature, repo: string): StartupError | undefined {
  const problems = config.kind === 'raw' ? checkRawSignature(signature) : checkSignature(config, signature);
  if (problems.length === 0) return undefined;
  const said = (file: string) => `model configuration does not match the ONNX model (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  ${file}: ${p}`).join('\n')}`;
  return new StartupError('MS_ERR_MODEL_SIGNATURE', said(relative(process.cwd(), config.configFile) || config.configFile), { forClients: said(fileOfVersionForClients(config, config.configFile, repo)) });
}

/**
 * Whether a version's load is bound to fail, as far as its file tells without a session: missing, cut short or no
 * ONNX (modelFileMayLoad), a config that does not match the signature its protobuf declares (modelFileSignature), or
 * files onnxruntime already refused to make a session of, unchanged since (`refused`: sessionRefused()).
 */
async function boundToFail(config: ModelConfig, refused: ReadonlyMap<string, string>): Promise<boolean> {
  if (config.pipeline) return false;
  if (!modelFileMayLoad(config)) return true;
  const stamp = refused.get(config.modelFile);
  if (stamp !== undefined && stamp === filesStamp(config)) return true;
  const signature = await modelFileSignature(config);
  return signature !== undefined && signatureFailure(config, signature, config.modelDir) !== undefined;
}

/** The SHA-256 of a model's bytes, 4 MiB per turn of the event loop: a large model does not hold it up in one block. */
async function digestOf(bytes: Uint8Array): Promise<string> {
  const hash = createHash('sha256');
  const chunk = 4 * 1024 * 1024;
  for (let at = 0; at < bytes.byteLength; at += chunk) {
    if (at > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    hash.update(bytes.subarray(at, at + chunk));
  }
  return hash.digest('hex');
}

/** The model file's and config's size and times: another copy or an edit of either changes it (undefined: one is gone). */
function filesStamp(config: ModelConfig): string | undefined {
  try {
    return [config.modelFile, config.configFile].map((f) => { const s = statSync(f); return `${s.size}:${s.mtimeMs}:${s.ctimeMs}`; }).join('|');
  } catch {
    return undefined;
  }
}

/**
 * Whether a load's failure is onnxruntime refusing the graph (an operator or domain it does not know, an invalid
 * graph), which the same bytes meet again; not its running out of memory, nor a worker lost while loading.
 */
function sessionRefused(err: unknown): boolean {
  if (!(err instanceof StartupError) || err.code !== 'MS_ERR_MODEL_LOAD') return false;
  return err.message.includes(': onnxruntime could not load the model: ') && !/alloc|out of memory|memory limit/i.test(err.message);
}

/**
 * Why a model folder on disk has nothing to load: no version the scan takes for whole — a config with no model file
 * beside it, or files still changing, look like a copy in progress (the repository API's load answers their problems).
 */
const NO_WHOLE_VERSION = 'no version of it is whole on disk yet (a version needs its config and its model file; one holding its config alone, or whose files are still changing, is taken for a copy in progress)';

/** A failed reload of a version that serves, in the one wording --watch and the repository API use. */
function reloadFailed(version: number, reason: string): string {
  return `reload failed (version ${version} as loaded before keeps serving): ${reason}`;
}

/** A model file's bytes that cannot load, as the load's failure: the file, then the problem (`repo`: see fileOfVersionForClients). */
function bytesFailure(config: ModelConfig, err: ModelBytesError, repo: string): StartupError {
  const said = (shown: string, message: string) => err.stage === 'parse' ? `${shown} is not a valid ONNX model: ${message}` : `${shown} ${message}`;
  return new StartupError('MS_ERR_MODEL_LOAD', said(relative(process.cwd(), config.modelFile) || config.modelFile, err.message), { forClients: said(fileOfVersionForClients(config, config.modelFile, repo), err.forClients) });
}

function newest(entry: ModelEntry): ServableVersion | undefined {
  let best: ServableVersion | undefined;
  for (const slot of entry.slots.values()) {
    if (slot.state === 'ready' && slot.loaded && (best === undefined || slot.version > best.version)) best = slot.loaded;
  }
  return best;
}

/**
 * Two or more versions that failed to load, as one list in the shape `modelserve check` prints
 * (each "file: key: message", in file order, not load order). A failure that is a list already (a
 * signature mismatch, a pipeline's config problems) keeps its lines; any other is its config's 'model'.
 */
function formatLoadFailures(failures: ReadonlyArray<{ config: ModelConfig; error: unknown; signature: boolean }>): string {
  const ordered = [...failures].sort((a, b) => a.config.configFile.localeCompare(b.config.configFile) || a.config.modelVersion - b.config.modelVersion);
  return formatModelProblems(ordered.flatMap(({ config, error, signature }): ModelProblem[] => {
    const [head = '', ...rest] = (error as Error).message.split('\n');
    const lines = rest.map((line) => /^ {2}(.+?): (.+?): (.*)$/.exec(line));
    if (head.endsWith(':') && lines.length > 0 && lines.every((m) => m !== null)) {
      return lines.map((m) => ({ file: m![1]!, key: m![2]!, message: m![3]!, severity: 'error', signature }));
    }
    return [{ file: config.configFile, key: 'model', message: (error as Error).message, severity: 'error' }];
  }));
}

/**
 * Awaits a version's load-time warm-up run; its failure names the file (the config, or a raw
 * folder's .onnx) rather than the runtime's internal key ('m/1#3'). A run lost with its inference
 * worker is a WorkerLostError, tried again as a load lost with its worker is (retryLoad); any other
 * failure is the model's, and final.
 */
async function warmUp(config: ModelConfig, key: string, input: string, run: Promise<unknown>, repo: string): Promise<void> {
  try {
    await run;
  } catch (err) {
    if (err instanceof StartupError) throw err;
    // The graph ran; only the JSON answer of this example cannot carry a 64-bit value exactly.
    // Such requests get their own 502, and the output is exact over OIP: the model can serve.
    if (err instanceof ModelServeError && err.code === 'MS_ERR_OUTPUT_RANGE') return;
    // A raw model's refused run is the request's 400 (ModelVersion); at load, onnxruntime's own words.
    const source = err instanceof ModelServeError && err.code === 'MS_ERR_BAD_TENSOR' && err.cause instanceof Error ? err.cause : err;
    const message = (source as Error).message.replace(`model '${key}': `, '');
    const file = config.kind === 'raw' ? config.modelFile : config.configFile;
    const said = (shown: string) => `${shown}: the load-time warm-up run on ${input} failed: ${message}`;
    const Failure = err instanceof RunLostError ? WorkerLostError : StartupError;
    throw new Failure('MS_ERR_MODEL_LOAD', said(file), { forClients: said(fileOfVersionForClients(config, file, repo)) });
  }
}

export class InferenceCore extends EventEmitter {
  readonly runtime: InferenceRuntime;
  readonly repo: string | undefined;
  state: ServiceState = 'starting';
  private readonly options: CoreOptions;
  private readonly entries = new Map<string, ModelEntry>();
  /** Model files onnxruntime refused to make a session of, with their files' stamp then (filesStamp). */
  private readonly refused = new Map<string, string>();
  /** The signature warnings said of each version's config (by config file and version), with its files' stamp then (warnSignature). */
  private readonly warned = new Map<string, { stamp: string; said: Set<string> }>();
  /**
   * Raw versions found at run time to answer not one entry per row (ModelVersion's runAlone), by config file and
   * version, with the SHA-256 of the bytes loaded: loaded again from the same bytes (after an unload, an eviction, a
   * --watch reload of a file copied over unchanged), a version runs alone from its first request. Found anew, a shared
   * run whose answers happen to have as many rows as it had (an output whose size depends on the values) would be
   * cut across its requests.
   */
  private readonly foundRunningAlone = new Map<string, string>();
  private defaultName: string | undefined;
  private watcher: RepositoryWatcher | undefined;
  private clock = 0;
  private removalCount = 0;
  /** Every successful prediction of every version is reported here (prediction events, dashboard). */
  readonly predictions = new PredictionTap();

  /** A core that has loaded nothing yet: subscribe to its events, then start() it. */
  constructor(options: CoreOptions) {
    super();
    this.options = options;
    this.runtime = options.runtime;
    this.repo = options.repo;
    if (options.onPrediction) this.predictions.add(options.onPrediction);
  }

  /**
   * Reads the repository, loads and warms every model version its policy selects (up to the memory
   * budget), and becomes ready. Any problem at start-up fails the whole start with one StartupError
   * listing every problem, file and key — there is never a half-started core.
   */
  static async start(options: CoreOptions): Promise<InferenceCore> {
    const core = new InferenceCore(options);
    await core.start();
    return core;
  }

  /** See InferenceCore.start. */
  async start(): Promise<void> {
    const options = this.options;
    const configs = options.configs ?? loadRepository(options.repo ?? 'models');
    // Pipelines' cross-model rules (steps, fields, types, cycles): every problem at once.
    const pipelineProblems = resolvePipelines(configs).problems;
    if (pipelineProblems.length > 0) throw new StartupError('MS_ERR_CONFIG_INVALID', formatProblems(pipelineProblems));
    this.defaultName = defaultModel(configs)?.name;
    const byModel = new Map<string, ModelConfig[]>();
    for (const c of configs) byModel.set(c.name, [...(byModel.get(c.name) ?? []), c]);
    for (const [name, versions] of byModel) {
      const entry = this.entry(name);
      for (const c of versions) entry.wanted.set(c.modelVersion, { config: c });
    }
    // Under a budget, the default model first, then by name.
    // Pipelines hold no sessions: outside the budget, and loaded once their steps' models are.
    const pipelines = [...byModel.keys()].filter((n) => byModel.get(n)!.some((c) => c.pipeline)).sort();
    const names = [...byModel.keys()].filter((n) => !pipelines.includes(n)).sort((a, b) => (a === this.defaultName ? -1 : b === this.defaultName ? 1 : a.localeCompare(b)));
    const budget = options.maxLoadedModels && options.maxLoadedModels > 0 ? options.maxLoadedModels : Infinity;
    const toLoad = names.slice(0, budget);
    for (const name of names.slice(budget)) {
      for (const v of this.entries.get(name)!.wanted.keys()) this.entries.get(name)!.slots.set(v, { version: v, state: 'unavailable', reason: 'not loaded (memory budget); loads on the first request' });
    }
    const failures: Array<{ config: ModelConfig; error: unknown; signature: boolean }> = [];
    // The models left unloaded are not loaded now, but a file bound to fail (unreadable, cut short, no ONNX, an
    // XGBoost JSON model the converter refuses) fails the start as a loaded model's would, rather than a request
    // later. One at a time: an XGBoost model is converted to be checked.
    for (const name of names.slice(budget)) {
      for (const { config } of this.entries.get(name)!.wanted.values()) {
        const problem = await modelFileProblem(config);
        if (problem) {
          failures.push({ config, error: bytesFailure(config, problem, this.clientsRoot(config.modelDir)), signature: false });
          continue;
        }
        // Its config against the inputs and outputs its file declares (no session): a mismatch fails the start as
        // a loaded model's does, not its first request.
        const signature = await modelFileSignature(config);
        const mismatch = signature && signatureFailure(config, signature, this.clientsRoot(config.modelDir));
        if (mismatch) failures.push({ config, error: mismatch, signature: true });
        // Its warnings too, now as a loaded model's are, rather than at its first load (which does not repeat them).
        else if (signature) this.warnSignature(config, signature);
      }
    }
    await Promise.all(
      toLoad.flatMap((name) => {
        const entry = this.entries.get(name)!;
        return [...entry.wanted.values()].map(async ({ config }) => {
          try {
            await this.loadVersion(entry, config, undefined, true);
          } catch (error) {
            failures.push({ config, error, signature: error instanceof StartupError && error.code === 'MS_ERR_MODEL_SIGNATURE' });
          }
        });
      }),
    );
    for (const name of pipelines) {
      const entry = this.entries.get(name)!;
      for (const { config } of entry.wanted.values()) {
        await this.loadVersion(entry, config, undefined, true).catch((error: unknown) => failures.push({ config, error, signature: false }));
      }
    }
    if (failures.length > 0) {
      await this.close().catch(() => undefined);
      // The code of the first failure that is not a signature mismatch; of a mismatch when all are.
      const first = (failures.find((f) => !f.signature) ?? failures[0]!).error;
      const code = first instanceof ModelServeError ? first.code : 'MS_ERR_MODEL_LOAD';
      throw new StartupError(code, failures.length === 1 ? (first as Error).message : formatLoadFailures(failures));
    }
    this.state = 'ready';
    this.emit('event', { type: 'models-changed' } satisfies CoreEvent);
  }

  /**
   * The model repository's root, from which API clients read a model's files named (fileForClients): the repository
   * served, else (the core given configs) the folder holding the model folder `modelDir`.
   */
  private clientsRoot(modelDir: string): string {
    return this.repo ?? dirname(modelDir);
  }

  private entry(name: string): ModelEntry {
    let entry = this.entries.get(name);
    if (entry === undefined) {
      entry = { name, slots: new Map(), serving: undefined, wanted: new Map(), unloadedByRequest: false, pending: new Map(), lastUsed: 0, lastRequest: 0, waiting: 0, scanProblems: [] };
      this.entries.set(name, entry);
    }
    return entry;
  }

  /** The model POST /predict serves: the one marked default, or the only one. */
  get defaultModelName(): string | undefined {
    if (this.defaultName !== undefined && this.entries.has(this.defaultName)) return this.defaultName;
    return this.entries.size === 1 ? [...this.entries.keys()][0] : undefined;
  }

  /** Names of every model in the repository (loaded or not). */
  modelNames(): string[] {
    return [...this.entries.keys()].sort();
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /**
   * How many times a version or a model has left the repository (a folder deleted): what is kept per
   * model elsewhere (metrics, statistics) is checked against knows() only when this has moved, not
   * on every models-changed (evictions and loads under a memory budget bring many a second).
   */
  get removals(): number {
    return this.removalCount;
  }

  /** Whether the repository still has this model, and this version of it when given (loaded or not: loading, failed, unloaded, evicted). */
  knows(name: string, version?: number): boolean {
    const entry = this.entries.get(name);
    return entry !== undefined && (version === undefined || entry.slots.has(version));
  }

  /**
   * The version to serve, synchronously, when it is loaded: the newest ready version, or the given
   * one. Undefined when it must be loaded first (use acquire()). Throws MS_ERR_MODEL_NOT_FOUND for
   * an unknown model or version.
   */
  resolve(name: string, version?: number): ServableVersion | undefined {
    const found = this.peek(name, version);
    const entry = this.entries.get(name)!;
    entry.lastUsed = entry.lastRequest = ++this.clock;
    return found;
  }

  /**
   * resolve() for a look rather than a request (status listings, readiness, statistics): the model
   * does not count as used, so that a monitor polling GET /models does not decide which model the
   * memory budget unloads next.
   */
  peek(name: string, version?: number): ServableVersion | undefined {
    const entry = this.entries.get(name);
    if (entry === undefined) throw this.notFound(name);
    if (version === undefined) return entry.serving;
    const slot = entry.slots.get(version);
    if (slot === undefined && !entry.wanted.has(version)) {
      const known = [...new Set([...entry.slots.keys(), ...entry.wanted.keys()])].sort((a, b) => a - b);
      const unserved = unservedOnDisk(entry, version, this.watcher?.options.settleMs);
      if (unserved !== undefined) throw new ModelServeError('MS_ERR_MODEL_NOT_FOUND', `model '${name}' version ${version} is on disk but ${unserved}; versions served: ${known.join(', ') || 'none'}`);
      throw new ModelServeError('MS_ERR_MODEL_NOT_FOUND', `model '${name}' has no version ${version}; versions: ${known.join(', ') || 'none'}`);
    }
    return slot?.state === 'ready' ? slot.loaded : undefined;
  }

  /**
   * Whether this version of the model is loaded and ready — for a pipeline, and its local steps'
   * models can serve (see canServe); false, not an error, for a version or model that does not exist.
   */
  isReady(name: string, version: number): boolean {
    const slot = this.entries.get(name)?.slots.get(version);
    return slot?.state === 'ready' && slot.loaded !== undefined && this.stepsCanServe(slot.loaded, new Set([name]));
  }

  /**
   * Why the model (version) is not ready to answer (OIP ModelReady), or undefined when it is: loaded
   * — for a pipeline, with every local step's model able to serve. Throws MS_ERR_MODEL_NOT_FOUND for
   * an unknown model or version.
   */
  whyNotReady(name: string, version?: number): string | undefined {
    const loaded = this.peek(name, version);
    if (loaded !== undefined) {
      if (this.stepsCanServe(loaded, new Set([name]))) return undefined;
      const step = (loaded.config.pipeline?.steps ?? []).find((s) => s.model !== undefined && !this.canServe(s.model.name, s.model.version, new Set([name])));
      return step?.model !== undefined ? `its pipeline step's model '${step.model.name}'${step.model.version === undefined ? '' : ` version ${step.model.version}`} cannot serve` : (this.changedSteps(loaded) ?? 'a model its pipeline runs cannot serve');
    }
    const entry = this.entries.get(name)!;
    const slots = version === undefined ? [...entry.slots.values()].sort((a, b) => b.version - a.version) : [entry.slots.get(version)];
    if ((version === undefined && entry.loading !== undefined) || slots.some((s) => s?.state === 'loading')) return 'it is loading';
    // The newest version's state (a version wanted but never tried has no slot yet).
    const slot = slots[0];
    if (slot === undefined) {
      if (version === undefined && entry.scanProblems.length > 0) return `it failed to load: ${entry.scanProblems[0]}`;
      return version === undefined && entry.wanted.size === 0 ? `it is not loaded: ${NO_WHOLE_VERSION}` : 'it is not loaded';
    }
    if (slot.state === 'failed') return `it failed to load${slot.reason === undefined ? '' : `: ${slot.reason}`}`;
    if (slot.state === 'unloading') return 'it is unloading';
    return slot.reason ?? 'it is not loaded';
  }

  /**
   * Whether requests to a model (version) can be served: it is loaded, or loads on demand under the
   * memory budget. Not when it was unloaded through the repository API, failed or is unknown — a
   * pipeline whose local step is such a model would answer 503/404, so it is not ready either (its
   * traffic share goes to the other versions, as a missing version's does). `seen` stops cycles.
   */
  private canServe(name: string, version: number | undefined, seen: Set<string>): boolean {
    const entry = this.entries.get(name);
    if (entry === undefined || entry.unloadedByRequest || seen.has(name)) return false;
    const slot = version === undefined ? undefined : entry.slots.get(version);
    const loaded = version === undefined ? entry.serving : slot?.state === 'ready' ? slot.loaded : undefined;
    if (loaded !== undefined) return this.stepsCanServe(loaded, new Set([...seen, name]));
    if (!((this.options.maxLoadedModels ?? 0) > 0) || (entry.wanted.size === 0)) return false;
    return version === undefined ? [...entry.slots.values()].some((s) => s.state !== 'failed') : entry.wanted.has(version) && slot?.state !== 'failed';
  }

  private stepsCanServe(loaded: ServableVersion, seen: Set<string>): boolean {
    for (const step of loaded.config.pipeline?.steps ?? []) {
      if (step.model !== undefined && !this.canServe(step.model.name, step.model.version, seen)) return false;
    }
    return this.changedSteps(loaded) === undefined;
  }

  /** Why a loaded pipeline can only answer 502s: a local step's model reloaded without a field it reads (see changedStep). */
  private changedSteps(loaded: ServableVersion): string | undefined {
    for (const step of loaded.config.pipeline?.steps ?? []) {
      if (step.model === undefined || !this.entries.has(step.model.name)) continue;
      let model: ServableVersion | undefined;
      try {
        model = this.peek(step.model.name, step.model.version);
      } catch {
        continue; // a version no longer there: canServe says so
      }
      const why = model && changedStep(step, loaded.name, model);
      if (why !== undefined) return why;
    }
    return undefined;
  }

  /**
   * The version to serve, loading the model on demand (memory budget) within the deadline.
   * Rejects with MS_ERR_MODEL_NOT_FOUND, MS_ERR_MODEL_UNAVAILABLE (unloaded, failed, loading past
   * the deadline) or MS_ERR_TIMEOUT.
   */
  async acquire(name: string, version?: number, deadline?: number): Promise<ServableVersion> {
    const ready = this.resolve(name, version);
    if (ready !== undefined) return ready;
    if (this.state === 'draining' || this.state === 'closed') throw new ModelServeError('MS_ERR_NOT_READY', 'the service is shutting down');
    const entry = this.entries.get(name)!;
    if (entry.unloadedByRequest) {
      throw new ModelServeError('MS_ERR_MODEL_UNAVAILABLE', `model '${name}' is unloaded; load it through the repository API: gRPC RepositoryModelLoad, or POST /v2/repository/models/${name}/load`);
    }
    // The wait counts against the request's deadline: the caller's, else the model's queue.timeout_ms.
    deadline ??= this.timeoutOf(entry, version);
    // A load under way (the repository API, --watch, another request's) is waited for, as one this
    // request starts. One that ends without serving (unloaded by the memory budget while it ran, or
    // overtaken by a later load of the version) is not the end of the wait: the next load under
    // way is waited for, else this request loads the model, as it would have (a few rounds at most).
    let loaded: ServableVersion | undefined;
    for (let round = 0; round < 3 && loaded === undefined; round++) {
      if (round > 0 && (entry.unloadedByRequest || this.state !== 'ready')) break;
      const wait = this.loadUnderWay(entry, version) ?? (round === 0 || this.loadsOnDemand(entry, version) ? this.ensureLoaded(entry) : undefined);
      if (wait === undefined) break;
      loaded = await this.loadFor(entry, version, wait, deadline);
    }
    if (loaded !== undefined) return loaded;
    const slot = version === undefined ? undefined : entry.slots.get(version);
    const loading = version === undefined ? [...entry.slots.values()].some((s) => s.state === 'loading') : slot?.state === 'loading';
    // (A new model refused for its folder's problems, a pipeline's cycle, has no version: those problems say why.)
    const why = loading ? 'it is loading' : slot?.reason ?? [...entry.slots.values()].map((s) => s.reason).find((r) => r !== undefined) ?? entry.scanProblems[0] ?? (entry.slots.size === 0 && entry.wanted.size === 0 ? NO_WHOLE_VERSION : undefined);
    throw new ModelServeError('MS_ERR_MODEL_UNAVAILABLE', `model '${name}'${version === undefined ? '' : ` version ${version}`} is not available${why ? `: ${why}` : ''}`);
  }

  /** The loads of a model (version) under way that a request can wait for, if any. */
  private loadUnderWay(entry: ModelEntry, version: number | undefined): Promise<unknown> | undefined {
    if (entry.loading !== undefined) return entry.loading;
    const pending = version === undefined ? [...entry.pending.values()] : [entry.pending.get(version)].filter((p) => p !== undefined);
    return pending.length > 0 ? Promise.all(pending) : undefined;
  }

  /** Waits for a load for a request, then the version it serves, if any. */
  private async loadFor(entry: ModelEntry, version: number | undefined, wait: Promise<unknown>, deadline: number | undefined): Promise<ServableVersion | undefined> {
    entry.waiting++;
    try {
      await this.waitFor(entry.name, wait, deadline);
    } finally {
      entry.waiting--;
    }
    const loaded = this.resolve(entry.name, version);
    // Kept loaded for this request while other models loaded: the budget is met again now.
    if (loaded !== undefined) void this.makeRoom(entry).catch(() => undefined);
    return loaded;
  }

  /** Whether a request's load (ensureLoaded) would load this model (version): not loaded under the memory budget, nor unloaded by request. */
  private loadsOnDemand(entry: ModelEntry, version: number | undefined): boolean {
    if (!((this.options.maxLoadedModels ?? 0) > 0) || entry.unloadedByRequest || this.state !== 'ready') return false;
    const offBudget = (s: VersionSlot | undefined) => s?.state === 'unavailable' || s?.state === 'unloading';
    return version === undefined ? [...entry.slots.values()].some(offBudget) : offBudget(entry.slots.get(version));
  }

  /** Waits for a load, within the request's deadline (MS_ERR_TIMEOUT past it). */
  private async waitFor(name: string, wait: Promise<unknown>, deadline: number | undefined): Promise<void> {
    if (deadline === undefined) {
      await wait;
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ModelServeError('MS_ERR_TIMEOUT', `model '${name}': the request passed its deadline while the model was loading`)), delayUntil(deadline));
    });
    try {
      await Promise.race([wait, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The deadline queue.timeout_ms gives a request arriving now (the version's config, else the newest selected one's); undefined for none. */
  private timeoutOf(entry: ModelEntry, version: number | undefined): number | undefined {
    const newestWanted = entry.wanted.size === 0 ? undefined : Math.max(...entry.wanted.keys());
    const config = entry.wanted.get(version ?? newestWanted ?? 0)?.config;
    const ms = config?.queue.timeoutMs ?? 0;
    return ms > 0 ? performance.now() + ms : undefined;
  }

  private notFound(name: string): ModelServeError {
    return new ModelServeError('MS_ERR_MODEL_NOT_FOUND', `model '${shownName(name)}' not found; served models: ${this.modelNames().join(', ')}`);
  }

  /** Every model and version with its state (GET /models, the repository index). */
  status(name?: string): ModelStatus[] {
    const names = name === undefined ? this.modelNames() : [name];
    return names.map((n) => {
      const entry = this.entries.get(n);
      if (entry === undefined) throw this.notFound(n);
      // Closed: the runtime and every session are gone, whatever the slots last said.
      if (this.state === 'closed') return { name: n, state: 'unavailable', versions: [...entry.slots.keys()].sort((a, b) => a - b).map((version) => ({ version, state: 'unavailable', reason: 'the service is closed' })) };
      const versions: VersionStatus[] = [...entry.slots.values()].sort((a, b) => a.version - b.version).map((s) => {
        // A pipeline whose step's model changed under it answers only 502s until it is reloaded.
        const changed = s.state === 'ready' && s.loaded !== undefined ? this.changedSteps(s.loaded) : undefined;
        // (With why its reload failed, when it was tried: --watch derives it again as its steps change.)
        if (changed !== undefined) return { version: s.version, state: 'unavailable', reason: s.reason === undefined ? changed : `${changed}; ${s.reason}` };
        return s.reason === undefined ? { version: s.version, state: s.state } : { version: s.version, state: s.state, reason: s.reason };
      });
      for (const problem of entry.scanProblems) versions.push({ version: 0, state: 'failed', reason: problem });
      if (entry.serving !== undefined && this.changedSteps(entry.serving) !== undefined) return { name: n, state: 'unavailable', serving: entry.serving.version, versions };
      const state: ModelStatus['state'] = entry.serving ? 'ready' : entry.loading || versions.some((v) => v.state === 'loading') ? 'loading' : versions.some((v) => v.state === 'failed') && !entry.unloadedByRequest ? 'failed' : 'unavailable';
      return entry.serving ? { name: n, state, serving: entry.serving.version, versions } : { name: n, state, versions };
    });
  }

  /** Every loaded, ready version (for metrics and docs). */
  readyVersions(): ServableVersion[] {
    const out: ServableVersion[] = [];
    for (const entry of this.entries.values()) for (const slot of entry.slots.values()) if (slot.state === 'ready' && slot.loaded) out.push(slot.loaded);
    return out;
  }

  /** The serving version of each model that has one. */
  servingVersions(): ServableVersion[] {
    return [...this.entries.values()].map((e) => e.serving).filter((v): v is ServableVersion => v !== undefined);
  }

  /**
   * One config per model that can serve (now, or by loading on demand): the serving version's, else
   * the newest selected version's. What documentation (OpenAPI) describes.
   */
  servableConfigs(): ModelConfig[] {
    const out: ModelConfig[] = [];
    for (const name of this.modelNames()) {
      const entry = this.entries.get(name)!;
      if (entry.serving) out.push(entry.serving.config);
      else if (!entry.unloadedByRequest && entry.wanted.size > 0) {
        const newestWanted = Math.max(...entry.wanted.keys());
        if (entry.slots.get(newestWanted)?.state !== 'failed') out.push(entry.wanted.get(newestWanted)!.config);
      }
    }
    return out;
  }

  /**
   * The configs of a model's versions that serve or can (a ready one's as loaded, else the one the
   * policy selects; a failed one's none): each is reachable by a traffic split or a version in the path.
   */
  versionConfigs(name: string): ModelConfig[] {
    const entry = this.entries.get(name);
    if (entry === undefined) return [];
    const numbers = new Set([...entry.wanted.keys(), ...entry.slots.keys()]);
    return [...numbers].flatMap((version) => {
      const slot = entry.slots.get(version);
      if (slot?.state === 'ready' && slot.loaded) return [slot.loaded.config];
      const wanted = entry.wanted.get(version);
      return wanted !== undefined && slot?.state !== 'failed' ? [wanted.config] : [];
    });
  }

  /**
   * A model's traffic routing (canary split, sticky key, shadow): every version's config carries the
   * same, read from the model folder's own config, else the newest version's (see modelLevelConfig).
   */
  routing(name: string): RoutingSpec | undefined {
    const configs = [...(this.entries.get(name)?.wanted.values() ?? [])].map((w) => w.config);
    return configs.reduce<ModelConfig | undefined>((a, c) => (a === undefined || c.modelVersion > a.modelVersion ? c : a), undefined)?.routing;
  }

  /** Per-step observations of pipelines (set by Metrics.watchCore). */
  onPipelineStep: ((model: string, version: number, step: string, seconds: number, outcome: 'ok' | 'error') => void) | undefined;

  /** Models loaded now (at least one ready or loading version). */
  loadedModelCount(): number {
    let n = 0;
    for (const e of this.entries.values()) if (holdsMemory(e)) n++;
    return n;
  }

  // --- loading and unloading ---------------------------------------------------------------

  /**
   * Loads one version and, once warm, makes it serve (replacing a ready version of the same number).
   * Throws (after recording the failure on the slot) when it cannot load. Requests wait for it (entry.pending).
   */
  private loadVersion(entry: ModelEntry, config: ModelConfig, fingerprint: string | undefined, startup = false): Promise<void> {
    const v = config.modelVersion;
    const run = this.loadVersionNow(entry, config, fingerprint, startup);
    const settled = run.then(() => undefined, () => undefined);
    entry.pending.set(v, settled);
    void settled.then(() => { if (entry.pending.get(v) === settled) entry.pending.delete(v); });
    return run;
  }

  private async loadVersionNow(entry: ModelEntry, config: ModelConfig, fingerprint: string | undefined, startup: boolean): Promise<void> {
    const v = config.modelVersion;
    const previous = entry.slots.get(v);
    const replacing = previous?.state === 'ready' ? previous : undefined;
    // A ready version stays listed as ready while its replacement loads; a new one shows 'loading'.
    const load = ++keySequence;
    const slot: VersionSlot = replacing ? { ...replacing } : { version: v, state: 'loading', fingerprint, config, load };
    if (!replacing) entry.slots.set(v, slot);
    // The slot this load will take over once it is warm: while it runs, the version may be unloaded
    // (repository API, memory budget), removed, or loaded again by another load (a request loading
    // it on demand while --watch loads its changed files).
    const mine = replacing ?? slot;
    const key = `${config.name}/${v}#${load}`;
    const started = performance.now();
    let loaded: ServableVersion | undefined;
    try {
      loaded = config.pipeline ? this.buildPipeline(config) : await this.loadModelVersion(config, key);
      if (config.kind === 'raw' && loaded instanceof ModelVersion) {
        // A raw model: one row of zeros through the batcher and session (none for an input of no declared shape).
        const feeds = loaded.exampleFeeds();
        if (feeds !== undefined) await warmUp(config, key, 'one row of zeros / empty strings', loaded.infer(feeds, 1, { unobserved: true }), this.clientsRoot(config.modelDir));
      } else {
        // The example row through the whole path: a mapping that cannot work fails here, not on traffic.
        // (A pipeline's steps are warmed as models; its remote steps need not be up to load it.)
        const validated = loaded.validate(exampleRow(loaded.config));
        if (!validated.ok) {
          const said = (file: string) => `${file}: the fields' examples do not form a valid request: ${JSON.stringify(validated.issues)}`;
          throw new StartupError('MS_ERR_CONFIG_INVALID', said(config.configFile), { forClients: said(fileOfVersionForClients(config, config.configFile, this.clientsRoot(config.modelDir))) });
        }
        if (!config.pipeline) {
          const version = loaded;
          await warmUp(config, key, "the example row (the fields' examples, defaults)", version.predict(validated.rows, undefined, { unobserved: true }).then((p) => version.serialize.many(p)), this.clientsRoot(config.modelDir));
        }
      }
    } catch (err) {
      if (loaded !== undefined) await this.release(loaded);
      // The slot's reason reaches API clients (GET /models, the repository API); the log has the operator's.
      const reason = (err as Error).message;
      const forClients = messageForClients(err);
      let failed: VersionSlot | undefined;
      if (entry.slots.get(v) !== mine) {
        // Unloaded, removed or loaded again meanwhile: that state stays (the failure is still reported).
      } else if (replacing) {
        // The previous load keeps serving; the failure is recorded beside it.
        failed = { ...replacing, reason: reloadFailed(v, forClients), fingerprint };
        entry.slots.set(v, failed);
      } else {
        failed = { version: v, state: 'failed', reason: forClients, fingerprint, config };
        entry.slots.set(v, failed);
      }
      // A load cut short by shutdown (the runtime closed under it) is no problem of the model's files.
      const stopping = this.state === 'draining' || this.state === 'closed';
      if (!startup && !stopping) {
        this.options.onProblem?.(reason, { model: entry.name, version: v });
        this.emit('event', { type: 'version-failed', model: entry.name, version: v, reason, forClients } satisfies CoreEvent);
      }
      // (A start-up load is not retried: the start fails, with every problem, and the process exits.)
      if (failed !== undefined && !startup && !stopping && err instanceof WorkerLostError) this.retryLoad(entry, config, fingerprint, failed, forClients);
      else this.cancelRetry(entry.name, v);
      throw err;
    }
    // Takes over its own slot, or a load of this version that started earlier (still loading, or
    // ready: then it replaces that one). Not a version unloaded or removed meanwhile, nor one a later
    // load already made ready: then what it loaded never serves.
    const current = entry.slots.get(v);
    const takesOver = current === mine || current?.state === 'loading' || (current?.state === 'ready' && (current.load ?? 0) < load);
    if (!takesOver) {
      await this.release(loaded);
      return;
    }
    const replaced = current?.state === 'ready' && current.loaded !== undefined ? current.loaded : undefined;
    this.cancelRetry(entry.name, v);
    entry.slots.set(v, { version: v, state: 'ready', loaded, fingerprint, config, load });
    const before = entry.serving;
    entry.serving = newest(entry);
    entry.lastUsed = ++this.clock;
    this.emit('event', { type: 'version-ready', model: entry.name, version: v, loadMs: performance.now() - started, replaced: replaced ? v : undefined } satisfies CoreEvent);
    if (before !== entry.serving) this.emit('event', { type: 'models-changed' } satisfies CoreEvent);
    if (replaced) void this.retire(entry, replaced, 'replaced');
    // Under --watch, the pipelines whose step this model is are derived again now, with no await since the swap (a
    // pipeline's load has none): its requests get the old answer or the new, not the model's new outputs read as its
    // old ones (a 502) until the scan pass had loaded all else it found.
    if (this.watcher !== undefined && !(loaded instanceof PipelineVersion)) void this.refreshPipelines();
  }

  /** The loads lost with their worker waiting to be tried again, by model name and version (retryKey). */
  private readonly retries = new Map<string, LoadRetry>();

  /**
   * Tries a load lost with its inference worker again after the next wait of LOAD_RETRY_DELAYS_MS (said as a
   * 'version-load-retry' event and on the failed slot); past the last, the version stays failed. The try happens only
   * if nothing changed the version meanwhile: its failed slot still there (not unloaded, removed, loaded again), the
   * model not unloaded by request, the core not shutting down. Changed files, the repository API's load and unload, and
   * shutdown cancel it (cancelRetry).
   */
  private retryLoad(entry: ModelEntry, config: ModelConfig, fingerprint: string | undefined, failed: VersionSlot, forClients: string): void {
    const v = config.modelVersion;
    const key = retryKey(entry.name, v);
    const spent = this.retries.get(key);
    if (spent?.timer !== undefined) clearTimeout(spent.timer);
    const tries = spent?.tries ?? 0;
    const delayMs = LOAD_RETRY_DELAYS_MS[tries];
    if (delayMs === undefined) {
      this.retries.delete(key);
      return;
    }
    const retry: LoadRetry = { tries: tries + 1 };
    this.retries.set(key, retry);
    const said = failed.reason;
    failed.reason = `${failed.reason}; ${retryNote(delayMs, retry.tries)}`;
    retry.timer = setTimeout(() => {
      retry.timer = undefined;
      if (this.retries.get(key) !== retry) return;
      if (this.state !== 'ready' || this.entries.get(entry.name) !== entry || entry.unloadedByRequest || entry.slots.get(v) !== failed) {
        this.retries.delete(key);
        return;
      }
      failed.reason = said;
      // Under the memory budget, a model that holds nothing is not loaded (evicting another) without a request: it
      // goes back to loading on its next request, as before the load that failed.
      const budget = this.options.maxLoadedModels ?? 0;
      if (budget > 0 && !isPipeline(entry) && !holdsMemory(entry)) {
        this.retries.delete(key);
        entry.slots.set(v, { version: v, state: 'unavailable', reason: 'not loaded (memory budget); loads on the next request', config, fingerprint });
        this.emit('event', { type: 'models-changed' } satisfies CoreEvent);
        return;
      }
      // Its failure (a WorkerLostError again) comes back here with this try counted.
      void this.loadVersion(entry, config, fingerprint).catch(() => undefined);
    }, delayMs);
    // Shutdown cancels it; a process with nothing else to do is not kept alive for it.
    retry.timer.unref();
    this.emit('event', { type: 'version-load-retry', model: entry.name, version: v, attempt: retry.tries, of: LOAD_RETRY_DELAYS_MS.length, delayMs, reason: forClients } satisfies CoreEvent);
  }

  /** Cancels the retry of a load lost with its worker (every version of the model without `version`). */
  private cancelRetry(name: string, version?: number): void {
    if (this.retries.size === 0) return;
    for (const [key, retry] of this.retries) {
      if (version === undefined ? !key.startsWith(`${name}\u0000`) : key !== retryKey(name, version)) continue;
      if (retry.timer !== undefined) clearTimeout(retry.timer);
      this.retries.delete(key);
    }
  }

  /** An ONNX model version: read (and optimise) the file, load it into the runtime, check it against the config. */
  private async loadModelVersion(config: ModelConfig, key: string): Promise<ModelVersion> {
    // Taken before the read: a copy landing during the load is not taken for the files refused.
    const stamp = filesStamp(config);
    const repo = this.clientsRoot(config.modelDir);
    const { source, optimization, classLinks, written } = await readModelSource(config, key, this.options.optimize ?? true, repo);
    // Only a raw model that batches can be found to run alone; hashed while its session loads (the bytes are cloned to a worker, not moved).
    const digest = config.kind === 'raw' && config.batching.enabled ? digestOf(source.bytes) : undefined;
    let signatures: Record<string, ModelSignature>;
    try {
      signatures = await this.runtime.load([source]);
    } catch (err) {
      // Remembered so that loading these files again evicts no model for them (boundToFail); still tried, and should
      // it then load, room is made once it serves.
      if (stamp !== undefined && sessionRefused(err)) this.refused.set(config.modelFile, stamp);
      // onnxruntime's refusal names the file where it is on disk (the operator's): clients read it as bytesFailure's do.
      if (err instanceof SessionLoadError) throw new StartupError(err.code, err.message, { cause: err.cause ?? err, forClients: `${fileOfVersionForClients(config, config.modelFile, repo)}: ${err.reason}` });
      throw err;
    }
    this.refused.delete(config.modelFile);
    if (!signatures[key]) {
      const said = (file: string) => `${file}: the runtime did not load this model`;
      throw new StartupError('MS_ERR_MODEL_LOAD', said(config.modelFile), { forClients: said(fileOfVersionForClients(config, config.modelFile, repo)) });
    }
    let signature = await withGraphNames(await withDeclaredRanks(signatures[key], source.bytes), source.bytes);
    const mismatch = signatureFailure(config, signature, repo);
    if (mismatch) {
      await this.runtime.unload([key]);
      throw mismatch;
    }
    this.warnSignature(config, signature);
    // A raw model's rows share runs only when its graph keeps them apart: an op that mixes them (a
    // mean over the batch) would answer each request from the others' rows, with as many rows as it sent.
    if (config.kind === 'raw' && config.batching.enabled && rawBatchable(signature)) {
      const rowsMixed = await rowMixing(signature, written);
      if (rowsMixed !== undefined) {
        signature = { ...signature, rowsMixed };
        this.options.onInfo?.(`${relative(process.cwd(), config.modelFile) || config.modelFile}: ${notBatchedMessage(rowsMixed)}`, { model: config.name, version: config.modelVersion });
      }
    }
    const versionKey = `${config.configFile}\n${config.modelVersion}`;
    const bytesDigest = await digest;
    const runsAlone = bytesDigest !== undefined && this.foundRunningAlone.get(versionKey) === bytesDigest;
    const onRunsAlone = bytesDigest === undefined ? undefined : () => this.foundRunningAlone.set(versionKey, bytesDigest);
    return new ModelVersion({ config, signature, key, runtime: this.runtime, optimization, classLinks, onBatch: this.options.onBatch?.(config.name, config.modelVersion), onRequest: this.options.onRequest?.(config.name, config.modelVersion), tap: this.predictions, maxRunRows: this.options.maxRunRows, runsAlone, onRunsAlone });
  }

  /**
   * Says a config's signature warnings (onWarning), each once while its files stay as they are: a model left unloaded
   * at start-up was warned of from its file's declared signature, and its first load (or a load after the memory
   * budget unloaded it) does not repeat them; an edit of the config or model file (a --watch reload) says them again.
   */
  private warnSignature(config: ModelConfig, signature: ModelSignature): void {
    // (Its key is forgotten with the version's slot: forgetFiles.)
    const key = `${config.configFile}\n${config.modelVersion}`;
    const stamp = filesStamp(config) ?? '';
    let warned = this.warned.get(key);
    if (warned === undefined || warned.stamp !== stamp) this.warned.set(key, (warned = { stamp, said: new Set() }));
    const file = relative(process.cwd(), config.configFile) || config.configFile;
    for (const w of signatureWarnings(config, signature)) {
      if (warned.said.has(w)) continue;
      warned.said.add(w);
      this.options.onWarning?.(`${file}: ${w}`, { model: config.name, version: config.modelVersion });
    }
  }

  /** A pipeline version: its served config derived from the steps' configs as wanted now. */
  private buildPipeline(config: ModelConfig): PipelineVersion {
    const all = [...this.entries.values()].flatMap((e) => [...e.wanted.values()].map((w) => w.config));
    if (!all.includes(config)) all.push(config);
    const { derived, problems } = resolvePipelines(all);
    const mine = problems.filter((p) => p.file === config.configFile);
    const served = derived.get(config);
    if (mine.length > 0 || served === undefined) throw new StartupError('MS_ERR_CONFIG_INVALID', formatProblems(mine.length > 0 ? mine : problems));
    const observe = (step: string, seconds: number, outcome: 'ok' | 'error') => this.onPipelineStep?.(config.name, config.modelVersion, step, seconds, outcome);
    const version = new PipelineVersion(served, this, observe, this.options.onRequest?.(config.name, config.modelVersion), this.predictions);
    this.derivedFrom.set(version, this.stepConfigs(config).keys);
    return version;
  }

  /**
   * What a pipeline's served config is derived from: its local steps' models' configs (through nested pipelines), as
   * wanted now, each named by model, version and the fingerprint of its files; `serving` tells whether each is what its
   * model serves (or loads when asked, under the memory budget), not a config whose reload failed.
   */
  private stepConfigs(config: ModelConfig): { keys: string[]; serving: boolean } {
    const keys: string[] = [];
    let serving = true;
    const seen = new Set<string>([config.name]);
    const visit = (c: ModelConfig) => {
      for (const step of c.pipeline?.steps ?? []) {
        const entry = step.model === undefined ? undefined : this.entries.get(step.model.name);
        if (entry === undefined || seen.has(entry.name)) continue;
        seen.add(entry.name);
        for (const [v, w] of entry.wanted) {
          keys.push(`${entry.name}\u0000${v}\u0000${w.fingerprint ?? ''}`);
          const slot = entry.slots.get(v);
          serving &&= slot !== undefined && slot.fingerprint === w.fingerprint && (slot.state === 'ready' || slot.state === 'unavailable');
          visit(w.config);
        }
      }
    };
    visit(config);
    return { keys, serving };
  }

  /** What each loaded pipeline version was derived from (or last tried to be, when that failed): see refreshPipelines. */
  private readonly derivedFrom = new WeakMap<ServableVersion, string[]>();

  /**
   * Derives again the pipelines whose steps' models now serve other configs (--watch): a pipeline
   * derived from a model's old config answered 502 for a field the model renamed, or kept its old request
   * fields, until it was reloaded itself. Only once what the steps want is what they serve (a step model whose
   * reload failed keeps serving its old config: nothing changed for the pipeline).
   */
  private async refreshPipelines(): Promise<void> {
    const loads: Array<Promise<void>> = [];
    for (const entry of this.entries.values()) {
      if (!isPipeline(entry) || entry.unloadedByRequest) continue;
      for (const slot of entry.slots.values()) {
        const wanted = entry.wanted.get(slot.version);
        if (slot.state !== 'ready' || slot.loaded === undefined || wanted === undefined || entry.pending.has(slot.version)) continue;
        const before = this.derivedFrom.get(slot.loaded);
        const now = this.stepConfigs(wanted.config);
        if (before === undefined || !now.serving || (before.length === now.keys.length && before.every((k, i) => k === now.keys[i]))) continue;
        // Tried once per change of its steps: a pipeline the change breaks keeps its failure shown, not retried every pass.
        this.derivedFrom.set(slot.loaded, now.keys);
        loads.push(this.loadVersion(entry, wanted.config, wanted.fingerprint).catch(() => undefined));
      }
    }
    await Promise.all(loads);
  }


  /** Releases what a version holds: its sessions in the runtime, or a pipeline's connections. */
  private async release(version: ServableVersion): Promise<void> {
    if (version instanceof ModelVersion) await this.runtime.unload([version.key]).catch(() => undefined);
    else if (version instanceof PipelineVersion) await version.close().catch(() => undefined);
  }

  /** Drains a version that no longer takes new requests, then releases its sessions. */
  private async retire(entry: ModelEntry, version: ServableVersion, reason: 'removed' | 'replaced' | 'unload' | 'evicted' | 'shutdown', why?: string): Promise<void> {
    await version.batcher.drain();
    await this.release(version);
    this.emit('event', { type: 'version-unloaded', model: entry.name, version: version.version, reason, ...(why !== undefined && { why }) } satisfies CoreEvent);
  }

  /** Stops routing to a slot's version at once, then drains and unloads it. */
  private async unloadSlot(entry: ModelEntry, slot: VersionSlot, reason: 'removed' | 'unload' | 'evicted', keep: 'delete' | 'unavailable', why?: string): Promise<void> {
    this.cancelRetry(entry.name, slot.version);
    const version = slot.loaded;
    const after: VersionSlot = { version: slot.version, state: 'unloading', config: slot.config, fingerprint: slot.fingerprint };
    entry.slots.set(slot.version, after);
    entry.serving = newest(entry);
    this.emit('event', { type: 'models-changed' } satisfies CoreEvent);
    if (version) await this.retire(entry, version, reason, reason === 'removed' ? why : undefined);
    if (entry.slots.get(slot.version) !== after) return; // reloaded meanwhile
    if (keep === 'delete') {
      entry.slots.delete(slot.version);
      this.forgetFiles(slot.config);
      this.removalCount++;
      this.emit('event', { type: 'models-changed' } satisfies CoreEvent); // a version the repository no longer has (metrics and statistics forget it)
    }
    // Its fingerprint is kept: --watch tells unchanged files (nothing to do) from changed ones.
    // (An eviction that an unload overtook while it drained: the model no longer loads on its next request.)
    else entry.slots.set(slot.version, { version: slot.version, state: 'unavailable', reason: entry.unloadedByRequest ? 'unloaded by request' : why, config: slot.config, fingerprint: slot.fingerprint });
  }

  /**
   * What is remembered of a version's files (its signature warnings said, a refusal by onnxruntime) goes with its slot:
   * kept, they grew by one entry per version ever deployed. A refused file another slot still names (a shared
   * `model: ../x.onnx`) stays remembered. Removals are rare: the walk over the slots costs nothing per request.
   */
  private forgetFiles(config: ModelConfig | undefined): void {
    if (config === undefined) return;
    this.warned.delete(`${config.configFile}\n${config.modelVersion}`);
    this.foundRunningAlone.delete(`${config.configFile}\n${config.modelVersion}`);
    if (!this.refused.has(config.modelFile)) return;
    for (const entry of this.entries.values()) for (const slot of entry.slots.values()) if (slot.config?.modelFile === config.modelFile) return;
    this.refused.delete(config.modelFile);
  }

  /** Loads every wanted version of a model that is not ready yet (on demand, or by the API). */
  private ensureLoaded(entry: ModelEntry): Promise<void> {
    // Only what is not loaded: a failed version is retried when its files change, not per request.
    // (One still draining after an eviction is loaded afresh under a new key: requests need not wait for the drain.)
    const toLoad = () => [...entry.wanted.values()].filter(({ config }) => {
      const slot = entry.slots.get(config.modelVersion);
      return slot === undefined || slot.state === 'unavailable' || slot.state === 'unloading';
    });
    // Nothing to load (every version failed, or none is selected): no other model is evicted for it.
    if (entry.loading === undefined && toLoad().length === 0) return Promise.resolve();
    entry.loading ??= (async () => {
      let evicted: ModelEntry[] = [];
      try {
        // No other model is unloaded for a load bound to fail: a model file missing, cut short or no ONNX at all, a
        // config that does not match the inputs and outputs the file declares, or files onnxruntime refused before and
        // unchanged since. (Should one load all the same, room is made once it serves, below.)
        let mayLoad = false;
        for (const { config } of toLoad()) if (!mayLoad && !(await boundToFail(config, this.refused))) mayLoad = true;
        if (mayLoad) evicted = await this.makeRoom(entry);
        await Promise.all(toLoad().map(({ config, fingerprint }) => this.loadVersion(entry, config, fingerprint).catch(() => undefined)));
        // Models that started loading together all went ahead (makeRoom evicts no model that is
        // loading): the last one to finish brings the count back within the budget. The victims
        // stop taking requests at once and drain in the background.
        if (entry.serving !== undefined) void this.makeRoom(entry).catch(() => undefined);
      } finally {
        entry.loading = undefined;
      }
      // A load that failed past the cheap checks (onnxruntime refusing the graph, a config that does not match it) had
      // room made for it: the models unloaded for it are loaded back while the room is free (once this one no longer
      // counts), so that the failure does not cost them their next request's load. Room is made before a load, not
      // after: the budget bounds memory, and a session's is known only once it is loaded.
      if (entry.serving === undefined) await this.restore(evicted);
    })();
    return entry.loading;
  }

  /** Unloads every version of a model for the memory budget, a version --watch is loading too (else it would serve once loaded). */
  private evict(entry: ModelEntry): Promise<void> {
    const slots = [...entry.slots.values()].filter((s) => s.state === 'ready' || s.state === 'loading');
    return Promise.all(slots.map((s) => this.unloadSlot(entry, s, 'evicted', 'unavailable', 'not loaded (memory budget); loads on the next request'))).then(() => undefined);
  }

  /** Loads models evicted for a load that then failed, as long as there is room (none unloaded by request since). */
  private async restore(evicted: readonly ModelEntry[]): Promise<void> {
    const budget = this.options.maxLoadedModels ?? 0;
    for (const victim of evicted) {
      if (this.state !== 'ready' || this.entries.get(victim.name) !== victim || victim.unloadedByRequest || holdsMemory(victim)) continue;
      if (this.loadedModelCount() >= budget) break;
      await this.ensureLoaded(victim).catch(() => undefined);
    }
  }

  /** Under the memory budget, unloads the least recently used other models until one more fits; returns those unloaded. */
  private async makeRoom(entry: ModelEntry): Promise<ModelEntry[]> {
    const budget = this.options.maxLoadedModels;
    if (!budget || budget <= 0 || isPipeline(entry)) return [];
    const victims: ModelEntry[] = [];
    const evictions: Array<Promise<void>> = [];
    for (;;) {
      const loaded = [...this.entries.values()].filter((e) => e !== entry && holdsMemory(e));
      if (loaded.length < budget) break;
      // Only a model that serves; all of it goes, a version --watch is loading too (else it would serve once loaded).
      // Not one that requests are waiting for (loaded for them, not yet handed to them).
      const victim = loaded.filter((e) => e.loading === undefined && e.serving !== undefined && e.waiting === 0).sort((a, b) => a.lastUsed - b.lastUsed)[0];
      if (victim === undefined) break; // everything else is loading: go over the budget briefly rather than wait
      this.emit('event', { type: 'eviction', model: victim.name });
      victims.push(victim);
      evictions.push(this.evict(victim));
    }
    await Promise.all(evictions);
    return victims;
  }

  /** Load and unload requests of one model run one after another, in the order they came: the last one wins. */
  private inOrder<T>(name: string, call: () => Promise<T>): Promise<T> {
    const run = (this.repositoryCalls.get(name) ?? Promise.resolve()).then(call);
    const settled = run.then(() => undefined, () => undefined);
    this.repositoryCalls.set(name, settled);
    void settled.then(() => { if (this.repositoryCalls.get(name) === settled) this.repositoryCalls.delete(name); });
    return run;
  }

  private readonly repositoryCalls = new Map<string, Promise<void>>();

  /**
   * The repository API's load: (re)reads the model's folder when there is a repository, and loads
   * it. (An unload sent while it runs waits for it: otherwise the load, finishing later, served a
   * model whose unload had been acknowledged.)
   */
  loadModel(name: string): Promise<ModelStatus> {
    return this.inOrder(name, () => this.loadModelNow(name));
  }

  private async loadModelNow(name: string): Promise<ModelStatus> {
    const known = this.entries.get(name);
    const wasUnloaded = known?.unloadedByRequest ?? false;
    // This load tries every version again now (its own failures may schedule new tries).
    this.cancelRetry(name);
    if (known) known.unloadedByRequest = false;
    // Failures of this load (a reload that fails keeps the previous load serving, but the call fails).
    const failures: string[] = [];
    const listener = (e: CoreEvent) => {
      if (e.type === 'version-failed' && e.model === name) failures.push(`version ${e.version}: ${e.forClients}`);
      // Emitted right after its failure, and said with it: a client tells "failed, tried again in 1 s" from "failed for good".
      else if (e.type === 'version-load-retry' && e.model === name && failures.length > 0) failures[failures.length - 1] += `; ${retryNote(e.delayMs, e.attempt)}`;
    };
    this.on('event', listener);
    try {
      // With a repository, the model's folder is read again: load picks up what changed on disk (or a new model).
      // (Its folder renamed: nothing more is loaded under the name asked for.)
      const renamed = this.repo === undefined ? [] : await this.reconcileWith({ only: name, force: true });
      failures.push(...renamed);
      const entry = this.entries.get(name);
      if (entry === undefined) throw this.notFound(name);
      if (renamed.length === 0) {
        entry.unloadedByRequest = false;
        // What the folder's reading found wrong besides its versions (a broken or empty version policy, a
        // pipeline step no model serves, another folder claiming the name): not applied, so the load failed.
        failures.push(...entry.scanProblems);
        await this.ensureLoaded(entry);
      } else entry.unloadedByRequest = wasUnloaded; // refused: as it was
      const status = this.status(name)[0]!;
      if (entry.serving === undefined && failures.length === 0) failures.push(status.versions.map((v) => v.reason).find((r) => r !== undefined) ?? this.unarrivedProblems(name) ?? 'no version could be loaded');
      if (failures.length > 0) {
        const kept = entry.serving ? ` (version ${entry.serving.version} as loaded before keeps serving)` : '';
        throw new ModelServeError('MS_ERR_MODEL_LOAD_FAILED', `model '${name}' failed to load${kept}: ${failures.join('; ')}`);
      }
      return status;
    } finally {
      this.off('event', listener);
    }
  }

  /**
   * Why a load found no version to load: its version folders that hold a config and nothing more, which
   * the scan takes for still arriving (never selected) — each one's config problems (a model file not
   * found, a broken config); a load means them as they are. As API clients read them (the load's answer). Undefined when there is none.
   */
  private unarrivedProblems(name: string): string | undefined {
    if (this.repo === undefined) return undefined;
    const model = scanRepository(this.repo).models.find((m) => m.name === name);
    const problems = (model?.versions ?? []).filter((v) => !v.complete).map((v) => {
      const found: Problem[] = [];
      v.read(found);
      return `version ${v.version}: ${found.length > 0 ? formatProblems(found, undefined, this.repo) : 'its folder holds no model file'}`;
    });
    return problems.length > 0 ? problems.join('; ') : undefined;
  }

  /** The repository API's unload: stops serving the model, drains it and releases its sessions. */
  unloadModel(name: string): Promise<ModelStatus> {
    return this.inOrder(name, () => this.unloadModelNow(name));
  }

  private async unloadModelNow(name: string): Promise<ModelStatus> {
    const entry = this.entries.get(name);
    if (entry === undefined) throw this.notFound(name);
    entry.unloadedByRequest = true;
    this.cancelRetry(name);
    if (entry.loading) await entry.loading.catch(() => undefined);
    // A version still loading (--watch, the memory budget) is unloaded too: its load, finishing later, does not serve.
    await Promise.all([...entry.slots.values()].filter((s) => s.state === 'ready' || s.state === 'failed' || s.state === 'loading').map((s) => this.unloadSlot(entry, s, 'unload', 'unavailable', 'unloaded by request')));
    // Versions not loaded under the memory budget no longer load on their next request: say so.
    for (const s of entry.slots.values()) if (s.state === 'unavailable') entry.slots.set(s.version, { ...s, reason: 'unloaded by request' });
    return this.status(name)[0]!;
  }

  // --- the repository on disk (--watch) -----------------------------------------------------

  /** Watches the repository: new, changed and removed versions are applied without a restart. */
  watch(options: WatchOptions = {}): void {
    if (this.repo === undefined) throw new Error('watch needs a repository folder');
    this.watcher ??= new RepositoryWatcher(this.repo, options, async () => {
      this.watchReport = undefined;
      await this.reconcile({});
      return this.watchReport;
    });
    // What is loaded now came from disk as it is now: remember each version's fingerprint.
    for (const model of scanRepository(this.repo).models) {
      // Said at start-up (server.ts): not again by the first pass.
      for (const p of model.danglingLinks ?? []) this.reportedDangling.add(`${p.file}\n${p.message}`);
      for (const p of model.lookalikes ?? []) this.reportedLookalikes.add(`${p.file}\n${p.message}`);
      const entry = this.entries.get(model.name);
      if (entry === undefined) continue;
      for (const v of model.versions) {
        const slot = entry.slots.get(v.version);
        const wanted = entry.wanted.get(v.version);
        if (slot && slot.fingerprint === undefined) slot.fingerprint = v.fingerprint;
        if (wanted && wanted.fingerprint === undefined) wanted.fingerprint = v.fingerprint;
      }
    }
    // The pipelines were derived from their steps as loaded: named by these fingerprints from now on.
    for (const entry of this.entries.values()) for (const slot of entry.slots.values()) if (slot.loaded instanceof PipelineVersion && slot.config) this.derivedFrom.set(slot.loaded, this.stepConfigs(slot.config).keys);
    this.watcher.start();
  }

  private reconciling: Promise<void> = Promise.resolve();

  /** What the last watch pass's scan found (the watcher's poll pace). */
  private watchReport: WatchPassReport | undefined;

  /** The watcher's poll period now (see RepositoryWatcher.pollPaceMs); undefined without --watch. */
  get watchPollMs(): number | undefined {
    return this.watcher?.pollPaceMs;
  }

  /**
   * Brings the served set in line with the repository on disk: loads new and changed versions,
   * unloads removed ones. Serialised: one pass at a time.
   */
  reconcile(options: { only?: string; force?: boolean }): Promise<void> {
    return this.reconcileWith(options).then(() => undefined);
  }

  /** reconcile(), answering why the `only` model was not applied under its name (its folder now names another model). */
  private reconcileWith(options: { only?: string; force?: boolean }): Promise<string[]> {
    const pass = this.reconciling.then(() => this.reconcileOnce(options));
    this.reconciling = pass.then(() => undefined, () => undefined);
    return pass;
  }

  private async reconcileOnce(options: { only?: string; force?: boolean }): Promise<string[]> {
    if (this.repo === undefined || this.state === 'draining' || this.state === 'closed') return [];
    const servedNames = new Map<string, string>();
    for (const entry of this.entries.values()) {
      const dir = modelDirOf(entry);
      if (dir !== undefined) servedNames.set(dir, entry.name);
    }
    // The whole repository, even for one model: a load must see the folder it serves from under its new name.
    const loaded = new Set<string>();
    for (const entry of this.entries.values()) for (const slot of entry.slots.values()) if (slot.state === 'ready' && slot.config) loaded.add(`${slot.config.modelDir}\n${slot.version}`);
    const all = scanRepository(this.repo, options.force || this.watcher === undefined ? undefined : this.watcher.options, servedNames, loaded, this.watcher !== undefined && options.only === undefined && !options.force);
    if (options.only === undefined && !options.force) this.watchReport = { pending: all.pending, uncovered: all.uncovered, changedFolders: all.changedFolders };
    const scan = { models: all.models.filter((m) => options.only === undefined || m.name === options.only) };
    const seen = new Set<string>();
    const work: Array<Promise<void>> = [];
    const kept: Array<{ model: ScannedModel; clashes: ScanProblem[] }> = [];
    const repo = this.repo;
    for (const [name, claims] of claimsByName(scan.models)) {
      seen.add(name);
      // Two model folders under one name: the one that serves keeps it, the other is reported and
      // not applied (applying both would swap the model back and forth on every pass).
      const serving = this.entries.get(name)?.wanted.values().next().value?.config.modelDir;
      const model = claims.find((m) => m.dir === serving) ?? claims[0]!;
      const said = (m: ScannedModel, shown: (file: string) => string) => `${shown(configFileOf(m))}: name: model name '${name}' is already used by ${shown(configFileOf(model))}; this folder is not served`;
      kept.push({ model, clashes: claims.filter((m) => m !== model).map((m) => ({ said: said(m, (f) => f), forClients: said(m, (f) => fileForClients(f, repo)) })) });
    }
    // Every version config this pass will apply: a new pipeline is checked against the models that
    // arrive with it (a chain of new pipelines loaded one level per pass, each failing meanwhile).
    const arriving = kept.flatMap(({ model: m }) => m.versions.filter((v) => v.selected).map((v) => v.read([])).filter((c): c is ModelConfig => c?.name === m.name));
    // What each model is checked against, gathered once a pass: gathered per model, a pass (every second under --watch) was quadratic in the models.
    const arrivedKeys = new Set(arriving.map(versionKey));
    const served = [...this.entries.values()].flatMap((e) => [...e.wanted.values()].map((w) => ({ entry: e, config: w.config, arrived: arrivedKeys.has(versionKey(w.config)) })));
    const others: PassModels = { arriving, served, generation: this.passGeneration(arriving, served) };
    for (const { model, clashes } of kept) work.push(this.applyModel(model, options.force ?? false, clashes, others));
    const keptDirs = new Set(kept.map((k) => k.model.dir));
    const refused: ScanProblem[] = [];
    for (const entry of [...this.entries.values()]) {
      if (seen.has(entry.name)) continue;
      const dir = modelDirOf(entry);
      if (options.only !== undefined && entry.name !== options.only && (dir === undefined || !keptDirs.has(dir))) continue;
      // A load names the model: its folder now naming another one is no rename by that load (as every
      // failed reload, what is loaded keeps serving). Loading the new name renames it, as --watch does.
      const renamed = options.only === entry.name ? all.models.find((m) => m.dir === dir) : undefined;
      if (renamed !== undefined) {
        const said = (file: string) => `${file}: name: names the model '${renamed.name}', not '${entry.name}': load '${renamed.name}' to serve this folder under that name ('${entry.name}' is then removed)`;
        const problem = { said: said(configFileOf(renamed)), forClients: said(fileForClients(configFileOf(renamed), repo)) };
        this.setScanProblems(entry, [problem]);
        refused.push(problem);
        continue;
      }
      // A folder that can no longer be listed (a chmod gone wrong) is not a removal: what it served keeps serving.
      const unreadable = all.unreadable.find((u) => dir !== undefined && (u.dir === dir || dir.startsWith(`${u.dir}${sep}`)));
      if (unreadable !== undefined) {
        const problem = this.scanProblem([{ ...unreadable.problem, message: `${unreadable.problem.message}; the versions loaded before keep serving`, forClients: undefined }]);
        this.setScanProblems(entry, [problem]);
        refused.push(problem);
        continue;
      }
      // The model folder is gone, or now serves under another name, or is no model folder any more: stop serving it, then forget it.
      // (The last said once, with its unloads: the scans after it no longer look at that folder.)
      const why = dir !== undefined && !all.models.some((m) => m.dir === dir) ? noLongerModelFolder(dir) : undefined;
      entry.wanted.clear();
      this.reportedScanProblems.delete(entry.name);
      const unloads = [...entry.slots.values()].some((s) => s.loaded !== undefined);
      work.push(
        Promise.all([...entry.slots.values()].map((s) => this.unloadSlot(entry, s, 'removed', 'delete', why))).then(() => {
          if (entry.slots.size === 0 && entry.wanted.size === 0 && this.entries.delete(entry.name)) {
            this.removalCount++;
            // No version unload says it: the removal itself is said (once: the entry is gone).
            if (!unloads) this.emit('event', { type: 'model-removed', model: entry.name, ...(why !== undefined && { why }) } satisfies CoreEvent);
          }
          this.emit('event', { type: 'models-changed' } satisfies CoreEvent);
        }),
      );
    }
    await Promise.all(work);
    this.refreshDefault();
    // Under --watch the pipelines follow their steps' files too (a load names its model alone: its pipelines are loaded by name).
    if (options.only === undefined && !options.force) await this.refreshPipelines();
    return refused.map((p) => p.forClients); // the load's answer
  }

  /** `default: true` may move from one model to another (or go) while --watch runs. */
  private refreshDefault(): void {
    let marked: string | undefined;
    for (const entry of this.entries.values()) if (markedDefault([...entry.wanted.values()].map((w) => w.config)).length > 0) marked ??= entry.name;
    if (marked === this.defaultName) return;
    this.defaultName = marked;
    this.emit('event', { type: 'models-changed' } satisfies CoreEvent);
  }

  private async applyModel(model: ScannedModel, force: boolean, clashes: ScanProblem[], others: PassModels): Promise<void> {
    // A broken policy, or one that selects no version: shown on the model (a version serving keeps serving, see 2. below).
    if (model.policyProblems) clashes = [...clashes, this.scanProblem(model.policyProblems)];
    // A version folder that cannot be listed: shown on the model and logged once, until it can be (its slot is kept as it is).
    if (model.unreadable) clashes = [...clashes, this.scanProblem(model.unreadable)];
    this.reportIncomplete(model);
    this.reportDangling(model);
    this.reportLookalikes(model);
    const isNew = !this.entries.has(model.name);
    const entry = this.entry(model.name);
    const wanted = new Map<number, { config: ModelConfig; fingerprint: string }>();
    for (const v of model.versions) {
      if (!v.selected) continue;
      const problems: Problem[] = [];
      let config = v.read(problems);
      if (config && config.name !== model.name) {
        problems.push({ file: config.configFile, path: 'name', message: `names the model '${config.name}', but this model folder serves '${model.name}': the versions of a model folder are one model` });
        config = undefined;
      }
      if (config) {
        wanted.set(v.version, { config, fingerprint: v.fingerprint });
        continue;
      }
      const slot = entry.slots.get(v.version);
      if (slot?.fingerprint === v.fingerprint && !force) continue; // already reported
      this.cancelRetry(model.name, v.version); // its files changed: a try of the old ones would be no use
      const reason = formatProblems(problems);
      // The slot's reason reaches API clients: without what a problem quotes of a file (a scale.file's text).
      const forClients = formatProblems(problems, undefined, this.clientsRoot(model.dir));
      if (slot?.state === 'ready') entry.slots.set(v.version, { ...slot, fingerprint: v.fingerprint, reason: reloadFailed(v.version, forClients) });
      else entry.slots.set(v.version, { version: v.version, state: 'failed', reason: forClients, fingerprint: v.fingerprint });
      this.options.onProblem?.(reason, { model: model.name, version: v.version });
      this.emit('event', { type: 'version-failed', model: model.name, version: v.version, reason, forClients } satisfies CoreEvent);
    }
    // The other models as they are on disk now where this pass has them, else as last applied; not
    // this folder's configs under another name (its old name, when all its versions were renamed).
    // (Another entry's configs are all of other names, so this pass's configs of this model's name never hid one.)
    const own = [...wanted.values()].map((w) => w.config);
    const gather = (): ModelConfig[] => {
      this.clashInputCount += others.arriving.length + others.served.length;
      const fresh = others.arriving.filter((c) => c.name !== model.name);
      const served = others.served.filter((s) => s.entry !== entry && !s.arrived && s.config.modelDir !== model.dir).map((s) => s.config);
      // A model already served comes first: a newcomer's clash (a second default, a name) is the newcomer's.
      // And the default model before any other: a served model that now says default: true too is
      // refused, not made a second default that POST /predict never reaches.
      const ordered = isNew ? [...fresh, ...served, ...own] : [...own, ...fresh, ...served];
      return [...ordered.filter((c) => c.name === this.defaultName), ...ordered.filter((c) => c.name !== this.defaultName)];
    };
    const clash = this.clashesOf(entry, { generation: others.generation, isNew, dir: model.dir, defaultName: this.defaultName, own }, gather);
    if (clash.length > 0) {
      this.setScanProblems(entry, [...clashes, this.scanProblem(clash)]);
      if (isNew && entry.slots.size === 0) this.entries.delete(entry.name);
      return;
    }
    this.setScanProblems(entry, clashes);
    if (isNew) this.emit('event', { type: 'models-changed' } satisfies CoreEvent);
    for (const [v, w] of wanted) entry.wanted.set(v, w);
    // The other models of this pass register theirs before any load starts (one microtask: every
    // applyModel of the pass runs to here first): a new pipeline's steps are resolved against them.
    await Promise.resolve();
    // 1. Load what is new or changed (a model unloaded by request or by the budget stays unloaded until asked for).
    const loads: Array<Promise<void>> = [];
    // A pipeline holds no sessions: outside the budget (never left unloaded for it, nor evicted).
    const budget = isPipeline(entry) ? 0 : this.options.maxLoadedModels ?? 0;
    // Decided and started without an await between models: each load started here is a 'loading'
    // slot at once, so the next model of this pass counts it (holdsMemory).
    const wasLoaded = holdsMemory(entry);
    const budgetFull = budget > 0 && !wasLoaded && this.loadedModelCount() >= budget;
    // Not loaded under the budget (evicted, or left out at start or by an earlier pass): it loads on
    // its next request, which reads its files as they are then — as a model unloaded by request, its
    // files changing does not load it (the repository API's load, `force`, does).
    const onDemand = budget > 0 && !wasLoaded && !force && [...entry.slots.values()].some((s) => s.state === 'unavailable' || s.state === 'unloading');
    const requested = entry.lastRequest;
    for (const [v, w] of wanted) {
      const slot = entry.slots.get(v);
      if (slot?.fingerprint === w.fingerprint && !force) continue;
      // Its files changed (or the repository API loads it): loaded as they are now, not tried again as they were.
      this.cancelRetry(entry.name, v);
      if (entry.unloadedByRequest || onDemand || (budgetFull && slot?.state !== 'ready')) {
        // The fingerprint is recorded: the next pass finds nothing changed, and leaves it as it is.
        if (slot?.state !== 'ready') entry.slots.set(v, { version: v, state: 'unavailable', reason: entry.unloadedByRequest ? 'unloaded by request' : `not loaded (memory budget); loads on the ${slot === undefined ? 'first' : 'next'} request`, config: w.config, fingerprint: w.fingerprint });
        continue;
      }
      loads.push(this.loadVersion(entry, w.config, w.fingerprint).catch(() => undefined));
    }
    await Promise.all(loads);
    // Another model's load may have started meanwhile (its makeRoom cannot evict a model still
    // loading): then this one, loaded only because its files changed, goes back to loading on
    // demand — unless a request for it came during the load: then the least recently used other goes.
    if (loads.length > 0 && budget > 0 && !wasLoaded && entry.serving !== undefined && this.loadedModelCount() > budget) {
      if (entry.lastRequest !== requested) await this.makeRoom(entry);
      else {
        this.emit('event', { type: 'eviction', model: entry.name } satisfies CoreEvent);
        await this.evict(entry);
      }
    }
    // 2. Then unload the versions no longer on disk or no longer selected — but never leave a model
    //    that was serving with nothing: a deselected version keeps serving until a selected one is ready.
    // Kept: versions still settling, and selected ones whose config failed (their failure stays listed).
    const settling = new Set(model.versions.filter((v) => v.settling || v.selected).map((v) => v.version));
    const selectedReady = [...wanted.keys()].some((v) => entry.slots.get(v)?.state === 'ready');
    const unloads: Array<Promise<void>> = [];
    for (const slot of [...entry.slots.values()]) {
      if (wanted.has(slot.version) || settling.has(slot.version)) continue;
      const onDisk = model.versions.some((v) => v.version === slot.version);
      // Its folder replaced by another version's in one step (a git-sync or ConfigMap symlink swap, `mv` in
      // then `rm`): the removed version keeps serving until the one replacing it is ready. So does one whose replacement is
      // still arriving: a flat model's folder given an empty (or config-only) `2/` had its version 1 unloaded, leaving nothing.
      const replaced = model.versions.some((v) => v.complete || v.settling);
      if (slot.state === 'ready' && !selectedReady && (onDisk || replaced)) continue;
      if (slot.state === 'unloading') continue;
      entry.wanted.delete(slot.version);
      unloads.push(this.unloadSlot(entry, slot, 'removed', 'delete'));
    }
    for (const v of [...entry.wanted.keys()]) if (!wanted.has(v) && !entry.slots.has(v)) entry.wanted.delete(v);
    await Promise.all(unloads);
  }

  /**
   * The cross-model problems (names, default, shadows, pipeline steps) of a model's configs `own` among `all`. Remembered by
   * the configs it was found for: a pass with nothing changed (every second under --watch) finds the same configs, and checking
   * every model against every other again made an idle pass over 300 models cost tens of milliseconds.
   */
  private clashesOf(entry: ModelEntry, key: ClashKey, gather: () => readonly ModelConfig[]): Problem[] {
    // The same pass inputs (see passGeneration) and the same own configs give the same list: not gathered nor compared again
    // (gathering it for every model was quadratic in the models: 10-20 ms a second, idle, at 400 models).
    const last = this.lastClashes.get(entry);
    this.clashInputCount += key.own.length;
    if (last && last.key.generation === key.generation && last.key.isNew === key.isNew && last.key.dir === key.dir && last.key.defaultName === key.defaultName && sameItems(last.key.own, key.own)) return last.problems;
    const all = gather();
    const own = key.own;
    this.clashInputCount += all.length;
    if (last && sameItems(last.all, all)) {
      this.lastClashes.set(entry, { key, all, problems: last.problems });
      return last.problems;
    }
    this.crossModelCheckCount++;
    // Its configs' files, and the model folder's config its routing keys are read from.
    const files = new Set(own.flatMap((c) => (c.routing ? [c.configFile, c.routing.file] : [c.configFile])));
    const problems = [...repositoryProblems(all), ...resolvePipelines(all).problems].filter((p) => files.has(p.file));
    this.lastClashes.set(entry, { key, all, problems });
    return problems;
  }

  /**
   * A number that stays the same while a pass's configs (arriving and served) are the very ones of the pass before: what
   * each model's clash check depends on besides its own configs. Compared once a pass, in one walk.
   */
  private passGeneration(arriving: readonly ModelConfig[], served: PassModels['served']): number {
    const last = this.lastPass;
    this.clashInputCount += arriving.length + served.length;
    const same =
      last !== undefined &&
      sameItems(last.arriving, arriving) &&
      last.served.length === served.length &&
      last.served.every((s, i) => s.entry === served[i]!.entry && s.config === served[i]!.config && s.arrived === served[i]!.arrived);
    if (!same) this.lastPass = { arriving, served, generation: (last?.generation ?? 0) + 1 };
    return this.lastPass!.generation;
  }

  private lastPass: { arriving: readonly ModelConfig[]; served: PassModels['served']; generation: number } | undefined;

  private clashInputCount = 0;

  /** How many configs the passes' clash checks looked at (gathered or compared): an idle pass, a few per model, not the whole list per model. */
  get clashInputs(): number {
    return this.clashInputCount;
  }

  private crossModelCheckCount = 0;

  /** How many cross-model checks (clashesOf) the passes made: a pass with nothing changed makes none. */
  get crossModelChecks(): number {
    return this.crossModelCheckCount;
  }

  private readonly lastClashes = new WeakMap<ModelEntry, { key: ClashKey; all: readonly ModelConfig[]; problems: Problem[] }>();

  /** Config problems of a scan, as the operator and API clients read them (formatProblems). */
  private scanProblem(problems: Problem[]): ScanProblem {
    return { said: formatProblems(problems), forClients: formatProblems(problems, undefined, this.repo) };
  }

  /**
   * Sets the problems of a model's last scan that belong to no version, logging each once (scans repeat every second).
   * The model's status (API clients) reads their forClients.
   */
  private setScanProblems(entry: ModelEntry, problems: ScanProblem[]): void {
    // Kept here rather than on the entry: a new model whose config clashes is forgotten after each scan.
    const said = problems.map((p) => p.said);
    const reported = this.reportedScanProblems.get(entry.name) ?? [];
    for (const p of said) if (!reported.includes(p)) this.options.onProblem?.(p, { model: entry.name, version: 0 });
    if (said.length > 0) this.reportedScanProblems.set(entry.name, said);
    else this.reportedScanProblems.delete(entry.name);
    entry.scanProblems = problems.map((p) => p.forClients);
  }

  private readonly reportedScanProblems = new Map<string, string[]>();

  /** Says once (until it is whole or gone) that a version's model file is cut short, and waited for: a stalled copy may stall again. */
  private reportIncomplete(model: ScannedModel): void {
    const reported = this.reportedIncomplete.get(model.dir) ?? new Set<number>();
    const now = new Set<number>();
    for (const v of model.versions) {
      // Still said while its copy goes on (settling): until it is whole, or gone.
      if (v.incomplete === undefined) {
        if (v.settling && reported.has(v.version)) now.add(v.version);
        continue;
      }
      now.add(v.version);
      if (reported.has(v.version)) continue;
      const file = v.read([])?.modelFile ?? model.dir;
      const reason = `${relative(process.cwd(), file) || file}: ${v.incomplete}; waiting for the rest of it (what serves keeps serving)`;
      this.emit('event', { type: 'version-incomplete', model: model.name, version: v.version, reason } satisfies CoreEvent);
    }
    if (now.size > 0) this.reportedIncomplete.set(model.dir, now);
    else this.reportedIncomplete.delete(model.dir);
  }

  /** Says once per link and reason (until it changes or is gone) that a version folder is a symbolic link to no folder. */
  private reportDangling(model: ScannedModel): void {
    this.sayOnce(model, model.danglingLinks, this.reportedDangling, (p, reason) =>
      this.emit('event', { type: 'version-link-dangling', model: model.name, version: Number(basename(p.file)), reason } satisfies CoreEvent),
    );
  }

  /** Says once per folder and reason (until it changes or is gone) that a subfolder is named like a version that is none. */
  private reportLookalikes(model: ScannedModel): void {
    this.sayOnce(model, model.lookalikes, this.reportedLookalikes, (_p, reason) =>
      this.emit('event', { type: 'version-folder-lookalike', model: model.name, reason } satisfies CoreEvent),
    );
  }

  /**
   * Calls `say` for each of a model's problems not said before (by file and message), and forgets those of the model
   * that are gone, so a scan every second says each once until it changes.
   */
  private sayOnce(model: ScannedModel, problems: readonly Problem[] | undefined, said: Set<string>, say: (p: Problem, reason: string) => void): void {
    const now = new Set<string>();
    for (const p of problems ?? []) {
      const key = `${p.file}\n${p.message}`;
      now.add(key);
      if (!said.has(key)) say(p, `${relative(process.cwd(), p.file) || p.file}: ${p.message}`);
    }
    for (const key of [...said]) if (key.startsWith(`${model.dir}${sep}`) && !now.has(key)) said.delete(key);
    for (const key of now) said.add(key);
  }

  /** The dangling version links said (path and message), so that a scan every second does not say them again. */
  private readonly reportedDangling = new Set<string>();

  /** The version lookalike folders said (path and message), as reportedDangling. */
  private readonly reportedLookalikes = new Set<string>();

  /** The versions (by model folder) reported cut short and still so. */
  private readonly reportedIncomplete = new Map<string, Set<number>>();

  // --- shutdown ------------------------------------------------------------------------------

  /** Cancels every pending retry of a load lost with its worker (shutdown). */
  private cancelRetries(): void {
    for (const retry of this.retries.values()) if (retry.timer !== undefined) clearTimeout(retry.timer);
    this.retries.clear();
  }

  /** Waits until every queued and in-flight batch of every version has finished. */
  async drain(): Promise<void> {
    if (this.state === 'ready') this.state = 'draining';
    this.watcher?.stop();
    this.cancelRetries();
    await Promise.all(this.readyVersions().map((v) => v.batcher.drain()));
  }

  /** Drains, then stops the runtime (its workers). */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.watcher?.stop();
    this.cancelRetries();
    if (this.state !== 'starting') await this.drain();
    this.state = 'closed';
    await this.runtime.close();
  }
}

/** The models a reconcile pass checks each model against: every config it applies, and the ones served (`arrived`: that pass applies the same version again). */
interface PassModels {
  arriving: readonly ModelConfig[];
  served: ReadonlyArray<{ entry: ModelEntry; config: ModelConfig; arrived: boolean }>;
  /** Unchanged while arriving and served are the very configs of the pass before (passGeneration). */
  generation: number;
}

/** What a model's clash check depends on: the pass's other configs (by generation), whether it is new, its folder, the default model and its own configs. */
interface ClashKey {
  generation: number;
  isNew: boolean;
  dir: string;
  defaultName: string | undefined;
  own: readonly ModelConfig[];
}

const sameItems = <T>(a: readonly T[], b: readonly T[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

const versionKey = (c: ModelConfig): string => `${c.name}\u0000${c.modelVersion}`;

const retryKey = (name: string, version: number): string => `${name}\u0000${version}`;

/** How a scheduled try of a load lost with its worker is said (on the failed slot, and in the repository API's answer). */
const retryNote = (delayMs: number, attempt: number): string =>
  `tried again in ${delayMs / 1000} s (try ${attempt} of ${LOAD_RETRY_DELAYS_MS.length}): the inference worker was lost during the load, and is replaced`;

/** The model folder a model is served from (as last read). */
function modelDirOf(entry: ModelEntry): string | undefined {
  for (const w of entry.wanted.values()) return w.config.modelDir;
  for (const s of entry.slots.values()) if (s.config) return s.config.modelDir;
  return undefined;
}

/**
 * Why a version whose folder is on disk is not served, when it is: the version policy leaves it out (named as its config
 * writes it: `latest: 1`, `specific: [1, 3]`, `all: true`), or it is selected but not loaded yet (under --watch, its files
 * still changing; without it, added after start-up). Undefined when it has no folder. Read from disk on a 404 alone:
 * "has no version 1" sent a user looking for a folder that was there.
 */
function unservedOnDisk(entry: ModelEntry, version: number, settleMs: number | undefined): string | undefined {
  const dir = modelDirOf(entry);
  if (dir === undefined) return undefined;
  const locations = versionLocations(dir);
  if (!locations.some((l) => l.version === version && l.dir !== dir)) return undefined;
  const { policy } = versionPolicySource(dir, locations);
  if (policy === undefined) return undefined;
  if (!selectVersions(policy, locations.map((l) => l.version)).includes(version)) {
    return `not served by the model's version policy (${'all' in policy ? 'all: true' : 'specific' in policy ? `specific: [${policy.specific.join(', ')}]` : `latest: ${policy.latest}`})`;
  }
  // Selected, not listed: arriving under --watch (as TF Serving's and Triton's pollers, served once loaded); else never read.
  if (settleMs !== undefined) return `not loaded yet: --watch loads a version once it holds a config and a model file, none of its files has changed for ${settleMs / 1000} s (a copy may be in progress) and it loads; send it again then`;
  return `was not there at start-up, and without --watch the repository is not read again: load the model through the repository API (POST /v2/repository/models/${entry.name}/load, gRPC RepositoryModelLoad) to serve it`;
}

/**
 * Why a model folder still there is no model folder any more (its config removed, every version folder gone or a
 * symbolic link to nothing), naming its links to nothing: its model was removed without a word. Undefined when it is gone.
 */
function noLongerModelFolder(dir: string): string | undefined {
  try {
    if (!statSync(dir).isDirectory()) return undefined;
  } catch {
    return undefined;
  }
  const links = danglingVersionLinks(dir).map((p) => `${relative(process.cwd(), p.file) || p.file}: ${danglingReason(p.file)}`);
  const folder = relative(process.cwd(), dir) || dir;
  return `${folder} no longer holds a config or any version folder${links.length > 0 ? `: its numbered entries are symbolic links to nothing (${links.join('; ')})` : ''}; the model is removed`;
}

/** The scanned model folders by the name each claims (normally one folder per name). */
function claimsByName(models: readonly ScannedModel[]): Map<string, ScannedModel[]> {
  const byName = new Map<string, ScannedModel[]>();
  for (const m of models) byName.set(m.name, [...(byName.get(m.name) ?? []), m]);
  return byName;
}

/** A problem of a model's scan that belongs to no version: as the operator reads it (`said`), and API clients. */
interface ScanProblem {
  said: string;
  forClients: string;
}

/** A scanned model folder's config file as messages name it: its newest version's, else the folder. */
function configFileOf(model: ScannedModel): string {
  for (const v of [...model.versions].reverse()) {
    const config = v.read([]);
    if (config) return config.configFile;
  }
  return model.dir;
}

/**
 * A name from a request, as error messages show it: at most 100 characters. gRPC carries the
 * message in a response header, and gRPC's C core (Python grpcio, tritonclient) refuses headers
 * past 8 KiB, so an echoed 20,000-character name turned NOT_FOUND into RESOURCE_EXHAUSTED.
 */
export function shownName(name: string): string {
  return name.length > 100 ? `${name.slice(0, 100)}…` : name;
}
