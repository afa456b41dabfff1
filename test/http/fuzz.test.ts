// A fuzz of generated hostile requests against a real server on the example models, over real
// sockets: raw net.Socket for broken framing, undici for everything a client library can send
// (odd paths and methods, content types, charsets, encodings, sizes, nesting, JSON oddities).
// Every answer must come (no hang), never be a 5xx, and every error body must be in the
// documented shape: {detail, code, request_id} with the code's registry status, or for 422
// FastAPI's {"detail": [{loc, msg, type}]}. A seeded generator makes a failure reproducible:
// the failing request is printed with its index.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { Pool } from 'undici';
import { startServer, type RunningServer } from '../../src/server.js';
import { ERRORS } from '../../src/errors.js';
import { EXAMPLES } from '../helpers/paths.js';
import { sendRaw } from '../helpers/raw-http.js';
import { draws, inParallel } from '../helpers/fuzz.js';

// FUZZ_SCALE shrinks or grows the run while iterating on the generator (default 1).
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const UNDICI_REQUESTS = Math.round(9_000 * SCALE);
const RAW_REQUESTS = Math.round(1_500 * SCALE);
const CONCURRENCY = 8;
const BODY_LIMIT = 256 * 1024;

let server: RunningServer;
let port: number;
before(async () => {
  server = await startServer({ repo: EXAMPLES, port: 0, workers: 1, bodyLimit: BODY_LIMIT, logger: false });
  port = Number(new URL(server.url).port);
});
after(async () => {
  await server?.shutdown();
});

const WEATHER = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };

/** Zip bombs: 2x, 8x and 32x the body limit once inflated, each a small fraction of it compressed. */
const BOMBS = [2, 8, 32].map((times) => gzipSync(Buffer.alloc(BODY_LIMIT * times, 0x20)));

