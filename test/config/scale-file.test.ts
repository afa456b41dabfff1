// `scale: {file: scaler.json}`: the book's scaler file read at load, relative to the model folder,
// and every way it can be wrong reported with the file and key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { loadRepository } from '../../src/config/load.js';
import { StartupError } from '../../src/errors.js';
import { BOOK_FIELDS, BOOK_MODEL, BOOK_SCALER, tempDir } from '../helpers/paths.js';

function bookFolder(scale: string, files: Record<string, string | Buffer> = {}): string {
  const root = tempDir();
  const dir = join(root, 'weather');
  mkdirSync(dir);
  copyFileSync(BOOK_SCALER, join(dir, 'model-scaler.json'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  writeFileSync(join(dir, 'model.yaml'), `model: ${BOOK_MODEL}
fields:
${BOOK_FIELDS.map((f) => `  ${f}: { type: number }`).join('\n')}
inputs:
  float_input:
    fields: [${BOOK_FIELDS.join(', ')}]
    scale: ${scale}
outputs:
  prediction: { from: label }
`);
  return root;
}

function problems(root: string): string {
  try {
    loadRepository(root);
  } catch (err) {
    assert.ok(err instanceof StartupError);
    assert.equal(err.code, 'MS_ERR_CONFIG_INVALID');
    return err.message;
  }
  assert.fail('expected the config to be rejected');
}

test('scale: {file} reads the book scaler JSON relative to the model folder', () => {
  const [config] = loadRepository(bookFolder('{ file: model-scaler.json }'));
  const expected = JSON.parse(readFileSync(BOOK_SCALER, 'utf8'));
  assert.deepEqual(config!.tensors[0]!.scale, { mean: expected.mean, scale: expected.scale });
});

test("scikit-learn's attribute names (mean_, scale_) are read too", () => {
  const [config] = loadRepository(bookFolder('{ file: sk.json }', { 'sk.json': JSON.stringify({ mean_: [1, 2, 3, 4, 5, 6, 7], scale_: [1, 1, 1, 1, 1, 1, 2] }) }));
  assert.deepEqual(config!.tensors[0]!.scale, { mean: [1, 2, 3, 4, 5, 6, 7], scale: [1, 1, 1, 1, 1, 1, 2] });
});

test('scale file problems name the file and key: wrong lengths, missing, not JSON, wrong shape, both forms, zero scale', () => {
  const short = problems(bookFolder('{ file: short.json }', { 'short.json': JSON.stringify({ mean: [1, 2], scale: [1, 2, 3, 4, 5, 6, 7] }) }));
  assert.match(short, /weather\/model\.yaml: inputs\.float_input\.scale\.file: .*short\.json has 2 mean values but the input has 7 fields/);
  assert.match(problems(bookFolder('{ file: nope.json }')), /inputs\.float_input\.scale\.file: scaler file not found: .*nope\.json/);
  assert.match(problems(bookFolder('{ file: bad.json }', { 'bad.json': '{"mean": [1,' })), /inputs\.float_input\.scale\.file: .*bad\.json is not valid JSON/);
  assert.match(problems(bookFolder('{ file: odd.json }', { 'odd.json': '{"mu": [1]}' })), /expected \{"mean": \[numbers\], "scale": \[numbers\]\}/);
  assert.match(problems(bookFolder('{ file: model-scaler.json, mean: [1,2,3,4,5,6,7] }')), /inputs\.float_input\.scale: give either file or mean and scale, not both/);
  assert.match(problems(bookFolder('{ mean: [1,2,3,4,5,6,7] }')), /inputs\.float_input\.scale: give file \(a scaler JSON file\) or both mean and scale/);
  assert.match(problems(bookFolder('{ file: z.json }', { 'z.json': JSON.stringify({ mean: [0, 0, 0, 0, 0, 0, 0], scale: [1, 1, 0, 1, 1, 1, 1] }) })), /z\.json: scale\[2\] is 0/);
  assert.match(problems(bookFolder('{ file: model-scaler.json, colour: red }')), /inputs\.float_input\.scale\.colour: unknown key/);
});

test('a scaler file problem names the file as the config beside it is named, relative to the working directory (it was the absolute path after a relative config)', () => {
  const cases: Array<[string, Record<string, string | Buffer>, string]> = [
    ['bad.json', { 'bad.json': '{"mean": [1,' }, 'is not valid JSON'],
    ['utf16.json', { 'utf16.json': Buffer.from(readFileSync(BOOK_SCALER, 'utf8'), 'utf16le') }, 'is not UTF-8 text'],
    ['null.json', { 'null.json': 'null' }, 'holds null'],
    ['odd.json', { 'odd.json': '{"mu": [1]}' }, 'it has no mean'],
    ['short.json', { 'short.json': JSON.stringify({ mean: [1, 2], scale: [1, 2, 3, 4, 5, 6, 7] }) }, 'has 2 mean values'],
    ['nope.json', {}, ''],
    ['folder.json', {}, 'is not a regular file'],
  ];
  for (const [file, files, says] of cases) {
    const root = bookFolder(`{ file: ${file} }`, files);
    if (file === 'folder.json') mkdirSync(join(root, 'weather', file));
    const text = problems(root);
    const line = text.split('\n').find((l) => l.includes('scale.file'));
    // The config's own name, as formatProblems gives it, then the scaler file in the same form.
    const m = /^ {2}(\S+)\/model\.yaml: inputs\.float_input\.scale\.file: (scaler file not found: )?(\S+?):? (.*)$/.exec(`${line} `);
    assert.ok(m, `${file}: ${text}`);
    assert.equal(m[3], `${m[1]}/${file}`, `${file}: ${line}`);
    assert.ok(!isAbsolute(m[3]!), `${file}: ${line}`);
    assert.ok(m[4]!.includes(says), `${file}: ${line}`);
  }
  // An absolute scale.file is named as written, not climbing out of the working directory (../../dev/null).
  assert.match(problems(bookFolder('{ file: /dev/null }')), /model\.yaml: inputs\.float_input\.scale\.file: \/dev\/null is not a regular file \(a character device\)/);
});

test('a scaler file that starts with a UTF-8 byte order mark (Windows editors write one) is read as without it (it was "not valid JSON: Unexpected token")', () => {
  const [config] = loadRepository(bookFolder('{ file: bom.json }', { 'bom.json': `\uFEFF${readFileSync(BOOK_SCALER, 'utf8')}` }));
  const expected = JSON.parse(readFileSync(BOOK_SCALER, 'utf8'));
  assert.deepEqual(config!.tensors[0]!.scale, { mean: expected.mean, scale: expected.scale });
});

test('a scaler file saved as UTF-16 (with its byte order mark or without) says so, as a model.yaml does (it was "not valid JSON: Unexpected token \'?\'")', () => {
  const text = readFileSync(BOOK_SCALER, 'utf8');
  const dir = bookFolder('{ file: wide.json }');
  for (const bytes of [Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]), Buffer.from(text, 'utf16le')]) {
    writeFileSync(join(dir, 'weather', 'wide.json'), bytes);
    assert.match(problems(dir), /weather\/model\.yaml: inputs\.float_input\.scale\.file: \S*weather\/wide\.json is not UTF-8 text \(it looks like UTF-16: save it as UTF-8\)$/);
  }
  writeFileSync(join(dir, 'weather', 'wide.json'), Buffer.from(text, 'latin1').toString('latin1').replace('{', '{"n\xe9": 1, '), 'latin1');
  assert.match(problems(dir), /wide\.json is not UTF-8 text \(save it as UTF-8\)$/);
});

