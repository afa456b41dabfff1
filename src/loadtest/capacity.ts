// Capacity search (Triton perf_analyzer style): open-model steps at rising arrival rates — doubling
// until the SLO breaks, then bisecting — each with a stability check; reports the highest rate that
// met the SLO and the latency-vs-offered-rate curve.
import { evaluate } from './thresholds.js';
import type { CapacityResult, CapacityStep, RunResult, Threshold } from './types.js';

export interface CapacityOptions {
  slo: Threshold[];
  maxErrorRate: number;
  startRate: number;
  maxRate: number;
  /** Stop bisecting when the bracket is narrower than this fraction of the good rate. */
  precision: number;
  /** Max bisection steps. */
  maxBisect?: number;
  /** Runs one open-model step at `rate` req/s (`retry`: the same rate again, the load generator having stalled in the first). */
  step: (rate: number, retry: boolean) => Promise<RunResult>;
  onStep?: (s: CapacityStep) => void;
  /** Aborted (Ctrl-C): the step under way is dropped and the search ends with what it has. */
  signal?: AbortSignal;
}

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

/**
 * Judges one step: the SLO and error budget over the whole step, plus stability — the server kept
 * up (completed ≥ 95% of the offered requests, nothing left unsent) and latency did not trend up
 * (median per-second p99 of the second half ≤ 2× the first half's + 2 ms).
 */
export function judgeStep(rate: number, r: RunResult, slo: Threshold[], maxErrorRate: number): CapacityStep {
  const reasons: string[] = [];
  for (const t of evaluate(slo, r)) if (!t.ok) reasons.push(`${t.expr} (${Number(t.actual.toPrecision(3))})`);
  if (r.errorRate > maxErrorRate) reasons.push(`errors ${(r.errorRate * 100).toFixed(2)}% > ${(maxErrorRate * 100).toFixed(3)}%`);
  // Whatever the error budget (--max-error-rate 100%), a rate at which nothing succeeded is no capacity:
  // a server refusing all with quick 429s was reported to hold every rate up to --max-rate.
  else if (r.ok === 0) reasons.push('no request succeeded');
  const offered = r.schedule?.scheduled ?? r.requests;
  let stable = true;
  if ((r.schedule?.unsent ?? 0) > 0 || r.requests < 0.95 * offered) { stable = false; reasons.push('did not keep up with the offered rate'); }
  const pts = r.series.filter((p) => p.p99 !== null);
  if (pts.length >= 4) {
    const half = Math.floor(pts.length / 2);
    const a = median(pts.slice(0, half).map((p) => p.p99!));
    const b = median(pts.slice(half).map((p) => p.p99!));
    if (b > 2 * a + 2) { stable = false; reasons.push(`latency rising (p99 ${a.toFixed(1)} → ${b.toFixed(1)} ms)`); }
  }
  return {
    rate, achievedRps: r.rps, p50: r.latencyMs.p50, p95: r.latencyMs.p95, p99: r.latencyMs.p99, errorRate: r.errorRate,
    ok: reasons.length === 0, stable, ...(reasons.length ? { reason: reasons.join('; ') } : {}),
  };
}

/**
 * The capacity a search measured (req/s; 0 when every step it finished broke the SLO), or null when
 * it measured none. A report written before null existed says 0 with no steps for the latter.
 */
export function measuredCapacity(cap: CapacityResult): number | null {
  return cap.steps.length === 0 ? null : cap.capacity;
}

export async function findCapacity(o: CapacityOptions): Promise<{ capacity: CapacityResult; best: RunResult | null; last: RunResult }> {
  // parseRunArgs refuses this (exit 2); a caller that gets past it would otherwise have no run to report.
  if (!(o.startRate <= o.maxRate)) throw new RangeError(`the start rate (${o.startRate}) is above the max rate (${o.maxRate})`);
  const steps: CapacityStep[] = [];
  let good = 0;
  let bad = Infinity;
  let best: RunResult | null = null;
  let last: RunResult | null = null;
  let toolLimited = false;
  const aborted = () => o.signal?.aborted === true;
  const tryRate = async (rate: number): Promise<boolean> => {
    let r = await o.step(rate, false);
    // A step cut short by Ctrl-C judges nothing; its partial run is kept only if there is no other.
    if (aborted()) { last ??= r; return false; }
    let s = judgeStep(rate, r, o.slo, o.maxErrorRate);
    // A failing step during which the generator itself stalled says nothing about the server:
    // run it once more before believing it.
    if (!s.ok && r.generator.bottleneck) {
      const again = await o.step(rate, true);
      if (aborted()) { last ??= r; return false; }
      r = again;
      s = judgeStep(rate, r, o.slo, o.maxErrorRate);
    }
    last = r;
    steps.push(s);
    o.onStep?.(s);
    if (s.ok) { good = rate; best = r; } else {
      bad = rate;
      if (r.generator.bottleneck) toolLimited = true;
    }
    return s.ok;
  };
  let rate = o.startRate;
  let capped = false;
  while (rate <= o.maxRate && !aborted()) {
    if (!(await tryRate(rate))) break;
    if (rate >= o.maxRate) { capped = true; break; }
    rate = Math.min(o.maxRate, rate * 2);
  }
  const maxBisect = o.maxBisect ?? 6;
  for (let i = 0; i < maxBisect && bad !== Infinity && !toolLimited && !aborted(); i++) {
    const width = bad - good;
    if (good > 0 && width <= o.precision * good) break;
    if (good === 0 && bad < 1) break;
    await tryRate(Math.round((good + bad) / 2 * 10) / 10);
  }
  // No step judged (Ctrl-C during the first): no rate was measured, which 0 would misstate.
  const capacity = steps.length > 0 ? good : null;
  return {
    capacity: { slo: o.slo.map((t) => t.expr), maxErrorRate: o.maxErrorRate, capacity, steps, toolLimited, ...(capped ? { capped } : {}), ...(aborted() ? { interrupted: true } : {}) },
    best,
    last: last!,
  };
}
