// Command-line parsing for `modelserve loadtest`: durations, pacing, stages, and the full option set.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseThreshold } from './thresholds.js';
import { parseArgsMessage } from '../closest-name.js';
import { NOT_AN_ENV_NAME, isEnvName } from '../cli/env-name.js';
import { readTextOrSay } from './read-file.js';
import type { Stage, Threshold, WaitSpec } from './types.js';
import { urlBasicAuthorization } from '../outbound-http.js';

export class UsageError extends Error {}

/**
 * The most files this process may open (Linux's /proc/self/limits, read after Node has raised its
 * soft limit to the hard one); undefined where it cannot be read.
 */
function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The open model's connections (requests in flight) when --connections is not given. */
export const DEFAULT_CONNECTIONS = 256;

/** Files the process holds besides its connections: stdio, the event loop's, the body and report files. */
const OTHER_FILES = 32;

/** `500ms`, `10s`, `2m`, `1h`, or a bare number of seconds → milliseconds. */
export function parseDuration(text: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) throw new UsageError(`invalid duration '${text}': use e.g. 500ms, 10s, 2m, 1h`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const ms = unit === 'ms' ? n : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n * 3_600_000;
  if (!(ms > 0)) throw new UsageError(`invalid duration '${text}': must be positive`);
  return ms;
}

/** `0.1%` or `0.001` → 0.001. */
export function parseRate(text: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*(%)?\s*$/.exec(text);
  if (!m) throw new UsageError(`invalid error rate '${text}': use e.g. 0.1% or 0.001`);
  const v = m[2] ? Number(m[1]) / 100 : Number(m[1]);
  if (v > 1) throw new UsageError(`invalid error rate '${text}': above 100%`);
  return v;
}

/** Locust's wait_time functions: `constant(1)`, `between(1,5)`, `constant_throughput(2)`, `constant_pacing(0.5)`; a bare number is `constant`. */
export function parseWait(text: string): WaitSpec {
  const t = text.replace(/\s+/g, '');
  let m = /^constant\(([0-9.]+)\)$/.exec(t) ?? /^([0-9.]+)$/.exec(t);
  if (m) return { kind: 'constant', seconds: num(m[1]!, text) };
  m = /^between\(([0-9.]+),([0-9.]+)\)$/.exec(t);
  if (m) {
    const min = num(m[1]!, text), max = num(m[2]!, text);
    if (max < min) throw new UsageError(`invalid wait '${text}': between(a,b) needs a <= b`);
    return { kind: 'between', min, max };
  }
  m = /^constant_throughput\(([0-9.]+)\)$/.exec(t);
  if (m) {
    const perSecond = num(m[1]!, text);
    if (!(perSecond > 0)) throw new UsageError(`invalid wait '${text}': the rate must be positive`);
    return { kind: 'constant_throughput', perSecond };
  }
  m = /^constant_pacing\(([0-9.]+)\)$/.exec(t);
  if (m) return { kind: 'constant_pacing', seconds: num(m[1]!, text) };
  throw new UsageError(`invalid wait '${text}': use constant(s), between(a,b), constant_throughput(x) or constant_pacing(s)`);
}

function num(s: string, ctx: string): number {
  const n = Number(s);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`invalid number '${s}' in '${ctx}'`);
  return n;
}

export function waitToString(w: WaitSpec): string {
  switch (w.kind) {
    case 'constant': return `constant(${w.seconds})`;
    case 'between': return `between(${w.min}, ${w.max})`;
    case 'constant_throughput': return `constant_throughput(${w.perSecond})`;
    case 'constant_pacing': return `constant_pacing(${w.seconds})`;
  }
}

/** `30s:200` → ramp linearly to 200 req/s over 30 s. */
export function parseStage(text: string): Stage {
  const i = text.lastIndexOf(':');
  if (i <= 0) throw new UsageError(`invalid stage '${text}': use <duration>:<target rate>, e.g. 30s:200`);
  const target = Number(text.slice(i + 1));
  if (!Number.isFinite(target) || target < 0) throw new UsageError(`invalid stage '${text}': the target rate must be a number >= 0`);
  return { durationMs: parseDuration(text.slice(0, i)), target };
}

