// `modelserve optimize`: through the real bin script (child process) and through run().
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { run } from '../../src/optimize/cli.js';
import { FIXTURES, REPO, SHARED } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'modelserve-optimize-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [resolve(REPO, 'bin/modelserve.js'), 'optimize', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('optimize svc.onnx --report writes a loadable model and a JSON report', async () => {
  const out = join(dir, 'svc.opt.onnx');
  const r = cli([resolve(SHARED, 'seed/svc.onnx'), out, '--report']);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { changed: boolean; rewrites: Array<{ op: string; node: string; detail: string }>; skipped: unknown[] };
  assert.equal(report.changed, true);
  assert.equal(report.rewrites.length, 1);
  assert.equal(report.rewrites[0].op, 'SVMClassifier');
  assert.match(report.rewrites[0].detail, /RBF kernel, 6760 support vectors × 7 features/);
  const s = await ort.InferenceSession.create(readFileSync(out));
  assert.deepEqual(s.outputNames, ['label', 'probabilities']);
  const res = await s.run({ float_input: new ort.Tensor('float32', new Float32Array(14), [2, 7]) });
  assert.deepEqual(res.label.dims, [2]);
  assert.deepEqual(res.probabilities.dims, [2, 2]);
});

test('a model with nothing to rewrite exits 3 and writes nothing unless --force', () => {
  const input = resolve(FIXTURES, 'scaler_opset11.onnx');
  const out = join(dir, 'none.onnx');
  const r = cli([input, out]);
  assert.equal(r.status, 3);
  assert.match(r.stderr, /opset 11 < 13/);
  assert.equal(existsSync(out), false);
  assert.equal(cli([input, out, '--force']).status, 0);
  assert.deepEqual(readFileSync(out), readFileSync(input));
});

test('usage errors exit 2; unreadable or invalid input exits 1; --help documents every flag', async () => {
  assert.equal(await run(['only-one.onnx']), 2);
  assert.equal(await run(['a.onnx', 'b.onnx', '--rbf', 'float16']), 2);
  assert.equal(await run(['a.onnx', 'b.onnx', '--bogus']), 2);
  assert.equal(await run([join(dir, 'missing.onnx'), join(dir, 'x.onnx')]), 1);
  assert.equal(await run([resolve(FIXTURES, 'manifest.json'), join(dir, 'x.onnx')]), 1);
  const help = cli(['--help']);
  assert.equal(help.status, 0);
  for (const flag of ['--report', '--rbf', '--probabilities', '--force', '--help']) assert.ok(help.stdout.includes(flag), flag);
});

test('--rbf=mixed and --probabilities=ops write what --rbf mixed --probabilities ops writes (they were refused as unknown options); a value given to a flag or a mistyped --name=value is a usage error saying which', () => {
  const input = resolve(FIXTURES, 'svc_rbf_bin.onnx');
  const spaced = join(dir, 'spaced.onnx');
  const joined = join(dir, 'joined.onnx');
  assert.equal(cli([input, spaced, '--rbf', 'mixed', '--probabilities', 'ops']).status, 0);
  const r = cli([input, joined, '--rbf=mixed', '--probabilities=ops']);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readFileSync(joined), readFileSync(spaced));
  const refused = (args: string[], pattern: RegExp) => {
    const res = cli([input, join(dir, 'refused.onnx'), ...args]);
    assert.equal(res.status, 2, args.join(' '));
    assert.match(res.stderr, pattern, args.join(' '));
  };
  refused(['--rbf=float16'], /^modelserve optimize: --rbf must be mixed, float32 or float64 \(got float16\)\n/);
  refused(['--rbf='], /^modelserve optimize: --rbf must be mixed, float32 or float64 \(got nothing\)\n/);
  refused(['--force=yes'], /^modelserve optimize: --force takes no value \(got --force=yes\)\n/);
  refused(['--rbff=mixed'], /^modelserve optimize: unknown option --rbff \(did you mean --rbf\?\)\n/);
  assert.equal(existsSync(join(dir, 'refused.onnx')), false);
});

test('an empty file is not a valid ONNX model (exit 1), not a model with nothing to rewrite that --force copies', () => {
  const empty = join(dir, 'empty.onnx');
  writeFileSync(empty, '');
  for (const args of [[empty, join(dir, 'out.onnx')], [empty, join(dir, 'out.onnx'), '--force']]) {
    const r = cli(args);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^modelserve optimize: .*empty\.onnx is not a valid ONNX model: it is empty: is it still being copied, or was its copy cut short\?\n$/);
  }
  assert.ok(!existsSync(join(dir, 'out.onnx')));
});

