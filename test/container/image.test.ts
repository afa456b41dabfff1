// The image as a user builds and runs it, with a real Docker engine (npm run test:container):
// size and contents, read-only root filesystem, --cpus/--memory limits honoured (RSS under the
// documented bound with 5,000-row batches), the book's answer,
// HEALTHCHECK healthy (and cheap at full load), uid 1000 (and a random uid with no capabilities,
// where a second SIGTERM to PID 1 ends the drain at once), `docker stop` under load drains to exit 0
// with no failed request, then push to a local registry (the Artifact Registry step) and run it
// again pulled by digest.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../../src/server.js';
import { EXAMPLES, tempDir } from '../helpers/paths.js';
import { freePort } from '../helpers/net.js';
import { checkImageSize, documentedImageSizeMB } from '../deploy/image-size.js';
import { BOOK_REQUEST, Cleanup, buildImage, docker, dockerOk, ok200, predict, rssBytes, sampleHealth, startLoad, uidOf, waitFor, type HealthRun } from './docker.js';

const TAG = `modelserve-test:image-${process.pid}`;
const MEMORY_LIMIT = 512 * 2 ** 20;
/** The RSS bound docs/production.md ("Memory") documents for a --cpus 1 --memory 512m container. */
const RSS_BOUND = 400 * 2 ** 20;
const cleanup = new Cleanup();
let expectedAnswer = '';

/** The server's "ready" log line (pino JSON) from `docker logs`. */
async function readyLine(id: string): Promise<{ workers: number; models: Array<{ name: string; state: string }> }> {
  const r = await docker(['logs', id]);
  const line = `${r.stdout}\n${r.stderr}`.split('\n').find((l) => l.includes('"msg":"ready"'));
  assert.ok(line, `no ready line in the logs:\n${r.stdout.slice(-2000)}${r.stderr.slice(-2000)}`);
  return JSON.parse(line) as { workers: number; models: Array<{ name: string; state: string }> };
}

async function startContainer(image: string, port: number, extra: string[]): Promise<{ id: string; readyMs: number; pid: number }> {
  const t0 = Date.now();
  const id = await dockerOk(['run', '-d', '--network', 'host', '-e', `PORT=${port}`, ...extra, image]);
  cleanup.container(id);
  await waitFor('/readyz 200', () => ok200(`http://127.0.0.1:${port}/readyz`), 60_000, 50);
  const readyMs = Date.now() - t0;
  const pid = Number(await dockerOk(['inspect', '-f', '{{.State.Pid}}', id]));
  return { id, readyMs, pid };
}

