// XGBoost's dart booster: its trees are saved inside a gbtree with one weight per tree (weight_drop),
// and predict (outside training) sums every tree scaled by its weight. Served (through init's config)
// as XGBoost predicts, within 1e-5, on rows with missing values: trained here by Debian's python3-xgboost.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { convertXgboostFile } from '../../src/xgboost/load.js';
import { tempDir } from '../helpers/paths.js';
import { answersMatchXgboost } from './parity.js';

const root = tempDir('modelserve-xgboost-dart-');
after(() => rmSync(root, { recursive: true, force: true }));

const TRAIN = `
import json, os, sys
import numpy as np, xgboost as xgb
out = sys.argv[1]
rng = np.random.default_rng(5)
X = rng.normal(size=(400, 4)).astype(np.float32)
X[rng.random(X.shape) < 0.1] = np.nan
x0 = np.nan_to_num(X[:, 0])
yb = (x0 + 0.5 * rng.normal(size=400) > 0).astype(int)
ym = np.digitize(x0 + 0.3 * rng.normal(size=400), [-0.5, 0.5])
yr = 2 * x0 - np.nan_to_num(X[:, 1])
T = X[300:340]
expect = {}
dart = {'booster': 'dart', 'rate_drop': 0.4, 'max_depth': 3, 'seed': 0, 'nthread': 1}
def booster(name, params, y, proba):
    b = xgb.train({**dart, **params}, xgb.DMatrix(X[:300], label=y[:300]), 10)
    b.save_model(os.path.join(out, name + '.json'))
    p = b.predict(xgb.DMatrix(T))
    expect[name] = [[1 - v, v] for v in p.tolist()] if proba == 'binary' else p.reshape(len(T), -1).tolist()
booster('binary', {'objective': 'binary:logistic'}, yb, 'binary')
booster('multi', {'objective': 'multi:softprob', 'num_class': 3}, ym, 'multi')
booster('regression', {'objective': 'reg:squarederror'}, yr, 'value')
# The estimator, with early stopping: its predict_proba uses the rounds to best_iteration, each weighted.
m = xgb.XGBClassifier(booster='dart', rate_drop=0.4, n_estimators=60, max_depth=3, learning_rate=0.9, n_jobs=1, random_state=0, early_stopping_rounds=2)
m.fit(X[:300], yb[:300], eval_set=[(X[300:], yb[300:])], verbose=False)
assert m.best_iteration + 1 < m.get_booster().num_boosted_rounds()
m.save_model(os.path.join(out, 'estimator.json'))
expect['estimator'] = m.predict_proba(T).tolist()
json.dump({'X': [[None if np.isnan(v) else float(v) for v in r] for r in T], 'expect': expect}, open(os.path.join(out, 'expect.json'), 'w'))
`;
execFileSync('/usr/bin/python3', ['-c', TRAIN, root], { stdio: 'pipe' });
const { X, expect } = JSON.parse(readFileSync(join(root, 'expect.json'), 'utf8')) as { X: Array<Array<number | null>>; expect: Record<string, number[][]> };

test('dart models (binary, multi-class, regression, an estimator with early stopping) answer as XGBoost predicts, rows with missing values included; they were refused (only gbtree)', async () => {
  assert.ok(X.some((row) => row.includes(null)));
  await answersMatchXgboost(root, expect, () => X);
});

test('a dart model whose weight_drop is not one number per tree is refused naming the file and weight_drop', () => {
  const json = JSON.parse(readFileSync(join(root, 'binary.json'), 'utf8'));
  const cases: Array<[unknown, RegExp]> = [
    [json.learner.gradient_booster.weight_drop.slice(1), /weight_drop has 9 entries for 10 trees/],
    [undefined, /weight_drop is missing, not a list/],
    [[...json.learner.gradient_booster.weight_drop.slice(1), 'x'], /weight_drop 9 is "x", not a number/],
  ];
  for (const [weights, message] of cases) {
    const file = join(root, 'bad-dart.json');
    writeFileSync(file, JSON.stringify({ ...json, learner: { ...json.learner, gradient_booster: { ...json.learner.gradient_booster, weight_drop: weights } } }));
    assert.throws(() => convertXgboostFile(file), (err: Error) => err.message.startsWith(`${file}: `) && message.test(err.message));
  }
});
