// The predict fast path (src/http/fast-path.ts) answers exactly as Fastify's routes do: one set of
// requests — valid rows and batches, every invalid sample of the examples, broken JSON, odd
// content types, unknown models — goes to two apps over one inference core, one with the fast
// path and one without, and each answer's status, body and headers must be the same. It also
// checks which requests the fast path took, so the comparison is not vacuous.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/http/app.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { EXAMPLES } from '../helpers/paths.js';
import { binaryBody, fp64 } from '../helpers/oip.js';

let server: RunningServer;
let plain: FastifyInstance;
let plainUrl: string;

before(async () => {
  server = await startServer({ repo: EXAMPLES, port: 0, workers: 1, bodyLimit: 64 * 1024 });
  plain = await buildApp({ core: server.core, fastPath: false, bodyLimit: 64 * 1024 });
  await plain.listen({ host: '127.0.0.1', port: 0 });
  const address = plain.server.address();
  plainUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});
after(async () => {
  await plain?.close();
  await server?.shutdown();
});

interface Case { name: string; path: string; raw: string | Buffer; headers?: Record<string, string> }

const samples = (model: string, kind: 'valid' | 'invalid'): Array<{ name?: string; body?: unknown; raw?: string }> =>
  JSON.parse(readFileSync(join(EXAMPLES, model, 'samples', `${kind}.json`), 'utf8'));

