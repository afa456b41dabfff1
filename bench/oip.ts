// The Open Inference Protocol's cost: rows/s of the book model at batch 64 over OIP binary REST and
// over gRPC raw contents vs JSON rows, against the compute ceiling measured in the same run; and
// single-row requests/s over gRPC vs JSON REST (and OIP JSON REST), in several rounds.
// The server is a separate `modelserve serve` process (default workers). Every case's client runs
// in its own process (bench/oip-client.ts: undici for REST, @grpc/grpc-js for gRPC, the same
// driver loop), so no client shares a JS thread with the server; a Python grpcio client (gRPC's
// C core) is measured beside it when Debian's python3-grpcio is there. The server's own CPU time per
// request (from /proc) is reported too: it is what the protocol costs the server, whatever the client.
//   node dist/bench/oip.js [--seconds 3] [--concurrency 8] [--rounds 3] [--rate 1200] [--no-write]
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { computeCeilings } from './compute.js';
import type { ClientCase } from './oip-client.js';
import { CLI, ROOT, freePort, numberArg, startProc, waitForOutput } from './procs.js';
import { machineLine, writeSection, median } from './report.js';
import { hasWrk, runWrk } from './http-bench.js';
import { startGrpcStreamLimit, startNodeHttp2Limit, startNodeHttpLimit, type Server } from './peers.js';
import { bookRows, tempDir, writeBookModelFolder } from '../test/helpers/paths.js';
import { generatePythonStubs } from '../test/helpers/oip.js';

const PYTHON = '/usr/bin/python3';

// gRPC's C core through grpc.aio: `concurrency` calls in flight on one channel, the same loop.
const PYTHON_CLIENT = `
import asyncio, json, struct, sys, time, resource
import grpc
import grpc_service_pb2 as pb, grpc_service_pb2_grpc as rpc
fields = ["temp_c", "humidity", "wind_speed_kmph", "wind_bearing_degree", "visibility_km", "pressure_millibars", "current_weather_condition"]
address, row, seconds, concurrency = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
req = pb.ModelInferRequest(model_name="book-weather")
for f in fields:
    req.inputs.add(name=f, datatype="FP64", shape=[1, 1])
    req.raw_input_contents.append(struct.pack("<d", row[f]))
async def main():
    async with grpc.aio.insecure_channel(address) as channel:
        infer = rpc.GRPCInferenceServiceStub(channel).ModelInfer
        async def run(s):
            end = time.perf_counter() + s
            done = 0
            async def loop():
                nonlocal done
                while time.perf_counter() < end:
                    await infer(req)
                    done += 1
            await asyncio.gather(*[loop() for _ in range(concurrency)])
            return done
        warmup = await run(min(1.0, seconds * 0.3))
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        requests = await run(seconds)
        elapsed = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        print(json.dumps({"case": "grpc1-python", "warmup": warmup, "requests": requests, "seconds": elapsed, "cpuSeconds": cpu}))
asyncio.run(main())
`;

interface ClientResult { case: string; warmup: number; requests: number; seconds: number; cpuSeconds: number }
interface Measured { label: string; rows: number; reqPerS: number; serverCpuUs: number; mainThreadUs: number; clientCpuUs: number; rowsPerRun?: number }

