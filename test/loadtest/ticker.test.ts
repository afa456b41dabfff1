// The run's once-a-second tick, on node:test's mock timers (no real time): late fires must not push
// the later ticks off their marks (setInterval's did, so the series' windows drifted under load).
import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { startTicker } from '../../src/loadtest/ticker.js';

beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 }));
afterEach(() => mock.timers.reset());

/** Moves the mocked clock to `t` ms, firing every timer due by then (each sees Date.now() === t). */
const advanceTo = (t: number): void => mock.timers.tick(t - Date.now());

test('each tick aims at t0 + k·1000 ms: late fires do not push the later ones (setInterval re-armed from each late fire, and drifted)', () => {
  const fired: number[] = [];
  const stop = startTicker(0, 1000, () => Date.now(), (t) => fired.push(t));
  // A busy loop that gets to its timers only every 37 ms: each fire is 0–36 ms past its due time.
  // Re-armed from the late fire (as Node's real setInterval does; its mock re-arms from the due
  // time, so it cannot show this), the k-th tick came ~36·k ms past k s: 1036, 2072, 3108 …
  while (Date.now() + 37 <= 60_036) advanceTo(Date.now() + 37);
  stop();
  assert.equal(fired.length, 60, `one tick per second for 60 s: ${fired.join(', ')}`);
  fired.forEach((t, i) => assert.ok(t >= (i + 1) * 1000 && t < (i + 1) * 1000 + 37, `tick ${i + 1} at ${t} ms, within one turn of the loop after its mark`));
});

test('ticks from a t0 in the past: the first mark is t0 + 1000, wherever the ticker was started', () => {
  advanceTo(250);
  const fired: number[] = [];
  const stop = startTicker(0, 1000, () => Date.now(), (t) => fired.push(t));
  advanceTo(999);
  assert.deepEqual(fired, []);
  advanceTo(1000);
  advanceTo(2000);
  stop();
  assert.deepEqual(fired, [1000, 2000]);
});

test('a stall past several marks gives one (longer) window, then the ticks are back on the marks', () => {
  const fired: number[] = [];
  const stop = startTicker(0, 1000, () => Date.now(), (t) => fired.push(t));
  advanceTo(1000);
  advanceTo(3500); // the loop was blocked from before 2 s to 3.5 s: the 2 s and 3 s marks are missed
  advanceTo(3999);
  advanceTo(4000);
  stop();
  assert.deepEqual(fired, [1000, 3500, 4000]);
});

test('a fire a little before its mark (libuv\'s cached loop time) does not tick twice at that mark', () => {
  const fired: number[] = [];
  let skew = 0;
  const stop = startTicker(0, 1000, () => Date.now() - skew, (t) => fired.push(t));
  skew = 2; // the clock reads 998 when the timer for the 1000 mark fires
  advanceTo(1000);
  skew = 0;
  advanceTo(1999);
  assert.deepEqual(fired, [998], 'no second tick right after the early one');
  while (fired.length < 2 && Date.now() < 2010) advanceTo(Date.now() + 1);
  stop();
  assert.equal(fired.length, 2);
  assert.ok(fired[1]! >= 2000 && fired[1]! < 2010, `the next at the 2 s mark (${fired[1]})`);
});

test('stop ends the ticks, also when called from inside a tick (Ctrl-C, the end of the run)', () => {
  const fired: number[] = [];
  const stop = startTicker(0, 1000, () => Date.now(), (t) => fired.push(t));
  advanceTo(1000);
  stop();
  advanceTo(5000);
  assert.deepEqual(fired, [1000]);

  const inner: number[] = [];
  const stopInner: () => void = startTicker(5000, 1000, () => Date.now(), (t) => { inner.push(t); stopInner(); });
  advanceTo(6000);
  advanceTo(9000);
  assert.deepEqual(inner, [6000]);
});
