// The signature read from an ONNX file's protobuf without a session (onnxSignature) is what an onnxruntime session
// reports (signatureOf), for every model of the examples, the test fixtures and the shared seed: the memory budget
// checks the models it leaves unloaded (and a load it would evict for) against their configs with it, so a
// difference would refuse a model that serves. A file it cannot tell about is undefined, never a guess.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { onnxSignature } from '../../src/core/model-bytes.js';
import { createSession, signatureOf } from '../../src/runtime/session.js';
import { EXAMPLES, REPO, SHARED } from '../helpers/paths.js';

function onnxFilesUnder(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const path = join(dir, e);
    const s = statSync(path, { throwIfNoEntry: false });
    return s?.isDirectory() ? onnxFilesUnder(path) : e.endsWith('.onnx') && s?.isFile() ? [path] : [];
  });
}

test('the signature read from the protobuf is the one an onnxruntime session reports, for every model at hand', async () => {
  const files = [...onnxFilesUnder(EXAMPLES), ...onnxFilesUnder(join(REPO, 'test', 'fixtures')), ...onnxFilesUnder(SHARED)];
  assert.ok(files.length > 5, files.join('\n'));
  let told = 0;
  for (const file of files) {
    const bytes = readFileSync(file);
    let session;
    try {
      session = await createSession(file, bytes, { intraOpThreads: 1, interOpThreads: 1 });
    } catch {
      continue; // a fixture onnxruntime refuses (a broken model on purpose)
    }
    try {
      const read = await onnxSignature(bytes.length, (position, into) => bytes.copy(into, 0, position, position + into.length));
      if (read === undefined) continue;
      told++;
      assert.deepEqual(read, signatureOf(session), file);
    } finally {
      await session.release();
    }
  }
  assert.ok(told > 5, `told ${told} of ${files.length}`);
});

test('a file cut short or no protobuf has no signature read from it', async () => {
  const bytes = readFileSync(join(SHARED, 'seed', 'svc.onnx'));
  for (const cut of [bytes.subarray(0, 4000), Buffer.from('version https://git-lfs.github.com/spec/v1\n'), Buffer.alloc(0)]) {
    assert.equal(await onnxSignature(cut.length, (position, into) => cut.copy(into, 0, position, position + into.length)), undefined);
  }
});
