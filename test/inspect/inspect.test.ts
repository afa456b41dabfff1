// `modelserve inspect`: through the real bin script, on the book's svc.onnx and small real models.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { encodeModel, decodeModel } from '../../src/optimize/proto.js';
import { BOOK_MODEL, CLI, REPO, tempDir } from '../helpers/paths.js';

const dir = tempDir('modelserve-inspect-');
after(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'inspect', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('inspect svc.onnx --json: signature, opsets, operators with the optimiser verdict, size', () => {
  const r = cli([BOOK_MODEL, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const d = JSON.parse(r.stdout);
  assert.equal(d.bytes, readFileSync(BOOK_MODEL).byteLength);
  assert.deepEqual(d.inputs, [{ name: 'float_input', type: 'float32', shape: ['?', 7] }]);
  assert.deepEqual(d.outputs, [{ name: 'label', type: 'int64', shape: ['?'] }, { name: 'probabilities', type: 'float32', shape: ['?', 2] }]);
  assert.deepEqual(d.opsets, [{ domain: 'ai.onnx.ml', version: 1 }]);
  assert.deepEqual(d.operators, [{ domain: 'ai.onnx.ml', opType: 'SVMClassifier', count: 1, optimizer: 'rewritten' }]);
  assert.match(d.producer, /skl2onnx/);
  assert.deepEqual(d.metadata, {});
});

test('inspect (text): symbolic dims by name, operator counts, metadata_props, a kept operator with the reason', () => {
  // The loan example has symbolic N dims and repeated operators; add metadata_props to a copy.
  const model = decodeModel(readFileSync(join(REPO, 'examples/loan/model.onnx')));
  model.metadataProps = [{ key: 'converter', value: 'hand-written' }, { key: 'trained_on', value: 'synthetic' }];
  const file = join(dir, 'loan-meta.onnx');
  writeFileSync(file, encodeModel(model));
  const r = cli([file]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Term\s+int64\s+\[N, 1\]/);
  assert.match(r.stdout, /probabilities\s+float32\s+\[N, 2\]/);
  assert.match(r.stdout, /ai\.onnx\.ml\.LabelEncoder ×9/);
  assert.match(r.stdout, /converter: hand-written\n\s+trained_on: synthetic/);
  assert.match(r.stdout, /opsets: ai\.onnx 13, ai\.onnx\.ml 3/);
  const kept = cli([resolve(REPO, 'test/fixtures/optimize/scaler_opset11.onnx')]);
  assert.equal(kept.status, 0, kept.stderr);
  assert.match(kept.stdout, /ai\.onnx\.ml\.Scaler\s+\(the optimiser keeps it: default-domain opset 11 < 13\)/);
});

test('inspect: a file that is not ONNX exits 1 naming it; no file is a usage error', () => {
  const bad = join(dir, 'bad.onnx');
  writeFileSync(bad, 'this is not a protobuf at all, just text\n');
  const r = cli([bad]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /bad\.onnx: not a valid ONNX model/);
  assert.equal(cli([join(dir, 'missing.onnx')]).status, 1);
  assert.equal(cli([]).status, 2);
});
