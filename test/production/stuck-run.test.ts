// A request whose input makes its model's run hang, through the real CLI: the request gets its 504 at
// its deadline (queue.timeout_ms), the run watchdog (--run-timeout-ms) takes the stuck worker out of
// service and replaces it, other models and cheap inputs of the same model are answered, /metrics
// counts the quarantine, and SIGTERM ends the process cleanly (exit 0) once the stuck thread's native
// run has returned. Before, the process exited (3 s after the drain) while that thread was still inside
// onnxruntime: Node joined it, and when the run returned onnxruntime aborted the process (SIGABRT, 134).
// The model: an ONNX Loop whose trip count is the request's value (test/helpers/onnx.ts), cheap on zeros,
// which the hybrid runtime must never run on the main thread (docs/runtime.md). Only the hanging run's
// length is sized to this machine (about 12 s of work), so that it ends within the test; nothing is
// asserted about time: the steps follow from answers, /metrics and the log's order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { InProcessRuntime } from '../../src/runtime/in-process.js';
import { call } from '../helpers/http.js';
import { writeLoopModel } from '../helpers/onnx.js';
import { bookRows, tempDir, writeBookModelFolder } from '../helpers/paths.js';
import { startServe } from '../helpers/serve.js';

const LOOP_YAML = `name: loop
model: model.onnx
fields:
  n: { type: integer }
inputs:
  n: { fields: [n], type: int64 }
outputs:
  y: { from: y }
queue: { timeout_ms: 300 }
`;

/** Loop rounds of about `ms` of work for one onnxruntime thread here, from the fastest of three timed runs (a busy machine only makes the run longer). */
async function roundsFor(file: string, ms: number): Promise<number> {
  const runtime = new InProcessRuntime({ intraOpThreads: 1, interOpThreads: 1 });
  try {
    await runtime.load([{ name: 'loop', path: file, bytes: new Uint8Array(readFileSync(file)) }]);
    const probe = 2000;
    let perRound = Infinity;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      await runtime.run('loop', { n: { type: 'int64', dims: [1, 1], data: BigInt64Array.from([BigInt(probe)]) } });
      perRound = Math.min(perRound, (performance.now() - t0) / probe);
    }
    return Math.round(ms / Math.max(1e-4, perRound));
  } finally {
    await runtime.close();
  }
}

test('a request that hangs its model: 504 at its deadline, the worker quarantined and replaced, other requests answered, then SIGTERM exits 0 once the stuck thread ends', { timeout: 240_000 }, async (t) => {
  const repo = tempDir('modelserve-stuck-run-');
  t.after(() => rmSync(repo, { recursive: true, force: true }));
  mkdirSync(join(repo, 'loop'));
  const file = writeLoopModel(join(repo, 'loop', 'model.onnx'), 'rows');
  writeFileSync(join(repo, 'loop', 'model.yaml'), LOOP_YAML);
  writeBookModelFolder(repo);
  const rounds = await roundsFor(file, 12_000);
  // The bound is max(--run-timeout-ms, queue.timeout_ms) = 1000 ms. The drain timeout leaves the stuck run room to end.
  const server = startServe([repo, '--port', '0', '--workers', '1', '--threads-per-worker', '1', '--run-timeout-ms', '1000', '--drain-timeout', '120000', '--log-level', 'info'], { captureStdout: true, env: { MODELSERVE_GRPC_PORT: '0' } });
  t.after(server.kill);
  const url = await server.url;
  const predict = (model: string, body: unknown) => call(`${url}/models/${model}/predict`, { body });
  const metric = async (name: string): Promise<string | undefined> => new RegExp(`^${name} (\\S+)$`, 'm').exec((await call(`${url}/metrics`)).text)?.[1];

  const cheap = await predict('loop', { n: 3 });
  assert.equal(cheap.status, 200, cheap.text);
  assert.deepEqual(cheap.body, { y: 128 * 128 });

  const hung = await predict('loop', { n: rounds });
  assert.equal(hung.status, 504, hung.text);
  assert.equal(hung.body.code, 'MS_ERR_TIMEOUT');
  assert.match(hung.body.detail, /^model 'loop': the request passed its deadline while its batch was running/);

  // The watchdog's quarantine follows (its bound is past the deadline): waited for, not timed.
  while ((await metric('modelserve_worker_quarantines_total')) !== '1') await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(await metric('modelserve_workers_quarantined'), '1', 'the stuck thread is still in its run');

  // Both models are served, the hanging one on a cheap input too (by the replacement: a request
  // that came while it still reloaded the models may pass its 300 ms deadline waiting: sent again).
  const other = await predict('book-weather', bookRows(1)[0]);
  assert.equal(other.status, 200, other.text);
  let again = await predict('loop', { n: 3 });
  while (again.status === 504 && again.body.code === 'MS_ERR_TIMEOUT') again = await predict('loop', { n: 3 });
  assert.equal(again.status, 200, again.text);
  assert.deepEqual(again.body, { y: 128 * 128 });
  assert.equal(await metric('modelserve_worker_quarantines_total'), '1');

  server.child.kill('SIGTERM');
  const code = await server.exited;
  assert.doesNotMatch(server.stderr(), /terminate called|Napi::Error/);
  assert.equal(code, 0, `exit ${code} (signal ${server.child.signalCode}); stderr: ${server.stderr()}`);
  const lines = server.stdout().trim().split('\n').map((line) => JSON.parse(line) as { msg: string });
  const at = (pattern: RegExp): number => lines.findIndex((line) => pattern.test(line.msg));
  const quarantined = at(/^inference worker 0 stuck in a run of model 'loop' version 1 for over 1000 ms: taken out of service and replaced$/);
  const waiting = at(/^waiting up to \d+ ms for 1 inference thread\(s\) stuck in a run \(taken out of service by the run watchdog\) to end before exiting$/);
  const drained = at(/^drained: every accepted request answered, workers stopped$/);
  assert.ok(quarantined >= 0 && quarantined < waiting && waiting < drained, `log order ${quarantined}, ${waiting}, ${drained}:\n${server.stdout()}`);
});

