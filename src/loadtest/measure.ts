// `modelserve loadtest measure <url> -n 100`: the article's script — N sequential requests, one
// after the other on one keep-alive connection, then median, p95 and max (exact, from every
// sample, numpy's linear-interpolation percentiles).
import { interruptedNote } from './reporters/console.js';
import { fmtMs } from './thresholds.js';
import type { RunResult } from './types.js';

export function formatMeasure(r: RunResult): string {
  const e = r.exact;
  const cut = interruptedNote(r);
  if (!e) return ['no successful responses to measure', ...(cut ? [cut] : [])].join('\n');
  return [
    ...(cut ? [cut] : []),
    `${e.n} sequential requests to ${r.config.method} ${r.config.url}: ${r.failures} failed`,
    `median: ${fmtMs(e.median)} ms`,
    `p95:    ${fmtMs(e.p95)} ms`,
    `max:    ${fmtMs(e.max)} ms`,
    `(mean ${fmtMs(e.mean)} ms, min ${fmtMs(e.min)} ms, ${r.rps.toFixed(1)} req/s)`,
  ].join('\n');
}
