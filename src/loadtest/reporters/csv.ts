// Locust-compatible CSVs: <prefix>_stats.csv, <prefix>_stats_history.csv, <prefix>_failures.csv,
// <prefix>_exceptions.csv, with Locust's columns (response times in ms).
import { writeFileSync } from 'node:fs';
import type { RunResult } from '../types.js';
import { failedStatus } from '../stats.js';
import { interruptedNote } from './console.js';

const PCT_COLS = ['50%', '66%', '75%', '80%', '90%', '95%', '98%', '99%', '99.9%', '99.99%', '100%'];

function cell(v: string | number): string {
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
function row(cells: Array<string | number>): string {
  return `${cells.map(cell).join(',')}\r\n`;
}

function pcts(r: RunResult): number[] {
  const L = r.latencyMs;
  return [L.p50, L.p66, L.p75, L.p80, L.p90, L.p95, L.p98, L.p99, L['p99.9'], L['p99.99'], L.max].map((x) => Math.round(x));
}

export function statsCsv(r: RunResult): string {
  const name = new URL(r.config.url).pathname + new URL(r.config.url).search;
  let out = row(['Type', 'Name', 'Request Count', 'Failure Count', 'Median Response Time', 'Average Response Time', 'Min Response Time', 'Max Response Time', 'Average Content Size', 'Requests/s', 'Failures/s', ...PCT_COLS]);
  const L = r.latencyMs;
  const avgSize = r.requests > 0 ? r.bytesReceived / r.requests : 0;
  const fps = r.elapsedS > 0 ? r.failures / r.elapsedS : 0;
  const common = [r.requests, r.failures, Math.round(L.p50), L.mean, L.min, L.max, avgSize, r.rps, fps];
  const p = r.requests > 0 ? pcts(r) : PCT_COLS.map(() => 'N/A');
  out += row([r.config.method, name, ...common, ...p]);
  out += row(['', 'Aggregated', ...common, ...p]);
  return out;
}

export function historyCsv(r: RunResult): string {
  let out = row(['Timestamp', 'User Count', 'Type', 'Name', 'Requests/s', 'Failures/s', ...PCT_COLS, 'Total Request Count', 'Total Failure Count', 'Total Median Response Time', 'Total Average Response Time', 'Total Min Response Time', 'Total Max Response Time', 'Total Average Content Size']);
  // Each row's totals are as of its second (Locust's), not the whole run's.
  for (const s of r.series) {
    const p = s.cumulative.length ? s.cumulative.map((x) => Math.round(x)) : PCT_COLS.map(() => 'N/A');
    const avgSize = s.totalRequests > 0 ? s.totalBytes / s.totalRequests : 0;
    out += row([Math.floor(s.ts / 1000), s.users, '', 'Aggregated', s.rps.toFixed(6), s.fps.toFixed(6), ...p, s.totalRequests, s.totalFailures, s.cumulative.length ? Math.round(s.cumulative[0]!) : 0, s.totalMeanMs ?? 0, s.totalMinMs ?? 0, s.cumulative.length ? s.cumulative[10]! : 0, avgSize]);
  }
  return out;
}

export function failuresCsv(r: RunResult): string {
  const name = new URL(r.config.url).pathname;
  let out = row(['Method', 'Name', 'Error', 'Occurrences']);
  for (const [status, n] of Object.entries(r.statusCounts)) if (failedStatus(Number(status))) out += row([r.config.method, name, `HTTPError('${status}')`, n]);
  for (const [kind, n] of Object.entries(r.errorKinds)) out += row([r.config.method, name, kind, n]);
  return out;
}

/** Writes the four CSVs; returns their paths. */
export function writeCsv(prefix: string, r: RunResult): string[] {
  const files: Array<[string, string]> = [
    [`${prefix}_stats.csv`, statsCsv(r)],
    [`${prefix}_stats_history.csv`, historyCsv(r)],
    [`${prefix}_failures.csv`, failuresCsv(r)],
    // Locust's columns have no place for a run cut short; its exceptions file takes free text.
    [`${prefix}_exceptions.csv`, row(['Count', 'Message', 'Traceback', 'Nodes']) + (r.interrupted ? row([1, interruptedNote(r)!, '', 'local']) : '')],
  ];
  for (const [f, text] of files) writeFileSync(f, text);
  return files.map(([f]) => f);
}