test('a model cut short, a pickle or an XGBoost model is said as serve says it, not as the protobuf reader\'s "index out of range" (optimize, inspect, init)', () => {
  const whole = readFileSync(resolve(FIXTURES, 'svc_rbf_bin.onnx'));
  const cut = join(dir, 'cut.onnx');
  writeFileSync(cut, whole.subarray(0, 100));
  const pickle = join(dir, 'model.pkl');
  writeFileSync(pickle, Buffer.from([0x80, 0x04, 0x95, 0x10, 0, 0, 0, 0, 0, 0, 0]));
  const out = join(dir, 'never.onnx');
  const said = (command: string, args: string[]) => {
    const r = spawnSync(process.execPath, [resolve(REPO, 'bin/modelserve.js'), command, ...args], { encoding: 'utf8', timeout: 60_000, cwd: dir });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    return r.stderr;
  };
  for (const [command, args] of [['optimize', [cut, out]], ['inspect', [cut]], ['init', [cut, '--out', join(dir, 'cut-model')]]] as const) {
    assert.match(said(command, [...args]), /cut\.onnx is not a valid ONNX model: it is 100 bytes long, but a field from byte \d+ runs to byte \d+: is it still being copied/, command);
  }
  assert.match(said('optimize', [pickle, out]), /model\.pkl is not a valid ONNX model: it is a Python pickle/);
  assert.match(said('optimize', [resolve(REPO, 'examples/rain-xgboost/model.json'), out]), /model\.json is not a valid ONNX model: it is an XGBoost JSON model: modelserve convert writes its ONNX graph\n$/);
  assert.ok(!existsSync(out));
});

test('an output that is the input file (the same path, spelt otherwise, a symlink to it) is a usage error (exit 2); the model is left as it was', () => {
  const input = join(dir, 'same.onnx');
  copyFileSync(resolve(FIXTURES, 'svc_linear_bin.onnx'), input);
  symlinkSync(input, join(dir, 'same-link.onnx'));
  const original = readFileSync(input);
  for (const output of [input, join(dir, '.', 'same.onnx'), join(dir, 'same-link.onnx')]) {
    for (const args of [[input, output], [input, output, '--force']]) {
      const r = cli(args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^modelserve optimize: .*same(-link)?\.onnx is the input file .*same\.onnx: writing it would overwrite the model; give another <out\.onnx>\n/);
      assert.deepEqual(readFileSync(input), original);
    }
  }
});

test('an output that cannot be written (a directory, a full device, a missing folder) is one line naming it, exit 1', () => {
  mkdirSync(join(dir, 'outdir'));
  const outputs: Array<[string, RegExp]> = [
    [join(dir, 'outdir') + '/', /EISDIR: illegal operation on a directory/],
    [join(dir, 'no-such-dir', 'x.onnx'), /ENOENT: no such file or directory/],
    ...(existsSync('/dev/full') ? [['/dev/full', /ENOSPC: no space left on device/] as [string, RegExp]] : []),
  ];
  for (const [output, reason] of outputs) {
    const r = cli([resolve(FIXTURES, 'svc_linear_bin.onnx'), output]);
    assert.equal(r.status, 1, `${output}: ${r.stderr}`);
    const last = r.stderr.trimEnd().split('\n').at(-1)!;
    assert.equal(last.replace(reason, '<reason>'), `modelserve optimize: cannot write ${output}: <reason>`, output);
  }
});

test('a write cut off by a full disk leaves no part of a model behind (a small tmpfs; skipped where it cannot be mounted)', (t) => {
  const small = join(dir, 'small-disk');
  mkdirSync(small);
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', small]).status !== 0) return t.skip('cannot mount a tmpfs here');
  try {
    writeFileSync(join(small, 'filler'), Buffer.alloc(12 * 1024)); // 4 KiB (a page) left: less than the model
    const output = join(small, 'x.onnx');
    const r = cli([resolve(FIXTURES, 'svc_rbf_4c_prob_strings.onnx'), output]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /cannot write .*x\.onnx: ENOSPC: no space left on device\n$/);
    assert.equal(existsSync(output), false, 'the cut-off file is removed');
  } finally {
    spawnSync('umount', [small]);
  }
});
