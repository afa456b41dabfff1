// XGBoost's linear booster (gblinear): the margin is base_score + a bias + the sum of weight * value
// over the values present (a missing value adds nothing), then the objective's transform. Served
// (through init's config) as XGBoost predicts, within 1e-5, on rows with missing values (NaN, and an
// estimator's missing=-999): trained here by Debian's python3-xgboost.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { convertXgboostFile } from '../../src/xgboost/load.js';
import { tempDir } from '../helpers/paths.js';
import { answersMatchXgboost } from './parity.js';

const root = tempDir('modelserve-xgboost-gblinear-');
after(() => rmSync(root, { recursive: true, force: true }));

const TRAIN = `
import json, os, sys
import numpy as np, xgboost as xgb
out = sys.argv[1]
rng = np.random.default_rng(2)
X = rng.normal(size=(300, 4)).astype(np.float32)
X[rng.random(X.shape) < 0.1] = np.nan
x0 = np.nan_to_num(X[:, 0])
y = 2 * x0 + rng.normal(size=300)
yb = (y > 0).astype(int)
ym = np.digitize(y, [-1, 1])
T = rng.normal(size=(40, 4)).astype(np.float32) * 2
T[rng.random(T.shape) < 0.2] = np.nan
T[0] = np.nan
rows = {}
expect = {}
def booster(name, params, label, proba=False):
    b = xgb.train({'booster': 'gblinear', 'nthread': 1, **params}, xgb.DMatrix(X, label=label), 10)
    b.save_model(os.path.join(out, name + '.json'))
    p = b.predict(xgb.DMatrix(T))
    expect[name] = [[1 - v, v] for v in p.tolist()] if proba else p.reshape(len(T), -1).tolist()
    rows[name] = [[None if np.isnan(v) else float(v) for v in r] for r in T]
booster('regression', {'objective': 'reg:squarederror', 'base_score': 3.0}, y)
booster('binary', {'objective': 'binary:logistic'}, yb, proba=True)
booster('multi', {'objective': 'multi:softprob', 'num_class': 3}, ym)
booster('poisson', {'objective': 'count:poisson'}, np.round(np.exp(x0 / 2)))
# The estimator with missing=-999, and early stopping (gblinear keeps its last weights, which predict uses).
m = xgb.XGBClassifier(booster='gblinear', n_estimators=100, learning_rate=0.5, missing=-999.0, early_stopping_rounds=2)
Xm, Tm = np.nan_to_num(X, nan=-999.0), np.nan_to_num(T, nan=-999.0)
m.fit(Xm[:200], yb[:200], eval_set=[(Xm[200:], yb[200:])], verbose=False)
m.save_model(os.path.join(out, 'estimator.json'))
expect['estimator'] = m.predict_proba(Tm).tolist()
rows['estimator'] = Tm.astype(float).tolist()
json.dump({'rows': rows, 'expect': expect}, open(os.path.join(out, 'expect.json'), 'w'))
`;
execFileSync('/usr/bin/python3', ['-c', TRAIN, root], { stdio: 'pipe' });
const { rows, expect } = JSON.parse(readFileSync(join(root, 'expect.json'), 'utf8')) as { rows: Record<string, Array<Array<number | null>>>; expect: Record<string, number[][]> };

test('gblinear models (regression with base_score, binary, multi-class, poisson, an estimator with missing=-999) answer as XGBoost predicts, rows with missing values included; they were refused (only gbtree)', async () => {
  for (const name of Object.keys(expect)) assert.ok(rows[name]!.some((row) => row.some((v) => v === null || v === -999)), name);
  await answersMatchXgboost(root, expect, (name) => rows[name]!);
});

test('a gblinear model whose weights are not (features + 1) x outputs numbers is refused naming the file and the weights', () => {
  const json = JSON.parse(readFileSync(join(root, 'multi.json'), 'utf8'));
  const weights = json.learner.gradient_booster.model.weights as number[];
  const cases: Array<[unknown, RegExp]> = [
    [weights.slice(1), /the gblinear booster has 14 weights where 4 features and 3 classes need 15/],
    [undefined, /the gblinear booster's weights are missing, not a list/],
    [[...weights.slice(1), null], /the gblinear booster's weight 14 is null, not a number/],
  ];
  for (const [w, message] of cases) {
    const file = join(root, 'bad-linear.json');
    writeFileSync(file, JSON.stringify({ ...json, learner: { ...json.learner, gradient_booster: { ...json.learner.gradient_booster, model: { ...json.learner.gradient_booster.model, weights: w } } } }));
    assert.throws(() => convertXgboostFile(file), (err: Error) => err.message.startsWith(`${file}: `) && message.test(err.message));
  }
});
