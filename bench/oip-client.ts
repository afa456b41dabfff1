// One load-generating client for bench/oip.ts, run in its own process so that the client never
// shares a JS thread with the server or with another client: it keeps `--concurrency` requests of
// one case in flight for `--seconds` (after a short warm-up) and prints one JSON line with the
// requests done, the seconds and its own CPU time. REST cases use undici, gRPC cases @grpc/grpc-js
// (one channel, as a client library would use it); grpcstream1 is Triton's streaming RPC from a
// lean node:http2 client (one stream, each request one message).
//   node dist/bench/oip-client.js --case json1 --port 8000 --grpc-port 8001 [--seconds 3] [--concurrency 8] [--rate N]
// With `--write-bodies DIR` it only writes every case's request, as sent, for the C load
// generators (wrk, h2load): DIR/<case>.body (a gRPC case's with its 5-byte message prefix) and
// DIR/<case>.json ({ path, headers }).
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:http2';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { numberArg } from './procs.js';
import { BOOK_FIELDS, bookRows } from '../test/helpers/paths.js';
import { binaryBody, fp64, grpcClients, grpcFrame, grpcMessageReader } from '../test/helpers/oip.js';

export const CLIENT_CASES = ['json64', 'binary64', 'grpc64', 'json1', 'oip1', 'grpc1', 'grpcstream1'] as const;
export type ClientCase = (typeof CLIENT_CASES)[number];

/** Every case's request: path, headers and body, encoded as the clients below send it. */
function caseRequests(): Record<ClientCase, { path: string; headers: Record<string, string>; body: Buffer }> {
  const rows = bookRows(64);
  const columns = (n: number) => BOOK_FIELDS.map((f) => Buffer.from(fp64(rows.slice(0, n).map((r) => r[f]!))));
  const json = (body: unknown) => ({ headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(body)) });
  const binary = binaryBody(BOOK_FIELDS.map((f, i) => ({ name: f, datatype: 'FP64', shape: [64, 1], bytes: columns(64)[i]! })), { parameters: { binary_data_output: true } });
  const clients = grpcClients(1, {});
  const method = clients.inference.ModelInfer as unknown as { path: string; requestSerialize(m: unknown): Buffer };
  const grpcCase = (n: number) => {
    const message = method.requestSerialize({ model_name: 'book-weather', inputs: BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [n, 1] })), raw_input_contents: columns(n) });
    return { path: method.path, headers: { 'content-type': 'application/grpc', te: 'trailers' }, body: grpcFrame(message) };
  };
  clients.close();
  return {
    json64: { path: '/predict', ...json(rows) },
    json1: { path: '/predict', ...json(rows[0]) },
    binary64: { path: '/v2/models/book-weather/infer', headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(binary.headerLength) }, body: binary.body },
    oip1: { path: '/v2/models/book-weather/infer', ...json({ inputs: BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [1, 1], data: [rows[0]![f]] })) }) },
    grpc64: grpcCase(64),
    grpc1: grpcCase(1),
    grpcstream1: { ...grpcCase(1), path: '/inference.GRPCInferenceService/ModelStreamInfer' },
  };
}

