// Every error in one shape, over real sockets: broken HTTP framing (raw net.Socket), malformed
// URL encoding, an over-long model name, oversized headers, wrong methods, __proto__ keys,
// compressed bodies (and a zip bomb), other encodings and charsets.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { request } from 'undici';
import { startServer, type RunningServer } from '../../src/server.js';
import { ERRORS } from '../../src/errors.js';
import { EXAMPLES, tempDir } from '../helpers/paths.js';
import { call } from '../helpers/http.js';
import { sendRaw, type RawOutcome } from '../helpers/raw-http.js';
import { sample } from '../helpers/prom.js';

const ROW = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };
const BODY_LIMIT = 64 * 1024;
let server: RunningServer;
let port: number;
let repo: string;

before(async () => {
  // The example models, plus a strict copy of weather (unknown fields are 422 there).
  repo = tempDir();
  for (const name of ['weather', 'loan']) symlinkSync(join(EXAMPLES, name), join(repo, name));
  mkdirSync(join(repo, 'weather-strict'));
  const yaml = readFileSync(join(EXAMPLES, 'weather', 'model.yaml'), 'utf8').replace(/^name: weather$/m, 'name: weather-strict\nstrict: true').replace(/^default: true$/m, '');
  writeFileSync(join(repo, 'weather-strict', 'model.yaml'), yaml);
  symlinkSync(join(EXAMPLES, 'weather', 'model.onnx'), join(repo, 'weather-strict', 'model.onnx'));
  server = await startServer({ repo, port: 0, workers: 1, bodyLimit: BODY_LIMIT, logger: false });
  port = Number(new URL(server.url).port);
});
after(async () => {
  await server?.shutdown();
});

/** The documented error shape with the registry's status for its code. */
function assertErrorShape(status: number, body: unknown, what: string): void {
  const b = body as { detail?: unknown; code?: unknown; request_id?: unknown };
  assert.equal(typeof b.detail, 'string', `${what}: detail`);
  assert.equal(typeof b.request_id, 'string', `${what}: request_id`);
  assert.ok(typeof b.code === 'string' && b.code in ERRORS, `${what}: code ${String(b.code)}`);
  assert.equal(ERRORS[b.code as keyof typeof ERRORS].status, status, `${what}: status of ${String(b.code)}`);
}

function expectRaw(outcome: RawOutcome, status: number, code: string, what: string) {
  assert.equal(outcome.kind, 'response', `${what}: ${outcome.kind}`);
  if (outcome.kind !== 'response') return;
  assert.equal(outcome.response.status, status, `${what}: ${outcome.response.body}`);
  const body = JSON.parse(outcome.response.body);
  assertErrorShape(status, body, what);
  assert.equal(body.code, code, what);
  assert.match(outcome.response.headers['content-type'] ?? '', /^application\/json/);
  assert.equal(outcome.response.headers['x-content-type-options'], 'nosniff', `${what}: security headers`);
}

const post = (path: string, headers: string, body = JSON.stringify(ROW)) =>
  `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${headers}\r\n${body}`;

