// Acceptance 10 of the load tester, measured in one run on this machine:
//   1. throughput of one `modelserve loadtest` process vs one Locust HttpUser process, both in the
//      closed model with 32 users and no wait, against the same fast local server (Fastify, a POST
//      /predict answering a constant) — the target is ≥ 4×;
//   2. latency agreement with wrk (`wrk -t1 -c16 --latency`, 16 keep-alive connections, closed
//      model) against a server doing ~100 µs of work per request (a model-server-like pace, so
//      the server, not the load generator, sets the latency) — target: p50 and p99 within 10%.
//      One tool at a time, in rounds of alternating order, compared by the rounds' medians;
//      plus both against the bare fast server, where each client's own cost shows.
// Writes the `loadtester` section of BENCHMARKS.md. Everything listens on 127.0.0.1 and every
// process started here is stopped before returning.
//   node dist/bench/loadtester.js [--duration 10s] [--rounds 3] [--no-write]
//   node dist/bench/loadtester.js --serve [--work-us N]   (the server child)
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineLine, writeSection } from './report.js';
import { sharedDir } from './procs.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'bin/modelserve.js');
const peersDir = (): string => join(sharedDir(), 'peers');
const BODY = '{"temp_c": 8.75, "humidity": 0.83, "wind_speed_kmph": 70, "wind_bearing_degree": 259, "visibility_km": 15.82, "pressure_millibars": 1016.51, "current_weather_condition": 1}';

/** The server child: Fastify, POST /predict → {"prediction":"Rain"} after `workUs` of busy CPU. */
async function serve(workUs: number): Promise<void> {
  const { default: Fastify } = await import('fastify');
  const app = Fastify({ logger: false });
  app.post('/predict', async () => {
    if (workUs > 0) {
      const end = process.hrtime.bigint() + BigInt(workUs * 1000);
      while (process.hrtime.bigint() < end) { /* simulated inference */ }
    }
    return { prediction: 'Rain' };
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof addr === 'object' && addr ? addr.port : 0 })}\n`);
  process.on('SIGTERM', () => { void app.close().then(() => process.exit(0)); });
}

interface Server { port: number; child: ChildProcess }

/**
 * Every process measured here (servers and all three load generators alike) runs at a raised
 * priority when allowed (through `nice -n -10`, so that every thread inherits it, wrk's worker
 * thread included), so that other work on a shared machine disturbs the comparison less.
 */
const NICE = process.getuid?.() === 0 && existsSync('/usr/bin/nice') ? ['/usr/bin/nice', '-n', '-10'] : [];
/** With 2+ cores and taskset: the server on core 0, the load generators on core 1 (PIN=0 turns it off). */
const PIN = process.env.PIN !== '0' && existsSync('/usr/bin/taskset') && cpus().length >= 2;

function spawnBoosted(cmd: string, args: string[], opts: Parameters<typeof spawn>[2], core?: number): ChildProcess {
  const prefix = [...NICE, ...(PIN && core !== undefined ? ['/usr/bin/taskset', '-c', String(core)] : [])];
  return prefix.length ? spawn(prefix[0]!, [...prefix.slice(1), cmd, ...args], opts) : spawn(cmd, args, opts);
}

async function startServer(workUs: number): Promise<Server> {
  const child = spawnBoosted(process.execPath, [fileURLToPath(import.meta.url), '--serve', '--work-us', String(workUs)], { stdio: ['ignore', 'pipe', 'inherit'] }, 0);
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = /\{"port":(\d+)\}/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code})`)));
  });
  return { port, child };
}

async function stopServer(s: Server): Promise<void> {
  if (s.child.exitCode !== null) return;
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGTERM');
  const t = setTimeout(() => s.child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(t);
}

function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<{ stdout: string; stderr: string; status: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawnBoosted(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] }, 1);
    let stdout = '', stderr = '';
    child.stdout!.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => { clearTimeout(timer); reject(err); });
    child.once('close', (status) => { clearTimeout(timer); resolve({ stdout, stderr, status }); });
  });
}