export interface LoadtestOptions {
  url: URL;
  method: string;
  path: string;
  headers: Record<string, string>;
  /** Secrets the command line itself holds (visible in ps): one warning for the caller to print, or undefined. */
  argvSecretWarning?: string;
  bodyFile?: string;
  data?: string;
  modelExamples?: string;
  bodyOrder: 'rotate' | 'random';
  durationMs?: number;
  maxRequests?: number;
  users: number;
  /** Users started per second; undefined = all at once. */
  spawnRate?: number;
  wait: WaitSpec;
  rate?: number;
  stages: Stage[];
  connections?: number;
  timeoutMs: number;
  lateToleranceMs: number;
  json: boolean;
  out?: string;
  html?: string;
  csv?: string;
  quiet: boolean;
  label?: string;
  thresholds: Threshold[];
  findCapacity: boolean;
  slo: Threshold[];
  maxErrorRate: number;
  startRate: number;
  maxRate: number;
  stepDurationMs: number;
  precision: number;
}

export const RUN_OPTIONS = {
  duration: { type: 'string', short: 'd' },
  requests: { type: 'string', short: 'n' },
  body: { type: 'string', short: 'b' },
  data: { type: 'string' },
  'model-examples': { type: 'string' },
  'body-order': { type: 'string' },
  method: { type: 'string', short: 'X' },
  path: { type: 'string' },
  header: { type: 'string', short: 'H', multiple: true },
  'header-env': { type: 'string' },
  users: { type: 'string', short: 'u' },
  'spawn-rate': { type: 'string', short: 'r' },
  wait: { type: 'string', short: 'w' },
  rate: { type: 'string' },
  stage: { type: 'string', multiple: true },
  connections: { type: 'string', short: 'c' },
  timeout: { type: 'string' },
  'late-tolerance': { type: 'string' },
  json: { type: 'boolean' },
  out: { type: 'string', short: 'o' },
  html: { type: 'string' },
  csv: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  label: { type: 'string' },
  threshold: { type: 'string', short: 't', multiple: true },
  'find-capacity': { type: 'boolean' },
  slo: { type: 'string', multiple: true },
  'max-error-rate': { type: 'string' },
  'start-rate': { type: 'string' },
  'max-rate': { type: 'string' },
  'step-duration': { type: 'string' },
  precision: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function posInt(v: string | undefined, name: string, dflt: number): number;
function posInt(v: string | undefined, name: string): number | undefined;
function posInt(v: string | undefined, name: string, dflt?: number): number | undefined {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${name} must be a positive integer (got '${v}')`);
  return n;
}

function posNum(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number (got '${v}')${name === 'rate' && n === 0 ? '; 0 is allowed only as the start of a ramp (--rate 0 --stage 1m:1000)' : ''}`);
  return n;
}

/** Parses an absolute http(s) URL; a bare host:port gets http://. */
export function parseUrl(text: string): URL {
  // Another scheme is refused by name: given http:// in front, ftp://h/p went to a host named 'ftp'.
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)?.[1];
  if (scheme !== undefined && !/^https?$/i.test(scheme)) throw new UsageError(`invalid URL '${text}': the scheme is ${scheme}://; the load tester speaks http:// and https://`);
  const withScheme = /^https?:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`invalid URL '${text}'`);
  }
  return url;
}

/** An HTTP token (RFC 9110 §5.6.2): a method or a header name. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What a header value may hold: visible Latin-1, spaces and tabs (a CR or LF would end the header). */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** What a request path may hold: visible ASCII (a space would end the request line). */
const REQUEST_TARGET = /^[\x21-\x7e]+$/;

function addHeader(headers: Record<string, string>, h: string, where?: string): void {
  const i = h.indexOf(':');
  // A line from a file or a variable is not echoed: it may be the secret with its name missing.
  if (i <= 0) throw new UsageError(where ? `invalid header in ${where}: use 'Name: value'` : `invalid header '${h}': use 'Name: value'`);
  const name = h.slice(0, i).trim();
  // Sent as given, a bad name or value broke every request, and each was counted as the server's failure.
  if (!TOKEN.test(name)) throw new UsageError(`invalid header name ${JSON.stringify(name)}${where ? ` in ${where}` : ''}: a name holds letters, digits and !#$%&'*+-.^_\`|~ only`);
  const value = h.slice(i + 1).trim();
  // The value is not echoed either (a secret).
  if (!FIELD_VALUE.test(value)) throw new UsageError(`the value of header '${name}'${where ? ` in ${where}` : ''} holds a control character (a line break, NUL …) or a character past Latin-1, which HTTP/1.1 cannot send`);
  headers[name.toLowerCase()] = value;
}

