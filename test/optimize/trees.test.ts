// The tensorised tree-ensemble forms measured by bench/optimize.ts (not applied by the pass)
// must compute the same P(class 1) as onnxruntime's TreeEnsembleClassifier on the loan example.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { DT, decodeModel, encodeModel } from '../../src/optimize/proto.js';
import { treeEnsembleGemmModel, treeEnsembleOnlyModel, treeEnsembleTraversalModel } from '../../src/optimize/trees.js';
import { REPO, session } from './helpers.js';

const LOAN = resolve(REPO, 'examples/loan');

test('GEMM and perfect-tree-traversal forms match the loan TreeEnsembleClassifier', { skip: !existsSync(resolve(LOAN, 'model.onnx')) && 'examples/loan/model.onnx not present' }, async () => {
  const bytes = new Uint8Array(readFileSync(resolve(LOAN, 'model.onnx')));
  // the ensemble's input: run the model's own preprocessing on the test set
  const model = decodeModel(bytes);
  const g = model.graph!;
  const featName = g.node!.find((n) => n.opType === 'TreeEnsembleClassifier')!.input![0];
  g.output!.push({ name: featName, type: { tensorType: { elemType: DT.FLOAT } } });
  const testset = JSON.parse(readFileSync(resolve(LOAN, 'testset.json'), 'utf8')) as { rows: Array<Record<string, unknown>> };
  const feeds: Record<string, ort.Tensor> = {};
  for (const inp of g.input!) {
    const vals = testset.rows.map((r) => r[inp.name!]);
    const t = inp.type?.tensorType?.elemType;
    feeds[inp.name!] =
      t === DT.STRING
        ? new ort.Tensor('string', vals.map(String), [vals.length, 1])
        : t === DT.INT64
          ? new ort.Tensor('int64', BigInt64Array.from(vals.map((v) => BigInt(Math.round(Number(v))))), [vals.length, 1])
          : new ort.Tensor('float32', Float32Array.from(vals.map(Number)), [vals.length, 1]);
  }
  const features = (await (await session(encodeModel(model))).run(feeds))[featName];
  const [N, F] = features.dims as number[];
  const only = treeEnsembleOnlyModel(bytes, F);
  const ref = await (await session(only.bytes)).run({ features });
  for (const [name, m] of [['GEMM', treeEnsembleGemmModel(only.node, F)], ['traversal', treeEnsembleTraversalModel(only.node, F)]] as const) {
    const out = await (await session(m)).run({ features });
    let worst = 0;
    for (let i = 0; i < N; i++) {
      const p = 1 / (1 + Math.exp(-(out.score.data as Float32Array)[i]));
      worst = Math.max(worst, Math.abs(p - (ref.probabilities.data as Float32Array)[i * 2 + 1]));
    }
    assert.ok(worst < 1e-5, `${name}: max |ΔP| ${worst}`);
  }
});
