// The pace of --watch's poll. Polling stats every file of every version (an edit in place changes no folder), so with
// hundreds of models an idle server spent 8-10 % of a core polling every second. While the repository's file events can be
// trusted and no version waits for time to pass, the poll is a safety net at quietPollMs; counted here: the pace it polls at.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RepositoryWatcher } from '../../src/core/repository.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { call } from '../helpers/http.js';
import { BOOK_MODEL, tempDir } from '../helpers/paths.js';
import { BOOK_ROW, bookConfig, labelsOf, writeBookVersion } from './fixtures.js';

const WATCH = { pollMs: 100, debounceMs: 50, settleMs: 300 };
const servers: RunningServer[] = [];
after(async () => {
  for (const s of servers) await s.shutdown();
});

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await sleep(20);
  }
}

test('an idle --watch polls at quietPollMs (10 x pollMs) once file events are trusted; a version settling polls at pollMs until it is served', async () => {
  const repo = tempDir();
  for (const name of ['a', 'b']) writeBookVersion(repo, name, 1);
  // Settling for 2 s: the pace of settling is seen only if a pass comes while the version settles, and on a loaded machine
  // the pass after the write came later than 300 ms (the version was found settled, loaded at once, that pace never seen).
  const server = await startServer({ repo, port: 0, grpcPort: 0, workers: 1, logger: false, watch: { ...WATCH, settleMs: 2000 } });
  servers.push(server);
  await until(() => server.core.watchPollMs === 1000, 'the quiet pace');
  // A new version: its files settle for settleMs, which no file event announces: the poll takes its pace again meanwhile.
  writeBookVersion(repo, 'a', 2);
  await until(() => server.core.watchPollMs === 100, 'the pace of a version settling');
  const predict = async (name: string) => String((await call(`${server.url}/models/${name}/predict`, { body: BOOK_ROW })).body.prediction);
  await until(async () => Object.values(labelsOf(2)).includes(await predict('a')), 'version 2 served');
  await until(() => server.core.watchPollMs === 1000, 'the quiet pace again');
  // An edit in place (no folder changes) is announced by its file event, and served.
  writeFileSync(join(repo, 'b', '1', 'model.yaml'), bookConfig('b', 7));
  await until(async () => Object.values(labelsOf(7)).includes(await predict('b')), 'the edit served');
});

test('a model file outside the repository (no file event tells its changes) keeps the poll at pollMs', async () => {
  const root = tempDir();
  const repo = join(root, 'repo');
  mkdirSync(join(repo, 'out'), { recursive: true });
  copyFileSync(BOOK_MODEL, join(root, 'svc.onnx'));
  writeFileSync(join(repo, 'out', 'model.yaml'), bookConfig('out', 1).replace('model: model.onnx', 'model: ../../svc.onnx'));
  const server = await startServer({ repo, port: 0, grpcPort: 0, workers: 1, logger: false, watch: WATCH });
  servers.push(server);
  assert.deepEqual(server.core.servingVersions().map((v) => v.name), ['out']);
  // Passes run (the start-up's events, then polls), none of them slows the poll down.
  await sleep(500);
  assert.equal(server.core.watchPollMs, 100);
});

test('a model folder that is a symbolic link (the recursive watch does not descend into it) keeps the poll at pollMs', async () => {
  const root = tempDir();
  const repo = join(root, 'repo');
  mkdirSync(repo);
  writeBookVersion(root, 'elsewhere', 1);
  writeFileSync(join(root, 'elsewhere', '1', 'model.yaml'), bookConfig('linked', 1));
  symlinkSync(join(root, 'elsewhere'), join(repo, 'linked'));
  const server = await startServer({ repo, port: 0, grpcPort: 0, workers: 1, logger: false, watch: WATCH });
  servers.push(server);
  assert.deepEqual(server.core.servingVersions().map((v) => v.name), ['linked']);
  await sleep(500);
  assert.equal(server.core.watchPollMs, 100);
});

test('a poll that finds a change no file event announced stops trusting events: polling at pollMs from then on', async () => {
  const repo = tempDir();
  let changed = false;
  let passes = 0;
  const watcher = new RepositoryWatcher(repo, { pollMs: 30, debounceMs: 10 }, () => {
    passes++;
    return Promise.resolve({ pending: false, uncovered: false, changed });
  });
  watcher.start();
  try {
    await until(() => watcher.pollPaceMs === 300, 'the quiet pace');
    changed = true; // a change, with no file event in the repository
    const seen = passes;
    await until(() => passes > seen + 1, 'two passes');
    assert.equal(watcher.pollPaceMs, 30);
    changed = false;
    const now = passes;
    await until(() => passes > now + 1, 'two more passes');
    assert.equal(watcher.pollPaceMs, 30, 'events are no longer trusted');
  } finally {
    watcher.stop();
  }
});
