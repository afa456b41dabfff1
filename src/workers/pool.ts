// WorkerPoolRuntime: N worker threads (src/workers/worker.ts), each with its own onnxruntime
// session per model, so session.run (synchronous in onnxruntime-node) never blocks the main event
// loop. Runs go to the least-loaded worker that holds every model. A worker that dies fails its
// in-flight runs with MS_ERR_INFERENCE and is replaced (respawn + reload of every model); a
// replacement that cannot reload them is closed and replaced again with back-off, and takes no
// runs meanwhile while another worker can serve; callers never hang. A run that never returns (a
// graph that loops for minutes on some input) is caught by a watchdog: its worker is quarantined
// (see quarantine() and docs/runtime.md) and replaced.
import { Worker } from 'node:worker_threads';
// Sets ORT_DISABLE_TELEMETRY in the process's environment before a worker loads onnxruntime.
import '../runtime/ort-telemetry.js';
import { ModelServeError, RunLostError, RunStuckError, SessionLoadError, StartupError, WorkerLostError, type ErrorCode, ERRORS } from '../errors.js';
import { leadingRows, type InferenceRuntime, type ModelSignature, type ModelSource, type NamedTensors, type RuntimeOptions } from '../runtime/types.js';
import { newRetiredFlags, packTensors, type FromWorker, type ToWorker, type WorkerInit } from './protocol.js';
import type { RunCost } from '../runtime/session.js';
import { RunCostEstimate } from '../runtime/run-cost.js';

export interface WorkerPoolOptions extends RuntimeOptions {
  /** Number of worker threads (see defaultWorkerCount() in ./cpu.js). */
  workers: number;
  /** Run each model once on zeros after loading, in every worker (default true). */
  warmUp?: boolean;
  /** Time each model's runs after loading (see runCost()); default false. */
  measureCost?: boolean;
  /**
   * Runs sent to each worker at once (default 2): the next one is waiting when a run ends, so a
   * worker never sleeps between batches and no hand-off has to wake it — with one, a batched
   * load (64-row requests, `npm run bench -- --only oip`) cost 5–16 % more server CPU per request
   * and gave 11–25 % fewer requests/s. A worker still runs one at a time.
   */
  runsPerWorker?: number;
  /** Called when a worker dies (for logging); the pool replaces it by itself. */
  onWorkerExit?: (event: WorkerExitEvent) => void;
  /**
   * The run watchdog's floor (ms): a run that takes longer than this, or than its model's
   * ModelSource.runTimeoutMs when that is larger, quarantines its worker. 0 or undefined: no watchdog.
   */
  runTimeoutMs?: number;
  /** Most quarantined threads alive at once (default: workers); past it, a stuck worker is replaced only once one of them exits. */
  maxQuarantined?: number;
  /** Called when the watchdog quarantines a worker (for logging). */
  onWorkerQuarantined?: (event: WorkerQuarantineEvent) => void;
  /** The compiled worker script; default ./worker.js next to this module. */
  workerUrl?: URL;
}

export interface WorkerExitEvent {
  worker: number;
  exitCode: number;
  error?: string;
  /** In-flight runs failed by the crash. */
  failedRuns: number;
}

export interface WorkerQuarantineEvent {
  worker: number;
  /** The model of the run that exceeded the bound, as clients call it. */
  model: string;
  /** The bound it exceeded, ms. */
  runTimeoutMs: number;
  /** Runs failed: the stuck one and those waiting behind it. */
  failedRuns: number;
  /** Quarantined threads alive now, this one included. */
  quarantined: number;
  /** false when maxQuarantined threads are alive: the worker is replaced once one of them exits (the pool runs degraded meanwhile). */
  replaced: boolean;
}

interface PendingRun {
  resolve: (outputs: NamedTensors) => void;
  reject: (err: Error) => void;
  model: string;
  rows: number;
}

interface PendingLoad {
  resolve: (signatures: Record<string, ModelSignature>) => void;
  reject: (err: Error) => void;
}

