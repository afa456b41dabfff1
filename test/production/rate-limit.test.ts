// Per-API-key rate limits: the token bucket, the options and key-file syntax that configure it,
// and the 429 over real sockets (from the CLI as a user starts it), distinct from overload's 503
// and counted in /metrics.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseServeOptions } from '../../src/cli/serve-options.js';
import { TokenBucket, keyFingerprint, parseRate } from '../../src/http/plugins/rate-limit.js';
import { EXAMPLES, tempDir } from '../helpers/paths.js';
import { startServe } from '../helpers/serve.js';
import { call } from '../helpers/http.js';
import { ERRORS } from '../../src/errors.js';
import * as grpc from '@grpc/grpc-js';
import { startServer } from '../../src/server.js';
import { grpcClients, rpc } from '../helpers/oip.js';

const KEY_SLOW = 'k-slow-slow-slow-slow-slow-1';
const KEY_FREE = 'k-free-free-free-free-free-2';
const KEY_DEFAULT = 'k-dflt-dflt-dflt-dflt-dflt-3';
const ROW = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };

describe('token bucket and configuration', () => {
  test('rates parse in /s, /min and /h; nonsense does not', () => {
    assert.equal(parseRate('10/s'), 10);
    assert.equal(parseRate('600/min'), 10);
    assert.equal(parseRate('36000/h'), 10);
    assert.equal(parseRate('2.5'), 2.5);
    for (const bad of ['0/s', '-1/s', 'ten/s', '10/day', '', '10/']) assert.equal(parseRate(bad), undefined, bad);
  });

  test('a bucket lets a burst through, then one request per 1/rate seconds, and says how long to wait', () => {
    const bucket = new TokenBucket({ rate: 2, burst: 3 }, 0);
    assert.deepEqual([bucket.take(0), bucket.take(0), bucket.take(0)], [0, 0, 0]);
    assert.equal(bucket.take(0), 500);
    assert.equal(bucket.take(250), 250);
    assert.equal(bucket.take(500), 0);
    // Idle for a long time: back to the burst, never more.
    assert.deepEqual([bucket.take(60_000), bucket.take(60_000), bucket.take(60_000)], [0, 0, 0]);
    assert.ok(bucket.take(60_000) > 0);
  });

  test('key lines set their own rate and burst; --rate-limit/--rate-burst are the default; rate=none exempts a key', () => {
    const file = join(tempDir(), 'keys');
    writeFileSync(file, `# per-key limits\n${KEY_SLOW} rate=1/s burst=2\n${KEY_FREE} rate=none\n${KEY_DEFAULT}\n`);
    const opts = parseServeOptions(['--api-keys-file', file, '--rate-limit', '100/s', '--rate-burst', '50'], {});
    assert.deepEqual(opts.apiKeys, [KEY_SLOW, KEY_FREE, KEY_DEFAULT]);
    assert.deepEqual([...opts.rateLimits!.entries()], [[KEY_SLOW, { rate: 1, burst: 2 }], [KEY_DEFAULT, { rate: 100, burst: 50 }]]);
    // Without --rate-limit only the key lines with a rate are limited; a rate alone bursts one second's worth.
    writeFileSync(file, `${KEY_SLOW} rate=120/min\n${KEY_DEFAULT}\n`);
    assert.deepEqual([...parseServeOptions(['--api-keys-file', file], {}).rateLimits!.entries()], [[KEY_SLOW, { rate: 2, burst: 2 }]]);
    assert.equal(parseServeOptions([], {}).rateLimits, undefined);
    // From the environment too.
    const env = parseServeOptions([], { MODELSERVE_API_KEYS_ENV: 'K', K: KEY_DEFAULT, MODELSERVE_RATE_LIMIT: '5/s' });
    assert.deepEqual(env.rateLimits?.get(KEY_DEFAULT), { rate: 5, burst: 5 });
  });

  test('bad rate settings are reported together, never echoing a key', () => {
    const file = join(tempDir(), 'keys');
    writeFileSync(file, `${KEY_SLOW} rate=fast\n${KEY_FREE} burst=0\nrate=1/s\n${KEY_DEFAULT} burst=5\n`);
    assert.throws(() => parseServeOptions(['--api-keys-file', file, '--rate-burst', '3'], {}), (err: Error) => {
      assert.match(err.message, /rate=fast is not a rate/);
      assert.match(err.message, /burst=0 is not a whole number of at least 1/);
      assert.match(err.message, /rate= on a line without a key/);
      assert.match(err.message, /--rate-burst: needs --rate-limit/);
      for (const key of [KEY_SLOW, KEY_FREE, KEY_DEFAULT]) assert.ok(!err.message.includes(key));
      return true;
    });
    assert.throws(() => parseServeOptions(['--rate-limit', '10/s'], {}), /--rate-limit: limits are per API key, so it needs --api-keys-env or --api-keys-file/);
    assert.throws(() => parseServeOptions(['--rate-limit', 'lots'], { K: KEY_SLOW, MODELSERVE_API_KEYS_ENV: 'K' }), /--rate-limit: 'lots' is not a rate/);
    writeFileSync(file, `${KEY_DEFAULT} burst=5\n`);
    assert.throws(() => parseServeOptions(['--api-keys-file', file], {}), /burst= without rate=, and there is no --rate-limit/);
  });
});

