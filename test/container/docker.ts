// Helpers for the tests that drive a real Docker engine (npm run test:container, which starts the
// engine and provides the base image). Everything a test starts is registered in a Cleanup and
// removed by its own id/name in after(), whatever happened.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { dirname, join } from 'node:path';
import { CLI, REPO, tempDir } from '../helpers/paths.js';

export const DOCKER = process.env.MODELSERVE_DOCKER ?? (existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker');

/** The book's request (examples/weather serves the book's model) and the answer the book shows for it. */
export const BOOK_REQUEST = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };

export interface Result { code: number; stdout: string; stderr: string }

/** Runs a command; never throws (the caller asserts on the code). */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; input?: string } = {}): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd ?? REPO, timeout: opts.timeoutMs ?? 300_000, maxBuffer: 64 * 2 ** 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) + (err && code === 1 && !stderr ? err.message : '') });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

export function docker(args: string[], opts: { timeoutMs?: number; cwd?: string; input?: string } = {}): Promise<Result> {
  return run(DOCKER, args, { ...opts, env: { ...process.env, DOCKER_BUILDKIT: '1' } });
}

/** docker …, throwing with its output when it fails; returns stdout trimmed. */
export async function dockerOk(args: string[], opts: { timeoutMs?: number; cwd?: string; input?: string } = {}): Promise<string> {
  const r = await docker(args, opts);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}:\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-3000)}`);
  return r.stdout.trim();
}

/** `docker build` of the repository's Dockerfile as a user here would run it; returns the build time. */
export async function buildImage(tag: string, extra: string[] = [], context = REPO): Promise<number> {
  const t0 = Date.now();
  await dockerOk(['build', '--network', 'host', '-t', tag, ...extra, context], { timeoutMs: 600_000 });
  return Date.now() - t0;
}

/** Things to remove at the end, last registered first. */
export class Cleanup {
  private readonly steps: Array<{ what: string; fn: () => Promise<unknown> }> = [];
  add(what: string, fn: () => Promise<unknown>): void {
    this.steps.push({ what, fn });
  }
  container(id: string): void {
    this.add(`container ${id}`, () => docker(['rm', '-f', '-v', id]));
  }
  image(ref: string): void {
    this.add(`image ${ref}`, () => docker(['rmi', ref]));
  }
  process(child: ChildProcess): void {
    this.add(`process ${child.pid}`, async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    });
  }
  async run(): Promise<void> {
    const problems: string[] = [];
    for (const step of this.steps.reverse()) {
      try {
        await step.fn();
      } catch (err) {
        problems.push(`${step.what}: ${(err as Error).message}`);
      }
    }
    this.steps.length = 0;
    if (problems.length) console.error(`cleanup problems:\n${problems.join('\n')}`);
  }
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`${what}: not within ${ms} ms${last ? ` (${(last as Error).message})` : ''}`);
}

/**
 * 200 from GET url within a second, else undefined. node:http rather than fetch: through docker-proxy
 * (a published port whose container is not listening yet) the connection is accepted and then reset,
 * and fetch's pending promise could outlive every handle (node:test then cancels the test).
 */
export function ok200(url: string): Promise<true | undefined> {
  return new Promise((resolve) => {
    const req = httpGet(url, { timeout: 1000, agent: false }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode === 200 ? true : undefined));
      res.once('error', () => resolve(undefined));
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', () => resolve(undefined));
  });
}

export async function predict(url: string, body: unknown = BOOK_REQUEST): Promise<{ status: number; text: string }> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  return { status: r.status, text: await r.text() };
}

export interface LoadResult {
  requests: number;
  ok: number;
  failures: number;
  rps: number;
  elapsedS: number;
  statusCounts: Record<string, number>;
  errorKinds: Record<string, number>;
  latencyMs: Record<string, number>;
}

/** A body file for the load tester. */
export function bodyFile(body: unknown = BOOK_REQUEST): string {
  const file = join(tempDir('modelserve-body-'), 'body.json');
  writeFileSync(file, JSON.stringify(body));
  return file;
}

/** `modelserve loadtest` (closed model) in the background; the promise resolves with its JSON result. */
export function startLoad(url: string, opts: { users: number; duration: string; body?: string; timeout?: string }, cleanup: Cleanup): { child: ChildProcess; result: Promise<LoadResult> } {
  let body = opts.body;
  if (body === undefined) {
    const file = bodyFile();
    cleanup.add(`body ${file}`, () => run('rm', ['-rf', dirname(file)]));
    body = file;
  }
  const args = [CLI, 'loadtest', url, '--body', body, '--users', String(opts.users), '--duration', opts.duration, '--timeout', opts.timeout ?? '10s', '--json', '--quiet'];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  cleanup.process(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
  const result = new Promise<LoadResult>((resolve, reject) => {
    child.once('exit', (code) => {
      try {
        resolve(JSON.parse(out) as LoadResult);
      } catch {
        reject(new Error(`loadtest exited ${code} without a JSON result:\n${err.slice(-3000)}`));
      }
    });
  });
  return { child, result };
}

/** A HEALTHCHECK run as Docker records it (State.Health.Log keeps the last 5; sample often). */
export interface HealthRun { start: string; ms: number; exitCode: number; output: string }

function isoMs(t: string): number {
  // Docker prints nanoseconds; Date parses milliseconds.
  const m = /^(.*?\.\d{3})\d*(Z|[+-]\d\d:\d\d)$/.exec(t);
  return Date.parse(m ? `${m[1]}${m[2]}` : t);
}

export async function healthRuns(container: string): Promise<HealthRun[]> {
  const out = await dockerOk(['inspect', '-f', '{{json .State.Health}}', container]);
  const h = JSON.parse(out) as { Log?: Array<{ Start: string; End: string; ExitCode: number; Output: string }> } | null;
  return (h?.Log ?? []).map((l) => ({ start: l.Start, ms: isoMs(l.End) - isoMs(l.Start), exitCode: l.ExitCode, output: l.Output }));
}

/** Samples a container's HEALTHCHECK runs until stop() is called; returns each run once. */
export function sampleHealth(container: string, everyMs = 700): { stop(): Promise<HealthRun[]> } {
  const seen = new Map<string, HealthRun>();
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        for (const r of await healthRuns(container)) seen.set(r.start, r);
      } catch {
        // the container is going away
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return [...seen.values()];
    },
  };
}

/** Resident set size of a host process, bytes (containers here share the host's PID namespace view via State.Pid). */
export function rssBytes(pid: number): number {
  const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return kb * 1024;
}

export function uidOf(pid: number): number {
  return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}
