// README "Serve your own model": every command runs as written (`npx modelserve` is this checkout's
// bin, `../shared` the book's files, the server on a free port instead of 8000), in order, from a
// folder beside `../shared`, and the outputs the README shows are the real ones. Also the README's
// one-line scaler export from the book's pickle.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, REPO, SHARED, tempDir } from './helpers/paths.js';
import { startServe, type RunningCli } from './helpers/serve.js';

const README = readFileSync(join(REPO, 'README.md'), 'utf8');

/** The fenced block right after `<!-- readme-example: NAME -->`. */
function example(name: string): string {
  const at = README.indexOf(`<!-- readme-example: ${name} -->`);
  assert.ok(at >= 0, `README has no example ${name}`);
  const m = /```\w*\n([\s\S]*?)```/.exec(README.slice(at));
  assert.ok(m, `no code block after example ${name}`);
  return m[1]!;
}

/** The shell commands of a block: continuation lines joined, comments dropped. */
function commands(block: string): string[] {
  return block.replace(/\\\n\s*/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
}

const root = tempDir('modelserve-readme-byom-');
const cwd = join(root, 'project');
let server: RunningCli | undefined;

before(() => {
  symlinkSync(SHARED, join(root, 'shared'));
  mkdirSync(cwd);
  symlinkSync(join(REPO, 'examples'), join(cwd, 'examples'));
});
after(() => {
  server?.child.kill('SIGTERM');
  rmSync(root, { recursive: true, force: true });
});

/** Runs one README command through sh, with `npx modelserve` as this checkout's CLI. */
function sh(command: string, env: Record<string, string> = {}) {
  assert.match(command, /^(npx modelserve|curl|python3) /);
  const line = command.replace(/^npx modelserve /, `"${process.execPath}" "${CLI}" `);
  const r = spawnSync('sh', ['-c', line], { cwd, encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('README byom 1: inspect prints what the README shows', () => {
  const [command] = commands(example('byom-inspect'));
  const r = sh(command!);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, example('byom-inspect-output'));
});

test('README byom 2: init writes the model folder; its config ends as shown', () => {
  const [command] = commands(example('byom-init'));
  const r = sh(command!);
  assert.equal(r.status, 0, r.stderr);
  const yaml = readFileSync(join(cwd, 'models', 'weather', 'model.yaml'), 'utf8');
  assert.ok(yaml.includes(example('byom-init-yaml')), `README's excerpt is not in the generated config:\n${yaml}`);
});

test('README byom 3: check passes with the sample; without scale: it prints the warning shown', () => {
  const [command] = commands(example('byom-check'));
  const ok = sh(command!);
  assert.equal(ok.status, 0, ok.stderr);
  assert.ok(README.includes(`prints \`${ok.stdout.trim()}\``), `README should show ${ok.stdout.trim()}`);
  const file = join(cwd, 'models', 'weather', 'model.yaml');
  const config = readFileSync(file, 'utf8');
  writeFileSync(file, config.replace(/^ {4}scale: .*\n/m, ''));
  try {
    const warned = sh(command!);
    assert.equal(warned.status, 0);
    assert.equal(warned.stderr, example('byom-check-no-scaler'));
  } finally {
    writeFileSync(file, config);
  }
});

test('README byom 4 and 5: serve answers the curl as shown; the load test passes its threshold', async () => {
  const [serve, curl] = commands(example('byom-serve'));
  assert.equal(serve, 'npx modelserve serve models');
  server = startServe(['models', '--workers', '1', '--log-level', 'warn'], { cwd, env: { PORT: '0' } });
  const url = await server.url;
  const hostPort = url.replace('http://', '');
  const answer = sh(curl!.replace('localhost:8000', hostPort));
  assert.equal(answer.status, 0, answer.stderr);
  const shown = /# (\{.*\})\n```/.exec(README.slice(README.indexOf('<!-- readme-example: byom-serve -->')))![1]!;
  assert.equal(answer.stdout, shown);

  const [loadtest] = commands(example('byom-loadtest'));
  const run = sh(loadtest!.replace('127.0.0.1:8000', hostPort) + ' -q');
  assert.equal(run.status, 0, run.stderr + run.stdout);
  assert.match(run.stderr + run.stdout, /0 failed \(0\.00% errors\)/);
  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0);
  server = undefined;
});

test('README byom: the XGBoost commands (init on model.json, convert) run as written', () => {
  for (const command of commands(example('byom-xgboost'))) {
    const r = sh(command);
    assert.equal(r.status, 0, `${command}: ${r.stderr}`);
  }
  assert.match(readFileSync(join(cwd, 'models', 'rain', 'model.yaml'), 'utf8'), /^format: xgboost/m);
  assert.ok(readFileSync(join(cwd, 'rain.onnx')).byteLength > 1000);
});

test("README: the one-line scaler export writes the book's mean and scale from its pickle", () => {
  copyFileSync(join(SHARED, 'seed', 'model-scaler.pkl'), join(cwd, 'model-scaler.pkl'));
  const [command] = commands(example('scaler-export'));
  // Debian's python3 with numpy (python3-numpy, a dependency of python3-xgboost in scripts/system-deps.sh) first on PATH.
  const r = sh(command!, { PATH: `/usr/bin:${process.env.PATH}` });
  assert.equal(r.status, 0, r.stderr);
  const written = JSON.parse(readFileSync(join(cwd, 'scaler.json'), 'utf8'));
  const book = JSON.parse(readFileSync(join(SHARED, 'seed', 'model-scaler.json'), 'utf8'));
  assert.deepEqual(written, { mean: book.mean, scale: book.scale });
});
