// The pace of --watch's poll. Polling stats every file of every version (an edit in place changes no folder), so with
// hundreds of models an idle server spent 8-10 % of a core polling every second. While the repository's file events can be
// trusted and no version waits for time to pass, the poll is a safety net at quietPollMs; counted here: the pace it polls at.
import { after, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RepositoryWatcher, scanRepository } from '../../src/core/repository.js';
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
  // The pass reported b's folder as changed, and b's event named it: events are trusted still.
  await until(() => server.core.watchPollMs === 1000, 'the quiet pace after the announced edit');
});

test('a scan names the model folders whose files changed since the scan before, a folder gone among them', () => {
  const repo = tempDir();
  for (const name of ['a', 'b', 'c']) writeBookVersion(repo, name, 1);
  scanRepository(repo);
  assert.deepEqual(scanRepository(repo).changedFolders, [], 'nothing changed');
  writeFileSync(join(repo, 'b', '1', 'model.yaml'), bookConfig('b', 7));
  rmSync(join(repo, 'c'), { recursive: true });
  assert.deepEqual(scanRepository(repo).changedFolders, [join(resolve(repo), 'b'), join(resolve(repo), 'c')]);
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

test('a poll that finds a change no file event announced stops trusting events: polling at pollMs while no event comes', async () => {
  const repo = tempDir();
  mkdirSync(join(repo, 'a'));
  let changed = false;
  let passes = 0;
  const watcher = new RepositoryWatcher(repo, { pollMs: 30, debounceMs: 10 }, () => {
    passes++;
    return Promise.resolve({ pending: false, uncovered: false, changedFolders: changed ? [join(repo, 'a')] : [] });
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

// The passes below are driven by hand: the poll's setInterval is node:test's mock (ticked), file events are real (a write in
// the repository) and run a pass through the real debounce; each step waits for its pass, never for a length of time.
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** What a driven watcher's next pass finds: the model folders changed (names in the repository), and what it does meanwhile. */
interface DrivenPass {
  changed: string[];
  during?: () => void;
}

/**
 * A watcher whose poll is ticked by hand; `expect` and `poll` say what its next pass finds (else: nothing changed). The
 * folders `models` are made in the repository first: a write in one of them is that model's file event. A folder
 * reported changed that gets no write is one whose events never arrive (a mount inside the repository).
 */
function drivenWatcher(repo: string, models: string[] = ['a']): { watcher: RepositoryWatcher; passes: () => number; expect: (report: DrivenPass) => void; poll: (report?: DrivenPass) => Promise<void>; passesAfter: (n: number) => Promise<void> } {
  for (const model of models) mkdirSync(join(repo, model), { recursive: true });
  let passes = 0;
  let next: DrivenPass | undefined;
  const watcher = new RepositoryWatcher(repo, { pollMs: 1000, debounceMs: 10 }, () => {
    passes++;
    const report = next ?? { changed: [] };
    next = undefined;
    report.during?.();
    return Promise.resolve({ pending: false, uncovered: false, changedFolders: report.changed.map((model) => join(repo, model)) });
  });
  return {
    watcher,
    passes: () => passes,
    expect: (report) => {
      next = report;
    },
    // One poll: the interval's callback runs the pass at once; its end (afterPass) is a few microtasks later.
    poll: async (report) => {
      next = report;
      const before = passes;
      mock.timers.tick(watcher.pollPaceMs);
      assert.equal(passes, before + 1, 'the poll ran a pass');
      await nextTurn();
    },
    passesAfter: async (n) => {
      await until(() => passes > n, 'a pass run by the file event');
      await nextTurn();
    },
  };
}

test('a write whose file event is read only after the pass that found it has ended counts as announced: the poll goes back to the quiet pace', async () => {
  const repo = tempDir();
  mock.timers.enable({ apis: ['setInterval'] });
  const { watcher, passes, poll, passesAfter } = drivenWatcher(repo);
  watcher.start();
  try {
    await poll();
    assert.equal(watcher.pollPaceMs, 10_000, 'events trusted');
    // The write is made during the pass and found by it; its event is read from the kernel only once the pass has ended
    // (a busy machine: the write just before a pass whose event is not handled yet is the same).
    await poll({ changed: ['a'], during: () => writeFileSync(join(repo, 'a', 'during-the-pass'), 'x') });
    assert.equal(watcher.pollPaceMs, 1000, 'undecided until the next pass: the pollMs pace meanwhile');
    const seen = passes();
    await passesAfter(seen); // the write's event, read late, runs a pass
    assert.equal(watcher.pollPaceMs, 10_000, 'the event came after all: events are trusted still');
  } finally {
    watcher.stop();
    mock.timers.reset();
  }
});

test('events missed once are trusted again once a change is seen announced by its event', async () => {
  const repo = tempDir();
  mock.timers.enable({ apis: ['setInterval'] });
  const { watcher, passes, expect, poll, passesAfter } = drivenWatcher(repo);
  watcher.start();
  try {
    await poll();
    assert.equal(watcher.pollPaceMs, 10_000);
    await poll({ changed: ['a'] }); // a change no event announces (a stall)
    await poll();
    assert.equal(watcher.pollPaceMs, 1000, 'no event by the next pass: events are missed');
    await poll();
    assert.equal(watcher.pollPaceMs, 1000, 'and stay missed while no change comes with its event');
    // A change that comes with its event: the pass the event runs finds it.
    const seen = passes();
    expect({ changed: ['a'] });
    writeFileSync(join(repo, 'a', 'announced'), 'x');
    await passesAfter(seen);
    assert.equal(watcher.pollPaceMs, 10_000, 'events are trusted again');
  } finally {
    watcher.stop();
    mock.timers.reset();
  }
});

test('a pass run straight after the one that found an unannounced change does not decide before file events could be read', async () => {
  const repo = tempDir();
  mock.timers.enable({ apis: ['setInterval'] });
  let passes = 0;
  mkdirSync(join(repo, 'a'));
  let finish: ((report: { pending: boolean; uncovered: boolean; changedFolders: string[] }) => void) | undefined;
  const watcher = new RepositoryWatcher(repo, { pollMs: 1000, debounceMs: 10 }, () => {
    passes++;
    if (passes === 2) return new Promise((resolve) => (finish = resolve));
    return Promise.resolve({ pending: false, uncovered: false, changedFolders: [] });
  });
  watcher.start();
  try {
    mock.timers.tick(1000);
    await nextTurn();
    assert.equal(watcher.pollPaceMs, 10_000);
    mock.timers.tick(10_000); // pass 2 starts, and runs on
    mock.timers.tick(10_000); // the poll's next call comes while it runs: a pass runs straight after it
    assert.equal(passes, 2);
    // The write pass 2 finds, made as it ends: its event is read after pass 3, chained to pass 2, has run.
    writeFileSync(join(repo, 'a', 'as-the-pass-ends'), 'x');
    finish!({ pending: false, uncovered: false, changedFolders: [join(repo, 'a')] });
    await nextTurn();
    await until(() => passes > 3, 'the pass run by the file event');
    await nextTurn();
    assert.equal(watcher.pollPaceMs, 10_000, 'the event came after all');
  } finally {
    watcher.stop();
    mock.timers.reset();
  }
});

// A repository where one model folder is a mount (its changes, made elsewhere, send no event here) and another is local.
test('an event announces only the model folder it names: a change of another folder in the same pass is unannounced, and the poll goes back to pollMs', async () => {
  const repo = tempDir();
  mock.timers.enable({ apis: ['setInterval'] });
  const { watcher, passes, expect, poll, passesAfter } = drivenWatcher(repo, ['mounted', 'local']);
  watcher.start();
  try {
    await poll();
    assert.equal(watcher.pollPaceMs, 10_000, 'events trusted');
    // Both change; only the local folder's write sends an event. (Counted as announcing both, the mount's later changes
    // were picked up at quietPollMs: ten times late.)
    let seen = passes();
    expect({ changed: ['mounted', 'local'] });
    writeFileSync(join(repo, 'local', 'x'), 'x');
    await passesAfter(seen);
    assert.equal(watcher.pollPaceMs, 1000, "the mount's change came with no event naming it");
    await poll();
    assert.equal(watcher.pollPaceMs, 1000, 'no event by the next pass: the mount misses its events');
    // The local folder's next change comes with its event: that says nothing of the mount's (the pace used to switch back).
    seen = passes();
    expect({ changed: ['local'] });
    writeFileSync(join(repo, 'local', 'y'), 'y');
    await passesAfter(seen);
    assert.equal(watcher.pollPaceMs, 1000, "another folder's announced change does not trust the mount again");
    await poll({ changed: ['mounted'] });
    await poll();
    assert.equal(watcher.pollPaceMs, 1000, "the mount's changes are polled for at pollMs");
    // A change of its own that comes with its event (the mount's events arrive after all): trusted again.
    seen = passes();
    expect({ changed: ['mounted'] });
    writeFileSync(join(repo, 'mounted', 'z'), 'z');
    await passesAfter(seen);
    assert.equal(watcher.pollPaceMs, 10_000, 'events are trusted again');
  } finally {
    watcher.stop();
    mock.timers.reset();
  }
});

test('changes of several model folders, each announced by its own event, keep the quiet pace', async () => {
  const repo = tempDir();
  mock.timers.enable({ apis: ['setInterval'] });
  const { watcher, passes, expect, poll, passesAfter } = drivenWatcher(repo, ['a', 'b']);
  watcher.start();
  try {
    await poll();
    assert.equal(watcher.pollPaceMs, 10_000);
    const seen = passes();
    expect({ changed: ['a', 'b'] });
    writeFileSync(join(repo, 'a', 'x'), 'x');
    writeFileSync(join(repo, 'b', 'x'), 'x');
    await passesAfter(seen);
    // (Should b's event be read only after the pass a's event ran, the pass b's event runs decides: wait for it.)
    await until(() => watcher.pollPaceMs === 10_000, 'both announced: the quiet pace');
  } finally {
    watcher.stop();
    mock.timers.reset();
  }
});

test('a model folder whose change came with no event is not waited for once it is gone', async () => {
  const repo = tempDir();
  mock.timers.enable({ apis: ['setInterval'] });
  const { watcher, poll } = drivenWatcher(repo, ['a']);
  watcher.start();
  try {
    await poll();
    assert.equal(watcher.pollPaceMs, 10_000);
    // A mount taken away (no event): the scan finds the folder gone.
    await poll({ changed: ['unmounted'] });
    assert.equal(watcher.pollPaceMs, 1000, 'undecided');
    await poll();
    assert.equal(watcher.pollPaceMs, 10_000, 'a folder no longer there sends no changes to miss');
  } finally {
    watcher.stop();
    mock.timers.reset();
  }
});
