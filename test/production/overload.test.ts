// Overload protection, end to end against the real CLI (its own process, so the load generator
// does not share the server's event loop): measure capacity with a short closed-loop run, then
// offer ~3× that with an open-loop arrival rate, then stop and check recovery.
//
// Model `bounded`: queue.max_rows small -> excess requests get 503 + Retry-After at once.
// Model `deadline`: queue unbounded but queue.timeout_ms short -> late requests get 504; judged
// by counts (a burst of many deadlines' work: which requests ran, which were refused).
// Everything is judged by ratios or counts against what this run measured (no fixed millisecond
// limits), and the load is bounded in time and count, loopback only.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { bookRows, tempDir, writeBookModelFolder } from '../helpers/paths.js';
import { startServe, type RunningCli } from '../helpers/serve.js';
import { sample } from '../helpers/prom.js';

// Heavy requests (256 rows, one batch each) keep the request rate low enough for the load
// generator, on the same machine, to offer 3× what the server can do without becoming the
// bottleneck itself.
const ROWS_PER_REQUEST = 256;
const MAX_ROWS = 4 * ROWS_PER_REQUEST; // queue of the `bounded` model: 4 requests
const CLIENTS = 4; // closed-loop clients: they always fit in the queue
const DEADLINE_MS = 150; // queue.timeout_ms of the `deadline` model

let server: RunningCli | undefined;
let url: string;
const dispatcher = new Agent({ connections: 512, keepAliveTimeout: 30_000 });
const rows = bookRows(ROWS_PER_REQUEST * 40);
const bodies = Array.from({ length: 40 }, (_, i) => JSON.stringify(rows.slice(i * ROWS_PER_REQUEST, (i + 1) * ROWS_PER_REQUEST)));