test('over HTTP from the CLI: 429 with Retry-After per key, other keys and unauthenticated routes unaffected, counted in /metrics', async () => {
  const file = join(tempDir(), 'keys');
  writeFileSync(file, `${KEY_SLOW} rate=1/min burst=3\n${KEY_FREE} rate=none\n${KEY_DEFAULT}\n`);
  const { child, url: serving, exited } = startServe([EXAMPLES, '--port', '0', '--workers', '1', '--log-level', 'warn', '--api-keys-file', file, '--rate-limit', '6/min', '--rate-burst', '4']);
  try {
    const url = await serving;
    const predict = (key: string) => call(`${url}/predict`, { body: ROW, headers: { authorization: `Bearer ${key}` } });

    const slow = [];
    for (let i = 0; i < 5; i++) slow.push(await predict(KEY_SLOW));
    assert.deepEqual(slow.map((r) => r.status), [200, 200, 200, 429, 429]);
    const refused = slow[3]!;
    assert.equal(refused.body.code, 'MS_ERR_RATE_LIMITED');
    assert.equal(ERRORS.MS_ERR_RATE_LIMITED.status, 429);
    assert.deepEqual(Object.keys(refused.body).sort(), ['code', 'detail', 'request_id']);
    assert.equal(refused.body.request_id, refused.headers['x-request-id']);
    // One token per minute: the next is up to 60 s away (the first refusals came within a second of the burst).
    const retryAfter = Number(refused.headers['retry-after']);
    assert.ok(retryAfter >= 55 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    assert.match(refused.body.detail, new RegExp(`rate limit of this API key \\(${keyFingerprint(KEY_SLOW)}\\) exceeded`));

    // The other keys have their own buckets: rate=none is never limited; the default (6/min) allows a burst of 4.
    const free = await Promise.all(Array.from({ length: 20 }, () => predict(KEY_FREE)));
    assert.deepEqual(new Set(free.map((r) => r.status)), new Set([200]));
    const dflt = [];
    for (let i = 0; i < 6; i++) dflt.push((await predict(KEY_DEFAULT)).status);
    assert.deepEqual(dflt, [200, 200, 200, 200, 429, 429]);
    // Requests without auth are not counted: the probes stay open whatever the keys did.
    for (let i = 0; i < 10; i++) assert.equal((await call(`${url}/healthz`)).status, 200);
    // A wrong key is 401, not 429.
    assert.equal((await call(`${url}/predict`, { body: ROW, headers: { authorization: 'Bearer k-wrong-wrong-wrong-wrong-wrong' } })).status, 401);

    const metrics = (await call(`${url}/metrics`, { headers: { authorization: `Bearer ${KEY_FREE}` } })).text;
    const limited = (key: string) => Number(new RegExp(`^modelserve_rate_limited_total\\{key="${keyFingerprint(key)}"\\} (\\d+)$`, 'm').exec(metrics)?.[1]);
    assert.equal(limited(KEY_SLOW), 2);
    assert.equal(limited(KEY_DEFAULT), dflt.filter((s) => s === 429).length);
    assert.ok(Number.isNaN(limited(KEY_FREE)), 'the exempt key has no series');
    // Distinct from overload protection: no 503 counted.
    assert.doesNotMatch(metrics, /modelserve_rejected_total\{[^}]*reason="overloaded"[^}]*\} [1-9]/);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
});