async function main(argv: string[]): Promise<void> {
  const bodiesDir = argv.includes('--write-bodies') ? argv[argv.indexOf('--write-bodies') + 1] : undefined;
  if (bodiesDir !== undefined) {
    mkdirSync(bodiesDir, { recursive: true });
    for (const [name, r] of Object.entries(caseRequests())) {
      writeFileSync(join(bodiesDir, `${name}.body`), r.body);
      writeFileSync(join(bodiesDir, `${name}.json`), JSON.stringify({ path: r.path, headers: r.headers }));
    }
    return;
  }
  const which = argv[argv.indexOf('--case') + 1] as ClientCase;
  if (!CLIENT_CASES.includes(which)) throw new Error(`--case must be one of ${CLIENT_CASES.join(', ')}`);
  const port = numberArg(argv, '--port', 8000);
  const grpcPort = numberArg(argv, '--grpc-port', 8001);
  const seconds = numberArg(argv, '--seconds', 3);
  const concurrency = numberArg(argv, '--concurrency', 8);
  const batch = which.endsWith('64') ? 64 : 1;
  const rows = bookRows(batch);
  const url = `http://127.0.0.1:${port}`;
  const agent = new Agent({ connections: concurrency });
  // Per-call machinery a throughput-minded client turns off: retries (a retrying wrapper around every
  // call) and channelz counters.
  const clients = which.startsWith('grpc') ? grpcClients(grpcPort, { 'grpc.enable_retries': 0, 'grpc.enable_channelz': 0 }) : undefined;
  const post = async (path: string, body: string | Buffer, headers: Record<string, string>) => {
    const res = await request(`${url}${path}`, { method: 'POST', body, headers, dispatcher: agent });
    await res.body.arrayBuffer();
    if (res.statusCode !== 200) throw new Error(`${path}: HTTP ${res.statusCode}`);
  };
  const columns = (n: number) => BOOK_FIELDS.map((f) => Buffer.from(fp64(rows.slice(0, n).map((r) => r[f]!))));
  let once: () => Promise<unknown>;
  let closeStream: (() => void) | undefined;
  switch (which) {
    case 'json64':
    case 'json1': {
      const body = JSON.stringify(batch === 1 ? rows[0] : rows);
      once = () => post('/predict', body, { 'content-type': 'application/json' });
      break;
    }
    case 'binary64': {
      const binary = binaryBody(BOOK_FIELDS.map((f, i) => ({ name: f, datatype: 'FP64', shape: [batch, 1], bytes: columns(batch)[i]! })), { parameters: { binary_data_output: true } });
      const headers = { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(binary.headerLength) };
      once = () => post('/v2/models/book-weather/infer', binary.body, headers);
      break;
    }
    case 'oip1': {
      const body = JSON.stringify({ inputs: BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [1, 1], data: [rows[0]![f]] })) });
      once = () => post('/v2/models/book-weather/infer', body, { 'content-type': 'application/json' });
      break;
    }
    case 'grpc64':
    case 'grpc1': {
      // As the REST cases send a body encoded once and read the answer as bytes, the request is
      // encoded once (from the project's .proto) and the answer kept as bytes; the first one is
      // decoded to check it.
      const message = { model_name: 'book-weather', inputs: BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [batch, 1] })), raw_input_contents: columns(batch) };
      const method = clients!.inference.ModelInfer as unknown as { path: string; requestSerialize(m: unknown): Buffer; responseDeserialize(b: Buffer): { outputs: unknown[] } };
      const encoded = method.requestSerialize(message);
      const identity = (b: Buffer) => b;
      const answer = method.responseDeserialize(await new Promise<Buffer>((resolve, reject) => {
        clients!.inference.makeUnaryRequest(method.path, identity, identity, encoded, (err, response) => (err ? reject(err) : resolve(response!)));
      }));
      if (answer.outputs.length !== 1) throw new Error(`ModelInfer answered ${JSON.stringify(answer).slice(0, 200)}`);
      once = () => new Promise<void>((resolve, reject) => {
        clients!.inference.makeUnaryRequest(method.path, identity, identity, encoded, (err) => (err ? reject(err) : resolve()));
      });
      break;
    }
    case 'grpcstream1': {
      // One ModelStreamInfer stream on one HTTP/2 connection, each request a message encoded once
      // with its 5-byte prefix. Answers are counted by their prefixes, not decoded: each settles
      // the oldest waiting request; one with error_message set (field 1, tag 0x0a — a success
      // starts with infer_response, tag 0x12) fails the run.
      const { path, headers, body } = caseRequests().grpcstream1;
      const session = connect(`http://127.0.0.1:${grpcPort}`);
      const stream = session.request({ ':method': 'POST', ':path': path, ...headers });
      const waiting: Array<{ resolve(): void; reject(err: Error): void }> = [];
      stream.on('data', grpcMessageReader((message) => {
        const w = waiting.shift();
        if (message[0] === 0x0a) w?.reject(new Error('ModelStreamInfer answered with an error_message'));
        else w?.resolve();
      }));
      stream.on('close', () => { for (const w of waiting.splice(0)) w.reject(new Error(`the stream closed (HTTP/2 code ${stream.rstCode})`)); });
      once = () => new Promise<void>((resolve, reject) => {
        waiting.push({ resolve, reject });
        stream.write(body);
      });
      closeStream = () => { stream.end(); session.close(); };
      break;
    }
  }
  // Closed loop (as fast as answers come), or open loop at `--rate` requests/s (request i is sent
  // at i / rate, by whichever of the `concurrency` loops is free), so that two protocols can be
  // compared at the same load: the server's batches, and so its cost per request, depend on it.
  const rate = numberArg(argv, '--rate', 0);
  const run = async (ms: number) => {
    const start = performance.now();
    const end = start + ms;
    let done = 0;
    let next = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        if (rate > 0) {
          const due = start + (next++ * 1000) / rate;
          if (due >= end) break;
          const wait = due - performance.now();
          if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
        }
        await once();
        done++;
      }
    }));
    return done;
  };
  const warmup = await run(Math.min(1000, seconds * 300));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const requests = await run(seconds * 1000);
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  clients?.close();
  closeStream?.();
  await agent.close();
  process.stdout.write(`${JSON.stringify({ case: which, warmup, requests, seconds: elapsed, cpuSeconds: (cpu.user + cpu.system) / 1e6 })}\n`);
}

main(process.argv.slice(2)).catch((err: unknown) => { console.error(err); process.exitCode = 1; });
