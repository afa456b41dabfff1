// XGBoost models served directly (format: xgboost): real models trained by Debian's python3-xgboost
// on the weather example's data, with missing values, served by a real server; every answer equals
// XGBoost's own predict / predict_proba within 1e-5 on 1,000 held-out rows. Also `convert`, `init`
// on a model.json, and the refusals.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { parse as parseYaml } from 'yaml';
import { startServer } from '../../src/server.js';
import { CLI, EXAMPLES, REPO, tempDir } from '../helpers/paths.js';
import { call } from '../helpers/http.js';

const root = tempDir('modelserve-xgboost-');
after(() => rmSync(root, { recursive: true, force: true }));

interface Trained {
  file: string;
  features: string[];
  objective: string;
  rows: Array<Array<number | null>>;
  proba?: number[][];
  label?: number[];
  predict?: number[];
}
let models: Record<string, Trained>;

before(() => {
  const r = spawnSync('/usr/bin/python3', [join(REPO, 'test/fixtures/xgboost/train_models.py'), join(root, 'trained')], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `training failed (python3-xgboost is installed by scripts/system-deps.sh): ${r.stderr}`);
  models = JSON.parse(readFileSync(join(root, 'trained', 'manifest.json'), 'utf8')).models;
});

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000, cwd: root });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Request objects: a missing cell is an absent field. */
function requests(m: Trained): Array<Record<string, number>> {
  return m.rows.map((row) => Object.fromEntries(m.features.flatMap((f, i) => (row[i] === null ? [] : [[f, row[i]!]]))));
}

