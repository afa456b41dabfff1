// Serving trained XGBoost models (through init's config) and checking their answers against
// XGBoost's own predict, as the dart, gblinear and objectives tests do.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer } from '../../src/server.js';
import { initModelFolder } from '../../src/init/init.js';
import { xgboostInitOptions } from '../../src/xgboost/load.js';
import { call } from '../helpers/http.js';

export type Rows = Array<Array<number | null>>;
export type Answers = Array<Record<string, unknown>>;

/**
 * Serves `<root>/<name>.json` for each name of `expect` and checks its answers to `rowsOf(name)` (a
 * null cell: the field left out, a missing value) equal `expect[name]` within 1e-5 (relative past 1):
 * a classifier's probabilities, else its one output. Resolves with each model's answers.
 */
export async function answersMatchXgboost(root: string, expect: Record<string, number[][]>, rowsOf: (name: string) => Rows): Promise<Record<string, Answers>> {
  const names = Object.keys(expect);
  for (const name of names) {
    const model = join(root, `${name}.json`);
    initModelFolder({ model, out: join(root, 'models', name), ...xgboostInitOptions(model) });
  }
  const answered: Record<string, Answers> = {};
  const server = await startServer({ repo: join(root, 'models'), port: 0, workers: 1, grpcPort: 0 });
  try {
    for (const name of names) {
      const body = rowsOf(name).map((row) => Object.fromEntries(row.flatMap((v, i) => (v === null ? [] : [[`x${i}`, v]]))));
      const res = await call(`${server.url}/models/${name}/predict`, { body });
      assert.equal(res.status, 200, `${name}: ${res.text}`);
      const answers = res.body as Answers;
      const got = answers.flatMap((a) => (a.probabilities ?? [Object.values(a)[0]]) as number[]);
      const want = expect[name]!.flat();
      assert.equal(got.length, want.length, name);
      const diff = Math.max(...got.map((v, i) => Math.abs(v - want[i]!) / Math.max(1, Math.abs(want[i]!))));
      assert.ok(diff <= 1e-5, `${name}: largest difference ${diff}`);
      answered[name] = answers;
    }
  } finally {
    await server.shutdown();
  }
  return answered;
}
