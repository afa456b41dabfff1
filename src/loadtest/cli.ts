// `modelserve loadtest`: the entry point. Sub-commands: (run) <url>, `compare a.json b.json`,
// `measure <url>`. Exit codes: 0 ok, 1 run error (cannot connect, no response at all), 2 bad
// arguments, 3 a threshold (or the capacity SLO) failed.
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { DEFAULT_CONNECTIONS, UsageError, parseRunArgs, waitToString, type LoadtestOptions } from './args.js';
import { fetchModelExamples, inlineBody, loadBodyFile, type BodySet } from './bodies.js';
import { probe, speaksTls, type Target } from './client.js';
import { findCapacity, measuredCapacity } from './capacity.js';
import { formatComparison, runLabel } from './compare.js';
import { formatMeasure } from './measure.js';
import { LiveWriter, capacitySummary, summary } from './reporters/console.js';
import { writeCsv } from './reporters/csv.js';
import { writeHtml } from './reporters/html.js';
import { readResult, toJson, writeJson } from './reporters/json.js';
import { runLoad, type RunSpec } from './runner.js';
import { evaluate, fmtRate, fmtRps } from './thresholds.js';
import type { RunResult } from './types.js';

export const EXIT_OK = 0;
export const EXIT_RUN_ERROR = 1;
export const EXIT_USAGE = 2;
export const EXIT_THRESHOLD = 3;

export const HELP = `Usage:
  modelserve loadtest <url> [options]              load-test a service
  modelserve loadtest measure <url> [-n 100] [...] N sequential requests: median, p95, max
  modelserve loadtest compare <a.json> <b.json>    two saved runs side by side

<url> is the full request URL (e.g. http://127.0.0.1:8000/predict); a bare host:port gets http://.

Requests
  -X, --method <M>           HTTP method (default POST with a body, else GET)
      --path <p>             request path (overrides the URL's path)
  -H, --header 'N: v'        extra header, repeatable (Content-Type defaults to application/json with a body);
                             -H @file reads headers from a file, one per line (keeps a key out of ps)
      --header-env <NAME>    headers from the environment variable NAME, one per line (-H wins)
  -b, --body <file>          request bodies: .json (an array = many bodies), .jsonl/.ndjson (one per line),
                             .csv (a header row; every row becomes an object, numbers stay numbers)
      --data <json>          one inline body
      --model-examples <m>   bodies from GET <url's folder>/models/<m> (each field's "example", or "examples");
                             the path defaults to <url's folder>/models/<m>/predict when the URL ends with /
      --body-order <o>       rotate (default) or random
      --timeout <t>          per-request timeout (default 10s); a timeout counts as a failure

Bounds (every run stops: at the duration, after the request count, whichever comes first; default 10s;
Ctrl-C stops early and still reports)
  -d, --duration <t>         e.g. 500ms, 30s, 2m
  -n, --requests <N>         total requests

Closed model (Locust's): users that each send, wait for the answer, then wait
  -u, --users <N>            concurrent users (default 1); one keep-alive connection each
  -r, --spawn-rate <x>       users started per second (default: all at once)
  -w, --wait <f>             wait after each request: constant(s), between(a,b),
                             constant_throughput(x) (x tasks/s per user), constant_pacing(s) (default constant(0))

Open model (k6 arrival rate, wrk2 latency): requests are sent on schedule whether or not earlier ones
finished; latency is measured from each request's intended send time (no coordinated omission)
      --rate <R>             arrival rate, req/s (the start rate when stages follow)
      --stage <t>:<R>        ramp linearly to R req/s over t; repeatable (duration defaults to the stages' sum)
  -c, --connections <N>      max connections / requests in flight (default 256); past it, requests queue
                             with their clock running
      --late-tolerance <t>   a request dispatched later than this after its intended time counts as late (default 10ms)

Capacity search
      --find-capacity        step the arrival rate up (doubling) until the SLO breaks, then bisect
      --slo <expr>           the latency target, repeatable, e.g. 'p99<50ms'
      --max-error-rate <r>   error budget per step (default 0.1%)
      --start-rate <R>       first step (default 50 req/s)
      --max-rate <R>         highest rate tried (default 100000; not below --start-rate)
      --step-duration <t>    length of each step (default 10s)
      --precision <r>        stop bisecting when the bracket is within this fraction (default 5%)

Pass/fail
  -t, --threshold <expr>     repeatable: p50|p90|p95|p99|p99.9|max|min|mean <op> <time>, errors <op> <N%|fraction>,
                             rps <op> <N>, failures <op> <N>, late <op> <N>; op is <, <=, >, >=
                             e.g. --threshold 'p95<100ms' --threshold 'errors<1%'

Output
      --json                 print the result as JSON on stdout (the summary goes to stderr)
  -o, --out <file>           also save the JSON result (input for 'compare')
      --html <file>          self-contained HTML report with charts (opens offline)
      --csv <prefix>         Locust-compatible <prefix>_stats.csv, _stats_history.csv, _failures.csv, _exceptions.csv
      --label <name>         a name for this run (shown by 'compare')
  -q, --quiet                no live progress line
  -h, --help                 this help

Exit codes
  0  the run completed (and every threshold passed)
  1  run error: cannot connect, or no request got any response
  2  bad arguments or unreadable body file
  3  a threshold failed (or --find-capacity found no rate meeting the SLO among the steps it finished)
`;