function modelFolder(name: string, m: Trained): string {
  const dir = join(root, 'repo', name);
  mkdirSync(dir, { recursive: true });
  const classifier = m.proba !== undefined;
  writeFileSync(join(dir, 'model.yaml'), `model: ${m.file}
format: xgboost
fields:
${m.features.map((f) => `  ${f}: { type: number, required: false }   # absent = missing`).join('\n')}
inputs:
  input: { fields: [${m.features.join(', ')}] }
outputs:
${classifier ? '  label: { from: label }\n  probabilities: { from: probabilities }' : '  value: { from: variable }'}
`);
  return dir;
}

function maxDiff(a: number[], b: number[]): number {
  assert.equal(a.length, b.length);
  return Math.max(...a.map((x, i) => Math.abs(x - b[i]!)));
}

test('served answers equal XGBoost predict/predict_proba within 1e-5 on 1,000 held-out rows with missing values', async () => {
  for (const [name, m] of Object.entries(models)) modelFolder(name, m);
  const server = await startServer({ repo: join(root, 'repo'), port: 0, workers: 1 });
  try {
    for (const [name, m] of Object.entries(models)) {
      const bodies = requests(m);
      assert.equal(bodies.length, 1000);
      const missing = m.rows.filter((r) => r.includes(null)).length;
      assert.ok(missing > 300, `${name}: ${missing} rows with a missing value`);
      const res = await call(`${server.url}/models/${name}/predict`, { body: bodies });
      assert.equal(res.status, 200, `${name}: ${res.text.slice(0, 300)}`);
      const answers = res.body as Array<{ label?: number; probabilities?: number[]; value?: number }>;
      if (m.proba) {
        const diff = maxDiff(answers.flatMap((a) => a.probabilities!), m.proba.flat());
        assert.ok(diff <= 1e-5, `${name} (${m.objective}): max |Δp| ${diff}`);
        assert.deepEqual(answers.map((a) => a.label), m.label, `${name}: labels`);
      } else {
        const diff = maxDiff(answers.map((a) => a.value!), m.predict!);
        assert.ok(diff <= 1e-5 * Math.max(1, ...m.predict!.map(Math.abs)), `${name} (${m.objective}): max |Δ| ${diff}`);
      }
    }
    // A required field cannot be missing; an optional one may be absent, but null is a 422 (absent is how "missing" is said).
    const nullBody = { ...requests(models.binary!)[0], humidity: null };
    const res = await call(`${server.url}/models/binary/predict`, { body: nullBody });
    assert.equal(res.status, 422);
  } finally {
    await server.shutdown();
  }
});

test('modelserve convert writes the ONNX graph; onnxruntime gives XGBoost\'s numbers with NaN for missing', async () => {
  const m = models.multi!;
  const out = join(root, 'multi.onnx');
  const r = cli(['convert', m.file, out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /multi:softprob, 7 features, 3 classes/);
  const session = await ort.InferenceSession.create(readFileSync(out));
  const data = Float32Array.from(m.rows.flat().map((v) => (v === null ? NaN : v)));
  const res = await session.run({ input: new ort.Tensor('float32', data, [m.rows.length, m.features.length]) });
  assert.ok(maxDiff(Array.from(res.probabilities!.data as Float32Array), m.proba!.flat()) <= 1e-5);
  assert.deepEqual(Array.from(res.label!.data as BigInt64Array, Number), m.label);
  const inspect = cli(['inspect', out]);
  assert.match(inspect.stdout, /ai\.onnx\.ml\.TreeEnsembleRegressor/);
  assert.match(inspect.stdout, /xgboost_objective: multi:softprob/);
  const direct = cli(['inspect', m.file, '--json']);
  assert.equal(direct.status, 0, direct.stderr);
  assert.deepEqual(JSON.parse(direct.stdout).inputs, [{ name: 'input', type: 'float32', shape: ['N', 7] }]);
});

test('init model.json: fields from the saved feature names, format: xgboost, optional fields, strict; it serves', async () => {
  const m = models.binary!;
  const r = cli(['init', m.file, '-o', 'rain', '--labels', '0=No_Rain,1=Rain', '--proba-field', 'rain_probability']);
  assert.equal(r.status, 0, r.stderr);
  const config = parseYaml(readFileSync(join(root, 'rain', 'model.yaml'), 'utf8'));
  assert.equal(config.format, 'xgboost');
  assert.equal(config.model, 'binary.json');
  assert.deepEqual(config.inputs.input.fields, m.features);
  const server = await startServer({ repo: join(root, 'rain'), port: 0, workers: 1 });
  try {
    const res = await call(`${server.url}/predict`, { body: requests(m).slice(0, 50) });
    assert.equal(res.status, 200, res.text);
    const answers = res.body as Array<{ prediction: string; rain_probability: number }>;
    assert.ok(maxDiff(answers.map((a) => a.rain_probability), m.proba!.slice(0, 50).map((p) => p[1]!)) <= 1e-5);
    assert.deepEqual(answers.map((a) => a.prediction), m.label!.slice(0, 50).map((l) => (l === 1 ? 'Rain' : 'No_Rain')));
    // Every field is optional, so init writes strict: a misspelt field is a 422, not a silent missing value.
    assert.equal(config.strict, true);
    const misspelt = Object.fromEntries(Object.entries(requests(m)[0]!).map(([k, v], i) => [i === 0 ? `${k}x` : k, v]));
    const refused = await call(`${server.url}/predict`, { body: misspelt });
    assert.equal(refused.status, 422, refused.text);
    assert.match(refused.text, /extra fields not permitted|unknown|not permitted/i);
  } finally {
    await server.shutdown();
  }
});

test('a file that is not an XGBoost model, or an unsupported objective, is refused naming the file', () => {
  const bad = join(root, 'bad.json');
  writeFileSync(bad, '{"hello": 1}');
  const r = cli(['convert', bad, join(root, 'bad.onnx')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /bad\.json: not an XGBoost JSON model: no learner/);
  const rank = JSON.parse(readFileSync(models.binary!.file, 'utf8'));
  rank.learner.objective.name = 'reg:quantileerror';
  writeFileSync(join(root, 'rank.json'), JSON.stringify(rank));
  const ranked = cli(['convert', join(root, 'rank.json'), join(root, 'rank.onnx')]);
  assert.equal(ranked.status, 1);
  assert.match(ranked.stderr, /objective reg:quantileerror is not supported/);
  const dir = join(root, 'repo-bad', 'm');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.json'), '{"learner": {}}');
  writeFileSync(join(dir, 'model.yaml'), 'format: xgboost\nfields: { a: { type: number } }\ninputs: { input: { fields: [a] } }\noutputs: { v: { from: variable } }\n');
  const check = cli(['check', join(root, 'repo-bad')]);
  assert.equal(check.status, 1);
  // The file named once (it was "cannot read /…/model.json: /…/model.json: not an …").
  assert.match(check.stderr, /m\/model\.yaml: model: \S*m\/model\.json is not an XGBoost JSON model: no learner_model_param\n/);
  assert.equal(check.stderr.split('model.json').length, 2, check.stderr);
  const serve = cli(['serve', join(root, 'repo-bad'), '--port', '0', '--grpc-port', '0']);
  assert.equal(serve.status, 1);
  assert.match(serve.stderr, /m\/model\.json is not an XGBoost JSON model: no learner_model_param\n/);
  assert.equal(serve.stderr.split('model.json').length, 2, serve.stderr);
  // XGBoost's binary format (UBJSON): init and inspect say the same thing, how to save JSON instead.
  const ubj = join(root, 'model.ubj');
  writeFileSync(ubj, Buffer.from([0x7b, 0x4c, 0x00, 0x00]));
  for (const command of ['init', 'inspect']) {
    const r = cli([command, ubj]);
    assert.equal(r.status, 1, `${command}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /model\.ubj is not XGBoost's JSON model format .*save it with model\.save_model\('model\.json'\)/, command);
  }
});