/** Headers one per line (a file's, a variable's); blank lines are skipped. */
function addHeaderLines(headers: Record<string, string>, text: string, source: string): void {
  text.split(/\r?\n/).forEach((line, n) => { if (line.trim() !== '') addHeader(headers, line, `${source}, line ${n + 1}`); });
}

/**
 * -H values in order (a later one wins): 'Name: value', or '@file' for a file of them, one per line
 * (as curl): a secret in a file stays out of argv, which every user of the machine sees in ps.
 */
export function parseHeaders(list: string[] | undefined, base: Record<string, string> = {}): Record<string, string> {
  const headers: Record<string, string> = { ...base };
  for (const h of list ?? []) {
    if (h.startsWith('@')) {
      const file = h.slice(1);
      const text = wrap(() => readTextOrSay(file, `-H @${file}`, 'is a folder; give a file of headers, one per line'));
      addHeaderLines(headers, text, `-H @${file}`);
    } else addHeader(headers, h);
  }
  return headers;
}

/** --header-env NAME: headers one per line in the variable NAME (a CI secret), not in argv. */
function headersFromEnv(name: string | undefined, env: NodeJS.ProcessEnv): Record<string, string> {
  const headers: Record<string, string> = {};
  if (name === undefined) return headers;
  if (!isEnvName(name)) throw new UsageError(`--header-env: ${NOT_AN_ENV_NAME} (give the NAME of the variable holding the headers)`);
  const text = env[name];
  if (text === undefined || text.trim() === '') throw new UsageError(`--header-env ${name}: the variable is ${text === undefined ? 'not set' : 'empty'}`);
  addHeaderLines(headers, text, `$${name}`);
  return headers;
}

/** Header names that carry credentials. */
const SECRET_HEADER = /^(proxy-)?authorization$|^cookie$|api[-_]?key|token|secret|password/i;

/** What of argv is a credential (names only, never values): said once, with the safer form. */
function argvSecretWarning(list: string[] | undefined, url: URL): string | undefined {
  const names = [...new Set((list ?? []).filter((h) => !h.startsWith('@') && SECRET_HEADER.test(h.slice(0, Math.max(0, h.indexOf(':'))).trim())).map((h) => h.slice(0, h.indexOf(':')).trim()))];
  const what = [...(names.length ? [`the ${names.join(', ')} header${names.length > 1 ? 's' : ''} given with -H`] : []), ...(url.username !== '' || url.password !== '' ? ['the credentials in the URL'] : [])];
  if (what.length === 0) return undefined;
  const basic = url.username !== '' || url.password !== '' ? " (URL credentials as 'Authorization: Basic <base64 of user:password>')" : '';
  return `warning: ${what.join(' and ')} can be read by every user of this machine (ps) and stay in the shell history; keep them off the command line: -H @file (a file of 'Name: value' lines) or --header-env NAME (a variable of them)${basic}`;
}