interface Slot {
  index: number;
  worker: Worker | null;
  runs: Map<number, PendingRun>;
  loads: Map<number, PendingLoad>;
  lastError?: string;
  /** Why the previous worker in this slot died. */
  lastExit?: string;
  /** Consecutive deaths before a worker came up holding the pool's models, none included (for respawn back-off). */
  crashes: number;
  respawnTimer?: NodeJS.Timeout;
  /** Reloads of the pool's models (after a respawn, or catching up on a load() it missed) not answered yet. */
  catchUps: number;
  /**
   * The worker holds every model the pool serves: false from a respawn until its reload is done.
   * Only ready workers are picked while one is; a worker still reloading is picked only when none
   * is (its runs wait behind the reload, as in a pool of one).
   */
  ready: boolean;
  /** Why this worker could not reload the models: it is closing and will be replaced (with back-off). */
  retiring?: string;
  /**
   * The watchdog of the worker's oldest run (the one it is running: a worker runs one at a time).
   * One timer per worker, re-used (refresh()) from run to run: no timer is made per batch.
   */
  watchdog?: NodeJS.Timeout;
  /** The watchdog's delay (ms): the bound of the run it times. */
  watchdogBound: number;
  /** The watchdog will still fire (neither fired nor cleared): refresh() can re-use it. */
  watchdogPending: boolean;
  /** The run the watchdog times; undefined: the watchdog is idle (it fires for nothing, or is re-used). */
  watchedRun?: number;
  /** Shared with the worker: set to 1 when it is quarantined, so it skips the runs still queued to it. */
  retired: Int32Array;
  /** Quarantined when maxQuarantined threads were alive: replaced once one of them exits. */
  awaitingRespawn: boolean;
}

const DEFAULT_WORKER_URL = new URL('./worker.js', import.meta.url);

function isErrorCode(code: string): code is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERRORS, code);
}

export class WorkerPoolRuntime implements InferenceRuntime {
  readonly parallelism: number;
  readonly workerThreads: number;
  private readonly options: WorkerPoolOptions;
  private readonly slots: Slot[] = [];
  private models: ModelSource[] = [];
  private nextId = 1;
  private rr = 0;
  private closing = false;
  private inFlight = 0;
  private idle: Array<() => void> = [];
  private readonly costs = new Map<string, RunCostEstimate>();
  private costEpoch = 0;
  private costOverride: RunCost | undefined;
  /** Each model's own run bound (ModelSource.runTimeoutMs), by name. */
  private readonly runBounds = new Map<string, number>();
  /** Model names as clients call them (ModelSource.label), for the watchdog's messages. */
  private readonly labels = new Map<string, string>();
  /** Workers taken out of service by the watchdog whose thread has not ended yet (stuck in a native run). */
  private readonly quarantined = new Set<Worker>();
  private quarantinesTotal = 0;
  private quarantineWaiters: Array<() => void> = [];
  /** Test hook (loadedModelsForTesting): the answers awaited, by request id. */
  private readonly loadedModelsQueries = new Map<number, (names: string[]) => void>();

  /** Starts the worker threads at once (in parallel), so their startup overlaps with reading the models. */
  constructor(options: WorkerPoolOptions) {
    if (!Number.isInteger(options.workers) || options.workers < 1) throw new RangeError(`workers must be an integer >= 1, got ${options.workers}`);
    this.options = options;
    this.parallelism = options.workers * (options.runsPerWorker ?? 2);
    this.workerThreads = options.workers;
    for (let i = 0; i < options.workers; i++) {
      const slot: Slot = { index: i, worker: null, runs: new Map(), loads: new Map(), crashes: 0, catchUps: 0, ready: false, watchdogBound: 0, watchdogPending: false, retired: new Int32Array(0), awaitingRespawn: false };
      this.slots.push(slot);
      this.spawn(slot, false);
    }
  }

  /** What a run of this model costs in a worker (with measureCost): timed when it was last loaded, kept current by real runs (RunCostEstimate). */
  runCost(model: string): Readonly<RunCost> | undefined {
    return this.costs.get(model)?.cost;
  }

  /** Changes whenever some model's runCost() changes notably (a cheap check for callers that cache it). */
  get runCostEpoch(): number {
    return this.costEpoch;
  }

  /** A run of `model` timed on another thread (the hybrid runtime's main-thread runs): it moves the same estimate. */
  observeRunCost(model: string, rows: number, ms: number): void {
    if (this.costs.get(model)?.observe(rows, ms)) this.costEpoch++;
  }