function cases(): Case[] {
  const out: Case[] = [];
  for (const model of ['weather', 'loan']) {
    const valid = samples(model, 'valid');
    out.push({ name: `${model}: one row`, path: `/models/${model}/predict`, raw: JSON.stringify(valid[0]) });
    out.push({ name: `${model}: a batch`, path: `/models/${model}/predict`, raw: JSON.stringify(valid) });
    for (const s of samples(model, 'invalid')) out.push({ name: `${model}: ${s.name}`, path: `/models/${model}/predict`, raw: s.raw ?? JSON.stringify(s.body) });
  }
  const row = JSON.stringify(samples('weather', 'valid')[0]);
  out.push(
    { name: 'default model', path: '/predict', raw: row },
    { name: 'broken JSON', path: '/predict', raw: '{"temp_c": ' },
    { name: 'a byte-order mark before the JSON', path: '/predict', raw: `\ufeff${row}` },
    { name: 'bytes that are not UTF-8 inside a string', path: '/predict', raw: Buffer.concat([Buffer.from(row.slice(0, -1) + ',"note":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]) },
    { name: 'JSON that is not an object', path: '/predict', raw: '42' },
    { name: 'null', path: '/predict', raw: 'null' },
    { name: '__proto__ and constructor keys', path: '/predict', raw: row.replace('{', '{"__proto__":{"x":1},"constructor":{"y":2},') },
    { name: 'charset=utf-8', path: '/predict', raw: row, headers: { 'content-type': 'application/json; charset=utf-8' } },
    { name: 'another charset', path: '/predict', raw: row, headers: { 'content-type': 'application/json; charset=latin1' } },
    { name: 'text/plain', path: '/predict', raw: row, headers: { 'content-type': 'text/plain' } },
    { name: 'unknown model', path: '/models/nope/predict', raw: row },
    { name: 'a query string', path: '/models/weather/predict?x=1', raw: row },
    { name: 'an explicit version', path: '/models/weather/versions/1/predict', raw: row },
    { name: 'a pipeline-free raw model route', path: '/models/rain-xgboost/predict', raw: JSON.stringify(samples('rain-xgboost', 'valid')[0]) },
  );
  // The Open Inference Protocol's infer route (its own error shape, binary tensors both ways).
  const weather = (samples('weather', 'valid').map((r) => r.body ?? r) as Array<Record<string, unknown>>)
    .filter((r) => Object.values(r).every((v) => typeof v === 'number')) as Array<Record<string, number>>;
  const fields = Object.keys(weather[0]!);
  const columns = fields.map((f) => ({ name: f, datatype: 'FP64', shape: [weather.length, 1], data: weather.map((r) => r[f]!) }));
  const infer = '/v2/models/weather/infer';
  const binary = binaryBody(columns.map((c) => ({ name: c.name, datatype: 'FP64', shape: c.shape, bytes: fp64(c.data) })), { id: 'b-1', parameters: { binary_data_output: true } });
  const binaryHeaders = { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(binary.headerLength) };
  out.push(
    { name: 'OIP: JSON tensors', path: infer, raw: JSON.stringify({ id: 'r-1', inputs: columns }) },
    { name: 'OIP: JSON tensors, one output asked for as binary', path: infer, raw: JSON.stringify({ inputs: columns, outputs: [{ name: 'prediction', parameters: { binary_data: true } }] }) },
    { name: 'OIP: binary tensors both ways', path: infer, raw: binary.body, headers: binaryHeaders },
    { name: 'OIP: truncated binary section', path: infer, raw: binary.body.subarray(0, binary.body.length - 3), headers: binaryHeaders },
    { name: 'OIP: header length past the body', path: infer, raw: binary.body, headers: { ...binaryHeaders, 'inference-header-content-length': String(binary.body.length + 1) } },
    { name: 'OIP: unknown input', path: infer, raw: JSON.stringify({ inputs: [...columns, { name: 'nope', datatype: 'FP64', shape: [1], data: [1] }] }) },
    { name: 'OIP: missing input', path: infer, raw: JSON.stringify({ inputs: columns.slice(1) }) },
    { name: 'OIP: wrong datatype', path: infer, raw: JSON.stringify({ inputs: columns.map((c, i) => (i === 0 ? { ...c, datatype: 'BYTES', data: c.data.map(String) } : c)) }) },
    { name: 'OIP: a value out of the field\'s range', path: infer, raw: JSON.stringify({ inputs: columns.map((c, i) => (i === 1 ? { ...c, data: c.data.map(() => 1e9) } : c)) }) },
    { name: 'OIP: broken JSON', path: infer, raw: '{"inputs": [' },
    { name: 'OIP: unknown model', path: '/v2/models/nope/infer', raw: JSON.stringify({ inputs: columns }) },
    { name: 'OIP: text/plain', path: infer, raw: JSON.stringify({ inputs: columns }), headers: { 'content-type': 'text/plain' } },
    { name: 'OIP: an explicit version', path: '/v2/models/weather/versions/1/infer', raw: JSON.stringify({ inputs: columns }) },
  );
  return out;
}

async function send(base: string, c: Case, id: string) {
  const res = await request(`${base}${c.path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': id, ...c.headers }, body: c.raw });
  const body = await res.body.text();
  const headers = { ...res.headers };
  for (const h of ['date', 'connection', 'keep-alive']) delete headers[h];
  return { status: res.statusCode, body, headers };
}

test('every request gets the same status, body and headers with and without the fast path', async () => {
  const before = server.app.fastPathServed;
  let i = 0;
  for (const c of cases()) {
    const id = `fast-path-${i++}`;
    const fast = await send(server.url, c, id);
    const slow = await send(plainUrl, c, id);
    assert.deepEqual(fast, slow, c.name);
  }
  assert.equal(plain.fastPathServed, 0);
  // The valid rows and batches, the invalid samples, broken JSON, BOM, non-objects, proto keys,
  // both JSON content types and the OIP requests to a loaded model went the fast way.
  assert.ok(server.app.fastPathServed - before >= 30, `fast path served ${server.app.fastPathServed - before}`);
});

test('the fast path counts requests in the same metrics series as the Fastify route', async () => {
  const row = JSON.stringify(samples('weather', 'valid')[0]);
  const scrape = async () => (await (await request(`${server.url}/metrics`)).body.text()).split('\n').find((l) => l.startsWith('modelserve_requests_total{model="weather",version="1",route="/models/:name/predict",status="200"}'));
  const count = (line: string | undefined) => Number(line?.split(' ').pop() ?? 0);
  const before = count(await scrape());
  const served = server.app.fastPathServed;
  await send(server.url, { name: 'row', path: '/models/weather/predict', raw: row }, 'metrics-1');
  assert.equal(server.app.fastPathServed, served + 1);
  assert.equal(count(await scrape()), before + 1);
});

test('a body that is not UTF-8 is a 400 MS_ERR_BAD_JSON on both paths (it was decoded with U+FFFD and served)', async () => {
  const row = JSON.stringify(samples('weather', 'valid')[0]);
  const raw = Buffer.concat([Buffer.from(row.slice(0, -1) + ',"note":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
  for (const url of [server.url, plainUrl]) {
    const answer = await send(url, { name: 'not UTF-8', path: '/predict', raw }, 'utf8-1');
    assert.equal(answer.status, 400, JSON.stringify(answer));
    const body = JSON.parse(answer.body) as { code: string; detail: string };
    assert.equal(body.code, 'MS_ERR_BAD_JSON');
    assert.match(body.detail, /request body is not valid UTF-8/);
  }
});

test('an answer that fails to serialize is a 500 MS_ERR_INTERNAL on both paths, and the server goes on (the fast path left the rejection unhandled: the process died)', async () => {
  const model = await server.core.acquire('weather');
  const original = model.serialize;
  const broken = { one: () => { throw new Error('"prediction" is required!'); }, many: () => { throw new Error('"prediction" is required!'); } };
  (model as unknown as { serialize: unknown }).serialize = broken;
  const row = samples('weather', 'valid')[0];
  try {
    for (const base of [server.url, plainUrl]) {
      const res = await request(`${base}/models/weather/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(row) });
      const body = await res.body.json() as { code: string; request_id: string };
      assert.equal(res.statusCode, 500, `${base}: ${JSON.stringify(body)}`);
      assert.equal(body.code, 'MS_ERR_INTERNAL', base);
    }
  } finally {
    (model as unknown as { serialize: unknown }).serialize = original;
  }
  const after = await request(`${server.url}/models/weather/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(row) });
  assert.equal(after.statusCode, 200);
  await after.body.dump();
});
