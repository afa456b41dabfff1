// The one-machine deployment files in deploy/scale-out/: the nginx site must be exactly what the
// scale-out benchmark and the rolling-restart test measure, and nginx must accept it; the systemd
// template unit must pass `systemd-analyze verify` and agree with the server's options; the
// rolling-restart script must be valid sh.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, nginxSite } from '../../bench/scale-out.js';
import { REPO_ROOT } from './docker-image.js';
import { DEFAULTS } from '../../src/config/schema.js';

const DIR = join(REPO_ROOT, 'deploy/scale-out');
const NGINX = '/usr/sbin/nginx';
const site = readFileSync(join(DIR, 'modelserve.nginx.conf'), 'utf8');
const unit = readFileSync(join(DIR, 'modelserve@.service'), 'utf8');

/** `Key=value` lines of a systemd unit, by section (repeated keys keep every value). */
function unitKeys(text: string): Record<string, Array<[string, string]>> {
  const out: Record<string, Array<[string, string]>> = {};
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) {
      section = s[1];
      out[section] = [];
      continue;
    }
    const eq = line.indexOf('=');
    out[section].push([line.slice(0, eq), line.slice(eq + 1)]);
  }
  return out;
}

describe('deploy/scale-out: nginx site, systemd unit, rolling restart script', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'modelserve-vm-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('modelserve.nginx.conf is nginxSite() of bench/scale-out.ts (what the benchmark measures)', () => {
    const body = site.split('\n').filter((l) => !l.startsWith('#')).join('\n');
    const servers = [...body.matchAll(/^\s*server (\S+) max_fails/gm)].map((m) => m[1]);
    const listen = /^\s*listen (.+) backlog=/m.exec(body)?.[1] ?? '';
    assert.ok(servers.length >= 2, 'at least two replicas');
    assert.equal(body, nginxSite(listen, servers));
    assert.match(body, /proxy_next_upstream error timeout http_502 http_503 non_idempotent;/);
  });

  it('nginx waits for an answer longer than a model\'s default queue timeout (overload is modelserve\'s 504, not a re-sent POST)', () => {
    // A request may wait in a model's queue up to queue.timeout_ms and then gets modelserve's 504
    // with Retry-After. Were proxy_read_timeout shorter, nginx would time out first and, with
    // `timeout non_idempotent` in proxy_next_upstream, send the same POST to the next (as busy)
    // replica while the first still works on it: overload multiplied instead of answered.
    for (const [name, text] of [['modelserve.nginx.conf', site], ['nginxSite()', nginxSite('80', ['127.0.0.1:8001'])]]) {
      const m = /proxy_read_timeout (\d+)s;/.exec(text);
      assert.ok(m, `${name}: proxy_read_timeout in seconds`);
      assert.ok(Number(m[1]) * 1000 > DEFAULTS.queue.timeoutMs, `${name}: proxy_read_timeout ${m[1]} s <= the default queue.timeout_ms ${DEFAULTS.queue.timeoutMs} ms`);
    }
  });

  it('nginx -t accepts it (included in a minimal main config)', { skip: existsSync(NGINX) ? false : `${NGINX} is not installed` }, async () => {
    chmodSync(tmp, 0o755);
    for (const d of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(tmp, d));
    // nginx -t binds the listen address: the site as is, on a free loopback port instead of :80.
    const port = await freePort();
    const testable = site.replace(/^(\s*listen )\d+/m, `$1127.0.0.1:${port}`);
    assert.notEqual(testable, site);
    writeFileSync(join(tmp, 'modelserve.conf'), testable);
    const conf = join(tmp, 'nginx.conf');
    const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((d) => `  ${d}_temp_path ${join(tmp, d)};`).join('\n');
    writeFileSync(conf, `pid ${tmp}/nginx.pid;\nevents {}\nhttp {\n  access_log off;\n${temp}\n  include ${join(tmp, 'modelserve.conf')};\n}\n`);
    const asRoot = process.getuid?.() === 0;
    if (asRoot) for (const p of [tmp, conf, join(tmp, 'modelserve.conf')]) chownSync(p, 65534, 65534);
    const r = spawnSync(NGINX, ['-t', '-p', tmp, '-c', conf, '-e', join(tmp, 'error.log')], { encoding: 'utf8', ...(asRoot ? { uid: 65534, gid: 65534 } : {}) });
    assert.equal(r.status, 0, r.stderr);
    // …and rejects a broken one (the check is real).
    writeFileSync(join(tmp, 'modelserve.conf'), testable.replace('least_conn;', 'least_conn'));
    const bad = spawnSync(NGINX, ['-t', '-p', tmp, '-c', conf, '-e', join(tmp, 'error.log')], { encoding: 'utf8', ...(asRoot ? { uid: 65534, gid: 65534 } : {}) });
    assert.notEqual(bad.status, 0);
  });

  const analyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));
  it('systemd-analyze verify reports nothing for modelserve@.service', { skip: analyze ? false : 'systemd-analyze is not installed' }, () => {
    const file = join(tmp, 'modelserve@8001.service');
    writeFileSync(file, unit);
    const r = spawnSync(analyze as string, ['verify', '--man=no', file], { encoding: 'utf8', timeout: 60_000 });
    const problems = `${r.stdout}${r.stderr}`.split('\n').filter((l) => /Unknown (key|section)|Invalid|not executable|Failed to parse|bad-setting/i.test(l));
    assert.deepEqual(problems, []);
    // …and does report a misspelled key (the check is real).
    writeFileSync(file, unit.replace('KillSignal=', 'KilSignal='));
    const bad = spawnSync(analyze as string, ['verify', '--man=no', file], { encoding: 'utf8', timeout: 60_000 });
    assert.match(`${bad.stdout}${bad.stderr}`, /Unknown key 'KilSignal'/);
  });

  it('the unit runs one worker per CPU of quota, stops with SIGTERM and drains before systemd kills', () => {
    const svc = Object.fromEntries(unitKeys(unit).Service.filter(([k]) => k !== 'Environment'));
    const env = Object.fromEntries(unitKeys(unit).Service.filter(([k]) => k === 'Environment').map(([, v]) => v.split('=', 2) as [string, string]));
    assert.equal(env.PORT, '%i', 'the instance name is the port');
    assert.equal(env.HOST, '127.0.0.1', 'only nginx reaches the replicas');
    assert.equal(Number(svc.CPUQuota.replace('%', '')) / 100, Number(env.MODELSERVE_WORKERS));
    assert.equal(svc.KillSignal, 'SIGTERM');
    assert.ok(Number(svc.TimeoutStopSec) * 1000 > Number(env.MODELSERVE_DRAIN_TIMEOUT_MS) + Number(env.MODELSERVE_SHUTDOWN_DELAY_MS ?? 0));
    assert.match(svc.ExecStart, /bin\/modelserve\.js serve /);
    assert.ok(svc.User && svc.User !== 'root', 'non-root');
    // Replicas share one host: each listening for gRPC on the default port (8001) would clash with
    // each other and with modelserve@8001's HTTP port, and a replica that cannot listen exits 1.
    assert.equal(env.MODELSERVE_GRPC_PORT, '0', 'gRPC off: replicas on one host cannot share --grpc-port');
  });

  it('rolling-restart.sh is valid sh, restarts one replica at a time and waits for /readyz', () => {
    const script = join(DIR, 'rolling-restart.sh');
    const r = spawnSync('sh', ['-n', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const text = readFileSync(script, 'utf8');
    assert.match(text, /systemctl restart "modelserve@\$port"/);
    assert.match(text, /\/readyz/);
  });
});