test('a tree whose structure onnxruntime would refuse is refused naming the file, the tree and the node (convert, inspect, check, serve), nothing written', () => {
  const example = readFileSync(join(EXAMPLES, 'rain-xgboost', 'model.json'), 'utf8');
  interface TreeJson { left_children: number[]; right_children: number[]; split_indices: number[]; split_conditions: Array<number | null> }
  const broken: Array<[string, (trees: TreeJson[]) => TreeJson[] | void, RegExp]> = [
    ['badchild', (trees) => { trees[0]!.left_children[0] = 99999; }, /tree 0, node 0: left_children is 99999, not a node of the tree \(0 to 30\) or -1/],
    ['self', (trees) => { trees[0]!.left_children[0] = 0; }, /tree 0, node 0: points to itself/],
    ['cycle', (trees) => { trees[0]!.left_children[3] = 1; }, /tree 0, node 1: reached twice, from node 0 and from node 3/],
    ['shared', (trees) => { trees[2]!.right_children[1] = 5; }, /tree 2, node 5: reached twice, from node 2 and from node 1/],
    ['halfleaf', (trees) => { trees[0]!.right_children[0] = -1; }, /tree 0, node 0: left child 1 and right child -1 \(a leaf has -1 for both, a split neither\)/],
    ['orphan', (trees) => { trees[0]!.left_children[1] = -1; trees[0]!.right_children[1] = -1; }, /tree 0, node 3: not reached from the root/],
    ['nullsplit', (trees) => { trees[0]!.split_conditions[0] = null; }, /tree 0, node 0: split_conditions is null, not a number/],
    ['short', (trees) => { trees[1]!.split_indices.pop(); }, /tree 1: split_indices has 30 entries, left_children 31/],
    ['notrees', () => [], /the model has 0 trees where gbtree_model_param\.num_trees says 120/],
  ];
  for (const [name, breakIt, message] of broken) {
    const model = JSON.parse(example);
    const replaced = breakIt(model.learner.gradient_booster.model.trees);
    if (replaced) model.learner.gradient_booster.model.trees = replaced;
    const file = join(root, `${name}.json`);
    writeFileSync(file, JSON.stringify(model));
    const out = join(root, `${name}.onnx`);
    const r = cli(['convert', file, out]);
    assert.equal(r.status, 1, `${name}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^modelserve convert: .*${name}\\.json: ${message.source}`), name);
    assert.equal(r.stderr.split('\n').length, 2, `${name}: one line: ${r.stderr}`);
    assert.throws(() => readFileSync(out), /ENOENT/, `${name}: nothing written`);
    const inspect = cli(['inspect', file]);
    assert.equal(inspect.status, 1, `${name}: inspect: ${inspect.stdout}`);
    assert.match(inspect.stderr, message, `${name}: inspect`);
  }
  // A model folder holding one: check and serve --check say the same.
  const dir = join(root, 'repo-badtree', 'rain');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.yaml'), readFileSync(join(EXAMPLES, 'rain-xgboost', 'model.yaml')));
  writeFileSync(join(dir, 'model.json'), readFileSync(join(root, 'self.json')));
  for (const args of [['check', join(root, 'repo-badtree')], ['serve', join(root, 'repo-badtree'), '--check']]) {
    const r = cli(args);
    assert.equal(r.status, 1, `${args[0]}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /rain\/model\.json is an XGBoost model modelserve cannot convert: tree 0, node 0: points to itself/, args[0]);
    assert.equal(r.stderr.split('model.json').length, 2, `${args[0]} names the file once: ${r.stderr}`);
  }
});

test('a model trained with enable_categorical is refused naming the file, the tree, the node and the feature (convert, inspect, init, check); it was a JSON parse error at the NaN XGBoost writes', () => {
  const py = spawnSync('/usr/bin/python3', ['-c', `import numpy as np, xgboost as xgb
rng = np.random.default_rng(0); X = np.stack([rng.normal(size=200), rng.integers(0, 3, size=200)], 1).astype(np.float32)
y = ((X[:, 1] == 1) ^ (X[:, 0] > 0)).astype(int)
d = xgb.DMatrix(X, label=y, feature_types=['q', 'c'], enable_categorical=True)
xgb.train({'objective': 'binary:logistic', 'tree_method': 'hist', 'max_depth': 2}, d, 2).save_model('categorical.json')`], { encoding: 'utf8', cwd: root, timeout: 120_000 });
  assert.equal(py.status, 0, py.stderr);
  const message = /categorical\.json: tree 0, node \d+ splits on categorical feature 1 \(trained with enable_categorical\), which modelserve cannot serve; train with the categories as numbers or one-hot columns instead\n/;
  for (const args of [['convert', 'categorical.json', 'categorical.onnx'], ['inspect', 'categorical.json'], ['init', 'categorical.json', '-o', 'categorical-init']]) {
    const r = cli(args);
    assert.equal(r.status, 1, `${args[0]}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message, args[0]);
    assert.doesNotMatch(r.stderr, /Unexpected token|not valid JSON/, args[0]);
  }
  const dir = join(root, 'repo-categorical', 'm');
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(root, 'categorical.json'), join(dir, 'model.json'));
  writeFileSync(join(dir, 'model.yaml'), 'format: xgboost\nfields: { a: { type: number }, b: { type: number } }\ninputs: { input: { fields: [a, b] } }\noutputs: { p: { from: probabilities } }\n');
  const check = cli(['check', join(root, 'repo-categorical')]);
  assert.equal(check.status, 1, check.stdout + check.stderr);
  assert.match(check.stderr, /m\/model\.json is an XGBoost model modelserve cannot convert: tree 0, node \d+ splits on categorical feature 1 \(trained with enable_categorical\)/);
});

