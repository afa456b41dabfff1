// `modelserve loadtest compare a.json b.json`: two runs side by side with absolute and relative differences.
import { basename } from 'node:path';
import { measuredCapacity } from './capacity.js';
import { latencyMeasured } from './stats.js';
import { fmtMs } from './thresholds.js';
import type { CapacityResult, RunResult } from './types.js';

export interface CompareRow {
  metric: string;
  /** null: not measured in that run (only the capacity: a search that finished no step). */
  a: number | null;
  b: number | null;
  /** b − a; null when either side was not measured. */
  diff: number | null;
  /** (b − a) / a, null when a is 0 or either side was not measured. */
  ratio: number | null;
  /** Whether b is better than a (lower latency/errors, higher throughput); null when equal or not comparable. */
  better: boolean | null;
  /** Why the row has no difference (which side was not measured), or that a side is a lower bound. */
  note?: string;
  /** The capacity only: which side is a lower bound (its search was capped by --max-rate). */
  atLeast?: { a: boolean; b: boolean };
}

const CAPACITY_ROW = 'capacity req/s';

/** The capacity row: the two measured rates, or, when either search measured none, no difference at all (0 would read as a measurement). */
function capacityRow(a: CapacityResult, b: CapacityResult): CompareRow {
  const x = measuredCapacity(a), y = measuredCapacity(b);
  if (x === null || y === null) {
    const which = x === null && y === null ? 'A and B' : x === null ? 'A' : 'B';
    return { metric: CAPACITY_ROW, a: x, b: y, diff: null, ratio: null, better: null, note: `the capacity cannot be compared: not measured in ${which} (a search that finished no step, e.g. Ctrl-C during the first)` };
  }
  const row: CompareRow = { metric: CAPACITY_ROW, a: x, b: y, diff: y - x, ratio: x ? (y - x) / x : null, better: y === x ? null : y > x };
  // A search capped by --max-rate found a lower bound, not the capacity.
  const capped = [a.capped === true ? 'A' : '', b.capped === true ? 'B' : ''].filter(Boolean);
  if (capped.length > 0) {
    row.atLeast = { a: a.capped === true, b: b.capped === true };
    row.note = `${capped.join(' and ')}'s capacity is a lower bound: every step up to --max-rate met the SLO`;
  }
  return row;
}

const ROWS: Array<[string, (r: RunResult) => number, 'higher' | 'lower', 'ms' | 'rps' | 'pct' | 'n']> = [
  ['req/s', (r) => r.rps, 'higher', 'rps'],
  ['requests', (r) => r.requests, 'higher', 'n'],
  ['error rate', (r) => r.errorRate, 'lower', 'pct'],
  ['p50 ms', (r) => r.latencyMs.p50, 'lower', 'ms'],
  ['p90 ms', (r) => r.latencyMs.p90, 'lower', 'ms'],
  ['p95 ms', (r) => r.latencyMs.p95, 'lower', 'ms'],
  ['p99 ms', (r) => r.latencyMs.p99, 'lower', 'ms'],
  ['p99.9 ms', (r) => r.latencyMs['p99.9'], 'lower', 'ms'],
  ['max ms', (r) => r.latencyMs.max, 'lower', 'ms'],
  ['mean ms', (r) => r.latencyMs.mean, 'lower', 'ms'],
];

