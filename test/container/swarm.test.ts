// deploy/swarm/stack.yml on a real one-node Docker Swarm (npm run test:container): two replicas on
// the host network (ports 18091, 18092 from the task slot) behind nginx (deploy/swarm/nginx.conf's
// site), a closed load through nginx the whole time, then
//   1. a rolling update to a new image tag, 2. `docker service scale` 2 -> 3 (18093 joins),
//   3. an update to a broken image (a corrupt model baked in): it never becomes healthy nor takes
//      traffic, and Swarm rolls the service back by itself —
// with zero failed requests. The swarm is left (when this test created it) and everything removed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { startNginx, stopNginx, type Nginx } from '../../bench/scale-out.js';
import { REPO, tempDir } from '../helpers/paths.js';
import { Cleanup, DOCKER, buildImage, docker, dockerOk, ok200, predict, run, startLoad, waitFor, type LoadResult } from './docker.js';

const STACK = `mstest${process.pid}`;
const SERVICE = `${STACK}_modelserve`;
const GOOD_A = `modelserve-test:swarm-a-${process.pid}`;
const GOOD_B = `modelserve-test:swarm-b-${process.pid}`;
const BROKEN = `modelserve-test:swarm-broken-${process.pid}`;
const PORTS = [18091, 18092, 18093];
const cleanup = new Cleanup();

async function service(format: string): Promise<string> {
  return dockerOk(['service', 'inspect', '-f', format, SERVICE]);
}

