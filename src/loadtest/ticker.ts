// The run's once-a-second tick, aimed at fixed marks t0 + k·period. setInterval re-arms from each
// (late) fire, so every delay pushed all later ticks: on a busy machine the windows drifted
// (1.023, 2.024, 3.034 … s; ~0.4 s after a minute) and "second k" of the series stopped being k s
// from the start.

/**
 * Calls `onTick(now)` at each mark t0 + k·periodMs (k = 1, 2, …) as read by `now` (the caller's
 * clock: performance.now in a run, the mocked Date in tests), until the returned stop function is
 * called (also safe from inside onTick). A fire late past later marks skips them: that window is
 * longer (its rates are over its real length) rather than followed by near-empty ones.
 */
export function startTicker(t0: number, periodMs: number, now: () => number, onTick: (now: number) => void): () => void {
  let k = 1;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const arm = (): void => {
    // ceil: Node truncates a fractional delay, which would aim up to 1 ms before the mark.
    timer = setTimeout(fire, Math.max(1, Math.ceil(t0 + k * periodMs - now())));
  };
  const fire = (): void => {
    const t = now();
    // At least the next mark: a fire a little before its own (libuv's loop time is cached per
    // iteration, so a timer may run a ms or two early) must not tick twice at one mark.
    k = Math.max(k + 1, Math.floor((t - t0) / periodMs) + 1);
    onTick(t);
    if (!stopped) arm();
  };
  arm();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