// A run that never returns (1e15 Loop rounds) at SIGTERM: the process must end by itself at the end of
// the shutdown's bound, not wait for the run (Node's exit joins the thread: before, it stayed alive
// until the platform's SIGKILL, so this test failed at its timeout). Both a thread the watchdog
// quarantined and one without a watchdog (--run-timeout-ms 0), still counted as in flight by its pool.
for (const runTimeoutMs of [1000, 0]) test(`a run that never returns (--run-timeout-ms ${runTimeoutMs}): the request gets its 504, and after SIGTERM the process ends itself with SIGKILL once the shutdown's bound passes, said`, { timeout: 120_000 }, async (t) => {
  const repo = tempDir('modelserve-never-returns-');
  t.after(() => rmSync(repo, { recursive: true, force: true }));
  mkdirSync(join(repo, 'loop'));
  writeLoopModel(join(repo, 'loop', 'model.onnx'), 'rows');
  writeFileSync(join(repo, 'loop', 'model.yaml'), LOOP_YAML);
  const server = startServe([repo, '--port', '0', '--workers', '1', '--threads-per-worker', '1', '--run-timeout-ms', String(runTimeoutMs), '--drain-timeout', '1000', '--log-level', 'info'], { captureStdout: true, env: { MODELSERVE_GRPC_PORT: '0' } });
  t.after(server.kill);
  const url = await server.url;
  const hung = await call(`${url}/models/loop/predict`, { body: { n: 1e15 } });
  assert.equal(hung.status, 504, hung.text);
  assert.equal(hung.body.code, 'MS_ERR_TIMEOUT');
  assert.match(hung.body.detail, /while its batch was running/);
  if (runTimeoutMs > 0) {
    while (!/^modelserve_workers_quarantined 1$/m.test((await call(`${url}/metrics`)).text)) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  server.child.kill('SIGTERM');
  const code = await server.exited;
  assert.equal(code, null, `exited ${code}; stderr: ${server.stderr()}`);
  assert.equal(server.child.signalCode, 'SIGKILL');
  assert.match(server.stderr(), /^modelserve: 1 inference thread\(s\) still inside a run at the end of the shutdown: ending the process with SIGKILL/m);
  assert.doesNotMatch(server.stderr(), /terminate called|Napi::Error/);
});

test('a second SIGTERM during a long drain, with a run that never returns: the process ends at once (SIGKILL), not after the run', { timeout: 120_000 }, async (t) => {
  const repo = tempDir('modelserve-never-returns-');
  t.after(() => rmSync(repo, { recursive: true, force: true }));
  mkdirSync(join(repo, 'loop'));
  writeLoopModel(join(repo, 'loop', 'model.onnx'), 'rows');
  writeFileSync(join(repo, 'loop', 'model.yaml'), LOOP_YAML);
  // The shutdown delay keeps it draining far longer than the test's timeout: only the second signal can end it in time.
  const server = startServe([repo, '--port', '0', '--workers', '1', '--threads-per-worker', '1', '--run-timeout-ms', '0', '--shutdown-delay', '600000', '--log-level', 'warn'], { env: { MODELSERVE_GRPC_PORT: '0' } });
  t.after(server.kill);
  const url = await server.url;
  const hung = await call(`${url}/models/loop/predict`, { body: { n: 1e15 } });
  assert.equal(hung.status, 504, hung.text);
  server.child.kill('SIGTERM');
  while ((await call(`${url}/readyz`)).status !== 503) await new Promise((resolve) => setTimeout(resolve, 20));
  server.child.kill('SIGTERM');
  assert.equal(await server.exited, null, server.stderr());
  assert.equal(server.child.signalCode, 'SIGKILL');
  assert.match(server.stderr(), /^modelserve: second SIGTERM during the drain: exiting now, without waiting for it$/m);
});
