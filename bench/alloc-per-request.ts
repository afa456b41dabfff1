// What the server's main thread allocates per single-row JSON prediction, counted (not timed):
//   node dist/bench/alloc-per-request.js [--requests 20000] [--connections 1] [--log-level info] [--sample]
// Starts `modelserve serve examples` as a child with bench/alloc-preload.ts loaded, warms it up,
// then sends --requests POST /models/weather/predict over --connections keep-alive connections and
// prints the bytes of V8 heap allocated per request and the scavenges (young-generation GCs) they
// cost. --sample adds the top allocation sites (V8's sampling heap profiler; it slows the server).
// One connection makes every request its own batch, so the figure does not depend on how requests
// happened to share batches. Takes well under a minute; no other load is started.
import { Agent, request } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { numberArg, ROOT, startProc, stopAll, waitForOutput } from './procs.js';
import { serveArgs } from './peers.js';
import type { AllocWindow } from './alloc-preload.js';

const argv = process.argv.slice(2);
const requests = numberArg(argv, '--requests', 20000);
const connections = numberArg(argv, '--connections', 1);
const warmup = numberArg(argv, '--warmup', 3000);
const logLevelAt = argv.indexOf('--log-level');
// The server's default (info): its access log line per request is part of what it allocates.
const logLevel = logLevelAt >= 0 ? argv[logLevelAt + 1]! : 'info';
const sample = argv.includes('--sample');

const body = JSON.stringify((JSON.parse(readFileSync(join(ROOT, 'examples', 'weather', 'samples', 'valid.json'), 'utf8')) as unknown[])[0]);

/** Sends `count` requests over `connections` keep-alive connections; rejects on any non-200. */
async function send(base: string, count: number): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const url = `${base}/models/weather/predict`;
  const headers = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) };
  let left = count;
  const one = () => new Promise<void>((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers }, (res) => {
      res.resume();
      res.once('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.once('error', reject);
    req.end(body);
  });
  const loop = async () => {
    while (left > 0) {
      left--;
      await one();
    }
  };
  await Promise.all(Array.from({ length: connections }, loop));
  agent.destroy();
}

function ask(child: NonNullable<ReturnType<typeof startProc>['child']>, message: object): Promise<unknown> {
  return new Promise((resolve) => {
    child.once('message', resolve);
    child.send(message);
  });
}

async function main(): Promise<void> {
  const preload = join(ROOT, 'dist', 'bench', 'alloc-preload.js');
  const args = serveArgs(join(ROOT, 'examples'), { nodeArgs: ['--import', preload], extra: ['--log-level', logLevel] });
  const proc = startProc(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  try {
    const base = (await waitForOutput(proc, /serving .* on (http:\/\/127\.0\.0\.1:\d+)/, 60000))[1]!;
    await send(base, warmup);
    await ask(proc.child, { cmd: 'start', sample });
    await send(base, requests);
    const w = (await ask(proc.child, { cmd: 'stop' })) as AllocWindow;
    const per = (n: number) => n / requests;
    const mb = (n: number) => (n / 1e6).toFixed(1);
    console.log(`${requests} single-row POST /models/weather/predict, ${connections} keep-alive connection(s), --log-level ${logLevel}, after ${warmup} warm-up requests`);
    console.log(`main thread allocated: ${mb(w.allocatedBytes)} MB, ${Math.round(per(w.allocatedBytes))} B per request`);
    console.log(`scavenges: ${w.scavenges} (${Math.round(per(w.allocatedBytes) === 0 ? 0 : requests / Math.max(1, w.scavenges))} requests each), ${mb(w.scavengedBytes)} MB scavenged; full GCs: ${w.fullGcs}`);
    if (w.top) {
      console.log('top allocation sites (sampled; bytes per request):');
      for (const t of w.top) console.log(`${per(t.bytes).toFixed(0).padStart(7)}  ${t.site}`);
    }
  } finally {
    await stopAll();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
