import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/paths.js';
import { UsageError, parseDuration, parseRate, parseRunArgs, parseStage, parseWait } from '../../src/loadtest/args.js';
import { evaluate, parseThreshold } from '../../src/loadtest/thresholds.js';
import { summarize, newHistogram } from '../../src/loadtest/stats.js';

test('durations: ms, s, m, h and bare seconds', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('10s'), 10_000);
  assert.equal(parseDuration('2m'), 120_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('1.5'), 1500);
  assert.throws(() => parseDuration('10x'), UsageError);
  assert.throws(() => parseDuration('0s'), UsageError);
});

test('wait functions use Locust names', () => {
  assert.deepEqual(parseWait('constant(1)'), { kind: 'constant', seconds: 1 });
  assert.deepEqual(parseWait('between(1, 5)'), { kind: 'between', min: 1, max: 5 });
  assert.deepEqual(parseWait('constant_throughput(2)'), { kind: 'constant_throughput', perSecond: 2 });
  assert.deepEqual(parseWait('constant_pacing(0.5)'), { kind: 'constant_pacing', seconds: 0.5 });
  assert.deepEqual(parseWait('0'), { kind: 'constant', seconds: 0 });
  assert.throws(() => parseWait('between(5,1)'), UsageError);
  assert.throws(() => parseWait('sometimes'), UsageError);
});

test('stages and error rates', () => {
  assert.deepEqual(parseStage('30s:200'), { durationMs: 30_000, target: 200 });
  assert.throws(() => parseStage('200'), UsageError);
  assert.equal(parseRate('0.1%'), 0.001);
  assert.equal(parseRate('0.02'), 0.02);
  assert.throws(() => parseRate('150%'), UsageError);
});

test('thresholds parse units and evaluate against a result', () => {
  assert.deepEqual(parseThreshold('p95<100ms'), { expr: 'p95<100ms', metric: 'p95', op: '<', value: 100 });
  assert.equal(parseThreshold('p99 <= 0.5s').value, 500);
  assert.equal(parseThreshold('errors<1%').value, 0.01);
  assert.equal(parseThreshold('rps>=500').op, '>=');
  assert.equal(parseThreshold('p99.9<2ms').metric, 'p99.9');
  assert.throws(() => parseThreshold('p95<1%'));
  assert.throws(() => parseThreshold('errors<5'));
  assert.throws(() => parseThreshold('latency<5ms'));
  const h = newHistogram();
  for (let i = 1; i <= 100; i++) h.recordValue(i * 1000); // 1..100 ms
  const result = { latencyMs: summarize(h), errorRate: 0.02, rps: 300, failures: 2 };
  const [a, b, c, d] = evaluate([parseThreshold('p95<100ms'), parseThreshold('p50<10ms'), parseThreshold('errors<1%'), parseThreshold('rps>200')], result);
  assert.equal(a!.ok, true);
  assert.equal(b!.ok, false);
  assert.ok(Math.abs(b!.actual - 50) < 0.1);
  assert.equal(c!.ok, false);
  assert.equal(d!.ok, true);
});