function generator(seed: number) {
  const { random, int, pick, chance } = draws(seed);

  const scalar = (): unknown => pick([
    () => random() * 2000 - 1000, () => int(10), () => 1e308, () => -1e308, () => 5e-324, () => 0, () => -0,
    () => String(random()), () => 'nan', () => 'inf', () => '', () => '\u0000\u2028\ud800', () => 'x'.repeat(int(2000)),
    () => true, () => false, () => null, () => [], () => ({}), () => [1, 2], () => ({ a: 1 }),
  ])();
  const nested = (depth: number): unknown => {
    let value: unknown = scalar();
    for (let i = 0; i < depth; i++) value = chance(0.5) ? [value] : { k: value };
    return value;
  };
  const row = (): Record<string, unknown> => {
    const r: Record<string, unknown> = { ...WEATHER };
    const mutations = int(4);
    for (let i = 0; i < mutations; i++) {
      const key = pick([...Object.keys(WEATHER), 'extra', '__proto__', 'constructor', 'prototype', '', 'toString', 'a'.repeat(300)]);
      if (chance(0.25)) delete r[key];
      else r[key] = chance(0.2) ? nested(1 + int(50)) : scalar();
    }
    return r;
  };
  const json = (): string => pick([
    () => JSON.stringify(row()),
    () => JSON.stringify(Array.from({ length: 1 + int(chance(0.1) ? 300 : 8) }, row)),
    () => JSON.stringify([]),
    () => JSON.stringify(nested(int(100))),
    () => ((n: number) => `${'{"k":['.repeat(n)}1${']}'.repeat(n)}`)(int(20_000)), // deeper than JSON.stringify goes
    () => JSON.stringify(scalar()),
    () => '[' + '['.repeat(int(20000)),
    () => JSON.stringify(row()).slice(0, int(60)),
    () => '{"temp_c": 1,,}',
    () => '\ufeff' + JSON.stringify(row()),
    () => JSON.stringify(row()).replace(/"/g, "'"),
    () => '{"__proto__": {"polluted": 1}, "constructor": {"prototype": {"polluted": 1}}, "temp_c": 1}',
    () => JSON.stringify({ pad: 'x'.repeat(BODY_LIMIT + int(1000)) }),
    () => Buffer.from(Array.from({ length: int(500) }, () => int(256))).toString('latin1'),
    () => '',
    () => 'null',
    () => JSON.stringify(row()) + ' trailing',
  ])();
  const path = (): string => pick([
    '/predict', '/predict', '/predict', '/models/weather/predict', '/models/loan/predict', '/models/nope/predict',
    '/models/%ff/predict', '/models/%/predict', '/models/%2e%2e/predict', '/models/../predict', '//predict', '/predict/',
    `/models/${'m'.repeat(101 + int(200))}/predict`, '/models/weather', '/models', '/', '/healthz', '/readyz', '/metrics',
    '/openapi.json', '/docs', '/docs/', '/docs/static/../../etc/passwd', '/predict?x=%zz&y', '/predict?' + 'q=1&'.repeat(200),
    '/models/wéather/predict', '/models/weather%00/predict', '/models/weather/predict/extra', '/%', '/*', '/models/:name/predict',
  ]);
  const method = (): string => pick(['POST', 'POST', 'POST', 'POST', 'GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD']);
  const contentType = (): string | undefined => pick([
    'application/json', 'application/json', 'application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1',
    'APPLICATION/JSON', 'application/json;charset="UTF-16"', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x',
    'application/problem+json', 'application/jsonx', 'application/', ';;;', undefined,
  ]);
  const encode = (body: Buffer): { body: Buffer; encoding?: string } => pick([
    () => ({ body }), () => ({ body }), () => ({ body }),
    () => ({ body: gzipSync(body), encoding: 'gzip' }),
    () => ({ body: deflateSync(body), encoding: 'deflate' }),
    () => ({ body: brotliCompressSync(body), encoding: 'br' }),
    () => ({ body, encoding: pick(['gzip', 'br', 'deflate']) }), // declared but not encoded
    () => ({ body, encoding: pick(['zstd', 'compress', 'gzip, br', 'identity', 'x', 'identity, identity']) }),
    () => ({ body: pick(BOMBS), encoding: 'gzip' }),
    () => ({ body: gzipSync(body).subarray(0, 10 + int(10)), encoding: 'gzip' }), // truncated
  ])();

  /** A request a client library can send. */
  const clientRequest = () => {
    const m = method();
    const headers: Record<string, string> = {};
    const ct = contentType();
    let body: Buffer | undefined;
    if (m !== 'HEAD' && (m === 'POST' || chance(0.3))) {
      const encoded = encode(Buffer.from(json(), 'utf8'));
      body = encoded.body;
      if (encoded.encoding) headers['content-encoding'] = encoded.encoding;
      if (ct !== undefined) headers['content-type'] = ct;
    }
    if (chance(0.1)) headers['x-request-id'] = pick(['ok-id', 'bad id with spaces', 'x'.repeat(500), '../../etc']);
    if (chance(0.05)) headers.accept = pick(['text/html', '*/*', 'application/xml']);
    if (chance(0.05)) headers['x-big'] = 'a'.repeat(int(12_000));
    return { method: m, path: path(), headers, body };
  };

  /** Raw bytes with broken or odd framing. `truncated` requests may be closed without an answer. */
  const rawRequest = (): { bytes: Buffer; truncated: boolean } => {
    const body = Buffer.from(json().slice(0, 4000), 'utf8');
    const line = pick([
      `POST /predict HTTP/1.1`, `POST /predict HTTP/1.0`, `GET /healthz HTTP/1.1`, `POST /models/weather/predict HTTP/1.1`,
      `POST /predict HTTP/2.0`, `POST  /predict  HTTP/1.1`, `POST /predict`, `BREW /predict HTTP/1.1`, `post /predict HTTP/1.1`,
      `POST http://x/predict HTTP/1.1`, `POST * HTTP/1.1`, `POST /pre dict HTTP/1.1`, `GET /${'a'.repeat(int(20_000))} HTTP/1.1`,
    ]);
    const framing = pick([
      () => ({ head: `Content-Length: ${body.length}\r\n`, payload: body, truncated: false }),
      () => ({ head: `Content-Length: ${pick(['abc', '-1', '1e3', '0x10', ' ', '99999999999999999999', '+5', '5 5'])}\r\n`, payload: body, truncated: false }),
      () => ({ head: `Content-Length: ${body.length}\r\nContent-Length: ${body.length + 1}\r\n`, payload: body, truncated: false }),
      () => ({ head: `Transfer-Encoding: chunked\r\nContent-Length: ${body.length}\r\n`, payload: body, truncated: false }),
      () => ({ head: 'Transfer-Encoding: chunked\r\n', payload: Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]), truncated: false }),
      () => ({ head: 'Transfer-Encoding: chunked\r\n', payload: Buffer.from(`${pick(['zz', '-1', 'fffffffffffffffffff', ''])}\r\nabc\r\n0\r\n\r\n`), truncated: false }),
      () => ({ head: `Transfer-Encoding: ${pick(['gzip', 'chunked, gzip', 'identity', 'chunked\r\nTransfer-Encoding: chunked'])}\r\n`, payload: body, truncated: false }),
      () => ({ head: `Content-Length: ${body.length + 1 + int(100)}\r\n`, payload: body, truncated: true }),
      () => ({ head: 'Transfer-Encoding: chunked\r\n', payload: Buffer.from(`${body.length.toString(16)}\r\n`), truncated: true }),
    ])();
    const extra = pick([
      '', '', 'Content-Type: application/json\r\n', 'Content-Type: application/json\r\nContent-Encoding: gzip\r\n',
      'X-Bad: a\x01b\r\n', 'Bad Header\r\n', ' folded: value\r\n', `X-Big: ${'b'.repeat(int(20_000))}\r\n`, 'Host: a\r\nHost: b\r\n',
      'Content-Type: application/json; charset=latin1\r\n', 'Expect: 100-continue\r\n', 'Connection: upgrade\r\nUpgrade: websocket\r\n',
    ]);
    const eol = chance(0.1) ? '\n' : '\r\n';
    const head = `${line}${eol}Host: 127.0.0.1${eol}Connection: close${eol}${extra}${framing.head}`.replace(/\r\n/g, eol);
    const bytes = chance(0.05) ? Buffer.from(Array.from({ length: 1 + int(300) }, () => int(256))) : Buffer.concat([Buffer.from(`${head}${eol}`, 'latin1'), framing.payload]);
    return { bytes, truncated: framing.truncated };
  };
  return { clientRequest, rawRequest };
}

