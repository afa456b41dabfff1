// Where the time goes: runs a modelserve server under `node --cpu-prof` during a short wrk load,
// stops it gracefully (so V8 writes the profiles of the main thread and of every worker thread) and
// summarises each profile's top self-time functions.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { runWrk, type HttpResult } from './http-bench.js';
import { serveArgs, startCeiling, startModelserve, type ServeOptions, type Server } from './peers.js';
import { freePort, removeOnExit, ROOT, sleep, startProc, waitFor200 } from './procs.js';

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface CpuProfile { nodes: CpuProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

export interface ProfileRow { fn: string; where: string; selfPct: number }
export interface ThreadProfile { file: string; totalMs: number; idlePct: number; top: ProfileRow[] }
export interface ProfileResult { label: string; load: HttpResult; threads: ThreadProfile[] }

function shortUrl(url: string): string {
  if (!url) return '(native)';
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) return path.slice(nm + 'node_modules/'.length);
  if (path.startsWith(ROOT)) return relative(ROOT, path);
  return path;
}

/** Self time per function (name + file:line) from a .cpuprofile, top `n`. */
export function summarize(profile: CpuProfile, n = 12, window?: [number, number]): { totalMs: number; idlePct: number; top: ProfileRow[] } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const collect = (from: number, to: number) => {
    const m = new Map<number, number>();
    let t = profile.startTime;
    profile.samples.forEach((id, i) => {
      const dt = profile.timeDeltas[i] ?? 0;
      t += dt;
      if (t >= from && t <= to) m.set(id, (m.get(id) ?? 0) + dt);
    });
    return m;
  };
  // Only the samples taken while the load ran (V8's profile clock and process.hrtime are both
  // CLOCK_MONOTONIC on Linux), so startup and shutdown do not dilute the picture.
  let selfUs = window ? collect(window[0], window[1]) : collect(-Infinity, Infinity);
  if (selfUs.size === 0) selfUs = collect(-Infinity, Infinity);
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0) || 1;
  const agg = new Map<string, { fn: string; where: string; us: number }>();
  let idle = 0;
  for (const [id, us] of selfUs) {
    const cf = byId.get(id)?.callFrame;
    if (!cf) continue;
    const fn = cf.functionName || '(anonymous)';
    if (fn === '(idle)') idle += us;
    const where = cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : '';
    const key = `${fn}@${where}`;
    const a = agg.get(key) ?? { fn, where, us: 0 };
    a.us += us;
    agg.set(key, a);
  }
  const top = [...agg.values()].filter((a) => a.fn !== '(idle)').sort((a, b) => b.us - a.us).slice(0, n).map((a) => ({ fn: a.fn, where: a.where, selfPct: (a.us / total) * 100 }));
  return { totalMs: total / 1000, idlePct: (idle / total) * 100, top };
}

export async function profileServer(label: string, repo: string, path: string, script: string, connections: number, seconds: number, o: ServeOptions = {}): Promise<ProfileResult> {
  return profileUnderLoad(label, (nodeArgs) => startModelserve(label, repo, { ...o, nodeArgs }), path, script, connections, seconds);
}

/** The same, for the bare-Fastify ceiling fixture (the baseline of the per-request diff). */
export async function profileCeiling(examples: string, path: string, script: string, connections: number, seconds: number): Promise<ProfileResult> {
  return profileUnderLoad('bare-Fastify ceiling', (nodeArgs) => startCeiling(examples, nodeArgs), path, script, connections, seconds);
}