async function loadBodies(o: LoadtestOptions): Promise<BodySet | null> {
  if (o.bodyFile !== undefined) return loadBodyFile(o.bodyFile);
  if (o.data !== undefined) return inlineBody(o.data, o.headers['content-type']);
  return null;
}

function target(o: LoadtestOptions, bodies: BodySet | null): Target {
  const headers = { ...o.headers };
  if (bodies && headers['content-type'] === undefined) headers['content-type'] = bodies.contentType;
  return { origin: o.url.origin, method: o.method, path: o.path, headers, timeoutMs: o.timeoutMs };
}

function err(msg: string): void {
  process.stderr.write(`modelserve loadtest: ${msg}\n`);
}

/**
 * Why no request got an answer, when the error kinds say it: an untrusted certificate, or a URL
 * whose scheme does not match what the server speaks on that port (a TLS handshake answered by a
 * plain-HTTP server fails with a "wrong version number"; a plain request to a TLS server is closed
 * unanswered by Node's servers).
 */
async function noAnswerHint(kinds: string[], url: URL): Promise<string> {
  if (kinds.some((k) => /^tls:.*CERT/.test(k))) return '; the server\'s TLS certificate is not trusted here: add its CA with NODE_EXTRA_CA_CERTS=<ca.pem>';
  if (url.protocol === 'https:' && kinds.some((k) => /^tls:ERR_SSL_(WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|HTTP_REQUEST)$/.test(k))) {
    return `; the server on ${url.host} does not speak TLS: try http://${url.host}${url.pathname}${url.search}`;
  }
  // Closed connections alone do not say TLS (a server may cut its answers off mid-body): ask it for a handshake.
  if (url.protocol === 'http:' && kinds.length === 1 && kinds[0] === 'socket' && await speaksTls(url, 2000)) {
    return `; the server on ${url.host} speaks TLS: try https://${url.host}${url.pathname}${url.search}`;
  }
  return '';
}

