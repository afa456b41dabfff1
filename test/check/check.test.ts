// `modelserve check` / `serve --check` / serve's start-up: every problem of every model in one run,
// and with --sample the silent mistakes, on the book's real svc.onnx, scaler and data.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { BOOK_CSV, BOOK_MODEL, BOOK_SCALER, CLI, EXAMPLES, tempDir, writeBookModelFolder } from '../helpers/paths.js';
import { parseServeOptions } from '../../src/cli/serve-options.js';
import { checkRepository } from '../../src/check/repository.js';
import { writeGraphFolders, writeIdentityModels, writeLoopModel, writeReshapeFailingModel } from '../helpers/onnx.js';

const root = tempDir('modelserve-check-');
after(() => rmSync(root, { recursive: true, force: true }));

const CSV_FIELDS = ['temperature_c', 'humidity', 'wind_speed_kmph', 'wind_bearing_degrees', 'visibility_km', 'pressure_millibars', 'current_weather_condition'];

function cli(args: string[], cwd = root, env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000, cwd, env });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A repository with the book's model under `name`, its config `yaml` (svc.onnx and the scaler beside it). */
function bookRepo(configs: Record<string, string>): string {
  const repo = tempDir('modelserve-check-repo-');
  for (const [name, yaml] of Object.entries(configs)) {
    mkdirSync(join(repo, name));
    copyFileSync(BOOK_MODEL, join(repo, name, 'svc.onnx'));
    copyFileSync(BOOK_SCALER, join(repo, name, 'model-scaler.json'));
    writeFileSync(join(repo, name, 'model.yaml'), yaml);
  }
  return repo;
}

function bookConfig({ fields = CSV_FIELDS, scale = 'scale: { file: model-scaler.json }', extra = '', humidityMax = 1 } = {}): string {
  return `model: svc.onnx
fields:
${CSV_FIELDS.map((f) => `  ${f}: { type: number${f === 'humidity' ? `, minimum: 0, maximum: ${humidityMax}` : ''}, example: ${f === 'humidity' ? 0.5 : 1} }`).join('\n')}
inputs:
  float_input:
    fields: [${fields.join(', ')}]
    ${scale}
outputs:
  prediction: { from: label, map: { "1": Rain, "0": No_Rain } }
${extra}`;
}

const BROKEN = `model: svc.onnx
colour: red
fields:
  a: { type: numbr }
  b: { type: number }
inputs:
  features:
    fields: [a, b, c]
    scale: { file: model-scaler.json }
outputs:
  prediction: { from: labels }
`;

test('check: every problem of every model in one run — schema, cross-field, scale file lengths, ONNX signature — exit 1', () => {
  const repo = bookRepo({ broken: BROKEN, good: bookConfig(), narrow: bookConfig({ fields: CSV_FIELDS.slice(1), scale: 'scale: { mean: [0, 0], scale: [1, 1] }', extra: 'default: true\n' }) });
  const r = cli(['check', repo]);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  const lines = [
    /broken\/model\.yaml: colour: unknown key/,
    /broken\/model\.yaml: fields\.a\.type: must be one of number, integer, string, boolean/,
    /broken\/model\.yaml: inputs\.features\.scale\.file: .*model-scaler\.json has 7 mean values and 7 scale values but the input has 3 fields/,
    /broken\/model\.yaml: inputs\.features\.fields\.2: 'c' is not a declared field/,
    /broken\/model\.yaml: inputs\.features: the model has no input 'features' \(its inputs: 'float_input'\)/,
    /broken\/model\.yaml: inputs: the model's input 'float_input' is not fed/,
    /broken\/model\.yaml: outputs\.prediction\.from: the model has no output 'labels'/,
    /narrow\/model\.yaml: inputs\.float_input\.scale\.mean: has 2 values but the input has 6 fields/,
    /narrow\/model\.yaml: fields\.temperature_c: is not fed to any input/,
    /narrow\/model\.yaml: inputs\.float_input\.fields: lists 6 field\(s\) but the model's input 'float_input' has width 7/,
  ];
  for (const line of lines) assert.match(r.stderr, line);
  assert.match(r.stderr, /invalid model configuration \(11 problems\)/);
  assert.doesNotMatch(r.stderr, /good\/model\.yaml/);
  assert.match(r.stdout, /failed: 3 models checked/);
});

