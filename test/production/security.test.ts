// Hardening over real sockets: security headers, prototype-pollution-safe JSON, body limits,
// content types, and error responses that never carry stack traces or internal paths.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildApp } from '../../src/http/app.js';
import { loadRepository } from '../../src/config/load.js';
import { InProcessRuntime } from '../../src/runtime/in-process.js';
import { API_CSP, DOCS_CSP } from '../../src/http/plugins/security-headers.js';
import type { FastifyInstance } from 'fastify';
import { EXAMPLES, REPO } from '../helpers/paths.js';
import { call, type JsonResponse } from '../helpers/http.js';

const ROW = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };
let app: FastifyInstance;
let url: string;

before(async () => {
  app = await buildApp({ configs: loadRepository(EXAMPLES), runtime: new InProcessRuntime({ intraOpThreads: 1, interOpThreads: 1 }), bodyLimit: 4096 });
  // A route that fails the way a bug would: an Error whose message and stack name internal paths.
  app.get('/test-only/boom', async () => {
    const err = new Error(`ENOENT: no such file or directory, open '${REPO}/secret/internal.json'`);
    throw err;
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});
after(async () => {
  await app?.close();
});

/** No stack frame, no absolute path of this machine, no Node internals in a response. */
function assertNothingInternal(res: JsonResponse, what: string) {
  assert.doesNotMatch(res.text, /\bat .+:\d+:\d+/, `${what}: stack frame in the response`);
  assert.ok(!res.text.includes(REPO), `${what}: repository path in the response`);
  assert.doesNotMatch(res.text, /node_modules|node:internal|\/work\/|\/home\/|\/usr\//, `${what}: internal path in the response`);
  assert.doesNotMatch(res.text, /"stack"/, `${what}: stack field`);
}

test('API responses carry the security headers, a strict CSP and no-store', async () => {
  for (const res of [await call(`${url}/predict`, { body: ROW }), await call(`${url}/healthz`), await call(`${url}/nope`)]) {
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['x-frame-options'], 'DENY');
    assert.equal(res.headers['referrer-policy'], 'no-referrer');
    assert.equal(res.headers['content-security-policy'], API_CSP);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers['x-powered-by'], undefined);
    assert.equal(res.headers.server, undefined);
  }
});

test('the Swagger UI pages get a CSP that allows only their own scripts and styles', async () => {
  const res = await call(`${url}/docs/`);
  assert.equal(res.status, 200);
  assert.match(res.text, /swagger-ui/);
  assert.equal(res.headers['content-security-policy'], DOCS_CSP);
  assert.match(DOCS_CSP, /script-src 'self';/);
});

test('every text answer of the docs and the dashboard says its charset (a model\'s description in /docs/yaml is UTF-8)', async () => {
  for (const path of ['/docs/', '/docs/json', '/docs/yaml', '/openapi.json', '/dashboard', '/dashboard/assets/dashboard.js', '/dashboard/assets/dashboard.css', '/docs/static/swagger-initializer.js', '/docs/static/index.css']) {
    const res = await fetch(`${url}${path}`);
    assert.equal(res.status, 200, path);
    assert.match(res.headers.get('content-type') ?? '', /; charset=utf-8$/, path);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
  }
  const yaml = await fetch(`${url}/docs/yaml`);
  assert.equal(yaml.headers.get('content-type'), 'application/x-yaml; charset=utf-8');
  assert.match(await yaml.text(), /°C/);
});

test('JSON with __proto__ or constructor.prototype is an unknown field (ignored) and pollutes nothing', async () => {
  const attacks = [
    `{"__proto__": {"polluted": "yes"}, ${JSON.stringify(ROW).slice(1)}`,
    `{"constructor": {"prototype": {"polluted": "yes"}}, ${JSON.stringify(ROW).slice(1)}`,
    `[{"__proto__": {"polluted": "yes"}, ${JSON.stringify(ROW).slice(1)}]`,
  ];
  for (const raw of attacks) {
    const res = await call(`${url}/predict`, { raw });
    assert.equal(res.status, 200, raw);
    assert.doesNotMatch(res.text, /polluted/);
    assertNothingInternal(res, 'proto');
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined);
});

test('bodies past the limit get 413, other content types 415, both without internals', async () => {
  const big = await call(`${url}/predict`, { body: Array.from({ length: 200 }, () => ROW) });
  assert.equal(big.status, 413);
  assert.equal(big.body.code, 'MS_ERR_BODY_TOO_LARGE');
  assertNothingInternal(big, '413');
  const text = await call(`${url}/predict`, { raw: JSON.stringify(ROW), headers: { 'content-type': 'text/plain' } });
  assert.equal(text.status, 415);
  assertNothingInternal(text, '415');
  const form = await call(`${url}/predict`, { raw: 'a=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(form.status, 415);
});

test('an unexpected error answers 500 with a code and request id, never its message, stack or paths', async () => {
  const res = await call(`${url}/test-only/boom`, { headers: { 'x-request-id': 'boom-1' } });
  assert.equal(res.status, 500);
  assert.equal(res.body.code, 'MS_ERR_INTERNAL');
  assert.equal(res.body.request_id, 'boom-1');
  assert.doesNotMatch(res.text, /ENOENT|secret|internal\.json/);
  assertNothingInternal(res, '500');
});

test('malformed JSON, unknown models, routes and invalid fields answer without internals', async () => {
  const cases = [
    await call(`${url}/predict`, { raw: '{"temp_c": 1,' }),
    await call(`${url}/models/../../etc/passwd/predict`, { body: ROW }),
    await call(`${url}/models/nope/predict`, { body: ROW }),
    await call(`${url}/predict`, { body: { ...ROW, temp_c: 'hot' } }),
    await call(`${url}/predict`, { body: 'x'.repeat(100) }),
  ];
  assert.deepEqual(cases.map((c) => c.status), [400, 404, 404, 422, 422]);
  cases.forEach((c, i) => assertNothingInternal(c, `case ${i}`));
});