  /** Threads currently alive (for tests and health reporting). */
  get aliveWorkers(): number {
    return this.slots.filter((s) => s.worker !== null).length;
  }

  /** Whether some live worker has no run in flight (a hand-off to it starts at once). */
  get hasIdleWorker(): boolean {
    for (const slot of this.slots) if (slot.ready && slot.runs.size === 0) return true;
    return false;
  }

  /** Quarantined threads alive now (stuck in a run), and quarantines since the pool started. */
  quarantineStats(): { alive: number; total: number } {
    return { alive: this.quarantined.size, total: this.quarantinesTotal };
  }

  /**
   * Why no worker can take a run now (undefined: one can), for readiness: every worker is quarantined
   * and not replaced yet (past maxQuarantined), or gone and waiting out its crash back-off, or closing
   * after a failed reload. A worker still reloading the models after a respawn can take runs (they
   * wait behind its reload, as pick() sends them), so a single crash or quarantine, replaced at once,
   * never turns a probe to not ready; a crash loop's back-off does.
   */
  unavailable(): string | undefined {
    if (this.closing || this.slots.some((s) => s.worker !== null && s.retiring === undefined)) return undefined;
    const n = this.slots.length;
    const of = (count: number): string => `${count} of ${n} worker${n === 1 ? '' : 's'} ${count === 1 ? 'is' : 'are'}`;
    const stuck = this.slots.filter((s) => s.awaitingRespawn).length;
    const restarting = this.slots.filter((s) => !s.awaitingRespawn);
    const parts: string[] = [];
    if (stuck > 0) parts.push(`${of(stuck)} quarantined (stuck in a run past the run timeout) and replaced once a stuck thread ends (stuck threads alive: ${this.quarantined.size})`);
    if (restarting.length > 0) {
      const why = restarting.map((s) => s.retiring ?? s.lastExit).find((e) => e !== undefined);
      parts.push(`${of(restarting.length)} restarting${why !== undefined ? ` (${why})` : ''}`);
    }
    return `no inference worker can take a run: ${parts.join('; ')}`;
  }

  /**
   * Threads inside a native run now: the quarantined ones still alive, and live workers with runs in
   * flight. Past the shutdown's bound these are what keeps the process alive (Node's exit joins them).
   */
  threadsInRun(): number {
    return this.quarantined.size + this.slots.filter((s) => s.worker !== null && s.runs.size > 0).length;
  }

  /** Resolves once every quarantined thread has ended (its native run returned and it closed). */
  whenQuarantinedExited(): Promise<void> {
    if (this.quarantined.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.quarantineWaiters.push(resolve));
  }

  /** Runs in flight per worker (the dispatch load). */
  get inFlightPerWorker(): number[] {
    return this.slots.map((s) => s.runs.size);
  }

  private spawn(slot: Slot, replacing: boolean): void {
    const init: WorkerInit = {
      intraOpThreads: this.options.intraOpThreads,
      interOpThreads: this.options.interOpThreads,
      warmUp: this.options.warmUp !== false,
      measureCost: this.options.measureCost === true,
      retired: newRetiredFlags(),
    };
    slot.retired = init.retired;
    slot.awaitingRespawn = false;
    const worker = new Worker(this.options.workerUrl ?? DEFAULT_WORKER_URL, { workerData: init });
    slot.worker = worker;
    slot.lastError = undefined;
    slot.retiring = undefined;
    slot.catchUps = 0;
    slot.ready = this.models.length === 0;
    worker.on('message', (msg: FromWorker) => this.onMessage(slot, msg));
    worker.on('error', (err) => {
      slot.lastError = err instanceof Error ? err.message : String(err);
    });
    worker.on('messageerror', (err) => {
      slot.lastError = `message error: ${err.message}`;
    });
    worker.on('exit', (code) => this.onExit(slot, worker, code));
    // A replacement reloads the models the pool has; the first spawn gets them from load(). With no
    // models, a replacement still loads the empty list: its answer says the worker is up, which ends
    // the crash count (catchUp) as a reload does — else it grows across crashes hours apart.
    if (this.models.length > 0 || replacing) this.catchUp(slot, this.models);
  }

