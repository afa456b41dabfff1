// startServer: runtime -> inference core (configs, load, warm-up) -> HTTP app -> listen -> ready,
// and the graceful shutdown that undoes it. Used by `modelserve serve` and by integration tests (port 0).
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { Server as NetServer, type Socket } from 'node:net';
import type { ModelConfig } from './config/types.js';
import { repositoryWarnings, type StartupWarning } from './startup-warnings.js';
import { InferenceCore, type CoreEvent } from './core/core.js';
import type { WatchOptions } from './core/repository.js';
import { Metrics } from './metrics/metrics.js';
import { buildApp, type AppOptions } from './http/app.js';
import { createKeyGate } from './http/plugins/auth.js';
import type { InferenceRuntime } from './runtime/types.js';
import { createRuntime, quarantineMessage } from './runtime/create.js';
import { InferenceStatistics } from './protocols/oip/statistics.js';
import type { GrpcConnectionLimits, RunningGrpcServer } from './grpc/server.js';
import { hasStreams, startStreams, type RunningStreams, type StreamOptions } from './events/streams.js';

/** After the drain (timed out or not), stopping the workers and flushing events take at most this much more. */
export const AFTER_DRAIN_MS = 1500;
/** The longest the event sinks get to deliver what the last predictions produced. */
const EVENTS_FLUSH_MS = 5000;

export interface StartOptions {
  /** A model repository path, or configs already loaded. */
  repo?: string;
  configs?: readonly ModelConfig[];
  host?: string;
  port?: number;
  /** Open Inference Protocol gRPC port (0 or undefined: no gRPC server; 'free': one the system
   *  picks, read back from RunningServer.grpcPort — no window for another process to take it). */
  grpcPort?: number | 'free';
  /** Largest gRPC message, bytes. */
  grpcMaxMessageSize?: number;
  /** Limits on gRPC client connections (streams, age, idle time); none by default. */
  grpcConnections?: GrpcConnectionLimits;
  /** Worker threads; 0 = in-process inference; default from the CPU quota. */
  workers?: number;
  threadsPerWorker?: number;
  /** The run watchdog's floor, ms (--run-timeout-ms); 0: none. */
  runTimeoutMs?: number;
  bodyLimit?: number;
  drainTimeout?: number;
  /** On shutdown, ms to keep serving with /readyz already 503 before the listener closes (lets load balancers stop routing here). */
  shutdownDelay?: number;
  optimize?: boolean;
  /** Watch the repository and apply new, changed and removed versions without a restart (needs repo). */
  watch?: boolean | WatchOptions;
  /** At most this many models loaded at once (least recently used unloaded past it). */
  maxLoadedModels?: number;
  /** Most rows one onnxruntime run gets (larger batches run in slices; bounds its memory). 0: no limit. */
  maxRunRows?: number;
  logger?: FastifyServerOptions['logger'];
  /** Extra options passed to buildApp (metrics hooks etc.). */
  app?: Partial<AppOptions>;
  /** A runtime already started (the CLI starts workers before importing this module); else one is created. */
  runtime?: InferenceRuntime;
  /** MQTT front door and prediction events (src/events/streams.ts). */
  streams?: StreamOptions;
}

export interface RunningServer {
  app: FastifyInstance;
  core: InferenceCore;
  /** The MQTT front door and event sinks, when configured. */
  streams: RunningStreams | undefined;
  /** http://host:port of the listening socket. */
  url: string;
  port: number;
  /** The gRPC port, when gRPC is on. */
  grpcPort?: number;
  /** Graceful shutdown: readyz 503, stop accepting, drain, stop workers. Resolves true if drained in time. */
  shutdown(): Promise<boolean>;
}

