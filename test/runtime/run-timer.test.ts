// A run's time, as the run-cost estimate is fed it, is onnxruntime's run: not the rest of the event
// loop's turn before onnxruntime-node's deferred run starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessRuntime } from '../../src/runtime/in-process.js';
import { startRunTimer } from '../../src/runtime/session.js';
import { svcRows, svcSource, svcTensor } from './fixtures.js';

test('InProcessRuntime times a run from when onnxruntime starts it, not from the call: the I/O the event loop handles first is not the run', async () => {
  // The call came before every other callback of that turn (on a busy main thread, other requests being parsed), and
  // all of it was counted: the estimate rose to the load-time fit and cheap batches went to the workers.
  let clock = 0;
  const timed: Array<[number, number]> = [];
  const rt = new InProcessRuntime({ intraOpThreads: 1, interOpThreads: 1, warmUp: false, now: () => clock, onRunTimed: (_model, rows, ms) => timed.push([rows, ms]) });
  try {
    await rt.load([svcSource()]);
    const running = rt.run('svc', { float_input: svcTensor(svcRows(3)) });
    clock = 1000; // the rest of this turn, before onnxruntime's deferred run starts
    await running;
    // The clock did not move during the run itself.
    assert.deepEqual(timed, [[3, 0]]);
  } finally {
    await rt.close();
  }
});

test('startRunTimer: the call\'s time stands when no deferred run came (the marker has not run yet)', () => {
  let clock = 5;
  const elapsed = startRunTimer(() => clock);
  clock = 8;
  assert.equal(elapsed(), 3);
});
