// A model trained with early stopping keeps its later rounds in the file: XGBoost's scikit-learn
// estimators predict with the rounds up to best_iteration, Booster.predict with every tree. Served
// (through init's config) as each predicts, within 1e-5: trained here by Debian's python3-xgboost.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from '../../src/server.js';
import { initModelFolder } from '../../src/init/init.js';
import { xgboostInitOptions } from '../../src/xgboost/load.js';
import { call } from '../helpers/http.js';
import { tempDir } from '../helpers/paths.js';

const root = tempDir('modelserve-xgboost-es-');
after(() => rmSync(root, { recursive: true, force: true }));

const TRAIN = `
import json, os, sys
import numpy as np, xgboost as xgb
out = sys.argv[1]
rng = np.random.default_rng(0)
X = rng.normal(size=(400, 4)).astype(np.float32)
yb = (X[:, 0] + 0.5 * rng.normal(size=400) > 0).astype(int)
ym = np.digitize(X[:, 0] + 0.5 * rng.normal(size=400), [-0.5, 0.5])
expect = {}
def sk(name, model, y):
    model.fit(X[:300], y[:300], eval_set=[(X[300:], y[300:])], verbose=False)
    model.save_model(os.path.join(out, name + '.json'))
    p = model.predict_proba(X[:20]) if hasattr(model, 'predict_proba') else model.predict(X[:20])
    expect[name] = {'best': model.best_iteration, 'rounds': model.get_booster().num_boosted_rounds(), 'p': np.asarray(p).reshape(20, -1).tolist()}
sk('binary', xgb.XGBClassifier(n_estimators=200, max_depth=3, learning_rate=0.5, early_stopping_rounds=3), yb)
sk('multi', xgb.XGBClassifier(n_estimators=200, max_depth=3, learning_rate=0.5, early_stopping_rounds=3), ym)
# Booster.train with early stopping: the Booster's own predict uses every tree.
d = xgb.DMatrix(X[:300], label=yb[:300])
b = xgb.train({'objective': 'binary:logistic', 'max_depth': 3, 'eta': 0.5}, d, 200, evals=[(xgb.DMatrix(X[300:], label=yb[300:]), 'v')], early_stopping_rounds=3, verbose_eval=False)
b.save_model(os.path.join(out, 'booster.json'))
p = b.predict(xgb.DMatrix(X[:20]))
expect['booster'] = {'best': b.best_iteration, 'rounds': b.num_boosted_rounds(), 'p': [[1 - v, v] for v in p.tolist()]}
json.dump({'X': X[:20].tolist(), 'expect': expect}, open(os.path.join(out, 'expect.json'), 'w'))
`;
execFileSync('/usr/bin/python3', ['-c', TRAIN, root], { stdio: 'pipe' });
const { X, expect } = JSON.parse(readFileSync(join(root, 'expect.json'), 'utf8')) as { X: number[][]; expect: Record<string, { best: number; rounds: number; p: number[][] }> };

test('an XGBClassifier trained with early stopping answers as its predict_proba (the rounds to best_iteration); a Booster as Booster.predict (every round)', async () => {
  for (const name of ['binary', 'multi', 'booster']) {
    const e = expect[name]!;
    assert.ok(e.best + 1 < e.rounds, `${name}: early stopping kept ${e.rounds} rounds, best ${e.best}`);
    const model = join(root, `${name}.json`);
    const { configFile } = initModelFolder({ model, out: join(root, 'models', name), ...xgboostInitOptions(model) });
    const note = `# early stopping: the first ${e.best + 1} of ${e.rounds} boosting rounds are served`;
    if (name === 'booster') assert.doesNotMatch(readFileSync(configFile, 'utf8'), /early stopping/);
    else assert.ok(readFileSync(configFile, 'utf8').includes(note), note);
  }
  const server = await startServer({ repo: join(root, 'models'), port: 0, workers: 1, grpcPort: 0 });
  try {
    for (const name of ['binary', 'multi', 'booster']) {
      const res = await call(`${server.url}/models/${name}/predict`, { body: X.map((row) => Object.fromEntries(row.map((v, i) => [`x${i}`, v]))) });
      assert.equal(res.status, 200, res.text);
      const got = (res.body as Array<{ probabilities: number[] }>).flatMap((a) => a.probabilities);
      const want = expect[name]!.p.flat();
      assert.equal(got.length, want.length);
      const diff = Math.max(...got.map((v, i) => Math.abs(v - want[i]!)));
      assert.ok(diff <= 1e-5, `${name}: largest difference ${diff}`);
    }
  } finally {
    await server.shutdown();
  }
});
