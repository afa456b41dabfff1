// `modelserve serve`: parse options, start, and shut down gracefully on SIGTERM/SIGINT.
import { StartupError } from '../errors.js';
import { createRuntime, quarantineMessage } from '../runtime/create.js';
import type { RunningServer } from '../server.js';
import { parseServeOptions, serveHelp } from './serve-options.js';

export async function run(argv: string[]): Promise<number> {
  let options;
  try {
    options = parseServeOptions(argv);
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  if (options.help) {
    console.log(serveHelp());
    return 0;
  }
  for (const warning of options.warnings) console.error(`modelserve: warning: ${warning}`);
  // The main-thread note only where serve runs the hybrid runtime (not with --workers 0, nor --inline-max-us 0).
  if (options.check) return (await import('../check/cli.js')).checkAndReport(options.repo, { optimize: options.optimize, hybrid: options.workers !== 0 && options.inlineMaxUs > 0 });
  let server: RunningServer | undefined;
  // A signal before the server is up (loading models can take a while): nothing was accepted, so
  // there is nothing to drain; say so and exit as the signal would, rather than the silent default kill.
  const onSignalDuringStart = (signal: NodeJS.Signals) => {
    console.error(`modelserve: ${signal} during start-up: stopped before serving`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGTERM', onSignalDuringStart);
  process.once('SIGINT', onSignalDuringStart);
  // Start the inference workers first: they load onnxruntime while the HTTP modules are imported.
  const runtime = await createRuntime({
    workers: options.workers,
    threadsPerWorker: options.threadsPerWorker,
    inlineMaxMs: options.inlineMaxUs / 1000,
    onWorkerExit: (event) => server?.app.log.warn(event, 'inference worker died; replaced'),
    runTimeoutMs: options.runTimeoutMs,
    onWorkerQuarantined: (event) => server?.app.log.warn(event, quarantineMessage(event)),
  });
  try {
    const { startServer } = await import('../server.js');
    server = await startServer({
      runtime,
      repo: options.repo,
      host: options.host,
      port: options.port,
      grpcPort: options.grpcPort,
      grpcMaxMessageSize: options.grpcMaxMessageSize,
      grpcConnections: { maxConcurrentStreams: options.grpcMaxConcurrentStreams, maxInferStreams: options.grpcMaxStreams, maxAgeMs: options.grpcMaxConnectionAge, maxIdleMs: options.grpcMaxConnectionIdle },
      workers: options.workers,
      threadsPerWorker: options.threadsPerWorker,
      bodyLimit: options.bodyLimit,
      drainTimeout: options.drainTimeout,
      shutdownDelay: options.shutdownDelay,
      optimize: options.optimize,
      watch: options.watch,
      maxLoadedModels: options.maxLoadedModels,
      maxRunRows: options.maxRunRows,
      logger: { level: options.logLevel },
      streams: options.streams,
      app: {
        redact: options.redact,
        auth: options.apiKeys || options.adminApiKeys
          ? { keys: options.apiKeys ?? [], adminKeys: options.adminApiKeys, publicDocs: options.publicDocs, publicMetrics: options.publicMetrics, rateLimits: options.rateLimits }
          : undefined,
        corsOrigins: options.corsOrigins,
        metrics: options.metrics ? undefined : false,
      },
    });
  } catch (err) {
    process.off('SIGTERM', onSignalDuringStart);
    process.off('SIGINT', onSignalDuringStart);
    await runtime.close().catch(() => undefined);
    // One clear line (or block) naming the file and the problem; never a half-started server.
    // A config problem: list every problem of every model at once (schema, scale, ONNX signature), not the first round.
    const message = err instanceof StartupError ? await (await import('../check/startup.js')).completeStartupMessage(err, options.repo, options.optimize) : `failed to start: ${(err as Error).message}${portHint((err as Error).message)}`;
    console.error(`modelserve: ${message}`);
    return 1;
  }
  const served = server.core.status().map((m) => (m.serving === undefined ? `${m.name} (${m.state})` : `${m.name} v${m.serving}`));
  const serving = `modelserve: serving ${served.join(', ')} on ${server.url} (docs: ${server.url}/docs)${server.grpcPort ? `, gRPC on port ${server.grpcPort}` : ''}${options.watch ? ', watching the repository' : ''}`;
  return new Promise<number>((resolve) => {
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    const stop = (signal: string) => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      // A second signal, of either kind, ends the process at once. Said with a handler, not left to
      // the default action: node is PID 1 in the image, and the kernel drops a signal that PID 1 of a
      // PID namespace has no handler for (a second Ctrl-C or `docker kill -s TERM` did nothing).
      const onSecond = (second: NodeJS.Signals) => {
        console.error(`modelserve: second ${second} during the drain: exiting now, without waiting for it`);
        // process.exit() would wait for a thread inside a native run (see finish below): SIGKILL does not.
        if ((runtime.threadsInRun?.() ?? 0) > 0) process.kill(process.pid, 'SIGKILL');
        process.exit(second === 'SIGINT' ? 130 : 143);
      };
      process.once('SIGTERM', onSecond);
      process.once('SIGINT', onSecond);
      server.app.log.info({ signal }, 'shutting down');
      const finish = (code: number) => {
        // The shutdown has ended by its bound (shutdown-delay + drain-timeout + AFTER_DRAIN_MS). A
        // thread still inside a native run past it (a run that never returns, quarantined or not)
        // cannot be stopped: process.exit() joins it, so waits for the run, and then aborts (SIGABRT,
        // exit 134) once it returns into the torn-down thread. SIGKILL is the one way out that waits
        // for nothing and runs no onnxruntime teardown under the running thread; the platform would
        // send it at the end of its grace period anyway, this sends it within the documented bound.
        const inRun = runtime.threadsInRun?.() ?? 0;
        if (inRun > 0) {
          console.error(`modelserve: ${inRun} inference thread(s) still inside a run at the end of the shutdown: ending the process with SIGKILL (a thread inside onnxruntime's native run cannot be stopped, and a normal exit waits for it)`);
          // The log is written asynchronously (pino's flush() does not wait for a write in progress):
          // its writes already issued get a moment to land; best effort, the line above is synchronous.
          setTimeout(() => {
            process.kill(process.pid, 'SIGKILL');
            // Still here: the kernel ignores it when node is PID 1 of its PID namespace (a container
            // without an init); then the thread's end, or the platform's own kill, ends the process.
            if (process.pid === 1) console.error('modelserve: SIGKILL ignored: node is PID 1 of its PID namespace (run the container with an init, e.g. docker run --init, to have it end here)');
          }, 100).unref();
        }
        // Everything is closed; if a stray handle still holds the event loop, exit anyway. Not while a
        // thread is inside its native run (process.exit() would wait for that run and then abort): it
        // ends by itself when its run returns, and the process with it, with this exit code.
        let said = false;
        const exitSoon = () => setTimeout(() => {
          const stuck = runtime.threadsInRun?.() ?? 0;
          if (stuck === 0) process.exit(code);
          if (!said) console.error(`modelserve: ${stuck} inference thread(s) still stuck in a run: exiting once ${stuck === 1 ? 'it ends' : 'they end'}`);
          said = true;
          exitSoon();
        }, 3000).unref();
        exitSoon();
        resolve(code);
      };
      server.shutdown().then((drained) => finish(drained ? 0 : 1), () => finish(1));
    };
    process.off('SIGTERM', onSignalDuringStart);
    process.off('SIGINT', onSignalDuringStart);
    process.once('SIGTERM', onTerm);
    process.once('SIGINT', onInt);
    // Announced once the handlers are in place: a supervisor (or test) that signals as soon as it
    // reads this line must not meet the default action, which kills the process without a drain.
    console.error(serving);
  });
}

/** What to do about a port in use (a second server on one host: gRPC's default 8001 is the usual clash), a privileged port, or a --host no interface has. */
function portHint(message: string): string {
  if (/ENOTFOUND|EADDRNOTAVAIL|EAI_AGAIN/.test(message)) return ' (--host: an address or name of one of this machine\'s interfaces, e.g. 127.0.0.1, or 0.0.0.0 for all of them)';
  // The image's non-root user with PORT=80: fine in Docker's own network namespace, refused on the
  // host network and in a Kubernetes pod without NET_BIND_SERVICE.
  if (message.includes('listen EACCES')) {
    const lacking = `a port below 1024 needs a privilege uid ${process.getuid?.() ?? '?'} does not have: listen on 1024 or above`;
    return message.startsWith('gRPC') ? ` (${lacking}, e.g. --grpc-port 8001)` : ` (${lacking}, e.g. PORT=8080, and publish that as 80: docker run -p 80:8080, a Kubernetes Service's port: 80)`;
  }
  if (!message.includes('EADDRINUSE')) return '';
  return message.startsWith('gRPC')
    ? ' (another server — modelserve, Triton — holds that port: pick another with --grpc-port, or --grpc-port 0 to turn gRPC off)'
    : ' (another server holds that port: pick another with --port, or --port 0 for a free one)';
}
