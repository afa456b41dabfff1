// The systems the main benchmark drives: modelserve (on a model repository), the FastAPI peer from
// ../shared/peers (Debian's python3-fastapi + uvicorn), and the bare-Fastify ceiling fixture.
// Each start function resolves once the server answers, with its base URL and a stop().
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeBookModelFolder as writeBookFolder } from '../test/helpers/paths.js';
import { CLI, ROOT, freePort, startProc, waitFor200, waitForOutput, type Proc } from './procs.js';

export const PYTHON = '/usr/bin/python3';

export interface Server {
  name: string;
  base: string;
  proc: Proc;
  stop(): Promise<void>;
}

export { BOOK_FIELDS } from '../test/helpers/paths.js';

/** Writes a model folder serving the book's svc.onnx (read in place from `shared`) with its scaler; returns the folder. */
export function writeBookModelFolder(parent: string, shared: string): string {
  return writeBookFolder(parent, '', shared);
}

export interface ServeOptions {
  workers?: number;
  optimize?: boolean;
  /** Extra node flags (e.g. --cpu-prof). */
  nodeArgs?: string[];
  port?: number;
  cwd?: string;
  /** More `serve` flags. */
  extra?: string[];
}

export function serveArgs(repo: string, o: ServeOptions = {}): string[] {
  // No gRPC port unless asked: several servers run side by side (the default 8001 would clash).
  const grpc = (o.extra ?? []).includes('--grpc-port') ? [] : ['--grpc-port', '0'];
  return [...(o.nodeArgs ?? []), CLI, 'serve', repo, '--host', '127.0.0.1', '--port', String(o.port ?? 0), '--log-level', 'warn', ...grpc,
    ...(o.workers !== undefined ? ['--workers', String(o.workers)] : []), ...(o.optimize === false ? ['--no-optimize'] : []), ...(o.extra ?? [])];
}

/** Starts `modelserve serve` and waits for its "serving … on http://…" line. */
export async function startModelserve(name: string, repo: string, o: ServeOptions = {}): Promise<Server> {
  const proc = startProc(process.execPath, serveArgs(repo, o), { cwd: o.cwd ?? ROOT });
  const m = await waitForOutput(proc, /serving .* on (http:\/\/127\.0\.0\.1:\d+)/, 60000);
  return { name, base: m[1]!, proc, stop: () => proc.stop(10000) };
}

/** Why the FastAPI peer cannot run here, or undefined when it can. */
export function fastapiMissing(shared: string): string | undefined {
  const peers = join(shared, 'peers');
  if (!existsSync(join(peers, 'fastapi_weather.py'))) return `${join(peers, 'fastapi_weather.py')} not found`;
  if (!existsSync(PYTHON)) return `${PYTHON} not found`;
  const r = spawnSync(PYTHON, ['-c', 'import fastapi, uvicorn, numpy'], { encoding: 'utf8' });
  if (r.status !== 0) return `Debian's python3-fastapi / python3-uvicorn / python3-numpy are not installed (${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`;
  return undefined;
}

export function fastapiCommand(port: number, workers: number): string[] {
  return ['-m', 'uvicorn', 'fastapi_weather:app', '--host', '127.0.0.1', '--port', String(port), '--log-level', 'warning', ...(workers > 1 ? ['--workers', String(workers)] : [])];
}

/** How the FastAPI peer is run: uvicorn alone (1 or N workers) or gunicorn with uvicorn workers. */
export type PeerKind = 'uvicorn' | 'gunicorn';

export function gunicornMissing(): string | undefined {
  const r = spawnSync('gunicorn', ['--version'], { encoding: 'utf8' });
  return r.error || r.status !== 0 ? "Debian's gunicorn is not installed" : undefined;
}

