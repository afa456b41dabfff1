// BENCHMARKS.md is assembled from sections, each written by one benchmark script, so scripts can
// be re-run alone without clobbering each other's results.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

export const BENCHMARKS_FILE = new URL('../../BENCHMARKS.md', import.meta.url);

export function machineLine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return `${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}, ${new Date().toISOString()}`;
}

/** Replaces (or appends) the section `<!-- section:NAME -->…<!-- /section:NAME -->` in BENCHMARKS.md. */
export function writeSection(name: string, markdown: string, file: URL | string = BENCHMARKS_FILE): void {
  const start = `<!-- section:${name} -->`;
  const end = `<!-- /section:${name} -->`;
  const block = `${start}\n${markdown.trim()}\n${end}`;
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n\nEvery figure here was produced by a script in `bench/`; each section names its command. Ratios are measured within one run because these machines are shared and noisy.\n';
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i >= 0 && j > i) text = text.slice(0, i) + block + text.slice(j + end.length);
  else text = `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, text);
}

/** The middle value (the mean of the two middle values for an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
