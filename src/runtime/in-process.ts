// InProcessRuntime: onnxruntime sessions on the calling thread. onnxruntime-node's session.run is
// synchronous (it only defers to setImmediate first), so every run blocks this event loop for its
// duration; use WorkerPoolRuntime in the server. This one is the reference implementation for the
// contract suite, and the cheapest choice for CLIs (e.g. the optimiser) and single-CPU hosts.
import { ModelServeError } from '../errors.js';
import { createSession, runSession, signatureOf, startRunTimer, warmUp, type OrtSession } from './session.js';
import { leadingRows, type InferenceRuntime, type ModelSignature, type ModelSource, type NamedTensors, type RuntimeOptions } from './types.js';

export interface InProcessRuntimeOptions extends RuntimeOptions {
  /** Run each model once on zeros after loading (default true). */
  warmUp?: boolean;
  /** Told each successful run's rows and time (ms, onnxruntime's run on this thread: startRunTimer): the hybrid runtime's cost estimate. */
  onRunTimed?: (model: string, rows: number, ms: number) => void;
  /** The clock onRunTimed's times are read on (tests give one; default performance.now). */
  now?: () => number;
}

export class InProcessRuntime implements InferenceRuntime {
  readonly parallelism = 1;
  readonly workerThreads = 0;
  private readonly options: InProcessRuntimeOptions;
  private readonly sessions = new Map<string, OrtSession>();
  private closed = false;
  private inFlight = 0;
  private idle: Array<() => void> = [];

  constructor(options: InProcessRuntimeOptions = { intraOpThreads: 1, interOpThreads: 1 }) {
    this.options = options;
  }

  async load(models: ModelSource[]): Promise<Record<string, ModelSignature>> {
    if (this.closed) throw new ModelServeError('MS_ERR_NOT_READY', 'the runtime is closed');
    const loaded = new Map<string, OrtSession>();
    try {
      for (const m of models) {
        const session = await createSession(m.path, m.bytes, this.options);
        loaded.set(m.name, session);
        if (this.options.warmUp !== false) await warmUp(session);
      }
    } catch (err) {
      await Promise.all([...loaded.values()].map((s) => s.release()));
      throw err;
    }
    const signatures: Record<string, ModelSignature> = {};
    for (const [name, session] of loaded) {
      const previous = this.sessions.get(name);
      if (previous !== undefined) await previous.release();
      this.sessions.set(name, session);
      signatures[name] = signatureOf(session);
    }
    return signatures;
  }

  async unload(names: string[]): Promise<void> {
    for (const name of names) {
      const session = this.sessions.get(name);
      this.sessions.delete(name);
      await session?.release();
    }
  }

  async run(model: string, feeds: NamedTensors, outputNames?: string[]): Promise<NamedTensors> {
    if (this.closed) throw new ModelServeError('MS_ERR_NOT_READY', 'the runtime is closed');
    const session = this.sessions.get(model);
    if (session === undefined) throw new ModelServeError('MS_ERR_MODEL_NOT_FOUND', `no model named '${model}' is loaded`);
    this.inFlight++;
    const timed = this.options.onRunTimed;
    try {
      // Timed as a worker times its runs (worker.ts): from when onnxruntime starts it, not from this call, which on
      // the main thread comes before the rest of the event loop's turn (other requests' I/O) — that is not the run's cost.
      const elapsed = timed === undefined ? undefined : startRunTimer(this.options.now);
      const outputs = await runSession(model, session, feeds, outputNames);
      if (elapsed !== undefined) timed!(model, leadingRows(feeds) ?? 1, elapsed());
      return outputs;
    } finally {
      // (splice(0) makes an array even when no one waits: not per run.)
      if (--this.inFlight === 0 && this.idle.length > 0) for (const wake of this.idle.splice(0)) wake();
    }
  }

  /** Stops accepting runs, waits for in-flight ones, then releases every session. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(sessions.map((s) => s.release()));
  }
}