/** Starts the FastAPI peer from ../shared/peers: `uvicorn [--workers N]` or `gunicorn -w N -k uvicorn.workers.UvicornWorker`. */
export async function startFastapi(shared: string, workers: number, body: string, kind: PeerKind = 'uvicorn'): Promise<Server> {
  const port = await freePort();
  const cwd = join(shared, 'peers');
  const proc = kind === 'uvicorn'
    ? startProc(PYTHON, fastapiCommand(port, workers), { cwd })
    : startProc('gunicorn', ['-w', String(workers), '-k', 'uvicorn.workers.UvicornWorker', '-b', `127.0.0.1:${port}`, '--log-level', 'warning', 'fastapi_weather:app'], { cwd });
  const base = `http://127.0.0.1:${port}`;
  await waitFor200(`${base}/predict`, body, { timeoutMs: 30000, proc });
  // With several workers each one imports numpy and the model: let them all finish starting.
  if (workers > 1) await new Promise((r) => setTimeout(r, 1500));
  return { name: `FastAPI ${kind} ${workers}w`, base, proc, stop: () => proc.stop(5000) };
}

/** Why the Flask peer (the article's baseline) cannot run here, or undefined when it can. */
export function flaskMissing(shared: string): string | undefined {
  const peers = join(shared, 'peers');
  if (!existsSync(join(peers, 'flask_weather.py'))) return `${join(peers, 'flask_weather.py')} not found`;
  const why = gunicornMissing();
  if (why) return why;
  const r = spawnSync(PYTHON, ['-c', 'import flask, numpy'], { encoding: 'utf8' });
  if (r.status !== 0) return `Debian's python3-flask / python3-numpy are not installed (${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`;
  return undefined;
}

/** Starts the Flask peer from ../shared/peers as its README says: `gunicorn -w 2 flask_weather:app`. */
export async function startFlask(shared: string, body: string): Promise<Server> {
  const port = await freePort();
  const cwd = join(shared, 'peers');
  const proc = startProc('gunicorn', ['-w', '2', '-b', `127.0.0.1:${port}`, '--log-level', 'warning', 'flask_weather:app'], { cwd });
  const base = `http://127.0.0.1:${port}`;
  await waitFor200(`${base}/predict`, body, { timeoutMs: 30000, proc });
  await new Promise((r) => setTimeout(r, 1500)); // both workers import numpy and the model
  return { name: 'Flask gunicorn 2w', base, proc, stop: () => proc.stop(5000) };
}

/** Starts the bare node:http server answering a constant (Node's own HTTP limit). */
export async function startNodeHttpLimit(): Promise<Server> {
  const script = fileURLToPath(new URL('./fixtures/node-http-limit.js', import.meta.url));
  const proc = startProc(process.execPath, [script], { cwd: ROOT });
  const m = await waitForOutput(proc, /node:http listening on (\d+)/, 30000);
  return { name: 'node:http limit', base: `http://127.0.0.1:${m[1]}`, proc, stop: () => proc.stop(5000) };
}

/** Starts the bare node:http2 server answering every stream as a unary gRPC call (the HTTP/2 limit). */
export async function startNodeHttp2Limit(): Promise<Server> {
  const script = fileURLToPath(new URL('./fixtures/node-http2-limit.js', import.meta.url));
  const proc = startProc(process.execPath, [script], { cwd: ROOT });
  const m = await waitForOutput(proc, /node:http2 listening on (\d+)/, 30000);
  return { name: 'node:http2 limit', base: `http://127.0.0.1:${m[1]}`, proc, stop: () => proc.stop(5000) };
}

/** Starts @grpc/grpc-js answering each ModelStreamInfer message with a constant, no protobuf (the gRPC streaming limit). */
export async function startGrpcStreamLimit(): Promise<Server> {
  const script = fileURLToPath(new URL('./fixtures/grpc-stream-limit.js', import.meta.url));
  const proc = startProc(process.execPath, [script], { cwd: ROOT });
  const m = await waitForOutput(proc, /grpc-js stream listening on (\d+)/, 30000);
  return { name: 'grpc-js streaming limit', base: `http://127.0.0.1:${m[1]}`, proc, stop: () => proc.stop(5000) };
}

/** Starts the bare-Fastify ceiling fixture on the examples' schemas. */
export async function startCeiling(examples: string, nodeArgs: string[] = []): Promise<Server> {
  const script = fileURLToPath(new URL('./fixtures/ceiling-server.js', import.meta.url));
  const proc = startProc(process.execPath, [...nodeArgs, script, examples], { cwd: ROOT });
  const m = await waitForOutput(proc, /ceiling listening on (\d+)/, 30000);
  return { name: 'Fastify ceiling', base: `http://127.0.0.1:${m[1]}`, proc, stop: () => proc.stop(5000) };
}
