// The shared onnxruntime helpers: explicit session options, warm-up, feed checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ModelServeError } from '../../src/errors.js';
import { resolve } from 'node:path';
import { createSession, runSession, sessionOptions, signatureOf, toOrtFeeds, warmUp } from '../../src/runtime/session.js';
import { REPO } from '../helpers/paths.js';
import { SVC_PATH, TYPES_PATH } from './fixtures.js';

test('session options are always explicit', () => {
  assert.deepEqual(sessionOptions({ intraOpThreads: 2, interOpThreads: 1 }), {
    intraOpNumThreads: 2,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 4,
  });
  assert.equal(sessionOptions({ intraOpThreads: 0, interOpThreads: 0.5 }).intraOpNumThreads, 1, 'at least 1 thread');
});

test('warm-up runs a model on synthesised zeros / empty strings', async () => {
  const svc = await createSession(SVC_PATH, new Uint8Array(readFileSync(SVC_PATH)), { intraOpThreads: 1, interOpThreads: 1 });
  const types = await createSession(TYPES_PATH, new Uint8Array(readFileSync(TYPES_PATH)), { intraOpThreads: 1, interOpThreads: 1 });
  try {
    assert.equal(await warmUp(svc), true);
    assert.equal(await warmUp(types), true, 'string and bool inputs are synthesised too');
    assert.deepEqual(signatureOf(types).inputs[0], { name: 's', type: 'string', shape: ['N'] });
  } finally {
    await svc.release();
    await types.release();
  }
});

test('feeds whose data length does not match their dims are refused before onnxruntime', () => {
  assert.throws(
    () => toOrtFeeds({ x: { type: 'float32', dims: [3, 7], data: new Float32Array(20) } }),
    (err: unknown) => err instanceof ModelServeError && err.code === 'MS_ERR_INFERENCE' && /\[3, 7\] need 21 values, got 20/.test(err.message),
  );
  assert.throws(() => toOrtFeeds({ x: { type: 'float16' as never, dims: [1], data: new Float32Array(1) } }), /unsupported element type 'float16'/);
});

test("onnxruntime's messages come without its build's source paths and C++ signatures", async () => {
  const GATHER = resolve(REPO, 'test/fixtures/gather/model.onnx');
  const bytes = new Uint8Array(readFileSync(GATHER));
  assert.deepEqual([...bytes.subarray(0, 2)], [0x08, 0x08], 'ModelProto starts with ir_version 8');
  const future = Uint8Array.from(bytes);
  future[1] = 99;
  await assert.rejects(createSession(GATHER, future, { intraOpThreads: 1, interOpThreads: 1 }), (err: Error) => {
    assert.match(err.message, /could not load the model: .*Unsupported model IR version: 99, max supported IR version: \d+$/);
    assert.doesNotMatch(err.message, /onnxruntime_src|onnxruntime::|\.cc:\d/);
    return true;
  });
  // A run that fails inside a kernel (an index past the 3-element table).
  const session = await createSession(GATHER, bytes, { intraOpThreads: 1, interOpThreads: 1 });
  try {
    await assert.rejects(runSession('gather', session, { index: { type: 'int64', dims: [1, 1], data: BigInt64Array.from([7n]) } }), (err: Error) => {
      assert.ok(err instanceof ModelServeError && err.code === 'MS_ERR_INFERENCE');
      assert.match(err.message, /^model 'gather': .*out of/i);
      assert.doesNotMatch(err.message, /onnxruntime_src|onnxruntime::|\.(cc|h):\d/);
      return true;
    });
  } finally {
    await session.release();
  }
});
