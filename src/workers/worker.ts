// One pool worker thread: owns its own onnxruntime sessions (one per model) and runs batches on
// request. Started by WorkerPoolRuntime (src/workers/pool.ts) with a WorkerInit as workerData.
import { parentPort, workerData } from 'node:worker_threads';
import { ModelServeError, SessionLoadError } from '../errors.js';
import { createSession, errorText, measureRunCost, runSession, signatureOf, startRunTimer, warmUp, type OrtSession, type RunCost } from '../runtime/session.js';
import type { ModelSignature } from '../runtime/types.js';
import { transferList, unpackTensors, type FromWorker, type ToWorker, type WorkerInit } from './protocol.js';

if (parentPort === null) throw new Error('src/workers/worker.js must be started as a worker thread');
const port = parentPort;
const init = workerData as WorkerInit;
const sessions = new Map<string, OrtSession>();
/**
 * Runs, loads, unloads and close, one at a time in the order sent: the pool's watchdog times a run
 * from the end of what was sent before it, and a run's quarantine check comes right before its
 * native call (queued onnxruntime calls would pass it while an earlier run is stuck).
 */
let work: Promise<void> = Promise.resolve();
function inOrder(task: () => Promise<void>): void {
  // A task answers its own failures; one that throws (an unload's release) must not stop the rest.
  work = work.then(task).catch(() => undefined);
}

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

async function load(id: number, models: Extract<ToWorker, { type: 'load' }>['models']): Promise<void> {
  const fresh = new Map<string, OrtSession>();
  try {
    for (const m of models) {
      const session = await createSession(m.path, m.bytes, init);
      fresh.set(m.name, session);
      if (init.warmUp) await warmUp(session);
    }
  } catch (err) {
    await Promise.all([...fresh.values()].map((s) => s.release()));
    post({ type: 'load-error', id, message: errorText(err), ...(err instanceof SessionLoadError && { path: err.path, reason: err.reason }) });
    return;
  }
  const signatures: Record<string, ModelSignature> = {};
  const costs: Record<string, RunCost | undefined> = {};
  for (const [name, session] of fresh) {
    await sessions.get(name)?.release();
    sessions.set(name, session);
    signatures[name] = signatureOf(session);
    // What a run costs here (the hybrid runtime runs cheap batches on the main thread instead).
    if (init.measureCost) costs[name] = await measureRunCost(session);
  }
  post({ type: 'loaded', id, signatures, costs });
}

async function run(msg: Extract<ToWorker, { type: 'run' }>): Promise<void> {
  // Quarantined while a run was stuck: the pool failed this run already and waits for this thread to close.
  if (Atomics.load(init.retired, 0) !== 0) return;
  try {
    Atomics.add(init.retired, 1, 1);
    const session = sessions.get(msg.model);
    if (session === undefined) throw new ModelServeError('MS_ERR_MODEL_NOT_FOUND', `no model named '${msg.model}' is loaded`);
    const feeds = unpackTensors(msg.feeds);
    // The run's own time (startRunTimer): from when onnxruntime's deferred run starts, not from this call.
    const elapsed = startRunTimer();
    const outputs = await runSession(msg.model, session, feeds, msg.outputNames);
    const runMs = elapsed();
    post({ type: 'result', id: msg.id, outputs, runMs }, transferList(outputs));
  } catch (err) {
    const code = err instanceof ModelServeError ? err.code : 'MS_ERR_INFERENCE';
    post({ type: 'run-error', id: msg.id, code, message: errorText(err) });
  }
}

/** Test hook (see ToWorker 'crash'). */
let crashOnRun: 'exit' | 'throw' | undefined;
let crashOnLoad: 'exit' | 'throw' | undefined;
function crash(how: 'exit' | 'throw'): void {
  if (how === 'exit') process.exit(1);
  throw new Error('simulated worker crash');
}

port.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'load':
      if (crashOnLoad !== undefined) crash(crashOnLoad);
      inOrder(() => load(msg.id, msg.models));
      break;
    case 'unload':
      inOrder(async () => {
        for (const name of msg.names) {
          const session = sessions.get(name);
          sessions.delete(name);
          await session?.release();
        }
      });
      break;
    case 'loaded-models':
      inOrder(async () => post({ type: 'loaded-models', id: msg.id, names: [...sessions.keys()] }));
      break;
    case 'run':
      if (crashOnRun !== undefined) crash(crashOnRun);
      inOrder(() => run(msg));
      break;
    case 'close':
      // Exit between runs, never with onnxruntime mid-call: terminating a worker while a native
      // run is in progress can abort the whole process (N-API throws during env teardown).
      inOrder(async () => {
        await Promise.all([...sessions.values()].map((s) => s.release())).finally(() => process.exit(0));
      });
      break;
    case 'crash':
      if (msg.when === 'next-run') crashOnRun = msg.how;
      else if (msg.when === 'next-load') crashOnLoad = msg.how;
      else crash(msg.how);
      break;
  }
});
