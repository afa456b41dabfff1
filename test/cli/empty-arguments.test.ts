// An empty argument (an unset variable: `modelserve inspect "$MODEL"`) is a usage error naming the
// argument, exit 2: inspect and convert said "  does not exist" (exit 1), init -o "" wrote into the
// working folder, init --sample "" went without the sample.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { BOOK_MODEL, BOOK_CSV, CLI, tempDir } from '../helpers/paths.js';

const cwd = tempDir('modelserve-empty-args-');
after(() => rmSync(cwd, { recursive: true, force: true }));

const cases: Array<[string[], string]> = [
  [['inspect', ''], '<model.onnx>'],
  [['inspect', ' ', '--json'], '<model.onnx>'],
  [['init', ''], '<model.onnx>'],
  [['init', BOOK_MODEL, '-o', ''], '--out'],
  [['init', BOOK_MODEL, '-o', 'm', '--name', ''], '--name'],
  [['init', BOOK_MODEL, '-o', 'm', '--sample', ''], '--sample'],
  [['init', BOOK_MODEL, '-o', 'm', '--sample', BOOK_CSV, '--scaler', ''], '--scaler'],
  [['optimize', '', 'out.onnx'], '<in.onnx>'],
  [['optimize', BOOK_MODEL, ''], '<out.onnx>'],
  [['convert', '', 'out.onnx'], '<model.json>'],
];

for (const [args, name] of cases) {
  test(`modelserve ${args.map((a) => (a.trim() === '' ? JSON.stringify(a) : a.split('/').pop())).join(' ')}: a usage error naming ${name}`, () => {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000, cwd });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`^modelserve ${args[0]}: ${name.replace(/[<>.-]/g, '\\$&')} is an empty argument \\(an unset variable\\?\\)\\n\\nUsage: modelserve ${args[0]} `));
    assert.deepEqual(readdirSync(cwd), [], 'nothing written');
  });
}
