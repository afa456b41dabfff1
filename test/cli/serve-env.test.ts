// `modelserve serve` configured the 12-factor way: environment variables only, no flags.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseServeOptions, SERVE_OPTIONS } from '../../src/cli/serve-options.js';
import { CLI, EXAMPLES, REPO } from '../helpers/paths.js';
import { startServe } from '../helpers/serve.js';

/** The option problems parseServeOptions reports for this environment (no flags). */
function problemsOf(env: Record<string, string>, flags: string[] = []): string {
  try {
    parseServeOptions([EXAMPLES, ...flags], env);
  } catch (err) {
    return (err as Error).message;
  }
  assert.fail(`no problem reported for ${JSON.stringify(env)} ${flags.join(' ')}`);
}

test('a bad value set by a variable is reported naming the variable, for every check (keys, rate limit, CORS, MQTT, events named the flag the user never typed)', () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ MODELSERVE_API_KEYS_ENV: 'not-a-name' }, /^ {2}\$MODELSERVE_API_KEYS_ENV: the value given is not an environment variable name/m],
    [{ MODELSERVE_API_KEYS_ENV: 'UNSET_KEYS_VARIABLE' }, /^ {2}\$MODELSERVE_API_KEYS_ENV: environment variable UNSET_KEYS_VARIABLE is not set or empty/m],
    [{ MODELSERVE_API_KEYS_FILE: '/nonexistent/keys' }, /^ {2}\$MODELSERVE_API_KEYS_FILE: \/nonexistent\/keys does not exist/m],
    [{ MODELSERVE_ADMIN_API_KEYS_FILE: '/nonexistent/keys' }, /^ {2}\$MODELSERVE_ADMIN_API_KEYS_FILE: \/nonexistent\/keys does not exist/m],
    [{ MODELSERVE_RATE_LIMIT: '10/s' }, /^ {2}\$MODELSERVE_RATE_LIMIT: limits are per API key/m],
    [{ MODELSERVE_CORS_ORIGIN: 'not an origin' }, /^ {2}\$MODELSERVE_CORS_ORIGIN: 'not an origin' is not an origin/m],
    [{ MODELSERVE_MQTT_URL: 'http://broker' }, /^ {2}\$MODELSERVE_MQTT_URL: 'http:\/\/broker' is not an MQTT URL/m],
    [{ MODELSERVE_EVENTS_SAMPLE: '2' }, /^ {2}\$MODELSERVE_EVENTS_SAMPLE: '2' is not a fraction/m],
  ];
  for (const [env, expected] of cases) {
    const message = problemsOf(env);
    assert.match(message, expected, JSON.stringify(env));
    assert.doesNotMatch(message, /^ {2}--/m, JSON.stringify(env));
  }
  // The same problem given by the flag still names the flag.
  assert.match(problemsOf({}, ['--cors-origin', 'not an origin']), /^ {2}--cors-origin: 'not an origin' is not an origin/m);
  assert.match(problemsOf({ MODELSERVE_CORS_ORIGIN: 'https://ok.example.com' }, ['--cors-origin', 'not an origin']), /^ {2}--cors-origin: /m);
});

test('a negative number in a variable is told the minimum (it was called "not a whole number")', () => {
  assert.match(problemsOf({ PORT: '-1' }), /^ {2}\$PORT: must be at least 0$/m);
  assert.match(problemsOf({ MODELSERVE_WORKERS: '-2' }), /^ {2}\$MODELSERVE_WORKERS: must be at least 0$/m);
  assert.match(problemsOf({ MODELSERVE_WORKERS: 'abc' }), /^ {2}\$MODELSERVE_WORKERS: 'abc' is not a whole number$/m);
  assert.match(problemsOf({ PORT: '0x50' }), /^ {2}\$PORT: '0x50' is not a whole number$/m);
});

test('a millisecond option past the longest Node timer is refused naming it (a 30-day --drain-timeout was taken, and setTimeout fired at once: the drain ended immediately)', () => {
  const msOptions = (Object.values(SERVE_OPTIONS) as Array<{ flag: string; env?: string }>).filter((spec) => spec.env?.endsWith('_MS'));
  assert.deepEqual(msOptions.map((spec) => spec.flag).sort(), ['drain-timeout', 'grpc-max-connection-age', 'grpc-max-connection-idle', 'run-timeout-ms', 'shutdown-delay']);
  const thirtyDays = String(30 * 24 * 3600 * 1000);
  for (const spec of msOptions) {
    assert.match(problemsOf({}, [`--${spec.flag}`, thirtyDays]), new RegExp(`^ {2}--${spec.flag}: must be at most 2147483647 ms \\(about 24\\.8 days`, 'm'), spec.flag);
    assert.match(problemsOf({ [spec.env!]: thirtyDays }), new RegExp(`^ {2}\\$${spec.env}: must be at most 2147483647 ms`, 'm'), spec.env);
    // The longest timer itself is taken.
    assert.equal((parseServeOptions([EXAMPLES, `--${spec.flag}`, '2147483647'], {}) as unknown as Record<string, unknown>)[Object.entries(SERVE_OPTIONS).find(([, s]) => s.flag === spec.flag)![0]], 2147483647);
  }
  assert.match(problemsOf({ PORT: '65536' }), /^ {2}\$PORT: must be at most 65535$/m);
});

