import { spawn, type ChildProcess } from 'node:child_process';
import { CLI, REPO } from './paths.js';

export interface ServeOptions {
  /** Working directory (default: the repository). */
  cwd?: string;
  /** Added to the test's own environment. */
  env?: Record<string, string>;
  /** Node's own flags, before the CLI (e.g. --trace-gc-nvp). */
  nodeArgs?: string[];
  /** Keep what the server writes to stdout (its logs, a GC trace); ignored otherwise. */
  captureStdout?: boolean;
  /** Run as this user (the test runs as root: to be denied what a chmod denies). */
  user?: { uid: number; gid: number };
}

export interface RunningCli {
  child: ChildProcess;
  /** Resolves with the server's URL once it printed that it serves; rejects if it exits first. */
  url: Promise<string>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** Everything written so far. */
  stdout(): string;
  stderr(): string;
  /** SIGKILL unless it already exited (for t.after / after hooks). */
  kill(): void;
}

/** Starts the real CLI, `modelserve serve <args>`, as a user would. */
export function startServe(args: string[], opts: ServeOptions = {}): RunningCli {
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), CLI, 'serve', ...args], {
    cwd: opts.cwd ?? REPO,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', opts.captureStdout ? 'pipe' : 'ignore', 'pipe'],
    ...opts.user,
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => { stdout += c.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
      const m = /serving .* on (http:\/\/\S+) /.exec(stderr);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`modelserve serve exited ${code} before serving: ${stderr}`)));
  });
  // A test that never awaits `url` (it expects a failure) must not see an unhandled rejection.
  url.catch(() => undefined);
  return {
    child,
    url,
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
