// The service end to end on the example models, over real sockets.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { MAX_STREAMS } from '../../src/http/routes/dashboard.js';
import SwaggerParser from '@apidevtools/swagger-parser';
import { startServer, type RunningServer } from '../../src/server.js';
import { EXAMPLES } from '../helpers/paths.js';
import { call } from '../helpers/http.js';

let server: RunningServer;
let url: string;

before(async () => {
  server = await startServer({ repo: EXAMPLES, port: 0, workers: 2, bodyLimit: 64 * 1024 });
  url = server.url;
});
after(async () => {
  await server?.shutdown();
});

interface InvalidSample { name: string; status: number; body: unknown; raw?: string; detail_contains?: Array<{ loc: unknown[]; type?: string }> }
const samples = (model: string, kind: 'valid' | 'invalid') => JSON.parse(readFileSync(join(EXAMPLES, model, 'samples', `${kind}.json`), 'utf8'));

test('probes: /healthz and /readyz answer 200 once started', async () => {
  assert.deepEqual((await call(`${url}/healthz`)).body, { status: 'ok' });
  const ready = await call(`${url}/readyz`);
  assert.equal(ready.status, 200);
  assert.deepEqual(ready.body.models.sort(), ['loan', 'rain-xgboost', 'weather']);
});

test('GET / names the service, the models and the docs', async () => {
  const res = await call(`${url}/`);
  assert.equal(res.status, 200);
  assert.equal(res.body.service, 'modelserve');
  assert.equal(res.body.default_model, 'weather');
  assert.equal(res.body.docs, '/docs');
  assert.deepEqual(res.body.models.map((m: { name: string }) => m.name).sort(), ['loan', 'rain-xgboost', 'weather']);
});

test('GET /models and /models/{name} describe fields, outputs and the ONNX signature', async () => {
  const list = await call(`${url}/models`);
  assert.equal(list.body.models.length, 3);
  const weather = await call(`${url}/models/weather`);
  assert.equal(weather.status, 200);
  assert.equal(weather.body.fields.length, 7);
  assert.equal(weather.body.fields[0].name, 'temp_c');
  assert.ok(weather.body.signature.inputs.some((i: { name: string }) => i.name === 'float_input'));
  assert.deepEqual(weather.body.outputs.map((o: { field: string }) => o.field), ['prediction', 'rain_probability']);
  const missing = await call(`${url}/models/nope`);
  assert.equal(missing.status, 404);
  assert.equal(missing.body.code, 'MS_ERR_MODEL_NOT_FOUND');
});

test('weather: every valid sample predicts Rain/No_Rain with a probability, at /predict and /models/weather/predict', async () => {
  for (const body of samples('weather', 'valid')) {
    const a = await call(`${url}/predict`, { body });
    const b = await call(`${url}/models/weather/predict`, { body });
    assert.equal(a.status, 200, a.text);
    assert.deepEqual(a.body, b.body);
    assert.ok(['Rain', 'No_Rain'].includes(a.body.prediction));
    assert.ok(a.body.rain_probability >= 0 && a.body.rain_probability <= 1);
    assert.deepEqual(Object.keys(a.body), ['prediction', 'rain_probability']);
  }
});

test('loan: every valid sample gives {"default_proba": p} with p in [0, 1]', async () => {
  for (const body of samples('loan', 'valid')) {
    const res = await call(`${url}/models/loan/predict`, { body });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.body), ['default_proba']);
    assert.ok(res.body.default_proba >= 0 && res.body.default_proba <= 1);
  }
});

test('an array of objects gives an array of results in the same order', async () => {
  for (const model of ['weather', 'loan']) {
    const bodies = samples(model, 'valid');
    const singles = await Promise.all(bodies.map((body: unknown) => call(`${url}/models/${model}/predict`, { body })));
    const batch = await call(`${url}/models/${model}/predict`, { body: bodies });
    assert.equal(batch.status, 200);
    assert.deepEqual(batch.body, singles.map((r) => r.body));
  }
});