  /**
   * Loads `models` into a worker that lacks them; it is ready once every such load is done. One
   * that fails (memory short right after a crash, say) would answer every run at once with "no
   * model named …", look the least busy and draw most runs: it is closed instead, and onExit
   * replaces it with back-off. Its pending runs are answered first (see 'run-error').
   */
  private catchUp(slot: Slot, models: ModelSource[]): void {
    const worker = slot.worker;
    slot.ready = false;
    slot.catchUps++;
    this.loadInto(slot, models).then(
      () => {
        if (slot.worker !== worker || slot.retiring !== undefined) return;
        if (--slot.catchUps === 0) {
          slot.ready = true;
          slot.crashes = 0;
        }
      },
      (err: unknown) => {
        // A worker that died is handled in onExit.
        if (slot.worker !== worker || worker === null || slot.retiring !== undefined) return;
        slot.retiring = `worker ${slot.index} could not reload the models: ${err instanceof Error ? err.message : String(err)}`;
        // 'close' exits between runs, after the loads already sent (never mid-run: see worker.ts).
        this.post(slot, { type: 'close' });
      },
    );
  }

  private onMessage(slot: Slot, msg: FromWorker): void {
    switch (msg.type) {
      case 'result': {
        const pending = slot.runs.get(msg.id);
        if (pending === undefined) return;
        slot.runs.delete(msg.id);
        this.rearmWatchdog(slot, msg.id);
        if (this.costs.get(pending.model)?.observe(pending.rows, msg.runMs)) this.costEpoch++;
        pending.resolve(msg.outputs);
        break;
      }
      case 'run-error': {
        const pending = slot.runs.get(msg.id);
        if (pending === undefined) return;
        slot.runs.delete(msg.id);
        this.rearmWatchdog(slot, msg.id);
        // A run that waited behind a reload which failed: the model exists, this worker lacks it.
        if (slot.retiring !== undefined && msg.code === 'MS_ERR_MODEL_NOT_FOUND') pending.reject(new RunLostError('MS_ERR_INFERENCE', `inference failed: ${slot.retiring}`));
        else pending.reject(new ModelServeError(isErrorCode(msg.code) ? msg.code : 'MS_ERR_INFERENCE', msg.message));
        break;
      }
      case 'loaded': {
        const pending = slot.loads.get(msg.id);
        slot.loads.delete(msg.id);
        for (const [name, cost] of Object.entries(msg.costs)) {
          // The cheaper of the workers' timings: a worker descheduled while timing overstates it.
          if (cost !== undefined && this.costOverride !== undefined) Object.assign(cost, this.costOverride);
          const known = this.costs.get(name)?.cost;
          if (cost !== undefined && (known === undefined || cost.fixedMs + cost.perRowMs < known.fixedMs + known.perRowMs)) this.costs.set(name, new RunCostEstimate(cost));
        }
        pending?.resolve(msg.signatures);
        this.armWatchdog(slot);
        break;
      }
      case 'loaded-models':
        this.loadedModelsQueries.get(msg.id)?.(msg.names);
        this.loadedModelsQueries.delete(msg.id);
        break;
      case 'load-error': {
        const pending = slot.loads.get(msg.id);
        slot.loads.delete(msg.id);
        pending?.reject(msg.path !== undefined && msg.reason !== undefined ? new SessionLoadError(msg.path, msg.reason) : new StartupError('MS_ERR_MODEL_LOAD', msg.message));
        this.armWatchdog(slot);
        break;
      }
    }
  }

  private onExit(slot: Slot, worker: Worker, code: number): void {
    if (slot.worker !== worker) return;
    slot.worker = null;
    slot.ready = false;
    this.stopWatchdog(slot);
    const lastError = slot.retiring ?? slot.lastError;
    const reason = `worker ${slot.index} exited with code ${code}${lastError !== undefined ? ` (${lastError})` : ''}`;
    slot.lastExit = reason;
    const failed = [...slot.runs.values()];
    slot.runs.clear();
    for (const run of failed) run.reject(new RunLostError('MS_ERR_INFERENCE', `inference failed: ${reason} while running this request`));
    const loads = [...slot.loads.values()];
    slot.loads.clear();
    for (const load of loads) load.reject(new WorkerLostError('MS_ERR_MODEL_LOAD', `${reason} while loading the models`));
    if (!this.closing) {
      try {
        this.options.onWorkerExit?.({ worker: slot.index, exitCode: code, error: lastError, failedRuns: failed.length });
      } catch {
        /* an observer must not break the pool */
      }
      this.replace(slot);
    }
    this.checkIdle();
  }

