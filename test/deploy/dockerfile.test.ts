// The Dockerfile, checked without a Docker engine: linted by dockerfile-utils, held to the project's
// image rules, and replayed on the host (each stage in its own folder, RUN steps really run, the
// image's ENTRYPOINT + CMD started as the image's non-root USER) until a prediction answers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { validate, ValidationSeverity } from 'dockerfile-utils';
import { schemaFingerprint } from '../../src/config/schema-validator.js';
import { contextFiles, isIgnored, numericUser, parseDockerfile, parseDockerignore, readImageSpec, replayBuild, REPO_ROOT, type Stage } from './docker-image.js';
import { freePort } from '../helpers/net.js';
import { parse } from 'yaml';
import { parseServeOptions } from '../../src/cli/serve-options.js';
import { AFTER_DRAIN_MS, startServer } from '../../src/server.js';

const DOCKERFILE = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
const spec = readImageSpec();
const runtime = spec.runtime;

const STRICT = {
  deprecatedMaintainer: ValidationSeverity.ERROR,
  directiveCasing: ValidationSeverity.ERROR,
  emptyContinuationLine: ValidationSeverity.ERROR,
  instructionCasing: ValidationSeverity.ERROR,
  instructionCmdMultiple: ValidationSeverity.ERROR,
  instructionEntrypointMultiple: ValidationSeverity.ERROR,
  instructionHealthcheckMultiple: ValidationSeverity.ERROR,
  instructionJSONInSingleQuotes: ValidationSeverity.ERROR,
  instructionWorkdirRelative: ValidationSeverity.ERROR,
};

const WEATHER_BODY = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };

function runSteps(stage: Stage): string[] {
  return stage.steps.filter((s) => s.keyword === 'RUN').map((s) => s.content);
}

describe('Dockerfile lint (dockerfile-utils)', () => {
  it('reports no problem, with every optional rule raised to an error', () => {
    const problems = validate(DOCKERFILE, STRICT);
    assert.deepEqual(problems.map((p) => `line ${p.range.start.line + 1}: ${p.message}`), []);
  });

  it('does flag a broken Dockerfile (the linter is really running)', () => {
    const broken = 'from node:20-bookworm-slim\nWORKDIR app\nHEALTHCHECK --interval=soon CMD true\nCOPY onlyone\nEXPOSE 80/quic\n';
    const messages = validate(broken, STRICT).map((p) => p.message);
    assert.ok(messages.length >= 4, messages.join('\n'));
  });
});

