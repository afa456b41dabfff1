// Authentication (API key / bearer token) and CORS, over real sockets, plus the option parsing
// that feeds them (keys from an environment variable or a file; every problem reported at once).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/server.js';
import { parseServeOptions } from '../../src/cli/serve-options.js';
import { keyMatcher, loadApiKeys, parseKeys } from '../../src/http/plugins/auth.js';
import { parseCorsOrigins } from '../../src/http/plugins/cors.js';
import { EXAMPLES, tempDir } from '../helpers/paths.js';
import { call } from '../helpers/http.js';

const KEY_A = 'k-aaaaaaaaaaaaaaaaaaaaaaaa-1';
const KEY_B = 'k-bbbbbbbbbbbbbbbbbbbbbbbb-2';
const ROW = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };

describe('key sources and option validation', () => {
  test('keys from an environment variable and a file are combined; comments and blanks ignored', () => {
    const dir = tempDir();
    const file = join(dir, 'keys');
    writeFileSync(file, `# rotated 2026-11\n${KEY_B}\n\n`);
    const opts = parseServeOptions(['--api-keys-env', 'MY_KEYS', '--api-keys-file', file], { MY_KEYS: `${KEY_A}, ${KEY_B}` });
    assert.deepEqual(opts.apiKeys?.sort(), [KEY_A, KEY_B]);
    assert.deepEqual(parseKeys(' a,b \n# c\n d e'), ['a', 'b', 'd', 'e']);
  });


  test('a comment after a key (as docs/production.md shows) is a comment: neither a startup problem nor a key that works', () => {
    const file = join(tempDir(), 'keys');
    writeFileSync(file, `${KEY_A}  # --rate-limit / --rate-burst\n${KEY_B} rate=10/s #rotated-by-ops-team-2026-11\nk-with-a-#-inside-0123456789\n`);
    const { keys, problems, rates } = loadApiKeys({ file });
    assert.deepEqual(problems, []);
    assert.deepEqual(keys, [KEY_A, KEY_B, 'k-with-a-#-inside-0123456789']);
    assert.deepEqual(rates.get(KEY_B), { rate: 10 });
    assert.equal(keyMatcher(keys)('#rotated-by-ops-team-2026-11'), false);
  });
  test('auth is off unless a key source is given', () => {
    const opts = parseServeOptions([], {});
    assert.equal(opts.apiKeys, undefined);
    assert.equal(opts.publicDocs, true);
    assert.equal(opts.publicMetrics, false);
    assert.equal(opts.corsOrigins, undefined);
  });

  test('every problem is reported at once, and no key is ever echoed', () => {
    const secret = 'short-secret';
    assert.throws(
      () => parseServeOptions(['--api-keys-env', 'MY_KEYS', '--cors-origin', 'https://ok.example.com,not an origin', '--port', 'x'], { MY_KEYS: secret }),
      (err: Error) => {
        assert.match(err.message, /--port: 'x' is not a whole number/);
        assert.match(err.message, /\$MY_KEYS: key #1 is shorter than 16 characters/);
        assert.match(err.message, /--cors-origin: 'not an origin' is not an origin/);
        assert.ok(!err.message.includes(secret), 'the key must not appear in the message');
        return true;
      },
    );
    assert.throws(() => parseServeOptions(['--api-keys-env', 'UNSET_VAR_X'], {}), /UNSET_VAR_X is not set or empty/);
    // A key given where its variable's name goes is refused without being shown.
    for (const flag of ['--api-keys-env', '--admin-api-keys-env', '--mqtt-password-env']) {
      assert.throws(() => parseServeOptions([flag, KEY_A, '--mqtt-url', 'mqtt://127.0.0.1:1883'], {}), (err: Error) => {
        assert.match(err.message, new RegExp(`${flag}: the value given is not an environment variable name`));
        assert.ok(!err.message.includes(KEY_A), err.message);
        return true;
      });
    }
    assert.throws(() => parseServeOptions(['--api-keys-file', '/nonexistent/keys'], {}), /--api-keys-file: \/nonexistent\/keys does not exist/);
    const empty = join(tempDir(), 'empty');
    writeFileSync(empty, '# nothing yet\n');
    assert.throws(() => parseServeOptions(['--api-keys-file', empty], {}), /holds no API key/);
  });

  test('loadApiKeys and the environment variable of each option', () => {
    const opts = parseServeOptions([], { MODELSERVE_API_KEYS_ENV: 'K', K: KEY_A, MODELSERVE_CORS_ORIGIN: '*', MODELSERVE_PUBLIC_METRICS: 'true' });
    assert.deepEqual(opts.apiKeys, [KEY_A]);
    assert.deepEqual(opts.corsOrigins, ['*']);
    assert.equal(opts.publicMetrics, true);
    assert.deepEqual(loadApiKeys({}, {}), { keys: [], problems: [], rates: new Map() });
    assert.deepEqual(parseCorsOrigins('https://a.example.com/, http://localhost:3000').origins, ['https://a.example.com', 'http://localhost:3000']);
    assert.ok(parseCorsOrigins('*, https://a.example.com').problems.length > 0);
    assert.ok(parseCorsOrigins('https://a.example.com/path').problems.length > 0);
  });

  test('the matcher accepts exactly the keys (same-length near misses, prefixes and extensions fail)', () => {
    const matches = keyMatcher([KEY_A, KEY_B]);
    assert.equal(matches(KEY_A), true);
    assert.equal(matches(KEY_B), true);
    assert.equal(matches(KEY_A.slice(0, -1) + 'X'), false);
    assert.equal(matches(KEY_A.slice(0, -1)), false);
    assert.equal(matches(`${KEY_A}x`), false);
    assert.equal(matches(''), false);
  });
});

describe('auth over HTTP', () => {
  let server: RunningServer;
  let url: string;
  before(async () => {
    server = await startServer({ repo: EXAMPLES, port: 0, workers: 1, app: { auth: { keys: [KEY_A, KEY_B] } } });
    url = server.url;
  });
  after(async () => {
    await server?.shutdown();
  });

  test('no credentials: 401 with WWW-Authenticate, the error shape and a request id', async () => {
    for (const [method, path] of [['POST', '/predict'], ['POST', '/models/weather/predict'], ['GET', '/models'], ['GET', '/'], ['GET', '/metrics'], ['GET', '/no/such/route']] as const) {
      const res = await call(`${url}${path}`, method === 'POST' ? { body: ROW } : {});
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="modelserve"');
      assert.equal(res.body.code, 'MS_ERR_UNAUTHORIZED');
      assert.equal(res.body.request_id, res.headers['x-request-id']);
    }
  });

  test('a wrong key: 401 with error="invalid_token"', async () => {
    for (const headers of [{ authorization: 'Bearer wrong-key-wrong-key-wrong' }, { 'x-api-key': KEY_A.toUpperCase() }, { authorization: `Basic ${KEY_A}` }] as Array<Record<string, string>>) {
      const res = await call(`${url}/predict`, { body: ROW, headers });
      assert.equal(res.status, 401);
      if (headers.authorization?.startsWith('Bearer')) assert.match(String(res.headers['www-authenticate']), /error="invalid_token"/);
    }
  });

  test('either key, as a bearer token or in X-API-Key, is accepted', async () => {
    for (const headers of [{ authorization: `Bearer ${KEY_A}` }, { authorization: `bearer ${KEY_B}` }, { 'x-api-key': KEY_B }] as Array<Record<string, string>>) {
      const res = await call(`${url}/predict`, { body: ROW, headers });
      assert.equal(res.status, 200, res.text);
      assert.ok(['Rain', 'No_Rain'].includes(res.body.prediction));
    }
    const metrics = await call(`${url}/metrics`, { headers: { authorization: `Bearer ${KEY_A}` } });
    assert.equal(metrics.status, 200);
  });

  test('probes and the docs stay open; the OpenAPI document declares the security schemes', async () => {
    assert.equal((await call(`${url}/healthz`)).status, 200);
    assert.equal((await call(`${url}/readyz`)).status, 200);
    assert.equal((await call(`${url}/docs`)).status < 400, true);
    const doc = await call(`${url}/openapi.json`);
    assert.equal(doc.status, 200);
    assert.deepEqual(Object.keys(doc.body.components.securitySchemes).sort(), ['apiKeyHeader', 'bearerAuth']);
  });
});

describe('auth options: private docs, public metrics', () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({ repo: EXAMPLES, port: 0, workers: 1, app: { auth: { keys: [KEY_A], publicDocs: false, publicMetrics: true } } });
  });
  after(async () => {
    await server?.shutdown();
  });

  test('--no-public-docs protects /docs and /openapi.json; --public-metrics opens /metrics', async () => {
    assert.equal((await call(`${server.url}/docs`)).status, 401);
    assert.equal((await call(`${server.url}/openapi.json`)).status, 401);
    assert.equal((await call(`${server.url}/openapi.json`, { headers: { 'x-api-key': KEY_A } })).status, 200);
    assert.equal((await call(`${server.url}/metrics`)).status, 200);
    assert.equal((await call(`${server.url}/healthz`)).status, 200);
  });
});

