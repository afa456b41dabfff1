// Request bodies: from a JSON / JSONL / CSV file, an inline string, or a served model's examples.
// Every body is serialised once into a Buffer before the run, so the hot loop only picks one.
import { extname } from 'node:path';
import { parse } from 'csv-parse/sync';
import { request } from 'undici';
import { delimiterOf } from '../check/csv.js';
import { readTextOrSay } from './read-file.js';

export interface BodySet {
  bodies: Buffer[];
  /** Where they came from, for the report. */
  source: string;
  contentType: string;
}

/** A CSV cell as JSON: numbers become numbers, true/false booleans, empty → null, else string. */
function csvValue(cell: string): unknown {
  const t = cell.trim();
  if (t === '') return null;
  if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) return Number(t);
  if (t === 'true' || t === 'false') return t === 'true';
  return cell;
}

/**
 * CSV with a header row → one object per row, keyed by the header. Quoted cells may hold the
 * separator, quotes and line breaks; the separator is the one the header line shows (as for
 * `modelserve init`'s sample, whose rows are meant to be sent as they are).
 */
export function parseCsv(text: string): Array<Record<string, unknown>> {
  let records: string[][];
  try {
    records = parse(text, { bom: true, skip_empty_lines: true, relax_column_count: true, delimiter: delimiterOf(text) }) as string[][];
  } catch (err) {
    throw new Error(`not a CSV file: ${(err as Error).message}`, { cause: err });
  }
  if (records.length < 2) throw new Error('a CSV body file needs a header row and at least one data row');
  const header = records[0]!.map((h) => h.trim());
  return records.slice(1).map((cells, i) => {
    if (cells.length !== header.length) throw new Error(`CSV row ${i + 2} has ${cells.length} cells, the header has ${header.length}`);
    const row: Record<string, unknown> = {};
    header.forEach((h, j) => { row[h] = csvValue(cells[j]!); });
    return row;
  });
}

const countBodies = (n: number): string => `${n} ${n === 1 ? 'body' : 'bodies'}`;

/** Reads a body file: `.json` (an array = many bodies), `.jsonl`/`.ndjson` (one per line), `.csv` (rows become objects). */
export function loadBodyFile(file: string): BodySet {
  const text = readTextOrSay(file, `--body ${file}`, 'is a folder; give a .json, .jsonl or .csv file');
  const ext = extname(file).toLowerCase();
  let values: unknown[];
  if (ext === '.csv') {
    try { values = parseCsv(text); } catch (err) { throw new Error(`${file}: ${(err as Error).message}`, { cause: err }); }
  }
  else if (ext === '.jsonl' || ext === '.ndjson') {
    values = text.split(/\r?\n/).filter((l) => l.trim() !== '').map((l, i) => {
      try { return JSON.parse(l); } catch (err) { throw new Error(`${file}:${i + 1}: invalid JSON (${(err as Error).message})`, { cause: err }); }
    });
  } else {
    let v: unknown;
    try { v = JSON.parse(text); } catch (err) { throw new Error(`${file}: invalid JSON (${(err as Error).message})`, { cause: err }); }
    values = Array.isArray(v) ? v : [v];
  }
  if (values.length === 0) throw new Error(`${file}: no request bodies`);
  return { bodies: values.map((v) => Buffer.from(JSON.stringify(v))), source: `${file} (${countBodies(values.length)})`, contentType: 'application/json' };
}

/** `--data`: sent as given; checked first when it goes out as JSON, since a typo would make every request a 400 and the run measure only errors. */
export function inlineBody(data: string, contentType = 'application/json'): BodySet {
  if (/\bjson\b/i.test(contentType)) {
    try { JSON.parse(data); } catch (err) {
      const hint = data.startsWith('@') ? '; to send a file\'s contents use --body <file>' : '';
      throw new Error(`--data is not valid JSON (${(err as Error).message})${hint}`, { cause: err });
    }
  }
  return { bodies: [Buffer.from(data)], source: 'inline --data', contentType };
}

type Json = Record<string, unknown>;

