// Terminal output: a live line once a second (rewritten in place on a TTY) and the final summary.
import { measuredCapacity } from '../capacity.js';
import { latencyMeasured } from '../stats.js';
import { formatMetric, fmtMs, fmtRate, fmtRps } from '../thresholds.js';
import { LAG_WARN_MS, type LiveState } from '../runner.js';
import type { CapacityResult, RunResult, SeriesPoint } from '../types.js';

export function liveLine(point: SeriesPoint, live: LiveState, model: string): string {
  const err = live.requests > 0 ? (100 * live.failures) / live.requests : 0;
  const who = model === 'open' ? `offered ${point.offered.toFixed(0)}/s  in-flight ${live.inFlight}` : `users ${point.users}`;
  const lag = live.lagP99Ms > LAG_WARN_MS ? `  [generator lag ${live.lagP99Ms.toFixed(0)} ms]` : '';
  return `[${live.elapsedS.toFixed(0).padStart(4)}s] ${point.rps.toFixed(0).padStart(7)} req/s  p95 ${point.p95 === null ? '-' : fmtMs(point.p95)} ms  errors ${live.failures} (${err.toFixed(2)}%)  ${who}  total ${live.requests}${lag}`;
}

/** Writes live lines to a stream: in place on a TTY, one line every `everyS` seconds otherwise. */
export class LiveWriter {
  private lastLen = 0;
  private n = 0;
  constructor(private readonly out: NodeJS.WriteStream, private readonly model: string, private readonly everyS = 5) {}
  update(point: SeriesPoint, live: LiveState): void {
    const line = liveLine(point, live, this.model);
    if (this.out.isTTY) {
      const pad = this.lastLen > line.length ? ' '.repeat(this.lastLen - line.length) : '';
      this.out.write(`\r${line}${pad}`);
      this.lastLen = line.length;
    } else if (++this.n % this.everyS === 0) this.out.write(`${line}\n`);
  }
  finish(): void {
    if (this.out.isTTY && this.lastLen > 0) this.out.write('\n');
    this.lastLen = 0;
  }
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd()).join('\n');
}

/** The line that marks a run Ctrl-C cut short (console, HTML, CSV, measure), or null. */
export function interruptedNote(r: RunResult): string | null {
  if (!r.interrupted) return null;
  const bound = [r.config.durationMs !== undefined ? `${r.config.durationMs / 1000} s` : '', r.config.maxRequests !== undefined ? `${r.config.maxRequests} requests` : ''].filter(Boolean).join(' or ');
  return `INTERRUPTED by Ctrl-C after ${r.elapsedS.toFixed(2)} s${bound ? ` (the run was to last ${bound})` : ''}: the results cover only the part that ran`;
}

