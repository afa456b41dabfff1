// Two things a model file says about its answers beyond the trees: the scikit-learn estimator's
// `missing` value (XGBClassifier(missing=-999): a -999 in a row takes each split's default direction,
// as NaN does) and XGBoost 3's per-class base_score vector. Served (through init's config) as XGBoost
// predicts, within 1e-5: trained here by Debian's python3-xgboost 1.7.4; the vector is written into
// a 1.7.4 model as XGBoost 3 saves it ("[-7E-1,2E-1,1.1E0]") and checked against the same trees with
// that vector as base_margin.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from '../../src/server.js';
import { initModelFolder } from '../../src/init/init.js';
import { convertXgboostFile, xgboostInitOptions } from '../../src/xgboost/load.js';
import { call } from '../helpers/http.js';
import { tempDir } from '../helpers/paths.js';

const root = tempDir('modelserve-xgboost-missing-');
after(() => rmSync(root, { recursive: true, force: true }));

const VECTOR = '[-7E-1,2E-1,1.1E0]';
const TRAIN = `
import json, os, sys
import numpy as np, xgboost as xgb
out = sys.argv[1]
rng = np.random.default_rng(1)
n = 400
X = rng.normal(size=(n, 4)).astype(np.float32)
# Column 1 is -999 in many rows, more often for the positive class, so splits on it send missing
# values right, where -999 as a number would go left.
yb = (X[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(int)
hole = rng.random(n) < np.where(yb == 1, 0.6, 0.1)
ym = np.where(hole, 2, np.digitize(X[:, 0], [0.0]))
X[hole, 1] = -999
X[rng.random(n) < 0.1, 2] = -999
yr = X[:, 0] + np.where(hole, 3.0, X[:, 1])
T = X[300:340]
expect = {}
def sk(name, model, y):
    model.fit(X[:300], y[:300])
    model.save_model(os.path.join(out, name + '.json'))
    p = model.predict_proba(T) if hasattr(model, 'predict_proba') else model.predict(T)
    expect[name] = np.asarray(p).reshape(len(T), -1).tolist()
kw = dict(n_estimators=10, max_depth=3, learning_rate=0.5, missing=-999)
sk('binary', xgb.XGBClassifier(**kw), yb)
sk('multi', xgb.XGBClassifier(**kw), ym)
sk('regression', xgb.XGBRegressor(**kw), yr)
# A Booster trained on DMatrix(missing=-999) saves no trace of it: its file answers as
# Booster.predict on a DMatrix without missing= (NaN only).
b = xgb.train({'objective': 'binary:logistic', 'max_depth': 3, 'eta': 0.5}, xgb.DMatrix(X[:300], label=yb[:300], missing=-999), 10)
b.save_model(os.path.join(out, 'booster.json'))
expect['booster'] = [[1 - v, v] for v in b.predict(xgb.DMatrix(T)).tolist()]
vec = json.loads(sys.argv[2])
j = json.load(open(os.path.join(out, 'multi.json')))
j['learner']['learner_model_param']['base_score'] = sys.argv[3]
json.dump(j, open(os.path.join(out, 'vector.json'), 'w'))
j['learner']['learner_model_param']['base_score'] = '[1E-1,2E-1]'
json.dump(j, open(os.path.join(out, 'short.json'), 'w'))
m = xgb.Booster()
m.load_model(os.path.join(out, 'multi.json'))
d = xgb.DMatrix(T, missing=-999, base_margin=np.tile(np.asarray(vec, np.float32), (len(T), 1)))
expect['vector'] = m.predict(d).reshape(len(T), -1).tolist()
json.dump({'X': T.tolist(), 'expect': expect}, open(os.path.join(out, 'expect.json'), 'w'))
`;
execFileSync('/usr/bin/python3', ['-c', TRAIN, root, '[-0.7, 0.2, 1.1]', VECTOR], { stdio: 'pipe' });
const { X, expect } = JSON.parse(readFileSync(join(root, 'expect.json'), 'utf8')) as { X: number[][]; expect: Record<string, number[][]> };

async function served(names: string[]): Promise<Record<string, number[]>> {
  const server = await startServer({ repo: join(root, 'models'), port: 0, workers: 1, grpcPort: 0 });
  try {
    const got: Record<string, number[]> = {};
    for (const name of names) {
      const res = await call(`${server.url}/models/${name}/predict`, { body: X.map((row) => Object.fromEntries(row.map((v, i) => [`x${i}`, v]))) });
      assert.equal(res.status, 200, res.text);
      got[name] = (res.body as Array<{ probabilities?: number[]; variable?: number }>).flatMap((a) => a.probabilities ?? [a.variable!]);
    }
    return got;
  } finally {
    await server.shutdown();
  }
}

function assertClose(name: string, got: number[], want: number[]): void {
  assert.equal(got.length, want.length, name);
  const diff = Math.max(...got.map((v, i) => Math.abs(v - want[i]!)));
  assert.ok(diff <= 1e-5, `${name}: largest difference ${diff}`);
}

test("an estimator's missing=-999 is served as a missing value (as predict/predict_proba), for binary, multiclass and regression; a Booster records none; a per-class base_score vector is served as XGBoost 3 reads it", async () => {
  assert.ok(X.filter((row) => row.includes(-999)).length >= 10, 'rows holding -999');
  const names = ['binary', 'multi', 'regression', 'booster', 'vector'];
  for (const name of names) {
    const model = join(root, `${name}.json`);
    const { configFile } = initModelFolder({ model, out: join(root, 'models', name), ...xgboostInitOptions(model) });
    const note = '# missing: a value of -999 is a missing value';
    if (name === 'booster') assert.doesNotMatch(readFileSync(configFile, 'utf8'), /# missing:/);
    else assert.ok(readFileSync(configFile, 'utf8').includes(note), `${name}: ${note}`);
  }
  const got = await served(names);
  for (const name of names) assertClose(name, got[name]!, expect[name]!.flat());
});

test('a base_score vector whose length is not the number of classes is refused on one line naming the file', () => {
  const file = join(root, 'short.json');
  assert.throws(() => convertXgboostFile(file), (err: Error) => {
    assert.equal(err.message, `${file}: base_score has 2 values for 3 classes: [1E-1,2E-1]`);
    return true;
  });
});
