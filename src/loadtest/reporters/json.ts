// Machine-readable output: the RunResult as JSON (stdout with --json, a file with --out), and reading it back.
import { readFileSync, writeFileSync } from 'node:fs';
import type { RunResult } from '../types.js';

export function toJson(r: RunResult): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}

export function writeJson(file: string, r: RunResult): void {
  writeFileSync(file, toJson(r));
}

export function readResult(file: string): RunResult {
  const v = JSON.parse(readFileSync(file, 'utf8')) as RunResult;
  if (!v || v.tool !== 'modelserve-loadtest' || typeof v.latencyMs !== 'object') throw new Error(`${file} is not a result of 'modelserve loadtest --json'/--out`);
  return v;
}
