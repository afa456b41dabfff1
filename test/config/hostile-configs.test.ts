// Hostile configs bad-files.fuzz.test.ts does not make: pipeline files broken at every key (a step
// left with neither model: nor remote: made `check` throw a TypeError), and nesting — [ and {
// thousands deep, indented lists hundreds deep, aliases nesting anchors, an alias inside its own
// anchor — which made the YAML parser say "Maximum call stack size exceeded" (in seconds) and
// `check` and serve's config stage throw a RangeError. Each is refused with one message naming the
// file, no JavaScript error's words; the cases are seeded (FUZZ_SEED as in the other fuzz tests).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { checkRepository } from '../../src/check/repository.js';
import { formatModelProblems } from '../../src/check/problems.js';
import { loadRepository, readConfigFile, type Problem } from '../../src/config/load.js';
import { StartupError } from '../../src/errors.js';
import { draws } from '../helpers/fuzz.js';
import { EXAMPLES, tempDir } from '../helpers/paths.js';

/** A stack frame or a JavaScript error's own words, not a message for a user. */
const INTERNAL = /^\s+at \S.*(:\d+:\d+\)?|\(native\))$|TypeError|ReferenceError|RangeError|Maximum call stack|Cannot read propert|is not a function|is not iterable|\[object Object\]|undefined \(reading/m;

type Path = Array<string | number>;
function pathsOf(value: unknown, at: Path = []): Path[] {
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, child]) => {
    const path = [...at, Array.isArray(value) ? Number(key) : key];
    return [path, ...pathsOf(child, path)];
  });
}
const getAt = (root: unknown, path: Path): unknown => path.reduce<unknown>((node, step) => (node as Record<string, unknown>)[step], root);
const parentOf = (root: unknown, path: Path) => getAt(root, path.slice(0, -1)) as Record<string | number, unknown>;

/** Each pipeline example with the model folders its steps name, copied into one repository. */
const PIPELINES = [
  { name: 'weather-ensemble', models: { weather: join(EXAMPLES, 'weather'), 'weather-gb': join(EXAMPLES, 'pipelines', 'weather-gb') } },
  { name: 'loan-by-area', models: { loan: join(EXAMPLES, 'loan'), 'loan-rural': join(EXAMPLES, 'pipelines', 'loan-rural') } },
];

test('pipeline files broken at every key (wrong types, missing and unknown keys): check and serve\'s config stage refuse each with the file named, never a JavaScript error', async () => {
  const failures: string[] = [];
  let cases = 0;
  for (const [p, pipeline] of PIPELINES.entries()) {
    const repo = tempDir('modelserve-hostile-pipeline-');
    for (const [name, dir] of Object.entries(pipeline.models)) {
      mkdirSync(join(repo, name));
      for (const file of ['model.yaml', 'model.onnx']) cpSync(join(dir, file), join(repo, name, file));
    }
    const text = readFileSync(join(EXAMPLES, 'pipelines', pipeline.name, 'model.yaml'), 'utf8');
    const parsed = parse(text) as Record<string, unknown>;
    const file = join(repo, pipeline.name, 'model.yaml');
    mkdirSync(join(repo, pipeline.name));
    const { pick } = draws(p * 100 + 41);
    const mutations: Array<[string, (c: Record<string, unknown>) => void]> = [];
    for (const path of pathsOf(parsed).filter((q) => q[0] === 'pipeline')) {
      const at = path.join('.');
      const wrong = pick<unknown>([42, 'a string', [1, [2]], { a: { b: 1 } }, null, true]);
      mutations.push([`${at} = ${JSON.stringify(wrong)}`, (c) => { parentOf(c, path)[path.at(-1)!] = wrong; }]);
      if (typeof path.at(-1) === 'string') mutations.push([`no ${at}`, (c) => { delete parentOf(c, path)[path.at(-1)!]; }]);
      const value = getAt(parsed, path);
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) mutations.push([`unknown key modle at ${at}`, (c) => { (getAt(c, path) as Record<string, unknown>).modle = 'x'; }]);
    }
    for (const [what, change] of mutations) {
      cases++;
      const c = structuredClone(parsed);
      change(c);
      writeFileSync(file, stringify(c));
      const name = `${pipeline.name}: ${what}`;
      let said: string;
      try {
        const report = await checkRepository(repo, { optimize: false });
        said = report.ok ? '' : formatModelProblems(report.problems.filter((q) => q.severity === 'error'));
      } catch (err) {
        if (!(err instanceof StartupError)) {
          failures.push(`${name}: check threw ${(err as Error).stack}`);
          continue;
        }
        said = err.message;
      }
      if (said !== '') {
        if (INTERNAL.test(said)) failures.push(`${name}: check's message holds a JavaScript error: ${said}`);
        if (!said.includes(join(pipeline.name, 'model.yaml'))) failures.push(`${name}: check's message names no ${pipeline.name}/model.yaml: ${said}`);
      } else if (/^no pipeline\.\w+\.\d+\.model$/.test(what)) failures.push(`${name}: check passed a step naming no model`);
      try {
        loadRepository(repo);
      } catch (err) {
        if (!(err instanceof StartupError)) failures.push(`${name}: serve's config stage threw ${(err as Error).stack}`);
        else if (INTERNAL.test(err.message)) failures.push(`${name}: serve's message holds a JavaScript error: ${err.message}`);
      }
    }
    rmSync(repo, { recursive: true, force: true });
  }
  assert.ok(cases > 50, `only ${cases} cases`);
  assert.deepEqual(failures, [], failures.join('\n'));
});