describe('the image, built and run by a real Docker engine', { timeout: 360_000 }, () => {
  let port = 0;
  let container = { id: '', readyMs: 0, pid: 0 };

  before(async () => {
    // The answer the container must give: the same models served on this machine.
    const local = await startServer({ repo: EXAMPLES, port: 0, workers: 1 });
    try {
      const r = await predict(`${local.url}/predict`);
      assert.equal(r.status, 200, r.text);
      expectedAnswer = r.text;
    } finally {
      await local.shutdown();
    }
    cleanup.image(TAG);
    const ms = await buildImage(TAG);
    console.error(`# docker build: ${(ms / 1000).toFixed(1)} s`);
  });

  after(() => cleanup.run());

  it('is at most 300 MB, the size README.md and docs/deploy.md state (±10 %), and holds no npm, no other platform\'s onnxruntime binaries and no type declarations', async () => {
    const size = Number(await dockerOk(['image', 'inspect', '-f', '{{.Size}}', TAG]));
    console.error(`# image size: ${(size / 1e6).toFixed(0)} MB`);
    assert.ok(size <= 300e6, `image is ${(size / 1e6).toFixed(0)} MB`);
    const stated = checkImageSize(size, documentedImageSizeMB());
    assert.ok(stated.ok, stated.message);
    const inside = await dockerOk(['run', '--rm', '--network', 'none', '--entrypoint', 'bash', TAG, '-c',
      'command -v npm npx corepack yarn; echo "ort: $(cd node_modules/onnxruntime-node/bin/napi-v6 && echo */*)"; ls -d node_modules/@types node_modules/protobufjs/cli node_modules/*/node_modules/protobufjs/cli 2>/dev/null; id -u; true']);
    assert.deepEqual(inside.split('\n'), [`ort: linux/${process.arch}`, '1000'], inside);
  });

  it('runs with --read-only (tmpfs /tmp), --cpus 1 --memory 512m: ready, the book\'s answer, uid 1000, one worker from the cgroup quota, healthy', async () => {
    port = await freePort();
    container = await startContainer(TAG, port, ['--read-only', '--tmpfs', '/tmp', '--cpus', '1', '--memory', '512m', '--health-interval', '1s']);
    console.error(`# docker run -> /readyz 200: ${container.readyMs} ms`);
    const r = await predict(`http://127.0.0.1:${port}/predict`, BOOK_REQUEST);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.text, expectedAnswer);
    assert.match(r.text, /"prediction":"(Rain|No_Rain)"/);
    assert.equal(uidOf(container.pid), 1000, 'the server process runs as uid 1000');
    const ready = await readyLine(container.id);
    // The log's ready line lists each model with its serving version and state.
    assert.deepEqual(ready.models.map((m) => `${m.name}:${m.state}`).sort(), ['loan:ready', 'rain-xgboost:ready', 'weather:ready']);
    assert.equal(ready.workers, 1, 'workers = the cgroup CPU quota (1), not the machine\'s CPUs');
    const quota = await dockerOk(['exec', container.id, 'bash', '-c', 'cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo "$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"']);
    assert.match(quota, /^100000 100000$/, `the quota the container sees (cgroup v2 cpu.max or v1 cfs): ${quota}`);
    const write = await docker(['exec', container.id, 'bash', '-c', 'echo x > /app/probe']);
    assert.notEqual(write.code, 0, 'the root filesystem is read-only');
    assert.match(write.stderr, /Read-only file system/);
    await dockerOk(['exec', container.id, 'bash', '-c', 'echo x > /tmp/probe']);
    await waitFor('HEALTHCHECK healthy', async () => ((await dockerOk(['inspect', '-f', '{{.State.Health.Status}}', container.id])) === 'healthy' ? true : undefined), 30_000, 250);
  });

  it('-e HOST=<one address> (not 0.0.0.0) and a PORT of its own: the HEALTHCHECK probes that address and the container turns healthy', async () => {
    // It probed 127.0.0.1: a container listening on its own IP only stayed unhealthy. On the host
    // network 127.0.0.2 is such an address that 127.0.0.1 does not answer for.
    const port2 = await freePort();
    const t0 = Date.now();
    const id = await dockerOk(['run', '-d', '--network', 'host', '-e', 'HOST=127.0.0.2', '-e', `PORT=${port2}`, '-e', 'MODELSERVE_GRPC_PORT=0', '--health-interval', '1s', TAG]);
    cleanup.container(id);
    await waitFor('/readyz 200 on 127.0.0.2', () => ok200(`http://127.0.0.2:${port2}/readyz`), 60_000, 50);
    assert.equal(await ok200(`http://127.0.0.1:${port2}/readyz`), undefined, 'nothing answers on 127.0.0.1');
    await waitFor('HEALTHCHECK healthy', async () => ((await dockerOk(['inspect', '-f', '{{.State.Health.Status}}', id])) === 'healthy' ? true : undefined), 30_000, 250);
    console.error(`# HOST=127.0.0.2: docker run -> healthy in ${Date.now() - t0} ms`);
    await dockerOk(['rm', '-f', id]);
  });

  it('under a closed load (32 users, 10 s): no failed request, RSS under the limit, every HEALTHCHECK passes', async () => {
    assert.ok(container.id, 'the container started');
    const health = sampleHealth(container.id);
    let peakRss = 0;
    const rssTimer = setInterval(() => { peakRss = Math.max(peakRss, rssBytes(container.pid)); }, 200);
    const loadStart = new Date();
    const { result } = startLoad(`http://127.0.0.1:${port}/predict`, { users: 32, duration: '10s' }, cleanup);
    // The same load, probed from outside with `docker exec` (its overhead is in both): this image's
    // probe vs the `node -e fetch()` probe it replaced, alternately.
    const NODE_PROBE = "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))";
    const probes = { bash: [] as number[], node: [] as number[] };
    await new Promise((res) => setTimeout(res, 1000));
    while (Date.now() - loadStart.getTime() < 9000) {
      for (const kind of ['bash', 'node'] as const) {
        const t0 = performance.now();
        const p = await docker(['exec', container.id, ...(kind === 'bash' ? ['bash', '/app/healthcheck.sh'] : ['node', '-e', NODE_PROBE])]);
        assert.equal(p.code, 0, `${kind} probe: ${p.stderr}`);
        probes[kind].push(performance.now() - t0);
      }
    }
    const r = await result;
    clearInterval(rssTimer);
    const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)] ?? NaN;
    console.error(`# docker exec probe under load (${probes.bash.length} each): bash /dev/tcp median ${med(probes.bash).toFixed(0)} ms, max ${Math.max(...probes.bash).toFixed(0)} ms; node -e fetch median ${med(probes.node).toFixed(0)} ms, max ${Math.max(...probes.node).toFixed(0)} ms; ratio of medians ${(med(probes.node) / med(probes.bash)).toFixed(1)}x`);
    const runs = (await health.stop()).filter((h: HealthRun) => Date.parse(h.start) >= loadStart.getTime());
    const ms = runs.map((h) => h.ms).sort((a, b) => a - b);
    console.error(`# load: ${r.requests} requests, ${r.rps.toFixed(0)} req/s, p99 ${r.latencyMs.p99} ms; peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB of 512`);
    console.error(`# HEALTHCHECK under load: ${ms.length} runs, median ${ms[Math.floor(ms.length / 2)]} ms, max ${ms.at(-1)} ms`);
    assert.ok(r.requests > 1000, `requests: ${r.requests}`);
    assert.equal(r.failures, 0, JSON.stringify({ status: r.statusCounts, errors: r.errorKinds }));
    assert.ok(peakRss > 0 && peakRss < MEMORY_LIMIT, `peak RSS ${peakRss}`);
    assert.equal(await dockerOk(['inspect', '-f', '{{.State.OOMKilled}}', container.id]), 'false');
    assert.ok(runs.length >= 5, `health checks seen during the load: ${runs.length}`);
    for (const h of runs) assert.equal(h.exitCode, 0, `HEALTHCHECK failed under load after ${h.ms} ms: ${h.output}`);
    // Within the image's own --timeout=3s with room to spare (BENCHMARKS.md records the numbers).
    assert.ok((ms.at(-1) ?? 0) < 3000, `slowest HEALTHCHECK ${ms.at(-1)} ms`);
  });

  it('large mixed batches (1 to 5,000 rows, three models at once) stay under the documented RSS bound: no OOM kill, no failure', async () => {
    assert.ok(container.id, 'the container started');
    let peakRss = 0;
    const rssTimer = setInterval(() => { peakRss = Math.max(peakRss, rssBytes(container.pid)); }, 100);
    const sizes = [5000, 1, 2500, 1, 700, 5000, 90, 1, 5000, 3000, 1, 5000];
    const outcomes: string[] = [];
    // One client per model (each model has its own queue, so no request waits behind a full one):
    // the loan rows are twice as long, so its largest batch is 3,000 rows (under the 1 MB body limit).
    await Promise.all(['weather', 'loan', 'rain-xgboost'].map(async (model) => {
      const samples = JSON.parse(readFileSync(join(EXAMPLES, model, 'samples', 'valid.json'), 'utf8')) as unknown[];
      for (const size of sizes) {
        const n = model === 'loan' ? Math.min(size, 3000) : size;
        const body = n === 1 ? samples[0] : Array.from({ length: n }, (_, i) => samples[i % samples.length]);
        const r = await predict(`http://127.0.0.1:${port}/models/${model}/predict`, body);
        outcomes.push(r.status === 200 ? 'ok' : `${model} ${n} rows: ${r.status} ${r.text.slice(0, 200)}`);
      }
    }));
    clearInterval(rssTimer);
    peakRss = Math.max(peakRss, rssBytes(container.pid));
    const cgroupPeak = await dockerOk(['exec', container.id, 'bash', '-c', 'cat /sys/fs/cgroup/memory.peak 2>/dev/null || cat /sys/fs/cgroup/memory/memory.max_usage_in_bytes']);
    // The V8 heap limit Node derives from the container's memory limit (what bounds the main thread's heap).
    const heapLimit = await dockerOk(['exec', container.id, 'node', '-p', 'v8.getHeapStatistics().heap_size_limit']);
    console.error(`# large mixed batches: peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB (bound ${RSS_BOUND / 2 ** 20}), cgroup peak ${(Number(cgroupPeak) / 2 ** 20).toFixed(0)} MiB of 512, V8 heap limit ${(Number(heapLimit) / 2 ** 20).toFixed(0)} MiB`);
    assert.deepEqual(outcomes.filter((o) => o !== 'ok'), []);
    assert.equal(await dockerOk(['inspect', '-f', '{{.State.OOMKilled}} {{.State.Running}}', container.id]), 'false true');
    assert.ok(peakRss > 0 && peakRss < RSS_BOUND, `peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB, documented bound ${RSS_BOUND / 2 ** 20} MiB`);
    assert.ok(Number(cgroupPeak) < MEMORY_LIMIT, `cgroup peak ${cgroupPeak}`);
  });

  it('your models mounted read-only over /app/models (docs/deploy.md): served when uid 1000 can read them; a folder it cannot read is named, with the uid, not taken for "no model"', async () => {
    // mkdtemp makes a 0700 folder owned by the user who runs the tests: what a host folder often is.
    const repo = tempDir('modelserve-mounted-');
    cleanup.add(`models ${repo}`, async () => rmSync(repo, { recursive: true, force: true }));
    for (const model of ['weather', 'loan']) cpSync(join(EXAMPLES, model), join(repo, model), { recursive: true });
    const runOnce = async () => {
      const r = await docker(['run', '--rm', '--network', 'none', '-v', `${repo}:/app/models:ro`, TAG], { timeoutMs: 60_000 });
      return { code: r.code, out: (r.stdout + r.stderr).split('\n').filter((l) => l.startsWith('modelserve') || l.startsWith('  ')).join('\n') };
    };
    if (process.getuid?.() !== 1000) {
      chmodSync(repo, 0o700);
      const root = await runOnce();
      assert.equal(root.code, 1, root.out);
      assert.equal(root.out, "modelserve: /app/models: model repository cannot be read (permission denied) by modelserve's user (uid 1000): make it readable (chmod -R a+rX, or chown)");
      chmodSync(repo, 0o755);
      chmodSync(join(repo, 'weather'), 0o700);
      const one = await runOnce();
      assert.equal(one.code, 1, one.out);
      // Not loan alone, served without a word about weather.
      assert.equal(one.out, "modelserve: invalid model configuration (1 problem):\n  models/weather: (folder): cannot be read (permission denied) by modelserve's user (uid 1000): make it readable (chmod -R a+rX, or chown)");
    }
    execFileSync('chmod', ['-R', 'a+rX', repo]);
    const port2 = await freePort();
    // gRPC off: the first test's container, still running on the host network, holds gRPC's default port 8001.
    const mounted = await startContainer(TAG, port2, ['--read-only', '--tmpfs', '/tmp', '-e', 'MODELSERVE_GRPC_PORT=0', '-v', `${repo}:/app/models:ro`]);
    assert.deepEqual((await readyLine(mounted.id)).models.map((m) => m.name).sort(), ['loan', 'weather']);
    const r = await predict(`http://127.0.0.1:${port2}/predict`);
    assert.equal(r.status, 200, r.text);
    // Removed, not only stopped: a stopped container still holds the image the registry test removes.
    await dockerOk(['rm', '-f', mounted.id]);
  });

  it('as a random uid in group 0 (OpenShift), every capability dropped, no new privileges, read-only: healthy, the book\'s answer; node is PID 1, and a second SIGTERM during the drain ends it at once (exit 143)', async () => {
    const port2 = await freePort();
    // A 60 s shutdown delay: only the second signal can end it within the 20 s allowed below.
    const c = await startContainer(TAG, port2, ['--user', '12345:0', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '--read-only', '--tmpfs', '/tmp',
      '--health-interval', '1s', '-e', 'MODELSERVE_GRPC_PORT=0', '-e', 'MODELSERVE_SHUTDOWN_DELAY_MS=60000']);
    const r = await predict(`http://127.0.0.1:${port2}/predict`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.text, expectedAnswer);
    assert.equal(await dockerOk(['exec', c.id, 'bash', '-c', 'echo $(id -u) $(tr "\\0" " " < /proc/1/cmdline)']), '12345 node bin/modelserve.js serve');
    await waitFor('HEALTHCHECK healthy', async () => ((await dockerOk(['inspect', '-f', '{{.State.Health.Status}}', c.id])) === 'healthy' ? true : undefined), 30_000, 250);
    await dockerOk(['kill', '-s', 'TERM', c.id]);
    // Draining (the first signal was handled): /readyz answers 503 through the shutdown delay.
    await waitFor('/readyz 503', async () => ((await fetch(`http://127.0.0.1:${port2}/readyz`, { signal: AbortSignal.timeout(1000) })).status === 503 ? true : undefined), 10_000);
    // PID 1 gets no default action: without a handler for it, this second signal was dropped and
    // the container drained for the whole minute.
    await dockerOk(['kill', '-s', 'TERM', c.id]);
    const exit = await docker(['wait', c.id], { timeoutMs: 20_000 });
    assert.equal(exit.stdout.trim(), '143', `docker wait: ${exit.code} ${exit.stdout}${exit.stderr}`);
    const logs = await docker(['logs', c.id]);
    assert.match(logs.stderr, /^modelserve: second SIGTERM during the drain: exiting now, without waiting for it$/m);
    await dockerOk(['rm', c.id]);
  });

  it('`docker stop` under a closed load: exit 0, and no request the container accepted fails', async () => {
    assert.ok(container.id, 'the container started');
    const { result } = startLoad(`http://127.0.0.1:${port}/predict`, { users: 32, duration: '6s' }, cleanup);
    await new Promise((r) => setTimeout(r, 2500));
    const t0 = Date.now();
    await dockerOk(['stop', container.id]);
    const stopMs = Date.now() - t0;
    const r = await result;
    const exit = await dockerOk(['inspect', '-f', '{{.State.ExitCode}} {{.State.OOMKilled}}', container.id]);
    console.error(`# docker stop under load: ${stopMs} ms, exit ${exit}; load: ${JSON.stringify({ ok: r.ok, status: r.statusCounts, errors: r.errorKinds })}`);
    assert.equal(exit, '0 false', 'drained and exited 0 (not killed after the 10 s grace)');
    assert.ok(r.ok > 500, `requests answered before the stop: ${r.ok}`);
    // After the listener closed, new connections are refused: those requests were never accepted.
    // Anything else (a non-200, a reset or timeout mid-request) is a failed accepted request.
    assert.deepEqual(Object.keys(r.statusCounts).filter((s) => s !== '200'), [], JSON.stringify(r.statusCounts));
    assert.deepEqual(Object.keys(r.errorKinds).filter((k) => k !== 'connect'), [], JSON.stringify(r.errorKinds));
    assert.ok((r.errorKinds.connect ?? 0) > 0, 'the load outlasted the container (else the stop was not under load)');
    await dockerOk(['rm', container.id]);
  });

  it('pushed to a local registry (docker-registry on 127.0.0.1), removed, pulled by digest and run again', async () => {
    const regPort = await freePort();
    const dir = tempDir('modelserve-registry-');
    cleanup.add(`registry storage ${dir}`, async () => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'config.yml'), `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${regPort}\n`);
    const registry = spawn('/usr/bin/docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
    cleanup.process(registry);
    await waitFor('registry /v2/', () => ok200(`http://127.0.0.1:${regPort}/v2/`), 20_000);

    const remote = `127.0.0.1:${regPort}/modelserve`;
    cleanup.image(`${remote}:test`);
    await dockerOk(['tag', TAG, `${remote}:test`]);
    const push = await dockerOk(['push', `${remote}:test`], { timeoutMs: 180_000 });
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(push)?.[1];
    assert.ok(digest, push);
    // Gone from the engine: the run below must pull it.
    await dockerOk(['rmi', `${remote}:test`, TAG]);
    assert.notEqual((await docker(['image', 'inspect', `${remote}@${digest}`])).code, 0);
    await dockerOk(['pull', `${remote}@${digest}`], { timeoutMs: 180_000 });
    cleanup.image(`${remote}@${digest}`);

    const port2 = await freePort();
    const again = await startContainer(`${remote}@${digest}`, port2, ['--read-only', '--tmpfs', '/tmp']);
    const r = await predict(`http://127.0.0.1:${port2}/predict`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.text, expectedAnswer);
    // Without --cpus the workers follow the machine's CPUs: the 1 above came from the quota.
    assert.equal((await readyLine(again.id)).workers, availableParallelism());
    await dockerOk(['stop', again.id]);
    assert.equal(await dockerOk(['inspect', '-f', '{{.State.ExitCode}}', again.id]), '0');
  });
});
