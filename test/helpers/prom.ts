// Reads samples out of Prometheus text exposition (what /metrics serves).

/** Values of every sample `name{labels}` whose labels include every given pair, in order. */
function* matching(text: string, name: string, labels: Record<string, string>): Generator<number> {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have[l[1]!] = l[2]!;
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) yield Number(m[3]);
  }
}

/** Value of the sample `name{labels}` whose labels include every given pair; undefined if absent. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const value of matching(text, name, labels)) return value;
  return undefined;
}

/** Sum of every sample of `name` whose labels include the given pairs. */
export function sampleSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const value of matching(text, name, labels)) total += value;
  return total;
}