interface Measured { rps: number; p50: number; p99: number; requests: number; failures: number; note?: string; /** p95, p98 (ms): the tail's shape. */ tail?: [number, number] }

async function ours(port: number, users: number, durationS: number): Promise<Measured> {
  const r = await run(process.execPath, [CLI, 'loadtest', `http://127.0.0.1:${port}/predict`, '--data', BODY, '-u', String(users), '-d', `${durationS}s`, '--json', '-q'], ROOT, (durationS + 30) * 1000);
  if (r.status !== 0) throw new Error(`loadtest exited ${r.status}: ${r.stderr}`);
  const j = JSON.parse(r.stdout) as { rps: number; requests: number; failures: number; latencyMs: { p50: number; p95: number; p98: number; p99: number }; generator: { cpuPercent: number } };
  return { rps: j.rps, p50: j.latencyMs.p50, p99: j.latencyMs.p99, requests: j.requests, failures: j.failures, note: `generator CPU ${j.generator.cpuPercent.toFixed(0)}%`, tail: [j.latencyMs.p95, j.latencyMs.p98] };
}

/** The peers' wrk script plus a done() that prints more percentiles than --latency does. */
function wrkScript(dir: string): string {
  const file = join(dir, 'post_weather_percentiles.lua');
  writeFileSync(file, `${readFileSync(join(peersDir(), 'post_weather.lua'), 'utf8')}
done = function(summary, latency, requests)
  local out = {}
  for _, p in ipairs({50, 95, 98, 99}) do out[#out+1] = string.format("%s=%.3f", p, latency:percentile(p) / 1000) end
  io.write("PERCENTILES " .. table.concat(out, " ") .. "\\n")
end
`);
  return file;
}