before(async () => {
  const repo = tempDir('modelserve-overload-');
  // Unoptimised SVM: slow enough per row that one worker saturates at a rate the client can exceed.
  const common = `optimize: false\nbatching: { max_batch_size: ${ROWS_PER_REQUEST}, max_queue_delay_ms: 1 }\n`;
  const bounded = writeBookModelFolder(join(repo, 'a'), `${common}queue: { max_rows: ${MAX_ROWS}, timeout_ms: 30000 }\n`);
  renameSync(bounded, join(repo, 'bounded'));
  const deadline = writeBookModelFolder(join(repo, 'b'), `${common}queue: { max_rows: 1000000, timeout_ms: ${DEADLINE_MS} }\n`);
  renameSync(deadline, join(repo, 'deadline'));
  for (const name of ['bounded', 'deadline']) {
    const file = join(repo, name, 'model.yaml');
    const { readFileSync, writeFileSync } = await import('node:fs');
    writeFileSync(file, readFileSync(file, 'utf8').replace(/^name: .*$/m, `name: ${name}`));
  }
  server = startServe([repo, '--port', '0', '--workers', '1', '--log-level', 'warn']);
  url = await server.url;
});
after(async () => {
  if (server) {
    server.child.kill('SIGTERM');
    await Promise.race([server.exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    server.kill();
  }
  await dispatcher.close();
});

/** ms: from sending to the full answer (what the server did); lag: how late the client sent it. */
interface Result { ms: number; lag: number; status: number; code?: string; detail?: string; retryAfter?: string; error?: string }

let seq = 0;
async function predict(model: string, scheduledAt = performance.now(), body = bodies[seq++ % bodies.length]!): Promise<Result> {
  const sentAt = performance.now();
  const lag = sentAt - scheduledAt;
  try {
    const res = await request(`${url}/models/${model}/predict`, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json' }, body });
    const text = await res.body.text();
    const out: Result = { ms: performance.now() - sentAt, lag, status: res.statusCode, retryAfter: res.headers['retry-after'] as string | undefined };
    if (res.statusCode !== 200) {
      const error = JSON.parse(text) as { code?: string; detail?: string };
      out.code = error.code;
      out.detail = error.detail;
    }
    return out;
  } catch (err) {
    return { ms: performance.now() - sentAt, lag, status: 0, error: (err as { code?: string }).code ?? String(err) };
  }
}

async function get(path: string): Promise<{ ms: number; status: number; text: string }> {
  const t0 = performance.now();
  const res = await request(`${url}${path}`, { dispatcher });
  const text = await res.body.text();
  return { ms: performance.now() - t0, status: res.statusCode, text };
}

const quantile = (xs: number[], q: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

/** Closed loop: `clients` requests always outstanding for `ms`; returns requests/s and latencies. */
async function closedLoop(model: string, clients: number, ms: number): Promise<{ rps: number; p50: number; p99: number; results: Result[] }> {
  const results: Result[] = [];
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    while (performance.now() - t0 < ms) results.push(await predict(model));
  }));
  const elapsed = (performance.now() - t0) / 1000;
  const ok = results.filter((r) => r.status === 200);
  return { rps: ok.length / elapsed, p50: quantile(ok.map((r) => r.ms), 0.5), p99: quantile(ok.map((r) => r.ms), 0.99), results };
}

/** Open loop: arrivals at `rps` for `ms` whatever the responses (each result records how late it was sent). */
async function openLoop(model: string, rps: number, ms: number): Promise<Result[]> {
  const pending: Array<Promise<Result>> = [];
  const t0 = performance.now();
  const total = Math.round((rps * ms) / 1000);
  let sent = 0;
  while (sent < total) {
    const now = performance.now();
    const due = Math.min(total, Math.floor(((now - t0) / 1000) * rps) + 1);
    for (; sent < due; sent++) pending.push(predict(model, t0 + (sent / rps) * 1000));
    await new Promise((r) => setTimeout(r, 2));
  }
  return Promise.all(pending);
}

interface Attempt { stable: boolean; problems: string[]; summary: string }

/** One measure -> 3× overload -> recovery cycle; returns the ratio checks that failed (if any). */
async function overloadCycle(t: { diagnostic(message: string): void }): Promise<Attempt> {
  const problems: string[] = [];
  const check = (ok: boolean, message: string) => { if (!ok) problems.push(message); };
  // Warm the connection pool and the worker, then measure capacity with a closed loop.
  await closedLoop('bounded', CLIENTS, 300);
  const base = await closedLoop('bounded', CLIENTS, 2000);
  assert.ok(base.results.every((r) => r.status === 200), `a closed loop of ${CLIENTS} clients fits in the queue`);
  const offered = 3 * base.rps;

  const probes: Array<{ path: string; ms: number; status: number }> = [];
  let overloadRunning = true;
  const probe = async () => {
    while (overloadRunning) {
      for (const path of ['/healthz', '/readyz', '/metrics']) {
        const r = await get(path);
        probes.push({ path, ms: r.ms, status: r.status });
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const before = (await get('/metrics')).text;
  const probing = new Promise((r) => setTimeout(r, 200)).then(probe);
  // At 3× capacity the unbounded backlog grows ~2 s a second whatever the speed, but the bound below
  // is a number of runs: on a loaded machine (4-7 req/s, runs of 150-250 ms) 3 s held too few runs
  // to tell the two apart. The overload lasts long enough for the backlog to pass twice the expected
  // bound (goodput during the overload can exceed the capacity measured before it, slowing the backlog).
  const expectedBoundS = (3 * (base.p99 + ((MAX_ROWS + ROWS_PER_REQUEST) / (base.rps * ROWS_PER_REQUEST)) * 1000)) / 1000;
  const DURATION_S = Math.min(30, Math.max(3, Math.ceil(2.5 * expectedBoundS)));
  const results = await openLoop('bounded', offered, DURATION_S * 1000).finally(() => { overloadRunning = false; });
  await probing;

  const admitted = results.filter((r) => r.status === 200);
  const rejected = results.filter((r) => r.status === 503);
  const other = results.filter((r) => r.status !== 200 && r.status !== 503);
  const admittedP50 = quantile(admitted.map((r) => r.ms), 0.5);
  const admittedP99 = quantile(admitted.map((r) => r.ms), 0.99);
  const rejectedP50 = quantile(rejected.map((r) => r.ms), 0.5);

  // Invariants, whatever the machine is doing.
  assert.deepEqual(other.map((r) => `${r.status} ${r.error ?? r.code}`), [], 'only 200 or 503: no 5xx crash, no connection errors');
  assert.ok(rejected.length > 0, 'overload produced refusals');
  assert.ok(admitted.length > 0, 'the server kept serving while overloaded');
  for (const r of rejected) {
    assert.equal(r.code, 'MS_ERR_OVERLOADED');
    assert.equal(r.retryAfter, '1');
  }
  assert.ok(probes.length >= 6, `probes ran during the overload (${probes.length})`);
  assert.deepEqual(probes.filter((p) => p.status !== 200), [], 'probes and /metrics are never refused');
  // The metrics saw the same refusals the clients saw.
  const afterText = (await get('/metrics')).text;
  const delta = (name: string, labels: Record<string, string>) => (sample(afterText, name, labels) ?? 0) - (sample(before, name, labels) ?? 0);
  assert.equal(delta('modelserve_rejected_total', { model: 'bounded', reason: 'overloaded' }), rejected.length);
  assert.equal(delta('modelserve_requests_total', { model: 'bounded', route: '/models/:name/predict', status: '503' }), rejected.length);
  assert.ok(delta('modelserve_queue_wait_seconds_count', { model: 'bounded' }) >= admitted.length);
  // Recovery: once the load stops the queue empties and everything is 200 again.
  let depth = Infinity;
  for (let i = 0; i < 50 && depth > 0; i++) {
    depth = sample((await get('/metrics')).text, 'modelserve_queue_depth', { model: 'bounded' }) ?? Infinity;
    if (depth > 0) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(depth, 0, 'the queue empties after the overload');
  const recovered = await closedLoop('bounded', CLIENTS, 1500);
  assert.ok(recovered.results.length > 0 && recovered.results.every((r) => r.status === 200), 'all 200 after the overload');
  assert.equal((await get('/readyz')).status, 200);

  // Ratios. Goodput during the overload is the service rate the admitted requests actually saw;
  // an admitted request waits at most for the full queue plus the batch ahead of it at that rate
  // (plus what the closed loop itself saw). Generous factor 3 for noise.
  const goodput = admitted.length / DURATION_S;
  const queueDrainMs = ((MAX_ROWS + ROWS_PER_REQUEST) / (Math.min(base.rps, goodput) * ROWS_PER_REQUEST)) * 1000;
  // The server's share is bounded by its queue; latency is measured from the intended send time,
  // so the load generator's own lag (same process, shared CPU) is added, not charged to the server.
  const clientLagP99 = quantile(results.map((r) => r.lag), 0.99);
  const bound = 3 * (base.p99 + queueDrainMs) + clientLagP99;
  // Without the limit the backlog would grow for the whole run: (offered - served) × duration.
  const unboundedMs = ((offered - goodput) * DURATION_S / goodput) * 1000;
  const summary = `capacity ${base.rps.toFixed(0)} req/s (${(base.rps * ROWS_PER_REQUEST).toFixed(0)} rows/s), closed-loop p50 ${base.p50.toFixed(1)} p99 ${base.p99.toFixed(1)} ms; offered ${offered.toFixed(0)} req/s for ${DURATION_S} s (client send lag p99 ${quantile(results.map((r) => r.lag), 0.99).toFixed(1)} ms): admitted ${admitted.length} (goodput ${goodput.toFixed(0)} req/s) p50 ${admittedP50.toFixed(1)} p99 ${admittedP99.toFixed(1)} ms (bound ${bound.toFixed(0)}; unbounded backlog would reach ~${unboundedMs.toFixed(0)} ms), rejected ${rejected.length} p50 ${rejectedP50.toFixed(1)} ms; probes p50 ${quantile(probes.map((p) => p.ms), 0.5).toFixed(1)} max ${Math.max(...probes.map((p) => p.ms)).toFixed(1)} ms; after: ${recovered.rps.toFixed(0)} req/s p50 ${recovered.p50.toFixed(1)} ms`;
  t.diagnostic(summary);
  check(rejected.length > results.length / 4, `at 3× capacity a good share is refused (${rejected.length}/${results.length})`);
  check(goodput > 0.3 * base.rps, `the server keeps serving near capacity while overloaded (${goodput.toFixed(0)} vs ${base.rps.toFixed(0)} req/s)`);
  check(rejectedP50 < admittedP50 / 2, `refusals are fast: p50 ${rejectedP50.toFixed(1)} ms vs admitted ${admittedP50.toFixed(1)} ms`);
  check(bound < unboundedMs / 2, 'the test can tell a bounded queue from an unbounded one');
  check(admittedP99 < bound, `admitted p99 ${admittedP99.toFixed(1)} ms within ${bound.toFixed(0)} ms`);
  check(quantile(probes.map((p) => p.ms), 0.5) < admittedP50, 'probes are not stuck behind inference');
  check(recovered.p50 < 3 * base.p50 + 5, `latency back to normal: p50 ${recovered.p50.toFixed(1)} vs ${base.p50.toFixed(1)} ms`);
  // Other processes on a shared machine can change the CPU this server gets by several times
  // within seconds; then "3× capacity" was not 3× and the ratios mean nothing. Detect it by
  // comparing the capacity before and after.
  const stable = Math.max(base.rps, recovered.rps) / Math.min(base.rps, recovered.rps) < 2;
  return { stable, problems, summary };
}

test('3× capacity: bounded queue answers 503 + Retry-After fast, admitted latency stays bounded, probes and /metrics answer, full recovery', { timeout: 150_000 }, async (t) => {
  const ATTEMPTS = 3;
  for (let i = 1; i <= ATTEMPTS; i++) {
    const attempt = await overloadCycle(t);
    if (attempt.problems.length === 0) return;
    if (attempt.stable || i === ATTEMPTS) assert.fail(`${attempt.problems.join('; ')}\n${attempt.summary}`);
    t.diagnostic(`attempt ${i}: capacity changed by more than 2× during the cycle (a busy machine); measuring again`);
  }
});

/** Polls /metrics until the model has nothing queued and nothing running (30 s bound: a hang guard). */
async function idle(model: string): Promise<string> {
  for (let i = 0; i < 300; i++) {
    const text = (await get('/metrics')).text;
    if (sample(text, 'modelserve_queue_depth', { model }) === 0 && sample(text, 'modelserve_batches_in_flight', { model }) === 0) return text;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`model '${model}' still has requests queued or running 30 s later`);
}

test('per-request deadline: queued past queue.timeout_ms -> 504, the backlog dropped rather than served late', { timeout: 120_000 }, async (t) => {
  // Decided by counts, not rates: a burst the model needs many deadlines to serve, sent at once.
  // Warm-up (the model's first runs, the connections), one request at a time, also measures the
  // model's own run time (the server's, not the client's, which adds HTTP and JSON).
  const delta = (after: string, before: string, name: string, labels: Record<string, string>) => (sample(after, name, labels) ?? 0) - (sample(before, name, labels) ?? 0);
  const warmStart = await idle('deadline');
  for (let i = 0; i < 10; i++) {
    const r = await predict('deadline');
    // A slow moment may stretch one run past the deadline: a 504 then, and the warm-up goes on.
    assert.ok(r.status === 200 || (r.status === 504 && r.code === 'MS_ERR_TIMEOUT'), `warm-up: ${JSON.stringify(r)}`);
  }
  const before = await idle('deadline');
  const runs = delta(before, warmStart, 'modelserve_inference_duration_seconds_count', { model: 'deadline' });
  const runMs = (delta(before, warmStart, 'modelserve_inference_duration_seconds_sum', { model: 'deadline' }) * 1000) / runs;
  // Served in full, the burst would keep its last request waiting 8 deadlines at the warm-up's mean
  // run time, however fast the machine is now (one 256-row request per run: max_batch_size 256).
  const burst = Math.min(400, Math.max(40, Math.ceil((8 * DEADLINE_MS) / runMs)));
  const results = await Promise.all(Array.from({ length: burst }, () => predict('deadline')));
  const afterText = await idle('deadline');
  const ok = results.filter((r) => r.status === 200);
  const late = results.filter((r) => r.status === 504);
  const lateRunning = late.filter((r) => /while its batch was running/.test(r.detail ?? ''));
  const other = results.filter((r) => r.status !== 200 && r.status !== 504);
  // The requests that ran: the batch_requests histogram's sum counts each request of each run.
  const ran = delta(afterText, before, 'modelserve_batch_requests_sum', { model: 'deadline' });
  t.diagnostic(`run ${runMs.toFixed(1)} ms (mean of ${runs} warm-up runs), burst ${burst}: 200 ${ok.length}, 504 ${late.length} (${lateRunning.length} while running), other ${other.length}; ${ran} requests ran (deadline ${DEADLINE_MS} ms)`);
  assert.deepEqual(other.map((r) => `${r.status} ${r.error ?? r.code}`), []);
  assert.ok(late.length > 0, 'some requests passed their deadline');
  for (const r of late) assert.equal(r.code, 'MS_ERR_TIMEOUT');
  // The ones that expired in the queue never ran: the model served what it answered, not the backlog
  // (without expiry every request of the burst runs, and the last waits for all the others).
  assert.equal(ran, ok.length + lateRunning.length, 'every request that ran was answered 200 or passed its deadline while running');
  assert.ok(ran < burst, `the backlog was dropped, not served late: ${ran} of ${burst} requests ran`);
  assert.equal(delta(afterText, before, 'modelserve_rejected_total', { model: 'deadline', reason: 'timeout' }), late.length);
  // Recovery: the model serves again. Its deadline still holds, and a slow moment of a shared
  // machine can stretch one answer past it (256-row runs took 150-250 ms on a loaded machine): so
  // one client, one-row requests, each tried a few times. A model left refusing everything (an
  // estimate past the deadline) still fails.
  const oneRow = JSON.stringify(rows.slice(0, 1));
  for (let i = 0; i < 5; i++) {
    const tries: Result[] = [];
    do tries.push(await predict('deadline', undefined, oneRow));
    while (tries.at(-1)!.status === 504 && tries.length < 5);
    assert.equal(tries.at(-1)!.status, 200, `request ${i + 1} after the overload: ${JSON.stringify(tries)}`);
  }
});