test('run arguments: models, bounds, path and headers', () => {
  const o = parseRunArgs(['http://127.0.0.1:9/predict', '-u', '8', '-r', '2', '--wait', 'between(1,2)', '-d', '30s', '-H', 'X-Api-Key: k', '--threshold', 'p95<10ms']);
  assert.equal(o.users, 8);
  assert.equal(o.spawnRate, 2);
  assert.equal(o.durationMs, 30_000);
  assert.equal(o.path, '/predict');
  assert.equal(o.method, 'GET');
  assert.equal(o.headers['x-api-key'], 'k');
  assert.equal(o.thresholds.length, 1);
  const p = parseRunArgs(['127.0.0.1:9', '--model-examples', 'weather', '--rate', '10', '--stage', '5s:50', '--stage', '5s:0']);
  assert.equal(p.path, '/models/weather/predict');
  assert.equal(parseRunArgs(['http://h:1/ml/', '--model-examples', 'weather']).path, '/ml/models/weather/predict', 'under a proxy\'s prefix');
  assert.equal(parseRunArgs(['http://h:1/predict', '--model-examples', 'weather']).path, '/predict', 'a URL naming a route keeps it');
  assert.equal(p.method, 'POST');
  assert.equal(p.durationMs, 10_000);
  assert.equal(p.rate, 10);
  const q = parseRunArgs(['http://h:1/x', '-n', '5']);
  assert.equal(q.durationMs, undefined);
  assert.equal(q.maxRequests, 5);
  assert.equal(parseRunArgs(['http://h:1/x']).durationMs, 10_000, 'a run is always bounded');
  assert.throws(() => parseRunArgs([]), UsageError);
  assert.throws(() => parseRunArgs(['http://h:1', '-u', '2', '--rate', '5']), UsageError);
  assert.throws(() => parseRunArgs(['http://h:1', '--find-capacity']), UsageError);
  assert.throws(() => parseRunArgs(['http://h:1', '--bogus']), UsageError);
  assert.throws(() => parseRunArgs(['ftp://h:1/p']), /the scheme is ftp:\/\/; the load tester speaks http:\/\/ and https:\/\//, 'not sent to a host named ftp');
  assert.equal(parseRunArgs(['127.0.0.1:8000/predict']).url.href, 'http://127.0.0.1:8000/predict', 'a bare host:port gets http://');
  assert.throws(() => parseRunArgs(['http://h:1', '-u', '0']), UsageError);
});

test('--find-capacity refuses a --max-rate below --start-rate (given or the default 50) at parsing', () => {
  const cap = ['http://h:1/x', '--find-capacity', '--slo', 'p99<50ms'];
  assert.throws(() => parseRunArgs([...cap, '--start-rate', '100', '--max-rate', '50']), (e: Error) => e instanceof UsageError && /--max-rate \(50\).*--start-rate \(100\)/.test(e.message));
  assert.throws(() => parseRunArgs([...cap, '--max-rate', '30']), (e: Error) => e instanceof UsageError && /--max-rate \(30\).*--start-rate \(50, the default\)/.test(e.message));
  const same = parseRunArgs([...cap, '--start-rate', '80', '--max-rate', '80']);
  assert.equal(same.startRate, 80);
  assert.equal(same.maxRate, 80);
});

test('options the chosen kind of run would not use are refused, naming them, not silently ignored', () => {
  const refused = (args: string[], re: RegExp) => assert.throws(() => parseRunArgs(['http://h:1/x', ...args]), (e: Error) => e instanceof UsageError && re.test(e.message), args.join(' '));
  // An SLO without a search was never checked: the run passed whatever its latency.
  refused(['-n', '5', '--slo', 'p99<1ms'], /^--slo applies only with --find-capacity.*--threshold/);
  refused(['--max-error-rate', '1%', '--start-rate', '10', '--max-rate', '20', '--step-duration', '1s', '--precision', '1%'], /^--max-error-rate, --start-rate, --max-rate, --step-duration, --precision apply only with --find-capacity/);
  refused(['--find-capacity', '--slo', 'p99<50ms', '-d', '1s', '-n', '5'], /--find-capacity runs its own open-model steps.*--duration, --requests do not apply/);
  refused(['--find-capacity', '--slo', 'p99<50ms', '-u', '3', '-w', '1'], /--users, --wait do not apply/);
  refused(['--find-capacity', '--slo', 'p99<50ms', '--rate', '5', '--stage', '1s:10'], /--rate, --stage do not apply/);
  refused(['--rate', '5', '-w', 'constant(1)'], /^--wait is for the closed model/);
  refused(['--rate', '0', '--stage', '1s:5', '-r', '1'], /^--spawn-rate is for the closed model/);
  refused(['-u', '2', '-c', '1', '--late-tolerance', '1ms'], /^--connections, --late-tolerance are for the open model/);
  refused(['-c', '4'], /^--connections is for the open model/);
  // No request of the closed model is ever late: 'late<5' passed on a 0 never measured.
  refused(['-u', '2', '--threshold', 'late<5'], /^--threshold late<5: 'late' counts requests the open model .* sent after their scheduled time/);
  refused(['-n', '5', '-t', 'p99<1s', '-t', 'late<=0'], /^--threshold late<=0:/);
  // What each kind uses is still accepted.
  assert.equal(parseRunArgs(['http://h:1/x', '--rate', '5', '--threshold', 'late<5']).thresholds[0]!.metric, 'late');
  assert.equal(parseRunArgs(['http://h:1/x', '--find-capacity', '--slo', 'p99<50ms', '--slo', 'late<5']).slo[1]!.metric, 'late');
  assert.equal(parseRunArgs(['http://h:1/x', '--rate', '5', '-c', '2', '--late-tolerance', '5ms']).connections, 2);
  assert.equal(parseRunArgs(['http://h:1/x', '-u', '2', '-r', '1', '-w', '1']).spawnRate, 1);
  assert.equal(parseRunArgs(['http://h:1/x', '--find-capacity', '--slo', 'p99<50ms', '-c', '8', '--late-tolerance', '5ms', '--precision', '10%', '--threshold', 'p50<10ms']).connections, 8);
});

test('-H @file reads headers one per line (CRLF, blank lines), --header-env NAME from a variable; a later -H wins; bad sources are usage errors that never echo a line', () => {
  const dir = tempDir('lt-headers-');
  try {
    const file = join(dir, 'headers.txt');
    writeFileSync(file, 'Authorization: Bearer from-file\r\n\r\nX-Tenant: a\n');
    const o = parseRunArgs(['http://h:1/p', '-H', `@${file}`, '-H', 'X-Tenant: b'], {});
    assert.deepEqual(o.headers, { authorization: 'Bearer from-file', 'x-tenant': 'b' });
    assert.equal(o.argvSecretWarning, undefined, 'nothing secret on the command line');
    const e = parseRunArgs(['http://h:1/p', '--header-env', 'LT_HEADERS', '-H', `@${file}`], { LT_HEADERS: 'X-Api-Key: from-env\nX-Tenant: c' });
    assert.deepEqual(e.headers, { 'x-api-key': 'from-env', authorization: 'Bearer from-file', 'x-tenant': 'a' });
    assert.equal(e.argvSecretWarning, undefined);
    assert.throws(() => parseRunArgs(['http://h:1/p', '-H', `@${join(dir, 'none.txt')}`], {}), (err: Error) => err instanceof UsageError && err.message === `-H @${join(dir, 'none.txt')}: no such file`);
    assert.throws(() => parseRunArgs(['http://h:1/p', '-H', `@${dir}`], {}), /is a folder/);
    writeFileSync(file, 'X-Ok: 1\nBearer s3cret-no-name\n');
    assert.throws(() => parseRunArgs(['http://h:1/p', '-H', `@${file}`], {}), (err: Error) => err instanceof UsageError && /line 2: use 'Name: value'/.test(err.message) && !err.message.includes('s3cret'));
    assert.throws(() => parseRunArgs(['http://h:1/p', '--header-env', 'LT_NONE'], {}), /--header-env LT_NONE: the variable is not set/);
    assert.throws(() => parseRunArgs(['http://h:1/p', '--header-env', 'LT_HEADERS'], { LT_HEADERS: ' ' }), /the variable is empty/);
    assert.throws(() => parseRunArgs(['http://h:1/p', '--header-env', 'Bearer s3cret'], {}), (err: Error) => err instanceof UsageError && !err.message.includes('s3cret'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a credential on the command line (an Authorization or API-key header, URL credentials) gets one warning naming it and the safer forms, never its value', () => {
  const w = parseRunArgs(['http://h:1/p', '-H', 'Authorization: Bearer s3cret', '-H', 'X-Api-Key: k3y', '-H', 'X-Tenant: a'], {}).argvSecretWarning ?? '';
  assert.match(w, /^warning: the Authorization, X-Api-Key headers given with -H can be read by every user of this machine \(ps\)/);
  assert.match(w, /-H @file/);
  assert.match(w, /--header-env NAME/);
  assert.doesNotMatch(w, /s3cret|k3y/);
  const u = parseRunArgs(['http://ann:pa55@h:1/p'], {}).argvSecretWarning ?? '';
  assert.match(u, /the credentials in the URL/);
  assert.match(u, /Authorization: Basic/);
  assert.doesNotMatch(u, /pa55|ann/);
  assert.equal(parseRunArgs(['http://h:1/p', '-H', 'X-Tenant: a', '-H', 'Content-Type: text/csv'], {}).argvSecretWarning, undefined);
});
