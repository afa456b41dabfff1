// XGBoost's save_model('model.json') file in the folder layouts serve reads: model.json is also a
// config file name, and an XGBoost model there is a model, not a config — in a version folder
// (Triton's models/<name>/<version>/) under the model folder's model.yaml, and alone in a folder; and the
// format mix-ups (an XGBoost model without format: xgboost, an .onnx file with it, a UBJSON file).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isXgboostJson } from '../../src/config/load.js';
import { startServer } from '../../src/server.js';
import { CLI, EXAMPLES, REPO, tempDir } from '../helpers/paths.js';
import { call } from '../helpers/http.js';

const root = tempDir('modelserve-xgboost-layout-');
after(() => rmSync(root, { recursive: true, force: true }));
const DIR = join(EXAMPLES, 'rain-xgboost');

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000, cwd: root });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('a version folder holding XGBoost\'s model.json serves it with the model folder\'s model.yaml (not read as the version\'s config)', async () => {
  const repo = join(root, 'versions');
  mkdirSync(join(repo, 'rain', '1'), { recursive: true });
  copyFileSync(join(DIR, 'model.yaml'), join(repo, 'rain', 'model.yaml'));
  copyFileSync(join(DIR, 'model.json'), join(repo, 'rain', '1', 'model.json'));
  const checked = cli(['check', repo]);
  assert.equal(checked.status, 0, checked.stdout + checked.stderr);
  assert.match(checked.stdout, /^ok: 1 model checked \(rain-xgboost\)/);
  const server = await startServer({ repo, port: 0, workers: 1, grpcPort: 0 });
  try {
    const valid = JSON.parse(readFileSync(join(DIR, 'samples/valid.json'), 'utf8')) as unknown[];
    const expected = JSON.parse(readFileSync(join(DIR, 'samples/expected.json'), 'utf8')) as Array<{ prediction: string }>;
    const res = await call(`${server.url}/predict`, { body: valid[0] });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.prediction, expected[0]!.prediction);
  } finally {
    await server.shutdown();
  }
});

test('a folder holding only XGBoost\'s model.json is one problem saying it is a model and how to get its model.yaml', () => {
  const repo = join(root, 'alone');
  mkdirSync(join(repo, 'rain'), { recursive: true });
  copyFileSync(join(DIR, 'model.json'), join(repo, 'rain', 'model.json'));
  for (const args of [['check', repo], ['serve', repo, '--check']]) {
    const r = cli(args);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /\(1 problem\):\n {2}alone\/rain: \(folder\): no model\.yaml \/ model\.yml \/ model\.json in the version folder or its model folder \(its model\.json is an XGBoost model, not a config: `modelserve init alone\/rain\/model\.json` writes a model\.yaml for it\)\n/);
    assert.doesNotMatch(r.stderr, /learner|is required/);
  }
});

test('format mix-ups are one line saying what the file is: model.json without format: xgboost, an .onnx file with it, a UBJSON model', () => {
  const repo = join(root, 'mixups');
  mkdirSync(join(repo, 'noformat'), { recursive: true });
  copyFileSync(join(DIR, 'model.json'), join(repo, 'noformat', 'model.json'));
  writeFileSync(join(repo, 'noformat', 'model.yaml'), readFileSync(join(DIR, 'model.yaml'), 'utf8').replace(/^name: .*\n/m, 'name: noformat\n').replace(/^format: xgboost\n/m, ''));
  mkdirSync(join(repo, 'onnx'));
  copyFileSync(join(REPO, 'examples/loan/model.onnx'), join(repo, 'onnx', 'model.onnx'));
  writeFileSync(join(repo, 'onnx', 'model.yaml'), readFileSync(join(DIR, 'model.yaml'), 'utf8').replace(/^name: .*\n/m, 'name: onnx\n').replace(/^model: model\.json\n/m, 'model: model.onnx\n'));
  const r = cli(['check', repo]);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /noformat\/model\.yaml: model: .*noformat\/model\.json is not a valid ONNX model: it is an XGBoost JSON model: add format: xgboost to the config\n/);
  assert.match(r.stderr, /onnx\/model\.yaml: model: .*onnx\/model\.onnx is an ONNX model, not XGBoost's JSON model format: leave out format: xgboost\n/);
  // (and, without format: xgboost, its optional fields need defaults)
  assert.match(r.stderr, /\(4 problems\)/);
  // XGBoost 2 saves UBJSON by default: a '{' and binary length markers, not JSON.
  writeFileSync(join(root, 'model.ubj'), Buffer.from([0x7b, 0x4c, 0, 0, 0, 0, 0, 0, 0, 7, 0x6c, 0x65, 0x61, 0x72, 0x6e, 0x65, 0x72, 0x0a, 0x7d]));
  const ubj = cli(['init', join(root, 'model.ubj')]);
  assert.equal(ubj.status, 1);
  assert.match(ubj.stderr, /^modelserve init: .*model\.ubj is not XGBoost's JSON model format \(it is XGBoost's binary UBJSON format\); save it with model\.save_model\('model\.json'\)\n$/);
});