test('a pipeline step with neither model: nor remote: is said at its key by check, not a TypeError', async () => {
  const repo = tempDir('modelserve-hostile-step-');
  for (const name of ['weather']) cpSync(join(EXAMPLES, name), join(repo, name), { recursive: true });
  mkdirSync(join(repo, 'chain'));
  writeFileSync(join(repo, 'chain', 'model.yaml'), 'pipeline:\n  sequence:\n    - model: weather\n    - name: second\n');
  const report = await checkRepository(repo, { optimize: false });
  assert.equal(report.ok, false);
  assert.match(formatModelProblems(report.problems), /chain\/model\.yaml: pipeline\.sequence\.1: a step names either a model \(model:\) or a remote service \(remote:\)/);
});

const WEATHER = readFileSync(join(EXAMPLES, 'weather', 'model.yaml'), 'utf8');
const deep = (n: number, open: string, close: string, leaf = '1') => `${open.repeat(n)}${leaf}${close.repeat(n)}`;
/** Maps `n` deep by indentation alone (one space a level, under a key at column 0): ` a:\n  a:\n   a:…`. */
const indented = (n: number) => Array.from({ length: n }, (_, i) => `${' '.repeat(i + 1)}a:`).join('\n');

/** Configs nested past what any config needs, each with what the message must say. */
const NESTED: Array<[string, string, string, RegExp]> = [
  ['[ 20 000 deep', 'model.yaml', `${WEATHER}\nzzz: ${deep(20_000, '[', ']', '')}\n`, /^not valid for a config: its maps and lists nest more than 64 levels deep \(at line \d+, column 70\); a model config needs a few levels/],
  ['{a: 5 000 deep, under fields', 'model.yaml', WEATHER.replace(/^fields:/m, `fields:\n  deep: ${deep(5000, '{a: ', '}')}`), /not valid for a config: its maps and lists nest more than 64 levels deep \(at line 13, column \d+\)/],
  ['65 levels of [ (one past the limit)', 'model.yaml', `${WEATHER}\nzzz: ${deep(65, '[', ']')}\n`, /nest more than 64 levels deep/],
  ['indented lists 2 000 deep', 'model.yaml', `${WEATHER}\nzzz:\n${Array.from({ length: 2000 }, (_, i) => `${' '.repeat(i + 1)}- `).join('\n')}1\n`, /nest more than 64 levels deep/],
  ['anchors nesting anchors (each alias 30 deeper)', 'model.yaml', `${WEATHER}\nzzz:\n  a0: &a0 1\n${Array.from({ length: 3 }, (_, i) => `  a${i + 1}: &a${i + 1} ${deep(30, '[', ']', `*a${i}`)}`).join('\n')}\n`, /^its maps and lists nest more than 64 levels deep \(at zzz\.a3\.0\.0…\)/],
  ['an alias inside its own anchor', 'model.yaml', `${WEATHER}\nzzz: &x [1, *x]\n`, /not valid YAML: the alias \*x at line \d+, column 13 is inside the value its anchor &x names, which would hold itself without end/],
  ['an alias inside its own anchor, deeper', 'model.yaml', `${WEATHER}\nzzz: &x\n  a: { b: [*x] }\n`, /the alias \*x at line 70, column 12 is inside the value its anchor &x names/],
  // 2 MB of block maps nested by indentation alone: refused by the scan before the parser (it recursed, and ran out of stack seconds later).
  ['indented maps 2 000 deep (2 MB)', 'model.yaml', `${WEATHER}\nzzz:\n${indented(2000)} 1\n`, /^not valid for a config: its maps and lists nest more than 64 levels deep \(at line 135, column 67\); a model config needs a few levels/],
  ['- - - 5 000 on one line', 'model.yaml', `${WEATHER}\nzzz:\n  ${'- '.repeat(5000)}1\n`, /^not valid for a config: its maps and lists nest more than 64 levels deep \(at line 70, column 133\)/],
  // 100 deep parses without running out of stack; it was refused only after the parse (at zzz.a.a.a…), now by the scan before it, at its line and column.
  ['indented maps 100 deep', 'model.yaml', `${WEATHER}\nzzz:\n${indented(100)} 1\n`, /^not valid for a config: its maps and lists nest more than 64 levels deep \(at line 135, column 67\)/],
  ['indented maps 100 deep, CRLF lines', 'model.yaml', `${WEATHER}\nzzz:\n${indented(100)} 1\n`.replaceAll('\n', '\r\n'), /^not valid for a config: its maps and lists nest more than 64 levels deep \(at line 135, column 67\)/],
  ['JSON [ 100 000 deep', 'model.json', `{"zzz": ${deep(100_000, '[', ']', '')}}`, /not valid for a config: its maps and lists nest more than 64 levels deep \(at line 1, column 72\)/],
  ['JSON {"a": 50 000 deep', 'model.json', `{"name": "weather", "zzz": ${deep(50_000, '{"a": ', '}')}}`, /nest more than 64 levels deep \(at line 1, column \d+\)/],
];