/** Builds request bodies from a model-info document: `examples` (array of bodies), `example`, or per-field `example`s. */
export function bodiesFromModelInfo(info: unknown): unknown[] {
  if (!info || typeof info !== 'object') return [];
  const o = info as Json;
  if (Array.isArray(o.examples) && o.examples.length > 0 && o.examples.every((e) => e && typeof e === 'object')) return o.examples as unknown[];
  if (o.example && typeof o.example === 'object' && !Array.isArray(o.example)) return [o.example];
  for (const key of ['fields', 'inputs', 'features']) {
    const fields = o[key];
    if (Array.isArray(fields)) {
      const body: Json = {};
      for (const f of fields) {
        if (f && typeof f === 'object' && typeof (f as Json).name === 'string') {
          const fj = f as Json;
          const ex = fj.example ?? (Array.isArray(fj.examples) ? fj.examples[0] : undefined) ?? fj.default;
          if (ex !== undefined) body[fj.name as string] = ex;
        }
      }
      if (Object.keys(body).length > 0) return [body];
    } else if (fields && typeof fields === 'object') {
      const body: Json = {};
      for (const [name, f] of Object.entries(fields as Json)) {
        if (f && typeof f === 'object' && (f as Json).example !== undefined) body[name] = (f as Json).example;
      }
      if (Object.keys(body).length > 0) return [body];
    }
  }
  for (const key of ['schema', 'requestSchema', 'request', 'input']) {
    const s = o[key];
    if (s && typeof s === 'object') {
      const sj = s as Json;
      if (sj.example && typeof sj.example === 'object') return [sj.example];
      if (sj.properties && typeof sj.properties === 'object') {
        const body: Json = {};
        for (const [name, p] of Object.entries(sj.properties as Json)) {
          const pj = (p ?? {}) as Json;
          const ex = pj.example ?? (Array.isArray(pj.examples) ? pj.examples[0] : undefined) ?? pj.default;
          if (ex !== undefined) body[name] = ex;
        }
        if (Object.keys(body).length > 0) return [body];
      }
    }
  }
  return [];
}

/**
 * GET `models/<name>` relative to `base` (as a browser resolves it: http://h/prefix/ and
 * http://h/prefix/predict both give http://h/prefix/models/<name>, so a server behind a proxy's path
 * prefix is asked there, not at the host's root) and build the bodies from the model's examples.
 */
/** `text` with its control characters (but tab and line feed) as '?'. */
function printable(text: string): string {
  return Array.from(text, (c) => { const n = c.charCodeAt(0); return (n < 0x20 && n !== 0x09 && n !== 0x0a) || (n >= 0x7f && n <= 0x9f) ? '?' : c; }).join('');
}

/** The largest model info (GET models/<name>) read. */
const MODEL_INFO_LIMIT = 16 * 1024 * 1024;

export async function fetchModelExamples(base: string | URL, name: string, headers: Record<string, string>, timeoutMs: number): Promise<BodySet> {
  const url = new URL(`models/${encodeURIComponent(name)}`, base).href;
  // One deadline for the whole exchange: undici's bodyTimeout times only the wait between reads, and
  // a server trickling its answer held the tool forever; and a bound on the size, which one endless
  // answer would otherwise fill the memory with.
  const signal = AbortSignal.timeout(timeoutMs);
  let status: number;
  let text: string;
  try {
    const res = await request(url, { method: 'GET', headers: { ...headers, accept: 'application/json' }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal });
    status = res.statusCode;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MODEL_INFO_LIMIT) { res.body.destroy(); throw new Error(`GET ${url}: the answer is larger than ${MODEL_INFO_LIMIT / 1024 / 1024} MiB, which no model info is`); }
      chunks.push(chunk);
    }
    text = Buffer.concat(chunks).toString('utf8');
  } catch (e) {
    if (signal.aborted) throw new Error(`GET ${url}: no complete answer within ${timeoutMs} ms (--timeout)`, { cause: e });
    throw e;
  }
  // The server's words are shown, its control characters are not (a terminal obeys escape sequences).
  if (status !== 200) throw new Error(`GET ${url} answered ${status}: ${printable(text.slice(0, 200))}`);
  let info: unknown;
  try { info = JSON.parse(text); } catch { throw new Error(`GET ${url} did not answer JSON`); }
  const bodies = bodiesFromModelInfo(info);
  if (bodies.length === 0) throw new Error(`GET ${url}: the model info has no examples (no 'examples', 'example' or per-field 'example')`);
  return { bodies: bodies.map((b) => Buffer.from(JSON.stringify(b))), source: `examples of model '${name}' (${countBodies(bodies.length)})`, contentType: 'application/json' };
}

/** Returns a picker over the bodies: rotating (round-robin) or uniformly random. */
export function bodyPicker(bodies: Buffer[] | null, order: 'rotate' | 'random'): () => Buffer | null {
  if (!bodies || bodies.length === 0) return () => null;
  if (bodies.length === 1) { const b = bodies[0]!; return () => b; }
  const n = bodies.length;
  if (order === 'random') return () => bodies[(Math.random() * n) | 0]!;
  let i = 0;
  return () => {
    const b = bodies[i]!;
    i = i + 1 === n ? 0 : i + 1;
    return b;
  };
}