/** Why a response breaks the rules, or undefined when it keeps them. */
function violation(status: number, text: string, method: string): string | undefined {
  if (status >= 500) return `status ${status}`;
  if (status < 400) return undefined;
  if (method === 'HEAD') return undefined;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return 'error body is not JSON';
  }
  const b = body as Record<string, unknown>;
  if (status === 422) {
    if (Object.keys(b).join() !== 'detail' || !Array.isArray(b.detail) || b.detail.length === 0) return '422 body is not {"detail": [...]}';
    const bad = (b.detail as Array<Record<string, unknown>>).find((d) => !Array.isArray(d.loc) || typeof d.msg !== 'string' || typeof d.type !== 'string');
    return bad ? `422 item ${JSON.stringify(bad)} is not {loc, msg, type}` : undefined;
  }
  if (Object.keys(b).sort().join() !== 'code,detail,request_id') return `keys ${Object.keys(b).join(',')}`;
  if (typeof b.detail !== 'string' || typeof b.request_id !== 'string' || typeof b.code !== 'string') return 'field types';
  const def = (ERRORS as Record<string, { status: number }>)[b.code];
  if (def === undefined) return `unknown code ${b.code}`;
  if (def.status !== status) return `${b.code} is documented as ${def.status}, answered ${status}`;
  return undefined;
}