test('configs nested thousands deep, through aliases, or an alias inside its own anchor: one problem naming the file, no "Maximum call stack" nor a RangeError from check or serve', async () => {
  for (const [what, name, text, says] of NESTED) {
    const repo = tempDir('modelserve-hostile-nesting-');
    const dir = join(repo, 'weather');
    mkdirSync(dir);
    cpSync(join(EXAMPLES, 'weather', 'model.onnx'), join(dir, 'model.onnx'));
    writeFileSync(join(dir, name), text);
    const problems: Problem[] = [];
    assert.equal(readConfigFile(join(dir, name), problems), undefined, what);
    assert.equal(problems.length, 1, `${what}: ${JSON.stringify(problems)}`);
    assert.match(problems[0]!.message, says, what);
    const report = await checkRepository(repo, { optimize: false });
    const said = formatModelProblems(report.problems);
    assert.equal(report.ok, false, what);
    assert.ok(said.includes(join('weather', name)), `${what}: ${said}`);
    assert.doesNotMatch(said, INTERNAL, what);
    assert.throws(() => loadRepository(repo), (err: Error) => err instanceof StartupError && err.message.includes(join('weather', name)) && !INTERNAL.test(err.message), what);
  }
});

test('nesting as deep as a config may go (by brackets or by indentation), indented text that is not nesting, anchors and aliases that do not hold themselves, still read', () => {
  const dir = tempDir('modelserve-nesting-ok-');
  const file = join(dir, 'model.yaml');
  for (const text of [
    `${WEATHER}\nroot_response: ${deep(60, '[', ']')}\n`,
    `${WEATHER}\nroot_response: { a: &x [1, 2], b: [*x, *x], c: "[[[[${'['.repeat(100)}" } # ${'{'.repeat(100)}\n`,
    // Deep by indentation but within the limit, as maps, lists, and items on one line.
    `${WEATHER}\nzzz:\n${indented(60)} 1\n`,
    `${WEATHER}\nzzz:\n${Array.from({ length: 60 }, (_, i) => `${' '.repeat(i + 1)}- `).join('\n')}1\n`,
    `${WEATHER}\nzzz:\n  ${'- '.repeat(60)}1\n`,
    // Indented lines that are not nesting: a block scalar's text, a plain scalar's continued lines, comments, text in brackets.
    `${WEATHER}\nzzz: |\n${Array.from({ length: 500 }, (_, i) => `${' '.repeat(i + 1)}line ${i}`).join('\n')}\n`,
    `${WEATHER}\nzzz:\n  a: >-\n${Array.from({ length: 500 }, (_, i) => `${' '.repeat(i + 4)}folded ${i}`).join('\n')}\n  b: 1\n`,
    `${WEATHER}\nzzz: plain\n${Array.from({ length: 500 }, (_, i) => `${' '.repeat(i + 1)}continued ${i}`).join('\n')}\n`,
    `${WEATHER}\nzzz:\n  a: 1\n${Array.from({ length: 500 }, (_, i) => `${' '.repeat(i + 1)}# comment ${i}`).join('\n')}\n  b: "quoted\n${Array.from({ length: 500 }, (_, i) => `${' '.repeat(i + 3)}text ${i}`).join('\n')}"\n`,
    `${WEATHER}\nzzz: [\n${Array.from({ length: 500 }, (_, i) => `${' '.repeat(i + 1)}${i},`).join('\n')}\n  ]\n`,
  ]) {
    writeFileSync(file, text);
    const problems: Problem[] = [];
    assert.notEqual(readConfigFile(file, problems), undefined, JSON.stringify(problems));
    assert.deepEqual(problems, []);
  }
});

test('every example config still reads past the nesting scan', () => {
  const files = readdirSync(EXAMPLES, { recursive: true, encoding: 'utf8' }).filter((f) => /(^|\/)model\.(yaml|json)$/.test(f));
  assert.ok(files.length >= 10, files.join(', '));
  for (const f of files) {
    const problems: Problem[] = [];
    assert.notEqual(readConfigFile(join(EXAMPLES, f), problems), undefined, `${f}: ${JSON.stringify(problems)}`);
    assert.deepEqual(problems, [], f);
  }
});