/** Parses the arguments of a load-test run (everything after `modelserve loadtest`). */
export function parseRunArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): LoadtestOptions {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: RUN_OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(parseArgsMessage(err, RUN_OPTIONS));
  }
  const v = parsed.values;
  if (parsed.positionals.length !== 1) throw new UsageError(parsed.positionals.length === 0 ? 'missing <url>' : `unexpected arguments: ${parsed.positionals.slice(1).join(' ')}`);
  const url = parseUrl(parsed.positionals[0]!);
  const hasBody = v.body !== undefined || v.data !== undefined || v['model-examples'] !== undefined;
  if ([v.body, v.data, v['model-examples']].filter((x) => x !== undefined).length > 1) throw new UsageError('use only one of --body, --data, --model-examples');
  const order = v['body-order'] ?? 'rotate';
  if (order !== 'rotate' && order !== 'random') throw new UsageError(`--body-order must be rotate or random (got '${order}')`);
  let path = v.path ?? (url.pathname + url.search);
  // A URL naming a folder (a server's root, or its prefix behind a proxy: http://h/prefix/) is the
  // base the model's predict route hangs under, as its examples do (fetchModelExamples).
  if (v.path === undefined && v['model-examples'] !== undefined && url.pathname.endsWith('/')) path = `${url.pathname}models/${encodeURIComponent(v['model-examples'])}/predict`;
  if (!path.startsWith('/')) path = `/${path}`;
  // Sent as given, a space or a control character broke every request line (each counted as the server's failure).
  if (!REQUEST_TARGET.test(path)) throw new UsageError(`--path ${JSON.stringify(path)}: a request path holds no spaces, control or non-ASCII characters; percent-encode them (a space is %20)`);
  const method = (v.method ?? (hasBody ? 'POST' : 'GET')).toUpperCase();
  if (!TOKEN.test(method)) throw new UsageError(`--method ${JSON.stringify(v.method)}: not an HTTP method (a method is one word, e.g. POST)`);
  if (method === 'CONNECT') throw new UsageError('--method CONNECT asks a proxy for a tunnel, not the server for an answer: give the method the model\'s route takes (POST, GET …)');
  const stages = (v.stage ?? []).map(parseStage);
  // A ramp may start from nothing (--rate 0 --stage 1m:1000); a constant rate of 0 sends nothing.
  const rate = stages.length > 0 && v.rate !== undefined && Number(v.rate) === 0 && v.rate.trim() !== '' ? 0 : posNum(v.rate, 'rate');
  const findCapacity = v['find-capacity'] === true;
  const thresholds = wrap(() => (v.threshold ?? []).map(parseThreshold));
  const slo = wrap(() => (v.slo ?? []).map(parseThreshold));
  if (findCapacity && slo.length === 0) throw new UsageError("--find-capacity needs --slo, e.g. --slo 'p99<50ms'");
  if (v.users !== undefined && (rate !== undefined || stages.length > 0)) throw new UsageError('--users (closed model) and --rate/--stage (open model) exclude each other');
  refuseUnused(v, findCapacity, rate !== undefined || stages.length > 0);
  // Only the open model schedules requests, so only it can send one late: elsewhere 'late' would pass on a 0 never measured.
  if (!findCapacity && rate === undefined && stages.length === 0 && thresholds.some((t) => t.metric === 'late')) {
    throw new UsageError(`--threshold ${thresholds.find((t) => t.metric === 'late')!.expr}: 'late' counts requests the open model (--rate/--stage) sent after their scheduled time; the closed model (--users) sends each when the last is answered, so none is ever late`);
  }
  let durationMs = v.duration !== undefined ? parseDuration(v.duration) : undefined;
  const maxRequests = posInt(v.requests, 'requests');
  if (stages.length > 0 && durationMs === undefined) durationMs = stages.reduce((s, x) => s + x.durationMs, 0);
  if (durationMs === undefined && maxRequests === undefined) durationMs = 10_000;
  const users = posInt(v.users, 'users', 1);
  const startRate = posNum(v['start-rate'], 'start-rate') ?? 50;
  const maxRate = posNum(v['max-rate'], 'max-rate') ?? 100_000;
  // A search whose ceiling is below its first step would run no step at all.
  if (findCapacity && maxRate < startRate) {
    throw new UsageError(`--max-rate (${maxRate}) is below --start-rate (${startRate}${v['start-rate'] === undefined ? ', the default' : ''}): the search could run no step; raise --max-rate or lower --start-rate`);
  }
  const connections = posInt(v.connections, 'connections');
  // Past the limit every connection opened is an EMFILE, which the run would count as the server's
  // failures: say it is this process's own limit before any request.
  const open = findCapacity || rate !== undefined || stages.length > 0;
  const sockets = open ? connections ?? DEFAULT_CONNECTIONS : users;
  const fileLimit = openFileLimit();
  if (fileLimit !== undefined && sockets + OTHER_FILES > fileLimit) {
    const asked = open ? `${connections === undefined ? 'the default of ' : ''}--connections ${sockets}` : `--users ${sockets}`;
    throw new UsageError(`${asked} needs ${sockets} connections, but this process may open only ${fileLimit} files (ulimit -n): raise the limit (ulimit -n ${sockets + OTHER_FILES}) or ask for fewer`);
  }
  // Inline -H headers win over --header-env's (the more specific, as a later -H wins over an earlier).
  const headers = parseHeaders(v.header, headersFromEnv(v['header-env'], env));
  const argvSecret = argvSecretWarning(v.header, url);
  // Credentials in the URL (http://user:pass@host/) are Basic auth, as curl sends them; they were
  // dropped without a word and every request was a 401. An explicit -H Authorization wins. The
  // URL keeps no credentials after this, so no report prints the password.
  if (url.username !== '' || url.password !== '') {
    headers.authorization ??= urlBasicAuthorization(url)!;
    url.username = '';
    url.password = '';
  }
  return {
    url,
    method,
    path,
    headers,
    argvSecretWarning: argvSecret,
    bodyFile: v.body,
    data: v.data,
    modelExamples: v['model-examples'],
    bodyOrder: order,
    durationMs,
    maxRequests,
    users,
    spawnRate: posNum(v['spawn-rate'], 'spawn-rate'),
    wait: v.wait !== undefined ? parseWait(v.wait) : { kind: 'constant', seconds: 0 },
    rate: rate ?? (stages.length > 0 ? 0 : undefined),
    stages,
    connections,
    timeoutMs: v.timeout !== undefined ? parseDuration(v.timeout) : 10_000,
    lateToleranceMs: v['late-tolerance'] !== undefined ? parseDuration(v['late-tolerance']) : 10,
    json: v.json === true,
    out: v.out,
    html: v.html,
    csv: v.csv,
    quiet: v.quiet === true,
    label: v.label,
    thresholds,
    findCapacity,
    slo,
    maxErrorRate: v['max-error-rate'] !== undefined ? parseRate(v['max-error-rate']) : 0.001,
    startRate,
    maxRate,
    stepDurationMs: v['step-duration'] !== undefined ? parseDuration(v['step-duration']) : 10_000,
    precision: v.precision !== undefined ? parseRate(v.precision) : 0.05,
  };
}