async function wrk(port: number, conns: number, durationS: number): Promise<Measured> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-wrk-'));
  try {
    const r = await run('wrk', ['-t1', `-c${conns}`, `-d${durationS}s`, '-s', wrkScript(dir), `http://127.0.0.1:${port}/predict`], peersDir(), (durationS + 30) * 1000);
    if (r.status !== 0) throw new Error(`wrk exited ${r.status}: ${r.stderr}`);
    const pct = (p: string): number => {
      const m = new RegExp(`PERCENTILES .*\\b${p}=([\\d.]+)`).exec(r.stdout);
      if (!m) throw new Error(`cannot read wrk's ${p}% from:\n${r.stdout}`);
      return Number(m[1]);
    };
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1]);
    const requests = Number(/(\d+) requests in/.exec(r.stdout)?.[1]);
    const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(r.stdout)?.[1] ?? 0);
    return { rps, p50: pct('50'), p99: pct('99'), requests, failures: non2xx, tail: [pct('95'), pct('98')] };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function locust(port: number, users: number, durationS: number): Promise<Measured> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-locust-'));
  try {
    const prefix = join(dir, 'locust');
    const r = await run('/usr/bin/python3', ['-m', 'locust', '-f', 'locust_weather.py', '--headless', '-u', String(users), '-r', String(users), '-t', `${durationS}s`, '--host', `http://127.0.0.1:${port}`, '--only-summary', '--csv', prefix], peersDir(), (durationS + 60) * 1000);
    if (!existsSync(`${prefix}_stats.csv`)) throw new Error(`locust wrote no CSV (exit ${r.status}): ${r.stderr.slice(-2000)}`);
    const lines = readFileSync(`${prefix}_stats.csv`, 'utf8').trim().split(/\r?\n/);
    const header = lines[0]!.split(',');
    const agg = lines.find((l) => l.includes(',Aggregated,'))!.split(',');
    const col = (name: string): number => Number(agg[header.indexOf(name)]);
    return { rps: col('Requests/s'), p50: col('50%'), p99: col('99%'), requests: col('Request Count'), failures: col('Failure Count') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function medianOf(ms: Measured[]): Measured {
  return {
    rps: median(ms.map((m) => m.rps)), p50: median(ms.map((m) => m.p50)), p99: median(ms.map((m) => m.p99)),
    requests: ms.reduce((a, m) => a + m.requests, 0), failures: ms.reduce((a, m) => a + m.failures, 0),
  };
}

function fmt(x: number): string {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}
function pct(a: number, b: number): string {
  const d = (100 * (a - b)) / b;
  return `${d >= 0 ? '+' : ''}${d.toFixed(1)}%`;
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  const di = argv.indexOf('--duration');
  const durationS = di >= 0 ? Number(String(argv[di + 1]).replace(/s$/, '')) : 10;
  const write = !argv.includes('--no-write');
  const WORK_US = 100;
  const ri = argv.indexOf('--rounds');
  const rounds = ri >= 0 ? Number(argv[ri + 1]) : 3;
  const rows: string[] = [];

  // 1. throughput: Locust HttpUser vs ours, 32 users, constant(0), fast server.
  const fast = await startServer(0);
  let loc: Measured, our32: Measured, wrkFast: Measured, our16Fast: Measured;
  try {
    loc = await locust(fast.port, 32, durationS);
    our32 = await ours(fast.port, 32, durationS);
    wrkFast = await wrk(fast.port, 16, Math.max(3, durationS / 2));
    our16Fast = await ours(fast.port, 16, Math.max(3, durationS / 2));
  } finally {
    await stopServer(fast);
  }
  // 2. latency agreement with wrk: 16 connections, closed model, server-bound, one tool at a time,
  // in rounds whose order alternates (wrk first, then ours first, …) so that drift on this shared
  // machine falls on both; compared by the median of the rounds' p50 and p99.
  const work = await startServer(WORK_US);
  const wrkRounds: Measured[] = [];
  const ourRounds: Measured[] = [];
  const roundS = Math.max(2, Math.round(durationS * 0.8));
  try {
    for (let i = 0; i < rounds; i++) {
      if (i % 2 === 0) {
        wrkRounds.push(await wrk(work.port, 16, roundS));
        ourRounds.push(await ours(work.port, 16, roundS));
      } else {
        ourRounds.push(await ours(work.port, 16, roundS));
        wrkRounds.push(await wrk(work.port, 16, roundS));
      }
    }
  } finally {
    await stopServer(work);
  }
  const wrkW = medianOf(wrkRounds);
  const ourW = medianOf(ourRounds);

  const ratio = our32.rps / loc.rps;
  const p50d = Math.abs(ourW.p50 - wrkW.p50) / wrkW.p50;
  const p99d = Math.abs(ourW.p99 - wrkW.p99) / wrkW.p99;
  rows.push('| server | tool | settings | req/s | p50 ms | p99 ms | requests | failures |', '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |');
  const row = (server: string, tool: string, settings: string, m: Measured): void => {
    rows.push(`| ${server} | ${tool} | ${settings} | ${m.rps.toFixed(0)} | ${fmt(m.p50)} | ${fmt(m.p99)} | ${m.requests} | ${m.failures} |`);
  };
  row('fast (constant answer)', 'Locust HttpUser (1 process)', `32 users, constant(0), ${durationS} s`, loc);
  row('fast (constant answer)', '**modelserve loadtest**', `32 users, constant(0), ${durationS} s; ${our32.note}`, our32);
  row('fast (constant answer)', 'wrk', `-t1 -c16, ${Math.max(3, durationS / 2)} s`, wrkFast);
  row('fast (constant answer)', '**modelserve loadtest**', `16 users, ${Math.max(3, durationS / 2)} s; ${our16Fast.note}`, our16Fast);
  row(`${WORK_US} µs of work / request`, 'wrk', `-t1 -c16, median of ${rounds} × ${roundS} s`, wrkW);
  row(`${WORK_US} µs of work / request`, '**modelserve loadtest**', `16 users, median of ${rounds} × ${roundS} s`, ourW);
  const tails = (ms: Measured[]): string => ms.map((m) => (m.tail ? `${fmt(m.tail[0])}/${fmt(m.tail[1])}/${fmt(m.p99)}` : '')).join(', ');
  const perRound = (a: Measured[], b: Measured[]): string => a.map((w, i) => `${fmt(w.p50)}/${fmt(w.p99)} vs ${fmt(b[i]!.p50)}/${fmt(b[i]!.p99)}`).join('; ');

  const md = [
    '## Load tester (`modelserve loadtest`) vs Locust and wrk',
    '',
    `Command: \`node dist/bench/loadtester.js\` (part of \`npm run bench\`), ${durationS} s per tool, one after the other, on ${machineLine()}.`,
    `Placement: ${PIN ? 'the server pinned to core 0 and the load generators to core 1 (taskset), ' : ''}${NICE.length ? 'every measured process at nice -10' : 'normal priority'} (the machine is shared with other work).`,
    'Servers: a Fastify process answering `POST /predict` with a constant ("fast"), and the same with ~100 µs of busy CPU per request (a model-server-like pace, so that the server and not the load generator sets the latency). All tools post the weather body of `../shared/peers/post_weather.lua` over keep-alive connections, in the closed model.',
    '',
    ...rows,
    '',
    `- **Throughput vs Locust HttpUser** (same server, 32 users, one process each): ${ratio.toFixed(1)}× (${our32.rps.toFixed(0)} vs ${loc.rps.toFixed(0)} req/s; target ≥ 4×) — ${ratio >= 4 ? 'met' : 'NOT met'}.`,
    `- **Latency agreement with wrk** (16 connections, closed model, the same server, one tool at a time, median of ${rounds} rounds in alternating order): p50 ${fmt(ourW.p50)} vs ${fmt(wrkW.p50)} ms (${pct(ourW.p50, wrkW.p50)}), p99 ${fmt(ourW.p99)} vs ${fmt(wrkW.p99)} ms (${pct(ourW.p99, wrkW.p99)}); target within 10% — ${p50d <= 0.1 && p99d <= 0.1 ? 'met' : 'NOT met'}. Rounds (wrk p50/p99 vs ours, ms): ${perRound(wrkRounds, ourRounds)}. (A p99 over a few seconds on a shared machine is set by a handful of stalls, so single rounds vary; the medians are compared.)`,
    `- **The tail's shape** (p95 / p98 / p99 ms, each round): wrk ${tails(wrkRounds)}; ours ${tails(ourRounds)}. With 16 connections on a one-core server busy ~100 µs per request, a request normally waits for the 15 others (p50 ≈ 16 × the service time); a request that reaches the server just after it started a round of reads waits for that whole round and then comes last in the next one, about twice the p50 — the step in the tail. How many requests take that path depends on how soon after its answer a client writes its next request (the server's next round of reads starts right after its last write): wrk's C loop turns around in a few µs, a Node client (ours, or a bare \`net.Socket\` loop tried by hand) in tens, including the thread's wake-up. When more than 1% of requests take the long path, the p99 jumps by a whole round, not by 10%. So p99 agreement here is a threshold effect of the client's turnaround, not a measurement error: both tools time the same thing (write to complete answer).`,
    `- Against the bare fast server (sub-millisecond answers) each tool's own per-request cost is part of what it measures, and the generator's speed sets the pace: 16 connections, ours ${our16Fast.rps.toFixed(0)} req/s with p50 ${fmt(our16Fast.p50)} ms (${our16Fast.note}) vs wrk's ${wrkFast.rps.toFixed(0)} req/s with p50 ${fmt(wrkFast.p50)} ms. The tool warns when it is itself saturated (CPU, event-loop lag).`,
  ].join('\n');
  console.log(md);
  if (write) writeSection('loadtester', md);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--serve')) {
    const i = process.argv.indexOf('--work-us');
    void serve(i >= 0 ? Number(process.argv[i + 1]) : 0);
  } else {
    main().catch((err: unknown) => { console.error(err); process.exit(1); });
  }
}
