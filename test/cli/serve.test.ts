// `modelserve serve` as a user runs it: spawned, over real sockets, and failing fast on bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BOOK_MODEL, CLI, EXAMPLES, REPO, tempDir, writeBookModelFolder } from '../helpers/paths.js';
import { call } from '../helpers/http.js';
import { startServe } from '../helpers/serve.js';
import { SERVE_OPTIONS } from '../../src/cli/serve-options.js';

function runCli(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [CLI, ...args], { cwd: REPO, encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...env } });
}


test('--help documents every serve flag and its environment variable', () => {
  const res = runCli(['serve', '--help']);
  assert.equal(res.status, 0);
  for (const spec of Object.values(SERVE_OPTIONS)) {
    assert.ok(res.stdout.includes(`--${spec.kind === 'boolean' ? '[no-]' : ''}${spec.flag}`), `--${spec.flag} missing from --help`);
    if ('env' in spec) assert.ok(res.stdout.includes(spec.env), `${spec.env} missing from --help`);
  }
  const top = runCli(['--help']);
  assert.equal(top.status, 0);
  assert.match(top.stdout, /serve[\s\S]*loadtest[\s\S]*optimize/);
});

test('serves the examples on the port from --port, and exits 0 on SIGTERM', async () => {
  const { child, url: ready, exited } = startServe([EXAMPLES, '--port', '0', '--workers', '1', '--log-level', 'warn']);
  const url = await ready;
  const res = await call(`${url}/predict`, { body: { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 } });
  assert.equal(res.status, 200);
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
});

test('PORT is honoured when --port is absent', async () => {
  const { child, url: ready, exited } = startServe([join(EXAMPLES, 'loan'), '--workers', '1', '--log-level', 'warn'], { env: { PORT: '0' } });
  const url = await ready;
  // Served alone, loan answers GET / as the article's service did.
  assert.deepEqual((await call(`${url}/`)).body, { message: 'Loan Default Prediction App', model_version: 0.1 });
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
});

function failsWith(args: string[], pattern: RegExp, env: Record<string, string> = {}) {
  const res = runCli(['serve', ...args, '--port', '0', '--workers', '1'], env);
  assert.notEqual(res.status, 0, `expected a failure, got: ${res.stdout}${res.stderr}`);
  assert.match(res.stderr, pattern);
  assert.doesNotMatch(res.stderr, /\n\s+at .*:\d+:\d+/, 'no stack trace');
  return res.stderr;
}

test('a missing ONNX file fails fast naming the file', () => {
  const dir = writeBookModelFolder();
  writeFileSync(join(dir, 'model.yaml'), readFileSync(join(dir, 'model.yaml'), 'utf8').replace(/^model: .*$/m, 'model: gone.onnx'));
  failsWith([dir], /model\.yaml: model: ONNX file not found: .*gone\.onnx/);
});