export function summary(r: RunResult): string {
  const c = r.config;
  const lines: string[] = [];
  const cut = interruptedNote(r);
  if (cut) lines.push(cut);
  const how = c.model === 'open'
    ? `open model, ${c.rate} req/s${c.stages && c.stages.length ? ` + ${c.stages.length} stage(s)` : ''}, up to ${c.connections} connections`
    : c.model === 'sequential' ? 'sequential (1 user, back to back)' : `closed model, ${c.users} user${c.users === 1 ? '' : 's'} (${c.spawnRate ? `spawned at ${c.spawnRate}/s` : 'all at once'}), wait ${c.wait}`;
  lines.push(`${c.method} ${c.url} — ${how}; bodies: ${c.bodySource}`);
  lines.push(`${r.requests} requests in ${r.elapsedS.toFixed(2)} s: ${r.rps.toFixed(1)} req/s, ${r.failures} failed${r.schedule?.unsent ? `, ${r.schedule.unsent} never sent` : ''} (${(r.errorRate * 100).toFixed(2)}% errors)`);
  lines.push('');
  const L = r.latencyMs;
  if (!latencyMeasured(r)) lines.push('latency: not measured (no request got an answer)');
  else {
    lines.push(table([
      ['latency (ms)', 'min', 'p50', 'p90', 'p95', 'p99', 'p99.9', 'max', 'mean'],
      ['', fmtMs(L.min), fmtMs(L.p50), fmtMs(L.p90), fmtMs(L.p95), fmtMs(L.p99), fmtMs(L['p99.9']), fmtMs(L.max), fmtMs(L.mean)],
    ]));
  }
  if (r.exact) {
    lines.push('');
    lines.push(`exact over ${r.exact.n} samples: median ${fmtMs(r.exact.median)} ms, p95 ${fmtMs(r.exact.p95)} ms, max ${fmtMs(r.exact.max)} ms (mean ${fmtMs(r.exact.mean)}, min ${fmtMs(r.exact.min)})`);
  }
  const statuses = Object.entries(r.statusCounts).map(([s, n]) => `${s} ×${n}`).join(', ');
  if (statuses) lines.push('', `status codes: ${statuses}`);
  // An answer's kind ('invalid-json') is no transport error: it got a status, counted above.
  const kinds = Object.entries(r.errorKinds).filter(([k]) => k !== 'invalid-json').map(([k, n]) => `${k} ×${n}`).join(', ');
  if (kinds) lines.push(`transport errors: ${kinds}`);
  const invalidJson = r.errorKinds['invalid-json'];
  if (invalidJson) lines.push(`invalid answers: invalid-json ×${invalidJson} (a 2xx whose Content-Type says JSON, with a body that is not JSON: counted as failed)`);
  if (r.retries) lines.push(`resent: ${r.retries} request${r.retries === 1 ? '' : 's'} once on a new connection (the server closed the idle keep-alive connection as ${r.retries === 1 ? 'it was' : 'they were'} written: its keep-alive timeout; not counted as failures)`);
  if (r.schedule) {
    const s = r.schedule;
    lines.push(`schedule: offered ${s.offeredRate.toFixed(1)} req/s, ${s.scheduled} scheduled, ${s.late} sent > ${s.lateToleranceMs} ms late (max lag ${fmtMs(s.maxSendLagMs)} ms)${s.unsent ? `, ${s.unsent} never sent` : ''}; latency is measured from the intended send time`);
  }
  const g = r.generator;
  lines.push(`generator: CPU ${g.cpuPercent.toFixed(0)}% of one core, event-loop lag p99 ${g.eventLoopLagP99Ms.toFixed(1)} ms`);
  if (g.warning) lines.push(`WARNING: ${g.warning}`);
  if (r.capacity) lines.push('', capacitySummary(r));
  if (r.thresholds && r.thresholds.length) {
    lines.push('', 'thresholds:');
    for (const t of r.thresholds) lines.push(`  ${t.ok ? 'PASS' : 'FAIL'}  ${t.expr}  (actual ${formatMetric(t.expr, t.actual)})`);
  }
  return lines.join('\n');
}

/**
 * What qualifies the capacity figure (shared by the console and the HTML report). `firstRate`: the
 * rate of the run reported, which is the first step's when no step finished.
 */
export function capacityNotes(cap: CapacityResult, firstRate?: number): string[] {
  const notes: string[] = [];
  const capacity = measuredCapacity(cap);
  if (cap.capped && capacity !== null) notes.push(`capped: every step up to --max-rate met the SLO, so the capacity is at least ${fmtRate(capacity)} req/s; raise --max-rate to find it`);
  if (cap.toolLimited) notes.push('the search stopped where the load generator itself became the limit');
  if (cap.interrupted) {
    notes.push(cap.steps.length === 0
      ? `interrupted by Ctrl-C during the first step${firstRate !== undefined ? ` (${fmtRate(firstRate)} req/s)` : ''}: that step was dropped unjudged, so no capacity was measured; the run shown is the cut-short step`
      : 'interrupted by Ctrl-C: the search did not finish; the capacity is the best rate found so far');
  }
  return notes;
}

/** The capacity line: the rate found, that none met the SLO, or that no step finished (interrupted during the first). */
function capacityHeadline(cap: CapacityResult): string {
  const capacity = measuredCapacity(cap);
  if (capacity === null) return 'capacity: not measured: no step finished';
  return capacity > 0
    ? `capacity: ${cap.capped ? '≥ ' : ''}${fmtRate(capacity)} req/s meets ${cap.slo.join(', ')} with errors <= ${(cap.maxErrorRate * 100).toFixed(3)}%`
    : `capacity: no tested rate met ${cap.slo.join(', ')} (lowest tried ${fmtRate(Math.min(...cap.steps.map((s) => s.rate)))} req/s)`;
}

export function capacitySummary(r: RunResult): string {
  const cap = r.capacity!;
  const rows = [['offered req/s', 'achieved', 'p50 ms', 'p95 ms', 'p99 ms', 'errors', 'result']];
  for (const s of cap.steps) {
    rows.push([fmtRate(s.rate), fmtRps(s.achievedRps), fmtMs(s.p50), fmtMs(s.p95), fmtMs(s.p99), `${(s.errorRate * 100).toFixed(2)}%`, s.ok ? 'meets SLO' : `fails: ${s.reason ?? ''}`]);
  }
  const notes = capacityNotes(cap, r.config.rate).map((n) => `\n(${n})`).join('');
  return `${capacityHeadline(cap)}${notes}${cap.steps.length ? `\n${table(rows)}` : ''}`;
}
