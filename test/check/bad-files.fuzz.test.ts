// Fuzz of what a user hands modelserve: every example's model.yaml, the book's scaler file and the
// model files, broken in seeded, generated ways — wrong types at every key, unknown and missing
// keys, duplicate keys, anchors and an alias bomb, numbers past a double, long strings, tabs, a
// BOM, UTF-16, bytes that are not UTF-8, empty and binary files, a folder or a symlink loop where a
// file is expected, several documents, YAML tags, prototype keys; ONNX files empty, cut short, of
// text, of an opset or operator onnxruntime lacks; XGBoost JSON cut short or of another structure.
// Each case is run through `modelserve check` in-process (checkRepository) and serve's config
// stage (loadRepository): the model is refused with one message that names the broken file and
// lists each problem made, never a stack frame, a JavaScript error's words or a Node warning. A share
// of the cases also goes through the repository API's load of a running server, and a few through the
// CLI (check, serve, inspect, init). A failure names the case (seeded; FUZZ_SEED as in the other fuzz tests).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { parse, stringify } from 'yaml';
import { checkRepository } from '../../src/check/repository.js';
import { formatModelProblems } from '../../src/check/problems.js';
import { loadRepository } from '../../src/config/load.js';
import { StartupError } from '../../src/errors.js';
import { startServer } from '../../src/server.js';
import { draws } from '../helpers/fuzz.js';
import { call } from '../helpers/http.js';
import { BOOK_MODEL, BOOK_SCALER, BOOK_FIELDS, CLI, EXAMPLES, tempDir, writeBookModelFolder } from '../helpers/paths.js';

const root = tempDir('modelserve-bad-files-');
const EXAMPLE_MODELS = ['weather', 'loan', 'rain-xgboost'] as const;
/** Per example and kind of mutation, how many keys are drawn (every key of the small configs). */
const PER_KIND = 6;

type Path = Array<string | number>;
interface Case {
  name: string;
  /** Writes the model folder (its files) into `dir`. */
  write: (dir: string) => void;
  /** The file the message must name, relative to the model folder. */
  file: string;
  /** Key paths (in the config) each of which some problem must be at, under or above. */
  paths?: string[];
  /** false: a change that may be valid (only the shape of a refusal is checked). */
  mustFail?: boolean;
  /** Words the message must hold. */
  says?: RegExp;
}

const exampleText = (example: string) => readFileSync(join(EXAMPLES, example, 'model.yaml'), 'utf8');
const modelFileOf = (example: string) => (example === 'rain-xgboost' ? 'model.json' : 'model.onnx');

/** The example's model folder with `config` as its model.yaml (its model file copied beside it). */
function exampleWriter(example: string, config: string | Buffer | ((dir: string) => void)): (dir: string) => void {
  return (dir) => {
    copyFileSync(join(EXAMPLES, example, modelFileOf(example)), join(dir, modelFileOf(example)));
    if (typeof config === 'function') config(dir);
    else writeFileSync(join(dir, 'model.yaml'), config);
  };
}

const BOOK_CONFIG = `name: book
model: svc.onnx
fields:
${BOOK_FIELDS.map((f) => `  ${f}: { type: number, example: 1 }`).join('\n')}
inputs:
  float_input:
    fields: [${BOOK_FIELDS.join(', ')}]
    scale: { file: model-scaler.json }
outputs:
  prediction: { from: label, map: { "1": Rain, "0": No_Rain } }
`;

/** The book's folder (svc.onnx, its scaler file, a config reading it), with one of its files replaced. */
function bookWriter(replace: { scaler?: string | Buffer | ((file: string) => void); model?: string | Buffer | ((file: string) => void) }): (dir: string) => void {
  return (dir) => {
    writeFileSync(join(dir, 'model.yaml'), BOOK_CONFIG);
    for (const [name, source, given] of [['model-scaler.json', BOOK_SCALER, replace.scaler], ['svc.onnx', BOOK_MODEL, replace.model]] as const) {
      const file = join(dir, name);
      if (given === undefined) copyFileSync(source, file);
      else if (typeof given === 'function') given(file);
      else writeFileSync(file, given);
    }
  };
}

/** Every key path of a parsed config (objects' keys, arrays' indexes), parents before children. */
function pathsOf(value: unknown, at: Path = []): Path[] {
  if (value === null || typeof value !== 'object') return [];
  const out: Path[] = [];
  for (const [key, child] of Object.entries(value)) {
    const path = [...at, Array.isArray(value) ? Number(key) : key];
    out.push(path, ...pathsOf(child, path));
  }
  return out;
}