test('broken framing (bad Content-Length, chunked plus length, bad chunk sizes, bad header bytes) is a 400 in the error shape', async () => {
  const cases: Array<[string, string]> = [
    ['Content-Length: abc', post('/predict', 'Content-Length: abc\r\n')],
    ['chunked plus Content-Length', post('/predict', 'Transfer-Encoding: chunked\r\nContent-Length: 5\r\n', '5\r\n{"a":\r\n0\r\n\r\n')],
    ['bad chunk size', post('/predict', 'Transfer-Encoding: chunked\r\n', 'zz\r\nabc\r\n0\r\n\r\n')],
    ['two different Content-Lengths', post('/predict', 'Content-Length: 3\r\nContent-Length: 4\r\n', '{}')],
    ['header without colon', 'GET /healthz HTTP/1.1\r\nHost: x\r\nthis is not a header\r\n\r\n'],
    ['control character in a header value', 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n'],
    ['unknown HTTP version', 'GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n'],
    ['garbage request line', 'HELLO\r\n\r\n'],
    ['HTTP/1.1 without Host (Node answers a bodiless 400 itself)', 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n'],
    ['POST without Host', 'POST /predict HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}'],
    ['a transfer coding other than chunked (read as chunked, gzip ignored)', post('/predict', 'Transfer-Encoding: gzip, chunked\r\n', '2\r\n{}\r\n0\r\n\r\n')],
  ];
  for (const [what, bytes] of cases) expectRaw(await sendRaw(port, bytes), 400, 'MS_ERR_BAD_REQUEST', what);
  // HTTP/1.0 has no Host requirement; CONNECT (a proxy's method) gets a 405 rather than a closed connection.
  const old = await sendRaw(port, 'GET /healthz HTTP/1.0\r\n\r\n');
  assert.equal(old.kind === 'response' && old.response.status, 200);
  expectRaw(await sendRaw(port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'), 405, 'MS_ERR_METHOD_NOT_ALLOWED', 'CONNECT');
});

test('oversized headers are 431 in the error shape', async () => {
  expectRaw(await sendRaw(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`), 431, 'MS_ERR_HEADERS_TOO_LARGE', 'big header');
  expectRaw(await sendRaw(port, `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`), 431, 'MS_ERR_HEADERS_TOO_LARGE', 'long request line');
});

test('an Expect header other than 100-continue is 417 in the error shape (Node\'s own answer has no body)', async () => {
  const body = JSON.stringify(ROW);
  expectRaw(await sendRaw(port, post('/predict', `Expect: 200-ok\r\nContent-Length: ${body.length}\r\n`)), 417, 'MS_ERR_EXPECTATION_FAILED', 'Expect: 200-ok');
});

test('malformed URL encoding is 400 and a model name past the parameter length 414, in the error shape', async () => {
  const bad = await call(`http://127.0.0.1:${port}/models/%ff/predict`, { body: ROW });
  assert.equal(bad.status, 400);
  assertErrorShape(400, bad.body, '%ff');
  assert.equal(bad.body.code, 'MS_ERR_BAD_URL');
  assert.ok(bad.headers['x-request-id']);
  const long = await call(`http://127.0.0.1:${port}/models/${'m'.repeat(101)}/predict`, { body: ROW });
  assert.equal(long.status, 414);
  assertErrorShape(414, long.body, 'long name');
  assert.equal(long.body.code, 'MS_ERR_URI_TOO_LONG');
  // 100 characters is still a (missing) model: 404.
  assert.equal((await call(`http://127.0.0.1:${port}/models/${'m'.repeat(100)}/predict`, { body: ROW })).status, 404);
});

test('a wrong method on an existing route is 405 with Allow; an unknown path stays 404', async () => {
  const cases: Array<[string, string, string]> = [
    ['GET', '/predict', 'POST'],
    ['PUT', '/models/weather/predict', 'POST'],
    ['DELETE', '/healthz', 'GET, HEAD'],
    ['POST', '/models/weather', 'GET, HEAD'],
    // An empty name is routed as a name (POST /models//predict: model '' not found): a wrong method on it was a 404 'no route'.
    ['GET', '/models//predict', 'POST'],
    ['PUT', '/models//versions/2/predict', 'POST'],
  ];
  for (const [method, path, allow] of cases) {
    const res = await call(`http://127.0.0.1:${port}${path}`, { method, ...(method === 'GET' || method === 'DELETE' ? {} : { body: ROW }) });
    assert.equal(res.status, 405, `${method} ${path}`);
    assert.equal(res.headers.allow, allow, `${method} ${path}`);
    assertErrorShape(405, res.body, `${method} ${path}`);
    assert.equal(res.body.code, 'MS_ERR_METHOD_NOT_ALLOWED');
  }
  // The absolute form of the request target (RFC 9112 3.2.2) is routed like the origin form: 405 too.
  const absolute = await sendRaw(port, 'GET http://x/predict HTTP/1.1\r\nHost: x\r\n\r\n', 5000);
  expectRaw(absolute, 405, 'MS_ERR_METHOD_NOT_ALLOWED', 'GET http://x/predict');
  assert.equal(absolute.kind === 'response' && absolute.response.headers.allow, 'POST');
  const head = await sendRaw(port, 'HEAD /predict HTTP/1.1\r\nHost: x\r\n\r\n', 5000, { head: true });
  assert.equal(head.kind === 'response' && head.response.status, 405);
  const missing = await call(`http://127.0.0.1:${port}/nope`, { method: 'PUT', body: ROW });
  assert.equal(missing.status, 404);
  assert.equal(missing.body.code, 'MS_ERR_NOT_FOUND');
});

test("a wrong path or method is 404 or 405 whatever its body: an invalid, empty or non-UTF-8 JSON body or an unknown encoding was answered 400 or 415 (the body was parsed first)", async () => {
  const cases: Array<[string, string, Record<string, string>, string, number, string]> = [
    ['PUT', '/models/weather/predict', { 'content-type': 'application/json' }, '{bad', 405, 'MS_ERR_METHOD_NOT_ALLOWED'],
    ['DELETE', '/v2/models/weather', { 'content-type': 'application/json' }, '', 405, 'MS_ERR_METHOD_NOT_ALLOWED'],
    ['OPTIONS', '/models/weather', { 'content-type': 'application/json' }, '', 405, 'MS_ERR_METHOD_NOT_ALLOWED'],
    ['POST', '/nope', { 'content-type': 'application/json' }, '{bad', 404, 'MS_ERR_NOT_FOUND'],
    ['POST', '/v2/modelz/weather/infer', { 'content-type': 'application/json' }, '{"inputs": [NaN]}', 404, 'MS_ERR_NOT_FOUND'],
    ['POST', '/nope', { 'content-type': 'application/json; charset=latin1' }, '{}', 404, 'MS_ERR_NOT_FOUND'],
    ['POST', '/nope', { 'content-type': 'application/json', 'content-encoding': 'zstd' }, '{}', 404, 'MS_ERR_NOT_FOUND'],
  ];
  for (const [method, path, headers, body, status, code] of cases) {
    const res = await request(`http://127.0.0.1:${port}${path}`, { method: method as 'PUT', headers, body });
    const text = await res.body.text();
    assert.equal(res.statusCode, status, `${method} ${path} ${body}: ${text}`);
    assert.equal(JSON.parse(text).code, code, `${method} ${path}`);
  }
  // The unread body is discarded: the connection serves the next request.
  const next = await call(`http://127.0.0.1:${port}/models/weather/predict`, { body: ROW });
  assert.equal(next.status, 200);
});

test('__proto__ and constructor keys are unknown fields: ignored, or 422 in strict mode; nothing is polluted', async () => {
  const rest = JSON.stringify(ROW).slice(1);
  for (const key of ['__proto__', 'constructor']) {
    const raw = `{"${key}": {"prototype": {"polluted": "yes"}, "polluted": "yes"}, ${rest}`;
    const lax = await call(`http://127.0.0.1:${port}/predict`, { raw });
    assert.equal(lax.status, 200, `${key}: ${lax.text}`);
    assert.equal(lax.text, (await call(`http://127.0.0.1:${port}/predict`, { body: ROW })).text, `${key}: same answer as without it`);
    const batch = await call(`http://127.0.0.1:${port}/predict`, { raw: `[${raw}, ${JSON.stringify(ROW)}]` });
    assert.equal(batch.status, 200, `${key} batch`);
    const strict = await call(`http://127.0.0.1:${port}/models/weather-strict/predict`, { raw });
    assert.equal(strict.status, 422, `${key} strict: ${strict.text}`);
    assert.deepEqual(strict.body, { detail: [{ loc: ['body', key], msg: 'extra fields not permitted', type: 'value_error.extra' }] });
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined);
});

async function postEncoded(body: Buffer, headers: Record<string, string>) {
  const res = await request(`http://127.0.0.1:${port}/predict`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await res.body.text();
  return { status: res.statusCode, text, body: JSON.parse(text) };
}

test('gzip, deflate and br bodies are decoded; identity is the body itself', async () => {
  const plain = Buffer.from(JSON.stringify([ROW, ROW]));
  const expected = (await call(`http://127.0.0.1:${port}/predict`, { body: [ROW, ROW] })).text;
  for (const [coding, encoded] of [['gzip', gzipSync(plain)], ['deflate', deflateSync(plain)], ['br', brotliCompressSync(plain)], ['identity', plain], ['GZIP', gzipSync(plain)]] as const) {
    const res = await postEncoded(encoded, { 'content-encoding': coding });
    assert.equal(res.status, 200, `${coding}: ${res.text}`);
    assert.equal(res.text, expected, coding);
  }
  // Chunked transfer of a gzip body (no Content-Length) too.
  const chunked = await sendRaw(port, Buffer.concat([
    Buffer.from('POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n'),
    ((gz) => Buffer.concat([Buffer.from(`${gz.length.toString(16)}\r\n`), gz, Buffer.from('\r\n0\r\n\r\n')]))(gzipSync(plain)),
  ]));
  assert.equal(chunked.kind === 'response' && chunked.response.body, expected);
});

test('a zip bomb gets 413 (the limit applies to the decoded size), quickly and without inflating it all', async () => {
  // 64 MiB of zeros compress to ~64 KiB of gzip: under the limit encoded, 1000x over it decoded.
  const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
  assert.ok(bomb.length < BODY_LIMIT, `bomb is ${bomb.length} bytes`);
  for (const [coding, encoded] of [['gzip', bomb], ['br', brotliCompressSync(Buffer.alloc(64 * 1024 * 1024, 0x20))]] as const) {
    const res = await postEncoded(encoded, { 'content-encoding': coding });
    assert.equal(res.status, 413, coding);
    assertErrorShape(413, res.body, coding);
    assert.equal(res.body.code, 'MS_ERR_BODY_TOO_LARGE');
  }
  // The server is still fine.
  assert.equal((await call(`http://127.0.0.1:${port}/predict`, { body: ROW })).status, 200);
});

test('a body past the limit gets the same 413 message on the JSON and the OIP routes, naming the limit in bytes (OIP said "(--body-limit)")', async () => {
  const big = JSON.stringify({ pad: 'x'.repeat(BODY_LIMIT) });
  const json = await call(`http://127.0.0.1:${port}/models/weather/predict`, { raw: big });
  const oip = await call(`http://127.0.0.1:${port}/v2/models/weather/infer`, { raw: big });
  assert.equal(json.status, 413, json.text);
  assert.equal(oip.status, 413, oip.text);
  assert.equal(json.body.detail, `request body is larger than the limit (${BODY_LIMIT} bytes)`);
  assert.equal(oip.body.error, json.body.detail);
});

test('other or stacked encodings are 415, corrupt compressed data 400, in the error shape', async () => {
  const plain = Buffer.from(JSON.stringify(ROW));
  for (const coding of ['compress', 'zstd', 'gzip, br', 'x-unknown']) {
    const res = await postEncoded(plain, { 'content-encoding': coding });
    assert.equal(res.status, 415, coding);
    assertErrorShape(415, res.body, coding);
    assert.equal(res.body.code, 'MS_ERR_UNSUPPORTED_ENCODING');
  }
  const corrupt = await postEncoded(Buffer.from('this is not gzip at all'), { 'content-encoding': 'gzip' });
  assert.equal(corrupt.status, 400);
  assert.equal(corrupt.body.code, 'MS_ERR_BAD_ENCODING');
  const truncated = await postEncoded(gzipSync(plain).subarray(0, 20), { 'content-encoding': 'gzip' });
  assert.equal(truncated.status, 400, truncated.text);
  assertErrorShape(400, truncated.body, 'truncated gzip');
});

test('a charset other than UTF-8 is 415 with a clear message; utf-8 in any spelling is fine', async () => {
  for (const charset of ['latin1', 'ISO-8859-1', 'utf-16', '"windows-1252"']) {
    const res = await call(`http://127.0.0.1:${port}/predict`, { raw: JSON.stringify(ROW), headers: { 'content-type': `application/json; charset=${charset}` } });
    assert.equal(res.status, 415, charset);
    assertErrorShape(415, res.body, charset);
    assert.equal(res.body.code, 'MS_ERR_UNSUPPORTED_CHARSET');
    assert.match(res.body.detail, /UTF-8/);
  }
  for (const charset of ['utf-8', 'UTF-8', 'utf8', '"utf-8"']) {
    const res = await call(`http://127.0.0.1:${port}/predict`, { raw: JSON.stringify(ROW), headers: { 'content-type': `application/json; charset=${charset}` } });
    assert.equal(res.status, 200, charset);
  }
});

test("the same low-level errors on a /v2 URL are in OIP's shape {error, code, request_id}, in the origin and the absolute form", async () => {
  const cases: Array<[string, string, number, string]> = [
    ['a transfer coding other than chunked', 'POST /v2/models/weather/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n', 400, 'MS_ERR_BAD_REQUEST'],
    ['an Expect other than 100-continue', 'POST /v2/models/weather/infer HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nContent-Length: 2\r\n\r\n{}', 417, 'MS_ERR_EXPECTATION_FAILED'],
    ['HTTP/1.1 without Host', 'GET /v2/models/weather HTTP/1.1\r\nConnection: close\r\n\r\n', 400, 'MS_ERR_BAD_REQUEST'],
    ['a wrong method, absolute form', 'GET http://x/v2/models/weather/infer HTTP/1.1\r\nHost: x\r\n\r\n', 405, 'MS_ERR_METHOD_NOT_ALLOWED'],
    ['no such route, absolute form', 'GET http://x/v2/nothing HTTP/1.1\r\nHost: x\r\n\r\n', 404, 'MS_ERR_NOT_FOUND'],
  ];
  for (const [what, bytes, status, code] of cases) {
    const outcome = await sendRaw(port, bytes);
    assert.equal(outcome.kind, 'response', what);
    if (outcome.kind !== 'response') continue;
    assert.equal(outcome.response.status, status, `${what}: ${outcome.response.body}`);
    const body = JSON.parse(outcome.response.body);
    assert.deepEqual(Object.keys(body), ['error', 'code', 'request_id'], what);
    assert.equal(body.code, code, what);
  }
});

test('a malformed request pipelined after a valid one: the valid one is answered first, then the 400 (the 400 was written in place of the first answer, which was lost)', async () => {
  for (const path of ['/predict', '/models/weather/versions/1/predict']) {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('data', (c: Buffer) => { received += c.toString('latin1'); });
    // The broken bytes are parsed in the same read as the body, while the first answer is computed (on a worker).
    const body = JSON.stringify(Array.from({ length: 100 }, () => ROW));
    socket.write(`${post(path, `Content-Length: ${body.length}\r\n`, body)}GARBAGE\r\n\r\n`);
    await closed;
    // (An answer's status line follows the previous body directly, not on a line of its own.)
    const statuses = [...received.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    assert.deepEqual(statuses, [200, 400], `${path}: ${received.slice(0, 300)}`);
    assert.match(received, /"code":"MS_ERR_BAD_REQUEST"/);
  }
});

test('malformed percent-encoding (400) and an over-long model name (414) are counted in modelserve_requests_total as unmatched (they were missing from the metrics)', async () => {
  const count = async (status: string) => sample(await (await request(`http://127.0.0.1:${port}/metrics`)).body.text(), 'modelserve_requests_total', { route: 'unmatched', status }) ?? 0;
  const [bad, long] = [await count('400'), await count('414')];
  assert.equal((await call(`http://127.0.0.1:${port}/models/%ff/predict`, { body: ROW })).status, 400);
  assert.equal((await call(`http://127.0.0.1:${port}/models/${'m'.repeat(101)}/predict`, { body: ROW })).status, 414);
  assert.equal(await count('400'), bad + 1);
  assert.equal(await count('414'), long + 1);
});

test('requests refused while Node read them (malformed framing 400, headers too large 431) or by the HTTP server before Fastify (Transfer-Encoding 400, CONNECT 405, Expect 417) are counted in modelserve_requests_total as unmatched (they were missing from the metrics)', async () => {
  const scrape = async () => (await (await request(`http://127.0.0.1:${port}/metrics`)).body.text());
  const before = await scrape();
  const count = (text: string, status: string) => sample(text, 'modelserve_requests_total', { route: 'unmatched', status }) ?? 0;
  expectRaw(await sendRaw(port, 'HELLO\r\n\r\n'), 400, 'MS_ERR_BAD_REQUEST', 'garbage request line');
  expectRaw(await sendRaw(port, 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n'), 400, 'MS_ERR_BAD_REQUEST', 'bad Content-Length');
  // An unknown path is answered before its body is read (a broken body then gets no second answer).
  expectRaw(await sendRaw(port, post('/nowhere', 'Transfer-Encoding: chunked\r\n', 'zz\r\nabc\r\n0\r\n\r\n')), 404, 'MS_ERR_NOT_FOUND', 'bad chunk size, unknown path');
  expectRaw(await sendRaw(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`), 431, 'MS_ERR_HEADERS_TOO_LARGE', 'big header');
  // Refused by the HTTP server before Fastify too, after the parser: framing, CONNECT, an unknown Expect.
  expectRaw(await sendRaw(port, post('/predict', 'Transfer-Encoding: gzip\r\n', '')), 400, 'MS_ERR_BAD_REQUEST', 'unsupported Transfer-Encoding');
  expectRaw(await sendRaw(port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'), 405, 'MS_ERR_METHOD_NOT_ALLOWED', 'CONNECT');
  expectRaw(await sendRaw(port, 'POST /predict HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nContent-Length: 2\r\n\r\n{}'), 417, 'MS_ERR_EXPECTATION_FAILED', 'Expect: foo');
  const after = await scrape();
  assert.equal(count(after, '400'), count(before, '400') + 3);
  assert.equal(count(after, '404'), count(before, '404') + 1);
  assert.equal(count(after, '431'), count(before, '431') + 1);
  assert.equal(count(after, '405'), count(before, '405') + 1);
  assert.equal(count(after, '417'), count(before, '417') + 1);
  // The latency histogram counts them too (its count is the counter), under the same labels.
  assert.equal(sample(after, 'modelserve_request_duration_seconds_count', { route: 'unmatched', status: '431' }), count(after, '431'));
});

test('a request whose body breaks after it was routed (malformed chunks on a Fastify route, a client gone mid-body on the fast path) is counted under its route and model, not as unmatched', async () => {
  const scrape = async () => (await (await request(`http://127.0.0.1:${port}/metrics`)).body.text());
  const count = (text: string, labels: Record<string, string>) => sample(text, 'modelserve_requests_total', labels) ?? 0;
  const chunked = (path: string) => post(path, 'Transfer-Encoding: chunked\r\n', 'zz\r\nabc\r\n0\r\n\r\n');
  const before = await scrape();
  // Chunked bodies never take the fast path: Fastify's routes.
  expectRaw(await sendRaw(port, chunked('/models/weather/predict')), 400, 'MS_ERR_BAD_REQUEST', 'bad chunk size, REST');
  const oip = await sendRaw(port, chunked('/v2/models/weather/infer'));
  assert.equal(oip.kind === 'response' && oip.response.status, 400);
  // Content-Length JSON: the fast path's; the client ends its side with the body half sent.
  await sendRaw(port, post('/models/loan/predict', 'Content-Length: 100\r\n', '{"'), 5000, { halfClose: true });
  const after = await scrape();
  const delta = (labels: Record<string, string>) => count(after, labels) - count(before, labels);
  assert.equal(delta({ model: 'weather', route: '/models/:name/predict', status: '400' }), 1);
  assert.equal(delta({ model: 'weather', route: '/v2/models/:name/infer', status: '400' }), 1);
  assert.equal(delta({ model: 'loan', route: '/models/:name/predict', status: '400' }), 1);
  assert.equal(delta({ route: 'unmatched', status: '400' }), 0);
});

test('a request answered before its body was read (415) whose body then breaks gets that one answer, then the connection ends (a second answer, a 400, followed it and was counted as unmatched)', async () => {
  const scrape = async () => (await (await request(`http://127.0.0.1:${port}/metrics`)).body.text());
  const before = await scrape();
  const received = await new Promise<string>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => { socket.destroy(); resolve(`hang: ${text}`); }, 5000);
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      // The 415 has arrived whole (its body is JSON): now the rest of the request's body, broken.
      if (text.endsWith('}')) socket.write('zz\r\nabc\r\n0\r\n\r\n');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => { clearTimeout(timer); resolve(text); });
    socket.write('POST /models/weather/predict HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n3\r\na,b\r\n');
  });
  assert.equal(received.match(/HTTP\/1\.1 \d{3}/g)?.join(), 'HTTP/1.1 415', received);
  const after = await scrape();
  const delta = (labels: Record<string, string>) => (sample(after, 'modelserve_requests_total', labels) ?? 0) - (sample(before, 'modelserve_requests_total', labels) ?? 0);
  assert.equal(delta({ model: 'weather', route: '/models/:name/predict', status: '415' }), 1);
  assert.equal(delta({ route: 'unmatched', status: '400' }), 0);
});

test("a 408 for a request whose headers arrived keeps the caller's X-Request-Id and its URL's error shape (it had a fresh id and the REST shape); it is counted under its route and model (it was counted as unmatched), one whose headers never ended as unmatched", async () => {
  // A short request timeout, so that the 408 comes within the test.
  const slow = await startServer({ repo: EXAMPLES, port: 0, workers: 1, logger: false, app: { requestTimeoutMs: 300 } });
  try {
    const slowPort = Number(new URL(slow.url).port);
    const head = (path: string, id: string) => `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Request-Id: ${id}\r\nContent-Length: 100\r\n\r\n{"`;
    const rest = await sendRaw(slowPort, head('/predict', 'slow-body-rest'));
    expectRaw(rest, 408, 'MS_ERR_REQUEST_TIMEOUT', 'slow body, REST');
    assert.equal(rest.kind === 'response' && JSON.parse(rest.response.body).request_id, 'slow-body-rest');
    assert.equal(rest.kind === 'response' && rest.response.headers['x-request-id'], 'slow-body-rest');
    const oip = await sendRaw(slowPort, head('/v2/models/weather/infer', 'slow-body-oip'));
    assert.equal(oip.kind, 'response');
    if (oip.kind === 'response') {
      assert.equal(oip.response.status, 408);
      assert.deepEqual(Object.keys(JSON.parse(oip.response.body)).sort(), ['code', 'error', 'request_id']);
      assert.equal(JSON.parse(oip.response.body).request_id, 'slow-body-oip');
    }
    // Headers that never ended: Node hands none of them over, so the id is a generated one.
    const partial = await sendRaw(slowPort, 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: slow-head\r\n');
    expectRaw(partial, 408, 'MS_ERR_REQUEST_TIMEOUT', 'slow headers');
    assert.notEqual(partial.kind === 'response' && JSON.parse(partial.response.body).request_id, 'slow-head');
    const text = await (await request(`${slow.url}/metrics`)).body.text();
    assert.equal(sample(text, 'modelserve_requests_total', { route: 'unmatched', status: '408' }), 1);
    assert.equal(sample(text, 'modelserve_requests_total', { model: 'weather', route: '/predict', status: '408' }), 1);
    assert.equal(sample(text, 'modelserve_requests_total', { model: 'weather', route: '/v2/models/:name/infer', status: '408' }), 1);
  } finally {
    await slow.shutdown();
  }
});

/** Sends only a request's headers and returns all that comes back until the server closes (or 'hang' after 5 s). */
function headersOnly(at: number, head: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(at, '127.0.0.1');
    let received = '';
    const timer = setTimeout(() => { socket.destroy(); resolve('hang'); }, 5000);
    socket.on('data', (c: Buffer) => { received += c.toString('latin1'); });
    socket.on('error', () => undefined);
    socket.on('close', () => { clearTimeout(timer); resolve(received); });
    socket.write(head);
  });
}

test('Expect: 100-continue: a request its headers refuse (413 by Content-Length, 415, unknown path or model) gets its answer at once, without a 100 Continue and without its body being sent (it was asked for the body first)', async () => {
  const head = (path: string, headers: string) => `POST ${path} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n${headers}\r\n`;
  const cases: Array<[string, string, number, string, string]> = [
    ['body over the limit', head('/predict', `Content-Type: application/json\r\nContent-Length: ${BODY_LIMIT + 1}\r\n`), 413, 'MS_ERR_BODY_TOO_LARGE', 'detail'],
    ['unsupported content type', head('/predict', 'Content-Type: text/csv\r\nContent-Length: 10\r\n'), 415, 'MS_ERR_UNSUPPORTED_MEDIA_TYPE', 'detail'],
    ['unknown path', head('/nowhere', 'Content-Type: application/json\r\nContent-Length: 10\r\n'), 404, 'MS_ERR_NOT_FOUND', 'detail'],
    ['unknown model', head('/models/nope/predict', 'Content-Type: application/json\r\nContent-Length: 10\r\n'), 404, 'MS_ERR_MODEL_NOT_FOUND', 'detail'],
    ['unknown model, OIP', head('/v2/models/nope/infer', 'Content-Type: application/json\r\nContent-Length: 10\r\n'), 404, 'MS_ERR_MODEL_NOT_FOUND', 'error'],
  ];
  for (const [what, bytes, status, code, message] of cases) {
    const received = await headersOnly(port, bytes);
    assert.match(received, new RegExp(`^HTTP/1\\.1 ${status} `), `${what}: ${received.slice(0, 200)}`);
    const body = JSON.parse(received.slice(received.indexOf('\r\n\r\n') + 4));
    assert.equal(body.code, code, what);
    assert.equal(typeof body[message], 'string', what);
  }
});

/** The answer (status and body; its request id is the caller's X-Request-Id) with Expect: 100-continue and headers only ('hang' when the server waits for the body), then without Expect and with the body. */
async function withAndWithoutExpect(at: number, path: string, id: string): Promise<{ expect: string; plain: string }> {
  const body = JSON.stringify(ROW);
  const headers = `Host: x\r\nContent-Type: application/json\r\nX-Request-Id: ${id}\r\nContent-Length: ${body.length}\r\n`;
  const received = await headersOnly(at, `POST ${path} HTTP/1.1\r\n${headers}Expect: 100-continue\r\n\r\n`);
  const status = /^HTTP\/1\.1 (\d{3}) /.exec(received)?.[1];
  const expect = status === undefined ? received.slice(0, 200) : `${status} ${received.slice(received.indexOf('\r\n\r\n') + 4)}`;
  const outcome = await sendRaw(at, `POST ${path} HTTP/1.1\r\n${headers}Connection: close\r\n\r\n${body}`);
  assert.equal(outcome.kind, 'response', path);
  return { expect, plain: outcome.kind === 'response' ? `${outcome.response.status} ${outcome.response.body}` : '' };
}

test('Expect: 100-continue for a version the model does not have (or not a version number), REST and OIP: the 404 at once, as without Expect (it came after a 100 Continue and the body)', async () => {
  for (const path of ['/models/weather/versions/99/predict', '/models/weather/versions/abc/predict', '/v2/models/weather/versions/99/infer', '/v2/models/weather/versions/abc/infer']) {
    const { expect, plain } = await withAndWithoutExpect(port, path, 'unknown-version');
    assert.match(expect, /^404 /, `${path}: ${expect}`);
    assert.equal(expect, plain, path);
    assert.equal(JSON.parse(expect.slice(expect.indexOf('{'))).code, 'MS_ERR_MODEL_NOT_FOUND', path);
  }
});

test('Expect: 100-continue on POST /predict with no default model (several models, none default: true): the 404 at once, as without Expect (it came after a 100 Continue and the body)', async () => {
  const several = tempDir();
  symlinkSync(join(EXAMPLES, 'loan'), join(several, 'loan'));
  symlinkSync(join(repo, 'weather-strict'), join(several, 'weather-strict'));
  const noDefault = await startServer({ repo: several, port: 0, workers: 1, logger: false });
  try {
    const { expect, plain } = await withAndWithoutExpect(Number(new URL(noDefault.url).port), '/predict', 'no-default');
    assert.match(expect, /^404 /, expect);
    assert.equal(expect, plain);
    const body = JSON.parse(expect.slice(expect.indexOf('{')));
    assert.equal(body.code, 'MS_ERR_MODEL_NOT_FOUND');
    assert.match(body.detail, /no default model/);
  } finally {
    await noDefault.shutdown();
  }
});

test('Expect: 100-continue on a request that will be served: 100 Continue, then the body, then the answer', async () => {
  for (const path of ['/predict', '/models/weather/predict', '/models/weather/versions/1/predict']) {
    const body = JSON.stringify(ROW);
    const socket = connect(port, '127.0.0.1');
    let received = '';
    const sawContinue = new Promise<void>((resolve) => socket.on('data', (c: Buffer) => {
      received += c.toString('latin1');
      if (received.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) resolve();
    }));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n`);
    await sawContinue;
    socket.write(body);
    await closed;
    assert.match(received, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /, `${path}: ${received.slice(0, 200)}`);
    assert.match(received, /"prediction"/, path);
  }
});
