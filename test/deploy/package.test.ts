// modelserve installed outside the clone, as README's "Install" shows, run as written: `npm pack`,
// installed into an empty folder (per project, with npx) and globally, and `npm install -g .` from a
// checkout. Then the installed CLI serves the example models (predict, Swagger UI and its assets),
// load-tests them, and stops cleanly. Global installs go to a temporary prefix (npm_config_prefix),
// the tarball to a temporary folder (npm_config_pack_destination): nothing outside is touched.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { EXAMPLES, REPO, tempDir } from '../helpers/paths.js';
import { freePort } from '../helpers/net.js';

const README = readFileSync(join(REPO, 'README.md'), 'utf8');
const PKG = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string; files: string[] };
const BODY = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };

/** The fenced block right after `<!-- readme-example: NAME -->`. */
function example(name: string): string {
  const at = README.indexOf(`<!-- readme-example: ${name} -->`);
  assert.ok(at >= 0, `README has no example ${name}`);
  const m = /```\w*\n([\s\S]*?)```/.exec(README.slice(at));
  assert.ok(m, `no code block after example ${name}`);
  return m[1];
}

function sh(script: string, cwd: string, env: NodeJS.ProcessEnv, timeoutMs = 240_000): string {
  const r = spawnSync('bash', ['-euo', 'pipefail', '-c', script], { cwd, env, encoding: 'utf8', timeout: timeoutMs });
  assert.equal(r.status, 0, `${script}\nexited ${r.status ?? r.signal}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-4000)}`);
  return r.stdout;
}

