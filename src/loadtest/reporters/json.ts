// Machine-readable output: the RunResult as JSON (stdout with --json, a file with --out), and reading it back.
import { readFileSync, writeFileSync } from 'node:fs';
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

export function readResult(file: string): RunResult {
  const v = JSON.parse(readFileSync(file, 'utf8')) as RunResult | null;
  if (!isResult(v)) throw new Error(`${file} is not a result of 'modelserve loadtest --json'/--out`);
  return v;
}