  /**
   * Starts a worker in a slot whose worker is gone. Back off only when a worker keeps dying (or
   * failing to reload) before it manages to load (a crash loop). The first replacement starts at
   * once, so runs dispatched meanwhile (e.g. the batcher's re-runs of the failed batch) queue
   * behind its model load instead of failing.
   */
  private replace(slot: Slot): void {
    if (this.closing) return;
    const delay = slot.crashes === 0 ? 0 : Math.min(5000, 100 * 2 ** (slot.crashes - 1));
    slot.crashes++;
    if (delay === 0) this.spawn(slot, true);
    else {
      slot.respawnTimer = setTimeout(() => {
        slot.respawnTimer = undefined;
        if (!this.closing) this.spawn(slot, true);
      }, delay);
    }
  }

  /** The longest a run of `model` may take before its worker is quarantined; 0: no watchdog. */
  private runBound(model: string): number {
    const floor = this.options.runTimeoutMs ?? 0;
    if (!(floor > 0)) return 0;
    return Math.max(floor, this.runBounds.get(model) ?? 0);
  }

  /**
   * Times the worker's oldest run, once nothing holds it up. A worker does one thing at a time, in
   * the order sent (worker.ts), so its oldest run is the one running, unless a load sent before it
   * is pending (runs and loads take ids from one counter): then 'loaded' arms it.
   */
  private armWatchdog(slot: Slot): void {
    if (slot.watchedRun !== undefined || slot.worker === null) return;
    let id = 0;
    let run: PendingRun | undefined;
    for (const [runId, pending] of slot.runs) {
      id = runId;
      run = pending;
      break;
    }
    if (run === undefined) return;
    if (slot.loads.size > 0) {
      for (const loadId of slot.loads.keys()) {
        if (loadId < id) return;
        break;
      }
    }
    const bound = this.runBound(run.model);
    if (bound <= 0) return;
    slot.watchedRun = id;
    if (slot.watchdog !== undefined && slot.watchdogPending && slot.watchdogBound === bound) {
      slot.watchdog.refresh();
      return;
    }
    if (slot.watchdog !== undefined) clearTimeout(slot.watchdog);
    slot.watchdogBound = bound;
    slot.watchdogPending = true;
    slot.watchdog = setTimeout(() => {
      slot.watchdogPending = false;
      if (slot.watchedRun !== undefined) this.quarantine(slot, slot.watchedRun, slot.watchdogBound);
    }, bound);
    // Idle, it only fires for nothing: it must not keep the process up (a running worker does).
    slot.watchdog.unref();
  }

  /** The worker is gone or closing: its watchdog too. */
  private stopWatchdog(slot: Slot): void {
    if (slot.watchdog !== undefined) clearTimeout(slot.watchdog);
    slot.watchdog = undefined;
    slot.watchdogPending = false;
    slot.watchedRun = undefined;
  }

  /** Run `id` ended: the next one starts, timed by the same watchdog. */
  private rearmWatchdog(slot: Slot, id: number): void {
    if (slot.watchedRun === id) slot.watchedRun = undefined;
    this.armWatchdog(slot);
  }

