// docker-compose.yml with Debian's Compose v1 (`docker-compose`; there is no `docker compose` v2
// plugin here): up --build, a prediction, Prometheus reports the modelserve target `up` (and has
// scraped a modelserve metric), down with its images and volumes removed. Also: both Swarm stack
// files pass Compose's own schema validation.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { REPO } from '../helpers/paths.js';
import { freePort } from '../helpers/net.js';
import { Cleanup, ok200, predict, run, waitFor } from './docker.js';

const COMPOSE = '/usr/bin/docker-compose';
const PROJECT = `mstest${process.pid}`;
const cleanup = new Cleanup();
let env: NodeJS.ProcessEnv = {};

function compose(args: string[], timeoutMs = 300_000) {
  return run(COMPOSE, ['-p', PROJECT, '-f', join(REPO, 'docker-compose.yml'), ...args], { env, timeoutMs, cwd: REPO });
}

describe('docker-compose.yml: modelserve + Prometheus scraping it (Compose v1)', { timeout: 300_000 }, () => {
  let port = 0;
  let promPort = 0;

  before(async () => {
    port = await freePort();
    promPort = await freePort();
    env = {
      ...process.env,
      // Compose v1 hands builds to the docker CLI (BuildKit, the build cache of the other tests);
      // Debian's CLI, which reaches the daemon's built-in BuildKit.
      PATH: `/usr/bin:${process.env.PATH ?? ''}`,
      COMPOSE_DOCKER_CLI_BUILD: '1',
      DOCKER_BUILDKIT: '1',
      MODELSERVE_IMAGE: `modelserve-test:compose-${process.pid}`,
      PROMETHEUS_IMAGE: `modelserve-prometheus-test:compose-${process.pid}`,
      MODELSERVE_PORT: String(port),
      PROMETHEUS_PORT: String(promPort),
    };
    cleanup.add(`compose project ${PROJECT}`, () => compose(['down', '--rmi', 'all', '--volumes', '--timeout', '15']));
  });

  after(() => cleanup.run());

  it('the Swarm stacks and this file pass Compose\'s schema validation', async () => {
    for (const f of ['docker-compose.yml', 'deploy/swarm/stack.yml', 'deploy/swarm/stack.mesh.yml']) {
      const r = await run(COMPOSE, ['-f', join(REPO, f), 'config', '-q'], { env });
      assert.equal(r.code, 0, `${f}: ${r.stderr}`);
    }
  });

  it('up --build: modelserve predicts, Prometheus scrapes it (target up), down removes it all', async () => {
    const up = await compose(['up', '-d', '--build']);
    assert.equal(up.code, 0, up.stderr.slice(-4000));
    await waitFor('modelserve /readyz', () => ok200(`http://127.0.0.1:${port}/readyz`), 90_000, 250);
    const r = await predict(`http://127.0.0.1:${port}/predict`);
    assert.equal(r.status, 200, r.text);
    assert.match(r.text, /"prediction":"(Rain|No_Rain)"/);

    const target = await waitFor('the modelserve target up in Prometheus', async () => {
      const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/targets`, { signal: AbortSignal.timeout(2000) });
      const body = (await res.json()) as { data: { activeTargets: Array<{ labels: Record<string, string>; health: string; lastError: string }> } };
      const t = body.data.activeTargets.find((a) => a.labels.job === 'modelserve');
      return t?.health === 'up' ? t : undefined;
    }, 60_000, 500);
    assert.equal(target.labels.instance, 'modelserve:8080');
    // What it scraped is modelserve's: the prediction above is counted.
    const q = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent('up{job="modelserve"}')}`);
    const result = ((await q.json()) as { data: { result: Array<{ value: [number, string] }> } }).data.result;
    assert.equal(result[0]?.value[1], '1');
    const names = (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/label/__name__/values`)).json()) as { data: string[] };
    assert.ok(names.data.some((n) => n.startsWith('modelserve_')), `no modelserve_ metric scraped: ${names.data.slice(0, 20).join(', ')}`);

    const down = await compose(['down', '--rmi', 'all', '--volumes', '--timeout', '15']);
    assert.equal(down.code, 0, down.stderr);
    const left = await run('/usr/bin/docker', ['ps', '-aq', '--filter', `label=com.docker.compose.project=${PROJECT}`]);
    assert.equal(left.stdout.trim(), '', 'no container left');
    assert.notEqual((await run('/usr/bin/docker', ['image', 'inspect', env.MODELSERVE_IMAGE ?? ''])).code, 0, 'image removed');
  });
});