const getAt = (root: unknown, path: Path): unknown => path.reduce<unknown>((node, step) => (node as Record<string, unknown>)[step], root);
function setAt(root: unknown, path: Path, value: unknown): void {
  const parent = getAt(root, path.slice(0, -1)) as Record<string | number, unknown>;
  parent[path.at(-1)!] = value;
}
const dotted = (path: Path) => path.join('.');

/** A value of another type than `value`, that no key taking `value`'s type takes. */
function wrongType(value: unknown, pick: <T>(items: readonly T[]) => T): unknown {
  if (Array.isArray(value)) return pick(['a string', 7, { a: 1 }]);
  if (value !== null && typeof value === 'object') return pick([42, 'a string', [1, 2], true]);
  return pick([{ a: 1 }, [1, [2]], { nested: { deep: [] } }]);
}

/** Paths whose values are free-form (any type is valid there). */
const freeForm = (path: Path) => path[0] === 'root_response';

function configCases(): Case[] {
  const cases: Case[] = [];
  for (const example of EXAMPLE_MODELS) {
    const { pick, int } = draws(EXAMPLE_MODELS.indexOf(example) * 1000 + 29);
    const text = exampleText(example);
    const parsed = parse(text) as Record<string, unknown>;
    const paths = pathsOf(parsed).filter((p) => !freeForm(p));
    const sample = (from: Path[], n: number) => Array.from({ length: Math.min(n, from.length) }, () => from[int(from.length)]!);
    const add = (name: string, config: string | Buffer, extra: Partial<Case> = {}) =>
      cases.push({ name: `${example}: ${name}`, write: exampleWriter(example, config), file: 'model.yaml', mustFail: true, ...extra });
    const mutated = (change: (c: Record<string, unknown>) => void) => {
      const c = structuredClone(parsed);
      change(c);
      return stringify(c);
    };

    // Wrong types, one key at a time and several at once (each listed).
    for (const path of sample(paths, PER_KIND)) {
      add(`wrong type at ${dotted(path)}`, mutated((c) => setAt(c, path, wrongType(getAt(c, path), pick))), { paths: [dotted(path)] });
    }
    // Keys under different parents: none inside another.
    const several = sample(paths.filter((p) => p.length >= 2), 12).filter((p, i, all) => all.findIndex((q) => dotted(q).startsWith(dotted(p)) || dotted(p).startsWith(dotted(q))) === i).slice(0, 3);
    add(`wrong types at ${several.map(dotted).join(', ')}`, mutated((c) => { for (const p of several) setAt(c, p, wrongType(getAt(c, p), pick)); }), { paths: several.map(dotted) });

    // Unknown keys on every kind of map (not the maps whose keys are names: fields, inputs, outputs, map).
    const maps = [[], ...paths.filter((p) => {
      const v = getAt(parsed, p);
      return v !== null && typeof v === 'object' && !Array.isArray(v) && !['fields', 'inputs', 'outputs'].includes(String(p.at(-1))) && p.at(-1) !== 'map';
    })];
    for (const path of sample(maps, PER_KIND)) {
      const key = pick(['colour', 'typ', 'exmaple', 'zzz', 'Fields', 'descripton']);
      add(`unknown key ${key} at ${dotted(path) || '(root)'}`, mutated((c) => { (getAt(c, path) as Record<string, unknown>)[key] = 1; }), { paths: [dotted([...path, key])] });
    }
    // Missing required keys.
    const required: Path[] = [['fields'], ['inputs'], ['outputs'],
      ...Object.keys(parsed.fields as object).map((f) => ['fields', f, 'type']),
      ...Object.keys(parsed.inputs as object).map((i) => ['inputs', i, 'fields']),
      ...Object.keys(parsed.outputs as object).map((o) => ['outputs', o, 'from'])];
    for (const path of sample(required, PER_KIND)) {
      add(`missing ${dotted(path)}`, mutated((c) => { delete (getAt(c, path.slice(0, -1)) as Record<string, unknown>)[path.at(-1)!]; }), { paths: [dotted(path)] });
    }
    // Numbers that are not finite, or past a double (1e999 is read as Infinity).
    const numeric = paths.filter((p) => typeof getAt(parsed, p) === 'number');
    for (const path of sample(numeric, PER_KIND)) {
      const value = pick(['.inf', '-.inf', '.nan', '1e999', '-1e999']);
      add(`${value} at ${dotted(path)}`, mutated((c) => setAt(c, path, '@@number@@')).replace("'@@number@@'", value).replace('"@@number@@"', value).replace('@@number@@', value), { paths: [dotted(path)] });
    }
    // Very long strings: at a string key (may be valid), and a file past the 4 MiB a config may have.
    for (const path of sample(paths.filter((p) => typeof getAt(parsed, p) === 'string'), 2)) {
      add(`a 100 000-character string at ${dotted(path)}`, mutated((c) => setAt(c, path, 'x'.repeat(100_000))), { mustFail: false });
    }
    add('a 5 MB description', `description: "${'x'.repeat(5 * 2 ** 20)}"\n${text}`, { says: /too large/ });
    // Prototype keys, where names are keys and where keys are the schema's.
    const objectPaths = maps.concat([['fields'], ['outputs']]);
    for (const path of sample(objectPaths, 3)) {
      const key = pick(['__proto__', 'constructor', 'prototype']);
      const isNameMap = ['fields', 'outputs'].includes(String(path.at(-1)));
      add(`key ${key} at ${dotted(path) || '(root)'}`, mutated((c) => {
        Object.defineProperty(getAt(c, path), key, { value: isNameMap ? { type: 'number' } : 1, enumerable: true, configurable: true, writable: true });
      }), { paths: [dotted([...path, key])] });
    }

    // Text-level breakage.
    const lines = text.split('\n');
    const indented = lines.map((l, i) => [l, i] as const).filter(([l]) => /^ {2,}\S/.test(l));
    const [tabLine, tabIndex] = pick(indented);
    add(`a tab indenting line ${tabIndex + 1}`, lines.map((l, i) => (i === tabIndex ? tabLine.replace(/^ +/, '\t') : l)).join('\n'));
    const top = lines.map((l, i) => [l, i] as const).filter(([l]) => /^[a-z_]+: \S/.test(l));
    const [dupLine, dupIndex] = pick(top);
    add(`duplicate key (line ${dupIndex + 1} repeated)`, [...lines.slice(0, dupIndex + 1), dupLine, ...lines.slice(dupIndex + 1)].join('\n'), { says: /unique|twice|duplicate/i });
    add('two YAML documents', `${text}\n---\n${text}`, { says: /several YAML documents/ });
    add('a leading --- and a second document', `---\n${text}\n---\nname: other\n`, { says: /several YAML documents/ });
    // The same config as model.json: with a BOM (valid), cut short, with a key twice.
    const asJson = JSON.stringify(parsed, null, 1);
    const jsonCase = (name: string, content: string, extra: Partial<Case> = {}) => cases.push({ name: `${example}: model.json config ${name}`, write: exampleWriter(example, (dir) => writeFileSync(join(dir, 'model.json'), content)), file: 'model.json', mustFail: true, ...extra });
    if (example !== 'rain-xgboost') { // its model file is a model.json
      jsonCase('with a UTF-8 BOM (valid)', `\uFEFF${asJson}`, { mustFail: false });
      jsonCase(`cut at byte ${Math.floor(asJson.length / 3)}`, asJson.slice(0, Math.floor(asJson.length / 3)), { says: /not valid JSON/ });
      jsonCase('with a key twice', asJson.replace(/\n "fields"/, '\n "name": "again",\n "fields"'), { says: /a key appears twice/ });
    }
    cases.push({ name: `${example}: a UTF-8 BOM (valid)`, write: exampleWriter(example, `\uFEFF${text}`), file: 'model.yaml', mustFail: false });
    add('UTF-16 LE', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]), { says: /not UTF-8 text \(it looks like UTF-16/ });
    const be = Buffer.from(text, 'utf16le');
    for (let i = 0; i + 1 < be.length; i += 2) [be[i], be[i + 1]] = [be[i + 1]!, be[i]!];
    add('UTF-16 BE', Buffer.concat([Buffer.from([0xfe, 0xff]), be]), { says: /not UTF-8 text \(it looks like UTF-16/ });
    const latin1 = Buffer.from(text, 'utf8');
    add('a Latin-1 byte', Buffer.concat([latin1.subarray(0, 40), Buffer.from([0xe9]), latin1.subarray(40)]), { says: /UTF-8/ });
    add('an empty file', '', { says: /empty/ });
    add('only comments', '# nothing yet\n\n', { says: /empty/ });
    const { random } = draws(7 + EXAMPLE_MODELS.indexOf(example));
    add('a binary file', Buffer.from(Array.from({ length: 4096 }, () => Math.floor(random() * 256))));
    add('a binary file that is valid UTF-8 (control characters)', Buffer.from(Array.from({ length: 2048 }, (_, i) => (i % 7 === 0 ? 0 : 1 + Math.floor(random() * 31)))));
    add('YAML as a list', '- a\n- b\n', { says: /must be object: it is a list .*a model config is a map of keys such as `model: model\.onnx`/ });
    add('YAML as a scalar', 'just words\n', { says: /must be object: it is the text 'just words'; a model config is a map of keys such as `model: model\.onnx`/ });
    add('only control characters', '\x01\x02\x03\x04\n', { says: /must be object: it is text of control characters, not YAML; a model config is a map/ });
    add('a !!js/function tag', text.replace(/^version: .*$/m, 'version: !!js/function "function () { return 1 }"'), { says: /js\/function/ });
    add('a !!binary tag', text.replace(/^name: (.*)$/m, 'name: !!binary aGVsbG8='), { paths: ['name'] });
    add('a !!python/object tag', `${text}\nzzz: !!python/object:os.system [echo]\n`, { says: /python/ });
    add('a complex (map) key', `${text}\n? { a: 1 }\n: 2\n`, { says: /a key is a map at line \d+/ });
    add('a complex (list) key', `${text}\n? [a, b]\n: 2\n`, { says: /a key is a list at line \d+/ });
    add('an alias with no anchor', text.replace(/^name: .*$/m, 'name: *nowhere'), { says: /no anchor/ });
    add('a billion-laughs alias bomb', `${text}\nbomb:\n${['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]', ...'bcdefghi'.split('').map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`)].map((l) => `  ${l}`).join('\n')}\n`, { says: /aliases .*expand past the limit/ });
    add('a merge-key bomb', `${text}\nbomb:\n  a: &a { x: 1, y: 2 }\n${'bcdefghijklmnop'.split('').map((k, i) => `  ${k}: &${k} { <<: [${Array(8).fill(`*${'abcdefghijklmnop'[i]}`).join(', ')}] }`).join('\n')}\n  z: 1\n`, { mustFail: false });
    cases.push({ name: `${example}: anchors and aliases (valid)`, write: exampleWriter(example, `${text}\nbatching: &b { enabled: true }\nqueue: { max_rows: 100 }\n`), file: 'model.yaml', mustFail: false });
    // Files that are not files.
    cases.push({ name: `${example}: model.yaml is a folder`, write: exampleWriter(example, (dir) => mkdirSync(join(dir, 'model.yaml'))), file: 'model.yaml', mustFail: true, says: /directory|folder/ });
    cases.push({ name: `${example}: model.yaml is a symlink loop`, write: exampleWriter(example, (dir) => { symlinkSync('loop-b', join(dir, 'model.yaml')); symlinkSync('model.yaml', join(dir, 'loop-b')); }), file: 'model.yaml', mustFail: true, says: /loop/ });
    // The model file: missing, a folder, a loop, empty, a text file.
    const model = modelFileOf(example);
    const replaceModel = (write: (file: string) => void) => exampleWriter(example, (dir) => { writeFileSync(join(dir, 'model.yaml'), text); write(join(dir, model)); });
    cases.push({ name: `${example}: ${model} is a folder`, write: exampleWriter(example, (dir) => { writeFileSync(join(dir, 'model.yaml'), text.replace(/^model: .*$/m, 'model: a-folder')); mkdirSync(join(dir, 'a-folder')); }), file: 'a-folder', mustFail: true });
    cases.push({ name: `${example}: ${model} is a symlink loop`, write: exampleWriter(example, (dir) => { writeFileSync(join(dir, 'model.yaml'), text.replace(/^model: .*$/m, 'model: loop-a')); symlinkSync('loop-b', join(dir, 'loop-a')); symlinkSync('loop-a', join(dir, 'loop-b')); }), file: 'loop-a', mustFail: true, says: /loop-a is a symbolic link that leads to no file \(a loop of links\)/ });
    cases.push({ name: `${example}: ${model} is a symlink to nothing`, write: exampleWriter(example, (dir) => { writeFileSync(join(dir, 'model.yaml'), text.replace(/^model: .*$/m, 'model: gone')); symlinkSync('/nonexistent/model', join(dir, 'gone')); }), file: 'gone', mustFail: true, says: /points to \/nonexistent\/model, which does not exist/ });
    cases.push({ name: `${example}: an empty ${model}`, write: replaceModel((f) => writeFileSync(f, '')), file: model, mustFail: true });
    cases.push({ name: `${example}: a text file as ${model}`, write: replaceModel((f) => writeFileSync(f, 'This is not a model.\nIt is a README someone renamed.\n')), file: model, mustFail: true, says: model.endsWith('.onnx') ? /it looks like text \(starts with 'This is not a model\.'\)/ : undefined });
    if (example === 'rain-xgboost') {
      const json = readFileSync(join(EXAMPLES, example, model));
      for (const cut of [1, 20, 1000, Math.floor(json.length / 2), json.length - 1]) {
        cases.push({ name: `${example}: ${model} cut at byte ${cut}`, write: replaceModel((f) => writeFileSync(f, json.subarray(0, cut))), file: model, mustFail: true });
      }
      const learner = (JSON.parse(json.toString('utf8')) as { learner: Record<string, unknown> }).learner;
      const structures: Array<[string, unknown]> = [
        ['[]', []], ['{}', {}], ['null', null], ['a number', 5], ['learner: 5', { learner: 5 }], ['learner: {}', { learner: {} }],
        ['no trees', { learner: { ...learner, gradient_booster: { name: 'gbtree', model: { gbtree_model_param: { num_trees: '0' }, trees: [] } } } }],
        ['trees a string', { learner: { ...learner, gradient_booster: { name: 'gbtree', model: { trees: 'x' } } } }],
        ['a tree of nulls', { learner: { ...learner, gradient_booster: { ...(learner.gradient_booster as object), model: { ...((learner.gradient_booster as { model: object }).model), trees: [{ left_children: null, right_children: null }] } } } }],
        ['objective unknown', { learner: { ...learner, objective: { name: 'reg:nonsense' } } }],
        ['learner_model_param missing', { learner: { ...learner, learner_model_param: undefined } }],
      ];
      for (const [what, value] of structures) {
        cases.push({ name: `${example}: ${model} of another structure (${what})`, write: replaceModel((f) => writeFileSync(f, JSON.stringify(value))), file: model, mustFail: true });
      }
    }
  }
  return cases;
}

function scalerCases(): Case[] {
  const scaler = readFileSync(BOOK_SCALER, 'utf8');
  const json = JSON.parse(scaler) as { mean: number[]; scale: number[] };
  const add = (name: string, content: string | Buffer | ((file: string) => void), extra: Partial<Case> = {}): Case =>
    ({ name: `book scaler: ${name}`, write: bookWriter({ scaler: content }), file: 'model-scaler.json', mustFail: true, ...extra });
  return [
    add('empty', ''),
    add('cut short', scaler.slice(0, Math.floor(scaler.length / 2))),
    add('null', 'null', { says: /holds null/ }),
    add('a list', '[1, 2, 3]', { says: /holds a list/ }),
    add('a string', '"mean"', { says: /holds a string/ }),
    add('mean a string', JSON.stringify({ mean: 'x', scale: json.scale }), { says: /mean is a string, not a list of numbers/ }),
    add('scale missing', JSON.stringify({ mean: json.mean }), { says: /has no scale/ }),
    add('a mean of nulls', JSON.stringify({ mean: json.mean.map(() => null), scale: json.scale }), { says: /mean\[0\] is null, not a finite number/ }),
    add('1e999 in scale', JSON.stringify({ mean: json.mean, scale: json.scale }).replace(/("scale": ?\[)[^,]+/, '$11e999'), { says: /scale\[0\] is Infinity, not a finite number/ }),
    add('NaN in mean', JSON.stringify({ mean: json.mean, scale: json.scale }).replace(/("mean": ?\[)[^,]+/, '$1NaN')),
    add('a zero scale', JSON.stringify({ mean: json.mean, scale: json.scale.map((s, i) => (i === 2 ? 0 : s)) })),
    add('too few values', JSON.stringify({ mean: json.mean.slice(1), scale: json.scale })),
    add('__proto__ key', `{"__proto__": {"mean": ${JSON.stringify(json.mean)}}, "scale": ${JSON.stringify(json.scale)}}`),
    { ...add('a UTF-8 BOM (valid)', `\uFEFF${scaler}`), mustFail: false },
    add('UTF-16', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(scaler, 'utf16le')]), { says: /model-scaler\.json is not UTF-8 text \(it looks like UTF-16: save it as UTF-8\)/ }),
    add('UTF-16 without a byte order mark', Buffer.from(scaler, 'utf16le'), { says: /model-scaler\.json is not UTF-8 text \(it looks like UTF-16/ }),
    add('a binary file', Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 37) % 256))),
    add('a folder', (f) => mkdirSync(f)),
    add('a symlink loop', (f) => { symlinkSync(`${f}.b`, f); symlinkSync(f, `${f}.b`); }, { says: /loop of symbolic links/ }),
    add('a YAML file', 'mean: [1, 2]\nscale: [1, 2]\n'),
  ];
}

const UNSUPPORTED_ONNX = `
import sys, onnx
from onnx import TensorProto, helper
x = helper.make_tensor_value_info('float_input', TensorProto.FLOAT, ['N', 7])
y = helper.make_tensor_value_info('label', TensorProto.FLOAT, ['N', 7])
kind = sys.argv[2]
op = 'NoSuchOperator' if kind == 'op' else 'Identity'
graph = helper.make_graph([helper.make_node(op, ['float_input'], ['label'])], 'g', [x], [y])
opset = 999 if kind == 'opset' else 13
model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', opset)])
model.ir_version = 8
onnx.save(model, sys.argv[1])
`;

/**
 * Files named .onnx that are something else, and what the message must say of each (every command in one form: '<file> is
 * not a valid ONNX model: …'); the 4th, what the API says instead: it quotes no line of the file (a config may name any file).
 */
const WITHHELD = "its first line is quoted in the server's log and by modelserve check, not here";
const NOT_ONNX: Array<[string, string | Buffer, RegExp, { says: RegExp; not: string }?]> = [
  ['a text file', 'This is not a model.\nIt is a README someone renamed.\n', /svc\.onnx is not a valid ONNX model: it looks like text \(starts with 'This is not a model\.'\)/, { says: new RegExp(`svc\\.onnx is not a valid ONNX model: it looks like text \\(${WITHHELD}\\)`), not: 'This is not a model' }],
  ['a Git LFS pointer', 'version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n', /svc\.onnx is not a valid ONNX model: it is a Git LFS pointer, not the model: fetch the model itself \(git lfs pull\)/],
  ['a zip (a PyTorch .pt)', Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.alloc(200, 1)]), /svc\.onnx is not a valid ONNX model: it looks like a zip archive \(a PyTorch/],
  ['an HDF5 file (Keras .h5)', Buffer.concat([Buffer.from('\x89HDF\r\n\x1a\n', 'latin1'), Buffer.alloc(200)]), /svc\.onnx is not a valid ONNX model: it looks like an HDF5 file/],
  ['a JSON file', '{"mean": [1, 2], "scale": [3, 4]}\n', /svc\.onnx is not a valid ONNX model: it looks like JSON \(starts with '\{"mean": \[1, 2\]/, { says: new RegExp(`svc\\.onnx is not a valid ONNX model: it looks like JSON \\(${WITHHELD}\\)`), not: '"mean"' }],
  ['an XGBoost JSON model', readFileSync(join(EXAMPLES, 'rain-xgboost', 'model.json')), /svc\.onnx is not a valid ONNX model: it is an XGBoost JSON model: /],
];

function modelCases(): Case[] {
  const book = readFileSync(BOOK_MODEL);
  const { int } = draws(53);
  const cuts = [1, 2, 16, 100, 1000, ...Array.from({ length: 4 }, () => 1 + int(book.length - 2)), book.length - 1];
  const cases: Case[] = cuts.map((cut) => ({ name: `svc.onnx cut at byte ${cut} of ${book.length}`, write: bookWriter({ model: book.subarray(0, cut) }), file: 'svc.onnx', mustFail: true }));
  for (const kind of ['opset', 'op']) {
    cases.push({
      name: `svc.onnx of an ${kind === 'op' ? 'operator' : 'opset'} onnxruntime does not have`,
      write: bookWriter({ model: (file) => execFileSync('/usr/bin/python3', ['-c', UNSUPPORTED_ONNX, file, kind], { stdio: 'pipe' }) }),
      file: 'svc.onnx', mustFail: true, says: kind === 'op' ? /NoSuchOperator/ : /opset|999/,
    });
  }
  // Files that are not ONNX at all: said as what they look like, not onnxruntime's "protobuf parsing failed".
  for (const [what, content, says] of NOT_ONNX) cases.push({ name: `svc.onnx that is ${what}`, write: bookWriter({ model: content }), file: 'svc.onnx', mustFail: true, says });
  cases.push({ name: 'svc.onnx of random bytes', write: bookWriter({ model: Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 131 + 7) % 256)) }), file: 'svc.onnx', mustFail: true });
  return cases;
}

/** Lines that are a stack frame or a JavaScript error's own words, not a message for a user. */
const INTERNAL = /^\s+at \S.*(:\d+:\d+\)?|\(native\))$|TypeError|ReferenceError|RangeError|Cannot read propert|is not a function|is not iterable|\[object Object\]|undefined \(reading/m;

const ALL = [...configCases(), ...scalerCases(), ...modelCases()];

/** Node's warnings (process.emitWarning) while a case runs: a line on stderr beside the message. */
const warnings: string[] = [];
process.on('warning', (w) => warnings.push(w.message));

test(`bad model files and configs (${ALL.length} generated cases): each is refused with one message naming the file and every problem made, no stack frame`, async () => {
  const failures: string[] = [];
  for (const [i, c] of ALL.entries()) {
    const repo = join(root, String(i));
    const dir = join(repo, 'm');
    mkdirSync(dir, { recursive: true });
    c.write(dir);
    const file = join(dir, c.file);
    const shown = [file, relative(process.cwd(), file)];
    const fail = (why: string, text: string) => failures.push(`#${i} ${c.name}: ${why}\n${text.split('\n').map((l) => `    ${l}`).join('\n')}`);
    warnings.length = 0;
    let text: string;
    let ok: boolean;
    let keys: string[] = [];
    try {
      const report = await checkRepository(repo, { optimize: false });
      const errors = report.problems.filter((p) => p.severity === 'error');
      text = formatModelProblems(errors);
      ok = report.ok;
      keys = errors.map((p) => p.key);
    } catch (err) {
      if (!(err instanceof StartupError)) {
        fail('check threw', (err as Error).stack ?? String(err));
        continue;
      }
      text = err.message;
      ok = false;
    }
    if (c.mustFail !== false && ok) fail('check passed it', text);
    if (!ok) {
      if (INTERNAL.test(text)) fail('the message holds a stack frame or a JavaScript error', text);
      if (!shown.some((s) => text.includes(s))) fail(`the message does not name ${basename(file)}`, text);
      for (const path of c.paths ?? []) {
        if (!keys.some((k) => k === path || path.startsWith(`${k}.`) || k.startsWith(`${path}.`))) fail(`no problem at ${path}`, text);
      }
      if (c.says && !c.says.test(text)) fail(`the message does not say ${c.says}`, text);
    }
    // serve's config stage: refuses with one StartupError, or passes it on to the model's load.
    try {
      loadRepository(repo);
    } catch (err) {
      if (!(err instanceof StartupError)) fail('serve\'s config stage threw', (err as Error).stack ?? String(err));
      else if (INTERNAL.test(err.message)) fail('serve\'s config message holds a stack frame or a JavaScript error', err.message);
      else if (!/\bm\b/.test(err.message)) fail('serve\'s config message names no file of the model', err.message);
    }
    await new Promise(setImmediate); // process.emitWarning emits on the next tick
    if (warnings.length > 0) fail('Node printed a warning beside the message', warnings.join('\n'));
  }
  assert.deepEqual(failures, [], failures.join('\n'));
});

