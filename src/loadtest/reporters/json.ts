// Machine-readable output: the RunResult as JSON (stdout with --json, a file with --out), and reading it back.
import { writeFileSync } from 'node:fs';
import { readTextOrSay } from '../read-file.js';
import type { RunResult } from '../types.js';

export function toJson(r: RunResult): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}

export function writeJson(file: string, r: RunResult): void {
  writeFileSync(file, toJson(r));
}

const LATENCY_KEYS = ['min', 'mean', 'p50', 'p90', 'p95', 'p99', 'p99.9', 'max'] as const;

/** Whether a parsed file has what compare reads (a truncated or hand-edited one made it throw a TypeError). */
function isResult(v: RunResult | null): v is RunResult {
  return typeof v === 'object' && v !== null && v.tool === 'modelserve-loadtest'
    && typeof v.config === 'object' && v.config !== null && Array.isArray(v.distribution)
    && [v.rps, v.requests, v.errorRate].every((n) => typeof n === 'number')
    && typeof v.latencyMs === 'object' && v.latencyMs !== null && LATENCY_KEYS.every((k) => typeof v.latencyMs[k] === 'number');
}

/** Reads a saved result; every failure names the file (compare reads two: a bare JSON.parse message did not say which). */
export function readResult(file: string): RunResult {
  const text = readTextOrSay(file, file, 'is a folder, not a result file');
  let v: RunResult | null;
  try {
    v = JSON.parse(text) as RunResult | null;
  } catch (e) {
    throw new Error(`${file} is not valid JSON (${(e as Error).message}); compare reads results of 'modelserve loadtest --json'/--out`, { cause: e });
  }
  // A result of another schema means other fields or meanings: comparing it as this one would mislead.
  if (typeof v === 'object' && v !== null && v.tool === 'modelserve-loadtest' && typeof v.schema === 'number' && (v.schema as number) !== 1) {
    throw new Error(`${file} is a result of another version of modelserve loadtest (schema ${JSON.stringify(v.schema)}; this one reads schema 1)`);
  }
  if (!isResult(v)) throw new Error(`${file} is not a result of 'modelserve loadtest --json'/--out`);
  return v;
}