test('every invalid sample gets its documented status and names the bad field', async () => {
  for (const model of ['weather', 'loan']) {
    for (const sample of samples(model, 'invalid') as InvalidSample[]) {
      const res = await call(`${url}/models/${model}/predict`, sample.raw !== undefined ? { raw: sample.raw } : { body: sample.body });
      assert.equal(res.status, sample.status, `${model}: ${sample.name}: ${res.text}`);
      for (const want of sample.detail_contains ?? []) {
        assert.ok(res.body.detail.some((d: { loc: unknown[]; type: string }) => JSON.stringify(d.loc) === JSON.stringify(want.loc) && (want.type === undefined || d.type === want.type)),
          `${model}: ${sample.name}: no ${JSON.stringify(want)} in ${res.text}`);
      }
    }
  }
});

test('422 body keeps FastAPI shape exactly (snapshot)', async () => {
  const res = await call(`${url}/predict`, { body: { temp_c: 'warm' } });
  assert.equal(res.status, 422);
  assert.deepEqual(Object.keys(res.body), ['detail']);
  assert.deepEqual(res.body.detail[0], { loc: ['body', 'humidity'], msg: 'field required', type: 'value_error.missing' });
  assert.deepEqual(res.body.detail.find((d: { loc: string[] }) => d.loc[1] === 'temp_c'), { loc: ['body', 'temp_c'], msg: 'value is not a valid float', type: 'type_error.float' });
  assert.equal(res.body.detail.length, 7);
});

test('a 422 lists at most 100 issues: a body of empty rows does not get an answer hundreds of times its size', async () => {
  // 20,000 rows of {} in 40 KB: 7 missing fields each would be 140,000 issues (~11 MB of JSON).
  const raw = `[${Array(20000).fill('{}').join(',')}]`;
  const res = await call(`${url}/predict`, { raw });
  assert.equal(res.status, 422);
  assert.equal(res.body.detail.length, 101);
  assert.deepEqual(res.body.detail[0], { loc: ['body', 0, 'temp_c'], msg: 'field required', type: 'value_error.missing' });
  assert.deepEqual(res.body.detail[100], {
    loc: ['body'], msg: 'too many errors: the first 100 are listed; 19985 of the 20000 rows were not checked', type: 'value_error.too_many_errors', ctx: { limit_value: 100 },
  });
  assert.ok(res.text.length < 20_000, `${res.text.length} bytes`);
});