test('check: a model file that is missing or is not ONNX is one problem at `model` naming the file, beside the other models\' problems', () => {
  const repo = bookRepo({ corrupt: bookConfig(), missing: bookConfig(), narrow: bookConfig({ fields: CSV_FIELDS.slice(1), scale: 'scale: { mean: [0, 0, 0, 0, 0, 0], scale: [1, 1, 1, 1, 1, 1] }' }) });
  writeFileSync(join(repo, 'corrupt', 'svc.onnx'), 'this is not an ONNX file');
  rmSync(join(repo, 'missing', 'svc.onnx'));
  const r = cli(['check', repo]);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /corrupt\/model\.yaml: model: .*corrupt\/svc\.onnx/);
  assert.match(r.stderr, /missing\/model\.yaml: model: .*missing\/svc\.onnx/);
  assert.match(r.stderr, /narrow\/model\.yaml: inputs\.float_input\.fields: lists 6 field\(s\) but the model's input 'float_input' has width 7/);
  assert.match(r.stdout, /failed: 3 models checked/);
});

test('check: a config that is not valid YAML is one problem naming its line and column, and its model is counted as checked', () => {
  const repo = bookRepo({ good: bookConfig(), unparsable: 'model: svc.onnx\nfields:\n  a: { type: number\n  b: 1\n' });
  const r = cli(['check', repo]);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /unparsable\/model\.yaml: \(file\): not valid YAML: .* at line 4, column 3\n/);
  assert.match(r.stdout, /failed: 2 models checked \(good; config not readable: unparsable\), 1 error\(s\)/);
});

test('check refuses what serve refuses before the schema: a model config without fields/inputs/outputs, a pipeline with a model file', () => {
  const repo = bookRepo({ bare: 'model: svc.onnx\n' });
  mkdirSync(join(repo, 'chain'));
  writeFileSync(join(repo, 'chain', 'model.yaml'), 'model: svc.onnx\npipeline:\n  sequence:\n    - model: bare\n');
  const r = cli(['check', repo]);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  for (const key of ['fields', 'inputs', 'outputs']) assert.match(r.stderr, new RegExp(`bare/model\\.yaml: ${key}: is required\n`));
  assert.match(r.stderr, /chain\/model\.yaml: model: does not apply to a pipeline/);
  assert.doesNotMatch(r.stderr, /ENOENT/);
  assert.match(r.stdout, /^failed: 2 models checked \(chain; config not readable: bare\), 4 error\(s\)/);
  // The same problems stop serve.
  const serve = cli(['serve', repo, '--check']);
  assert.equal(serve.status, 1);
  for (const key of ['fields', 'inputs', 'outputs']) assert.match(serve.stderr, new RegExp(`bare/model\\.yaml: ${key}: is required\n`));
});

test('serve reports the same complete list at start-up; serve --check exits without listening (its port is taken)', async () => {
  const repo = bookRepo({ broken: BROKEN });
  const serve = cli(['serve', repo, '--port', '0', '--workers', '1']);
  assert.equal(serve.status, 1);
  assert.match(serve.stderr, /invalid model configuration \(7 problems\)/);
  assert.match(serve.stderr, /inputs\.features\.scale\.file: .*has 7 mean values/);
  assert.match(serve.stderr, /outputs\.prediction\.from: the model has no output 'labels'/);
  // A port held here: serve --check would fail with EADDRINUSE if it tried to listen.
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const port = (holder.address() as { port: number }).port;
  try {
    const good = cli(['serve', bookRepo({ weather: bookConfig() }), '--check', '--port', String(port)]);
    assert.equal(good.status, 0, good.stderr);
    assert.match(good.stdout, /ok: 1 model checked \(weather\), 0 error\(s\)/);
    const bad = cli(['serve', repo, '--check', '--port', String(port)]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /invalid model configuration \(7 problems\)/);
  } finally {
    holder.close();
  }
});

