// What a model load allocates must go when the model is unloaded: under --max-loaded-models a
// server loads and evicts models thousands of times, and whatever a load leaves behind grows
// the heap for good. Checked by collection (a forced GC), not by sizes or timings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Ajv } from 'ajv';
import { InferenceCore } from '../../src/core/core.js';
import { InProcessRuntime } from '../../src/runtime/in-process.js';
import { tempDir } from '../helpers/paths.js';
import { BOOK_ROW, labelsOf, writeBookVersion } from './fixtures.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Collects what is unreachable; WeakRefs are cleared only once the current job has ended. */
async function collect(): Promise<void> {
  for (let i = 0; i < 2; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  }
}

test('--max-loaded-models 1: the row validator compiled for a model\'s load is garbage once the model is evicted (one Ajv shared by every load kept each one: the heap grew ~15 KB a load/evict cycle)', async () => {
  // Ajv's compiled functions, as they come out of compile(): watched, not changed.
  const compiled: Array<WeakRef<object>> = [];
  const compile = Ajv.prototype.compile;
  Ajv.prototype.compile = function (this: Ajv, ...args: Parameters<Ajv['compile']>) {
    const validate = compile.apply(this, args);
    compiled.push(new WeakRef(validate));
    return validate;
  } as Ajv['compile'];
  const repo = tempDir();
  for (const name of ['a', 'b']) writeBookVersion(repo, name, 1, 'optimize: false\n');
  const core = await InferenceCore.start({ repo, runtime: new InProcessRuntime(), maxLoadedModels: 1 });
  try {
    compiled.length = 0; // a's load at start
    assert.deepEqual(await (await core.acquire('b')).predict([{ ...BOOK_ROW }]), [{ prediction: labelsOf(1).rain }]); // evicts a
    const bsValidator = compiled.splice(0);
    assert.ok(bsValidator.length > 0, 'b\'s load compiled its row validator');
    assert.deepEqual(await (await core.acquire('a')).predict([{ ...BOOK_ROW }]), [{ prediction: labelsOf(1).rain }]); // evicts b
    await core.drain();
    await collect();
    assert.deepEqual(bsValidator.map((ref) => ref.deref() === undefined), bsValidator.map(() => true), 'b\'s validator is still held after b was evicted');
  } finally {
    Ajv.prototype.compile = compile;
    await core.close();
  }
});