test('the repository API: a load of a model folder holding a generated bad case answers 4xx naming the file and no stack frame; the running models keep serving', async () => {
  const repo = tempDir('modelserve-bad-files-api-');
  writeBookModelFolder(repo, 'optimize: false\n');
  const server = await startServer({ repo, port: 0, workers: 1, logger: false });
  const failures: string[] = [];
  try {
    // A seeded share of the cases (each load reads the repository and opens the model).
    const { chance } = draws(71);
    const chosen = ALL.map((c, i) => [c, i] as const).filter(([c]) => c.mustFail !== false && chance(c.file === 'model.yaml' ? 0.1 : 0.5));
    for (const [c, i] of chosen) {
      const dir = join(repo, 'm');
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);
      c.write(dir);
      // Loaded under its folder's name: the name: an example's config gives is taken out where it can be.
      const yaml = join(dir, 'model.yaml');
      if (existsSync(yaml) && !c.name.includes('name') && !/UTF-16|Latin-1|binary|BOM/.test(c.name)) writeFileSync(yaml, readFileSync(yaml, 'utf8').replace(/^name: .*$/m, ''));
      const res = await call(`${server.url}/v2/repository/models/m/load`, { method: 'POST' });
      const text = JSON.stringify(res.body);
      if (res.status < 400 || res.status >= 500) failures.push(`#${i} ${c.name}: ${res.status} ${text}`);
      else if (INTERNAL.test(String(res.body.error ?? res.body.detail ?? text))) failures.push(`#${i} ${c.name}: a stack frame or a JavaScript error: ${text}`);
      else if (!text.includes(join('m', c.file))) failures.push(`#${i} ${c.name}: does not name ${join('m', c.file)}: ${text}`);
    }
    const ready = await call(`${server.url}/v2/health/ready`);
    assert.equal(ready.status, 200, ready.text);
  } finally {
    await server.shutdown();
  }
  assert.deepEqual(failures, [], failures.join('\n'));
});