/** Prints and writes every requested output; returns the exit code from thresholds. */
async function emit(o: LoadtestOptions, r: RunResult, text: string): Promise<number> {
  const out = o.json ? process.stderr : process.stdout;
  out.write(`${text}\n`);
  if (o.json) process.stdout.write(toJson(r));
  // Each report on its own: one that cannot be written (a full disk) does not lose the others.
  let unwritten = false;
  const write = (flag: string, path: string, f: () => void) => {
    try {
      f();
    } catch (e) {
      unwritten = true;
      err(`${flag}: cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  if (o.out) write('--out', o.out, () => writeJson(o.out!, r));
  if (o.html) write('--html', o.html, () => { writeHtml(o.html!, r); out.write(`HTML report: ${o.html}\n`); });
  if (o.csv) write('--csv', o.csv, () => { const files = writeCsv(o.csv!, r); out.write(`CSV: ${files.join(', ')}\n`); });
  if (unwritten) return EXIT_RUN_ERROR;
  if (r.requests > 0 && Object.values(r.statusCounts).reduce((s, n) => s + n, 0) === 0) {
    const kinds = Object.keys(r.errorKinds);
    const hint = await noAnswerHint(kinds, o.url);
    err(`no request got a response (${Object.entries(r.errorKinds).map(([k, n]) => `${k} ×${n}`).join(', ')})${hint}`);
    return EXIT_RUN_ERROR;
  }
  if (r.thresholds?.some((t) => !t.ok)) return EXIT_THRESHOLD;
  // No rate met the SLO among the steps judged (a measured 0); a search interrupted before any step
  // finished measured nothing (null) and exits as an interrupted run.
  if (r.capacity && measuredCapacity(r.capacity) === 0) return EXIT_THRESHOLD;
  return EXIT_OK;
}

async function prepare(o: LoadtestOptions): Promise<{ bodies: BodySet | null } | number> {
  let bodies: BodySet | null;
  try {
    bodies = await loadBodies(o);
  } catch (e) {
    err((e as Error).message);
    return EXIT_USAGE;
  }
  try {
    await probe(o.url.origin, Math.min(o.timeoutMs, 5000));
  } catch (e) {
    err(`cannot connect to ${o.url.origin}: ${(e as Error).message}`);
    return EXIT_RUN_ERROR;
  }
  if (o.modelExamples !== undefined) {
    try {
      bodies = await fetchModelExamples(o.url, o.modelExamples, o.headers, o.timeoutMs);
    } catch (e) {
      err((e as Error).message);
      return EXIT_RUN_ERROR;
    }
  }
  return { bodies };
}

function baseSpec(o: LoadtestOptions, bodies: BodySet | null): Omit<RunSpec, 'closed' | 'open'> {
  return {
    target: target(o, bodies),
    bodies: bodies?.bodies ?? null,
    bodyOrder: o.bodyOrder,
    bodySource: bodies?.source ?? 'none',
    durationMs: o.durationMs,
    maxRequests: o.maxRequests,
    label: o.label,
  };
}

/** Refuses, before any load is sent, a report path whose folder is missing or not writable (else the run's results would be lost at its end). */
function checkOutputs(o: LoadtestOptions): void {
  const taken = new Map<string, string>();
  for (const [flag, path] of [['--out', o.out], ['--html', o.html], ['--csv', o.csv]] as const) {
    if (path === undefined) continue;
    // Two reports into one file: the last written would replace the other without a word.
    const other = taken.get(resolve(path));
    if (other !== undefined) throw new UsageError(`${other} and ${flag} name the same file (${path}): give each report its own`);
    taken.set(resolve(path), flag);
    const folder = dirname(resolve(path));
    try {
      accessSync(folder, constants.W_OK);
    } catch (e) {
      throw new UsageError(`${flag} ${path}: the folder ${folder} ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'is not writable'}`);
    }
    if (flag !== '--csv' && existsSync(path) && statSync(path).isDirectory()) throw new UsageError(`${flag} ${path}: is a folder; give a file name`);
  }
}

/** Parses the run options (plus a command's own check), loads the bodies: the options and the base spec, or an exit code. */
async function setUp(argv: string[], check?: (o: LoadtestOptions) => void): Promise<{ o: LoadtestOptions; base: Omit<RunSpec, 'closed' | 'open'> } | number> {
  let o: LoadtestOptions;
  try {
    o = parseRunArgs(argv);
    check?.(o);
    checkOutputs(o);
  } catch (e) {
    err(`${(e as Error).message}\nRun 'modelserve loadtest --help' for the options.`);
    return EXIT_USAGE;
  }
  if (o.argvSecretWarning !== undefined) err(o.argvSecretWarning);
  const prep = await prepare(o);
  if (typeof prep === 'number') return prep;
  return { o, base: baseSpec(o, prep.bodies) };
}

/** Runs `work` with Ctrl-C ending it early (it still reports what it did); a second Ctrl-C exits at once. */
async function untilCtrlC<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onSigint = (): void => {
    if (ac.signal.aborted) process.exit(130);
    process.stderr.write('\nstopping (Ctrl-C again to quit at once)…\n');
    ac.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    return await work(ac.signal);
  } finally {
    process.off('SIGINT', onSigint);
  }
}

async function runCommand(argv: string[]): Promise<number> {
  const setup = await setUp(argv);
  if (typeof setup === 'number') return setup;
  const { o, base } = setup;
  const live = !o.quiet;
  const connections = o.connections ?? DEFAULT_CONNECTIONS;

  if (o.findCapacity) {
    const search = await untilCtrlC((signal) => findCapacity({
      slo: o.slo, maxErrorRate: o.maxErrorRate, startRate: o.startRate, maxRate: o.maxRate, precision: o.precision, signal,
      step: async (rate, retry) => {
        if (live) process.stderr.write(retry ? 'the load generator itself fell behind; once more … ' : `step: ${fmtRate(rate)} req/s for ${(o.stepDurationMs / 1000).toFixed(0)} s … `);
        const r = await runLoad({ ...base, durationMs: o.stepDurationMs, maxRequests: undefined, signal, open: { rate, stages: [], connections, lateToleranceMs: o.lateToleranceMs } });
        if (!signal.aborted) await new Promise((res) => setTimeout(res, 500));
        return r;
      },
      onStep: (s) => { if (live) process.stderr.write(`${s.ok ? 'meets SLO' : `fails (${s.reason})`}: p99 ${s.p99.toFixed(2)} ms, ${fmtRps(s.achievedRps)} req/s\n`); },
    }));
    const { capacity, best, last } = search;
    const r = best ?? last;
    r.capacity = capacity;
    if (o.thresholds.length) r.thresholds = evaluate(o.thresholds, r);
    const which = best ? 'the capacity rate' : capacity.steps.length ? 'the last rate tried' : 'the first rate, cut short by Ctrl-C (not judged)';
    return emit(o, r, `${capacitySummary(r)}\n\nthe run at ${which}:\n${summary({ ...r, capacity: undefined })}`);
  }

  const model = o.rate !== undefined ? 'open' : 'closed';
  const writer = live ? new LiveWriter(process.stderr, model) : null;
  const spec: RunSpec = {
    ...base,
    onTick: writer ? (p, s) => writer.update(p, s) : undefined,
    ...(model === 'open'
      ? { open: { rate: o.rate!, stages: o.stages, connections, lateToleranceMs: o.lateToleranceMs } }
      : { closed: { users: o.users, spawnRate: o.spawnRate, wait: o.wait, waitText: waitToString(o.wait) } }),
  };
  const r = await untilCtrlC((signal) => runLoad({ ...spec, signal }));
  writer?.finish();
  if (o.thresholds.length) r.thresholds = evaluate(o.thresholds, r);
  return emit(o, r, summary(r));
}

async function measureCommand(argv: string[]): Promise<number> {
  // Same options as a run, with -n defaulting to 100 and one sequential user.
  const args = [...argv];
  if (!args.some((a) => a === '-n' || a === '--requests' || a.startsWith('--requests='))) args.push('-n', '100');
  const setup = await setUp(args, (o) => {
    if (o.rate !== undefined || o.users !== 1 || o.spawnRate !== undefined || o.findCapacity) throw new UsageError('measure sends one request at a time: --users, --spawn-rate, --rate, --stage and --find-capacity do not apply');
  });
  if (typeof setup === 'number') return setup;
  const { o, base } = setup;
  // Bounded by the count (each request by the timeout), and by --duration when given.
  const r = await untilCtrlC((signal) => runLoad({ ...base, durationMs: o.durationMs, keepSamples: true, signal, closed: { users: 1, wait: o.wait, waitText: waitToString(o.wait), sequential: true } }));
  if (o.thresholds.length) r.thresholds = evaluate(o.thresholds, r);
  return emit(o, r, formatMeasure(r) + (r.thresholds?.length ? `\n${r.thresholds.map((t) => `${t.ok ? 'PASS' : 'FAIL'}  ${t.expr}`).join('\n')}` : ''));
}

async function compareCommand(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const files = argv.filter((a) => a !== '--json');
  if (files.length !== 2 || files.some((f) => f.startsWith('-'))) {
    err('usage: modelserve loadtest compare <a.json> <b.json> [--json]');
    return EXIT_USAGE;
  }
  let a: RunResult, b: RunResult;
  try {
    a = readResult(files[0]!);
    b = readResult(files[1]!);
  } catch (e) {
    err((e as Error).message);
    return EXIT_USAGE;
  }
  const la = runLabel(a, files[0]!), lb0 = runLabel(b, files[1]!);
  const lb = lb0 === la ? `${lb0} (${basename(files[1]!)})` : lb0;
  if (json) {
    const { compareRuns } = await import('./compare.js');
    process.stdout.write(`${JSON.stringify({ a: la, b: lb, rows: compareRuns(a, b) }, null, 2)}\n`);
  } else process.stdout.write(`${formatComparison(a, b, la, lb)}\n`);
  return EXIT_OK;
}

export const MEASURE_HELP = `Usage: modelserve loadtest measure <url> [-n 100] [options]

Sends N requests one after another on one keep-alive connection (the article's measuring script), then
prints the exact median, p95 (numpy's linear interpolation, as np.percentile) and max.

  -n, --requests <N>         how many requests (default 100)
  -d, --duration <t>         stop earlier after this long
  -b, --body <file>, --data <json>, --model-examples <m>, -H 'N: v' or @file, --header-env, -X, --path, --timeout
                             the request, as for a load-test run (see 'modelserve loadtest --help')
  -w, --wait <f>             wait between requests, e.g. constant(0.1)
  -t, --threshold <expr>     pass/fail, e.g. 'p95<50ms' (exit 3 when one fails)
      --json, -o/--out <file>, --html <file>, --csv <prefix>, --label <name>
                             outputs, as for a run
  -h, --help                 this help

--users, --spawn-rate, --rate, --stage and --find-capacity do not apply: measure sends one request at a time.
`;

export const COMPARE_HELP = `Usage: modelserve loadtest compare <a.json> <b.json> [--json]

Puts two saved results (written with --out or --json) side by side: for each metric (req/s, error rate,
latency percentiles) A, B, the difference, the change in %, and whether B is better or worse. The runs
are named by their --label, else by their file names. Two capacity searches also get a capacity row;
a capacity a search did not measure (it finished no step) shows as 'not measured' and is not compared.

      --json                 the comparison as JSON
  -h, --help                 this help

Exit codes: 0 compared (also when the capacity could not be), 2 bad arguments or a file that is not a saved result.
`;

export async function run(argv: string[]): Promise<number> {
  const wantsHelp = argv.includes('--help') || argv.includes('-h');
  if (argv[0] === 'measure' && wantsHelp) { process.stdout.write(MEASURE_HELP); return EXIT_OK; }
  if (argv[0] === 'compare' && wantsHelp) { process.stdout.write(COMPARE_HELP); return EXIT_OK; }
  if (argv.length === 0 || wantsHelp || argv[0] === 'help') {
    process.stdout.write(HELP);
    return argv.length === 0 ? EXIT_USAGE : EXIT_OK;
  }
  try {
    if (argv[0] === 'compare') return await compareCommand(argv.slice(1));
    if (argv[0] === 'measure') return await measureCommand(argv.slice(1));
    return await runCommand(argv);
  } catch (e) {
    err(`run failed: ${(e as Error).stack ?? e}`);
    return EXIT_RUN_ERROR;
  }
}