/** Every replica port in `ports` answers /readyz 200. */
async function replicasReady(ports: number[]): Promise<true | undefined> {
  for (const p of ports) if (!(await ok200(`http://127.0.0.1:${p}/readyz`))) return undefined;
  return true;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

async function updateState(): Promise<string> {
  return service('{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}');
}

describe('Docker Swarm: deploy/swarm/stack.yml behind nginx, rolling update, scale, broken update rolled back', { timeout: 360_000 }, () => {
  let lb: Nginx | undefined;
  let load: Promise<LoadResult> | undefined;
  let stopLoad: (() => void) | undefined;

  before(async () => {
    for (const p of PORTS) assert.ok(await portFree(p), `port ${p} (one of stack.yml's replica ports) is in use`);
    cleanup.image(GOOD_A);
    await buildImage(GOOD_A);
    // A new tag with a different image (a label), and one whose weather model is corrupt.
    const ctx = tempDir('modelserve-swarm-images-');
    cleanup.add(`context ${ctx}`, () => run('rm', ['-rf', ctx]));
    writeFileSync(join(ctx, 'Dockerfile.b'), `FROM ${GOOD_A}\nLABEL org.opencontainers.image.version=b\n`);
    writeFileSync(join(ctx, 'model.onnx'), Buffer.from('this is not an ONNX model\n'.repeat(100)));
    writeFileSync(join(ctx, 'Dockerfile.broken'), `FROM ${GOOD_A}\nCOPY model.onnx /app/models/weather/model.onnx\n`);
    cleanup.image(GOOD_B);
    await buildImage(GOOD_B, ['-f', join(ctx, 'Dockerfile.b')], ctx);
    cleanup.image(BROKEN);
    await buildImage(BROKEN, ['-f', join(ctx, 'Dockerfile.broken')], ctx);

    const state = await dockerOk(['info', '-f', '{{.Swarm.LocalNodeState}}']);
    if (state !== 'active') {
      const hadGwBridge = (await docker(['network', 'inspect', 'docker_gwbridge'])).code === 0;
      await dockerOk(['swarm', 'init', '--advertise-addr', '127.0.0.1', '--listen-addr', '127.0.0.1:2377']);
      cleanup.add('swarm', async () => {
        await docker(['swarm', 'leave', '--force']);
        // swarm init created this bridge; leaving does not remove it.
        if (!hadGwBridge) await docker(['network', 'rm', 'docker_gwbridge']);
      });
    }
    cleanup.add(`stack ${STACK}`, async () => {
      await docker(['stack', 'rm', STACK]);
      // Wait for the tasks' containers to go before the images are removed.
      await waitFor('stack containers gone', async () => ((await dockerOk(['ps', '-aq', '--filter', `label=com.docker.stack.namespace=${STACK}`])) === '' ? true : undefined), 60_000, 500).catch(() => undefined);
    });
  });

  after(async () => {
    stopLoad?.();
    await load?.catch(() => undefined);
    if (lb) await stopNginx(lb);
    await cleanup.run();
  });

  it('docker stack deploy: 2 replicas on 18091 and 18092, healthy, behind nginx', async () => {
    const deploy = await run(DOCKER, ['stack', 'deploy', '-c', join(REPO, 'deploy/swarm/stack.yml'), STACK], { env: { ...process.env, MODELSERVE_IMAGE: GOOD_A } });
    assert.equal(deploy.code, 0, deploy.stderr);
    await waitFor('both replicas ready', () => replicasReady(PORTS.slice(0, 2)), 90_000, 250);
    await waitFor('2/2 running', async () => ((await dockerOk(['service', 'ls', '--filter', `name=${SERVICE}`, '--format', '{{.Replicas}}'])) === '2/2' ? true : undefined), 60_000, 500);
    lb = await startNginx(tempDir('modelserve-swarm-lb-'), PORTS);
    const r = await predict(`http://127.0.0.1:${lb.port}/predict`);
    assert.equal(r.status, 200, r.text);
    // Workers from the stack's CPU limit / MODELSERVE_WORKERS, as the server logged it.
    const logs = await docker(['service', 'logs', '--raw', SERVICE]);
    assert.match(logs.stdout + logs.stderr, /"workers":1,/);
  });

  it('under a closed load: a rolling update to a new tag, then scale 2 -> 3, lose no request', async () => {
    assert.ok(lb, 'deployed');
    const started = startLoad(`http://127.0.0.1:${lb.port}/predict`, { users: 8, duration: '240s', timeout: '15s' }, cleanup);
    load = started.result;
    stopLoad = () => started.child.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 1500));

    const t0 = Date.now();
    await dockerOk(['service', 'update', '--detach', '--image', GOOD_B, SERVICE]);
    await waitFor('rolling update completed', async () => {
      const s = await updateState();
      if (/rollback|paused/.test(s)) throw new Error(`update ${s}: ${await service('{{.UpdateStatus.Message}}')}`);
      return s === 'completed' ? true : undefined;
    }, 120_000, 500);
    console.error(`# rolling update (2 replicas, stop-first, health-gated): ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.match(await service('{{.Spec.TaskTemplate.ContainerSpec.Image}}'), new RegExp(`^${GOOD_B.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));

    const t1 = Date.now();
    await dockerOk(['service', 'scale', '--detach', `${SERVICE}=3`]);
    await waitFor('third replica ready on 18093', () => replicasReady(PORTS), 90_000, 250);
    console.error(`# scale 2 -> 3: ${((Date.now() - t1) / 1000).toFixed(1)} s`);
    assert.equal(await service('{{.Spec.Mode.Replicated.Replicas}}'), '3');
  });

  it('an update to a broken image (corrupt model) never takes traffic and is rolled back automatically; the load saw 0 failures', async () => {
    assert.ok(load && stopLoad, 'the load runs');
    const t0 = Date.now();
    await dockerOk(['service', 'update', '--detach', '--image', BROKEN, SERVICE]);
    await waitFor('automatic rollback completed', async () => ((await updateState()) === 'rollback_completed' ? true : undefined), 150_000, 500);
    console.error(`# broken update -> rollback completed: ${((Date.now() - t0) / 1000).toFixed(1)} s (${await service('{{.UpdateStatus.Message}}')})`);
    assert.match(await service('{{.Spec.TaskTemplate.ContainerSpec.Image}}'), /swarm-b-/, 'back on the previous image');
    await waitFor('3 replicas ready after the rollback', () => replicasReady(PORTS), 90_000, 250);

    // The broken image's containers all exited with the loader's error; none was ever healthy.
    const broken = (await dockerOk(['ps', '-a', '--filter', `ancestor=${BROKEN}`, '--format', '{{.ID}}'])).split('\n').filter(Boolean);
    assert.ok(broken.length >= 1, 'Swarm did start the broken image');
    for (const id of broken) {
      const st = await dockerOk(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{end}}', id]);
      assert.match(st, /^exited 1 (unhealthy|starting)?$/, `broken task container ${id}: ${st}`);
      const logs = await docker(['logs', id]);
      assert.match(logs.stderr + logs.stdout, /model\.onnx is not a valid ONNX model: it looks like text \(starts with 'this is not an ONNX model'\)/);
    }

    stopLoad();
    const r = await load;
    console.error(`# load through nginx: ${r.requests} requests, ${r.rps.toFixed(0)} req/s, p99 ${r.latencyMs.p99} ms, statuses ${JSON.stringify(r.statusCounts)}`);
    assert.ok(r.requests > 1000, `requests: ${r.requests}`);
    assert.equal(r.failures, 0, JSON.stringify({ status: r.statusCounts, errors: r.errorKinds }));
    assert.deepEqual(Object.keys(r.statusCounts), ['200']);
  });
});