test('the CLI, end to end: check, serve, inspect and init refuse a few of the generated cases with one message naming the file, exit 1, no stack frame', () => {
  const picks = ['weather: a complex (map) key', 'book scaler: null', 'svc.onnx cut at byte 1000 of'];
  for (const name of picks) {
    const i = ALL.findIndex((c) => c.name.startsWith(name));
    const c = ALL[i]!;
    const repo = join(root, `cli-${i}`);
    mkdirSync(join(repo, 'm'), { recursive: true });
    c.write(join(repo, 'm'));
    const runs = [['check', repo], ['serve', repo, '--port', '0', '--grpc-port', '0', '--workers', '1']];
    // inspect and init read the model file itself.
    if (/\.(onnx|json)$/.test(c.file) && c.file !== 'model-scaler.json') runs.push(['inspect', join(repo, 'm', c.file)], ['init', join(repo, 'm', c.file), '-o', join(repo, 'init-out')]);
    for (const args of runs) {
      const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000, cwd: root, env: { ...process.env, MODELSERVE_GRPC_PORT: '0' } });
      const what = `${args[0]} on #${i} ${c.name}: ${r.stderr}`;
      assert.equal(r.status, 1, what);
      assert.ok(r.stderr.includes(join('m', c.file)), what);
      assert.doesNotMatch(r.stderr, INTERNAL, what);
      assert.doesNotMatch(r.stderr, /Warning:/, what);
    }
  }
});

