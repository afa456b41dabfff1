import assert from 'node:assert/strict';
import { ModelServeError } from '../../src/errors.js';

/** Awaits `p`, which must reject with a ModelServeError of `code` (and a message matching `pattern`). */
export async function rejectsWith(p: Promise<unknown>, code: string, pattern?: RegExp): Promise<ModelServeError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ModelServeError, `expected a ModelServeError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (pattern !== undefined) assert.match(err.message, pattern);
    return err;
  }
  assert.fail(`expected a rejection with ${code}`);
}