test('modelserve serve with a bad variable exits 2 naming it, before anything loads', () => {
  const res = spawnSync(process.execPath, [CLI, 'serve', EXAMPLES], { cwd: REPO, encoding: 'utf8', timeout: 30_000, env: { ...process.env, MODELSERVE_GRPC_PORT: '0', MODELSERVE_RATE_LIMIT: '10/s', MODELSERVE_WORKERS: 'abc' } });
  assert.equal(res.status, 2, res.stderr);
  assert.equal(res.stderr, "modelserve serve: invalid options:\n  $MODELSERVE_WORKERS: 'abc' is not a whole number\n  $MODELSERVE_RATE_LIMIT: limits are per API key, so it needs --api-keys-env or --api-keys-file (requests without auth are never limited)\n");
});

test('an empty API-key variable stops start-up rather than serve without auth (MODELSERVE_API_KEYS_FILE= counted as unset: auth was silently off)', () => {
  for (const name of ['MODELSERVE_API_KEYS_ENV', 'MODELSERVE_API_KEYS_FILE', 'MODELSERVE_ADMIN_API_KEYS_ENV', 'MODELSERVE_ADMIN_API_KEYS_FILE']) {
    assert.match(problemsOf({ [name]: '' }), new RegExp(`^ {2}\\$${name}: is empty, which would serve without auth .*: give a value, or remove ${name} to serve without auth$`, 'm'), name);
  }
  // With another key source auth is on, so an empty one beside it is harmless (one manifest for both kinds of deployment).
  const options = parseServeOptions([EXAMPLES], { MODELSERVE_API_KEYS_ENV: 'SERVE_ENV_TEST_KEYS', SERVE_ENV_TEST_KEYS: 'k'.repeat(16), MODELSERVE_API_KEYS_FILE: '', MODELSERVE_ADMIN_API_KEYS_ENV: '' });
  assert.deepEqual(options.apiKeys, ['k'.repeat(16)]);
  // Other empty variables are still unset.
  assert.equal(parseServeOptions([EXAMPLES], { PORT: '', MODELSERVE_RATE_LIMIT: '' }).port, 8000);
});

test('a MODELSERVE_* variable serve does not read gets a start-up warning with the closest name (MODELSERVE_WOKERS was ignored without a word)', () => {
  const { warnings } = parseServeOptions([EXAMPLES], { MODELSERVE_WOKERS: '2', MODELSERVE_PORT: '9000', MODELSERVE_FOO: '1', MODELSERVE_WATCH: '1', MODELSERVE_MODEL_REPO: 'models', PORT: '8080', OTHER_TOOL_VARIABLE: 'x' });
  assert.deepEqual(warnings, [
    '$MODELSERVE_FOO is not read by modelserve serve (see modelserve serve --help)',
    '$MODELSERVE_PORT is not read by modelserve serve (did you mean PORT?)',
    '$MODELSERVE_WOKERS is not read by modelserve serve (did you mean MODELSERVE_WORKERS?)',
  ]);
  // A variable an option names holds a secret: it is read.
  const named = parseServeOptions([EXAMPLES], { MODELSERVE_API_KEYS_ENV: 'MODELSERVE_API_KEYS', MODELSERVE_API_KEYS: 'k'.repeat(16) });
  assert.deepEqual(named.warnings, []);
  assert.deepEqual(named.apiKeys, ['k'.repeat(16)]);
});