type Given = { readonly [K in keyof typeof RUN_OPTIONS]?: unknown };

/** Options the chosen kind of run would not use are refused: silently ignored, they would make a report claim what was not run (an SLO never checked, a wait never waited). */
function refuseUnused(v: Given, findCapacity: boolean, open: boolean): void {
  const given = (names: Array<keyof typeof RUN_OPTIONS>): string => names.filter((n) => v[n] !== undefined).map((n) => `--${n}`).join(', ');
  const capacityOnly = given(['slo', 'max-error-rate', 'start-rate', 'max-rate', 'step-duration', 'precision']);
  if (!findCapacity && capacityOnly) throw new UsageError(`${capacityOnly} ${capacityOnly.includes(',') ? 'apply' : 'applies'} only with --find-capacity (a pass/fail check of a run is --threshold, e.g. --threshold 'p99<50ms')`);
  if (findCapacity) {
    const notHere = given(['users', 'spawn-rate', 'wait', 'rate', 'stage', 'duration', 'requests']);
    if (notHere) throw new UsageError(`--find-capacity runs its own open-model steps (from --start-rate up to --max-rate, each --step-duration long): ${notHere} ${notHere.includes(',') ? 'do' : 'does'} not apply`);
    return;
  }
  const closedOnly = given(['spawn-rate', 'wait']);
  if (open && closedOnly) throw new UsageError(`${closedOnly} ${closedOnly.includes(',') ? 'are' : 'is'} for the closed model (--users); the open model (--rate/--stage) sends on schedule`);
  const openOnly = given(['connections', 'late-tolerance']);
  if (!open && openOnly) throw new UsageError(`${openOnly} ${openOnly.includes(',') ? 'are' : 'is'} for the open model (--rate/--stage) and --find-capacity; the closed model has one connection per user (--users)`);
}

function wrap<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}
