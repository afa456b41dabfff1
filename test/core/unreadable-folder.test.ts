// --watch: a model folder (or the whole repository) that modelserve's user can no longer list — a
// chmod or chown gone wrong — was taken for removed and its model unloaded (every model, for the
// repository). Now what it served keeps serving, the problem is shown on the model and logged once,
// and it clears when the folder can be read again. Root reads through any chmod: the server runs as nobody.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { EXAMPLES, tempDir } from '../helpers/paths.js';
import { startServe } from '../helpers/serve.js';
import { call } from '../helpers/http.js';

const NOBODY = { uid: 65534, gid: 65534 };
const WEATHER_ROW = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };

/** Asks until `check` holds (the watcher's next pass); the test's own timeout bounds it. */
async function until<T>(ask: () => Promise<T>, check: (value: T) => boolean): Promise<T> {
  for (;;) {
    const value = await ask();
    if (check(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const reasons = (body: { versions: Array<{ state: string; reason?: string }> }) => body.versions.filter((v) => v.state === 'failed').map((v) => v.reason ?? '');

test('--watch: an unreadable model folder or repository keeps serving what it served, says why once, and clears when readable', { skip: process.getuid?.() !== 0 && 'needs root to run the server as another user', timeout: 120_000 }, async () => {
  const repo = join(tempDir('modelserve-unreadable-'), 'models');
  for (const name of ['weather', 'loan']) cpSync(join(EXAMPLES, name), join(repo, name), { recursive: true });
  chmodSync(join(repo, '..'), 0o755);
  const server = startServe([repo, '--watch', '--port', '0', '--grpc-port', '0', '--workers', '1', '--log-level', 'error'], { user: NOBODY, captureStdout: true });
  after(() => {
    server.kill();
    rmSync(join(repo, '..'), { recursive: true, force: true });
  });
  const url = await server.url;
  const weather = () => call(`${url}/models/weather`).then((r) => r.body);

  chmodSync(join(repo, 'weather'), 0o000);
  const shown = await until(weather, (b) => reasons(b).length > 0);
  assert.match(reasons(shown)[0]!, /weather: \(folder\): cannot be read \(permission denied\) by modelserve's user \(uid 65534\): make it readable \(chmod -R a\+rX, or chown\); the versions loaded before keep serving/);
  assert.equal((await call(`${url}/models/weather/predict`, { body: WEATHER_ROW })).status, 200);
  const load = await call(`${url}/v2/repository/models/weather/load`, { method: 'POST' });
  assert.equal(load.status, 400);
  assert.match(load.body.error, /cannot be read \(permission denied\)/);

  chmodSync(repo, 0o000);
  const loan = await until(() => call(`${url}/models/loan`).then((r) => r.body), (b) => reasons(b).length > 0);
  assert.match(reasons(loan)[0]!, /models: \(folder\): cannot be read \(permission denied\)/);
  assert.equal((await call(`${url}/models/weather/predict`, { body: WEATHER_ROW })).status, 200);

  chmodSync(repo, 0o755);
  chmodSync(join(repo, 'weather'), 0o755);
  await until(weather, (b) => reasons(b).length === 0);
  assert.deepEqual((await weather()).versions.map((v: { state: string }) => v.state), ['ready']);
  // Said once each while it lasted (a pass a second), not on every pass.
  const said = server.stdout().split('\n').filter((l) => l.includes('cannot be read'));
  assert.equal(said.length, 3, said.join('\n'));
});
