// The Open Inference Protocol's cost: rows/s of the book model at batch 64 over OIP binary REST and
// over gRPC raw contents vs JSON rows, against the compute ceiling measured in the same run; and
// single-row requests/s over gRPC vs JSON REST. The server is a separate `modelserve serve` process
// (default workers); this process is the client (a fixed number of requests in flight).
//   node dist/bench/oip.js [--seconds 4] [--concurrency 8] [--no-write]
import { loadavg } from 'node:os';
import { Agent, request } from 'undici';
import { computeCeilings } from './compute.js';
import { CLI, freePort, numberArg, startProc, waitForOutput } from './procs.js';
import { machineLine, writeSection } from './report.js';
import { BOOK_FIELDS, bookRows, tempDir, writeBookModelFolder } from '../test/helpers/paths.js';
import { binaryBody, fp64, grpcClients, rpc } from '../test/helpers/oip.js';

async function rate(seconds: number, concurrency: number, once: () => Promise<void>): Promise<number> {
  const end = performance.now() + seconds * 1000;
  let done = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      await once();
      done++;
    }
  }));
  return done / ((performance.now() - t0) / 1000);
}

export async function main(argv: string[]): Promise<number> {
  const seconds = numberArg(argv, '--seconds', 4);
  const concurrency = numberArg(argv, '--concurrency', 8);
  const batch = 64;
  const rows = bookRows(batch);
  const dir = writeBookModelFolder(tempDir('modelserve-bench-oip-'));
  const [ceiling] = await computeCeilings([{ label: 'book', modelDir: dir, bodies: rows, optimize: true }], seconds, 1, batch);

  const port = await freePort();
  const grpcPort = await freePort();
  const server = startProc(process.execPath, [CLI, 'serve', dir, '--port', String(port), '--grpc-port', String(grpcPort), '--log-level', 'warn']);
  await waitForOutput(server, /serving/);
  const url = `http://127.0.0.1:${port}`;
  const agent = new Agent({ connections: concurrency });
  const { inference, close } = grpcClients(grpcPort);
  try {
    const jsonBody = JSON.stringify(rows);
    const jsonOne = JSON.stringify(rows[0]);
    const binary = binaryBody(BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [batch, 1], bytes: fp64(rows.map((r) => r[f]!)) })), { parameters: { binary_data_output: true } });
    const grpcBatch = { model_name: 'book-weather', inputs: BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [batch, 1] })), raw_input_contents: BOOK_FIELDS.map((f) => Buffer.from(fp64(rows.map((r) => r[f]!)))) };
    const grpcOne = { model_name: 'book-weather', inputs: BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [1, 1] })), raw_input_contents: BOOK_FIELDS.map((f) => Buffer.from(fp64([rows[0]![f]!]))) };
    const post = async (path: string, body: string | Buffer, headers: Record<string, string>) => {
      const res = await request(`${url}${path}`, { method: 'POST', body, headers, dispatcher: agent });
      await res.body.arrayBuffer();
      if (res.statusCode !== 200) throw new Error(`${path}: HTTP ${res.statusCode}`);
    };
    const cases: Array<[string, number, () => Promise<void>]> = [
      ['JSON rows (POST /predict, 64 rows)', batch, () => post('/predict', jsonBody, { 'content-type': 'application/json' })],
      ['OIP REST, binary tensors (64 rows)', batch, () => post('/v2/models/book-weather/infer', binary.body, { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(binary.headerLength) })],
      ['OIP gRPC, raw contents (64 rows)', batch, async () => { await rpc(inference, 'ModelInfer', grpcBatch); }],
      ['JSON REST, 1 row', 1, () => post('/predict', jsonOne, { 'content-type': 'application/json' })],
      ['OIP gRPC, 1 row', 1, async () => { await rpc(inference, 'ModelInfer', grpcOne); }],
    ];
    for (const [, , once] of cases) for (let i = 0; i < 50; i++) await once(); // warm-up
    const results: Array<{ label: string; rows: number; reqPerS: number }> = [];
    for (const [label, n, once] of cases) {
      const reqPerS = await rate(seconds, concurrency, once);
      results.push({ label, rows: n, reqPerS });
      console.error(`oip: ${label}: ${reqPerS.toFixed(0)} req/s, ${(reqPerS * n).toFixed(0)} rows/s`);
    }
    const lines = [
      '## Open Inference Protocol: binary REST and gRPC vs JSON rows',
      '',
      `Command: \`node dist/bench/oip.js --seconds ${seconds} --concurrency ${concurrency}\` (also \`npm run bench -- --only oip\`). ${machineLine()}; load average ${loadavg()[0]!.toFixed(1)} at the end of the run (a shared machine).`,
      '',
      `The book model (svc.onnx + scaler, 7 FP64 columns) served by \`modelserve serve\` (default workers) in its own process; the client (this process: undici, @grpc/grpc-js) keeps ${concurrency} requests in flight, ${seconds} s per case. The compute ceiling is onnxruntime alone on batches of ${batch} encoded rows (bench/compute.ts), measured in the same run. Both share the machine's cores with the client, so the ratios are what this machine can show, not a protocol's limit.`,
      '',
      '| case | req/s | rows/s | vs compute ceiling |',
      '| --- | ---: | ---: | ---: |',
      `| compute ceiling (batches of ${batch}, no server) | | ${ceiling!.rowsPerS.toFixed(0)} | 100 % |`,
      ...results.map((r) => `| ${r.label} | ${r.reqPerS.toFixed(0)} | ${(r.reqPerS * r.rows).toFixed(0)} | ${((100 * r.reqPerS * r.rows) / ceiling!.rowsPerS).toFixed(1)} % |`),
      '',
      `Single row: gRPC answers ${(results[4]!.reqPerS / results[3]!.reqPerS).toFixed(2)}× the requests/s of JSON REST. Batched OIP binary REST reaches ${((100 * results[1]!.reqPerS * batch) / ceiling!.rowsPerS).toFixed(0)} % of the compute ceiling's rows/s (target ≥ 50 %).`,
    ];
    console.log(lines.join('\n'));
    if (!argv.includes('--no-write')) writeSection('oip', lines.join('\n'));
    return 0;
  } finally {
    close();
    await agent.close();
    await server.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err: unknown) => { console.error(err); process.exitCode = 1; });
}
