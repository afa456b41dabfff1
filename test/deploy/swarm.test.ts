// The Swarm stacks and their nginx site, checked without an engine (test/container/swarm.test.ts
// deploys stack.yml on a real one-node swarm): the two stacks agree on everything but networking
// and the update order, the ports follow the task slot, nginx lists those ports, and the deploy
// settings fit the image (drain inside the stop grace period, workers = CPU limit).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { nginxSite } from '../../bench/scale-out.js';
import { REPO_ROOT, readImageSpec } from './docker-image.js';
import { AFTER_DRAIN_MS } from '../../src/server.js';

interface Service {
  image: string;
  environment: Record<string, string>;
  networks?: string[];
  ports?: Array<{ target: number; published: number; mode: string }>;
  stop_grace_period: string;
  healthcheck: Record<string, unknown>;
  deploy: {
    replicas: number;
    update_config: Record<string, unknown>;
    rollback_config: Record<string, unknown>;
    restart_policy: Record<string, unknown>;
    resources: { limits: { cpus: string; memory: string }; reservations: { cpus: string; memory: string } };
  };
}

const DIR = join(REPO_ROOT, 'deploy/swarm');
const load = (f: string) => (parse(readFileSync(join(DIR, f), 'utf8')) as { services: { modelserve: Service }; networks?: Record<string, { external?: boolean; name?: string }> });
const host = load('stack.yml');
const mesh = load('stack.mesh.yml');
const image = readImageSpec().runtime;

describe('deploy/swarm', () => {
  it('stack.yml: replicas on the host network, each on port 1809<slot>, stop-first (the new task needs the old one\'s port)', () => {
    const s = host.services.modelserve;
    assert.deepEqual(s.networks, ['hostnet']);
    assert.deepEqual(host.networks?.hostnet, { external: true, name: 'host' });
    assert.equal(s.environment.PORT, '1809{{.Task.Slot}}');
    assert.equal(s.environment.MODELSERVE_GRPC_PORT, '1819{{.Task.Slot}}', 'replicas on the host network each need their own gRPC port');
    assert.equal(s.ports, undefined);
    assert.equal(s.deploy.update_config.order, 'stop-first');
    assert.equal(s.deploy.rollback_config.order, 'stop-first');
  });

  it('stack.mesh.yml: the routing mesh publishes the image\'s port, start-first', () => {
    const s = mesh.services.modelserve;
    assert.deepEqual(s.ports, [{ target: Number(image.env.PORT), published: 8080, protocol: 'tcp', mode: 'ingress' }]);
    assert.equal(s.networks, undefined);
    assert.equal(s.environment.PORT, undefined, 'the image\'s $PORT');
    assert.equal(s.deploy.update_config.order, 'start-first');
  });

  it('both: the same image, health check, resources, restart policy and rollback-on-failure updates', () => {
    const a = host.services.modelserve;
    const b = mesh.services.modelserve;
    assert.equal(a.image, b.image);
    assert.deepEqual(a.healthcheck, b.healthcheck);
    assert.equal(a.healthcheck.test, undefined, 'the image\'s HEALTHCHECK command');
    assert.deepEqual(a.deploy.resources, b.deploy.resources);
    assert.deepEqual(a.deploy.restart_policy, b.deploy.restart_policy);
    assert.equal(a.deploy.replicas, b.deploy.replicas);
    const without = (u: Record<string, unknown>) => ({ ...u, order: undefined });
    assert.deepEqual(without(a.deploy.update_config), without(b.deploy.update_config));
    assert.deepEqual(without(a.deploy.rollback_config), without(b.deploy.rollback_config));
    for (const s of [a, b]) {
      assert.equal(s.deploy.update_config.failure_action, 'rollback');
      assert.equal(s.deploy.update_config.parallelism, 1);
      assert.equal(s.environment.MODELSERVE_WORKERS, s.deploy.resources.limits.cpus, 'one worker per CPU of the limit');
      const drainMs = Number(s.environment.MODELSERVE_DRAIN_TIMEOUT_MS) + Number(s.environment.MODELSERVE_SHUTDOWN_DELAY_MS ?? 0) + AFTER_DRAIN_MS;
      assert.ok(drainMs < Number(/^(\d+)s$/.exec(s.stop_grace_period)?.[1]) * 1000, 'drained before Swarm\'s SIGKILL');
    }
  });

  it('nginx.conf is nginxSite() of bench/scale-out.ts over the ports of slots 1..3', () => {
    const body = readFileSync(join(DIR, 'nginx.conf'), 'utf8').split('\n').filter((l) => !l.startsWith('#')).join('\n');
    const servers = [...body.matchAll(/^\s*server (\S+) max_fails/gm)].map((m) => m[1]);
    assert.deepEqual(servers, [1, 2, 3].map((slot) => `127.0.0.1:${host.services.modelserve.environment.PORT.replace('{{.Task.Slot}}', String(slot))}`));
    assert.equal(body, nginxSite('80 default_server', servers));
  });
});