test('malformed JSON 400, wrong content type 415, body too large 413, unknown model 404, unknown route 404: code + request id, no stack', async () => {
  const cases: Array<[string, Parameters<typeof call>[1], number, string]> = [
    ['/predict', { raw: '{"temp_c": 8.75,' }, 400, 'MS_ERR_BAD_JSON'],
    ['/predict', { raw: 'temp_c=8', headers: { 'content-type': 'text/plain' } }, 415, 'MS_ERR_UNSUPPORTED_MEDIA_TYPE'],
    ['/predict', { raw: 'x=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415, 'MS_ERR_UNSUPPORTED_MEDIA_TYPE'],
    ['/predict', { raw: JSON.stringify({ pad: 'x'.repeat(70 * 1024) }) }, 413, 'MS_ERR_BODY_TOO_LARGE'],
    ['/models/nope/predict', { body: {} }, 404, 'MS_ERR_MODEL_NOT_FOUND'],
    ['/nothing-here', {}, 404, 'MS_ERR_NOT_FOUND'],
  ];
  for (const [path, options, status, code] of cases) {
    const res = await call(`${url}${path}`, options);
    assert.equal(res.status, status, `${path}: ${res.text}`);
    assert.equal(res.body.code, code, res.text);
    assert.equal(typeof res.body.detail, 'string');
    assert.equal(res.body.request_id, res.headers['x-request-id']);
    assert.doesNotMatch(res.text, /node_modules|\/src\/|at .*\.js:\d+/);
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('X-Request-Id is accepted from the caller and echoed; otherwise generated', async () => {
  const mine = await call(`${url}/predict`, { body: {}, headers: { 'x-request-id': 'abc-123' } });
  assert.equal(mine.headers['x-request-id'], 'abc-123');
  const generated = await call(`${url}/healthz`);
  assert.match(String(generated.headers['x-request-id']), /^[0-9a-f-]{36}$/);
});

test('/openapi.json is valid OpenAPI 3 with each model\'s own schemas and examples', async () => {
  const res = await call(`${url}/openapi.json`);
  assert.equal(res.status, 200);
  const doc = res.body;
  assert.match(doc.openapi, /^3\./);
  await SwaggerParser.validate(structuredClone(doc));
  assert.ok(doc.paths['/predict'].post);
  assert.ok(doc.paths['/models/loan/predict'].post);
  const weather = doc.components.schemas.WeatherRequest;
  assert.equal(weather.properties.temp_c.type, 'number');
  assert.equal(weather.properties.temp_c.example, 8.75);
  assert.ok(weather.properties.temp_c.description);
  // A label is a string (no anyOf, which client generators typed as unknown), its labels named.
  const prediction = doc.components.schemas.WeatherResponse.properties.prediction;
  assert.deepEqual({ ...prediction, description: undefined }, { type: 'string', example: 'No_Rain', description: undefined });
  assert.match(prediction.description, /class label \(No_Rain, Rain\); a value the map does not name is answered as the model's own/);
  assert.deepEqual(Object.keys(doc.components.schemas.LoanRequest.properties).length, 18);
  const example = doc.paths['/models/weather/predict'].post.requestBody.content['application/json'].example;
  assert.equal((await call(`${url}/models/weather/predict`, { body: example })).status, 200);
});

test('/docs serves Swagger UI from local assets (no CDN)', async () => {
  const page = await call(`${url}/docs/`);
  assert.equal(page.status, 200);
  assert.match(page.text, /swagger-ui/i);
  assert.doesNotMatch(page.text, /https?:\/\/(cdn|unpkg|cdnjs)/);
  const bundle = await call(`${url}/docs/static/swagger-ui-bundle.js`);
  assert.equal(bundle.status, 200);
});

test('HEAD on every GET route answers its headers and the connection goes on (HEAD /dashboard/events sent nothing and held the connection)', { timeout: 10_000 }, async () => {
  const paths = ['/', '/healthz', '/readyz', '/models', '/models/weather', '/metrics', '/openapi.json', '/docs', '/dashboard', '/dashboard/stats', '/dashboard/events', '/v2', '/v2/health/ready', '/v2/models/weather', '/v2/models/weather/stats'];
  // One connection: the HEADs pipelined, then a GET whose body ends the exchange.
  const socket = connect(server.port, '127.0.0.1');
  let received = '';
  const done = new Promise<void>((resolve) => socket.on('data', (c: Buffer) => {
    received += c.toString('latin1');
    if (received.endsWith('{"status":"ok"}')) resolve();
  }));
  socket.write(paths.map((p) => `HEAD ${p} HTTP/1.1\r\nHost: x\r\n\r\n`).join('') + 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  await done;
  socket.destroy();
  const statuses = [...received.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => Number(m[1]));
  assert.deepEqual(statuses, [...paths.map(() => 200), 200]);
  assert.match(received, /content-type: text\/event-stream/);
});

test(`at most ${MAX_STREAMS} dashboard streams are kept open: the next is a 503 MS_ERR_TOO_MANY_STREAMS with Retry-After, and a closed one frees its place (streams were unbounded, each holding up to 256 KiB for a reader that stalls)`, { timeout: 20_000 }, async () => {
  const open = (): Promise<{ socket: Socket; head: string }> => new Promise((resolve) => {
    const socket = connect(server.port, '127.0.0.1');
    let received = '';
    socket.on('data', (c: Buffer) => {
      received += c.toString('latin1');
      const end = received.indexOf('\r\n\r\n');
      if (end >= 0) resolve({ socket, head: received.slice(0, end) });
    });
    socket.write('GET /dashboard/events HTTP/1.1\r\nHost: x\r\n\r\n');
  });
  const streams = await Promise.all(Array.from({ length: MAX_STREAMS }, open));
  try {
    assert.ok(streams.every((s) => s.head.startsWith('HTTP/1.1 200 ')));
    const refused = await call(`${url}/dashboard/events`);
    assert.equal(refused.status, 503);
    assert.equal(refused.body.code, 'MS_ERR_TOO_MANY_STREAMS');
    assert.equal(refused.headers['retry-after'], '5');
    streams.pop()!.socket.destroy();
    // The server sees the close on its own schedule: ask until the place is free.
    for (;;) {
      const next = await open();
      next.socket.destroy();
      if (next.head.startsWith('HTTP/1.1 200 ')) break;
      assert.match(next.head, /^HTTP\/1\.1 503 /);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    for (const s of streams) s.socket.destroy();
  }
});
