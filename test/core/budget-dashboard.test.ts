// --max-loaded-models evicts the least recently requested model: the dashboard looking at a model (its
// card's config, taken on the version's first prediction and on each version-ready event) is no request,
// and must not decide which model goes. It used core.resolve(), which counts as a request; now peek().
// Real core, real sessions, the dashboard's real LiveStats; the records are the core's own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceCore } from '../../src/core/core.js';
import { InProcessRuntime } from '../../src/runtime/in-process.js';
import { LiveStats } from '../../src/dashboard/live-stats.js';
import type { PredictionRecord } from '../../src/core/prediction-tap.js';
import { tempDir } from '../helpers/paths.js';
import { BOOK_ROW, writeBookVersion } from './fixtures.js';

async function budgetOfTwo(): Promise<{ core: InferenceCore; loaded: () => string[] }> {
  const repo = tempDir();
  for (const name of ['a', 'b', 'c']) writeBookVersion(repo, name, 1, 'optimize: false\n');
  const core = await InferenceCore.start({ repo, runtime: new InProcessRuntime(), maxLoadedModels: 2 });
  const loaded = () => core.status().filter((m) => m.state === 'ready').map((m) => m.name).sort();
  return { core, loaded };
}

test('--max-loaded-models: a version-ready event the dashboard follows, and its snapshot, do not count as a request to the model (the least recently requested one is still evicted)', async () => {
  const { core, loaded } = await budgetOfTwo();
  const stats = new LiveStats(() => core, undefined, []);
  const stop = core.predictions.add(stats.observe);
  try {
    assert.deepEqual(loaded(), ['a', 'b']);
    await (await core.acquire('a')).predict([{ ...BOOK_ROW }]); // a has its card
    await core.acquire('b'); // b is now the most recently requested
    // The event a reload of a's version sends (the dashboard takes its card's config again), and a dashboard open.
    stats.versionReady('a', 1);
    await stats.snapshot();
    await core.acquire('c'); // the budget makes room: a, requested before b, goes
    assert.deepEqual(loaded(), ['b', 'c']);
  } finally {
    stop();
    stats.stop();
    await core.close();
  }
});

test('--max-loaded-models: the dashboard taking a version\'s first prediction (after another model\'s request came) does not count as a request to the model', async () => {
  const { core, loaded } = await budgetOfTwo();
  const stats = new LiveStats(() => core, undefined, []);
  const records: PredictionRecord[] = [];
  const stop = core.predictions.add((r) => records.push(r));
  try {
    // a's prediction is requested first; its record reaches the dashboard after b's request (as one that ran longer).
    await (await core.acquire('a')).predict([{ ...BOOK_ROW }]);
    await core.acquire('b');
    assert.equal(records.length, 1);
    stats.observe(records[0]!);
    await core.acquire('c');
    assert.deepEqual(loaded(), ['b', 'c']);
  } finally {
    stop();
    stats.stop();
    await core.close();
  }
});