// Raw models (a folder holding only an .onnx file): FLOAT16 is an element type modelserve does not feed.
const RAW_OK = { file: 'matrix/1/model.onnx', elem: 'FLOAT', shape: ['N', 3] };
const RAW_F16 = { file: 'id_f16/model.onnx', elem: 'FLOAT16', shape: ['N'] };
const F16_PROBLEM = /id_f16\/model\.onnx: inputs\.x: the model's input has element type float16, which modelserve cannot feed.*\n.*id_f16\/model\.onnx: outputs: the model has no tensor output of a supported element type/;

test('check: a folder holding only an .onnx file is checked as serve serves it (a raw model) — its graph\'s element types, not a missing model.yaml', () => {
  const good = writeIdentityModels(tempDir('modelserve-check-raw-'), [RAW_OK]);
  const ok = cli(['check', good]);
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /ok: 1 model checked \(matrix\), 0 error\(s\)/);
  assert.equal(cli(['serve', good, '--check']).status, 0);

  const bad = writeIdentityModels(tempDir('modelserve-check-raw-'), [RAW_OK, RAW_F16]);
  const r = cli(['check', bad]);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, F16_PROBLEM);
  assert.doesNotMatch(r.stderr, /no model\.yaml|matrix/);
  assert.match(r.stdout, /failed: 2 models checked \(id_f16, matrix\), 2 error\(s\)/);
});

test('serve: a raw folder modelserve cannot feed stops start-up with its real problem (file, input, type), beside every other model\'s problems', () => {
  const alone = writeIdentityModels(tempDir('modelserve-check-raw-'), [RAW_OK, RAW_F16]);
  const r = cli(['serve', alone, '--port', '0', '--workers', '1']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, F16_PROBLEM);
  assert.doesNotMatch(r.stderr, /no model\.yaml/);

  const repo = writeIdentityModels(bookRepo({ broken: BROKEN }), [RAW_F16]);
  const both = cli(['serve', repo, '--port', '0', '--workers', '1']);
  assert.equal(both.status, 1);
  assert.match(both.stderr, /invalid model configuration \(9 problems\)/);
  assert.match(both.stderr, F16_PROBLEM);
  assert.match(both.stderr, /broken\/model\.yaml: outputs\.prediction\.from: the model has no output 'labels'/);
  assert.doesNotMatch(both.stderr, /no model\.yaml/);
});

test('a raw folder whose graph has a bfloat16 tensor (which onnxruntime-node cannot describe) is refused naming the file, the input and the type', () => {
  const repo = writeIdentityModels(tempDir('modelserve-check-raw-'), [{ file: 'id_bf16/model.onnx', elem: 'BFLOAT16', shape: ['N'] }]);
  const problem = /id_bf16\/model\.onnx: .*input 'x' and output 'y' have element type BFLOAT16, which onnxruntime-node cannot pass to or from JavaScript/;
  const r = cli(['check', repo]);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, problem);
  const serve = cli(['serve', repo, '--port', '0', '--workers', '1']);
  assert.equal(serve.status, 1);
  assert.match(serve.stderr, problem);
});