test('MODELSERVE_API_KEYS that no MODELSERVE_API_KEYS_ENV names stops start-up rather than serve without auth (only the secret half of docs/deploy.md\'s Cloud Run step served everyone)', () => {
  assert.match(problemsOf({ MODELSERVE_API_KEYS: 'k'.repeat(16) }), /^ {2}\$MODELSERVE_API_KEYS: no option reads it, so the server would run without auth: set MODELSERVE_API_KEYS_ENV=MODELSERVE_API_KEYS to use it as the keys, or remove it$/m);
  // With auth on from another source it is only a warning.
  const { warnings } = parseServeOptions([EXAMPLES], { MODELSERVE_API_KEYS: 'k'.repeat(16), MODELSERVE_API_KEYS_ENV: 'OTHER_KEYS', OTHER_KEYS: 'j'.repeat(16) });
  assert.deepEqual(warnings, ['$MODELSERVE_API_KEYS is not read by modelserve serve (set MODELSERVE_API_KEYS_ENV=MODELSERVE_API_KEYS to use it as keys)']);
});

test('modelserve serve prints the warning on stderr before it serves', async (t) => {
  const serve = startServe([EXAMPLES, '--port', '0'], { env: { MODELSERVE_GRPC_PORT: '0', MODELSERVE_WOKERS: '1' } });
  t.after(() => serve.kill());
  await serve.url;
  assert.match(serve.stderr(), /^modelserve: warning: \$MODELSERVE_WOKERS is not read by modelserve serve \(did you mean MODELSERVE_WORKERS\?\)\n(.*\n)?modelserve: serving /m);
  serve.child.kill('SIGTERM');
  assert.equal(await serve.exited, 0);
});

test('log levels are read case-insensitively (LOG_LEVEL=INFO, as platforms write it, was refused); an unknown one still lists the valid ones', () => {
  assert.equal(parseServeOptions([EXAMPLES], { LOG_LEVEL: 'INFO' }).logLevel, 'info');
  assert.equal(parseServeOptions([EXAMPLES, '--log-level', 'Warn'], {}).logLevel, 'warn');
  assert.match(problemsOf({ LOG_LEVEL: 'LOUD' }), /^ {2}\$LOG_LEVEL: 'LOUD' must be one of fatal, error, warn, info, debug, trace, silent$/m);
  assert.match(problemsOf({}, ['--log-level', 'Loud']), /^ {2}--log-level: 'Loud' must be one of fatal, error, warn, info, debug, trace, silent$/m);
});

test('surrounding blanks are dropped from every value, flag or variable (MODELSERVE_WATCH="true " was "not a boolean", HOST=" 127.0.0.1" and a key file path with a trailing blank were used as given)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'serve-env-blanks-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const keys = join(dir, 'keys');
  writeFileSync(keys, `${'k'.repeat(16)}\n`);
  const options = parseServeOptions([EXAMPLES], {
    MODELSERVE_WATCH: 'true ', PORT: ' 8080', LOG_LEVEL: ' warn\t', HOST: ' 127.0.0.1 ', MODELSERVE_BODY_LIMIT: ' 2mb ',
    MODELSERVE_API_KEYS_FILE: `${keys} `, MODELSERVE_MODEL_REPO: ' models ',
  });
  assert.equal(options.watch, true);
  assert.equal(options.port, 8080);
  assert.equal(options.logLevel, 'warn');
  assert.equal(options.host, '127.0.0.1');
  assert.equal(options.bodyLimit, 2 * 1024 * 1024);
  assert.deepEqual(options.apiKeys, ['k'.repeat(16)]);
  assert.equal(parseServeOptions([], { MODELSERVE_MODEL_REPO: ' models ' }).repo, 'models');
  // Flags too.
  assert.equal(parseServeOptions([EXAMPLES, '--port', '9000 ', '--log-level', ' ERROR'], {}).port, 9000);
  // A blank variable is an empty one: unset, except an API-key variable, which stops start-up as empty does.
  assert.equal(parseServeOptions([EXAMPLES], { PORT: '  ', MODELSERVE_WATCH: ' ' }).port, 8000);
  assert.match(problemsOf({ MODELSERVE_API_KEYS_FILE: ' ' }), /^ {2}\$MODELSERVE_API_KEYS_FILE: is empty, which would serve without auth/m);
  // A value still wrong after trimming is quoted without the blanks.
  assert.match(problemsOf({ MODELSERVE_WATCH: ' maybe ' }), /^ {2}\$MODELSERVE_WATCH: 'maybe' is not a boolean \(true\/false\)$/m);
});