  /**
   * Run `id` exceeded its bound: the worker is stuck (onnxruntime inside a native run that may
   * never return). terminate() cannot stop native code, and a worker terminated mid-run aborts the
   * whole process once the run returns (N-API throws during teardown), so the worker is taken out
   * of service instead: no run is routed to it, the runs sent to it fail now, it is told to close
   * (it skips the runs still queued and exits by itself when the native run returns), and a
   * replacement is started, unless maxQuarantined threads are alive already.
   */
  private quarantine(slot: Slot, id: number, bound: number): void {
    const worker = slot.worker;
    const stuck = slot.runs.get(id);
    if (worker === null || stuck === undefined) return;
    Atomics.store(slot.retired, 0, 1);
    // Its late answers go nowhere, and its errors are no longer the slot's.
    worker.removeAllListeners('message');
    worker.removeAllListeners('error');
    worker.removeAllListeners('messageerror');
    worker.on('error', () => undefined);
    this.quarantined.add(worker);
    this.quarantinesTotal++;
    worker.once('exit', () => this.onQuarantinedExit(worker));
    try {
      worker.postMessage({ type: 'close' } satisfies ToWorker);
    } catch {
      /* an ended worker has nothing left to close */
    }
    slot.worker = null;
    slot.ready = false;
    this.stopWatchdog(slot);
    const model = this.labels.get(stuck.model) ?? `'${stuck.model}'`;
    // What clients and load() are told while no worker runs (all quarantined, none replaced yet).
    slot.lastExit = `worker ${slot.index} was taken out of service: a run of model ${model} took longer than ${bound} ms (the run timeout)`;
    const replaced = !this.closing && this.quarantined.size <= (this.options.maxQuarantined ?? this.slots.length);
    const replacement = this.closing ? '' : replaced ? ' and is being replaced' : ` and is replaced once a thread stuck in a run ends (stuck threads alive: ${this.quarantined.size})`;
    const runs = [...slot.runs];
    slot.runs.clear();
    for (const [runId, run] of runs) {
      // The stuck run's own input is what hangs (never worth a retry); a run queued behind it only lost its worker.
      run.reject(runId === id
        ? new RunStuckError(`inference failed: the run of model ${model} took longer than ${bound} ms (the run timeout), so worker ${slot.index} was taken out of service${replacement}`)
        : new RunLostError('MS_ERR_INFERENCE', `inference failed: this request waited behind a run of model ${model} that took longer than ${bound} ms (the run timeout) on worker ${slot.index}, which was taken out of service; it did not run (send it again)`));
    }
    const loads = [...slot.loads.values()];
    slot.loads.clear();
    for (const load of loads) load.reject(new WorkerLostError('MS_ERR_MODEL_LOAD', `worker ${slot.index} was stuck in a run of model ${model} for over ${bound} ms and was taken out of service while loading the models`));
    if (replaced) this.replace(slot);
    else slot.awaitingRespawn = !this.closing;
    try {
      this.options.onWorkerQuarantined?.({ worker: slot.index, model, runTimeoutMs: bound, failedRuns: runs.length, quarantined: this.quarantined.size, replaced });
    } catch {
      /* an observer must not break the pool */
    }
    this.checkIdle();
  }

  private onQuarantinedExit(worker: Worker): void {
    this.quarantined.delete(worker);
    const waiting = this.slots.find((s) => s.awaitingRespawn);
    if (waiting !== undefined) {
      waiting.awaitingRespawn = false;
      this.replace(waiting);
    }
    if (this.quarantined.size === 0) for (const wake of this.quarantineWaiters.splice(0)) wake();
  }

  private post(slot: Slot, message: ToWorker, transfer: ArrayBuffer[] = []): void {
    (slot.worker as Worker).postMessage(message, transfer);
  }

  private loadInto(slot: Slot, models: ModelSource[]): Promise<Record<string, ModelSignature>> {
    return new Promise((resolve, reject) => {
      if (slot.worker === null) {
        reject(new WorkerLostError('MS_ERR_MODEL_LOAD', `worker ${slot.index} is not running`));
        return;
      }
      const id = this.nextId++;
      slot.loads.set(id, { resolve, reject });
      // Model bytes are structured-cloned: every worker needs its own copy for its own sessions.
      this.post(slot, { type: 'load', id, models: models.map((m) => ({ name: m.name, path: m.path, bytes: m.bytes })) });
    });
  }