test('check --sample: the right config passes; a forgotten scaler, a wrong column order and a too-tight maximum are warned about', () => {
  const good = cli(['check', bookRepo({ weather: bookConfig() }), '--sample', BOOK_CSV]);
  assert.equal(good.status, 0, good.stderr);
  assert.equal(good.stderr, '');
  assert.match(good.stdout, /ok: 1 model checked \(weather\), 0 error\(s\), 0 warning\(s\)/);

  const noScaler = cli(['check', bookRepo({ weather: bookConfig({ scale: '' }) }), '--sample', BOOK_CSV]);
  assert.equal(noScaler.status, 0);
  assert.match(noScaler.stderr, /outputs\.prediction: 19289 of 19289 sample rows \(100%\) get the same answer "Rain": a model that ignores its input \(was the model trained on scaled data\? then add scale: to the input\)/);

  // humidity and pressure swapped: pressure (~1000) scaled with humidity's mean 0.74 and scale 0.19.
  const swapped = [...CSV_FIELDS];
  [swapped[1], swapped[5]] = [swapped[5]!, swapped[1]!];
  const order = cli(['check', bookRepo({ weather: bookConfig({ fields: swapped }) }), '--sample', BOOK_CSV]);
  assert.equal(order.status, 0);
  assert.match(order.stderr, /inputs\.float_input\.scale: column 1 \(pressure_millibars\): \d+ of 19289 sample values lie beyond 10 standard deviations of the scaler's mean 0\.736294/);

  const tight = cli(['check', bookRepo({ weather: bookConfig({ humidityMax: 0.9 }) }), '--sample', BOOK_CSV]);
  assert.equal(tight.status, 0);
  assert.match(tight.stderr, /fields\.humidity\.maximum: is 0\.9 but 4391 of 19289 sample values are above it \(largest 1\); those requests would get 422/);
});

test('check: a sample without the fields, an unreadable sample, no repository', () => {
  const repo = bookRepo({ weather: bookConfig() });
  const other = join(root, 'other.csv');
  writeFileSync(other, 'a,b\n1,2\n');
  const r = cli(['check', repo, '--sample', other]);
  assert.equal(r.status, 0);
  assert.match(r.stderr, /the sample .*other\.csv has no column for temperature_c, humidity/);
  const missing = cli(['check', repo, '--sample', join(root, 'nope.csv')]);
  assert.equal(missing.status, 1);
  // Said in words, not as Node's 'ENOENT: no such file or directory, stat …'.
  assert.match(missing.stderr, /nope\.csv: \(file\): the sample does not exist\n/);
  const none = cli(['check', join(root, 'no-such-repo')]);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /model repository not found/);
  assert.equal(cli(['check', '--bogus']).status, 2);
  // An empty --sample= checked without a sample, and a second --sample replaced the first, without a word.
  for (const args of [['--sample='], ['--sample', other, '--sample', join(root, 'nope.csv')], [`--sample=${other}`, '--sample', other]]) {
    const usage = cli(['check', repo, ...args]);
    assert.equal(usage.status, 2, `${args.join(' ')}: ${usage.stdout}`);
    assert.match(usage.stderr, /^modelserve check: --sample (needs a CSV file|given twice \(.*other\.csv, .*\): check takes one sample)\n/);
    assert.equal(usage.stdout, '');
  }
});

test('check --sample: a header naming a field twice (humidity, and Humidity after it) is warned about, saying the first column is read (the last was read, without a word)', () => {
  const sample = join(root, 'repeated.csv');
  // The repeated column holds percent: read, it would break humidity's maximum of 1.
  writeFileSync(sample, `${CSV_FIELDS.join(',')},Humidity\n10,0.5,10,180,10,1010,0,50\n12,0.7,5,90,8,1000,1,70\n`);
  const r = cli(['check', bookRepo({ weather: bookConfig() }), '--sample', sample]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /repeated\.csv: \(header\): columns 2 \(humidity\) and 8 \(Humidity\) both name humidity: check reads humidity from the first \(column 2\) and ignores the other; rename or drop it\n/);
  assert.doesNotMatch(r.stderr, /fields\.humidity\.maximum/);
});

