// HTTP load for the benchmarks: wrk (closed loop, fixed connections — the neutral reference the
// peers' figures were taken with) and a small open-loop generator (a fixed arrival rate, latency
// measured from each request's intended send time, so a stalled server cannot hide its queueing),
// which runs in its own process: `node dist/bench/http-bench.js open-loop <json-args>`.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProc } from './procs.js';

export interface HttpResult {
  /** Completed requests per second (all statuses). */
  rps: number;
  requests: number;
  p50Ms: number;
  p99Ms: number;
  /** Non-2xx responses plus socket errors (connect/read/write/timeout). */
  errors: number;
}

export function hasWrk(): boolean {
  return spawnSync('wrk', ['--version'], { encoding: 'utf8' }).error === undefined;
}

/** Writes a wrk Lua script POSTing `body` as JSON; returns its path. */
export function writeWrkScript(dir: string, name: string, body: string): string {
  const file = join(dir, `${name}.lua`);
  let eq = '=';
  while (body.includes(`]${eq}]`)) eq += '=';
  writeFileSync(file, `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [${eq}[${body}]${eq}]\n`);
  return file;
}

function toMs(value: string, unit: string): number {
  const v = Number(value);
  switch (unit) {
    case 'us': return v / 1000;
    case 'ms': return v;
    case 's': return v * 1000;
    case 'm': return v * 60000;
    default: return NaN;
  }
}

