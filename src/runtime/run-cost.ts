// What a run of a model costs (fixed part + part per row), kept up to date from real runs.
//
// The first figure is the workers' timing right after a load (measureRunCost: runs on zeros at 1
// and 16 rows). A machine busy at that moment — several servers or models starting together —
// inflates it, and the hybrid runtime would then hand cheap batches to a worker for as long as the
// process lives (the main benchmark's servers, started together, ran every c=16 batch on a
// worker). Contention stretches both timings alike and only ever makes a run slower, so the shape
// of the load-time fit is kept and scaled down by the lowest ratio of a real run's time to what
// the fit says for its size: the estimate comes down to what runs really take, never up.
import type { RunCost } from './session.js';

/** A drop smaller than this fraction is not reported as a change (no churn on every run). */
const NOTABLE_DROP = 0.05;
/** The most the estimate comes down (a run on unusual data may be far cheaper than typical ones). */
const MIN_SCALE = 0.2;

export class RunCostEstimate {
  private readonly initial: RunCost;
  /** Lowest (real run time / the load-time fit at its size) seen, at most 1. */
  private scale = 1;
  private reportedScale = 1;

  constructor(initial: RunCost) {
    this.initial = { ...initial };
  }

  get cost(): RunCost {
    return { fixedMs: this.initial.fixedMs * this.reportedScale, perRowMs: this.initial.perRowMs * this.reportedScale };
  }

  /**
   * One run of `rows` rows took `ms` (inside onnxruntime, no hand-off). Returns true when the
   * estimate came down notably since it was last reported (then `cost` is the new one).
   */
  observe(rows: number, ms: number): boolean {
    const fit = this.initial.fixedMs + this.initial.perRowMs * rows;
    if (!(rows >= 1) || !(ms >= 0) || !(fit > 0)) return false;
    this.scale = Math.max(MIN_SCALE, Math.min(this.scale, ms / fit));
    if (this.scale >= this.reportedScale * (1 - NOTABLE_DROP)) return false;
    this.reportedScale = this.scale;
    return true;
  }
}