test('check --sample: a numeric column holding Infinity or NaN is said with that value, not as "holds text (e.g. \'undefined\')"', () => {
  const sample = join(root, 'infinite.csv');
  writeFileSync(sample, `${CSV_FIELDS.join(',')}\n1,0.5,1,1,1,1,1\n1,Infinity,1,1,1,1,1\n1,0.5,1,1,1,1,NaN\n`);
  const r = cli(['check', bookRepo({ weather: bookConfig() }), '--sample', sample]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /fields\.humidity\.type: is number but the sample's column humidity holds text \(e\.g\. 'Infinity'\)/);
  assert.match(r.stderr, /fields\.current_weather_condition\.type: is number but the sample's column current_weather_condition holds text \(e\.g\. 'NaN'\)/);
  assert.doesNotMatch(r.stderr, /undefined/);
});

test('check and serve: MODELSERVE_MODEL_REPO set to the empty string is unset — ./models, not the working folder checked as a repository', () => {
  const cwd = tempDir('modelserve-check-empty-env-');
  writeBookModelFolder(join(cwd, 'models'));
  writeFileSync(join(cwd, 'stray.onnx'), 'not a model');
  const r = cli(['check'], cwd, { ...process.env, MODELSERVE_MODEL_REPO: '' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /ok: 1 model checked \(book-weather\)/);
  assert.equal(parseServeOptions([], { MODELSERVE_MODEL_REPO: '' }).repo, 'models');
  assert.equal(parseServeOptions([], { MODELSERVE_MODEL_REPO: 'repo' }).repo, 'repo');
  rmSync(cwd, { recursive: true, force: true });
});

test('check: pipelines are checked by their steps, not opened as ONNX — the shipped examples pass; a step naming no model of the repository is an error at its key', () => {
  const shipped = cli(['check', join(EXAMPLES, 'pipelines')]);
  assert.equal(shipped.status, 0, shipped.stderr);
  assert.match(shipped.stdout + shipped.stderr, /^ok: 6 models checked \(loan, loan-by-area, loan-rural, weather, weather-ensemble, weather-gb\), 0 error/m);
  const repo = bookRepo({ weather: bookConfig() });
  mkdirSync(join(repo, 'ensemble'));
  writeFileSync(join(repo, 'ensemble', 'model.yaml'), 'pipeline:\n  ensemble:\n    - model: weather\n    - model: wether\n  combine:\n    prediction: { vote: prediction }\n');
  const r = cli(['check', repo]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /ensemble\/model\.yaml: pipeline\.ensemble\.1\.model: no model 'wether' in the repository \(models: weather\)/);
  assert.doesNotMatch(r.stderr, /cannot read|ENOENT/);
});

// A graph that loads but cannot run on one row (its Reshape needs a multiple of 4 values): serve's
// load-time warm-up run fails, so check must fail it too.
const RESHAPE_ERROR = 'The input tensor cannot be reshaped to the requested shape. Input shape:{1,3}, requested shape:{-1,4}';
const RESHAPE_CONFIG = 'model: model.onnx\nfields:\n  a: { type: number }\n  b: { type: number }\n  c: { type: number }\ninputs:\n  x: { fields: [a, b, c] }\noutputs:\n  value: { from: y }\n';

test('check runs every model once on serve\'s warm-up input: a graph that fails at run time is an error naming its file and onnxruntime\'s message, and serve refuses the same repository', () => {
  const repo = bookRepo({ weather: bookConfig() });
  writeReshapeFailingModel(repo, 'reshape/model.onnx');
  writeFileSync(join(repo, 'reshape', 'model.yaml'), RESHAPE_CONFIG);
  writeReshapeFailingModel(repo, 'raw-reshape/model.onnx');
  const quote = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const r = cli(['check', repo]);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, new RegExp(`\\n  \\S*reshape/model\\.yaml: \\(model\\): serve's load-time warm-up run on the example row \\(the fields' examples, defaults\\) fails in onnxruntime: .*${quote(RESHAPE_ERROR)}\\n`));
  assert.match(r.stderr, new RegExp(`\\n  \\S*raw-reshape/model\\.onnx: \\(model\\): serve's load-time warm-up run on one row of zeros / empty strings fails in onnxruntime: .*${quote(RESHAPE_ERROR)}\\n`));
  assert.doesNotMatch(r.stderr, /weather\/model\.yaml/);
  assert.match(r.stdout, /failed: 3 models checked \(raw-reshape, reshape, weather\), 2 error\(s\)/);

  // serve agrees: its warm-up run fails on the same onnxruntime error, and it does not start.
  const serve = cli(['serve', repo, '--port', '0', '--workers', '1']);
  assert.equal(serve.status, 1, serve.stdout + serve.stderr);
  // Two models that fail to load: the list check prints.
  assert.equal(serve.stderr, `modelserve: ${r.stderr}`);
  assert.doesNotMatch(serve.stderr + r.stderr, /\[E:onnxruntime/, "onnxruntime's own log lines stay out of modelserve's output");
  assert.doesNotMatch(serve.stderr, /serving /);
});

test('check still passes what serve serves: the shipped examples and the book\'s model folder (their warm-up runs succeed)', () => {
  const examples = cli(['check', EXAMPLES]);
  assert.equal(examples.status, 0, examples.stdout + examples.stderr);
  assert.match(examples.stdout, /^ok: 3 models checked \(loan, rain-xgboost, weather\), 0 error\(s\), 0 warning\(s\)/m);
  const parent = tempDir('modelserve-check-book-');
  writeBookModelFolder(parent);
  const book = cli(['check', parent]);
  assert.equal(book.status, 0, book.stdout + book.stderr);
  assert.match(book.stdout, /^ok: 1 model checked \(book-weather\), 0 error\(s\), 0 warning\(s\)/m);
});

test('check: a config, model, scaler or sample that is a FIFO, a device or huge is one problem naming the file, read no further (the old code waited on a FIFO forever and read /dev/zero until memory ran out)', () => {
  const repo = bookRepo({ 'device-model': bookConfig().replace('model: svc.onnx', 'model: /dev/zero'), 'fifo-model': bookConfig(), 'fifo-config': '', 'linked-config': '', 'device-scaler': bookConfig({ scale: 'scale: { file: /dev/zero }' }) });
  rmSync(join(repo, 'fifo-model', 'svc.onnx'));
  execFileSync('mkfifo', [join(repo, 'fifo-model', 'svc.onnx')]);
  rmSync(join(repo, 'fifo-config', 'model.yaml'));
  execFileSync('mkfifo', [join(repo, 'fifo-config', 'model.yaml')]);
  rmSync(join(repo, 'linked-config', 'model.yaml'));
  symlinkSync('/dev/zero', join(repo, 'linked-config', 'model.yaml'));
  const run = (args: string[]) => {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 15_000, cwd: root });
    assert.equal(r.signal, null, `check ${args.join(' ')} did not return`);
    return r;
  };
  const r = run(['check', repo]);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /device-model\/model\.yaml: model: \/dev\/zero is not a regular file \(a character device\)/);
  assert.match(r.stderr, /fifo-model\/model\.yaml: model: .*fifo-model\/svc\.onnx is not a regular file \(a FIFO\)/);
  assert.match(r.stderr, /fifo-config\/model\.yaml: \(file\): is not a regular file \(a FIFO\)/);
  assert.match(r.stderr, /linked-config\/model\.yaml: \(file\): is not a regular file \(a character device\)/);
  assert.match(r.stderr, /device-scaler\/model\.yaml: inputs\.float_input\.scale\.file: \/dev\/zero is not a regular file \(a character device\)/);
  // A sample: a FIFO, and a sparse 10 GiB CSV refused by its size (the limit is 64 MiB).
  const fifo = join(repo, 'sample-fifo.csv');
  execFileSync('mkfifo', [fifo]);
  const huge = join(repo, 'huge.csv');
  writeFileSync(huge, '');
  truncateSync(huge, 10 * 2 ** 30);
  const weather = join(EXAMPLES, 'weather');
  const viaFifo = run(['check', weather, '--sample', fifo]);
  assert.equal(viaFifo.status, 1, viaFifo.stdout + viaFifo.stderr);
  assert.match(viaFifo.stderr, /sample-fifo\.csv: \(file\): the sample is not a regular file \(a FIFO\)/);
  const tooLarge = run(['check', weather, '--sample', huge]);
  assert.equal(tooLarge.status, 1, tooLarge.stdout + tooLarge.stderr);
  assert.match(tooLarge.stderr, /huge\.csv: \(file\): the sample is too large \(10 GiB; a CSV sample may be up to 64 MiB; give its first rows: head -n 10001 .*huge\.csv > sample\.csv\)/);
});