async function profileUnderLoad(label: string, start: (nodeArgs: string[]) => Promise<Server>, path: string, script: string, connections: number, seconds: number): Promise<ProfileResult> {
  const dir = mkdtempSync(join(tmpdir(), 'modelserve-prof-'));
  removeOnExit(dir);
  try {
    const server = await start(['--cpu-prof', '--cpu-prof-dir', dir]);
    let load: HttpResult;
    let window: [number, number] | undefined;
    try {
      await runWrk(server.base + path, script, connections, 1);
      const t0 = Number(process.hrtime.bigint() / 1000n);
      load = await runWrk(server.base + path, script, connections, seconds);
      window = [t0, Number(process.hrtime.bigint() / 1000n)];
    } finally {
      await server.stop();
    }
    await sleep(200);
    const threads: ThreadProfile[] = [];
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.cpuprofile')).sort()) {
      const s = summarize(JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile, 400, window);
      threads.push({ file: f, ...s });
    }
    // The busiest thread first (the main thread has the HTTP work; workers run onnxruntime).
    threads.sort((a, b) => (100 - a.idlePct) * a.totalMs - (100 - b.idlePct) * b.totalMs).reverse();
    return { label, load, threads };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function profileMarkdown(p: ProfileResult): string {
  const out: string[] = [];
  const tidOf = (t: ThreadProfile) => /\.(\d+)\.\d+\.cpuprofile$/.exec(t.file)?.[1];
  const main = p.threads.find((t) => tidOf(t) === '0') ?? p.threads[0]!;
  const workers = p.threads.filter((t) => t !== main);
  out.push(`**Profile: ${p.label}** (wrk ${p.load.rps.toFixed(0)} req/s during the profile; \`node --cpu-prof\`, self time per function over the loaded window). Main thread busy ${(100 - main.idlePct).toFixed(0)}% of ${(main.totalMs / 1000).toFixed(1)} s:`);
  out.push('');
  out.push('| self, % of the thread\'s time | function | where |');
  out.push('|---:|---|---|');
  for (const r of main.top.slice(0, 10)) out.push(`| ${r.selfPct.toFixed(1)} | \`${r.fn.replace(/\|/g, '\\|')}\` | ${r.where ? `\`${r.where}\`` : ''} |`);
  out.push('');
  // CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile; thread 0 is the main thread.
  for (const t of workers) {
    out.push(`Worker thread ${tidOf(t) ?? t.file}: busy ${(100 - t.idlePct).toFixed(0)}%; ${t.top.slice(0, 3).map((r) => `\`${r.fn}\`${r.where ? ` (${r.where})` : ''} ${r.selfPct.toFixed(1)}%`).join(', ')}.`);
    out.push('');
  }
  return out.join('\n');
}

/** Which package a frame belongs to: an npm package, modelserve itself, or Node. */
function packageOf(url: string): string | undefined {
  if (!url) return undefined;
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1];
  if (url.includes('/dist/src/')) return 'modelserve (dist/src)';
  if (url.includes('/bin/modelserve.js')) return 'modelserve (bin)';
  return undefined;
}

export interface StartupProfile { readyMs: number; totalMs: number; byPackage: Array<{ pkg: string; ms: number }> }

/**
 * Profiles a cold start (spawn → first 200 on POST /predict) of the main thread and attributes
 * each sample to the nearest package on its stack (npm package or modelserve; samples with only
 * Node's own frames — module loader, bootstrap — count as "node (bootstrap, module loading)").
 */
export async function profileStartup(repo: string, body: string, o: ServeOptions = {}): Promise<StartupProfile> {
  const dir = mkdtempSync(join(tmpdir(), 'modelserve-prof-'));
  removeOnExit(dir);
  try {
    const port = await freePort();
    const t0 = performance.now();
    const proc = startProc(process.execPath, serveArgs(repo, { ...o, port, nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir] }), { cwd: ROOT });
    let readyMs: number;
    let readyAt: number;
    try {
      await waitFor200(`http://127.0.0.1:${port}/predict`, body, { everyMs: 5, timeoutMs: 30000, proc });
      readyMs = performance.now() - t0;
      readyAt = Number(process.hrtime.bigint() / 1000n);
    } finally {
      await proc.stop(10000);
    }
    await sleep(200);
    const file = readdirSync(dir).find((f) => /\.0\.\d+\.cpuprofile$/.test(f));
    if (!file) throw new Error('no main-thread profile written');
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const owner = new Map<number, string>();
    const ownerOf = (id: number): string => {
      const cached = owner.get(id);
      if (cached) return cached;
      const fn = byId.get(id)?.callFrame.functionName;
      let k: string;
      if (fn === '(idle)') k = '(idle: waiting on I/O or threads)';
      else if (fn === '(garbage collector)') k = '(garbage collector)';
      else {
        k = 'node (bootstrap, module loading)';
        for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
          const pkg = packageOf(byId.get(cur)?.callFrame.url ?? '');
          if (pkg) { k = pkg; break; }
        }
      }
      owner.set(id, k);
      return k;
    };
    const agg = new Map<string, number>();
    let t = profile.startTime;
    let total = 0;
    profile.samples.forEach((id, i) => {
      const dt = profile.timeDeltas[i] ?? 0;
      t += dt;
      if (t > readyAt) return;
      total += dt;
      const k = ownerOf(id);
      agg.set(k, (agg.get(k) ?? 0) + dt);
    });
    return { readyMs, totalMs: total / 1000, byPackage: [...agg].map(([pkg, us]) => ({ pkg, ms: us / 1000 })).sort((a, b) => b.ms - a.ms) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function startupMarkdown(p: StartupProfile, n = 10): string {
  const out = [`**Profile: cold start** (\`node --cpu-prof\`, main thread from process start to the first 200, ${p.readyMs.toFixed(0)} ms wall under the profiler; each sample counted for the nearest package on its stack):`, '', '| package | ms | % |', '|---|---:|---:|'];
  for (const r of p.byPackage.slice(0, n)) out.push(`| ${r.pkg} | ${r.ms.toFixed(0)} | ${((r.ms / p.totalMs) * 100).toFixed(0)} |`);
  return out.join('\n');
}

const isMainThread = (t: ThreadProfile) => /\.0\.\d+\.cpuprofile$/.test(t.file);

/**
 * Main-thread CPU per request, function by function, of a modelserve profile against the bare-Fastify
 * profile under the same load: where modelserve's extra microseconds per request go.
 */
export interface ProfileDiff { label: string; base: string; busyUs: number; baseBusyUs: number; requests: number; baseRequests: number; rows: Array<{ fn: string; where: string; ms: number; base: number }> }

export function diffProfiles(ms: ProfileResult, base: ProfileResult, n = 14): ProfileDiff {
  const mainOf = (p: ProfileResult) => p.threads.find(isMainThread) ?? p.threads[0]!;
  const perReq = (p: ProfileResult) => {
    const t = mainOf(p);
    const us = (t.totalMs * 1000) / Math.max(1, p.load.requests);
    return { busy: ((100 - t.idlePct) / 100) * us, fns: new Map(t.top.map((r) => [`${r.fn}@${r.where}`, { ...r, us: (r.selfPct / 100) * us }])) };
  };
  const a = perReq(ms);
  const b = perReq(base);
  const keys = new Set([...a.fns.keys(), ...b.fns.keys()]);
  const rows = [...keys].map((k) => {
    const x = a.fns.get(k);
    const y = b.fns.get(k);
    const r = (x ?? y)!;
    return { fn: r.fn, where: r.where, ms: x?.us ?? 0, base: y?.us ?? 0 };
  }).sort((p, q) => (q.ms - q.base) - (p.ms - p.base)).slice(0, n);
  return { label: ms.label, base: base.label, busyUs: a.busy, baseBusyUs: b.busy, requests: ms.load.requests, baseRequests: base.load.requests, rows };
}

export function diffMarkdown(d: ProfileDiff): string {
  const rows = d.rows;
  const out = [
    `**Per request, main thread: ${d.label} vs ${d.base}** (same wrk load; ${d.requests.toLocaleString('en-US')} vs ${d.baseRequests.toLocaleString('en-US')} requests in the profiled window; µs per request = the function's self time / requests): busy **${d.busyUs.toFixed(1)} µs** vs **${d.baseBusyUs.toFixed(1)} µs** per request. The functions that cost modelserve the most extra:`,
    '',
    '| function | where | modelserve µs/req | bare Fastify µs/req | extra µs/req |',
    '|---|---|---:|---:|---:|',
  ];
  for (const r of rows) out.push(`| \`${r.fn.replace(/\|/g, '\\|')}\` | ${r.where ? `\`${r.where}\`` : ''} | ${r.ms.toFixed(2)} | ${r.base.toFixed(2)} | ${(r.ms - r.base).toFixed(2)} |`);
  return out.join('\n');
}