describe('CORS', () => {
  let plain: RunningServer;
  let withCors: RunningServer;
  before(async () => {
    plain = await startServer({ repo: EXAMPLES, port: 0, workers: 1 });
    withCors = await startServer({ repo: EXAMPLES, port: 0, workers: 1, app: { corsOrigins: ['https://app.example.com'], auth: { keys: [KEY_A] } } });
  });
  after(async () => {
    await plain?.shutdown();
    await withCors?.shutdown();
  });

  test('off by default: no Access-Control-* headers, preflight not answered', async () => {
    const res = await call(`${plain.url}/predict`, { body: ROW, headers: { origin: 'https://app.example.com' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    const pre = await call(`${plain.url}/predict`, { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' } });
    assert.equal(pre.headers['access-control-allow-origin'], undefined);
  });

  test('configured origins: preflight answered without a key; responses (even 401) carry the headers', async () => {
    const pre = await call(`${withCors.url}/predict`, { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,authorization' } });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers['access-control-allow-origin'], 'https://app.example.com');
    assert.match(String(pre.headers['access-control-allow-headers']), /authorization/i);
    const ok = await call(`${withCors.url}/predict`, { body: ROW, headers: { origin: 'https://app.example.com', authorization: `Bearer ${KEY_A}` } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['access-control-allow-origin'], 'https://app.example.com');
    assert.match(String(ok.headers['access-control-expose-headers']), /X-Request-Id/i);
    const denied = await call(`${withCors.url}/predict`, { body: ROW, headers: { origin: 'https://app.example.com' } });
    assert.equal(denied.status, 401);
    assert.equal(denied.headers['access-control-allow-origin'], 'https://app.example.com');
    const other = await call(`${withCors.url}/predict`, { body: ROW, headers: { origin: 'https://evil.example.net', authorization: `Bearer ${KEY_A}` } });
    assert.equal(other.headers['access-control-allow-origin'], undefined);
  });

  test('a browser script can read every response header the API documents: X-Model-Version, Inference-Header-Content-Length', async () => {
    const res = await call(`${withCors.url}/models/weather/predict`, { body: ROW, headers: { origin: 'https://app.example.com', authorization: `Bearer ${KEY_A}` } });
    assert.equal(res.status, 200, res.text);
    assert.notEqual(res.headers['x-model-version'], undefined);
    const exposed = String(res.headers['access-control-expose-headers']).toLowerCase().split(/\s*,\s*/);
    for (const name of ['x-request-id', 'x-model-version', 'inference-header-content-length', 'retry-after', 'www-authenticate']) {
      assert.ok(exposed.includes(name), `${name} not in Access-Control-Expose-Headers: ${exposed.join(', ')}`);
    }
  });

  test('a preflight allows every request header a browser app needs: Inference-Header-Content-Length (OIP binary tensors) and Content-Encoding (compressed bodies) were missing', async () => {
    const wanted = ['content-type', 'authorization', 'x-api-key', 'x-request-id', 'inference-header-content-length', 'content-encoding'];
    for (const path of ['/v2/models/weather/infer', '/predict']) {
      const pre = await call(`${withCors.url}${path}`, { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': wanted.join(',') } });
      assert.equal(pre.status, 204, path);
      assert.equal(pre.headers['access-control-allow-origin'], 'https://app.example.com', path);
      const allowed = String(pre.headers['access-control-allow-headers']).toLowerCase().split(/\s*,\s*/);
      for (const name of wanted) assert.ok(allowed.includes(name), `${path}: ${name} not in Access-Control-Allow-Headers: ${allowed.join(', ')}`);
    }
  });

  test('an OPTIONS request that is not a complete preflight gets the 204 too, not a text/plain 400', async () => {
    for (const headers of [{}, { origin: 'https://app.example.com' }] as Array<Record<string, string>>) {
      const res = await call(`${withCors.url}/predict`, { method: 'OPTIONS', headers });
      assert.equal(res.status, 204, `${JSON.stringify(headers)}: ${res.status} ${res.headers['content-type']} ${res.text}`);
    }
  });
});