test(`fuzz: ${UNDICI_REQUESTS + RAW_REQUESTS} hostile requests over real sockets get no 5xx, no hang, and errors only in the documented shape`, async (t) => {
  const statuses = new Map<string, number>();
  const count = (key: string) => statuses.set(key, (statuses.get(key) ?? 0) + 1);
  const failures: string[] = [];

  const started = performance.now();
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONCURRENCY, headersTimeout: 10_000, bodyTimeout: 10_000 });
  const clientGen = generator(19);
  const requests = Array.from({ length: UNDICI_REQUESTS }, () => clientGen.clientRequest());
  try {
    await inParallel(UNDICI_REQUESTS, CONCURRENCY, async (i) => {
      const r = requests[i]!;
      try {
        const res = await pool.request({ method: r.method as 'POST', path: r.path, headers: r.headers, body: r.body });
        const text = await res.body.text();
        count(String(res.statusCode));
        const why = violation(res.statusCode, text, r.method);
        if (why) failures.push(`#${i} ${r.method} ${r.path.slice(0, 80)} ${JSON.stringify(r.headers).slice(0, 200)} body ${r.body?.subarray(0, 80).toString('latin1')}: ${why}: ${text.slice(0, 300)}`);
      } catch (err) {
        const code = (err as { code?: string }).code ?? (err as Error).message;
        count(`error:${code}`);
        // A client-side refusal (undici validates some headers) is not the server's doing; a timeout is a hang.
        if (/TIMEOUT/i.test(code) || code === 'UND_ERR_SOCKET') failures.push(`#${i} ${r.method} ${r.path.slice(0, 80)}: ${code}`);
      }
    });
  } finally {
    await pool.close();
  }

  const clientSeconds = (performance.now() - started) / 1000;
  const rawGen = generator(1919);
  const raws = Array.from({ length: RAW_REQUESTS }, () => rawGen.rawRequest());
  await inParallel(RAW_REQUESTS, CONCURRENCY, async (i) => {
    const r = raws[i]!;
    // A request cut short is half-closed (the client has nothing more to send); Node then drops it.
    const outcome = await sendRaw(port, r.bytes, 10_000, { halfClose: r.truncated });
    const what = `raw #${i} ${JSON.stringify(r.bytes.subarray(0, 160).toString('latin1'))}`;
    if (outcome.kind === 'hang') {
      count('hang');
      failures.push(`${what}: no answer and no close within 10 s`);
    } else if (outcome.kind === 'closed') {
      count('closed');
      // Only a request cut short may end without an answer (there is nothing left to answer).
      if (!r.truncated && outcome.received !== '') failures.push(`${what}: closed after a partial answer ${JSON.stringify(outcome.received.slice(0, 200))}`);
      else if (!r.truncated) failures.push(`${what}: closed without an answer`);
    } else {
      count(`raw:${outcome.response.status}`);
      const method = /^(\S+)/.exec(r.bytes.toString('latin1'))?.[1] ?? '';
      const why = violation(outcome.response.status, outcome.response.body, method);
      if (why) failures.push(`${what}: ${why}: ${outcome.response.body.slice(0, 300)}`);
    }
  });

  t.diagnostic(`undici part ${clientSeconds.toFixed(1)} s, raw part ${((performance.now() - started) / 1000 - clientSeconds).toFixed(1)} s`);
  t.diagnostic(`outcomes: ${[...statuses.entries()].sort().map(([k, v]) => `${k}=${v}`).join(' ')}`);
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} violations`);
  // The fuzz reached the interesting answers (a generator that only made 404s would prove little).
  for (const status of ['200', '400', '404', '405', '413', '414', '415', '422', 'raw:400', 'raw:431']) assert.ok(statuses.has(status), `no ${status} among ${[...statuses.keys()].join(' ')}`);
  // The server still serves.
  const check = await sendRaw(port, `POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${JSON.stringify(WEATHER).length}\r\n\r\n${JSON.stringify(WEATHER)}`);
  assert.equal(check.kind === 'response' && check.response.status, 200);
});
