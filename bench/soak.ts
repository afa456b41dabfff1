// Memory soak (issue #19, "bounded memory"): `modelserve serve` on the book's SVM under an open-loop
// load at half its capacity for several minutes, with mixed batch sizes: 9 of 10 requests carry one
// row, the 10th one of 2 … 5,000 rows, log-uniform (2, 5, 13, 30, 71, 165, 387, 908, 2131, 5000 in
// rotation). The load is the project's own load tester (open model); capacity is first measured
// with the same bodies, closed loop. Every second: the server's RSS (/proc/<pid>/status, worker
// threads included), open file descriptors (/proc/<pid>/fd), threads, and the main thread's V8 heap
// (nodejs_heap_size_used_bytes from /metrics). Reports RSS after the warm-up vs at the end (10 s
// means), the post-warm-up maximum and trend, fds at both ends, and an SVG plot of RSS and fds.
//   node dist/bench/soak.js [--seconds 360] [--warmup 60] [--rate <req/s>] [--workers 2] [--no-write]
import { mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI, freePort, numberArg, removeOnExit, sleep, startProc, waitForOutput } from './procs.js';
import { machineLine, writeSection } from './report.js';
import type { LoadResult } from './scale-out.js';
import { bookRows, tempDir, writeBookModelFolder } from '../test/helpers/paths.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PLOT = 'docs/memory-soak.svg';
/** Connections the load tester may open (its open model queues requests past it, clock running). */
const CONNECTIONS = 64;
/** The large requests' sizes: 5000^(k/10), k = 1..10 (log-uniform from 2 to 5,000 rows). */
const LARGE_SIZES = Array.from({ length: 10 }, (_, k) => Math.round(5000 ** ((k + 1) / 10)));

interface Sample { t: number; rss: number; fds: number; sockets: number; threads: number; heap: number }

/** 100 bodies in rotation: every 10th is one of LARGE_SIZES rows, the others one row each. */
function writeBodies(dir: string): { file: string; meanRows: number } {
  const rows = bookRows(5000);
  const lines: string[] = [];
  let total = 0;
  let offset = 0;
  for (let i = 0; i < 100; i++) {
    const n = i % 10 === 9 ? LARGE_SIZES[Math.floor(i / 10)]! : 1;
    const body: unknown[] = [];
    for (let k = 0; k < n; k++) body.push(rows[(offset + k) % rows.length]);
    offset = (offset + n) % rows.length;
    total += n;
    lines.push(JSON.stringify(n === 1 ? body[0] : body));
  }
  const file = join(dir, 'mixed.jsonl');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return { file, meanRows: total / 100 };
}

/** RSS (MiB), threads, open fds and how many of them are sockets (client connections come and go). */
function procSample(pid: number): { rss: number; fds: number; sockets: number; threads: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const fds = readdirSync(`/proc/${pid}/fd`);
  let sockets = 0;
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) sockets++;
    } catch { /* closed meanwhile */ }
  }
  return {
    rss: Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1]) / 1024,
    threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1]),
    fds: fds.length,
    sockets,
  };
}

async function heapMiB(base: string): Promise<number> {
  try {
    const text = await (await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
    return Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(text)?.[1]) / 2 ** 20;
  } catch {
    return NaN;
  }
}