describe('Dockerfile project rules', () => {
  it('is multi-stage on one slim glibc (Debian) Node base; the final stage is FROM scratch with that base copied in', () => {
    assert.ok(spec.stages.length >= 2, 'at least a build stage and a runtime stage');
    const bases = spec.stages.map((s) => s.base).filter((b) => b !== 'scratch');
    for (const b of bases) {
      assert.match(b, /^node:\d+-(bookworm|trixie|bullseye)-slim$/, `${b} (onnxruntime-node needs glibc: no alpine/musl)`);
      assert.doesNotMatch(b, /alpine|musl/);
    }
    assert.equal(new Set(bases).size, 1, 'all stages share one base (the native addon installed matches the runtime)');
    // FROM scratch + COPY --from=<a stage of that base> / /: what that stage removed (npm) is not in the image.
    if (runtime.base === 'scratch') {
      const first = runtime.steps.find((s) => s.keyword === 'COPY');
      assert.ok(first?.flags.from && first.args[0] === '/' && first.args[1] === '/', 'a FROM scratch runtime starts with COPY --from=<stage> / /');
      const from = spec.stages.find((s) => s.name === first.flags.from);
      assert.ok(from && bases.includes(from.base), `stage ${first.flags.from} is on the Node base`);
      assert.match(runtime.env.PATH ?? '', /\/usr\/local\/bin/, 'ENV PATH again: FROM scratch inherits no ENV');
    }
  });

  it("runs a Node major that package.json's engines allows and the tests' own Node is not newer than", () => {
    const base = spec.stages.find((s) => s.base !== 'scratch')?.base ?? '';
    const major = Number(/^node:(\d+)/.exec(base)?.[1]);
    const engines = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { engines?: { node?: string } }).engines?.node ?? '';
    // engines is ">=N" (N: the oldest Node the suite runs on, this machine's), the image's Node at least that.
    const oldest = Number(/^>=(\d+)$/.exec(engines)?.[1]);
    assert.ok(Number.isInteger(oldest) && major >= oldest, `engines.node ${engines} vs ${base}`);
    // npm install warns EBADENGINE on a Node engines refuses: the quick start's machine must not get that warning.
    assert.ok(Number(process.versions.node.split('.')[0]) >= oldest, `engines.node ${engines} refuses the Node the tests run on (${process.versions.node})`);
    assert.ok(major >= Number(process.versions.node.split('.')[0]), `the image's Node ${major} is older than the one the tests run on (${process.versions.node})`);
    // The replay below runs on this machine's Node, which may be older than the image's (Node 20 here):
    // it checks the steps and the start, test/container/ checks the image itself.
  });

  it('runs as a numeric non-root user (Kubernetes runAsNonRoot can verify it)', () => {
    const u = numericUser(runtime.user);
    assert.ok(u, `USER ${runtime.user} must be numeric uid[:gid]`);
    assert.notEqual(u.uid, 0);
    assert.notEqual(u.gid, 0);
  });

  it('listens on $PORT, exposes that port, stops on SIGTERM, and starts node in exec form (node is PID 1 and gets the signal)', () => {
    assert.match(runtime.env.PORT ?? '', /^\d+$/);
    assert.deepEqual(runtime.expose, [runtime.env.PORT]);
    assert.ok(runtime.stopSignal === undefined || runtime.stopSignal === 'SIGTERM');
    const start = [...(runtime.entrypoint ?? []), ...(runtime.cmd ?? [])];
    assert.equal(start[0], 'node', 'exec form: no shell in between to swallow SIGTERM');
    assert.deepEqual(start.slice(1, 3), ['bin/modelserve.js', 'serve']);
    assert.ok(!start.includes('--port'), 'the port comes from $PORT (Cloud Run/Knative set it)');
    assert.equal(runtime.env.HOST, '0.0.0.0', 'listens on all interfaces inside the container, whatever the CMD');
  });

  it('pins no setting in CMD: `docker run -e HOST=…` (deploy/swarm/stack.yml) and `-e MODELSERVE_MODEL_REPO=…` take effect', () => {
    // A flag beats its variable, so a `--host` or a MODEL_REPO in CMD silently overrode `-e`: the
    // Swarm replicas listened on every interface of the host, a mounted repository went unserved.
    const [node, script, ...args] = [...(runtime.entrypoint ?? []), ...(runtime.cmd ?? [])];
    assert.deepEqual([node, script, args[0]], ['node', 'bin/modelserve.js', 'serve']);
    const asBuilt = parseServeOptions(args.slice(1), runtime.env);
    assert.equal(asBuilt.host, '0.0.0.0');
    assert.equal(asBuilt.repo, '/app/models', 'the baked repository by default');
    const swarm = (parse(readFileSync(join(REPO_ROOT, 'deploy/swarm/stack.yml'), 'utf8')) as { services: { modelserve: { environment: Record<string, string> } } }).services.modelserve.environment;
    const overridden = parseServeOptions(args.slice(1), { ...runtime.env, HOST: swarm.HOST, MODELSERVE_MODEL_REPO: '/srv/models' });
    assert.equal(overridden.host, '127.0.0.1');
    assert.equal(overridden.repo, '/srv/models');
  });

  it('drains within the 10 s that `docker stop` (and Cloud Run) allow between SIGTERM and SIGKILL', () => {
    const drain = Number(runtime.env.MODELSERVE_DRAIN_TIMEOUT_MS);
    assert.ok(drain > 0 && drain + AFTER_DRAIN_MS < 10_000, `MODELSERVE_DRAIN_TIMEOUT_MS=${runtime.env.MODELSERVE_DRAIN_TIMEOUT_MS} + ${AFTER_DRAIN_MS} ms after the drain`);
  });

  it('has a HEALTHCHECK (exec form) on a probe endpoint that starts no node process, with a start period for the warm-up', () => {
    assert.ok(runtime.healthcheck, 'HEALTHCHECK missing');
    assert.deepEqual(runtime.healthcheck.cmd.slice(0, 1), ['bash'], 'bash /dev/tcp: the slim image has no curl/wget, and node costs too much at full load');
    const script = readFileSync(join(REPO_ROOT, 'deploy/docker/healthcheck.sh'), 'utf8');
    assert.ok(runtime.steps.some((s) => s.keyword === 'COPY' && s.args[0] === 'deploy/docker/healthcheck.sh'), 'the script is copied into the image');
    assert.match(script, /\/readyz/);
    assert.match(script, /\$\{PORT/);
    assert.ok(runtime.healthcheck.flags['start-period'], '--start-period');
  });

  it("the HEALTHCHECK's start period is the startup probes' budget in deploy/ (a slow model load is not marked unhealthy by Docker or Swarm where Kubernetes waits)", () => {
    const seconds = (d: string) => Number(/^(\d+)s$/.exec(d)?.[1]);
    const startPeriod = seconds(runtime.healthcheck?.flags['start-period'] ?? '');
    for (const file of ['deploy/kubernetes/deployment.yaml', 'deploy/knative/service.yaml', 'deploy/kserve/cluster-serving-runtime.yaml']) {
      const text = readFileSync(join(REPO_ROOT, file), 'utf8');
      const probe = /startupProbe:[^\n]*\n(?:[ \t]+.*\n)*?[ \t]+periodSeconds: (\d+)\n(?:[ \t]+.*\n)*?[ \t]+failureThreshold: (\d+)/.exec(text);
      assert.ok(probe, `${file}: a startupProbe with periodSeconds and failureThreshold`);
      assert.equal(startPeriod, Number(probe[1]) * Number(probe[2]), `${file}: startupProbe budget vs HEALTHCHECK --start-period=${startPeriod}s`);
    }
    for (const file of ['deploy/swarm/stack.yml', 'deploy/swarm/stack.mesh.yml']) {
      const stack = parse(readFileSync(join(REPO_ROOT, file), 'utf8')) as { services: { modelserve: { healthcheck: { start_period: string } } } };
      assert.equal(seconds(stack.services.modelserve.healthcheck.start_period), startPeriod, `${file}: healthcheck.start_period`);
    }
  });

  it('the HEALTHCHECK probes where the server listens: $HOST when it is one address (-e HOST=<container IP>), loopback for 0.0.0.0 and ::, on $PORT', async () => {
    // It probed 127.0.0.1 whatever HOST said: a container listening on its own IP only was marked unhealthy.
    const script = join(REPO_ROOT, 'deploy/docker/healthcheck.sh');
    // Not spawnSync: the server runs in this process and must answer while the probe waits.
    const probe = (env: Record<string, string>) => new Promise<number | null>((resolve) => {
      spawn('bash', [script], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: 'ignore', timeout: 10_000 }).once('exit', resolve);
    });
    for (const host of ['127.0.0.2', '::1', '0.0.0.0', '::']) {
      const server = await startServer({ repo: join(REPO_ROOT, 'examples/weather'), host, port: 0, grpcPort: 0, workers: 0 });
      try {
        const port = new URL(server.url).port;
        assert.equal(await probe({ HOST: host, PORT: port }), 0, `HOST=${host}`);
        if (host === '127.0.0.2') assert.notEqual(await probe({ HOST: '127.0.0.3', PORT: port }), 0, 'the check can fail');
      } finally {
        await server.shutdown();
      }
    }
  });

  it('installs production dependencies only (in the stage the runtime copies node_modules from), and copies no sources or tests into the runtime', () => {
    const copies = runtime.steps.filter((s) => s.keyword === 'COPY');
    const modules = copies.filter((c) => c.args.slice(0, -1).some((a) => /node_modules/.test(a)));
    assert.ok(modules.length >= 1, 'the runtime gets node_modules');
    for (const c of modules) {
      const from = spec.stages.find((s) => s.name === c.flags.from);
      assert.ok(from, `line ${c.line}: node_modules come from a stage of this Dockerfile`);
      const installs = runSteps(from).filter((r) => /\bnpm (ci|install|i)\b/.test(r));
      assert.ok(installs.length >= 1, `stage ${from.name} installs its dependencies`);
      for (const r of installs) {
        assert.match(r, /--omit=dev/, r);
        assert.match(r, /--ignore-scripts/, `${r} (prepare would need typescript)`);
        assert.match(r, /verify-install\.sh/, `${r}: a build whose npm ci installed nothing must fail`);
      }
      for (const r of runSteps(from)) assert.doesNotMatch(r, /\b(typescript|tsc|eslint)\b/, r);
    }
    assert.ok(!runSteps(runtime).some((r) => /\bnpm\b/.test(r)), 'no npm in the runtime stage');
    for (const c of copies) {
      for (const s of c.args.slice(0, -1)) assert.ok(!/^(\.\/)?(src|test|bench)(\/|$)/.test(s), `line ${c.line}: ${s} is source, not runtime`);
    }
    assert.ok(copies.some((c) => c.flags.from && c.args[0].endsWith('dist/src')), 'the compiled dist/src comes from the build stage');
  });

  it('every npm ci is followed by verify-install.sh, which fails on an empty node_modules', () => {
    for (const s of spec.stages) {
      for (const r of runSteps(s).filter((x) => /\bnpm ci\b/.test(x))) assert.match(r, /npm ci[^&]*&&\s*sh deploy\/docker\/verify-install\.sh/, `stage ${s.name}: ${r}`);
    }
    const empty = mkdtempSync(join(tmpdir(), 'modelserve-verify-'));
    try {
      cpSync(join(REPO_ROOT, 'package.json'), join(empty, 'package.json'));
      cpSync(join(REPO_ROOT, 'package-lock.json'), join(empty, 'package-lock.json'));
      const r = spawnSync('sh', [join(REPO_ROOT, 'deploy/docker/verify-install.sh'), '--omit=dev'], { cwd: empty, encoding: 'utf8' });
      assert.notEqual(r.status, 0, 'an install that installed nothing passes verify-install.sh');
      assert.match(r.stderr, /npm ci did not really install/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
    const ok = spawnSync('sh', [join(REPO_ROOT, 'deploy/docker/verify-install.sh')], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(ok.status, 0, `the checkout's own node_modules: ${ok.stderr}`);
  });

  it('copies .npmrc (the project npm settings) before every npm ci', () => {
    for (const s of spec.stages) {
      const npmAt = s.steps.findIndex((x) => x.keyword === 'RUN' && /\bnpm ci\b/.test(x.content));
      if (npmAt < 0) continue;
      const npmrcAt = s.steps.findIndex((x) => x.keyword === 'COPY' && x.args.slice(0, -1).includes('.npmrc'));
      assert.ok(npmrcAt >= 0 && npmrcAt < npmAt, `stage ${s.name}: COPY .npmrc before npm ci`);
    }
  });

  it('.dockerignore keeps node_modules, dist, .git and secrets out of the build context, but keeps what the image needs', () => {
    const files = contextFiles();
    for (const f of files) {
      assert.doesNotMatch(f, /(^|\/)node_modules\//, f);
      assert.doesNotMatch(f, /^(dist|\.git)\//, f);
      assert.doesNotMatch(f, /(^|\/)\.env(\.|$)/, f);
    }
    for (const need of ['package.json', 'package-lock.json', '.npmrc', 'tsconfig.json', 'bin/modelserve.js']) assert.ok(files.has(need), need);
    assert.ok([...files].some((f) => f.startsWith('src/')));
    assert.ok([...files].some((f) => f.startsWith('examples/')), 'the baked model repository');
  });

  it('.dockerignore keeps .git and .env files out at any depth: a baked model repository (MODEL_REPO) is copied whole', () => {
    // A context with the project's .dockerignore and what an operator's folders may hold. The old rules
    // (.git, .env, .env.*) matched at the context root only: examples/weather/.env and a model
    // repository's own .git (every version of every model, with LFS) went into the image.
    const ctx = mkdtempSync(join(tmpdir(), 'modelserve-context-'));
    try {
      cpSync(join(REPO_ROOT, '.dockerignore'), join(ctx, '.dockerignore'));
      const files = ['.env', 'examples/weather/.env', 'examples/weather/model.onnx', 'my-models/.env.production', 'my-models/.git/lfs/objects/ab/cd/abcd', 'my-models/m/.git/HEAD', 'my-models/m/model.onnx', 'my-models/m/model.yaml'];
      for (const f of files) {
        mkdirSync(join(ctx, dirname(f)), { recursive: true });
        writeFileSync(join(ctx, f), '');
      }
      assert.deepEqual([...contextFiles(ctx)].sort(), ['examples/weather/model.onnx', 'my-models/m/model.onnx', 'my-models/m/model.yaml']);
    } finally {
      rmSync(ctx, { recursive: true, force: true });
    }
  });

  it('.dockerignore matching follows Docker (parents match, last rule wins, ** spans folders)', () => {
    const rules = parseDockerignore('dist\n**/node_modules\n*.md\n!README.md\ndocs/*.tmp\n');
    assert.equal(isIgnored('dist/src/x.js', rules), true);
    assert.equal(isIgnored('a/b/node_modules/x/index.js', rules), true);
    assert.equal(isIgnored('node_modules/x', rules), true);
    assert.equal(isIgnored('NOTES.md', rules), true);
    assert.equal(isIgnored('README.md', rules), false);
    assert.equal(isIgnored('examples/weather/README.md', rules), false, '*.md is anchored at the context root');
    assert.equal(isIgnored('docs/a.tmp', rules), true);
    assert.equal(isIgnored('docs/sub/a.tmp', rules), false);
    assert.equal(isIgnored('src/dist.ts', rules), false);
  });

  it('the parser expands ARG defaults in FROM and COPY', () => {
    const s = parseDockerfile('ARG BASE=node:20-bookworm-slim\nFROM ${BASE} AS x\nARG REPO=examples\nCOPY ${REPO} ./models\n');
    assert.equal(s.runtime.base, 'node:20-bookworm-slim');
    assert.deepEqual(s.runtime.steps.at(-1)?.args, ['examples', './models']);
  });
});

// ---- replay ----------------------------------------------------------------------------------------


async function waitReady(url: string, child: ChildProcess, log: () => string, ms = 90_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode} before it was ready:\n${log()}`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`not ready after ${ms} ms:\n${log()}`);
}

describe('Dockerfile replayed on the host (no Docker engine): build stages, then the image started as its USER', { timeout: 240_000 }, () => {
  let dir = '';
  let server: ChildProcess | undefined;
  let output = '';
  let port = 0;
  let runtimeRoot = '';
  const user = numericUser(runtime.user);
  let runAs: { uid: number; gid: number } | undefined;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'modelserve-image-'));
    chmodSync(dir, 0o755); // the image's non-root user walks into it
  });

  after(async () => {
    if (server && server.exitCode === null && server.signalCode === null) {
      server.kill('SIGKILL');
      await new Promise((r) => server?.once('exit', r));
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs every stage: npm ci + build, npm ci --omit=dev --ignore-scripts + prune, the runtime assembled FROM scratch', () => {
    const steps: string[] = [];
    try {
      // Same installs as in Docker; the local npm cache stands in for the BuildKit cache mount.
      replayBuild(spec, { dir, runEnv: { npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false' }, onStep: (s, st) => steps.push(`${s.name}:${st.line} ${st.keyword}`) });
    } catch (err) {
      const msg = (err as Error).message;
      if (/ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|network/i.test(msg)) assert.fail(`npm needs the registry (or its packages in the local cache) and could not reach it:\n${msg}`);
      throw err;
    }
    runtimeRoot = join(dir, runtime.name);
    const app = join(runtimeRoot, runtime.workdir);
    assert.ok(existsSync(join(app, 'dist/src/cli/main.js')), 'dist/src compiled in the build stage and copied');
    // The build's precompiled config validator is in the image and loads there (the ajv runtime
    // pieces it requires survived the prune), built from this schema, options and ajv.
    const imageValidator = createRequire(join(app, 'dist/src/config/index.js'))('./config-schema-validator.cjs') as { fingerprint?: string };
    assert.equal(imageValidator.fingerprint, schemaFingerprint(), "the image's config validator was built from this schema");
    assert.ok(existsSync(join(app, 'node_modules/onnxruntime-node')), 'production dependency installed');
    assert.ok(!existsSync(join(app, 'node_modules/typescript')), 'no devDependency in the runtime stage');
    assert.ok(!existsSync(join(app, 'node_modules/eslint')), 'no devDependency in the runtime stage');
    assert.ok(!existsSync(join(app, 'src')), 'no TypeScript sources in the runtime stage');
    assert.ok(!existsSync(join(app, 'node_modules/onnxruntime-node/bin/napi-v6/win32')), 'foreign onnxruntime binaries pruned');
    assert.ok(!existsSync(join(app, 'node_modules/onnxruntime-node/bin/napi-v6/linux/arm64')) || process.arch === 'arm64', 'other-arch onnxruntime binaries pruned');
    assert.ok(!existsSync(join(app, 'node_modules/@types')), 'no type declarations');
    assert.ok(!existsSync(join(app, 'node_modules/protobufjs/cli')) && !existsSync(join(app, 'node_modules/onnx-proto/node_modules/protobufjs/cli')), "protobufjs's CLI pruned, in each copy");
    assert.ok(statSync(join(app, 'models')).isDirectory(), 'model repository baked in');
  });

  it('starts ENTRYPOINT + CMD as the non-root USER; /readyz turns 200 and POST /predict answers', async () => {
    assert.ok(runtimeRoot, 'the build replay must have passed');
    assert.ok(user, 'numeric USER');
    // As root (CI, containers) the server starts as the image's USER; otherwise as ourselves, who
    // are not root either.
    const as = process.getuid?.() === 0 ? user : { uid: process.getuid?.() ?? user.uid, gid: process.getgid?.() ?? user.gid };
    assert.notEqual(as.uid, 0);
    port = await freePort();
    // gRPC's default 8001 may be taken on the host (a server the user runs): a free port too.
    const grpcPort = await freePort();
    const [cmd, ...args] = [...(runtime.entrypoint ?? []), ...(runtime.cmd ?? [])];
    // Absolute paths inside the image live under the runtime stage's folder here.
    const hostArgs = args.map((a) => (a.startsWith('/') ? join(runtimeRoot, a) : a));
    const hostEnv = Object.fromEntries(Object.entries(runtime.env).map(([k, v]) => [k, v.startsWith('/') && existsSync(join(runtimeRoot, v)) ? join(runtimeRoot, v) : v]));
    server = spawn(cmd === 'node' ? process.execPath : cmd, hostArgs, {
      cwd: join(runtimeRoot, runtime.workdir),
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent', ...hostEnv, PORT: String(port), MODELSERVE_GRPC_PORT: String(grpcPort) },
      uid: as.uid,
      gid: as.gid,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stdout?.on('data', (d: Buffer) => { output += d.toString(); });
    server.stderr?.on('data', (d: Buffer) => { output += d.toString(); });
    await waitReady(`http://127.0.0.1:${port}/readyz`, server, () => output.slice(-4000));

    const res = await fetch(`http://127.0.0.1:${port}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(WEATHER_BODY) });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.match(text, /Rain|No_Rain|prediction/i, text);
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);

    // The server really runs as the image's user.
    const status = readFileSync(`/proc/${server.pid}/status`, 'utf8');
    assert.equal(Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]), as.uid, 'real uid of the server process');
    runAs = as;
  });

  it("the image's HEALTHCHECK command succeeds against the running server, as the same user", () => {
    assert.ok(server && runtime.healthcheck && runAs);
    const { uid, gid } = runAs;
    const [cmd, ...imageArgs] = runtime.healthcheck.cmd;
    const args = imageArgs.map((a) => (a.startsWith('/') ? join(runtimeRoot, a) : a));
    const r = spawnSync(cmd === 'node' ? process.execPath : cmd, args, { env: { PATH: process.env.PATH ?? '', ...runtime.env, PORT: String(port) }, uid, gid, timeout: 10_000 });
    assert.equal(r.status, 0, String(r.stderr));
    // And it fails when nothing listens there (the check can fail).
    const bad = spawnSync(cmd === 'node' ? process.execPath : cmd, args, { env: { PATH: process.env.PATH ?? '', ...runtime.env, PORT: '1' }, uid, gid, timeout: 10_000 });
    assert.notEqual(bad.status, 0);
  });

  it("an events file the image's USER cannot write (in /app, root's) is refused at start, naming the file: it was accepted and every event failed", { skip: process.getuid?.() !== 0 && 'needs root to run as the image user' }, () => {
    assert.ok(runtimeRoot && runAs);
    const [cmd, ...args] = [...(runtime.entrypoint ?? []), ...(runtime.cmd ?? [])];
    const events = join(runtimeRoot, runtime.workdir, 'events.jsonl');
    const r = spawnSync(cmd === 'node' ? process.execPath : cmd, args.map((a) => (a.startsWith('/') ? join(runtimeRoot, a) : a)), {
      cwd: join(runtimeRoot, runtime.workdir),
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent', ...runtime.env, MODELSERVE_MODEL_REPO: join(runtimeRoot, runtime.workdir, 'models'), PORT: '0', MODELSERVE_GRPC_PORT: '0', MODELSERVE_EVENTS_FILE: events },
      uid: runAs.uid,
      gid: runAs.gid,
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(r.status, 2, `exit 2 (invalid options): ${r.stdout}${r.stderr}`.slice(-2000));
    assert.match(r.stderr, new RegExp(`\\$MODELSERVE_EVENTS_FILE: ${events} cannot be created in ${join(runtimeRoot, runtime.workdir)} \\(permission denied to uid ${runAs.uid}\\)`));
  });

  it("PORT=80 as the image's USER (the host network, a Kubernetes pod without NET_BIND_SERVICE) fails with one line saying why and what to do, not Node's 'listen EACCES' alone", { skip: process.getuid?.() !== 0 && 'needs root to run as the image user' }, () => {
    assert.ok(runtimeRoot && runAs);
    const [cmd, ...args] = [...(runtime.entrypoint ?? []), ...(runtime.cmd ?? [])];
    const r = spawnSync(cmd === 'node' ? process.execPath : cmd, args.map((a) => (a.startsWith('/') ? join(runtimeRoot, a) : a)), {
      cwd: join(runtimeRoot, runtime.workdir),
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent', ...runtime.env, HOST: '127.0.0.1', MODELSERVE_MODEL_REPO: join(runtimeRoot, runtime.workdir, 'models'), PORT: '80', MODELSERVE_GRPC_PORT: '0', MODELSERVE_WORKERS: '0', LOG_LEVEL: 'warn' },
      uid: runAs.uid,
      gid: runAs.gid,
      encoding: 'utf8',
      timeout: 30_000,
    });
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('modelserve'));
    assert.equal(r.status, 1, r.stderr.slice(-2000));
    assert.deepEqual(lines, [`modelserve: failed to start: listen EACCES: permission denied 127.0.0.1:80 (a port below 1024 needs a privilege uid ${runAs.uid} does not have: listen on 1024 or above, e.g. PORT=8080, and publish that as 80: docker run -p 80:8080, a Kubernetes Service's port: 80)`]);
  });

  it('STOPSIGNAL (SIGTERM) makes the server drain and exit 0', async () => {
    assert.ok(server);
    const exited = new Promise<number | null>((resolve) => server?.once('exit', (code) => resolve(code)));
    server.kill((runtime.stopSignal ?? 'SIGTERM') as NodeJS.Signals);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), 30_000); })]);
    clearTimeout(timer);
    assert.equal(code, 0, output.slice(-2000));
  });
});
