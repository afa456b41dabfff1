// What the per-API-key rate limit costs in req/s: one server (the CLI on the example models) with
// two keys, one with a token bucket too large ever to refuse (every request takes a token: the full
// cost of the check) and one exempt (rate=none: authenticated, no bucket). In each round two load
// testers run at once, one per key (closed model, 8 users each, one row per request), so both see the
// same machine state (run one after the other, the pairs swung from 0.5 to 2 with the shared machine's
// drift); the ratio of their req/s is the cost, summarised by the median over the rounds. A
// micro-benchmark of TokenBucket.take() gives the cost in nanoseconds. Writes the `rate-limit`
// section of BENCHMARKS.md.
//   node dist/bench/rate-limit.js [--duration 2s] [--rounds 10] [--no-write]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineLine, writeSection, median } from './report.js';
import { TokenBucket } from '../src/http/plugins/rate-limit.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'bin/modelserve.js');
const BODY = '{"temp_c": 8.75, "humidity": 0.83, "wind_speed_kmph": 70, "wind_bearing_degree": 259, "visibility_km": 15.82, "pressure_millibars": 1016.51, "current_weather_condition": 1}';
const LIMITED = 'bench-limited-key-0123456789';
const EXEMPT = 'bench-exempt-key-9876543210';

function arg(argv: string[], flag: string, fallback: string): string {
  const i = argv.indexOf(flag);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
}

function loadtest(port: number, key: string, duration: string, users = 16): Promise<{ rps: number; failures: number; p50: number; p99: number; statuses: Record<string, number> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'loadtest', `http://127.0.0.1:${port}/predict`, '--data', BODY, '-H', `Authorization: Bearer ${key}`, '-u', String(users), '-d', duration, '--json', '-q'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    child.once('close', (status) => {
      if (status !== 0) return reject(new Error(`loadtest exited ${status}: ${stderr}`));
      const j = JSON.parse(stdout) as { rps: number; failures: number; latencyMs: { p50: number; p99: number }; statusCodes?: Record<string, number> };
      resolve({ rps: j.rps, failures: j.failures, p50: j.latencyMs.p50, p99: j.latencyMs.p99, statuses: j.statusCodes ?? {} });
    });
  });
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  const duration = arg(argv, '--duration', '2s');
  const rounds = Number(arg(argv, '--rounds', '10'));
  const dir = mkdtempSync(join(tmpdir(), 'modelserve-bench-rl-'));
  writeFileSync(join(dir, 'keys'), `${LIMITED} rate=1000000000/s burst=1000000000\n${EXEMPT} rate=none\n`);
  const server = spawn(process.execPath, [CLI, 'serve', join(ROOT, 'examples'), '--port', '0', '--grpc-port', '0', '--log-level', 'warn', '--api-keys-file', join(dir, 'keys')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let stderr = '';
      server.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
        const m = /serving .* on http:\/\/[^:]+:(\d+) /.exec(stderr);
        if (m) resolve(Number(m[1]));
      });
      server.once('exit', (code) => reject(new Error(`server exited ${code}: ${stderr}`)));
    });
    await loadtest(port, EXEMPT, '2s'); // warm-up (JIT, workers)
    await loadtest(port, LIMITED, '1s');
    const limited: number[] = [];
    const exempt: number[] = [];
    const pairRatios: number[] = [];
    const rows: string[] = [];
    for (let r = 1; r <= rounds; r++) {
      // Both keys at once, 8 users each: the two share every moment of the machine's state.
      const [a, b] = await Promise.all([loadtest(port, LIMITED, duration, 8), loadtest(port, EXEMPT, duration, 8)]);
      for (const [m, name] of [[a, 'bucket (never refuses)'], [b, 'exempt (rate=none)']] as const) {
        if (m.failures > 0) throw new Error(`round ${r}: ${m.failures} failures (${JSON.stringify(m.statuses)})`);
        rows.push(`| ${r} | ${name} | ${m.rps.toFixed(0)} | ${m.p50.toFixed(2)} | ${m.p99.toFixed(2)} |`);
      }
      limited.push(a.rps);
      exempt.push(b.rps);
      pairRatios.push(a.rps / b.rps);
      console.error(`round ${r}: bucket ${a.rps.toFixed(0)} req/s, exempt ${b.rps.toFixed(0)} req/s`);
    }
    const ratio = median(pairRatios);
    // The check alone: take() on a bucket that never runs dry.
    const bucket = new TokenBucket({ rate: 1e12, burst: 1e12 });
    const calls = 5_000_000;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) bucket.take();
    const nsPerTake = Number(process.hrtime.bigint() - t0) / calls;
    const usPerRequest = 1e6 / median(exempt);
    const md = `## Rate limit per API key: cost of the token bucket

\`node dist/bench/rate-limit.js --duration ${duration} --rounds ${rounds}\` — one \`modelserve serve examples\` with two API keys,
one with a bucket so large it never refuses (every request takes a token: the whole cost of the check) and one
exempt (\`rate=none\`: authenticated, no bucket); in each round two \`modelserve loadtest\` processes run at the same
time, one per key (closed model, 8 users each, one weather row per request, ${duration}), so both see the same machine state. Machine: ${machineLine()}.

**req/s with the bucket / without, median over ${rounds} rounds: ${ratio.toFixed(3)}** (pairs from ${Math.min(...pairRatios).toFixed(2)} to
${Math.max(...pairRatios).toFixed(2)}; medians ${median(limited).toFixed(0)} vs ${median(exempt).toFixed(0)} req/s). Both pay the key check (SHA-256 and a
constant-time compare against every key); the bucket adds a clock read and a few arithmetic operations:
\`TokenBucket.take()\` alone costs **${nsPerTake.toFixed(0)} ns** (5 M calls in this process), ${((nsPerTake / 1000 / usPerRequest) * 100).toFixed(3)} % of the
${usPerRequest.toFixed(0)} µs per request at the exempt key's median rate — far below what the load test can resolve here,
so the spread of the pairs is the machine's noise, not the bucket.

| round | key | req/s | p50 ms | p99 ms |
| --- | --- | ---: | ---: | ---: |
${rows.join('\n')}
`;
    console.log(md);
    if (!argv.includes('--no-write')) writeSection('rate-limit', md);
    return 0;
  } finally {
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then((code) => process.exit(code), (err: unknown) => { console.error(err); process.exit(1); });
}