  async load(models: ModelSource[]): Promise<Record<string, ModelSignature>> {
    if (this.closing) throw new ModelServeError('MS_ERR_NOT_READY', 'the runtime is closed');
    // A retiring worker is about to be replaced, and its replacement loads this.models.
    const live = this.slots.filter((s) => s.worker !== null && s.retiring === undefined);
    if (live.length === 0) {
      const why = this.slots.map((s) => s.lastExit).find((e) => e !== undefined);
      throw new WorkerLostError('MS_ERR_MODEL_LOAD', `no inference worker thread is running${why !== undefined ? `: ${why}` : ''}`);
    }
    // A model loaded again (replaced) is timed afresh.
    for (const m of models) this.costs.delete(m.name);
    for (const m of models) {
      if (m.runTimeoutMs !== undefined) this.runBounds.set(m.name, m.runTimeoutMs);
      if (m.label !== undefined) this.labels.set(m.name, m.label);
    }
    const settled = await Promise.allSettled(live.map((s) => this.loadInto(s, models)));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) {
      this.forgetFailedLoad(models);
      throw failed.reason;
    }
    const results = settled.map((r) => (r as PromiseFulfilledResult<Record<string, ModelSignature>>).value);
    // Keep what replacements must reload: earlier models, with these added or replaced by name.
    const byName = new Map(this.models.map((m) => [m.name, m]));
    for (const m of models) byName.set(m.name, m);
    this.models = [...byName.values()];
    for (const s of live) {
      if (s.retiring !== undefined) continue;
      s.crashes = 0;
      if (s.catchUps === 0) s.ready = true;
    }
    // A worker respawned while this load ran reloaded the models as they were before it.
    for (const s of this.slots) if (s.worker !== null && s.retiring === undefined && !live.includes(s)) this.catchUp(s, models);
    return results[0];
  }

  /**
   * A load that failed on some worker (it died, was quarantined, or onnxruntime refused the bytes
   * there alone): the workers that did load keep the sessions, and the core tries again under a new
   * key, so each failed try would hold a whole model per worker for good. Its new models are
   * unloaded everywhere; a model it was replacing by name stays, as it still serves.
   */
  private forgetFailedLoad(models: ModelSource[]): void {
    const served = new Set(this.models.map((m) => m.name));
    const fresh = models.map((m) => m.name).filter((name) => !served.has(name));
    for (const name of fresh) {
      this.costs.delete(name);
      this.runBounds.delete(name);
      this.labels.delete(name);
    }
    // Sent to every live worker: one that did not load them (it refused them, or is a replacement, which reloads this.models only) has nothing to release.
    if (fresh.length > 0) for (const slot of this.slots) if (slot.worker !== null) this.post(slot, { type: 'unload', names: fresh });
  }

  async unload(names: string[]): Promise<void> {
    const gone = new Set(names);
    for (const name of names) {
      this.costs.delete(name);
      this.runBounds.delete(name);
      this.labels.delete(name);
    }
    this.models = this.models.filter((m) => !gone.has(m.name));
    for (const slot of this.slots) if (slot.worker !== null) this.post(slot, { type: 'unload', names });
  }

  /** The least-loaded ready worker; else one still reloading (its runs wait for the reload). */
  private pick(): Slot | undefined {
    let best: Slot | undefined;
    let loading: Slot | undefined;
    const n = this.slots.length;
    for (let k = 0; k < n; k++) {
      const slot = this.slots[(this.rr + k) % n];
      if (!slot.ready) {
        if (slot.worker !== null && slot.retiring === undefined && (loading === undefined || slot.runs.size < loading.runs.size)) loading = slot;
        continue;
      }
      if (best === undefined || slot.runs.size < best.runs.size) best = slot;
    }
    this.rr = (this.rr + 1) % n;
    return best ?? loading;
  }

  run(model: string, feeds: NamedTensors, outputNames?: string[]): Promise<NamedTensors> {
    if (this.closing) return Promise.reject(new ModelServeError('MS_ERR_NOT_READY', 'the runtime is closed'));
    if (this.models.length > 0 && !this.models.some((m) => m.name === model)) {
      return Promise.reject(new ModelServeError('MS_ERR_MODEL_NOT_FOUND', `no model named '${model}' is loaded`));
    }
    const slot = this.pick();
    if (slot === undefined) return Promise.reject(new RunLostError('MS_ERR_INFERENCE', `inference failed: no worker is running (all are restarting)${this.lastRetiring()}`));
    const id = this.nextId++;
    return new Promise<NamedTensors>((resolve, reject) => {
      this.inFlight++;
      const done = (): void => {
        this.inFlight--;
        this.checkIdle();
      };
      slot.runs.set(id, {
        model,
        rows: leadingRows(feeds) ?? 1,
        resolve: (outputs) => {
          done();
          resolve(outputs);
        },
        reject: (err) => {
          done();
          reject(err);
        },
      });
      try {
        const packed = packTensors(feeds);
        const message: ToWorker = outputNames === undefined ? { type: 'run', id, model, feeds: packed } : { type: 'run', id, model, feeds: packed, outputNames };
        this.post(slot, message, [packed.buffer]);
        this.armWatchdog(slot);
      } catch (err) {
        slot.runs.delete(id);
        done();
        reject(new ModelServeError('MS_ERR_INFERENCE', `inference failed: could not send the request to a worker: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
      }
    });
  }

  private lastRetiring(): string {
    const why = this.slots.map((s) => s.retiring ?? s.lastExit).find((e) => e !== undefined);
    return why === undefined ? '' : `: ${why}`;
  }

  private checkIdle(): void {
    if (this.inFlight === 0) for (const wake of this.idle.splice(0)) wake();
  }

  /**
   * Test hook: the load-time timings of models loaded from now on come out as `cost` (as on a
   * machine busy at load). A given figure rather than a factor: a real timing on a shared machine
   * varies 100× between loads, so a factor of it lands anywhere.
   */
  setLoadRunCostForTesting(cost: RunCost): void {
    this.costOverride = { ...cost };
  }

  /**
   * Test hook: makes worker `index` crash as if it had a bug — 'exit' = process.exit(1) inside it,
   * 'throw' = an uncaught exception — at once, or when its next run ('next-run') or load ('next-load') arrives.
   * (There is deliberately no terminate(): terminating a worker while onnxruntime is inside a
   * native run can abort the whole process.)
   */
  crashWorkerForTesting(index: number, how: 'exit' | 'throw' = 'exit', when: 'now' | 'next-run' | 'next-load' = 'now'): void {
    const slot = this.slots[index];
    if (slot?.worker == null) throw new RangeError(`no live worker ${index}`);
    this.post(slot, { type: 'crash', how, when });
  }

  /**
   * Test hook: the runs each worker has handed to onnxruntime (past the quarantine flag, which skips
   * a run not started yet). A worker inside a native run answers no message, so a test that must
   * have a run stuck, not skipped, before it fires the watchdog waits for this count.
   */
  runsStartedForTesting(): number[] {
    return this.slots.map((s) => Atomics.load(s.retired, 1));
  }

  /**
   * Test hook: the models each worker holds a session for (undefined: no worker in that slot), once
   * the loads and unloads sent to it before are done.
   */
  async loadedModelsForTesting(): Promise<Array<string[] | undefined>> {
    return Promise.all(
      this.slots.map((slot) => {
        const worker = slot.worker;
        if (worker === null) return undefined;
        return new Promise<string[] | undefined>((resolve) => {
          const id = this.nextId++;
          const exited = (): void => {
            this.loadedModelsQueries.delete(id);
            resolve(undefined);
          };
          worker.once('exit', exited);
          this.loadedModelsQueries.set(id, (names) => {
            worker.off('exit', exited);
            resolve(names.sort());
          });
          this.post(slot, { type: 'loaded-models', id });
        });
      }),
    );
  }

  /** Resolves once every worker is alive and has loaded the current models (e.g. after a crash). */
  async whenAllReady(): Promise<void> {
    for (;;) {
      if (this.closing) return;
      if (this.slots.every((s) => s.ready && s.loads.size === 0)) return;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /**
   * Stops accepting runs, waits for in-flight runs to finish, then closes every worker: each
   * releases its sessions and exits by itself (terminate() only if one hasn't exited after 5 s).
   * A run stuck past its bound is failed by the watchdog, so this never waits on one for longer;
   * quarantined threads are not waited for (see whenQuarantinedExited()).
   */
  async close(): Promise<void> {
    this.closing = true;
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
    await Promise.all(
      this.slots.map(async (slot) => {
        if (slot.respawnTimer !== undefined) clearTimeout(slot.respawnTimer);
        this.stopWatchdog(slot);
        const worker = slot.worker;
        slot.worker = null;
        if (worker === null) return;
        const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
        worker.postMessage({ type: 'close' } satisfies ToWorker);
        const timer = setTimeout(() => void worker.terminate(), 5000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}