/** Parses `wrk --latency` output. */
export function parseWrk(out: string): HttpResult {
  const num = (re: RegExp) => { const m = re.exec(out); return m ? Number(m[1]) : 0; };
  const pct = (p: string) => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
    return m ? toMs(m[1]!, m[2]!) : NaN;
  };
  const rpsMatch = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (!rpsMatch) throw new Error(`cannot parse wrk output:\n${out}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = socket ? socket.slice(1, 5).reduce((a, b) => a + Number(b), 0) : 0;
  return {
    rps: Number(rpsMatch[1]),
    requests: num(/(\d+) requests in/),
    p50Ms: pct('50'),
    p99Ms: pct('99'),
    errors: num(/Non-2xx or 3xx responses:\s+(\d+)/) + socketErrors,
  };
}

/** Runs `wrk -t1 -c<connections> -d<seconds>s --latency` (asynchronously: servers run in this process's children). */
export async function runWrk(url: string, script: string, connections: number, seconds: number): Promise<HttpResult> {
  const p = startProc('wrk', ['-t1', `-c${connections}`, `-d${Math.max(1, Math.round(seconds))}s`, '--timeout', '5s', '-s', script, '--latency', url]);
  const code = await p.exited;
  await p.stop();
  if (code !== 0) throw new Error(`wrk exited with ${code}:\n${p.output()}`);
  return parseWrk(p.output());
}

export interface OpenLoopArgs {
  url: string;
  body: string;
  rate: number;
  seconds: number;
  connections: number;
  /**
   * Seconds sent at the same rate before the measured `seconds`, not counted: a fresh generator
   * process on 64 new connections (its own JIT, the server's first requests on them) made the first
   * few hundred ms of every run slower for every server, and in 2 s runs that transient alone
   * was the p99 (wrk2 excludes its calibration period the same way). Its p99 is reported apart.
   */
  warmupSeconds?: number;
}

export interface OpenLoopResult extends HttpResult {
  offeredRate: number;
  /** Requests that waited more than 1 ms for a free connection (all 64 busy: the server is behind). */
  late: number;
  /** p99 of the warm-up's requests (NaN without a warm-up). */
  warmupP99Ms: number;
  generatorCpuPct: number;
}

/** Runs the open-loop generator in a child process and returns its result. */
export async function runOpenLoop(args: OpenLoopArgs): Promise<OpenLoopResult> {
  const p = startProc(process.execPath, [fileURLToPath(import.meta.url), 'open-loop', JSON.stringify(args)]);
  const code = await p.exited;
  await p.stop();
  const line = p.output().split('\n').find((l) => l.startsWith('{"rps"'));
  if (code !== 0 || !line) throw new Error(`open-loop generator failed (${code}):\n${p.output()}`);
  return JSON.parse(line) as OpenLoopResult;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/**
 * The generator itself (child process). Raw keep-alive sockets and a pre-built request, so it
 * costs far less CPU per request than an HTTP client library (it shares the 2 cores with the
 * server). A request is sent on an idle connection at its intended time; when every connection is
 * busy it waits, its clock running. Responses are parsed just enough: status line and
 * Content-Length.
 */
async function openLoop(a: OpenLoopArgs): Promise<OpenLoopResult> {
  const u = new URL(a.url);
  const port = Number(u.port || 80);
  const body = Buffer.from(a.body);
  const request = Buffer.concat([Buffer.from(`POST ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`, 'latin1'), body]);
  const warmup = Math.round(a.rate * (a.warmupSeconds ?? 0));
  const total = warmup + Math.round(a.rate * a.seconds);
  const latencies = new Float64Array(total).fill(NaN);
  /** When the generator's timer issued each request: max(intended time, the tick that found it due). */
  const issued = new Float64Array(total);
  const interval = 1000 / a.rate;
  let errors = 0;
  let late = 0;
  let done = 0;
  let scheduled = 0;
  const pending: number[] = [];
  let pendingHead = 0;
  let start = 0;
  let finish: () => void = () => {};
  const finished = new Promise<void>((r) => { finish = r; });

  interface Conn { socket: Socket; buf: Buffer; current: number }
  const idle: Conn[] = [];
  const complete = (c: Conn, ok: boolean) => {
    const i = c.current;
    c.current = -1;
    if (i < 0) return;
    latencies[i] = performance.now() - issued[i]!;
    if (!ok && i >= warmup) errors++;
    if (++done === total) finish();
    dispatchOn(c);
  };
  const send = (c: Conn, i: number) => {
    if (i >= warmup && performance.now() - issued[i]! > 1) late++;
    c.current = i;
    c.socket.write(request);
  };
  const dispatchOn = (c: Conn) => {
    if (c.socket.destroyed) return;
    if (pendingHead < pending.length) send(c, pending[pendingHead++]!);
    else idle.push(c);
  };
  const onData = (c: Conn, chunk: Buffer) => {
    c.buf = c.buf.length ? Buffer.concat([c.buf, chunk]) : chunk;
    for (;;) {
      const headEnd = c.buf.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const head = c.buf.toString('latin1', 0, headEnd);
      const status = Number(head.slice(9, 12));
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (!m) { errors++; c.socket.destroy(); return; }
      const len = headEnd + 4 + Number(m[1]);
      if (c.buf.length < len) return;
      c.buf = c.buf.subarray(len);
      complete(c, status >= 200 && status < 300);
    }
  };
  const conns = await Promise.all(Array.from({ length: a.connections }, () => new Promise<Conn>((res, rej) => {
    const socket = connect(port, u.hostname, () => res(c));
    const c: Conn = { socket, buf: Buffer.alloc(0), current: -1 };
    socket.setNoDelay(true);
    socket.once('error', rej);
    socket.on('data', (chunk: Buffer) => onData(c, chunk));
    socket.on('close', () => { if (c.current >= 0) complete(c, false); });
  })));
  for (const c of conns) { c.socket.removeAllListeners('error'); c.socket.on('error', () => {}); }
  idle.push(...conns);

  const cpu0 = process.cpuUsage();
  start = performance.now() + 5;
  const tick = () => {
    const now = performance.now();
    const due = Math.min(total, Math.floor((now - start) / interval) + 1);
    while (scheduled < due) {
      const i = scheduled++;
      issued[i] = Math.max(now, start + i * interval);
      const c = idle.pop();
      if (c) send(c, i);
      else pending.push(i);
    }
    if (scheduled < total) setTimeout(tick, Math.max(0, Math.min(1, start + scheduled * interval - performance.now())));
  };
  setTimeout(tick, 5);
  const guard = setTimeout(() => finish(), (a.seconds + (a.warmupSeconds ?? 0)) * 1000 + 10000);
  await finished;
  clearTimeout(guard);
  const elapsedS = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  for (const c of conns) c.socket.destroy();
  const measured = latencies.subarray(warmup);
  const answered = measured.filter((x) => !Number.isNaN(x));
  errors += measured.length - answered.length;
  const sortedOf = (xs: Float64Array) => Float64Array.from(xs, (x) => (Number.isNaN(x) ? Infinity : x)).sort();
  const sorted = sortedOf(measured);
  const measuredS = elapsedS * (measured.length / total);
  return {
    rps: answered.length / measuredS,
    requests: measured.length,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    errors,
    offeredRate: a.rate,
    late,
    warmupP99Ms: percentile(sortedOf(latencies.subarray(0, warmup)), 99),
    generatorCpuPct: ((cpu.user + cpu.system) / 1000 / (elapsedS * 1000)) * 100,
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1] && process.argv[2] === 'open-loop') {
  openLoop(JSON.parse(process.argv[3]!) as OpenLoopArgs).then(
    (r) => { process.stdout.write(`${JSON.stringify(r)}\n`); },
    (err: unknown) => { console.error(err); process.exit(1); },
  );
}