test("one budget per key across front doors: gRPC calls and stream messages take the key's tokens as HTTP requests do; /v2 refusals are OIP's {error}", async () => {
  const rateLimits = new Map([[KEY_SLOW, { rate: 1 / 60, burst: 3 }], [KEY_DEFAULT, { rate: 1 / 60, burst: 2 }]]);
  const server = await startServer({ repo: join(EXAMPLES, 'weather'), port: 0, grpcPort: 'free', workers: 1, logger: false, app: { auth: { keys: [KEY_SLOW, KEY_FREE, KEY_DEFAULT], rateLimits } } });
  const clients = grpcClients(server.grpcPort!);
  const bearer = (key: string) => {
    const m = new grpc.Metadata();
    m.set('authorization', `Bearer ${key}`);
    return m;
  };
  const infer = { model_name: 'weather', inputs: Object.entries(ROW).map(([name, v]) => ({ name, datatype: 'FP64', shape: [1], contents: { fp64_contents: [v] } })) };
  try {
    // Two of KEY_SLOW's three tokens over HTTP, the third over gRPC; then gRPC is refused too.
    for (let i = 0; i < 2; i++) assert.equal((await call(`${server.url}/predict`, { body: ROW, headers: { authorization: `Bearer ${KEY_SLOW}` } })).status, 200);
    await rpc(clients.inference, 'ModelInfer', infer, bearer(KEY_SLOW));
    await assert.rejects(rpc(clients.inference, 'ModelInfer', infer, bearer(KEY_SLOW)), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.match(err.details, new RegExp(`rate limit of this API key \\(${keyFingerprint(KEY_SLOW)}\\) exceeded`));
      // HTTP's Retry-After travels as trailers: in seconds, and as gRPC's pushback for a client's retry policy.
      const seconds = Number(err.metadata.get('retry-after')[0]);
      assert.ok(seconds >= 1, `retry-after trailer: ${JSON.stringify(err.metadata.getMap())}`);
      assert.equal(err.metadata.get('grpc-retry-pushback-ms')[0], String(seconds * 1000));
      return true;
    });
    // OIP REST answers the same refusal in OIP's error shape, with Retry-After.
    const oip = await call(`${server.url}/v2/models/weather/infer`, { body: { inputs: [] }, headers: { authorization: `Bearer ${KEY_SLOW}` } });
    assert.equal(oip.status, 429);
    assert.ok(Number(oip.headers['retry-after']) >= 1);
    assert.deepEqual(Object.keys(oip.body), ['error', 'code', 'request_id']);
    assert.equal(oip.body.code, 'MS_ERR_RATE_LIMITED');
    // A stream takes a token per message: KEY_DEFAULT's two go to the first two, the third is refused in its error_message.
    const stream = (clients.inference as unknown as { ModelStreamInfer(m: grpc.Metadata): grpc.ClientDuplexStream<unknown, { error_message: string; infer_response?: { id: string } }> }).ModelStreamInfer(bearer(KEY_DEFAULT));
    const answers: Array<{ error_message: string; infer_response?: { id: string } }> = [];
    const ended = new Promise<void>((resolve, reject) => { stream.on('data', (a) => answers.push(a)); stream.on('end', resolve); stream.on('error', reject); });
    for (const id of ['a', 'b', 'c']) stream.write({ ...infer, id });
    stream.end();
    await ended;
    // Answers come as they are ready (a refusal at once), matched by id.
    const byId = new Map(answers.map((a) => [a.infer_response?.id, a.error_message]));
    assert.deepEqual([byId.get('a'), byId.get('b')], ['', '']);
    assert.match(byId.get('c')!, /rate limit of this API key/);
    // The probes need no key; an unknown key on /v2 is a 401 in OIP's shape.
    assert.deepEqual(await rpc(clients.inference, 'ServerLive', {}), { live: true });
    const unknown = await call(`${server.url}/v2/models/weather`, { headers: { authorization: 'Bearer k-wrong-wrong-wrong-wrong-wrong' } });
    assert.equal(unknown.status, 401);
    assert.deepEqual(Object.keys(unknown.body), ['error', 'code', 'request_id']);
    const metrics = (await call(`${server.url}/metrics`, { headers: { authorization: `Bearer ${KEY_FREE}` } })).text;
    assert.match(metrics, new RegExp(`^modelserve_rate_limited_total\\{key="${keyFingerprint(KEY_SLOW)}"\\} 2$`, 'm'));
    assert.match(metrics, new RegExp(`^modelserve_rate_limited_total\\{key="${keyFingerprint(KEY_DEFAULT)}"\\} 1$`, 'm'));
  } finally {
    clients.close();
    await server.shutdown();
  }
});