test('a file named .onnx that is no model (text, a Git LFS pointer, a zip, JSON): serve, check, inspect, init and the repository load API each say what it looks like, in the same words (what to do with an XGBoost model in the command\'s own terms)', async () => {
  const repo = tempDir('modelserve-not-onnx-');
  writeBookModelFolder(repo, 'optimize: false\n');
  const server = await startServer({ repo, port: 0, workers: 1, logger: false });
  try {
    for (const [what, content, says, api] of NOT_ONNX) {
      const bad = tempDir('modelserve-not-onnx-bad-');
      const dir = join(bad, 'm');
      mkdirSync(dir);
      bookWriter({ model: content })(dir);
      const file = join(dir, 'svc.onnx');
      const said: Array<[string, string]> = [];
      const report = await checkRepository(bad, { optimize: false });
      said.push(['check', formatModelProblems(report.problems)]);
      await assert.rejects(startServer({ repo: bad, port: 0, workers: 1, logger: false }), (err: Error) => { said.push(['serve', err.message]); return true; });
      for (const command of ['inspect', 'init']) {
        const r = spawnSync(process.execPath, [CLI, command, file, ...(command === 'init' ? ['-o', join(bad, 'out')] : [])], { encoding: 'utf8', timeout: 60_000 });
        assert.equal(r.status, 1, `${command} on ${what}: ${r.stderr}`);
        said.push([command, r.stderr]);
      }
      // The repository API: the folder copied into the running server's repository, loaded by name.
      const into = join(repo, 'm');
      rmSync(into, { recursive: true, force: true });
      mkdirSync(into);
      bookWriter({ model: content })(into);
      writeFileSync(join(into, 'model.yaml'), BOOK_CONFIG.replace(/^name: .*\n/m, '')); // loaded under its folder's name
      const res = await call(`${server.url}/v2/repository/models/m/load`, { method: 'POST' });
      assert.equal(res.status, 400, `load of ${what}: ${res.text}`);
      said.push(['the repository load API', String(res.body.error)]);
      for (const [where, text] of said) {
        const fromApi = where === 'the repository load API' && api !== undefined;
        assert.match(text, fromApi ? api.says : says, `${where} on ${what}: ${text}`);
        if (fromApi) assert.ok(!text.includes(api.not), `${where} on ${what} quotes the file: ${text}`);
        assert.ok(text.includes('svc.onnx'), `${where} on ${what} names no file: ${text}`);
        assert.doesNotMatch(text, /protobuf parsing failed|invalid wire type/, `${where} on ${what}: ${text}`);
        // What to do with an XGBoost model is said in the command's terms: inspect and init take no config.
        if (what === 'an XGBoost JSON model') {
          const fix = where === 'inspect' ? /rename it to end in \.json \(model\.json\): inspect reads a \.json file as an XGBoost model\n$/
            : where === 'init' ? /rename it to end in \.json \(model\.json\): init serves a \.json file as an XGBoost model \(format: xgboost\)\n$/
              : /an XGBoost JSON model: add format: xgboost to the config/;
          assert.match(text, fix, `${where} on ${what}: ${text}`);
        }
      }
    }
  } finally {
    await server.shutdown();
  }
});
