// Graceful shutdown as a platform sees it: two replicas behind nginx (the load balancer of
// bench/scale-out.ts), constant load from the load tester (stopped once both are back), each replica in turn sent SIGTERM,
// waited for, and replaced on the same port. No request may fail, and every replica must exit 0.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, killAll, startLoadtest, startNginx, startReplica, stopNginx, stopReplica, type Nginx, type Replica } from '../../bench/scale-out.js';
import { REPO_ROOT } from './docker-image.js';

const NGINX = '/usr/sbin/nginx';
const BODY = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };

describe('rolling restart behind nginx loses no request', { skip: existsSync(NGINX) ? false : `${NGINX} is not installed (apt-get install nginx-light)`, timeout: 180_000 }, () => {
  let dir = '';
  const replicas: Replica[] = [];
  let lb: Nginx | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'modelserve-rolling-'));
    const ports = [await freePort(), await freePort()];
    for (const p of ports) replicas.push(await startReplica(p, join(REPO_ROOT, 'examples')));
    lb = await startNginx(dir, ports);
  });

  after(async () => {
    if (lb) await stopNginx(lb);
    await Promise.all(replicas.map((r) => stopReplica(r, 5000)));
    killAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('nginx answers through both replicas', async () => {
    assert.ok(lb);
    const res = await fetch(`http://127.0.0.1:${lb.port}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(BODY) });
    assert.equal(res.status, 200, await res.text());
  });

  it('SIGTERM one replica at a time under load: every replica exits 0, every request succeeds', async () => {
    assert.ok(lb);
    const bodyFile = join(dir, 'body.json');
    writeFileSync(bodyFile, JSON.stringify(BODY));
    // Load (8 users) that runs until both restarts are done and a second more, then is stopped as
    // Ctrl-C stops it; bounded at 150 s. Whether the restarts happened under load is then decided by
    // the run still going when they ended, not by how long they took on this machine.
    const load = startLoadtest(`http://127.0.0.1:${lb.port}/predict`, 150, 8, bodyFile);
    const settled = load.result.then(
      (result) => ({ result, error: undefined }),
      (error: Error) => ({ result: undefined, error }),
    );
    await new Promise((r) => setTimeout(r, 1000));
    const codes: Array<number | null> = [];
    for (let i = 0; i < replicas.length; i++) {
      const { code } = await stopReplica(replicas[i]);
      codes.push(code);
      replicas[i] = await startReplica(replicas[i].port, join(REPO_ROOT, 'examples'));
    }
    await new Promise((r) => setTimeout(r, 1000));
    const loadWasRunning = load.running();
    load.stop();
    const { result: r, error } = await settled;
    assert.ok(r, `load tester: ${error?.message}`);
    assert.deepEqual(codes, [0, 0], 'each replica drained and exited 0');
    assert.ok(loadWasRunning, 'the restarts happened while the load ran (else the run proves nothing)');
    assert.ok(r.requests > 100, `requests: ${r.requests}`);
    assert.equal(r.failures, 0, `failed requests: ${JSON.stringify({ status: r.statusCounts, errors: r.errorKinds })}`);
  });
});