test('a model file given where a folder is expected says how to serve it, and the init command it gives works as written', () => {
  const dir = tempDir('modelserve-serve-file-');
  const model = join(dir, 'svc.onnx');
  copyFileSync(BOOK_MODEL, model);
  const stderr = failsWith([model], /svc\.onnx: is a model file; a folder is expected .*modelserve init .*put it alone in a folder \(svc\/svc\.onnx\)/);
  const init = /`modelserve init ([^`]+)`/.exec(stderr)![1]!.split(' ');
  const written = spawnSync(process.execPath, [CLI, 'init', ...init], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
  assert.equal(written.status, 0, written.stderr);
  const checked = spawnSync(process.execPath, [CLI, 'check', 'models'], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
  assert.equal(checked.status, 0, checked.stderr);
  const notModel = join(dir, 'notes.txt');
  writeFileSync(notModel, 'hello');
  failsWith([notModel], /notes\.txt: is a file, not a model repository/);
});

test('a corrupt ONNX file fails fast naming the file', () => {
  const dir = writeBookModelFolder();
  writeFileSync(join(dir, 'broken.onnx'), 'this is not a model');
  writeFileSync(join(dir, 'model.yaml'), readFileSync(join(dir, 'model.yaml'), 'utf8').replace(/^model: .*$/m, 'model: broken.onnx'));
  failsWith([dir], /broken\.onnx/);
});

test('models that fail to load are one list, the one check prints: header, one indented "file: key: message" line each, in file order (it was one prefixed line and the rest bare, in load order, each worded its own way)', () => {
  const root = tempDir('modelserve-serve-load-failures-');
  const folder = (name: string, example: string, edit: (yaml: string) => string = (y) => y) => {
    mkdirSync(join(root, name));
    const yaml = readFileSync(join(EXAMPLES, example, 'model.yaml'), 'utf8').replace(/^name: .*$/m, `name: ${name}`).replace(/^default: true\n/m, '');
    writeFileSync(join(root, name, 'model.yaml'), edit(yaml));
    return join(root, name);
  };
  // A Python pickle saved as model.onnx (pickle protocol 2 of {'x': 1}).
  writeFileSync(join(folder('a-pickle', 'weather'), 'model.onnx'), Buffer.from('80027d710058010000007871014b01732e', 'hex'));
  mkdirSync(join(folder('b-folder', 'weather'), 'model.onnx'));
  const xgboost = JSON.parse(readFileSync(join(EXAMPLES, 'rain-xgboost', 'model.json'), 'utf8')) as { learner: { objective: { name: string } } };
  xgboost.learner.objective.name = 'reg:quantileerror';
  writeFileSync(join(folder('c-quantile', 'rain-xgboost'), 'model.json'), JSON.stringify(xgboost));
  const stderr = failsWith([root], /^modelserve: invalid model configuration \(3 problems\):\n/);
  const lines = stderr.trimEnd().split('\n').slice(1);
  assert.equal(lines.length, 3, stderr);
  for (const [i, model] of ['a-pickle', 'b-folder', 'c-quantile'].entries()) assert.match(lines[i]!, new RegExp(`^  .*${model}/model\\.yaml: model: `), stderr);
  assert.match(lines[0]!, /model\.onnx is not a valid ONNX model: it is a Python pickle/);
  assert.match(lines[1]!, /model\.onnx is not a regular file \(a directory\)/);
  assert.match(lines[2]!, /model\.json is an XGBoost model modelserve cannot convert: objective reg:quantileerror is not supported/);
  const check = runCli(['check', root]);
  assert.equal(check.status, 1);
  assert.equal(stderr, `modelserve: ${check.stderr}`);
});

test('a config that does not match the model (name, width, output) fails naming file and key', () => {
  const dir = writeBookModelFolder();
  const text = readFileSync(join(dir, 'model.yaml'), 'utf8')
    .replace('float_input:', 'features:')
    .replace('from: label', 'from: labels');
  writeFileSync(join(dir, 'model.yaml'), text);
  const err = failsWith([dir], /does not match the ONNX model/);
  assert.match(err, /model\.yaml: inputs\.features: the model has no input 'features'/);
  assert.match(err, /model\.yaml: outputs\.prediction\.from: the model has no output 'labels'/);
  assert.match(err, /the model's input 'float_input' is not fed/);
  const narrow = writeBookModelFolder();
  writeFileSync(join(narrow, 'model.yaml'), readFileSync(join(narrow, 'model.yaml'), 'utf8')
    .replace(/fields: \[temp_c, (.*)\]/, 'fields: [$1]').replace(/^ {2}temp_c: .*\n/m, '').replace(/mean: \[[^,]*, /, 'mean: [').replace(/scale: \[[^,]*, /, 'scale: ['));
  failsWith([narrow], /inputs\.float_input\.fields: lists 6 field\(s\) but the model's input 'float_input' has width 7/);
});

test('an invalid config and bad options are reported all at once, exit code non-zero', () => {
  const root = tempDir();
  mkdirSync(join(root, 'm'));
  writeFileSync(join(root, 'm', 'model.yaml'), 'fields: {}\ninputs: {}\noutputs: {}\nbatching: { enabled: maybe }\n');
  const err = failsWith([root], /invalid model configuration \(\d+ problems\)/);
  assert.match(err, /m\/model\.yaml: fields: must NOT have fewer than 1 properties/);
  assert.match(err, /m\/model\.yaml: batching\.enabled: must be boolean/);
  const opts = runCli(['serve', EXAMPLES, '--port', 'eighty', '--log-level', 'loud']);
  assert.equal(opts.status, 2);
  assert.match(opts.stderr, /--port: 'eighty' is not a whole number/);
  assert.match(opts.stderr, /--log-level: 'loud' must be one of/);
});

test('an empty MODEL_REPO argument (serve "", serve "" --check, check "") is a usage error saying so (exit 2); it checked or served the working folder, while an empty MODELSERVE_MODEL_REPO is unset', () => {
  for (const args of [['serve', '', '--port', '0'], ['serve', '', '--check'], ['check', '']]) {
    const res = runCli(args, { MODELSERVE_MODEL_REPO: EXAMPLES });
    assert.equal(res.status, 2, `${args.join(' ')}: ${res.stderr}`);
    assert.match(res.stderr, /^modelserve (serve|check): .*\n?.*MODEL_REPO is an empty argument \(an unset variable\?\): give a folder \(\. for this one\), or leave it out for \$MODELSERVE_MODEL_REPO or \.\/models\n/, args.join(' '));
  }
});

test('a mistyped command or option of any CLI says which one it looks like (parseArgs\' "To specify a positional argument starting with a \'-\'…" buried the typo)', () => {
  for (const [args, expected] of [
    [['serv', EXAMPLES], /^modelserve: unknown command 'serv' \(did you mean serve\?\)/],
    [['serve', EXAMPLES, '--wach'], /^modelserve serve: unknown option --wach \(did you mean --watch\?\)/],
    [['serve', EXAMPLES, '--log-levl=debug'], /^modelserve serve: unknown option --log-levl \(did you mean --log-level\?\)/],
    [['loadtest', 'http://127.0.0.1:1/predict', '--duraton', '1s'], /^modelserve loadtest: unknown option --duraton \(did you mean --duration\?\)/],
    [['init', BOOK_MODEL, '--lables', '0=a'], /^modelserve init: unknown option --lables \(did you mean --labels\?\)/],
    [['inspect', BOOK_MODEL, '--jsno'], /^modelserve inspect: unknown option --jsno \(did you mean --json\?\)/],
    [['check', EXAMPLES, '--sampel', 'x.csv'], /^modelserve check: unknown option --sampel \(did you mean --sample\?\)/],
    [['optimize', BOOK_MODEL, 'out.onnx', '--reprot'], /^modelserve optimize: unknown option --reprot \(did you mean --report\?\)/],
    [['serve', EXAMPLES, '--frobnicate'], /^modelserve serve: unknown option --frobnicate \(see --help\)/],
  ] as const) {
    const run = runCli([...args]);
    assert.equal(run.status, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, expected, args.join(' '));
    assert.doesNotMatch(run.stderr, /positional argument/);
  }
});

test('a port in use (HTTP or gRPC) fails with one line saying which flag picks another, and nothing from grpc-js on stderr', async () => {
  const { createServer } = await import('node:net');
  const held = createServer();
  await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve));
  const port = (held.address() as { port: number }).port;
  try {
    const grpc = runCli(['serve', EXAMPLES, '--port', '0', '--grpc-port', String(port), '--log-level', 'warn']);
    assert.equal(grpc.status, 1, grpc.stderr);
    assert.match(grpc.stderr, new RegExp(`^modelserve: failed to start: gRPC: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE.*pick another with --grpc-port, or --grpc-port 0 to turn gRPC off\\)\\n$`, 's'));
    assert.equal(grpc.stderr.trim().split('\n').length, 1, grpc.stderr);
    const http = runCli(['serve', EXAMPLES, '--port', String(port), '--grpc-port', '0', '--log-level', 'warn']);
    assert.equal(http.status, 1, http.stderr);
    assert.match(http.stderr, /^modelserve: failed to start: .*EADDRINUSE.*pick another with --port, or --port 0 for a free one\)\n$/s);
  } finally {
    held.close();
  }
});

// Warnings found at start-up (a type: number field feeding an int32 input, a version folder link to nothing) were logged
// only once the server listened: a start-up that failed (another model that does not fit its ONNX file, a port in use)
// lost them, though they may say why. Now a failure before the log exists says them with the failure, and the log says
// them before listening.
test('a failing start-up still says the warnings found so far: with the failure before the log exists, in the log before a port in use', async () => {
  const { writeIdentityModels } = await import('../helpers/onnx.js');
  const repo = writeIdentityModels(tempDir(), [{ file: 'i32/model.onnx', elem: 'INT32', shape: ['N', 1] }, { file: 'bad/model.onnx', elem: 'FLOAT', shape: ['N', 1] }]);
  writeFileSync(join(repo, 'i32', 'model.yaml'), 'fields:\n  count: { type: number, example: 3 }\ninputs:\n  x: { fields: [count] }\noutputs:\n  y: { from: y }\n');
  writeFileSync(join(repo, 'bad', 'model.yaml'), 'fields:\n  a: { type: number, example: 3 }\ninputs:\n  nope: { fields: [a] }\noutputs:\n  y: { from: y }\n');
  const warning = /^model config: .*i32.model\.yaml: fields\.count\.type: is number, but the field feeds the model's int32 input 'x'.*say type: integer/m;
  const failed = runCli(['serve', repo, '--port', '0', '--grpc-port', '0', '--workers', '1']);
  assert.equal(failed.status, 1, failed.stderr);
  assert.match(failed.stderr, /^modelserve: model configuration does not match the ONNX model \(2 problems\):\n {2}.*bad.model\.yaml: inputs\.nope/);
  assert.match(failed.stderr, warning);
  assert.equal(failed.stderr.match(/model config: /g)?.length, 1, failed.stderr);

  // Every model loads, then the port is in use: the log said the warnings, a version link to nothing among them.
  rmSync(join(repo, 'bad'), { recursive: true });
  symlinkSync(join(repo, 'gone'), join(repo, 'i32', '7'));
  const { createServer } = await import('node:net');
  const held = createServer();
  await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve));
  try {
    const busy = runCli(['serve', repo, '--port', String((held.address() as { port: number }).port), '--grpc-port', '0', '--workers', '1', '--log-level', 'warn']);
    assert.equal(busy.status, 1, busy.stderr);
    assert.match(busy.stderr, /^modelserve: failed to start: .*EADDRINUSE/);
    const logged = busy.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { msg: string }).msg);
    assert.ok(logged.some((m) => warning.test(m)), busy.stdout);
    assert.ok(logged.some((m) => /^version folder link: .*i32.7: is a symbolic link that leads to no folder/.test(m)), busy.stdout);
  } finally {
    held.close();
  }
});

// Under --max-loaded-models, a model left unloaded at start-up had its config checked against its file's declared
// signature, but its warnings (a type: number field feeding an int32 input) came only at its first load, after
// 'ready', and never with a failing start-up. Now they are said at start-up from that signature, and not again at the
// first load.
test('--max-loaded-models: a model left unloaded at start-up is warned of then, from its file (in the log before ready, with a failing start-up), and not again at its first load', async () => {
  const { writeIdentityModels } = await import('../helpers/onnx.js');
  const repo = writeIdentityModels(tempDir(), [{ file: 'a32/model.onnx', elem: 'INT32', shape: ['N', 1] }, { file: 'b32/model.onnx', elem: 'INT32', shape: ['N', 1] }]);
  const yaml = 'fields:\n  count: { type: number, example: 3 }\ninputs:\n  x: { fields: [count] }\noutputs:\n  y: { from: y }\n';
  writeFileSync(join(repo, 'a32', 'model.yaml'), yaml);
  writeFileSync(join(repo, 'b32', 'model.yaml'), yaml);
  const unloaded = /^model config: .*b32.model\.yaml: fields\.count\.type: is number, but the field feeds the model's int32 input 'x'.*say type: integer/;
  const served = startServe([repo, '--max-loaded-models', '1', '--port', '0', '--grpc-port', '0', '--workers', '1', '--log-level', 'info'], { captureStdout: true });
  try {
    const url = await served.url;
    const messages = () => served.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { msg: string }).msg);
    // The log (stdout) may arrive after the 'serving' line (stderr).
    const logged = async (msg: string) => { while (!messages().includes(msg)) await new Promise((resolve) => served.child.stdout!.once('data', resolve)); };
    await logged('ready');
    const atStart = messages();
    const ready = atStart.indexOf('ready');
    assert.ok(ready > 0 && atStart.slice(0, ready).some((m) => unloaded.test(m)), served.stdout());
    // b32 loads on its first request: it serves, and its warning is not said again.
    const res = await call(`${url}/models/b32/predict`, { body: { count: 2 } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await logged('model version loaded');
    assert.equal(messages().filter((m) => unloaded.test(m)).length, 1, served.stdout());
  } finally {
    served.child.kill('SIGTERM');
    await served.exited;
  }
  // A model that does not fit its ONNX file fails the start: the unloaded model's warning is in the failure's message.
  writeFileSync(join(repo, 'a32', 'model.yaml'), yaml.replace('x: { fields', 'nope: { fields'));
  const failed = runCli(['serve', repo, '--max-loaded-models', '1', '--port', '0', '--grpc-port', '0', '--workers', '1']);
  assert.equal(failed.status, 1, failed.stderr);
  assert.match(failed.stderr, /^modelserve: model configuration does not match the ONNX model .*\n {2}.*a32.model\.yaml: inputs\.nope/);
  assert.ok(failed.stderr.split('\n').some((l) => unloaded.test(l)), failed.stderr);
});

test('one port for HTTP and gRPC (--port 9000 --grpc-port 9000, or PORT=8001 beside gRPC\'s default) is refused before anything loads, naming both (it failed after loading, blaming "another server")', () => {
  const both = runCli(['serve', EXAMPLES, '--port', '9000', '--grpc-port', '9000']);
  assert.equal(both.status, 2, both.stderr);
  assert.match(both.stderr, /--grpc-port: 9000 is also the HTTP port \(--port\); give gRPC another port, or 0 to turn it off/);
  const platform = runCli(['serve', EXAMPLES], { PORT: '8001', MODELSERVE_GRPC_PORT: '' });
  assert.equal(platform.status, 2, platform.stderr);
  assert.match(platform.stderr, /default of --grpc-port: 8001 is also the HTTP port \(\$PORT\)/);
});

test('a --host that is no address of this machine fails with one line naming --host (it said only "getaddrinfo ENOTFOUND 999.1.1.1")', () => {
  for (const host of ['999.1.1.1', '10.255.255.1']) {
    const r = runCli(['serve', EXAMPLES, '--host', host, '--port', '0', '--grpc-port', '0', '--log-level', 'warn']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^modelserve: failed to start: .*(ENOTFOUND|EADDRNOTAVAIL).* \(--host: an address or name of one of this machine's interfaces, e\.g\. 127\.0\.0\.1, or 0\.0\.0\.0 for all of them\)\n$/, host);
  }
});

test('a model file, model.yaml or --api-keys-file that is a FIFO or a device fails fast naming it, unread (the old code waited on the FIFO forever and read /dev/zero until memory ran out)', () => {
  const serve = (args: string[]) => {
    const r = spawnSync(process.execPath, [CLI, 'serve', ...args, '--port', '0', '--workers', '1'], { cwd: REPO, encoding: 'utf8', timeout: 15_000, env: { ...process.env, MODELSERVE_GRPC_PORT: '0' } });
    assert.equal(r.signal, null, `serve ${args.join(' ')} did not return`);
    return r;
  };
  const device = writeBookModelFolder();
  writeFileSync(join(device, 'model.yaml'), readFileSync(join(device, 'model.yaml'), 'utf8').replace(/^model: .*$/m, 'model: /dev/zero'));
  const byDevice = serve([device]);
  assert.equal(byDevice.status, 1, byDevice.stderr);
  assert.match(byDevice.stderr, /dev\/zero is not a regular file \(a character device\)/);
  const fifo = writeBookModelFolder();
  rmSync(join(fifo, 'model.yaml'));
  execFileSync('mkfifo', [join(fifo, 'model.yaml')]);
  const byFifo = serve([fifo]);
  assert.equal(byFifo.status, 1, byFifo.stderr);
  assert.match(byFifo.stderr, /model\.yaml: \(file\): is not a regular file \(a FIFO\)/);
  const keys = serve([join(EXAMPLES, 'weather'), '--api-keys-file', '/dev/zero']);
  assert.equal(keys.status, 2, keys.stderr);
  assert.match(keys.stderr, /--api-keys-file: \/dev\/zero is not a regular file \(a character device\)/);
});

test('a model or data file that is missing, a dangling link or unreadable is one line naming it, in words, for every CLI that reads one (not Node\'s "ENOENT: no such file or directory, stat …")', () => {
  const dir = tempDir();
  const missing = join(dir, 'missing.onnx');
  const dangling = join(dir, 'dangling.onnx');
  symlinkSync(join(dir, 'gone.onnx'), dangling);
  for (const [args, file] of [
    [['inspect', missing], missing],
    [['init', missing, '--out', join(dir, 'out')], missing],
    [['convert', join(dir, 'missing.json'), join(dir, 'x.onnx')], join(dir, 'missing.json')],
    [['optimize', missing, join(dir, 'x.onnx')], missing],
  ] as const) {
    const r = runCli([...args]);
    assert.equal(r.status, 1, `${args[0]}: ${r.stderr}`);
    assert.equal(r.stderr, `modelserve ${args[0]}: ${file} does not exist\n`, args[0]);
  }
  const linked = runCli(['inspect', dangling]);
  assert.equal(linked.stderr, `modelserve inspect: ${dangling} is a symbolic link to ${join(dir, 'gone.onnx')}, which does not exist\n`);
});

test('SIGTERM or SIGINT during start-up says so and exits as the signal would (it died silently with no line)', async () => {
  // A preload holds the HTTP listener, so the signal lands while the server is still starting.
  const dir = tempDir();
  const hold = join(dir, 'hold-listen.mjs');
  writeFileSync(hold, `import net from 'node:net';
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) { process.stderr.write('test: listen held\\n'); setTimeout(() => listen.apply(this, args), 60000).unref(); return this; };
`);
  for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
    const cli = startServe([join(EXAMPLES, 'weather'), '--port', '0', '--grpc-port', '0', '--workers', '1'], { nodeArgs: ['--import', hold] });
    await new Promise<void>((resolve) => { const poll = setInterval(() => { if (cli.stderr().includes('listen held')) { clearInterval(poll); resolve(); } }, 20); });
    cli.child.kill(signal);
    assert.equal(await cli.exited, code, cli.stderr());
    assert.match(cli.stderr(), new RegExp(`modelserve: ${signal} during start-up: stopped before serving`));
  }
  rmSync(dir, { recursive: true, force: true });
});

test('on a Node.js older than 20 (Debian 12\'s /usr/bin/node is 18) the CLI says which Node it needs, before loading anything', () => {
  const dir = tempDir();
  const older = join(dir, 'node18.mjs');
  writeFileSync(older, "Object.defineProperty(process.versions, 'node', { value: '18.19.0' });\n");
  const res = spawnSync(process.execPath, ['--import', older, CLI, 'serve', EXAMPLES], { cwd: REPO, encoding: 'utf8', timeout: 30_000 });
  assert.equal(res.status, 1, res.stderr);
  assert.match(res.stderr, /^modelserve needs Node\.js 20 or newer; this is Node\.js 18\.19\.0 \(/);
  assert.equal(res.stdout, '');
  rmSync(dir, { recursive: true, force: true });
});

test("leaves no file of onnxruntime's telemetry behind (mat-debug-<pid>.log, .ses in $TMPDIR; a cache under $HOME), with workers and in-process (check)", async () => {
  // onnxruntime 1.30 on Linux wrote them on every start (and set up an uploader) until modelserve set ORT_DISABLE_TELEMETRY=1.
  delete process.env.ORT_DISABLE_TELEMETRY;
  const tmp = tempDir('modelserve-tmpdir-');
  const home = tempDir('modelserve-home-');
  const env = { TMPDIR: tmp, HOME: home };
  const { child, url: ready, exited } = startServe([join(EXAMPLES, 'weather'), '--port', '0', '--workers', '1', '--log-level', 'warn'], { env });
  const res = await call(`${await ready}/predict`, { body: { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 } });
  assert.equal(res.status, 200);
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  const checked = runCli(['check', join(EXAMPLES, 'weather')], env);
  assert.equal(checked.status, 0, checked.stderr);
  assert.deepEqual([...readdirSync(tmp), ...readdirSync(home)], []);
});
