// What the core remembers of a version's files (the signature warnings it said, a file onnxruntime refused) goes
// with the version: kept, both maps grew by an entry per version ever deployed (~200 bytes each), for a model given a
// new version folder per deploy. The real core and onnxruntime; the watcher's passes run when the test calls reconcile().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InferenceCore } from '../../src/core/core.js';
import { InProcessRuntime } from '../../src/runtime/in-process.js';
import { tempDir } from '../helpers/paths.js';
import { BOOK_ROW, labelsOf, writeBookVersion } from './fixtures.js';

const MANUAL_WATCH = { pollMs: 3_600_000, debounceMs: 3_600_000, settleMs: 0 };
/** The core's private memory of files (read for this count only). */
const remembered = (core: InferenceCore) => {
  const own = core as unknown as { warned: Map<string, unknown>; refused: Map<string, string> };
  return { warned: own.warned.size, refused: own.refused.size };
};

test('deploys of new versions (latest: 1, each a good version after one onnxruntime refuses, the old folders deleted), then the model\'s removal, leave no memory of the versions gone', async () => {
  const repo = tempDir();
  writeBookVersion(repo, 'm', 1, 'optimize: false\n');
  const core = await InferenceCore.start({ repo, runtime: new InProcessRuntime() });
  try {
    core.watch(MANUAL_WATCH);
    for (let v = 2; v <= 9; v += 2) {
      // A version onnxruntime refuses (an IR version it does not know): v-1 keeps serving.
      const bad = writeBookVersion(repo, 'm', v, 'optimize: false\n');
      const bytes = readFileSync(join(bad, 'model.onnx'));
      bytes[1] = 99;
      writeFileSync(join(bad, 'model.onnx'), bytes);
      await core.reconcile({});
      assert.equal(core.status('m')[0]!.versions.find((x) => x.version === v)?.state, 'failed');
      assert.equal(remembered(core).refused, 1, 'the refused file is remembered while its version is there');
      // The fix, as the next version; the folders before it are deleted.
      writeBookVersion(repo, 'm', v + 1, 'optimize: false\n');
      for (let old = v - 1; old <= v; old++) rmSync(join(repo, 'm', String(old)), { recursive: true });
      await core.reconcile({});
      assert.deepEqual(await (await core.acquire('m')).predict([{ ...BOOK_ROW }]), [{ prediction: labelsOf(v + 1).rain }]);
      assert.deepEqual(core.status('m')[0]!.versions.map((x) => x.version), [v + 1]);
    }
    // Only what the one version served remembers (its warnings said, if any).
    assert.deepEqual(remembered(core), { warned: 1, refused: 0 });
    // A model removed (its folder deleted) leaves nothing either.
    rmSync(join(repo, 'm'), { recursive: true });
    await core.reconcile({});
    assert.equal(core.knows('m'), false);
    assert.deepEqual(remembered(core), { warned: 0, refused: 0 });
  } finally {
    await core.close();
  }
});