/** `modelserve loadtest` with these arguments; resolves with its JSON result (saved with --out: it can be large). */
async function loadtest(args: string[], timeoutMs: number, out: string): Promise<LoadResult> {
  const p = startProc(process.execPath, [CLI, 'loadtest', ...args, '--out', out, '--quiet']);
  const timer = setTimeout(() => void p.stop(), timeoutMs);
  const code = await p.exited;
  clearTimeout(timer);
  await p.stop();
  try {
    return JSON.parse(readFileSync(out, 'utf8')) as LoadResult;
  } catch {
    throw new Error(`loadtest exited ${code} without a result:\n${p.output().slice(-2000)}`);
  }
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** Least-squares slope of y over t (per second). */
function slope(points: Array<{ t: number; y: number }>): number {
  const mt = mean(points.map((p) => p.t));
  const my = mean(points.map((p) => p.y));
  let num = 0;
  let den = 0;
  for (const p of points) { num += (p.t - mt) * (p.y - my); den += (p.t - mt) ** 2; }
  return den === 0 ? 0 : num / den;
}

/** RSS (MiB, left axis) and open fds (right axis) over time, the warm-up shaded. Hand-written SVG. */
function plot(samples: Sample[], warmup: number, title: string): string {
  const W = 760, H = 310, L = 56, R = 56, T = 30, B = 50;
  const tMax = Math.max(1, samples.at(-1)?.t ?? 1);
  const rssMax = Math.ceil(Math.max(...samples.map((s) => s.rss)) / 50) * 50 + 50;
  const fdMax = Math.ceil((Math.max(...samples.map((s) => s.fds)) + 10) / 10) * 10;
  const x = (t: number) => L + (t / tMax) * (W - L - R);
  const yRss = (v: number) => H - B - (v / rssMax) * (H - T - B);
  const yFd = (v: number) => H - B - (v / fdMax) * (H - T - B);
  const line = (pts: string, color: string) => `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${pts}"/>`;
  const rssPts = samples.map((s) => `${x(s.t).toFixed(1)},${yRss(s.rss).toFixed(1)}`).join(' ');
  const heapPts = samples.filter((s) => Number.isFinite(s.heap)).map((s) => `${x(s.t).toFixed(1)},${yRss(s.heap).toFixed(1)}`).join(' ');
  const fdPts = samples.map((s) => `${x(s.t).toFixed(1)},${yFd(s.fds).toFixed(1)}`).join(' ');
  const otherPts = samples.map((s) => `${x(s.t).toFixed(1)},${yFd(s.fds - s.sockets).toFixed(1)}`).join(' ');
  const ticks: string[] = [];
  for (let v = 0; v <= rssMax; v += rssMax > 400 ? 100 : 50) ticks.push(`<line x1="${L}" x2="${W - R}" y1="${yRss(v)}" y2="${yRss(v)}" stroke="#eee"/><text x="${L - 6}" y="${yRss(v) + 4}" text-anchor="end">${v}</text>`);
  for (let v = 0; v <= fdMax; v += fdMax > 60 ? 20 : 10) ticks.push(`<text x="${W - R + 6}" y="${yFd(v) + 4}">${v}</text>`);
  for (let t = 0; t <= tMax; t += 60) ticks.push(`<text x="${x(t)}" y="${H - B + 16}" text-anchor="middle">${t / 60} min</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">
<rect width="${W}" height="${H}" fill="#fff"/>
<rect x="${L}" y="${T}" width="${x(warmup) - L}" height="${H - T - B}" fill="#f4f4f4"/>
<text x="${L + 4}" y="${T + 12}" fill="#888">warm-up</text>
${ticks.join('\n')}
<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#999"/>
${line(rssPts, '#1f77b4')}
${line(heapPts, '#2ca02c')}
${line(fdPts, '#d62728')}
${line(otherPts, '#ff7f0e')}
<text x="${L}" y="18" font-size="12">${title}</text>
<text x="14" y="${T + (H - T - B) / 2}" transform="rotate(-90 14 ${T + (H - T - B) / 2})" text-anchor="middle">MiB</text>
<text x="${W - 12}" y="${T + (H - T - B) / 2}" transform="rotate(90 ${W - 12} ${T + (H - T - B) / 2})" text-anchor="middle">open fds</text>
<text x="${L}" y="${H - 8}" fill="#1f77b4">RSS</text><text x="${L + 40}" y="${H - 8}" fill="#2ca02c">main-thread JS heap used</text><text x="${L + 190}" y="${H - 8}" fill="#d62728">open fds</text><text x="${L + 260}" y="${H - 8}" fill="#ff7f0e">open fds other than sockets</text>
</svg>
`;
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  const seconds = numberArg(argv, '--seconds', 360);
  const warmup = numberArg(argv, '--warmup', Math.min(60, Math.floor(seconds / 6)));
  const workers = numberArg(argv, '--workers', 2);
  const write = !argv.includes('--no-write');
  const dir = tempDir('modelserve-soak-');
  removeOnExit(dir);
  const model = writeBookModelFolder(dir, 'queue: { max_rows: 100000, timeout_ms: 30000 }\n');
  const { file: bodies, meanRows } = writeBodies(dir);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = startProc(process.execPath, [CLI, 'serve', model, '--port', String(port), '--grpc-port', '0', '--workers', String(workers), '--log-level', 'warn'], { cwd: ROOT });
  await waitForOutput(server, /serving .* on http/, 60_000);
  const idle = procSample(server.pid);
  const url = `${base}/models/book-weather/predict`;

  let rate = numberArg(argv, '--rate', 0);
  let capacity: LoadResult | undefined;
  if (rate <= 0) {
    capacity = await loadtest([url, '--body', bodies, '--users', '16', '--duration', '15s', '--timeout', '30s'], 60_000, join(dir, 'capacity.json'));
    rate = Math.max(1, Math.round(capacity.rps / 2));
    console.error(`soak: capacity (closed loop, 16 users, 15 s) ${capacity.rps.toFixed(0)} req/s -> soak at ${rate} req/s`);
    await sleep(2000);
  }

  const samples: Sample[] = [];
  const t0 = performance.now();
  let sampling = true;
  const sampler = (async () => {
    for (let next = t0; sampling; next += 1000) {
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      if (!sampling) break;
      try {
        const s = procSample(server.pid);
        samples.push({ t: Math.round((performance.now() - t0) / 1000), ...s, heap: await heapMiB(base) });
      } catch {
        break;
      }
    }
  })();
  console.error(`soak: ${seconds} s open loop at ${rate} req/s (mean ${meanRows.toFixed(1)} rows per request), sampling every second`);
  const load = await loadtest([url, '--body', bodies, '--rate', String(rate), '--duration', `${seconds}s`, '--timeout', '30s', '--connections', String(CONNECTIONS)], (seconds + 120) * 1000, join(dir, 'soak.json'));
  sampling = false;
  await sampler;
  await server.stop();

  const window = (from: number, to: number) => samples.filter((s) => s.t >= from && s.t < to);
  const afterWarm = window(warmup, warmup + 10);
  const last = window(seconds - 10, seconds + 1);
  const post = samples.filter((s) => s.t >= warmup && s.t <= seconds);
  const warmRss = mean(afterWarm.map((s) => s.rss));
  const endRss = mean(last.map((s) => s.rss));
  const maxRss = Math.max(...post.map((s) => s.rss));
  const growth = (endRss - warmRss) / warmRss;
  const trend = slope(post.map((s) => ({ t: s.t, y: s.rss }))) * 60;
  const fdsWarm = afterWarm[0]?.fds ?? NaN;
  const fdsEnd = last.at(-1)?.fds ?? NaN;
  const fdsMax = Math.max(...post.map((s) => s.fds));
  // Sockets follow the load tester's connections (at most CONNECTIONS, reopened after keep-alive
  // timeouts); every other fd (files, pipes, eventfds, epoll) must stay exactly as it was.
  const otherWarm = afterWarm[0] ? afterWarm[0].fds - afterWarm[0].sockets : NaN;
  const otherEnd = last.at(-1) ? last.at(-1)!.fds - last.at(-1)!.sockets : NaN;
  const socketsMax = Math.max(...post.map((s) => s.sockets));
  const heaps = post.map((s) => s.heap).filter(Number.isFinite);
  const pass = growth <= 0.1 && otherEnd <= otherWarm && socketsMax <= CONNECTIONS + 8;
  const fmt = (v: number) => v.toFixed(0);
  const title = `modelserve serve, book SVM, ${workers} workers: ${seconds} s at ${rate} req/s, 1-5,000 rows per request`;
  mkdirSync(join(ROOT, 'docs'), { recursive: true });
  if (write) writeFileSync(join(ROOT, PLOT), plot(samples, warmup, title));
  const md = `## Memory soak: mixed batch sizes at half capacity (issue #19)

\`npm run bench -- --only soak\` (bench/soak.ts) — ${machineLine()}

\`modelserve serve\` on the book's svc.onnx (an RBF SVM with ~9,600 support vectors), \`--workers ${workers}\`, defaults otherwise (\`--max-run-rows 256\`). Bodies in rotation: 9 of 10 requests carry one row, every 10th one of ${LARGE_SIZES.join(', ')} rows (log-uniform 2–5,000; mean ${meanRows.toFixed(1)} rows per request). ${capacity ? `Capacity with these bodies (closed loop, 16 users, 15 s): **${capacity.rps.toFixed(0)} req/s**; the soak runs at half of it` : `Rate given with --rate`}: an open loop of **${rate} req/s for ${seconds} s** (\`modelserve loadtest --rate … --connections ${CONNECTIONS}\`), sampling the server every second.

| | value |
| --- | --- |
| requests (ok / failed) | ${load.requests} (${load.ok} / ${load.failures}) |
| achieved rate | ${load.rps.toFixed(1)} req/s |
| latency p50 / p99 / max | ${load.latencyMs.p50.toFixed(1)} / ${load.latencyMs.p99.toFixed(1)} / ${load.latencyMs.max.toFixed(0)} ms |
| RSS idle (before any load) | ${fmt(idle.rss)} MiB |
| RSS after the ${warmup} s warm-up (10 s mean) | ${fmt(warmRss)} MiB |
| RSS at the end (last 10 s mean) | ${fmt(endRss)} MiB |
| **RSS growth after warm-up** | **${(growth * 100).toFixed(1)} %** (target ≤ 10 %) |
| RSS max after warm-up | ${fmt(maxRss)} MiB |
| RSS trend after warm-up (least squares) | ${trend.toFixed(2)} MiB/min |
| main-thread JS heap used after warm-up (min–max) | ${heaps.length ? `${fmt(Math.min(...heaps))}–${fmt(Math.max(...heaps))} MiB` : 'n/a'} |
| open fds after warm-up → end (max) | ${fdsWarm} → ${fdsEnd} (${fdsMax}) |
| of which not sockets, after warm-up → end | ${otherWarm} → ${otherEnd} |
| sockets, max (the load tester opens at most ${CONNECTIONS} connections) | ${socketsMax} |
| threads | ${samples[0]?.threads ?? 'n/a'} → ${samples.at(-1)?.threads ?? 'n/a'} |
| verdict | ${pass ? 'met: RSS growth ≤ 10 %, no fd other than the clients\' sockets added, sockets within the connection limit' : 'TARGET MISSED'} |

![RSS, main-thread heap, open fds and fds other than sockets over the soak](${PLOT})

The RSS is the whole process (main thread, ${workers} worker threads with their onnxruntime sessions and arenas). Before \`--max-run-rows\`, one 5,000-row request to this model grew RSS by ~560 MiB per worker (onnxruntime keeps the memory of its largest run's intermediates); see docs/production.md "Memory" for the bound and what it is made of.
`;
  console.log(md);
  if (write) writeSection('soak', md);
  if (load.failures > 0) console.error(`soak: ${load.failures} failed requests: ${JSON.stringify({ status: load.statusCounts, errors: load.errorKinds })}`);
  return pass ? 0 : 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().then((code) => { process.exitCode = code; }, (err: unknown) => { console.error(err); process.exitCode = 2; });
}
