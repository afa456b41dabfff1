import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync, copyFileSync, symlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadRepository, defaultModel } from '../../src/config/load.js';
import { StartupError } from '../../src/errors.js';
import { BOOK_MODEL, EXAMPLES, tempDir, writeBookModelFolder } from '../helpers/paths.js';

function repoWith(files: Record<string, string>): string {
  const root = tempDir();
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

function startupError(fn: () => unknown): StartupError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof StartupError, `expected a StartupError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a StartupError');
}

test('the example repository loads, frozen, with weather as the default model', () => {
  const configs = loadRepository(EXAMPLES);
  assert.deepEqual(configs.map((c) => c.name).sort(), ['loan', 'rain-xgboost', 'weather']);
  assert.equal(defaultModel(configs)?.name, 'weather');
  assert.ok(Object.isFrozen(configs[0]) && Object.isFrozen(configs[0]!.fields));
});

test('a single model folder is a repository of one', () => {
  const dir = writeBookModelFolder();
  const [config] = loadRepository(dir);
  assert.equal(config!.name, 'book-weather');
  assert.equal(config!.modelFile, BOOK_MODEL);
  assert.deepEqual(config!.outputs, [{ field: 'prediction', from: 'label', kind: 'label', map: { 1: 'Rain', 0: 'No_Rain' } }]);
});

test('every problem of every config is reported at once, with file and key path', () => {
  const root = repoWith({
    'a/model.yaml': `
fields:
  x: { type: float, minimum: 3 }
  y: { type: number, required: false }
  s: { type: string }
inputs:
  in: { fields: [x, nope, s], scale: { mean: [0], scale: [1, 2, 3] } }
outputs:
  out: { from: o, map: { "1": a }, column: 1 }
batching: { max_batch_size: 0 }
colour: red
`,
    'b/model.json': '{ "fields": { "x": { "type": "number" } }, "inputs": {}, ',
  });
  const err = startupError(() => loadRepository(root));
  assert.equal(err.code, 'MS_ERR_CONFIG_INVALID');
  const m = err.message;
  for (const expected of [
    'a/model.yaml: fields.x.type: must be one of number, integer, string, boolean',
    'a/model.yaml: outputs.out: give either map or column, not both',
    'a/model.yaml: batching.max_batch_size: must be >= 1',
    'a/model.yaml: colour: unknown key',
    'b/model.json: (file): not valid JSON',
  ]) assert.ok(m.includes(expected), `missing "${expected}" in:\n${m}`);
});

test('a model.json with a syntax error names its line and column; one with a key twice in an object is refused naming the line (JSON.parse kept the last "fields" and dropped the first silently)', () => {
  const broken = repoWith({ 'm/model.json': '{\n  "fields": { "x": { "type": "number" } }\n  "inputs": {}\n}\n' });
  assert.match(startupError(() => loadRepository(broken)).message, /m\/model\.json: \(file\): not valid JSON: Expected ',' or '\}' after property value at line 3, column 3\n?$/);
  const twice = repoWith({ 'm/model.json': '{\n  "fields": { "x": { "type": "number" } },\n  "fields": { "y": { "type": "number" } },\n  "inputs": { "in": { "fields": ["y"] } },\n  "outputs": { "out": { "from": "o" } }\n}\n' });
  assert.match(startupError(() => loadRepository(twice)).message, /m\/model\.json: \(file\): not valid: a key appears twice in one object \(the second at line 3, column 3\); JSON would keep only the last/);
});

test('a shadow naming no model of the repository is refused, with the model it looks like (every copy was a counted error, silently)', () => {
  const model = (extra: string) => `fields:\n  x: { type: number }\ninputs:\n  in: { fields: [x] }\noutputs:\n  out: { from: o }\n${extra}`;
  const root = repoWith({ 'weather/model.yaml': model('shadow: { model: weather-nxt }\n'), 'weather-next/model.yaml': model(''), 'other/model.yaml': model('shadow: { model: weather }\n') });
  for (const name of ['weather', 'weather-next', 'other']) copyFileSync(BOOK_MODEL, join(root, name, 'model.onnx'));
  const m = startupError(() => loadRepository(root)).message;
  assert.match(m, /weather\/model\.yaml: shadow\.model: no model 'weather-nxt' in the repository \(did you mean weather-next\?\) \(models: other, weather-next\)/);
  assert.doesNotMatch(m, /other\/model\.yaml/);
});

test('a mistyped key says which key it looks like, at every level; a key like none says only that it is unknown', () => {
  const root = repoWith({
    'a/model.yaml': `
descripton: rain or not
fields:
  x: { tpye: number, minimun: 3 }
inputs:
  in: { fields: [x] }
outputs:
  out: { from: o }
batching: { max_batch_sise: 8 }
version_policy: { lates: 2 }
colour: red
`,
  });
  const m = startupError(() => loadRepository(root)).message;
  for (const expected of [
    'a/model.yaml: descripton: unknown key (did you mean description?)',
    'a/model.yaml: fields.x.tpye: unknown key (did you mean type?)',
    'a/model.yaml: fields.x.minimun: unknown key (did you mean minimum?)',
    'a/model.yaml: batching.max_batch_sise: unknown key (did you mean max_batch_size?)',
    'a/model.yaml: version_policy.lates: unknown key (did you mean latest?)',
  ]) assert.ok(m.includes(expected), `missing "${expected}" in:\n${m}`);
  assert.match(m, /a\/model\.yaml: colour: unknown key\n/);
});

test('cross-field rules: unknown fields, scale lengths, defaults, unused fields, missing ONNX file', () => {
  const root = repoWith({
    'm/model.yaml': `
model: missing.onnx
fields:
  x: { type: number }
  y: { type: number, required: false }
  s: { type: string, example: 3 }
  unused: { type: number }
inputs:
  in: { fields: [x, nope, s], scale: { mean: [0], scale: [1, 2, 3] } }
outputs:
  out: { from: o }
`,
  });
  const m = startupError(() => loadRepository(root)).message;
  for (const expected of [
    "inputs.in.fields.1: 'nope' is not a declared field",
    'inputs.in.scale.mean: has 1 values but the input has 3 fields',
    'fields.y.default: a field with required: false needs a default',
    'fields.s.example: must be of type string',
    "inputs.in.fields.2: 's' is a string field",
    'fields.unused: is not fed to any input',
    'model: ONNX file not found',
  ]) assert.ok(m.includes(expected), `missing "${expected}" in:\n${m}`);
});

test('two default models, duplicate names and an empty repository are startup errors', () => {
  const root = tempDir();
  const source = writeBookModelFolder(tempDir(), 'default: true\n');
  for (const name of ['one', 'two']) {
    mkdirSync(join(root, name));
    copyFileSync(join(source, 'model.yaml'), join(root, name, 'model.yaml'));
  }
  const m = startupError(() => loadRepository(root)).message;
  assert.match(m, /model name 'book-weather' is already used/);
  assert.match(m, /only one model may be the default/);
  const empty = startupError(() => loadRepository(tempDir()));
  assert.equal(empty.code, 'MS_ERR_CONFIG_NOT_FOUND');
  assert.equal(startupError(() => loadRepository('/nonexistent/models')).code, 'MS_ERR_CONFIG_NOT_FOUND');
});

test('a config the schema rejects still has its other problems reported, at once (start-up, --watch and the repository API read it alike)', () => {
  const repo = tempDir();
  const dir = join(repo, 'broken');
  mkdirSync(dir);
  copyFileSync(BOOK_MODEL, join(dir, 'svc.onnx'));
  writeFileSync(join(dir, 'model.yaml'), `model: svc.onnx
fields:
  a: { type: number, maximum: sixty }
  b: { type: number }
inputs:
  features:
    fields: [a, b, c]
outputs:
  prediction: { from: label }
`);
  assert.throws(() => loadRepository(repo), (err: Error) => {
    assert.match(err.message, /fields\.a\.maximum: must be number/);
    assert.match(err.message, /inputs\.features\.fields.*'c'/);
    return true;
  });
});

test('a field type the schema refuses is one problem: its values, enum and range are not then checked against it', () => {
  const repo = repoWith({ 'm/model.yaml': `model: svc.onnx
fields:
  a: { type: float, minimum: 0, maximum: 1, example: 0.5, enum: [0.5] }
inputs:
  x: { fields: [a] }
outputs:
  y: { from: label }
` });
  copyFileSync(BOOK_MODEL, join(repo, 'm', 'svc.onnx'));
  const err = startupError(() => loadRepository(repo));
  assert.match(err.message, /\(1 problem\):\n.*m\/model\.yaml: fields\.a\.type: must be one of number, integer, string, boolean$/);
});

test("'__proto__' as a field, input or output name is one problem naming it (it made every request a 500); a field name that is not an identifier is one problem naming it (it was two)", () => {
  const repo = repoWith({ 'm/model.yaml': `model: svc.onnx
fields:
  __proto__: { type: number }
  a-b: { type: number }
  ok: { type: number }
inputs:
  __proto__: { fields: [ok] }
outputs:
  __proto__: { from: label }
` });
  copyFileSync(BOOK_MODEL, join(repo, 'm', 'svc.onnx'));
  const err = startupError(() => loadRepository(repo));
  const lines = err.message.split('\n').slice(1).map((l) => l.trim().replace(/^.*?(?=m\/model\.yaml)/, ''));
  assert.deepEqual(lines, [
    "m/model.yaml: fields: '__proto__' is a reserved name (every JavaScript object's prototype); rename it",
    "m/model.yaml: fields: 'a-b' is not a valid field name: use an identifier ([A-Za-z_][A-Za-z0-9_]*)",
    "m/model.yaml: inputs: '__proto__' is a reserved name (every JavaScript object's prototype); rename it",
    "m/model.yaml: outputs: '__proto__' is a reserved name (every JavaScript object's prototype); rename it",
  ], err.message);
});

test('numbers that are not finite (YAML .inf, .nan, 1e999) are a problem at their key, for every key (check passed queue.max_rows: .inf, which serve then refused naming no file)', () => {
  const repo = repoWith({ 'm/model.yaml': `model: svc.onnx
version: 1e999
fields:
  a: { type: number, minimum: -.inf }
inputs:
  float_input: { fields: [a, a, a, a, a, a, a] }
outputs:
  y: { from: label }
queue: { max_rows: .inf, timeout_ms: .nan }
` });
  copyFileSync(BOOK_MODEL, join(repo, 'm', 'svc.onnx'));
  const err = startupError(() => loadRepository(repo));
  const lines = err.message.split('\n').slice(1).map((l) => l.trim().replace(/^.*?(?=m\/model\.yaml)/, ''));
  assert.deepEqual(lines, [
    'm/model.yaml: version: must be a finite number, not Infinity',
    'm/model.yaml: fields.a.minimum: must be a finite number, not -Infinity',
    'm/model.yaml: queue.max_rows: must be a finite number, not Infinity',
    'm/model.yaml: queue.timeout_ms: must be a finite number, not NaN',
  ], err.message);
});

test('a model.yaml that is a symlink to nothing (or to itself) is a config that cannot be read, not a folder without a config (it was served as a raw .onnx, without its fields and labels)', () => {
  for (const target of ['/nonexistent/model.yaml', 'model.yaml']) {
    const repo = tempDir();
    mkdirSync(join(repo, 'm'));
    copyFileSync(BOOK_MODEL, join(repo, 'm', 'svc.onnx'));
    symlinkSync(target, join(repo, 'm', 'model.yaml'));
    const err = startupError(() => loadRepository(repo));
    assert.match(err.message, /\(1 problem\):\n.*m\/model\.yaml: \(file\): is (a symbolic link to \/nonexistent\/model\.yaml, which does not exist|a loop of symbolic links)$/, target);
  }
});

test('a model name longer than 100 characters (the router\'s limit on a path parameter) is a problem naming it, from a folder or from name: (it was served, and every URL of it answered 414); 100 is fine', () => {
  const repo = tempDir();
  for (const folder of ['x'.repeat(150), 'y'.repeat(100)]) {
    mkdirSync(join(repo, folder));
    copyFileSync(BOOK_MODEL, join(repo, folder, 'svc.onnx'));
  }
  const err = startupError(() => loadRepository(repo));
  assert.match(err.message, /\(1 problem\):\n.*x{150}\/svc\.onnx: name: the folder name 'x{40}…' is 150 characters long, past the 100 a model name may have \(no URL could address it\); rename the folder or add a model\.yaml with name:$/);
  const named = repoWith({ 'm/model.yaml': `name: ${'z'.repeat(101)}\nmodel: svc.onnx\nfields:\n  a: { type: number }\ninputs:\n  float_input: { fields: [a, a, a, a, a, a, a] }\noutputs:\n  y: { from: label }\n` });
  copyFileSync(BOOK_MODEL, join(named, 'm', 'svc.onnx'));
  assert.match(startupError(() => loadRepository(named)).message, /\(1 problem\):\n.*m\/model\.yaml: name: must NOT have more than 100 characters$/);
});

test('YAML: merge keys (<<: *base) are read as YAML 1.1 tools write them; several documents, and an unknown tag (read as a plain string, with a warning of Node\'s on stderr), are problems naming the file', () => {
  const merged = repoWith({ 'm/model.yaml': `model: svc.onnx
fields:
  a: &num { type: number, minimum: -100 }
  b: { <<: *num, maximum: 100 }
inputs:
  float_input: { fields: [a, b, a, b, a, b, a] }
outputs:
  y: { from: label }
` });
  copyFileSync(BOOK_MODEL, join(merged, 'm', 'svc.onnx'));
  const [config] = loadRepository(merged);
  const b = config!.fields.find((f) => f.name === 'b')!;
  assert.deepEqual([b.type, b.minimum, b.maximum], ['number', -100, 100]);
  for (const [text, problem] of [
    ['model: svc.onnx\n---\nmodel: other.onnx\n', 'holds several YAML documents (separated by ---); a model config is one (the second starts at line 2)'],
    ['model: !!js/function svc.onnx\n', 'Unresolved tag: tag:yaml.org,2002:js/function at line 1, column 8'],
  ] as const) {
    const repo = repoWith({ 'm/model.yaml': text });
    copyFileSync(BOOK_MODEL, join(repo, 'm', 'svc.onnx'));
    const err = startupError(() => loadRepository(repo));
    assert.match(err.message, new RegExp(`\\(1 problem\\):\\n.*m/model\\.yaml: \\(file\\): not valid YAML: ${problem.replace(/[()*.+?[\]]/g, '\\$&')}$`), err.message);
  }
});

test('YAML: one syntax mistake (an unclosed [) is one problem, the first error in the file with its line, column and what is left open (it was 7 problems, 6 of them the parser\'s follow-on errors); unknown tags are each a problem', () => {
  const unclosed = startupError(() => loadRepository(repoWith({ 'm/model.yaml': 'model: svc.onnx\nfields: [oops\n  a: { type: number }\n  b: { type: number }\ninputs:\n  x: { fields: [a, b] }\n' })));
  assert.match(unclosed.message, /\(1 problem\):\n.*m\/model\.yaml: \(file\): not valid YAML: Implicit keys of flow sequence pairs need to be on a single line at line 2, column 10; a \[ is not closed by \]$/, unclosed.message);
  const tags = startupError(() => loadRepository(repoWith({ 'm/model.yaml': 'model: !!js/function svc.onnx\ndescription: !!python/name x\n' })));
  assert.match(tags.message, /\(2 problems\):\n.*line 1, column 8\n.*line 2, column 14$/, tags.message);
});

test('a hand-written value of the wrong type says what it is and the fix, once: fields as a list, an empty key or file, yes for a boolean, a quoted number (fields as a list also gave one "not a declared field" per input name, and a quoted minimum an "is outside minimum/maximum")', () => {
  const model = (fields: string, extra = '') => `model: svc.onnx\n${extra}fields:${fields}\ninputs:\n  float_input: { fields: [a, b] }\noutputs:\n  y: { from: label }\n`;
  for (const [text, problems] of [
    [model('\n  - a: { type: number }\n  - b: { type: number }'), ['fields: must be object, a map (name: value lines), not a list (- items)']],
    [model(''), ['fields: must be object (it is empty: give its value, or indent the lines under it)']],
    [model(' { a: { type: number }, b: { type: number } }', 'default: yes\n'), ["default: must be boolean: write true or false (unquoted), not 'yes'"]],
    [model(' { a: { type: number, minimum: "1e3", example: 5 }, b: { type: number } }'), ['fields.a.minimum: must be number: write 1e3 without quotes']],
    ['# to do\n', ['(root): the file is empty (or only comments): a model config is a map (model:, fields:, inputs:, outputs:)']],
    // A file that is one value was '(root): must be object', showing nothing of what a config looks like.
    ['just some words\nmore words\n', ["(root): must be object: it is the text 'just some words more words'; a model config is a map of keys such as `model: model.onnx`, fields:, inputs: and outputs: (README: Serve your own model; `modelserve init model.onnx` writes one)"]],
    ['42\n', ['(root): must be object: it is the number 42; a model config is a map of keys such as `model: model.onnx`, fields:, inputs: and outputs: (README: Serve your own model; `modelserve init model.onnx` writes one)']],
    ['\x01\x02\x03\n', ['(root): must be object: it is text of control characters, not YAML; a model config is a map of keys such as `model: model.onnx`, fields:, inputs: and outputs: (README: Serve your own model; `modelserve init model.onnx` writes one)']],
    ['- a\n- b\n', ['(root): must be object: it is a list (- items); a model config is a map of keys such as `model: model.onnx`, fields:, inputs: and outputs: (README: Serve your own model; `modelserve init model.onnx` writes one)']],
  ] as const) {
    const repo = repoWith({ 'm/model.yaml': text });
    copyFileSync(BOOK_MODEL, join(repo, 'm', 'svc.onnx'));
    const err = startupError(() => loadRepository(repo));
    assert.equal(err.message.split('\n').slice(1).map((line) => line.replace(/^.*m\/model\.yaml: /, '')).join('\n'), problems.join('\n'), text);
  }
});

test('YAML aliases: 150 fields may share one &anchor, a billion-laughs file is refused at once, and an alias with no anchor names its line (both were a JavaScript error that stopped check and serve, and 101 uses of one anchor were "a resource exhaustion attack")', () => {
  const names = Array.from({ length: 150 }, (_, i) => `f${i}`);
  const shared = repoWith({ 'm/model.yaml': `model: svc.onnx
fields:
  f0: &num { type: number, minimum: 0 }
${names.slice(1).map((n, i) => `  ${n}: ${i % 2 ? '*num' : '{ <<: *num, maximum: 9 }'}`).join('\n')}
inputs:
  x: { fields: [${names.join(', ')}] }
outputs:
  y: { from: label }
` });
  copyFileSync(BOOK_MODEL, join(shared, 'm', 'svc.onnx'));
  assert.equal(loadRepository(shared)[0]!.fields.length, 150);
  const levels = 'abcdefghi'.split('');
  const bomb = levels.map((n, i) => `${n}: &${n} [${Array(9).fill(i === 0 ? '"lol"' : `*${levels[i - 1]}`).join(', ')}]`).join('\n');
  for (const [text, problem] of [
    [`${bomb}\n`, 'its aliases (*name) expand past the limit of 1000 (aliases nested in aliases, as in a "billion laughs" file); write the values out'],
    ['model: svc.onnx\nfields:\n  a: *nmu\n  b: &num { type: number }\n', 'the alias *nmu has no anchor &nmu before it at line 3, column 6'],
  ] as const) {
    const err = startupError(() => loadRepository(repoWith({ 'm/model.yaml': text })));
    assert.match(err.message, new RegExp(`\\(1 problem\\):\\n.*m/model\\.yaml: \\(file\\): not valid YAML: ${problem.replace(/[()*.+?[\]]/g, '\\$&')}$`), err.message);
  }
});

test('a folder with several .onnx files and no config is a problem naming it, as a repository or in one (it was skipped: the other models served without a word, or "no model found")', () => {
  const repo = tempDir();
  mkdirSync(join(repo, 'two'));
  for (const file of ['a.onnx', 'b.onnx']) copyFileSync(BOOK_MODEL, join(repo, 'two', file));
  mkdirSync(join(repo, 'one'));
  copyFileSync(BOOK_MODEL, join(repo, 'one', 'svc.onnx'));
  const problem = /\(1 problem\):\n.*two: \(folder\): no model\.yaml \/ model\.yml \/ model\.json in the version folder or its model folder \(and 2 \.onnx files: a folder without a config must hold exactly one\)$/;
  assert.match(startupError(() => loadRepository(repo)).message, problem);
  assert.match(startupError(() => loadRepository(join(repo, 'two'))).message, problem);
});

test('a model.yaml that is not UTF-8 (Latin-1, UTF-16) is a problem naming it (it was read with U+FFFD in place of its characters)', () => {
  // UTF-16 is named, with its byte order mark or without (a NUL beside each character, valid UTF-8 as bytes).
  for (const [bytes, said] of [
    [Buffer.from('model: svc.onnx\ndescription: "Temp\xe9rature"\n', 'latin1'), 'save it as UTF-8'],
    [Buffer.from('\ufeffmodel: svc.onnx\n', 'utf16le'), 'it looks like UTF-16: save it as UTF-8'],
    [Buffer.from('model: svc.onnx\n', 'utf16le'), 'it looks like UTF-16: save it as UTF-8'],
  ] as const) {
    const repo = tempDir();
    mkdirSync(join(repo, 'm'));
    writeFileSync(join(repo, 'm', 'model.yaml'), bytes);
    copyFileSync(BOOK_MODEL, join(repo, 'm', 'svc.onnx'));
    assert.equal(startupError(() => loadRepository(repo)).message.split('\n').at(-1)!.replace(/^.*m\/model\.yaml: /, ''), `(file): is not UTF-8 text (${said})`);
  }
});

test('a folder with two config files (model.yaml and model.yml or model.json) is a problem naming both — only the first was read, and edits to the other did nothing', () => {
  const repo = tempDir();
  writeBookModelFolder(repo);
  const dir = join(repo, 'book-weather');
  copyFileSync(join(dir, 'model.yaml'), join(dir, 'model.yml'));
  assert.match(startupError(() => loadRepository(repo)).message, /\(1 problem\):\n.*book-weather\/model\.yaml: \(file\): model\.yml is beside it: a folder holds one config file \(model\.yaml is read first\); remove the other$/);
  writeFileSync(join(dir, 'model.json'), '{}');
  assert.match(startupError(() => loadRepository(repo)).message, /model\.yml and model\.json are beside it/);
  // An XGBoost model saved as model.json is a model, not a second config.
  rmSync(join(dir, 'model.yml'));
  writeFileSync(join(dir, 'model.json'), '{"learner": {}}');
  assert.equal(loadRepository(repo).length, 1);
});

test('a repository path that is a dangling symlink or a loop of links says so (it was "model repository not found", sending the user looking for a missing folder)', () => {
  const dir = tempDir();
  symlinkSync(join(dir, 'gone'), join(dir, 'dangling'));
  symlinkSync(join(dir, 'loop-b'), join(dir, 'loop-a'));
  symlinkSync(join(dir, 'loop-a'), join(dir, 'loop-b'));
  assert.match(startupError(() => loadRepository(join(dir, 'dangling'))).message, /dangling: model repository is a symbolic link that leads to no folder \(it points to .*gone, which does not exist\)$/);
  assert.match(startupError(() => loadRepository(join(dir, 'loop-a'))).message, /loop-a: model repository is a symbolic link that leads to no folder \(a loop of links\)$/);
  assert.match(startupError(() => loadRepository(join(dir, 'missing'))).message, /missing: model repository not found \(expected a folder\)$/);
});

test('a model named stats (by name: or by its folder) is a problem: GET /v2/models/stats is every model\'s statistics, so its metadata had no URL', () => {
  const named = tempDir();
  const dir = writeBookModelFolder(named);
  writeFileSync(join(dir, 'model.yaml'), readFileSync(join(dir, 'model.yaml'), 'utf8').replace(/^name: .*$/m, 'name: stats'));
  assert.match(startupError(() => loadRepository(named)).message, /book-weather\/model\.yaml: name: 'stats' cannot name a model: GET \/v2\/models\/stats is every model's statistics.*; choose another name:$/);
  const folder = tempDir();
  mkdirSync(join(folder, 'stats'));
  copyFileSync(BOOK_MODEL, join(folder, 'stats', 'svc.onnx'));
  assert.match(startupError(() => loadRepository(folder)).message, /stats\/svc\.onnx: name: the folder name 'stats' cannot name a model: .*rename the folder or add a model\.yaml with name:$/);
});

test("a field's default meets the checks a sent value meets, and an enum is checked against the field's range and for repeats (a default outside the enum or past 2^53 loaded, and every request leaving the field out got a 422 naming it)", () => {
  const repo = repoWith({ 'm/model.yaml': `model: svc.onnx
fields:
  colour: { type: string, enum: [red, green], required: false, default: blue, example: red }
  size: { type: number, enum: [1, 2, 2, 20], maximum: 10, required: false, default: 3, example: 2 }
  count: { type: integer, required: false, default: 10000000000000000000, example: 3 }
  big: { type: number, required: false, default: 1e39, example: 1 }
  fine: { type: number, enum: [1, 2], required: false, default: 2 }
  typo: { type: number, enum: [1, 2], required: false, default: "2" }
inputs:
  x: { fields: [colour, size, count, big, fine, typo] }
outputs:
  y: { from: label }
` });
  copyFileSync(BOOK_MODEL, join(repo, 'm', 'svc.onnx'));
  const lines = startupError(() => loadRepository(repo)).message.split('\n').filter((l) => l.includes('model.yaml: fields.'));
  assert.deepEqual(lines.map((l) => l.replace(/^.*model\.yaml: /, '')), [
    'fields.colour.default: is not one of enum ("red", "green")',
    'fields.size.default: is not one of enum (1, 2, 2, 20)',
    'fields.size.enum.2: repeats enum.1 (2)',
    'fields.size.enum.3: is outside minimum/maximum: no request can send it',
    'fields.count.default: is outside what an integer field carries exactly (±2^53)',
    'fields.big.default: is outside what a float32 holds (±3.4e38)',
    'fields.typo.default: must be of type number',
  ]);
});

test('bounds no value of the field meets are a problem naming the field and both bounds (an integer between 0.5 and 0.7 loaded, then every request sending it was a 422, and the load was refused for the example row built from them)', () => {
  const repo = repoWith({ 'm/model.yaml': `model: svc.onnx
fields:
  half: { type: integer, minimum: 0.5, maximum: 0.7 }
  huge: { type: integer, minimum: 100000000000000000 }
  deep: { type: number, maximum: -1e39 }
  crossed: { type: number, minimum: 2, maximum: 1 }
  fine: { type: integer, minimum: 0.5, maximum: 1.5 }
inputs:
  x: { fields: [half, huge, deep, crossed, fine] }
outputs:
  y: { from: label }
` });
  copyFileSync(BOOK_MODEL, join(repo, 'm', 'svc.onnx'));
  const lines = startupError(() => loadRepository(repo)).message.split('\n').filter((l) => l.includes('model.yaml: fields.'));
  assert.deepEqual(lines.map((l) => l.replace(/^.*model\.yaml: /, '')), [
    'fields.half.minimum: no integer lies between minimum 0.5 and maximum 0.7: no request can send the field',
    'fields.huge.minimum: no integer lies between minimum 100000000000000000 and 9007199254740991 (the most an integer field carries exactly): no request can send the field',
    'fields.deep.maximum: no number lies between -3.4028234663852886e+38 (the least a float32 holds) and maximum -1e+39: no request can send the field',
    // Said once, as before.
    'fields.crossed.minimum: must not be greater than maximum',
  ]);
});

test('a model file that is a loop of links or a link to nothing says so (it was "ONNX file not found", sending the user looking for a missing file)', () => {
  for (const [target, reason] of [['loop', /loop is a symbolic link that leads to no file \(a loop of links\)$/], ['/nonexistent/svc.onnx', /loop is a symbolic link that leads to no file \(it points to \/nonexistent\/svc\.onnx, which does not exist\)$/]] as const) {
    const repo = writeBookModelFolder(tempDir()).replace(/\/book-weather$/, '');
    const yaml = join(repo, 'book-weather', 'model.yaml');
    writeFileSync(yaml, readFileSync(yaml, 'utf8').replace(/^model: .*$/m, 'model: loop'));
    symlinkSync(target, join(repo, 'book-weather', 'loop'));
    const err = startupError(() => loadRepository(repo));
    assert.match(err.message, /\(1 problem\):\n.*book-weather\/model\.yaml: model: \/.*/);
    assert.match(err.message, reason);
  }
});

test('YAML: a key that is a map or a list (? {a: 1}) is one problem naming its line (the yaml library made it a text key with a warning of Node\'s on stderr)', async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarning);
  try {
    for (const [key, kind] of [['{ a: 1 }', 'map'], ['[a, b]', 'list']]) {
      const repo = repoWith({ 'm/model.yaml': `fields: {}\ninputs: {}\noutputs: {}\n? ${key}\n: 2\n` });
      const err = startupError(() => loadRepository(repo));
      assert.match(err.message, new RegExp(`\\(1 problem\\):\\n.*m/model\\.yaml: \\(file\\): not valid YAML for a config: a key is a ${kind} at line 4, column 3; keys are names$`));
    }
    await new Promise(setImmediate); // process.emitWarning emits on the next tick
    assert.deepEqual(warnings, []);
  } finally {
    process.off('warning', onWarning);
  }
});

test('a model.json config that starts with a UTF-8 byte order mark is read as without it, as a model.yaml is (it was "not valid JSON: Unexpected token \'\'", naming an invisible character)', () => {
  const text = readFileSync(join(EXAMPLES, 'weather', 'model.yaml'), 'utf8');
  const repo = tempDir();
  mkdirSync(join(repo, 'weather'));
  copyFileSync(join(EXAMPLES, 'weather', 'model.onnx'), join(repo, 'weather', 'model.onnx'));
  writeFileSync(join(repo, 'weather', 'model.json'), `\uFEFF${JSON.stringify(parseYaml(text))}`);
  const [config] = loadRepository(repo);
  assert.equal(config!.name, 'weather');
  writeFileSync(join(repo, 'weather', 'model.json'), '\uFEFF{"name": ');
  assert.match(startupError(() => loadRepository(repo)).message, /weather\/model\.json: \(file\): not valid JSON: Unexpected end of JSON input$/);
});

test('numeric keys past any sensible value are a problem at their key (queue.max_rows, queue.timeout_ms and version_policy.latest of 1e300 loaded; a timeout past 2^31 - 1 ms made Node fire its timer at once)', () => {
  const repo = repoWith({ 'm/model.yaml': `model: svc.onnx
fields:
  a: { type: number }
inputs:
  float_input: { fields: [a, a, a, a, a, a, a] }
outputs:
  y: { from: label }
version_policy: { latest: 1e300 }
shadow: { version: 1000000000 }
queue: { max_rows: 1e300, timeout_ms: 2147483648 }
` });
  copyFileSync(BOOK_MODEL, join(repo, 'm', 'svc.onnx'));
  const err = startupError(() => loadRepository(repo));
  const lines = err.message.split('\n').slice(1).map((l) => l.trim().replace(/^.*?(?=m\/model\.yaml)/, ''));
  assert.deepEqual(lines, [
    'm/model.yaml: shadow.version: must be <= 999999999: a version folder is named with at most 9 digits',
    'm/model.yaml: version_policy.latest: must be <= 999999999: a version folder is named with at most 9 digits',
    'm/model.yaml: queue.max_rows: must be <= 10000000',
    'm/model.yaml: queue.timeout_ms: must be <= 2147483647 (about 24.8 days): the longest a Node timer waits, past which it fires at once',
  ], err.message);
  // The bounds themselves load.
  writeFileSync(join(repo, 'm', 'model.yaml'), readFileSync(join(repo, 'm', 'model.yaml'), 'utf8').replace('latest: 1e300', 'latest: 999999999').replace(/shadow: .*\n/, '').replace('max_rows: 1e300, timeout_ms: 2147483648', 'max_rows: 10000000, timeout_ms: 2147483647'));
  assert.equal(loadRepository(repo)[0]!.queue.timeoutMs, 2147483647);
});