test('an MQTT or events setting without the part it is for stops start-up naming it and what is missing (MODELSERVE_MQTT_USERNAME without a broker URL was ignored without a word)', () => {
  const message = problemsOf({ MODELSERVE_MQTT_USERNAME: 'plant7', MODELSERVE_MQTT_PASSWORD_FILE: '/run/secrets/mqtt', MODELSERVE_EVENTS_FILE_KEEP: '3', MODELSERVE_EVENTS_SAMPLE: '0.5' }, ['--mqtt-group', 'g']);
  assert.match(message, /^ {2}\$MODELSERVE_MQTT_USERNAME: needs --mqtt-url \(MODELSERVE_MQTT_URL\), the broker it is for; without it nothing reads this setting$/m);
  assert.match(message, /^ {2}\$MODELSERVE_MQTT_PASSWORD_FILE: needs --mqtt-url \(MODELSERVE_MQTT_URL\)/m);
  assert.match(message, /^ {2}--mqtt-group: needs --mqtt-url \(MODELSERVE_MQTT_URL\)/m);
  assert.match(message, /^ {2}\$MODELSERVE_EVENTS_FILE_KEEP: needs --events-file \(MODELSERVE_EVENTS_FILE\), the file it is for/m);
  assert.match(message, /^ {2}\$MODELSERVE_EVENTS_SAMPLE: needs an events destination \(--events-file, --events-webhook or --events-mqtt-topic\)/m);
  // Defaults are not settings: without MQTT or events nothing is said.
  assert.doesNotThrow(() => parseServeOptions([EXAMPLES], {}));
  // With the part on, they are read.
  const options = parseServeOptions([EXAMPLES], { MODELSERVE_MQTT_URL: 'mqtt://127.0.0.1:1883', MODELSERVE_MQTT_USERNAME: 'plant7', MODELSERVE_EVENTS_WEBHOOK: 'http://127.0.0.1:9/e', MODELSERVE_EVENTS_SAMPLE: '0.5' });
  assert.equal(options.streams?.mqtt?.username, 'plant7');
  assert.equal(options.streams?.events?.sampleRate, 0.5);
});

test('a secret in a URL flag gets a start-up warning naming the flag and the safer way, never the secret (a password in --mqtt-url or --events-webhook was shown by ps without a word)', () => {
  const { warnings } = parseServeOptions([EXAMPLES, '--mqtt-url', 'mqtt://plant7:hunter2-secret@127.0.0.1:1883', '--events-webhook', 'https://hooks.example.com/e?sig=s3cr3t-sig&v=1'], {});
  assert.deepEqual(warnings, [
    '--mqtt-url holds a password, which every user of this machine can read in ps: set the URL in MODELSERVE_MQTT_URL, or give the password with --mqtt-password-env or --mqtt-password-file',
    '--events-webhook holds what looks like a secret in its query (sig=), which every user of this machine can read in ps: set the URL in MODELSERVE_EVENTS_WEBHOOK, or send a token with --events-webhook-token-env or --events-webhook-token-file',
  ]);
  assert.match(parseServeOptions([EXAMPLES, '--events-webhook', 'https://bob:pw-secret@hooks.example.com/e'], {}).warnings.join('\n'), /^--events-webhook holds a password, /);
  // The same URLs from their variables, or URLs without a secret, say nothing.
  assert.deepEqual(parseServeOptions([EXAMPLES], { MODELSERVE_MQTT_URL: 'mqtt://plant7:hunter2-secret@127.0.0.1:1883', MODELSERVE_EVENTS_WEBHOOK: 'https://bob:pw@hooks.example.com/e' }).warnings, []);
  assert.deepEqual(parseServeOptions([EXAMPLES, '--mqtt-url', 'mqtt://127.0.0.1:1883', '--events-webhook', 'https://hooks.example.com/e?v=1'], {}).warnings, []);
});