describe('installable outside the clone (README "Install", run as written)', { timeout: 600_000 }, () => {
  let dir = '';
  let env: NodeJS.ProcessEnv = {};
  let project = '';

  before(() => {
    dir = tempDir('modelserve-pkg-');
    const prefix = join(dir, 'global');
    mkdirSync(prefix);
    env = {
      ...process.env,
      npm_config_prefix: prefix,
      npm_config_pack_destination: dir,
      npm_config_update_notifier: 'false',
      npm_config_prefer_offline: 'true',
      PATH: `${join(prefix, 'bin')}:${process.env.PATH ?? ''}`,
    };
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('npm pack (in the checkout) holds the built CLI and nothing else', () => {
    const lines = example('install-package').split('\n').filter((l) => l.trim() && !l.startsWith('#'));
    assert.match(lines[0], /^npm pack\b/);
    sh(lines[0], REPO, env);
    const tgz = join(dir, `modelserve-${PKG.version}.tgz`);
    assert.ok(existsSync(tgz), tgz);
    const files = sh(`tar -tzf ${tgz}`, dir, env).trim().split('\n').map((f) => f.replace(/^package\//, '')).sort();
    assert.ok(files.includes('bin/modelserve.js'));
    assert.ok(files.includes('dist/src/cli/main.js'));
    assert.ok(files.includes('dist/src/workers/worker.js'), 'the worker thread entry');
    assert.ok(files.includes('package.json') && files.includes('README.md'));
    assert.ok(files.includes('proto/grpc_service.proto'), 'the gRPC front door reads its .proto at run time');
    assert.ok(files.includes('dist/src/config/config-schema-validator.cjs'), "the build's precompiled config validator");
    for (const f of files) assert.match(f, /^(bin\/modelserve\.js|dist\/src\/.*\.js|dist\/src\/config\/config-schema-validator\.cjs|proto\/[\w-]+\.proto|package\.json|README\.md|LICENSE)$/, `${f} does not belong in the package`);
  });

  it('per project and globally from the tarball: npx modelserve --version, modelserve --version', () => {
    const lines = example('install-package').split('\n').filter((l) => l.trim() && !l.startsWith('#'));
    const out = sh(lines.slice(1).join('\n'), dir, env, 480_000);
    const versions = out.trim().split('\n').filter((l) => /^\d+\.\d+\.\d+/.test(l));
    assert.deepEqual(versions, [PKG.version, PKG.version], out);
    project = join(dir, 'my-service');
    assert.ok(existsSync(join(project, 'node_modules/modelserve/dist/src/cli/main.js')));
    // ONNXRUNTIME_NODE_INSTALL=skip: onnxruntime-node's postinstall did not fetch CUDA libraries.
    assert.ok(!existsSync(join(project, 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so')));
  });

  it('the installed package serves a model repository (predict, Swagger UI with its assets), load-tests it, and drains on SIGTERM', async () => {
    assert.ok(project, 'installed');
    const models = join(dir, 'models');
    cpSync(EXAMPLES, models, { recursive: true });
    const port = await freePort();
    // Its own process group: npm exec does not pass SIGTERM on to the command it runs (it exits and
    // leaves the server running), so the stop below signals the group, as a terminal's Ctrl-C does.
    const server = spawn('npx', ['modelserve', 'serve', models, '--port', String(port), '--workers', '1'], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let log = '';
    server.stdout?.on('data', (d: Buffer) => { log += d.toString(); });
    server.stderr?.on('data', (d: Buffer) => { log += d.toString(); });
    const groupGone = async () => {
      for (let i = 0; i < 150; i++) {
        try {
          process.kill(-(server.pid ?? 0), 0);
        } catch {
          return true;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      return false;
    };
    try {
      const base = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + 60_000;
      for (;;) {
        const ok = await fetch(`${base}/readyz`).then((r) => r.status === 200, () => false);
        if (ok) break;
        assert.ok(Date.now() < deadline && server.exitCode === null, `not ready:\n${log}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const p = await fetch(`${base}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(BODY) });
      assert.equal(p.status, 200);
      assert.match(await p.text(), /"prediction":"(Rain|No_Rain)"/);
      const docs = await fetch(`${base}/docs/`);
      const html = await docs.text();
      assert.equal(docs.status, 200);
      const asset = /src="\.?\/?([^"]*swagger-ui-bundle\.js)"/.exec(html)?.[1];
      assert.ok(asset, html.slice(0, 500));
      const js = await fetch(new URL(asset, `${base}/docs/`));
      assert.equal(js.status, 200, 'Swagger UI assets ship with the package');
      assert.ok((await js.arrayBuffer()).byteLength > 100_000);

      const lt = spawnSync('npx', ['modelserve', 'loadtest', `${base}/predict`, '--data', JSON.stringify(BODY), '--users', '4', '--requests', '400', '--json', '--quiet'], { cwd: project, env, encoding: 'utf8', timeout: 60_000 });
      assert.equal(lt.status, 0, lt.stderr);
      const result = JSON.parse(lt.stdout) as { requests: number; failures: number };
      assert.equal(result.requests, 400);
      assert.equal(result.failures, 0);
    } finally {
      process.kill(-(server.pid ?? 0), 'SIGTERM');
    }
    const gone = await groupGone();
    if (!gone) process.kill(-(server.pid ?? 0), 'SIGKILL');
    assert.ok(gone, `the server did not stop within 15 s:\n${log}`);
    assert.match(log, /drained: every accepted request answered/, log);
  });

  it('from a checkout: npm install && npm install -g . puts modelserve on the PATH', () => {
    // A copy of the checkout's tracked files (the working tree as it is), so that `npm install` and the
    // build run there and not in the checkout the tests run from.
    const checkout = join(dir, 'checkout');
    const files = sh('git ls-files -co --exclude-standard -z | tr "\\0" "\\n"', REPO, env).trim().split('\n').filter((f) => existsSync(join(REPO, f)));
    for (const f of files) cpSync(join(REPO, f), join(checkout, f), { recursive: true });
    // node_modules as hard links to the checkout's (installed from the same lockfile): `npm install`
    // then finds it up to date and only builds, instead of fetching 250 packages again.
    sh(`cp -al ${JSON.stringify(join(REPO, 'node_modules'))} ${JSON.stringify(join(checkout, 'node_modules'))}`, dir, env);
    const out = sh(`${example('install-checkout').trim()}\n`, checkout, env, 480_000); // allowScripts in package.json keeps onnxruntime's download off
    assert.ok(out.trim().split('\n').includes(PKG.version), out.slice(-2000));
    assert.ok(existsSync(join(env.npm_config_prefix ?? '', 'bin/modelserve')));
  });
});
