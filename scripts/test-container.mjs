// `npm run test:container`: the image, registry, Swarm and Compose tests against a real Docker engine.
// Usage: node scripts/test-container.mjs [substring-filter ...]   (after `npm run build`)
//
// 1. Debian packages: docker.io, docker-registry, docker-compose, debootstrap, nginx-light
//    (scripts/system-deps.sh container).
// 2. The engine: used as it is when `docker info` answers; otherwise dockerd is started here, in
//    the background, and stopped at the end (only then).
// 3. The base image (node:22-bookworm-slim): used when the engine has it; else pulled; where Docker
//    Hub is out of reach, built offline by ../shared/docker/make-node-base-image.sh (~3 min).
// 4. dist/test/container/*.test.js, one file at a time (they share the engine and the machine's 2 cores).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const REPO = resolve(new URL('..', import.meta.url).pathname);
const filters = process.argv.slice(2);
const started = Date.now();
const log = (msg) => console.error(`test:container [${((Date.now() - started) / 1000).toFixed(0)} s] ${msg}`);

const deps = spawnSync('bash', [join(REPO, 'scripts/system-deps.sh'), 'container'], { stdio: 'inherit' });
if (deps.status !== 0) process.exit(deps.status ?? 1);

// Debian's client talks to the daemon's built-in BuildKit (a newer client without buildx would not).
const DOCKER = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
const engineAnswers = () => spawnSync(DOCKER, ['info', '--format', '{{.ServerVersion}}'], { stdio: 'ignore' }).status === 0;

let dockerd;
async function startEngine() {
  if (engineAnswers()) return log('using the running Docker engine');
  const logFile = join(tmpdir(), `modelserve-dockerd-${process.pid}.log`);
  log(`starting dockerd (log: ${logFile})`);
  const out = openSync(logFile, 'a');
  dockerd = spawn('dockerd', [], { stdio: ['ignore', out, out], detached: true });
  for (let i = 0; i < 120; i++) {
    if (engineAnswers()) return log('dockerd answers');
    if (dockerd.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`dockerd did not start:\n${readFileSync(logFile, 'utf8').slice(-3000)}`);
}

async function stopEngine() {
  if (!dockerd || dockerd.exitCode !== null) return;
  log('stopping the dockerd this run started');
  const exited = new Promise((r) => dockerd.once('exit', r));
  dockerd.kill('SIGTERM');
  const timer = setTimeout(() => dockerd.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

function baseImage() {
  const text = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
  return /^ARG NODE_IMAGE=(\S+)/m.exec(text)?.[1] ?? 'node:22-bookworm-slim';
}

function ensureBaseImage() {
  const image = baseImage();
  if (spawnSync(DOCKER, ['image', 'inspect', image], { stdio: 'ignore' }).status === 0) return log(`base image ${image}: present`);
  log(`base image ${image}: pulling`);
  if (spawnSync(DOCKER, ['pull', image], { stdio: 'inherit', timeout: 120_000 }).status === 0) return;
  const shared = [process.env.MODELSERVE_SHARED, resolve(REPO, '../shared'), '/work/shared'].filter(Boolean).find((p) => existsSync(join(p, 'docker/make-node-base-image.sh')));
  if (!shared) throw new Error(`cannot pull ${image} and no ../shared/docker/make-node-base-image.sh to build it offline`);
  const nodeVersion = /^node:(\d+)/.exec(image)?.[1];
  if (nodeVersion !== '22') throw new Error(`make-node-base-image.sh builds Node 22 by default; the Dockerfile wants ${image}`);
  log(`base image ${image}: building offline with ${shared}/docker/make-node-base-image.sh (~3 min)`);
  const env = { ...process.env, IMAGE: image, PATH: `/usr/bin:${process.env.PATH}` };
  const r = spawnSync('bash', [join(shared, 'docker/make-node-base-image.sh')], { stdio: 'inherit', env });
  if (r.status !== 0) throw new Error(`make-node-base-image.sh exited ${r.status}`);
}

function testFiles() {
  const dir = join(REPO, 'dist/test/container');
  if (!existsSync(dir)) throw new Error('dist/test/container is missing: run `npm run build` first');
  return readdirSync(dir).filter((f) => f.endsWith('.test.js')).map((f) => join(dir, f))
    .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s))).sort();
}

let code = 1;
try {
  const files = testFiles();
  await startEngine();
  ensureBaseImage();
  const run = spawn(process.execPath, ['--test', '--test-concurrency=1', ...files], { stdio: 'inherit', env: { ...process.env, MODELSERVE_DOCKER: DOCKER } });
  code = await new Promise((r) => run.once('exit', (c) => r(c ?? 1)));
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
} finally {
  await stopEngine();
  log(`done, exit ${code}`);
}
process.exit(code);