// ThingsBoard's MQTT API takes a device's access token as the user name (no password), and a webhook's token@host is
// sent as Basic auth: a user name alone on the command line said nothing, while ps showed the token.
test('a user name alone on the command line (--mqtt-url TOKEN@host, --mqtt-username, --events-webhook TOKEN@host) gets the start-up warning, without the name; from its variable it does not', () => {
  const TOKEN = 'A1_TEST_TOKEN_0123456789';
  const { warnings } = parseServeOptions([EXAMPLES, '--mqtt-url', `mqtt://${TOKEN}@127.0.0.1:1883`, '--events-webhook', `https://${TOKEN}@hooks.example.com/e`], {});
  assert.deepEqual(warnings, [
    '--mqtt-url holds a user name (brokers such as ThingsBoard take an access token there), which every user of this machine can read in ps: set the URL in MODELSERVE_MQTT_URL or the user name in MODELSERVE_MQTT_USERNAME instead (--mqtt-username is on the command line too)',
    '--events-webhook holds a user name (sent as Basic auth, where some services take an access token), which every user of this machine can read in ps: set the URL in MODELSERVE_EVENTS_WEBHOOK, or send a token with --events-webhook-token-env or --events-webhook-token-file',
  ]);
  const flag = parseServeOptions([EXAMPLES, '--mqtt-url', 'mqtt://127.0.0.1:1883', '--mqtt-username', TOKEN], {});
  assert.deepEqual(flag.warnings, ['--mqtt-username holds a user name (brokers such as ThingsBoard take an access token there), which every user of this machine can read in ps: set MODELSERVE_MQTT_USERNAME instead']);
  for (const w of [...warnings, ...flag.warnings]) assert.doesNotMatch(w, /A1_TEST/);
  // The safer ways the warnings name are read, and say nothing.
  const env = parseServeOptions([EXAMPLES], { MODELSERVE_MQTT_URL: `mqtt://${TOKEN}@127.0.0.1:1883`, MODELSERVE_EVENTS_WEBHOOK: `https://${TOKEN}@hooks.example.com/e` });
  assert.deepEqual(env.warnings, []);
  assert.equal(env.streams?.mqtt?.url, `mqtt://${TOKEN}@127.0.0.1:1883`);
  const named = parseServeOptions([EXAMPLES, '--mqtt-url', 'mqtt://127.0.0.1:1883'], { MODELSERVE_MQTT_USERNAME: TOKEN });
  assert.deepEqual(named.warnings, []);
  assert.equal(named.streams?.mqtt?.username, TOKEN);
});

test('modelserve serve prints the secret-on-the-command-line warning on stderr, without the secret', async (t) => {
  const serve = startServe([EXAMPLES, '--port', '0', '--events-webhook', 'http://bob:hunter2-secret@127.0.0.1:9/e'], { env: { MODELSERVE_GRPC_PORT: '0' } });
  t.after(() => serve.kill());
  await serve.url;
  assert.match(serve.stderr(), /^modelserve: warning: --events-webhook holds a password, which every user of this machine can read in ps: /m);
  assert.doesNotMatch(serve.stderr(), /hunter2/);
  serve.child.kill('SIGTERM');
  await serve.exited;
});

test('MODELSERVE_MQTT_PASSWORD or MODELSERVE_EVENTS_WEBHOOK_TOKEN that nothing reads is told how to use it (the warning suggested renaming it to the -env variable, which would take the secret for a variable name)', () => {
  const env = { MODELSERVE_MQTT_URL: 'mqtt://127.0.0.1:1883', MODELSERVE_MQTT_PASSWORD: 'pw', MODELSERVE_EVENTS_WEBHOOK: 'http://127.0.0.1:9/e', MODELSERVE_EVENTS_WEBHOOK_TOKEN: 'tok' };
  assert.deepEqual(parseServeOptions([EXAMPLES], env).warnings, [
    '$MODELSERVE_EVENTS_WEBHOOK_TOKEN is not read by modelserve serve (set MODELSERVE_EVENTS_WEBHOOK_TOKEN_ENV=MODELSERVE_EVENTS_WEBHOOK_TOKEN to use it as the webhook token)',
    '$MODELSERVE_MQTT_PASSWORD is not read by modelserve serve (set MODELSERVE_MQTT_PASSWORD_ENV=MODELSERVE_MQTT_PASSWORD to use it as the MQTT password)',
  ]);
  const named = parseServeOptions([EXAMPLES], { ...env, MODELSERVE_MQTT_PASSWORD_ENV: 'MODELSERVE_MQTT_PASSWORD', MODELSERVE_EVENTS_WEBHOOK_TOKEN_ENV: 'MODELSERVE_EVENTS_WEBHOOK_TOKEN' });
  assert.deepEqual(named.warnings, []);
  assert.equal(named.streams?.mqtt?.password, 'pw');
});

test("--mqtt-url's help names every scheme the option takes (ws:// and wss://, MQTT over WebSocket, were left out)", () => {
  for (const scheme of ['mqtt', 'mqtts', 'ws', 'wss']) {
    assert.equal(parseServeOptions([EXAMPLES, '--mqtt-url', `${scheme}://127.0.0.1:1883`], {}).streams?.mqtt?.url, `${scheme}://127.0.0.1:1883`);
    assert.ok(SERVE_OPTIONS.mqttUrl.doc.includes(`${scheme}://`), `the --mqtt-url help does not name ${scheme}://: ${SERVE_OPTIONS.mqttUrl.doc}`);
  }
  assert.match(problemsOf({}, ['--mqtt-url', 'http://127.0.0.1:1883']), /--mqtt-url: 'http:\/\/127\.0\.0\.1:1883' is not an MQTT URL/);
});
