// The objectives whose prediction is the margin itself (rank:pairwise/ndcg/map, reg:squaredlogerror),
// its exponential (survival:cox, survival:aft: base_score is log'd to the margin) or its sign
// (binary:hinge: 1 where the margin is above 0), with the default and an explicit base_score. Served
// (through init's config) as XGBoost predicts, within 1e-5 (relative past 1), on rows with missing
// values: trained here by Debian's python3-xgboost.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { convertXgboostFile } from '../../src/xgboost/load.js';
import { EXAMPLES, tempDir } from '../helpers/paths.js';
import { answersMatchXgboost } from './parity.js';

const root = tempDir('modelserve-xgboost-objectives-');
after(() => rmSync(root, { recursive: true, force: true }));

const TRAIN = `
import json, os, sys
import numpy as np, xgboost as xgb
out = sys.argv[1]
rng = np.random.default_rng(4)
X = rng.normal(size=(300, 4)).astype(np.float32)
X[rng.random(X.shape) < 0.1] = np.nan
x0 = np.nan_to_num(X[:, 0])
yb = (x0 + 0.3 * rng.normal(size=300) > 0).astype(int)
ypos = np.exp(0.5 * x0) + 0.1
yrank = rng.integers(0, 4, size=300)
T = rng.normal(size=(40, 4)).astype(np.float32) * 2
T[rng.random(T.shape) < 0.15] = np.nan
expect = {}
def booster(name, params, d, proba=False):
    b = xgb.train({'max_depth': 3, 'seed': 0, 'nthread': 1, **params}, d, 8)
    b.save_model(os.path.join(out, name + '.json'))
    p = b.predict(xgb.DMatrix(T)).tolist()
    expect[name] = [[1 - v, v] for v in p] if proba else [[v] for v in p]
def dm(y, group=False):
    d = xgb.DMatrix(X, label=y)
    if group: d.set_group([30] * 10)
    return d
for o in ['rank:pairwise', 'rank:ndcg', 'rank:map']:
    booster(o.split(':')[1], {'objective': o}, dm(yrank, True))
booster('ndcg_base', {'objective': 'rank:ndcg', 'base_score': 0.7}, dm(yrank, True))
booster('squaredlog', {'objective': 'reg:squaredlogerror'}, dm(ypos))
booster('squaredlog_base', {'objective': 'reg:squaredlogerror', 'base_score': 2.0}, dm(ypos))
cox = np.where(rng.random(300) < 0.3, -1, 1) * (ypos + 0.5)
booster('cox', {'objective': 'survival:cox'}, dm(cox))
booster('cox_base', {'objective': 'survival:cox', 'base_score': 2.0}, dm(cox))
aft = xgb.DMatrix(X)
aft.set_float_info('label_lower_bound', ypos)
aft.set_float_info('label_upper_bound', np.where(rng.random(300) < 0.3, np.inf, ypos))
booster('aft', {'objective': 'survival:aft', 'aft_loss_distribution': 'logistic'}, aft)
booster('aft_base', {'objective': 'survival:aft', 'base_score': 1.5}, aft)
booster('hinge', {'objective': 'binary:hinge'}, dm(yb), proba=True)
booster('hinge_base', {'objective': 'binary:hinge', 'base_score': 0.2}, dm(yb), proba=True)
m = xgb.XGBClassifier(objective='binary:hinge', n_estimators=8, max_depth=3, n_jobs=1, random_state=0)
m.fit(X, yb)
m.save_model(os.path.join(out, 'hinge_estimator.json'))
expect['hinge_estimator'] = m.predict_proba(T).tolist()
r = xgb.XGBRanker(n_estimators=8, max_depth=3, n_jobs=1, random_state=0)
r.fit(X, yrank, group=[30] * 10)
r.save_model(os.path.join(out, 'ranker.json'))
expect['ranker'] = [[v] for v in r.predict(T).tolist()]
# Several targets (a two-column label): not served.
xgb.train({'objective': 'reg:squarederror', 'nthread': 1}, xgb.DMatrix(X, label=np.stack([ypos, -ypos], 1)), 2).save_model(os.path.join(out, 'targets.json'))
json.dump({'X': [[None if np.isnan(v) else float(v) for v in r] for r in T], 'expect': expect}, open(os.path.join(out, 'expect.json'), 'w'))
`;
execFileSync('/usr/bin/python3', ['-c', TRAIN, root], { stdio: 'pipe' });
const { X, expect } = JSON.parse(readFileSync(join(root, 'expect.json'), 'utf8')) as { X: Array<Array<number | null>>; expect: Record<string, number[][]> };

test('ranking, survival (cox, aft), squared log error and hinge models answer as XGBoost predicts, rows with missing values included; each was refused as an unsupported objective', async () => {
  assert.ok(X.some((row) => row.includes(null)));
  const answered = await answersMatchXgboost(root, expect, () => X);
  for (const name of Object.keys(expect).filter((n) => n.startsWith('hinge'))) {
    // Both classes answered, and the label is the class whose probability is 1.
    const answers = answered[name]!;
    assert.deepEqual(new Set(answers.map((a) => a.label)), new Set([0, 1]), name);
    for (const a of answers) assert.equal((a.probabilities as number[])[a.label as number], 1);
  }
});

test('a model with several targets is refused naming the file and num_target (it said only "models with several targets are not supported")', () => {
  const file = join(root, 'targets.json');
  assert.throws(() => convertXgboostFile(file), (err: Error) => err.message === `${file}: models with several targets are not supported: num_target is 2 (trained on a label with 2 columns, or reg:quantileerror with 2 quantile_alpha values); train one model per target`);
});

test("a model file whose num_feature or num_class is no sensible count, or whose feature_names does not name num_feature features, is refused naming the file and the key (num_feature \"1e300\" was said to differ from model.yaml's width; a wrong-length feature_names was dropped without a word)", () => {
  const rain = JSON.parse(readFileSync(join(EXAMPLES, 'rain-xgboost', 'model.json'), 'utf8'));
  type Learner = { learner_model_param: Record<string, string>; objective: { name: string }; feature_names: string[] };
  const edited = (name: string, edit: (learner: Learner) => void) => {
    const model = structuredClone(rain);
    edit(model.learner);
    const file = join(root, name);
    writeFileSync(file, JSON.stringify(model));
    return file;
  };
  const cases: Array<[string, (l: Learner) => void, string]> = [
    ['wide.json', (l) => { l.learner_model_param.num_feature = '1e300'; }, 'num_feature is 1e300, not a whole number from 1 to 2147483647'],
    ['half.json', (l) => { l.learner_model_param.num_feature = '3.5'; }, 'num_feature is 3.5, not a whole number from 1 to 2147483647'],
    ['classes.json', (l) => { l.objective.name = 'multi:softprob'; l.learner_model_param.num_class = '100000000'; }, `num_class is 100000000 but the model has ${rain.learner.gradient_booster.model.trees.length} trees: each boosting round grows one tree per class`],
    ['names.json', (l) => { l.feature_names = l.feature_names.slice(0, 3); }, 'feature_names has 3 names but num_feature is 7'],
  ];
  for (const [name, edit, message] of cases) {
    const file = edited(name, edit);
    assert.throws(() => convertXgboostFile(file), (err: Error) => err.message === `${file}: ${message}`, name);
  }
});