test('convert to the input file itself (the same path, spelt otherwise, a symlink to it) is a usage error (exit 2); the model is left as it was', () => {
  const input = join(root, 'xin.json');
  copyFileSync(join(EXAMPLES, 'rain-xgboost', 'model.json'), input);
  symlinkSync(input, join(root, 'xin-link.onnx'));
  const original = readFileSync(input);
  for (const output of ['xin.json', './xin.json', input, 'xin-link.onnx']) {
    const r = cli(['convert', 'xin.json', output]);
    assert.equal(r.status, 2, `${output}: ${r.stderr}`);
    assert.match(r.stderr, /^modelserve convert: .*xin(-link)?\.(json|onnx) is the input file xin\.json: writing it would overwrite the model; give another <out\.onnx>\n/, output);
    assert.deepEqual(readFileSync(input), original, output);
  }
});

test('convert given an ONNX model says it needs no converting, not \'leave out format: xgboost\' (there is no config to change); nothing written', () => {
  const out = join(root, 'never.onnx');
  const r = cli(['convert', join(EXAMPLES, 'weather', 'model.onnx'), out]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^modelserve convert: .*weather\/model\.onnx is an ONNX model, not XGBoost's JSON model format: it needs no converting \(modelserve inspect shows its inputs and outputs\)\n$/);
  assert.ok(!existsSync(out));
});

test('convert given an empty file, a pickle or a text named .onnx says what it is (it called each an ONNX model that needs no converting), as check of format: xgboost does; nothing written', () => {
  const out = join(root, 'never.onnx');
  const said = (name: string, bytes: Uint8Array | string) => {
    const file = join(root, name);
    writeFileSync(file, bytes);
    const r = cli(['convert', file, out]);
    assert.equal(r.status, 1, r.stderr);
    assert.ok(!existsSync(out), name);
    assert.doesNotMatch(r.stderr, /is an ONNX model/, name);
    return r.stderr;
  };
  assert.match(said('empty.onnx', ''), /^modelserve convert: .*empty\.onnx is cut short \(it is empty\): is it still being copied, or was its copy cut short\?\n$/);
  assert.match(said('pickle.onnx', Buffer.from('80027d710058010000007871014b01732e', 'hex')), /^modelserve convert: .*pickle\.onnx is not XGBoost's JSON model format \(it is a Python pickle\); a pickle holds Python objects/);
  assert.match(said('notes.onnx', 'hello world'), /^modelserve convert: .*notes\.onnx is not XGBoost's JSON model format \(Unexpected token 'h', "hello world" is not valid JSON\); save it with model\.save_model\('model\.json'\)\n$/);
  const folder = join(root, 'empty-onnx-xgboost');
  mkdirSync(folder);
  writeFileSync(join(folder, 'model.yaml'), readFileSync(join(EXAMPLES, 'rain-xgboost', 'model.yaml'), 'utf8').replace(/^model: model\.json$/m, 'model: model.onnx'));
  writeFileSync(join(folder, 'model.onnx'), '');
  const check = cli(['check', folder]);
  assert.equal(check.status, 1);
  assert.match(check.stderr, /model\.yaml: model: .*model\.onnx is cut short \(it is empty\)/);
});

test('a JSON file holding null, a number, an array or a string is not an XGBoost JSON model (convert, inspect, init), said without a JavaScript error', () => {
  for (const [name, text, kind] of [['null', 'null', 'null'], ['number', '5', 'a number'], ['array', '[]', 'an array'], ['string', '"learner"', 'a string']] as const) {
    const file = join(root, `${name}.json`);
    writeFileSync(file, `${text}\n`);
    for (const command of ['convert', 'inspect', 'init']) {
      const r = cli(command === 'convert' ? [command, file, join(root, `${name}.onnx`)] : command === 'init' ? [command, file, '-o', join(root, `init-${name}`)] : [command, file]);
      assert.equal(r.status, 1, `${command} ${name}: ${r.stdout}${r.stderr}`);
      assert.equal(r.stderr, `modelserve ${command}: ${file}: not an XGBoost JSON model: it holds ${kind}, not an object with a learner\n`, `${command} ${name}`);
    }
  }
  writeFileSync(join(root, 'empty-object.json'), '{}');
  const empty = cli(['convert', join(root, 'empty-object.json'), join(root, 'empty-object.onnx')]);
  assert.equal(empty.status, 1);
  assert.match(empty.stderr, /empty-object\.json: not an XGBoost JSON model: no learner\n$/);
});

test('convert to an output that cannot be written (a directory, a full device, a missing folder) is one line naming it, exit 1', () => {
  mkdirSync(join(root, 'outdir'));
  const outputs: Array<[string, RegExp]> = [
    [join(root, 'outdir') + '/', /EISDIR: illegal operation on a directory/],
    [join(root, 'no-such-dir', 'x.onnx'), /ENOENT: no such file or directory/],
    ...(existsSync('/dev/full') ? [['/dev/full', /ENOSPC: no space left on device/] as [string, RegExp]] : []),
  ];
  for (const [output, reason] of outputs) {
    const r = cli(['convert', join(EXAMPLES, 'rain-xgboost', 'model.json'), output]);
    assert.equal(r.status, 1, `${output}: ${r.stderr}`);
    assert.equal(r.stderr.replace(reason, '<reason>'), `modelserve convert: cannot write ${output}: <reason>\n`, output);
  }
});

test('a tree with nodes XGBoost\'s pruner deleted (tree_param.num_deleted, left unreached) still converts and answers as XGBoost', async () => {
  const script = `
import json, sys, numpy as np, xgboost as xgb
rng = np.random.default_rng(0)
X = rng.normal(size=(2000, 5)).astype(np.float32)
y = (X[:, 0] + 0.5 * X[:, 1] ** 2 + rng.normal(size=2000) * 0.8 > 0.5).astype(int)
b = xgb.train({'objective': 'binary:logistic', 'max_depth': 6, 'gamma': 3.0, 'updater': 'grow_colmaker,prune'}, xgb.DMatrix(X, label=y), 10)
b.save_model(sys.argv[1])
json.dump({'rows': X[:50].tolist(), 'p': b.predict(xgb.DMatrix(X[:50])).tolist()}, open(sys.argv[2], 'w'))
`;
  const file = join(root, 'pruned.json');
  const r0 = spawnSync('/usr/bin/python3', ['-c', script, file, join(root, 'pruned-expected.json')], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r0.status, 0, r0.stderr);
  const trees = JSON.parse(readFileSync(file, 'utf8')).learner.gradient_booster.model.trees as Array<{ tree_param: { num_deleted: string } }>;
  assert.ok(trees.some((t) => Number(t.tree_param.num_deleted) > 0), 'the prune updater deleted nodes');
  const out = join(root, 'pruned.onnx');
  const r = cli(['convert', file, out]);
  assert.equal(r.status, 0, r.stderr);
  const expected = JSON.parse(readFileSync(join(root, 'pruned-expected.json'), 'utf8')) as { rows: number[][]; p: number[] };
  const session = await ort.InferenceSession.create(readFileSync(out));
  const res = await session.run({ input: new ort.Tensor('float32', Float32Array.from(expected.rows.flat()), [50, 5]) });
  const p1 = Array.from(res.probabilities!.data as Float32Array).filter((_, i) => i % 2 === 1);
  assert.ok(maxDiff(p1, expected.p) <= 1e-5);
});