export function compareRuns(a: RunResult, b: RunResult): CompareRow[] {
  const rows = ROWS.map(([metric, f, dir, unit]): CompareRow => {
    const x = f(a), y = f(b);
    if (unit === 'ms' && !(latencyMeasured(a) && latencyMeasured(b))) {
      const which = !latencyMeasured(a) && !latencyMeasured(b) ? 'A and B' : !latencyMeasured(a) ? 'A' : 'B';
      return { metric, a: latencyMeasured(a) ? x : null, b: latencyMeasured(b) ? y : null, diff: null, ratio: null, better: null, note: `no latency was measured in ${which} (no request got an answer)` };
    }
    const diff = y - x;
    return { metric, a: x, b: y, diff, ratio: x !== 0 ? diff / x : null, better: diff === 0 ? null : dir === 'higher' ? diff > 0 : diff < 0 };
  });
  if (a.capacity && b.capacity) return [capacityRow(a.capacity, b.capacity), ...rows];
  // One capacity search against a plain run: say so, rather than drop the row the search is about.
  if (a.capacity || b.capacity) {
    const x = a.capacity ? measuredCapacity(a.capacity) : null, y = b.capacity ? measuredCapacity(b.capacity) : null;
    const row: CompareRow = { metric: CAPACITY_ROW, a: x, b: y, diff: null, ratio: null, better: null, note: `the capacity cannot be compared: ${a.capacity ? 'B' : 'A'} was a plain run, not a capacity search (--find-capacity)` };
    if (a.capacity?.capped === true || b.capacity?.capped === true) row.atLeast = { a: a.capacity?.capped === true, b: b.capacity?.capped === true };
    return [row, ...rows];
  }
  return rows;
}

function fmt(v: number, unit: string): string {
  if (unit === 'ms') return fmtMs(v);
  if (unit === 'pct') return `${(v * 100).toFixed(2)}%`;
  if (unit === 'rps') return v.toFixed(1);
  return String(Math.round(v));
}

export function runLabel(r: RunResult, file: string): string {
  return r.label ?? basename(file).replace(/\.json$/, '');
}

export function formatComparison(a: RunResult, b: RunResult, la: string, lb: string): string {
  const units = new Map(ROWS.map(([m, , , u]) => [m, u]));
  units.set(CAPACITY_ROW, 'rps');
  const rows = compareRuns(a, b);
  const table: string[][] = [['metric', la, lb, 'diff', 'change', '']];
  const notes: string[] = [];
  for (const r of rows) {
    const u = units.get(r.metric) ?? 'n';
    const value = (v: number | null, atLeast = false): string => (v === null ? 'not measured' : `${atLeast ? '≥ ' : ''}${fmt(v, u)}`);
    if (r.diff === null) {
      table.push([r.metric, value(r.a, r.atLeast?.a), value(r.b, r.atLeast?.b), '-', '-', 'not comparable']);
      if (r.note) notes.push(`note: ${r.note}.`);
      continue;
    }
    const sign = r.diff > 0 ? '+' : '';
    if (r.note) notes.push(`note: ${r.note}.`);
    table.push([r.metric, value(r.a, r.atLeast?.a), value(r.b, r.atLeast?.b), `${sign}${fmt(r.diff, u)}`, r.ratio === null ? '-' : `${sign}${(r.ratio * 100).toFixed(1)}%`, r.better === null ? '' : r.better ? 'better' : 'worse']);
  }
  const w = table[0]!.map((_, i) => Math.max(...table.map((t) => t[i]!.length)));
  const lines = [
    `A: ${la} — ${a.config.method} ${a.config.url} (${a.config.model}, ${a.startedAt})`,
    `B: ${lb} — ${b.config.method} ${b.config.url} (${b.config.model}, ${b.startedAt})`,
    '',
    ...table.map((t) => t.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ').trimEnd()),
  ];
  if (notes.length) lines.push('', ...new Set(notes));
  if (a.config.model !== b.config.model || a.config.users !== b.config.users || a.config.rate !== b.config.rate) {
    lines.push('', 'note: the two runs used different load settings (model, users or rate); compare with care.');
  }
  const cut = [a.interrupted ? `A (${a.elapsedS.toFixed(1)} s)` : '', b.interrupted ? `B (${b.elapsedS.toFixed(1)} s)` : ''].filter(Boolean);
  if (cut.length) lines.push('', `note: ${cut.join(' and ')} ${cut.length > 1 ? 'were' : 'was'} interrupted by Ctrl-C before the end of the run; compare with care.`);
  return lines.join('\n');
}