export async function startServer(options: StartOptions): Promise<RunningServer> {
  // Workers start now, so they load onnxruntime while the app is built; deaths are logged once it exists.
  let app: FastifyInstance | undefined;
  // Warnings found before the app (and its logger) exists: logged once it does, or added to the failure.
  const early: StartupWarning[] = [];
  const earlyInfo: StartupWarning[] = [];
  const runtime = options.runtime ?? await createRuntime({
    workers: options.workers,
    threadsPerWorker: options.threadsPerWorker,
    onWorkerExit: (event) => app?.log.warn(event, 'inference worker died; replaced'),
    runTimeoutMs: options.runTimeoutMs,
    onWorkerQuarantined: (event) => app?.log.warn(event, quarantineMessage(event)),
  });
  const metrics = options.app?.metrics === false ? undefined : (options.app?.metrics ?? new Metrics());
  const extraOnBatch = options.app?.registry?.onBatch;
  const statistics = options.app?.statistics ?? new InferenceStatistics();
  const core = new InferenceCore({
    repo: options.configs ? undefined : (options.repo ?? 'models'),
    configs: options.configs,
    runtime,
    optimize: options.optimize,
    maxLoadedModels: options.maxLoadedModels,
    maxRunRows: options.maxRunRows,
    onBatch: (model, version) => {
      const a = metrics?.batchObserver(model, version);
      const b = extraOnBatch?.(model, version);
      const c = statistics.observer(model, version);
      return (info) => { a?.(info); b?.(info); c(info); };
    },
    onRequest: (model, version) => statistics.requestObserver(model, version),
    // A version that fails to load while serving (reload, on demand): logged with file and problem.
    onProblem: (message, where) => app?.log.error(where, `model load failed: ${message}`),
    // Start-up loads before the app (and its logger) exists: those are said once it does, or with a failure before.
    onWarning: (message, where) => (app ? app.log.warn(where, `model config: ${message}`) : early.push({ message: `model config: ${message}`, where })),
    onInfo: (message, where) => (app ? app.log.info(where, `model: ${message}`) : earlyInfo.push({ message: `model: ${message}`, where })),
  });
  if (metrics) metrics.watchCore(core);
  statistics.watchCore(core);
  let grpc: RunningGrpcServer | undefined;
  let streams: RunningStreams | undefined;
  try {
    await core.start();
    const readiness = hasStreams(options.streams) ? () => streams?.notReady() : undefined;
    // One key gate for HTTP and gRPC: a key's rate limit is one budget whichever protocol it calls.
    const auth = options.app?.auth;
    const keyGate = auth && (auth.gate ?? createKeyGate(auth, (fingerprint) => metrics?.rateLimited(fingerprint)));
    app = await buildApp({ ...options.app, ...(auth && { auth: { ...auth, gate: keyGate } }), readiness, core, metrics: metrics ?? false, statistics, bodyLimit: options.bodyLimit, logger: options.logger, optimize: options.optimize });
    // A model folder with both layouts serves its numbered folders: the flat file beside them is said once, here.
    if (options.configs === undefined) early.push(...repositoryWarnings(options.repo ?? 'models'));
    // Logged now, not once listening: a port in use fails after this, and they are said all the same.
    for (const { message, where } of early.splice(0)) app.log.warn(where, message);
    for (const { message, where } of earlyInfo.splice(0)) app.log.info(where, message);
    // After the app: the streams log through its logger from their first moment (a broker that
    // refuses the connection says so at once, not into a logger that does not exist yet).
    if (hasStreams(options.streams)) streams = startStreams(options.streams, core, metrics, app.log, app.traffic);
    await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 8000 });
    if (options.grpcPort === 'free' || (options.grpcPort !== undefined && options.grpcPort > 0)) {
      const { startGrpcServer } = await import('./grpc/server.js');
      grpc = await startGrpcServer({ core, stats: statistics, host: options.host, port: options.grpcPort === 'free' ? 0 : options.grpcPort, maxMessageBytes: options.grpcMaxMessageSize, connections: { graceMs: options.drainTimeout, ...options.grpcConnections }, auth: keyGate, log: app.log, metrics, readiness, traffic: app.traffic, requestTimeoutMs: options.app?.requestTimeoutMs });
    }
  } catch (err) {
    // A start-up that fails before the app's logger exists never logs its warnings: they may be why (a model folder
    // whose version folders are links to nothing: its model file not found, no model found), so they are said with
    // the failure, each once (no model found names the links already).
    if (app === undefined && err instanceof Error) {
      if (options.configs === undefined) early.push(...repositoryWarnings(options.repo ?? 'models'));
      const said = early.filter((w) => !err.message.includes(w.said ?? w.message)).map((w) => w.message);
      if (said.length > 0) err.message += said.map((m) => `\n${m}`).join('');
    }
    await grpc?.drain(0);
    await (app ? app.close() : Promise.resolve()).catch(() => undefined);
    await streams?.close().catch(() => undefined);
    await core.close().catch(() => undefined);
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port ?? 8000;
  const host = options.host && options.host !== '0.0.0.0' && options.host !== '::' ? options.host : '127.0.0.1';
  // What changes after start-up (--watch, the repository API, the memory budget) is said in the log,
  // not only in /metrics: a failed load is logged (onProblem above); so are a load that serves and an unload.
  const log = app.log;
  core.on('event', (e: CoreEvent) => {
    if (e.type === 'version-ready') log.info({ model: e.model, version: e.version, loadMs: Math.round(e.loadMs), reloaded: e.replaced !== undefined }, e.replaced !== undefined ? 'model version reloaded' : 'model version loaded');
    else if (e.type === 'version-link-dangling') log.warn({ model: e.model, version: e.version }, `version folder link: ${e.reason}`);
    else if (e.type === 'version-folder-lookalike') log.warn({ model: e.model }, `version folder name: ${e.reason}`);
    else if (e.type === 'version-load-retry') log.warn({ model: e.model, version: e.version, attempt: e.attempt, of: e.of }, `model load retry: ${e.reason}; trying again in ${e.delayMs / 1000} s (try ${e.attempt} of ${e.of})`);
    else if (e.type === 'version-incomplete') log.warn({ model: e.model, version: e.version }, `model file incomplete: ${e.reason}`);
    else if (e.type === 'version-unloaded' && e.why !== undefined) log.warn({ model: e.model, version: e.version, reason: e.reason }, `model version unloaded: ${e.why}`);
    else if (e.type === 'version-unloaded' && e.reason !== 'shutdown' && e.reason !== 'replaced') log.info({ model: e.model, version: e.version, reason: e.reason }, 'model version unloaded');
    else if (e.type === 'model-removed' && e.why !== undefined) log.warn({ model: e.model, reason: 'removed' }, `model removed: ${e.why}`);
    else if (e.type === 'model-removed') log.info({ model: e.model, reason: 'removed' }, 'model removed (no version of it was loaded)');
  });
  if (options.watch) core.watch(options.watch === true ? {} : options.watch);
  app.log.info({ models: core.status().map((m) => ({ name: m.name, version: m.serving, state: m.state })), workers: runtime.workerThreads, port, watch: Boolean(options.watch) }, 'ready');

  // Requests being handled right now (read, not yet answered), for the drain.
  let handling = 0;
  let onIdle: (() => void) | undefined;
  // Connections that have not sent a request yet (pre-opened by a load balancer's pool or a
  // browser's preconnect): Node counts them as active, not idle (its headers timeout runs), so
  // server.close() waited for them until the drain timeout and the process exited 1.
  const unused = new Set<Socket>();
  app.server.on('connection', (socket: Socket) => {
    unused.add(socket);
    socket.once('close', () => unused.delete(socket));
  });
  app.server.on('request', (req, res) => {
    unused.delete(req.socket);
    handling++;
    res.once('close', () => {
      handling--;
      if (handling === 0) onIdle?.();
    });
  });
  const quiet = async (until: number) => {
    // Until no request is being handled and none arrived for a short settle period (a connection
    // accepted just before the listener closed gets its request read and served in that time).
    while (Date.now() < until) {
      if (handling > 0) await new Promise<void>((resolve) => { onIdle = resolve; setTimeout(resolve, Math.max(0, until - Date.now())).unref(); });
      onIdle = undefined;
      await new Promise((resolve) => setTimeout(resolve, 50));
      if (handling === 0) return;
    }
  };

  let shuttingDown: Promise<boolean> | undefined;
  const shutdown = () => {
    shuttingDown ??= (async () => {
      // 1. /readyz answers 503 from now on (gRPC health NOT_SERVING, watchers told), and every response carries Connection: close.
      app.serviceState = 'draining';
      grpc?.publishHealth();
      const started = Date.now();
      // 2. Optionally keep accepting for a while, so load balancers see /readyz fail (or receive
      //    the endpoint removal) before connections start being refused.
      const delay = options.shutdownDelay ?? 0;
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      const drainTimeout = options.drainTimeout ?? 10_000;
      const deadline = Date.now() + drainTimeout;
      // 3. The listener stops accepting; open connections stay open: requests on them are still
      //    served (with Connection: close), so a keep-alive client that sends right now is answered
      //    rather than cut off. (net.Server#close: http.Server#close would also drop idle
      //    keep-alive connections at once, racing clients that are just sending on them.)
      NetServer.prototype.close.call(app.server);
      // ... and MQTT takes no new requests (unsubscribed; a shared group sends them to the other
      // replicas); those it took are answered within the drain deadline, as HTTP's are.
      const mqttDrained = streams?.stopIntake(Math.max(0, deadline - Date.now())) ?? Promise.resolve();
      const grpcDrained = grpc?.drain(Math.max(0, deadline - Date.now())) ?? Promise.resolve(true);
      // 4. In-flight requests finish (they wait for their queued batches) ...
      await quiet(deadline);
      // 5. ... then app.close() (remaining idle connections close, the batchers drain), then the core stops the workers.
      //    A connection that never sent a request is idle too: it has nothing to answer.
      for (const socket of unused) socket.destroy();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now())); });
      // The verdict is about the requests: stopping the workers afterwards (~100 ms) is not part of
      // it, so a short --drain-timeout on an idle server is not reported as connections cut (exit 1).
      const answered = Promise.all([app.close(), grpcDrained, mqttDrained]);
      const drained = await Promise.race([answered.then(() => true), timedOut]);
      clearTimeout(timer);
      // What follows the drain ends by stopBy, so the whole shutdown fits in shutdown-delay +
      // drain-timeout + AFTER_DRAIN_MS: the grace period docs/production.md asks for (Docker's and
      // Cloud Run's 10 s hold deploy/'s 8 s drain). Before, a drain that timed out could be followed
      // by 2 s of stopping workers and 5 s of flushing events, and the platform's SIGKILL came first.
      const stopBy = deadline + AFTER_DRAIN_MS;
      const untilStopBy = () => new Promise((resolve) => setTimeout(resolve, Math.max(0, stopBy - Date.now())).unref());
      if (!drained) {
        app.log.warn({ drainTimeout }, 'drain timeout: closing remaining connections');
        app.server.closeAllConnections();
      }
      // The runtime stops, by stopBy (late batches of timed-out requests may still run): a stuck
      // close cannot keep the process alive.
      const closing = answered.catch(() => undefined).then(() => core.close());
      await Promise.race([closing.catch(() => undefined), untilStopBy()]);
      // A thread the run watchdog quarantined ends by itself once its native run returns. The process
      // must not exit before: Node's exit tears the thread down mid-run, and onnxruntime then aborts
      // the whole process (SIGABRT, exit 134). So it gets what is left until stopBy too.
      const stuck = runtime.quarantineStats?.().alive ?? 0;
      if (stuck > 0) {
        app.log.warn({ stuck }, `waiting up to ${Math.max(0, stopBy - Date.now())} ms for ${stuck} inference thread(s) stuck in a run (taken out of service by the run watchdog) to end before exiting`);
        await Promise.race([runtime.whenQuarantinedExited?.(), untilStopBy()]);
      }
      // 6. The event sinks flush what the last predictions produced (up to 5 s, and not past stopBy;
      //    not part of the drain's verdict).
      if (streams) await Promise.race([streams.close(Math.min(EVENTS_FLUSH_MS, Math.max(0, stopBy - Date.now()))).catch(() => undefined), untilStopBy()]);
      app.log.info({ drained, ms: Date.now() - started }, drained ? 'drained: every accepted request answered, workers stopped' : 'stopped after the drain timeout');
      return drained;
    })();
    return shuttingDown;
  };
  return { app, core, streams, url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, port, grpcPort: grpc?.port, shutdown };
}
