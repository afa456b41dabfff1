// Child processes for the benchmarks: every process is started in its own process group and
// tracked, so stopping it (or the bench exiting for any reason: an error, SIGINT, SIGTERM) takes
// its whole tree down — uvicorn --workers 2 forks, so killing only the parent is not enough.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (the scripts run from dist/bench/, so walk up to package.json). */
export const ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
})();
export const CLI = join(ROOT, 'bin', 'modelserve.js');

/** ../shared beside the repo (MODELSERVE_SHARED overrides); throws a clear message when absent. */
export function sharedDir(): string {
  const dir = process.env.MODELSERVE_SHARED ?? resolve(ROOT, '..', 'shared');
  if (!existsSync(join(dir, 'seed', 'svc.onnx'))) {
    throw new Error(`the book's model is missing: ${join(dir, 'seed', 'svc.onnx')} does not exist. ` +
      'The benchmark needs ../shared (seed/svc.onnx, seed/model-scaler.json, peers/) beside the repository; set MODELSERVE_SHARED to its path.');
  }
  return dir;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export { freePort } from '../test/helpers/net.js';

/** `--name <number>` from argv, or `dflt` when absent or not a number. */
export function numberArg(argv: string[], name: string, dflt: number): number {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) || dflt : dflt;
}

export interface Proc {
  child: ChildProcess;
  pid: number;
  /** stdout + stderr so far (capped), for error messages. */
  output(): string;
  exited: Promise<number | null>;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves when the leader has exited. */
  stop(graceMs?: number): Promise<void>;
}

const running = new Set<Proc>();
const tempDirs = new Set<string>();

/** Removes `dir` when the process exits, even on SIGINT (the normal path removes it itself). */
export function removeOnExit(dir: string): void {
  hookExit();
  tempDirs.add(dir);
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try { process.kill(-pid, signal); } catch { /* already gone */ }
}

let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const p of running) killGroup(p.pid, 'SIGKILL');
    for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      console.error(`\nbench: ${sig}, stopping ${running.size} child process(es)`);
      for (const p of running) killGroup(p.pid, 'SIGKILL');
      process.exit(130);
    });
  }
}

/** Starts a tracked child in its own process group. */
export function startProc(cmd: string, args: string[], options: SpawnOptions = {}): Proc {
  hookExit();
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options, detached: true });
  if (child.pid === undefined) throw new Error(`cannot start ${cmd}`);
  const pid = child.pid;
  let out = '';
  const keep = (c: Buffer) => { out += c.toString(); if (out.length > 20000) out = out.slice(-10000); };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((res) => {
    child.once('exit', (code) => res(code));
    child.once('error', (err) => { out += `\n${err.message}`; res(null); });
  });
  let done = false;
  void exited.then(() => { done = true; });
  const proc: Proc = {
    child,
    pid,
    output: () => out,
    exited,
    async stop(graceMs = 5000) {
      if (!done) {
        killGroup(pid, 'SIGTERM');
        const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      // Whatever the leader left behind in its group (forked workers) goes too.
      killGroup(pid, 'SIGKILL');
      running.delete(proc);
    },
  };
  running.add(proc);
  return proc;
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop(2000)));
}

/** Resolves when `text` appears in the child's output (or its regexp matches); rejects on exit/timeout. */
export function waitForOutput(p: Proc, pattern: RegExp, timeoutMs = 30000): Promise<RegExpMatchArray> {
  return new Promise((res, rej) => {
    const check = () => {
      const m = p.output().match(pattern);
      if (m) { cleanup(); res(m); }
    };
    const timer = setTimeout(() => { cleanup(); rej(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern}; output:\n${p.output().slice(-2000)}`)); }, timeoutMs);
    const onExit = (code: number | null) => { cleanup(); rej(new Error(`process exited (${code}) before ${pattern}; output:\n${p.output().slice(-2000)}`)); };
    const cleanup = () => {
      clearTimeout(timer);
      p.child.stdout?.off('data', check);
      p.child.stderr?.off('data', check);
      p.child.off('exit', onExit);
    };
    p.child.stdout?.on('data', check);
    p.child.stderr?.on('data', check);
    p.child.once('exit', onExit);
    check();
  });
}

/** One POST on a fresh connection that is closed afterwards (no keep-alive left to delay a graceful shutdown). */
function postOnce(url: string, body: string): Promise<number> {
  return new Promise((res, rej) => {
    const req = request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' } }, (r) => {
      r.resume();
      r.once('end', () => res(r.statusCode ?? 0));
      r.once('error', rej);
    });
    req.once('error', rej);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.end(body);
  });
}

/** POSTs `body` until a 200 (every `everyMs`); returns ms waited. Rejects on timeout or child exit. */
export async function waitFor200(url: string, body: string, opts: { timeoutMs?: number; everyMs?: number; proc?: Proc } = {}): Promise<number> {
  const t0 = performance.now();
  const timeoutMs = opts.timeoutMs ?? 30000;
  let exited = false;
  void opts.proc?.exited.then(() => { exited = true; });
  for (;;) {
    try {
      if ((await postOnce(url, body)) === 200) return performance.now() - t0;
    } catch { /* not listening yet */ }
    if (exited) throw new Error(`server exited before answering ${url}; output:\n${opts.proc?.output().slice(-2000)}`);
    if (performance.now() - t0 > timeoutMs) throw new Error(`no 200 from ${url} within ${timeoutMs} ms`);
    await sleep(opts.everyMs ?? 20);
  }
}

/** Resident memory (VmRSS, VmHWM) of a process and its descendants, in MiB. */
export function rssMiB(pid: number): { rss: number; hwm: number } {
  let rss = 0;
  let hwm = 0;
  const visit = (p: number) => {
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      rss += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
      hwm += Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    } catch { return; }
    try {
      for (const t of readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) visit(Number(t));
    } catch { /* no children file */ }
  };
  visit(pid);
  return { rss, hwm };
}

/** The process and its descendants (gunicorn's workers, …), from /proc. */
function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      const children = readFileSync(`/proc/${out[i]}/task/${out[i]}/children`, 'utf8').trim();
      if (children) out.push(...children.split(/\s+/).map(Number));
    } catch { /* gone */ }
  }
  return out;
}

/**
 * CPU time (user + system, ms) of a process tree and of the root's main thread, and the context
 * switches of every thread in the tree (voluntary: it slept, e.g. an event loop waiting in
 * epoll_wait; involuntary: it was preempted), from /proc. Gone processes count 0.
 */
export function cpuMs(pid: number): { total: number; main: number; switches: number } {
  const ticks = (path: string) => {
    try {
      // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
      const rest = readFileSync(path, 'utf8').split(') ').pop()!.split(' ');
      return (Number(rest[11]) + Number(rest[12])) * 10; // USER_HZ is 100 on Linux
    } catch {
      return 0;
    }
  };
  let total = 0;
  let switches = 0;
  for (const p of processTree(pid)) {
    total += ticks(`/proc/${p}/stat`);
    try {
      for (const task of readdirSync(`/proc/${p}/task`)) {
        const status = readFileSync(`/proc/${p}/task/${task}/status`, 'utf8');
        switches += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0) + Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0);
      }
    } catch { /* gone */ }
  }
  return { total, main: ticks(`/proc/${pid}/task/${pid}/stat`), switches };
}
