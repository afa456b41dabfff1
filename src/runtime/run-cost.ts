// What a run of a model costs (fixed part + part per row), kept up to date from real runs.
//
// The first figure is the workers' timing right after a load (measureRunCost: runs on zeros at 1
// and 16 rows). A machine busy at that moment — several servers or models starting together —
// inflates it, and the hybrid runtime would then hand cheap batches to a worker for as long as the
// process lives (the main benchmark's servers, started together, ran every c=16 batch on a
// worker). Contention stretches both timings alike and only ever makes a run slower, so the shape
// of the load-time fit is kept and scaled by a decaying minimum of the ratio of a real run's time
// to what the fit says for its size: a faster run brings it down at once, and it rises by
// RISE_PER_RUN with every run that is not as fast, so one unusually fast run (unusual data, a
// lucky moment) is forgotten after a few hundred runs instead of moving up to 5× more rows
// inline for good. It never rises past the load-time fit (above it is the contention the
// minimum is there to ignore).
import type { RunCost } from './session.js';

/** A change smaller than this fraction is not reported (no churn on every run). */
const NOTABLE_CHANGE = 0.05;
/** The most the estimate comes down (a run on unusual data may be far cheaper than typical ones). */
const MIN_SCALE = 0.2;
/** How far the minimum rises per run slower than it: from MIN_SCALE back to 1 in ln 5 / ln 1.01 ≈ 160 runs. */
const RISE_PER_RUN = 1.01;

export class RunCostEstimate {
  private readonly initial: RunCost;
  /** Decaying minimum of (real run time / the load-time fit at its size), in [MIN_SCALE, 1]. */
  private scale = 1;
  private reportedScale = 1;
  /** The reported cost, made once per report (callers read it on every run). */
  private current: Readonly<RunCost>;

  constructor(initial: RunCost) {
    this.initial = { ...initial };
    this.current = { ...initial };
  }

  get cost(): Readonly<RunCost> {
    return this.current;
  }

  /**
   * One run of `rows` rows took `ms` (inside onnxruntime, no hand-off). Returns true when the
   * estimate changed notably since it was last reported (then `cost` is the new one). No allocation
   * unless it reports.
   */
  observe(rows: number, ms: number): boolean {
    const fit = this.initial.fixedMs + this.initial.perRowMs * rows;
    if (!(rows >= 1) || !(ms >= 0) || !(fit > 0)) return false;
    this.scale = Math.max(MIN_SCALE, Math.min(1, this.scale * RISE_PER_RUN, ms / fit));
    // Reaching a bound is reported however small the step (back at the load-time fit exactly).
    const atBound = this.scale === 1 || this.scale === MIN_SCALE;
    if (this.scale === this.reportedScale || (!atBound && Math.abs(this.scale - this.reportedScale) < this.reportedScale * NOTABLE_CHANGE)) return false;
    this.reportedScale = this.scale;
    this.current = { fixedMs: this.initial.fixedMs * this.scale, perRowMs: this.initial.perRowMs * this.scale };
    return true;
  }
}