test('check: a model\'s subfolder named like a version that is none (02, 0, v3, 1.0) is a warning naming it and the name to give it — it was not served, and nothing said so', () => {
  const repo = tempDir('modelserve-check-versions-');
  const dir = writeBookModelFolder(repo);
  writeFileSync(join(dir, 'model.yaml'), readFileSync(join(dir, 'model.yaml'), 'utf8').replace(/^model: .*$/m, 'model: svc.onnx'));
  for (const version of ['1', '02', '0', 'v3', '1.0']) {
    mkdirSync(join(dir, version));
    copyFileSync(BOOK_MODEL, join(dir, version, 'svc.onnx'));
  }
  const r = cli(['check', repo]);
  assert.equal(r.status, 0, r.stderr);
  const warned = (name: string, rename: string) => assert.match(r.stderr, new RegExp(`book-weather/${name.replace('.', '\\.')}: \\(folder\\): is not a version folder, so it is not served[^\\n]*${rename}\\n`), name);
  warned('02', ' \\(rename it to 2\\)');
  warned('v3', ' \\(rename it to 3\\)');
  warned('0', 'or dot\\)');
  warned('1.0', 'or dot\\)');
  assert.doesNotMatch(r.stderr, /book-weather\/1: /);
});

test('a default or example the config refuses is one problem, not also an "example row is not a valid request" one', () => {
  const repo = bookRepo({ m: bookConfig({ extra: '' }).replace('current_weather_condition: { type: number, example: 1 }', 'current_weather_condition: { type: number, enum: [0, 1], example: 2 }') });
  const r = cli(['check', repo]);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /fields\.current_weather_condition\.example: is not one of enum \(0, 1\)/);
  assert.doesNotMatch(r.stderr, /example row/);
});