/** CPU seconds of this process's waited-for children (cutime + cstime): a finished load generator's own CPU. */
function childrenCpuSeconds(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

const hasH2load = (): boolean => spawnSync('h2load', ['--version'], { stdio: 'ignore' }).status === 0;

/** A wrk script sending one request read from files (the body may be binary). */
function wrkScript(dir: string, name: string): string {
  const { headers } = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as { headers: Record<string, string> };
  const lua = [
    `local f = io.open(${JSON.stringify(join(dir, `${name}.body`))}, "rb")`,
    'wrk.body = f:read("*a")',
    'f:close()',
    'wrk.method = "POST"',
    ...Object.entries(headers).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`),
  ].join('\n');
  const file = join(dir, `${name}.lua`);
  writeFileSync(file, `${lua}\n`);
  return file;
}

/** h2load's completed and failed requests and its req/s. */
function parseH2load(out: string): { done: number; failed: number; cancelled: number; rps: number } {
  const m = /requests: \d+ total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(out);
  const rps = /finished in [\d.]+s, ([\d.]+) req\/s/.exec(out);
  if (!m || !rps) throw new Error(`cannot parse h2load output:\n${out}`);
  // Started but not done: the streams in flight when -D's duration ended, which h2load resets.
  return { done: Number(m[2]), failed: Number(m[4]) + Number(m[5]), cancelled: Number(m[1]) - Number(m[2]), rps: Number(rps[1]) };
}

/** utime + stime in seconds of a process (all its threads) or, with `thread`, of one of its threads. */
function cpuSeconds(pid: number, thread?: number): number {
  const fields = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ
}

export async function main(argv: string[]): Promise<number> {
  const seconds = numberArg(argv, '--seconds', 3);
  const concurrency = numberArg(argv, '--concurrency', 8);
  const rounds = numberArg(argv, '--rounds', 3);
  const rate = numberArg(argv, '--rate', 1200);
  const batch = 64;
  const rows = bookRows(batch);
  const dir = writeBookModelFolder(tempDir('modelserve-bench-oip-'));
  const loadAtStart = loadavg()[0]!;
  const [ceiling] = await computeCeilings([{ label: 'book', modelDir: dir, bodies: rows, optimize: true }], seconds, 1, batch);

  const port = await freePort();
  const grpcPort = await freePort();
  const server = startProc(process.execPath, [CLI, 'serve', dir, '--port', String(port), '--grpc-port', String(grpcPort), '--log-level', 'warn']);
  await waitForOutput(server, /serving/);
  const python = existsSync(PYTHON) ? (() => {
    try {
      const stubs = generatePythonStubs();
      writeFileSync(join(stubs, 'client.py'), PYTHON_CLIENT);
      return stubs;
    } catch { return undefined; }
  })() : undefined;

  const measure = async (label: string, rowsPerRequest: number, command: [string, string[], { cwd?: string }]): Promise<Measured> => {
    const stats0 = await statistics();
    const cpu0 = cpuSeconds(server.pid);
    const main0 = cpuSeconds(server.pid, server.pid);
    const { stdout } = await promisify(execFile)(command[0], command[1], { ...command[2], encoding: 'utf8', timeout: (seconds + 30) * 1000 });
    const serverCpu = cpuSeconds(server.pid) - cpu0;
    const mainCpu = cpuSeconds(server.pid, server.pid) - main0;
    const r = JSON.parse(stdout.trim().split('\n').pop()!) as ClientResult;
    const served = r.warmup + r.requests;
    const stats1 = await statistics();
    const m = { label, rows: rowsPerRequest, reqPerS: r.requests / r.seconds, serverCpuUs: (serverCpu / served) * 1e6, mainThreadUs: (mainCpu / served) * 1e6, clientCpuUs: (r.cpuSeconds / r.requests) * 1e6, rowsPerRun: (stats1.rows - stats0.rows) / (stats1.runs - stats0.runs) };
    console.error(`oip: ${label}: ${m.reqPerS.toFixed(0)} req/s; CPU µs/request: server ${m.serverCpuUs.toFixed(0)} (main thread ${m.mainThreadUs.toFixed(0)}), client ${m.clientCpuUs.toFixed(0)}`);
    return m;
  };
  const node = (which: ClientCase, rate = 0, grpcTo = grpcPort): [string, string[], { cwd?: string }] =>
    [process.execPath, [join(ROOT, 'dist', 'bench', 'oip-client.js'), '--case', which, '--port', String(port), '--grpc-port', String(grpcTo), '--seconds', String(seconds), '--concurrency', String(concurrency), '--rate', String(rate)], {}];

  // The same requests from C load generators (wrk for REST, h2load for gRPC over one HTTP/2
  // connection): a few µs of client CPU per request instead of a JS or Python client's hundreds,
  // so the server gets the cores (the figures the targets are read from, when both tools are here).
  const bodies = tempDir('modelserve-bench-oip-bodies-');
  await promisify(execFile)(process.execPath, [join(ROOT, 'dist', 'bench', 'oip-client.js'), '--write-bodies', bodies]);
  const cClients = hasWrk() && hasH2load();
  /** The server's statistics: failed requests, and rows (inference_count) and model runs (execution_count), for the rows per run. */
  const statistics = async (): Promise<{ failures: number; rows: number; runs: number }> => {
    const res = await fetch(`http://127.0.0.1:${port}/v2/models/book-weather/stats`);
    const body = await res.json() as { model_stats: Array<{ inference_count: number; execution_count: number; inference_stats: { fail: { count: number } } }> };
    const sum = (f: (m: (typeof body.model_stats)[number]) => number) => body.model_stats.reduce((n, m) => n + Number(f(m)), 0);
    return { failures: sum((m) => m.inference_stats.fail.count), rows: sum((m) => m.inference_count), runs: sum((m) => m.execution_count) };
  };
  // `ports` points a case at another server (the bare node:http and node:http2 limits).
  const generate = async (which: ClientCase, secs: number, ports = { http: port, grpc: grpcPort }): Promise<{ requests: number; rps: number; errors: number; cancelled: number }> => {
    if (which.startsWith('grpc')) {
      const args = ['-c1', `-m${concurrency}`, '-D', String(secs), '-H', 'content-type: application/grpc', '-H', 'te: trailers', '-d', join(bodies, `${which}.body`), `http://127.0.0.1:${ports.grpc}/inference.GRPCInferenceService/ModelInfer`];
      const { stdout } = await promisify(execFile)('h2load', args, { encoding: 'utf8', timeout: (secs + 30) * 1000 });
      const r = parseH2load(stdout);
      return { requests: r.done, rps: r.rps, errors: r.failed, cancelled: r.cancelled };
    }
    const { path } = JSON.parse(readFileSync(join(bodies, `${which}.json`), 'utf8')) as { path: string };
    const r = await runWrk(`http://127.0.0.1:${ports.http}${path}`, wrkScript(bodies, which), concurrency, secs);
    // wrk closes its connections when its duration ends, with up to one request in flight on each.
    return { requests: r.requests, rps: r.rps, errors: r.errors, cancelled: concurrency };
  };
  /** A bare Node server's requests/s under the same load generator and request as a modelserve case. */
  const measureLimit = async (label: string, which: 'json1' | 'grpc1', limit: Server): Promise<Measured> => {
    const ports = { http: Number(new URL(limit.base).port), grpc: Number(new URL(limit.base).port) };
    await generate(which, 1, ports); // warm-up, not counted
    const r = await generate(which, seconds, ports);
    if (r.errors > 0) throw new Error(`${label}: ${r.errors} requests failed`);
    console.error(`oip: ${label}: ${r.rps.toFixed(0)} req/s`);
    return { label, rows: 1, reqPerS: r.rps, serverCpuUs: NaN, mainThreadUs: NaN, clientCpuUs: NaN };
  };
  const measureC = async (label: string, rowsPerRequest: number, which: ClientCase): Promise<Measured> => {
    await generate(which, 1); // warm-up, not counted
    const stats0 = await statistics();
    const cpu0 = cpuSeconds(server.pid);
    const main0 = cpuSeconds(server.pid, server.pid);
    const client0 = childrenCpuSeconds();
    const r = await generate(which, seconds);
    const serverCpu = cpuSeconds(server.pid) - cpu0;
    const mainCpu = cpuSeconds(server.pid, server.pid) - main0;
    const clientCpu = childrenCpuSeconds() - client0;
    // gRPC errors travel in trailers under HTTP 200: the server's own failure count says.
    const stats1 = await statistics();
    // A request whose client went away while it was still queued is a failure in the statistics:
    // at most the requests in flight when the load generator stopped, which are not errors.
    const errors = r.errors + Math.max(0, stats1.failures - stats0.failures - r.cancelled);
    if (errors > 0) throw new Error(`${label}: ${errors} requests failed`);
    const m = { label, rows: rowsPerRequest, reqPerS: r.rps, serverCpuUs: (serverCpu / r.requests) * 1e6, mainThreadUs: (mainCpu / r.requests) * 1e6, clientCpuUs: (clientCpu / r.requests) * 1e6, rowsPerRun: (stats1.rows - stats0.rows) / (stats1.runs - stats0.runs) };
    console.error(`oip: ${label}: ${m.reqPerS.toFixed(0)} req/s; CPU µs/request: server ${m.serverCpuUs.toFixed(0)} (main thread ${m.mainThreadUs.toFixed(0)}), client ${m.clientCpuUs.toFixed(0)}`);
    return m;
  };

  try {
    // Batched, in rounds, each case against the compute ceilings measured just before and just
    // after it (the next case's "before"; one more after the last), their mean: the machine's speed
    // drifts within minutes (a ceiling taken for three cases was up to 10 s old by the last, and two
    // ceilings 5 s apart differed by 1.5×), and bracketing cancels a drift's first-order share of
    // it. The target is read at the minimum over the rounds.
    const batchedC: Array<{ ceilings: number[]; cases: Measured[] }> = [];
    let closingCeiling: number | undefined;
    const batchedCases: Array<[string, ClientCase]> = [
      [`JSON rows (POST /predict, ${batch} rows), wrk`, 'json64'],
      [`OIP REST, binary tensors (${batch} rows), wrk`, 'binary64'],
      [`OIP gRPC, raw contents (${batch} rows), h2load`, 'grpc64'],
    ];
    for (let round = 0; cClients && round < rounds; round++) {
      const r: (typeof batchedC)[number] = { ceilings: [], cases: [] };
      for (const [label, which] of batchedCases) {
        const [c] = await computeCeilings([{ label: 'book', modelDir: dir, bodies: rows, optimize: true }], seconds, 1, batch);
        r.ceilings.push(c!.rowsPerS);
        r.cases.push(await measureC(label, batch, which));
      }
      batchedC.push(r);
    }
    if (batchedC.length > 0) closingCeiling = (await computeCeilings([{ label: 'book', modelDir: dir, bodies: rows, optimize: true }], seconds, 1, batch))[0]!.rowsPerS;
    /** The ceiling a round's case is read against: the mean of the ones just before and just after it. */
    const bracket = (round: number, k: number): number => {
      const before = batchedC[round]!.ceilings[k]!;
      const after = batchedC[round]!.ceilings[k + 1] ?? batchedC[round + 1]?.ceilings[0] ?? closingCeiling!;
      return (before + after) / 2;
    };
    // Single row: JSON REST (wrk), gRPC unary (h2load) and Triton's streaming RPC (a lean node:http2
    // client: no C load generator speaks gRPC streams), beside the bare node:http and node:http2
    // limits under the same generators — what Node's own HTTP stacks cost per request here.
    const singleC: Array<{ json: Measured; grpc: Measured; stream: Measured; httpLimit: Measured; http2Limit: Measured; streamLimit: Measured }> = [];
    const limits = cClients ? [await startNodeHttpLimit(), await startNodeHttp2Limit(), await startGrpcStreamLimit()] as const : undefined;
    try {
      for (let round = 0; limits && round < rounds; round++) {
        const m: Partial<(typeof singleC)[number]> = {};
        // Alternate the order so that neither side always runs first on a machine whose load drifts.
        const steps: Array<() => Promise<void>> = [
          async () => { m.json = await measureC('JSON REST (POST /predict), 1 row, wrk', 1, 'json1'); },
          async () => { m.grpc = await measureC('OIP gRPC ModelInfer, raw contents, 1 row, h2load', 1, 'grpc1'); },
          async () => { m.stream = await measure('OIP gRPC ModelStreamInfer, raw contents, 1 row per message (lean node:http2 client)', 1, node('grpcstream1')); },
          async () => { m.httpLimit = await measureLimit('node:http limit (a constant answer), wrk', 'json1', limits[0]); },
          async () => { m.http2Limit = await measureLimit('node:http2 limit (a constant unary gRPC answer), h2load', 'grpc1', limits[1]); },
          async () => {
            const label = 'grpc-js streaming limit (a constant answer per ModelStreamInfer message, no protobuf), the same lean client';
            m.streamLimit = { ...(await measure(label, 1, node('grpcstream1', 0, Number(new URL(limits[2].base).port)))), serverCpuUs: NaN, mainThreadUs: NaN };
          },
        ];
        for (const step of round % 2 === 0 ? steps : [...steps].reverse()) await step();
        singleC.push(m as (typeof singleC)[number]);
      }
    } finally {
      for (const l of limits ?? []) await l.stop();
    }
    const batched = [
      await measure(`JSON rows (POST /predict, ${batch} rows)`, batch, node('json64')),
      await measure(`OIP REST, binary tensors (${batch} rows)`, batch, node('binary64')),
      await measure(`OIP gRPC, raw contents (${batch} rows)`, batch, node('grpc64')),
    ];
    const single: Array<Record<'json' | 'oip' | 'grpc' | 'python', Measured | undefined>> = [];
    for (let round = 0; round < rounds; round++) {
      // Alternate the order so that neither side always runs first on a machine whose load drifts.
      const order: Array<'json' | 'oip' | 'grpc' | 'python'> = round % 2 === 0 ? ['json', 'oip', 'grpc', 'python'] : ['python', 'grpc', 'oip', 'json'];
      const result: Record<string, Measured | undefined> = {};
      for (const which of order) {
        if (which === 'json') result.json = await measure('JSON REST (POST /predict), 1 row', 1, node('json1'));
        if (which === 'oip') result.oip = await measure('OIP REST, JSON tensors, 1 row', 1, node('oip1'));
        if (which === 'grpc') result.grpc = await measure('OIP gRPC, raw contents, 1 row (@grpc/grpc-js client)', 1, node('grpc1'));
        if (which === 'python' && python) {
          result.python = await measure('OIP gRPC, raw contents, 1 row (Python grpcio client)', 1, [PYTHON, [join(python, 'client.py'), `127.0.0.1:${grpcPort}`, JSON.stringify(rows[0]), String(seconds), String(concurrency)], { cwd: python }]);
        }
      }
      single.push(result as Record<'json' | 'oip' | 'grpc' | 'python', Measured | undefined>);
    }
    // The same load for both (open loop): the server's batches, and so its cost per request, are then alike.
    const equalLoad = [
      await measure(`JSON REST (POST /predict), 1 row, at ${rate} req/s`, 1, node('json1', rate)),
      await measure(`OIP gRPC, raw contents, 1 row, at ${rate} req/s (@grpc/grpc-js client)`, 1, node('grpc1', rate)),
    ];
    const ratios = single.map((r) => r.grpc!.reqPerS / r.json!.reqPerS);
    const pythonRatios = single.filter((r) => r.python).map((r) => r.python!.reqPerS / r.json!.reqPerS);
    const mainRatios = single.map((r) => r.grpc!.mainThreadUs / r.json!.mainThreadUs);
    const clientRatios = single.map((r) => r.grpc!.clientCpuUs / r.json!.clientCpuUs);
    const minRatio = Math.min(...ratios);
    const ratiosC = singleC.map((r) => r.grpc.reqPerS / r.json.reqPerS);
    const streamRatiosC = singleC.map((r) => r.stream.reqPerS / r.json.reqPerS);
    const http2LimitRatios = singleC.map((r) => r.http2Limit.reqPerS / r.json.reqPerS);
    const streamLimitRatios = singleC.map((r) => r.streamLimit.reqPerS / r.json.reqPerS);
    const http2VsHttp = singleC.map((r) => r.http2Limit.reqPerS / r.httpLimit.reqPerS);
    const bestUnary = singleC.map((r) => (1 / r.json.reqPerS) / (1 / r.json.reqPerS - 1 / r.httpLimit.reqPerS + 1 / r.http2Limit.reqPerS));
    const mainRatiosC = singleC.map((r) => r.grpc.mainThreadUs / r.json.mainThreadUs);
    const binaryShare = (m: Measured, ceilingRowsPerS = ceiling!.rowsPerS) => (100 * m.reqPerS * batch) / ceilingRowsPerS;
    const shares = (i: number) => batchedC.map((r, round) => binaryShare(r.cases[i]!, bracket(round, i)));
    const sharesBefore = (i: number) => batchedC.map((r) => binaryShare(r.cases[i]!, r.ceilings[i]!));
    const pcts = (xs: number[]) => xs.map((x) => `${x.toFixed(1)} %`).join(', ');
    const fmt = (xs: number[]) => xs.map((x) => `${x.toFixed(2)}×`).join(', ');
    const us = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : ''); // the limits' rows have no CPU columns
    const row = (m: Measured, vsCeiling: boolean | number) => `| ${m.label} | ${m.reqPerS.toFixed(0)} | ${(m.reqPerS * m.rows).toFixed(0)} | ${vsCeiling !== false ? `${((100 * m.reqPerS * m.rows) / (vsCeiling === true ? ceiling!.rowsPerS : vsCeiling)).toFixed(1)} %` : ''} | ${us(m.serverCpuUs)} | ${us(m.mainThreadUs)} | ${us(m.clientCpuUs)} | ${m.rowsPerRun !== undefined && Number.isFinite(m.rowsPerRun) ? m.rowsPerRun.toFixed(1) : ''} |`;
    const lines = [
      '## Open Inference Protocol: binary REST and gRPC vs JSON rows',
      '',
      `Command: \`node dist/bench/oip.js --seconds ${seconds} --concurrency ${concurrency} --rounds ${rounds}\` (also \`npm run bench -- --only oip\`). ${machineLine()}; load average ${loadAtStart.toFixed(1)} at the start and ${loadavg()[0]!.toFixed(1)} at the end of the run (a shared machine).`,
      '',
      `The book model (svc.onnx + scaler, 7 FP64 columns) served by \`modelserve serve\` (default workers) in its own process. Two kinds of client. **C load generators** (the targets are read from these when both are installed${cClients ? '' : ' — they were not, in this run'}): wrk for REST and h2load (nghttp2) for gRPC, on one HTTP/2 connection with ${concurrency} streams, each sending a request encoded once (bench/oip-client.ts \`--write-bodies\`), ${concurrency} in flight for ${seconds} s after a 1 s warm-up; they cost a few µs of CPU per request, so the server gets the cores; gRPC failures, which travel in trailers under HTTP 200, are counted from the server's statistics (none allowed). **Client libraries**, as applications call them: each case's client runs in a process of its own (bench/oip-client.ts, the same driver loop for both: undici for REST, @grpc/grpc-js on one channel for gRPC, each sending a request encoded once and reading the answer as bytes; and a Python grpcio client, gRPC's C core, encoding each request) and keeps ${concurrency} requests in flight for ${seconds} s after a short warm-up. Server and client still share the machine's 2 cores, so a client that costs more CPU per call leaves less to the server: the server's CPU time per request (all its threads, and its main thread — where HTTP, HTTP/2 and gRPC are handled; inference runs on worker threads — from /proc) is the protocol's cost to the server whatever the client. The compute ceiling is onnxruntime alone on batches of ${batch} encoded rows (bench/compute.ts), measured in the same run.`,
      '',
      '| case | req/s | rows/s | vs compute ceiling | server CPU µs/request | of which main thread | client CPU µs/request | rows per model run |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      `| compute ceiling (batches of ${batch}, no server)${cClients ? ', for the client libraries\' rows' : ''} | | ${ceiling!.rowsPerS.toFixed(0)} | 100 % | | | | ${batch} |`,
      ...batchedC.flatMap((r, i) => r.cases.flatMap((m, k) => [
        `| round ${i + 1}: compute ceiling (batches of ${batch}, no server), measured between cases | | ${r.ceilings[k]!.toFixed(0)} | 100 % | | | | ${batch} |`,
        row({ ...m, label: `round ${i + 1}: ${m.label} (vs the mean of the ceilings before and after it)` }, bracket(i, k)),
      ])),
      ...(closingCeiling === undefined ? [] : [`| compute ceiling (batches of ${batch}, no server), after the last case | | ${closingCeiling.toFixed(0)} | 100 % | | | | ${batch} |`]),
      ...singleC.flatMap((r, i) => [r.json, r.grpc, r.stream, r.httpLimit, r.http2Limit, r.streamLimit].map((m) => row({ ...m, label: `round ${i + 1}: ${m.label}` }, false))),
      ...batched.map((m) => row(m, true)),
      ...single.flatMap((r, i) => [r.json, r.oip, r.grpc, r.python].filter((m): m is Measured => m !== undefined).map((m) => row({ ...m, label: `round ${i + 1}: ${m.label}` }, false))),
      ...equalLoad.map((m) => row(m, false)),
      '',
      ...(cClients ? [
        `**Targets, with the C load generators.** Single row, gRPC ModelInfer vs JSON REST requests/s, per round: ${fmt(ratiosC)}; **min ${Math.min(...ratiosC).toFixed(2)}×** (target ≥ 1×); the server's main thread per request, gRPC vs JSON REST: ${fmt(mainRatiosC)}. Triton's streaming RPC (ModelStreamInfer, one request per message on one stream, from a Node client that costs the machine more CPU than wrk) vs JSON REST: ${fmt(streamRatiosC)}; min ${Math.min(...streamRatiosC).toFixed(2)}×; its bound, @grpc/grpc-js alone answering each message with a constant (no protobuf, no model, the same client), reached ${fmt(streamLimitRatios)} of JSON REST's requests/s: ${Math.max(...streamLimitRatios) < 1 ? 'below 1× in every round: grpc-js\'s own per-message work alone took longer than modelserve\'s whole JSON REST request, so no streaming server on grpc-js could meet the target here' : `above 1× in ${Math.min(...streamLimitRatios) >= 1 ? 'every round' : 'some rounds'}: grpc-js's framing is not what holds the streaming RPC back; modelserve's own per-message work is (protobuf, the OIP codec with one tensor per column — 7 here —, batching, and the model run: a stream's requests reach the server in smaller groups than wrk's, so its model runs held ${singleC.map((r) => r.stream.rowsPerRun?.toFixed(1)).join(', ')} rows against JSON REST's ${singleC.map((r) => r.json.rowsPerRun?.toFixed(1)).join(', ')}, and the model's fixed cost per run is shared by fewer requests; unary gRPC's runs held ${singleC.map((r) => r.grpc.rowsPerRun?.toFixed(1)).join(', ')}, so what slows unary calls is not batching)`}. The unary bound: a bare node:http2 server answering a constant unary gRPC call reaches ${fmt(http2LimitRatios)} of modelserve's JSON REST requests/s (${fmt(http2VsHttp)} of the bare node:http limit's). Per request, on a main thread that is the bottleneck, modelserve's JSON REST time is node:http's own plus modelserve's work; a unary gRPC call that cost modelserve no more than that work (no grpc-js, no protobuf) would take node:http2's own instead of node:http's, which puts it at ${fmt(bestUnary)} of JSON REST's requests/s (1/json ÷ (1/json − 1/node:http + 1/node:http2)): ${Math.max(...bestUnary) < 1 ? 'below 1× in every round, so no unary gRPC server on node:http2 could meet this target here by cutting its own work' : 'the target is within node:http2\'s reach in some rounds; what separates modelserve from it is grpc-js, protobuf and the OIP codec (below)'}. Batched OIP binary REST, of the compute ceiling's rows/s (the mean of the ceilings measured just before and just after it): ${pcts(shares(1))}; **min ${Math.min(...shares(1)).toFixed(1)} %**, median ${median(shares(1)).toFixed(1)} % (target ≥ 50 %; JSON rows ${pcts(shares(0))}, gRPC raw contents ${pcts(shares(2))}); against the ceiling just before it alone, as this benchmark read it until 2026-12-03: ${pcts(sharesBefore(1))}, min ${Math.min(...sharesBefore(1)).toFixed(1)} %.`,
        `Where the time goes (batched, 64 rows, binary REST). Per request the server spent ${batchedC.map((r) => us(r.cases[1]!.serverCpuUs)).join(', ')} µs of CPU, ${batchedC.map((r) => us(r.cases[1]!.mainThreadUs)).join(', ')} µs of it on its main thread (HTTP, the OIP codec, batching, the answer) and the rest on the inference workers; onnxruntime alone needed ${batchedC.map((_, round) => us((2e6 * batch) / bracket(round, 1))).join(', ')} µs of the 2 cores per 64 rows in the ceilings. The main thread and the load generator take their share of the 2 cores from the workers, and this virtual machine leaves part of the rest idle: in a check of \`/proc/<pid>/task/<tid>/schedstat\` under this load (2026-12-03) the main thread and each worker thread spent a third to a half as long runnable in the run queue as running, while vmstat showed the machine 13–20 % idle. A third worker thread (\`--workers 3\`) did not change that measurably: between −30 % and +30 % req/s in alternating runs, the spread of the same configuration run twice. The cuts made: OIP columns of numbers that pass the fields' checks as they are skip the rows (a 64-row request built 64 row objects, validated each and read them back for encoding: src/protocols/oip/codec.ts numberColumns, ServableVersion.encodeColumns), and the dashboard keeps a trimmed record of each request built field by field instead of by an object spread; in alternating pairs (2026-12-03, wrk -c8, 4 s each) the main thread's CPU per binary request fell from 436–475 to 354–360 µs and req/s rose 10–20 %. On a faster machine state real runs bring the model's run-cost estimate for a 64-row batch under --inline-max-us, and until 2026-12-05 every such batch then ran on the main thread itself: the main thread was saturated (348–383 µs per binary request of 357–406 µs in all) while both workers sat idle, and batched binary REST fell to 44.1–47.9 % of the ceiling (2026-12-05, this command). Since then (src/runtime/hybrid.ts), while a worker is idle a batch that would take more than half of --inline-max-us and more than 50 µs (about a request's own HTTP work) per request it serves went to that worker, while with every worker busy it still ran inline. In alternating runs (wrk, 4 s each, 2026-12-05) that gave 15–25 % more req/s for 64-row binary OIP and JSON requests, with single-row JSON at 64 connections unchanged (its batches of 40–50 one-row requests cost a few µs per request, so they stay inline). Since 2026-12-06 such a batch goes to a worker even when every worker is busy (it queues there): with one worker per core the main thread adds no core by running it, it only delays every request's HTTP work. In 4 alternating rounds (wrk -c8, 3 s each, 2026-12-06) binary 64-row requests went from 1,952, 2,179, 2,307, 2,256 to 2,150, 2,454, 2,490, 2,522 req/s (+10–13 % in every round) and the main thread's CPU per request from 277–318 to 198–240 µs; single-row JSON at 64 connections was unchanged (14,994 against 15,024 req/s, medians of 3). An earlier rule that sent every batch whose rows cost more than the run's fixed part to a worker (2026-12-04) had cost single-row JSON at 64 connections up to 15 %: it ignored how many requests a batch serves. What the main thread's time goes to (\`node --cpu-prof\`, wrk -c8 with this request, 2026-12-04, of its busy time): the socket write of each answer (writev) 21 %, the hand-off of each batch to a worker (postMessage) 16 % — two system calls that wake another thread or process, which costs tens of µs each on this virtual machine —, V8 and GC 10 %, the OIP body parse and answer (parseInferBody, inferResponseBody, the codec, packing the feeds) 9 %; larger batches (max_batch_size 256, so that one hand-off carries several requests) did not change req/s in alternating runs.`,
        '',
      ] : []),
      `With the client libraries: single row, gRPC (@grpc/grpc-js client) vs JSON REST requests/s, per round: ${fmt(ratios)}; min ${minRatio.toFixed(2)}×${cClients ? '' : ' (target ≥ 1×)'}.${pythonRatios.length > 0 ? ` With the Python grpcio client: ${fmt(pythonRatios)}.` : ''} Per request, gRPC vs JSON REST: server main thread ${fmt(mainRatios)}, client ${fmt(clientRatios)}; at the same load (${rate} req/s) the server's main thread spends ${equalLoad[1]!.mainThreadUs.toFixed(0)} µs per gRPC request and ${equalLoad[0]!.mainThreadUs.toFixed(0)} µs per JSON REST request (${(equalLoad[1]!.mainThreadUs / equalLoad[0]!.mainThreadUs).toFixed(2)}×). Batched OIP binary REST reaches ${binaryShare(batched[1]!).toFixed(0)} % of the compute ceiling's rows/s${cClients ? '' : ' (target ≥ 50 %)'}.`,
      '',
      `Where the time goes (gRPC single row). A closed loop on this machine measures the CPU that client and server use together per request, not the server: the grpc-js client spends ${fmt(clientRatios)} the CPU of undici per request (the Python grpcio client ${fmt(single.filter((r) => r.python).map((r) => r.python!.clientCpuUs / r.json!.clientCpuUs))}), so the gRPC cases run at a lower rate; and the rate changes the server's cost per request too (its per-batch work — one postMessage to an inference worker per batch, timers — is shared by fewer requests at a lower rate), so the closed-loop server columns of two protocols are not comparable: the equal-load pass is (${(equalLoad[1]!.mainThreadUs / equalLoad[0]!.mainThreadUs).toFixed(2)}× here; earlier runs of this command on this machine gave 0.83× to 1.12×, the spread of a machine whose load average stays above its 2 cores). With the C load generators the comparison is the server's alone: a JSON REST request takes the predict fast path (a plain node:http handler in front of Fastify, see the main section), a gRPC request goes through node:http2 (a stream object, header lists in and out, trailers) and @grpc/grpc-js's call machinery, then protobuf. A CPU profile of the server's main thread under h2load (\`node --cpu-prof\`, single-row gRPC, 2026-12-02) found it about 60 % idle; of its busy time about 11 % was node:http2 itself and most of another 28 % the Node streams, events and buffers it drives, 15 % modelserve's own code (the gRPC handler, the OIP codec, the batcher, metrics), 8 % protobuf decoding and encoding, 8 % the onnxruntime run itself (inline on the main thread), 6 % @grpc/grpc-js, 7 % garbage collection and 11 % V8's own. The cuts made: ModelInfer's and ModelStreamInfer's messages are read and written with protobufjs directly (src/grpc/infer-codec.ts), without @grpc/proto-loader's conversion of every request to a plain object with its defaults filled in and its int64 shape dimensions printed as decimal strings, and of every answer back through fromObject (measured in alternating pairs against the previous commit, h2load, 2026-12-02: the main thread's time per unary call fell from a median of 155 to 140 µs, req/s rose about 10 %); a raw content that is not aligned to its element size inside the message (almost every one) is copied into Node's pooled memory rather than a small new Uint8Array, whose .buffer V8 would move off its heap with a backing store per tensor (src/protocols/oip/tensors.ts fromBytes; in alternating pairs, 2026-12-02: about 5 µs less per unary call of 7 inputs, req/s +7 % together with the metrics change of the main section); the unary handler answers in the same tick when the version is loaded (no promise hops before model.infer), grpc-js's channelz call tracking is off; grpc.max_concurrent_streams (unlimited) and keepalive (no pings by default) add no per-call work. What is left is the HTTP/2 and gRPC framing itself.${singleC.length > 0 ? ` Streaming saves the HTTP/2 stream of each call (its header lists and trailers) but not grpc-js's per-message work, protobuf or the OIP codec: the server's main thread spent ${singleC.map((r) => r.stream.mainThreadUs.toFixed(0)).join(', ')} µs per streamed request against ${singleC.map((r) => r.grpc.mainThreadUs.toFixed(0)).join(', ')} µs per unary call and ${singleC.map((r) => r.json.mainThreadUs.toFixed(0)).join(', ')} µs per JSON REST request.` : ''}`,
    ];
    console.log(lines.join('\n'));
    if (!argv.includes('--no-write')) writeSection('oip', lines.join('\n'));
    return 0;
  } finally {
    await server.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err: unknown) => { console.error(err); process.exitCode = 1; });
}
