// A version policy that selects none of a model's versions (`specific` naming only versions that
// are not on disk) left the model out without a word: not served, not listed, no error at start,
// in `modelserve check`, under --watch or from the repository API's load. It is a problem naming
// the config file, as Triton's "at least one version must be available under the version policy".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkRepository } from '../../src/check/repository.js';
import { InferenceCore } from '../../src/core/core.js';
import { ModelServeError, StartupError } from '../../src/errors.js';
import { InProcessRuntime } from '../../src/runtime/in-process.js';
import { tempDir } from '../helpers/paths.js';
import { BOOK_ROW, bookConfig, labelsOf, writeBookVersion } from './fixtures.js';

const NOTHING = /version_policy: specific: \[5\] selects none of the model's versions \(on disk: 1, 2\); the model would not be served/;

test('at start and in check: a policy that selects no version is a problem naming the config file', async () => {
  const repo = tempDir();
  writeBookVersion(repo, 'other', 1);
  writeBookVersion(repo, 'book', 1, 'version_policy: { specific: [5] }\n');
  const v2 = writeBookVersion(repo, 'book', 2, 'version_policy: { specific: [5] }\n');
  await assert.rejects(InferenceCore.start({ repo, runtime: new InProcessRuntime() }), (err: unknown) => {
    assert.ok(err instanceof StartupError);
    assert.match(err.message, NOTHING);
    assert.match(err.message, /book[\\/]2[\\/]model\.yaml: version_policy/, 'the newest version\'s config, where the policy is read');
    return true;
  });
  const report = await checkRepository(repo);
  assert.equal(report.ok, false);
  const problem = report.problems.find((p) => p.key === 'version_policy');
  assert.ok(problem, JSON.stringify(report.problems));
  assert.equal(problem.file, join(v2, 'model.yaml'));
  assert.match(`version_policy: ${problem.message}`, NOTHING);
});

test('under --watch and the repository API: a new model whose policy selects nothing is shown failed with the reason, and its load answers it', async () => {
  const repo = tempDir();
  writeBookVersion(repo, 'other', 1);
  const core = await InferenceCore.start({ repo, runtime: new InProcessRuntime() });
  try {
    core.watch({ pollMs: 3_600_000, debounceMs: 3_600_000, settleMs: 0 });
    writeBookVersion(repo, 'book', 1, 'version_policy: { specific: [5] }\n');
    writeBookVersion(repo, 'book', 2, 'version_policy: { specific: [5] }\n');
    await core.reconcile({});
    const [status] = core.status('book');
    assert.equal(status!.state, 'failed', JSON.stringify(status));
    assert.match(status!.versions.map((v) => v.reason).join('\n'), NOTHING);
    await assert.rejects(core.loadModel('book'), (err: unknown) => {
      assert.ok(err instanceof ModelServeError);
      assert.equal(err.code, 'MS_ERR_MODEL_LOAD_FAILED');
      assert.match(err.message, NOTHING);
      return true;
    });
  } finally {
    await core.close();
  }
});

test('under --watch: a served model whose policy is edited to select nothing keeps serving, with the problem shown', async () => {
  const repo = tempDir();
  writeBookVersion(repo, 'book', 1);
  const v2 = writeBookVersion(repo, 'book', 2);
  const core = await InferenceCore.start({ repo, runtime: new InProcessRuntime() });
  try {
    core.watch({ pollMs: 3_600_000, debounceMs: 3_600_000, settleMs: 0 });
    writeFileSync(join(v2, 'model.yaml'), bookConfig('book', 2, 'version_policy: { specific: [5] }\n'));
    await core.reconcile({});
    const [status] = core.status('book');
    assert.equal(status!.serving, 2, JSON.stringify(status));
    assert.match(status!.versions.map((v) => v.reason ?? '').join('\n'), NOTHING);
    const [prediction] = await (await core.acquire('book')).predict([{ ...BOOK_ROW }]);
    assert.deepEqual(prediction, { prediction: labelsOf(2).rain });
  } finally {
    await core.close();
  }
});

test('under --watch: the version a policy names, still being copied in, is no problem', async () => {
  const repo = tempDir();
  writeBookVersion(repo, 'book', 1);
  const core = await InferenceCore.start({ repo, runtime: new InProcessRuntime() });
  try {
    core.watch({ pollMs: 3_600_000, debounceMs: 3_600_000, settleMs: 1000 });
    // Version 1 has settled (unchanged for a second: a change time cannot be set back); version 2,
    // whose config (the newest) names only itself, is arriving.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    writeBookVersion(repo, 'book', 2, 'version_policy: { specific: [2] }\n');
    await core.reconcile({});
    const [status] = core.status('book');
    assert.ok(status!.serving !== undefined, JSON.stringify(status));
    assert.deepEqual(status!.versions.filter((v) => v.state === 'failed'), [], 'no problem while version 2 arrives');
  } finally {
    await core.close();
  }
});