test('a scale on an int32 or int64 input is an error naming it (an int64 input was fed the values unscaled, an int32 one scaled and truncated, without a word)', () => {
  const repo = writeIdentityModels(tempDir('modelserve-check-repo-'), [{ file: 'i32/model.onnx', elem: 'INT32', shape: ['N', 1] }, { file: 'i64/model.onnx', elem: 'INT64', shape: ['N', 1] }]);
  for (const model of ['i32', 'i64']) {
    writeFileSync(join(repo, model, 'model.yaml'), 'fields:\n  n: { type: integer, example: 3 }\ninputs:\n  x: { fields: [n], scale: { mean: [100], scale: [10] } }\noutputs:\n  y: { from: y }\n');
  }
  const r = cli(['check', repo]);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  for (const [model, type] of [['i32', 'int32'], ['i64', 'int64']]) {
    assert.match(r.stderr, new RegExp(`${model}/model\\.yaml: inputs\\.x\\.scale: the model's input 'x' is ${type}, which cannot hold scaled values; scale applies to float32 and float64 inputs\\n`));
  }
});

test('a model file with a space or a quote in its name, given where a folder is expected: the init command said is one a shell runs as written, into a valid model name', () => {
  const dir = tempDir('modelserve-check-file-');
  for (const file of ['My Model.onnx', "it's.onnx"]) {
    copyFileSync(BOOK_MODEL, join(dir, file));
    const r = cli(['check', file], dir);
    assert.equal(r.status, 1, r.stderr);
    const command = /`(modelserve init [^`]+)`/.exec(r.stderr)![1]!;
    const folder = /-o models\/(\S+)/.exec(command)![1]!;
    assert.match(folder, /^[a-z0-9][a-z0-9_-]*$/, command);
    const init = spawnSync('/bin/sh', ['-c', command.replace(/^modelserve/, `"${process.execPath}" "${CLI}"`)], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    assert.equal(init.status, 0, `${command}: ${init.stderr}`);
    assert.equal(cli(['check', `models/${folder}`], dir).status, 0);
  }
  rmSync(dir, { recursive: true, force: true });
});

test('check says what serve\'s load decides from a graph, as notes (exit 0): a raw model whose ReduceMean averages over the batch is not batched across requests; a Loop never runs on the main thread, an Expand or TopK sized by a constant does', async () => {
  const repo = tempDir('modelserve-check-notes-');
  // x [N, 4] in; centred: y = x - ReduceMean(x, axes=[0]) (each row from the others' rows); relu: row by row.
  writeGraphFolders(repo, [
    "save('centred', [h.make_node('ReduceMean', ['x'], ['m'], axes=[0], name='mean'), h.make_node('Sub', ['x', 'm'], ['y'])], [v('x', T.FLOAT, ['N', 4])], [v('y', T.FLOAT, ['N', 4])])",
    "save('relu', [h.make_node('Relu', ['x'], ['y'])], [v('x', T.FLOAT, ['N', 4])], [v('y', T.FLOAT, ['N', 4])])",
    // Sized by constants, so no main-thread note: Expand by an initializer shape, TopK by a Constant node's K.
    "save('widen', [h.make_node('Expand', ['x', 'shape'], ['y'])], [v('x', T.FLOAT, ['N', 1])], [v('y', T.FLOAT, ['N', 4])], [h.make_tensor('shape', T.INT64, [2], [1, 4])])",
    "save('top2', [h.make_node('Constant', [], ['k'], value_ints=[2]), h.make_node('TopK', ['x', 'k'], ['values', 'indices'])], [v('x', T.FLOAT, ['N', 4])], [v('values', T.FLOAT, ['N', 2]), v('indices', T.INT64, ['N', 2])])",
  ].join('\n'));
  // A Loop whose trip count is its input ('n' [1]: not batched at all, so only the main thread is said).
  mkdirSync(join(repo, 'loop'));
  writeLoopModel(join(repo, 'loop', 'model.onnx'));
  // Run in the repository: its files are named relative to it.
  const r = cli(['check', repo], repo);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(r.stderr, [
    '2 notes:',
    "  centred/model.onnx: (model): not batched across requests (max_batch_size 0): its ReduceMean node 'mean': it reduces over axis 0, the batch dimension, so each request runs alone",
    "  loop/model.onnx: (model): never runs on the main thread: it holds Loop, an operator whose work depends on its input's values, so every batch runs on a worker thread",
    '',
  ].join('\n'));
  assert.match(r.stdout, /^ok: 5 models checked \(centred, loop, relu, top2, widen\), 0 error\(s\), 0 warning\(s\), 2 note\(s\)$/m);
  // serve --check prints the same.
  const serveCheck = cli(['serve', repo, '--check'], repo);
  assert.equal(serveCheck.status, 0, serveCheck.stdout + serveCheck.stderr);
  assert.equal(serveCheck.stderr, r.stderr);
  // With --workers 0 every batch runs on the main thread (no hybrid runtime), --inline-max-us 0 every batch on a
  // worker: neither decides per model, so the main-thread note is not said (it said 'runs on a worker thread').
  for (const flags of [['--workers', '0'], ['--inline-max-us', '0']]) {
    const noHybrid = cli(['serve', repo, ...flags, '--check'], repo);
    assert.equal(noHybrid.status, 0, noHybrid.stdout + noHybrid.stderr);
    assert.equal(noHybrid.stderr, [
      '1 note:',
      "  centred/model.onnx: (model): not batched across requests (max_batch_size 0): its ReduceMean node 'mean': it reduces over axis 0, the batch dimension, so each request runs alone",
      '',
    ].join('\n'), flags.join(' '));
  }
  // The report (checkRepository) holds them as notes: the repository serves.
  const report = await checkRepository(repo);
  assert.equal(report.ok, true);
  assert.deepEqual(report.problems.map((p) => [p.severity, p.file, p.key, p.message.split(':')[0]]), [
    ['note', join(repo, 'centred', 'model.onnx'), '(model)', 'not batched across requests (max_batch_size 0)'],
    ['note', join(repo, 'loop', 'model.onnx'), '(model)', 'never runs on the main thread'],
  ]);
  rmSync(repo, { recursive: true, force: true });
});
