// --max-run-rows: a batch larger than the limit runs as consecutive slices whose outputs are joined
// back. The answers must equal one whole run's, on the real example models, and no run may exceed
// the limit (counted on a real in-process runtime).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InferenceCore } from '../../src/core/core.js';
import { joinSlices, sliceRows } from '../../src/core/tensor-batch.js';
import { InProcessRuntime } from '../../src/runtime/in-process.js';
import type { NamedTensors } from '../../src/runtime/types.js';
import { EXAMPLES } from '../helpers/paths.js';

/** The real in-process runtime, recording the rows of every run it is given. */
class CountingRuntime extends InProcessRuntime {
  readonly runRows: number[] = [];
  override run(model: string, feeds: NamedTensors, outputNames?: string[]): Promise<NamedTensors> {
    const first = Object.values(feeds)[0];
    this.runRows.push(first?.dims[0] ?? 0);
    return super.run(model, feeds, outputNames);
  }
}

describe('slicing a batch by rows', () => {
  test('sliceRows gives views of rows [from, to) of every feed; joinSlices joins them back, keeping a constant output whole', () => {
    const feeds: NamedTensors = {
      x: { type: 'float32', dims: [5, 2], data: Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]) },
      s: { type: 'string', dims: [5, 1], data: ['a', 'b', 'c', 'd', 'e'] },
    };
    const a = sliceRows(feeds, 5, 0, 2);
    const b = sliceRows(feeds, 5, 2, 5);
    assert.deepEqual(a.x!.dims, [2, 2]);
    assert.deepEqual([...(a.x!.data as Float32Array)], [0, 1, 2, 3]);
    assert.equal((b.x!.data as Float32Array).buffer, (feeds.x!.data as Float32Array).buffer, 'a view, not a copy');
    assert.deepEqual(b.s, { type: 'string', dims: [3, 1], data: ['c', 'd', 'e'] });
    const constant = { type: 'int64' as const, dims: [1], data: BigInt64Array.from([7n]) };
    const joined = joinSlices([{ outputs: { ...a, k: constant }, rows: 2 }, { outputs: { ...b, k: constant }, rows: 3 }], 5);
    assert.deepEqual(joined.x, feeds.x);
    assert.deepEqual(joined.s, feeds.s);
    assert.equal(joined.k, constant);
  });
});

describe('--max-run-rows on the example models (real sessions)', () => {
  for (const model of ['weather', 'loan', 'rain-xgboost']) {
    test(`${model}: 700 rows with runs of at most 64 rows answer exactly as one 700-row run`, async () => {
      const samples = JSON.parse(readFileSync(join(EXAMPLES, model, 'samples', 'valid.json'), 'utf8')) as Array<Record<string, unknown>>;
      const rows = Array.from({ length: 700 }, (_, i) => samples[i % samples.length]!);
      const answers: string[] = [];
      for (const maxRunRows of [0, 64]) {
        const runtime = new CountingRuntime({ intraOpThreads: 1, interOpThreads: 1 });
        const core = new InferenceCore({ repo: EXAMPLES, runtime, maxRunRows });
        await core.start();
        try {
          const version = await core.acquire(model);
          answers.push(JSON.stringify(await version.predict(rows)));
          const big = runtime.runRows.filter((n) => n > 1);
          if (maxRunRows === 0) assert.deepEqual(big, [700]);
          else {
            assert.ok(big.every((n) => n <= 64), `runs: ${big.join(', ')}`);
            assert.equal(big.reduce((a, b) => a + b, 0), 700);
          }
        } finally {
          await core.close();
        }
      }
      assert.equal(answers[1], answers[0]);
    });
  }
});
