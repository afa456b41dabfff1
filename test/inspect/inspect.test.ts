// `modelserve inspect`: through the real bin script, on the book's svc.onnx and small real models.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DT, attr, encodeModel, decodeModel } from '../../src/optimize/proto.js';
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
  assert.deepEqual(d.outputs, [{ name: 'label', type: 'int64', shape: ['?'], classes: ['0', '1'] }, { name: 'probabilities', type: 'float32', shape: ['?', 2] }]);
  assert.deepEqual(d.opsets, [{ domain: 'ai.onnx.ml', version: 1 }]);
  assert.deepEqual(d.operators, [{ domain: 'ai.onnx.ml', opType: 'SVMClassifier', count: 1, optimizer: 'rewritten' }]);
  assert.match(d.producer, /skl2onnx/);
  assert.deepEqual(d.metadata, {});
});

test('inspect --json: a TreeEnsembleClassifier\'s classes (classlabels_int64s) on its label output', () => {
  const r = cli([join(REPO, 'examples/loan/model.onnx'), '--json']);
  assert.equal(r.status, 0, r.stderr);
  const d = JSON.parse(r.stdout);
  assert.deepEqual(d.outputs.find((o: { name: string }) => o.name === 'label').classes, ['0', '1']);
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

test('inspect: an input with no declared shape reads as not declared (not [], a scalar), a ZipMap output by what it holds', () => {
  // LinearClassifier + ZipMap as skl2onnx exports a classifier, its input declared without a shape.
  const model = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }, { domain: 'ai.onnx.ml', version: 1 }],
    graph: {
      name: 'zipmap',
      node: [
        { opType: 'LinearClassifier', domain: 'ai.onnx.ml', input: ['x'], output: ['label', 'p'], attribute: [attr('classlabels_ints', { ints: [0, 1] }), attr('coefficients', [1, -1, -1, 1]), attr('intercepts', [0, 0])] },
        { opType: 'ZipMap', domain: 'ai.onnx.ml', input: ['p'], output: ['output_probability'], attribute: [attr('classlabels_int64s', { ints: [0, 1] })] },
      ],
      input: [{ name: 'x', type: { tensorType: { elemType: DT.FLOAT } } }],
      output: [
        { name: 'label', type: { tensorType: { elemType: DT.INT64, shape: { dim: [{ dimParam: 'N' }] } } } },
        { name: 'output_probability', type: { sequenceType: { elemType: { mapType: { keyType: DT.INT64, valueType: { tensorType: { elemType: DT.FLOAT } } } } } } },
      ],
    },
  };
  const file = join(dir, 'zipmap.onnx');
  writeFileSync(file, encodeModel(model as never));
  const r = cli([file]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\n {2}x +float32 +\(shape not declared\)\n/);
  assert.match(r.stdout, /\n {2}output_probability +sequence<map<int64, float32>>\n/);
  const json = cli([file, '--json']);
  assert.equal(json.status, 0, json.stderr);
  const d = JSON.parse(json.stdout);
  assert.deepEqual(d.inputs, [{ name: 'x', type: 'float32', shape: [], shapeDeclared: false }]);
  assert.deepEqual(d.outputs, [{ name: 'label', type: 'int64', shape: ['N'], classes: ['0', '1'] }, { name: 'output_probability', type: 'sequence', shape: [], valueType: 'sequence<map<int64, float32>>' }]);
});

test('inspect: a file that is not ONNX exits 1 naming it; no file is a usage error', () => {
  const bad = join(dir, 'bad.onnx');
  writeFileSync(bad, 'this is not a protobuf at all, just text\n');
  const r = cli([bad]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /bad\.onnx is not a valid ONNX model/);
  assert.equal(cli([join(dir, 'missing.onnx')]).status, 1);
  assert.equal(cli([]).status, 2);
});

test('inspect: a FIFO or a device is refused unread, a file past 2 GiB by its size (the old code waited on the FIFO and read /dev/zero until memory ran out)', () => {
  const fifo = join(dir, 'fifo.onnx');
  execFileSync('mkfifo', [fifo]);
  const sparse = join(dir, 'huge.onnx');
  writeFileSync(sparse, '');
  truncateSync(sparse, 3 * 2 ** 30); // sparse: no disk used
  for (const [file, message] of [[fifo, `${fifo} is not a regular file (a FIFO)`], ['/dev/zero', '/dev/zero is not a regular file (a character device)'], [sparse, `${sparse} is too large (3 GiB; a model file may be up to 2 GiB)`]] as const) {
    const r = spawnSync(process.execPath, [CLI, 'inspect', file], { encoding: 'utf8', timeout: 15_000 });
    assert.equal(r.signal, null, `inspect ${file} did not return`);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `modelserve inspect: ${message}\n`);
  }
});