test('an XGBoost model.json that starts with a UTF-8 byte order mark is read as without it: check, serve and inspect take it (they refused it as not XGBoost\'s JSON model format)', async () => {
  const repo = join(root, 'bom');
  mkdirSync(join(repo, 'rain'), { recursive: true });
  copyFileSync(join(DIR, 'model.yaml'), join(repo, 'rain', 'model.yaml'));
  writeFileSync(join(repo, 'rain', 'model.json'), `\uFEFF${readFileSync(join(DIR, 'model.json'), 'utf8')}`);
  // Told from a config by its start (a model.json beside model.yaml is the model, not a second config).
  assert.equal(isXgboostJson(join(repo, 'rain', 'model.json')), true);
  const checked = cli(['check', repo]);
  assert.equal(checked.status, 0, checked.stdout + checked.stderr);
  const inspected = cli(['inspect', join(repo, 'rain', 'model.json')]);
  assert.equal(inspected.status, 0, inspected.stderr);
  const server = await startServer({ repo, port: 0, workers: 1, grpcPort: 0 });
  try {
    const valid = JSON.parse(readFileSync(join(DIR, 'samples/valid.json'), 'utf8')) as unknown[];
    const expected = JSON.parse(readFileSync(join(DIR, 'samples/expected.json'), 'utf8')) as Array<{ prediction: string }>;
    const res = await call(`${server.url}/predict`, { body: valid[0] });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.prediction, expected[0]!.prediction);
  } finally {
    await server.shutdown();
  }
});

/** Runs a short Python script (Debian's python3-xgboost) in `root`. */
function python(script: string): void {
  const r = spawnSync('/usr/bin/python3', ['-c', script], { encoding: 'utf8', timeout: 120_000, cwd: root });
  assert.equal(r.status, 0, r.stderr);
}

test("XGBoost's legacy binary format and a Python pickle are said to be what they are, with how to save JSON (convert, inspect, init, check, serve); they were a JSON or protobuf parse error", () => {
  python(`import pickle, numpy as np, xgboost as xgb
X = np.arange(40, dtype=np.float32).reshape(20, 2); y = (X[:, 0] > 15).astype(int)
b = xgb.train({'objective': 'binary:logistic', 'max_depth': 2}, xgb.DMatrix(X, label=y), 2)
b.save_model('legacy.model'); b.save_model('legacy.json')
pickle.dump(b, open('model.pkl', 'wb'))`);
  const legacy = /legacy\.model:? (?:is )?not (?:XGBoost's JSON model format \(it is XGBoost's legacy binary format\);|a valid ONNX model: it is XGBoost's legacy binary format:) save it with model\.save_model\('model\.json'\)/;
  for (const command of [['convert', 'legacy.model', 'out.onnx'], ['inspect', 'legacy.model'], ['init', 'legacy.model', '-o', 'legacy-init']]) {
    const r = cli(command);
    assert.equal(r.status, 1, `${command[0]}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, legacy, command[0]);
    assert.doesNotMatch(r.stderr, /Unexpected token|wire type/, command[0]);
  }
  for (const command of [['convert', 'model.pkl', 'out.onnx'], ['inspect', 'model.pkl'], ['init', 'model.pkl', '-o', 'pickle-init']]) {
    const r = cli(command);
    assert.equal(r.status, 1, `${command[0]}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /model\.pkl:? (?:is )?not .*it is a Python pickle.*save an XGBoost model with model\.save_model\('model\.json'\); export a scikit-learn model to ONNX/, command[0]);
  }
  // In a repository, with or without format: xgboost.
  for (const format of ['format: xgboost\n', '']) {
    const repo = join(root, `legacy-repo${format ? '-xgboost' : ''}`);
    mkdirSync(join(repo, 'm'), { recursive: true });
    copyFileSync(join(root, 'legacy.model'), join(repo, 'm', 'model.bin'));
    writeFileSync(join(repo, 'm', 'model.yaml'), `model: model.bin\n${format}fields: { a: { type: number }, b: { type: number } }\ninputs: { input: { fields: [a, b] } }\noutputs: { p: { from: probabilities } }\n`);
    for (const command of ['check', 'serve']) {
      const r = cli([command, repo, ...(command === 'serve' ? ['--port', '0', '--grpc-port', '0'] : [])]);
      assert.equal(r.status, 1, `${command}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /model\.bin:? (?:is )?not (?:XGBoost's JSON model format \(it is|a valid ONNX model: it is) XGBoost's legacy binary format/, `${command} ${format}`);
      assert.doesNotMatch(r.stderr, /protobuf|Unexpected token/, `${command} ${format}`);
    }
  }
});