test('a scaler file holding null, a list, or mean/scale that are not lists of finite numbers is one problem naming the file and what is wrong (null was "Cannot read properties of null", the others "expected {...}" naming no file)', () => {
  const cases: Array<[string, RegExp]> = [
    ['null', /n\.json holds null; expected \{"mean"/],
    ['[1, 2]', /l\.json holds a list; expected/],
    [JSON.stringify({ mean: 'x', scale: [1, 1, 1, 1, 1, 1, 1] }), /m\.json: mean is a string, not a list of numbers; expected/],
    [JSON.stringify({ mean_: [0, 0, 0, 0, 0, 0, null] }), /s\.json: mean_\[6\] is null, not a finite number; it has no scale; expected/],
    ['{"mean": [1e999, 0, 0, 0, 0, 0, 0], "scale": [1, 1, 1, 1, 1, 1, 1]}', /i\.json: mean\[0\] is Infinity, not a finite number/],
  ];
  for (const [[text, expected], name] of cases.map((c, i) => [c, ['n', 'l', 'm', 's', 'i'][i]!] as const)) {
    const message = problems(bookFolder(`{ file: ${name}.json }`, { [`${name}.json`]: text }));
    assert.match(message, /weather\/model\.yaml: inputs\.float_input\.scale\.file: /);
    assert.match(message, expected);
    assert.doesNotMatch(message, /Cannot read|TypeError/);
  }
});

test('scale values that turn every input into infinity are refused, naming the file (or key) and each value: a scale of 1e-320 (0 in effect), a negative one, a mean past a float32', () => {
  const file = problems(bookFolder('{ file: tiny.json }', { 'tiny.json': JSON.stringify({ mean: [0, 1e300, 0, 0, 0, 0, 0], scale: [1, 1, 1e-320, -2, 1, 1, 1] }) }));
  assert.match(file, /inputs\.float_input\.scale\.file: .*tiny\.json: mean\[1\] is 1e\+300 with scale\[1\] 1: a value of 0 scales to -1e\+300, past what a float32 holds \(±3\.4e38\); scale\[2\] is 1e-320, so small that dividing by it is past what a float32 holds \(±3\.4e38\): every scaled value would be infinite; scale\[3\] is -2: a scale is a standard deviation \(StandardScaler's scale_\), above 0/);
  // Written in the config: the same rules, at its key.
  const inline = problems(bookFolder('{ mean: [0, 0, 0, 0, 0, 0, 0], scale: [1, 1, 1e-320, 1, 1, 1, 1] }'));
  assert.match(inline, /weather\/model\.yaml: inputs\.float_input\.scale: scale\[2\] is 1e-320, so small/);
  // A float64 input holds more: only what overflows a double is refused there.
  const wide = bookFolder('{ mean: [0, 0, 0, 0, 0, 0, 0], scale: [1, 1, 1e-300, 1, 1, 1, 1] }');
  const yaml = join(wide, 'weather', 'model.yaml');
  writeFileSync(yaml, readFileSync(yaml, 'utf8').replace('    scale:', '    type: float64\n    scale:'));
  assert.equal(loadRepository(wide)[0]!.tensors[0]!.scale!.scale[2], 1e-300); // (the book model's own input is float32: the core refuses that at load)
});
