// Numbered version folders that are not what they should be: empty, unreadable, or beside a model
// file of the flat layout. Real files, the real CLI, the real core; each says which folder and what it expects.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadRepository } from '../../src/config/load.js';
import { checkRepository } from '../../src/check/repository.js';
import { InferenceCore } from '../../src/core/core.js';
import { InProcessRuntime } from '../../src/runtime/in-process.js';
import { StartupError } from '../../src/errors.js';
import { BOOK_MODEL, bookModelYaml, tempDir } from '../helpers/paths.js';
import { startServe } from '../helpers/serve.js';
import { call } from '../helpers/http.js';
import { BOOK_ROW, bookConfig, labelsOf, writeBookVersion } from './fixtures.js';

/** The message loadRepository (start-up) refuses the repository with. */
function startupMessage(repo: string): string {
  try {
    loadRepository(repo);
  } catch (err) {
    assert.ok(err instanceof StartupError, String(err));
    return err.message;
  }
  return assert.fail('the repository loaded');
}

/** Root reads through any chmod: a test of an unreadable folder runs the server as nobody then. */
const NOBODY = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : undefined;

test('an empty version folder at start-up and in check names the folder and the files it should hold (it blamed the model folder\'s model: with "ONNX file not found", or said only "no model.yaml")', async () => {
  const repo = tempDir();
  // The model folder's config for every version; 2/ made and not filled.
  mkdirSync(join(repo, 'shared', '1'), { recursive: true });
  copyFileSync(BOOK_MODEL, join(repo, 'shared', '1', 'model.onnx'));
  writeFileSync(join(repo, 'shared', 'model.yaml'), bookConfig('shared', 1));
  mkdirSync(join(repo, 'shared', '2'));
  const shared = /shared[\\/]2: \(folder\): version folder 2 is empty: it should hold model\.onnx \(the model file \S*shared[\\/]model\.yaml names for every version\), and optionally its own model\.yaml \/ model\.yml \/ model\.json; copy the version's files in, or remove the folder/;
  assert.match(startupMessage(repo), shared);
  assert.doesNotMatch(startupMessage(repo), /file not found/);
  // Each version with its own config; 2/ holds only what macOS leaves behind.
  const own = tempDir();
  writeBookVersion(own, 'own', 1);
  mkdirSync(join(own, 'own', '2'));
  writeFileSync(join(own, 'own', '2', '.DS_Store'), '');
  const alone = /own[\\/]2: \(folder\): version folder 2 is empty: it should hold its model\.yaml \/ model\.yml \/ model\.json and the model file it names \(model\.onnx unless model: says otherwise; model\.json for format: xgboost\), or a single \.onnx file alone \(served as is\)/;
  assert.match(startupMessage(own), alone);
  for (const [dir, expected] of [[repo, shared], [own, alone]] as const) {
    const report = await checkRepository(dir);
    assert.equal(report.ok, false);
    assert.deepEqual(report.problems.filter((p) => p.severity === 'error').map((p) => `${p.file}: ${p.key}: ${p.message}`).filter((p) => expected.test(p)).length, 1, JSON.stringify(report.problems));
  }
});

test('--watch: an empty version folder added beside a numbered version 1 keeps version 1 serving', async () => {
  const repo = tempDir();
  writeBookVersion(repo, 'book', 1);
  const core = await InferenceCore.start({ repo, runtime: new InProcessRuntime() });
  after(() => core.close());
  core.watch({ pollMs: 3_600_000, debounceMs: 3_600_000, settleMs: 0 });
  mkdirSync(join(repo, 'book', '2'));
  await core.reconcile({});
  assert.deepEqual(core.status('book')[0]!.versions, [{ version: 1, state: 'ready' }]);
  assert.deepEqual(await (await core.acquire('book')).predict([{ ...BOOK_ROW }]), [{ prediction: labelsOf(1).rain }]);
});

test('start-up: a version folder modelserve\'s user cannot list says so (it said "no model.yaml … in the version folder")', async () => {
  const repo = join(tempDir('modelserve-version-folders-'), 'models');
  writeBookVersion(repo, 'book', 1);
  writeBookVersion(repo, 'book', 2);
  chmodSync(join(repo, '..'), 0o755);
  chmodSync(join(repo, 'book', '2'), 0o000);
  after(() => chmodSync(join(repo, 'book', '2'), 0o755));
  const server = startServe([repo, '--port', '0', '--grpc-port', '0', '--workers', '1'], NOBODY && { user: NOBODY });
  after(() => server.kill());
  assert.equal(await server.exited, 1);
  assert.match(server.stderr(), /book[\\/]2: \(folder\): cannot be read \(permission denied\) by modelserve's user \(uid \d+\): make it readable \(chmod -R a\+rX, or chown\)/);
  assert.doesNotMatch(server.stderr(), /no model\.yaml/);
});

/** Asks until `check` holds (the watcher's next pass); the test's own timeout bounds it. */
async function until<T>(ask: () => Promise<T>, check: (value: T) => boolean): Promise<T> {
  for (;;) {
    const value = await ask();
    if (check(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('--watch: a version folder modelserve\'s user can no longer list is not taken for still arriving: the version serving keeps serving, the older one is not loaded in its place, and the model says why once until it is readable', { timeout: 90_000 }, async () => {
  const repo = join(tempDir('modelserve-version-folders-'), 'models');
  writeBookVersion(repo, 'book', 1);
  writeBookVersion(repo, 'book', 2);
  chmodSync(join(repo, '..'), 0o755);
  const server = startServe([repo, '--watch', '--port', '0', '--grpc-port', '0', '--workers', '1', '--log-level', 'error'], { captureStdout: true, ...(NOBODY && { user: NOBODY }) });
  after(() => {
    server.kill();
    chmodSync(join(repo, 'book', '2'), 0o755);
  });
  const url = await server.url;
  const book = () => call(`${url}/models/book`).then((r) => r.body as { versions: Array<{ version: number; state: string; reason?: string }> });
  const problems = (b: Awaited<ReturnType<typeof book>>) => b.versions.filter((v) => v.version === 0).map((v) => v.reason ?? '');

  chmodSync(join(repo, 'book', '2'), 0o000);
  const shown = await until(book, (b) => problems(b).length > 0);
  assert.match(problems(shown)[0]!, /book[\\/]2: \(folder\): cannot be read \(permission denied\) by modelserve's user \(uid \d+\): make it readable \(chmod -R a\+rX, or chown\); not taken for removed: the versions loaded before keep serving/);
  // Version 2 as loaded keeps serving; version 1 was loaded beside it as if 2 were still being copied in.
  assert.deepEqual(shown.versions.filter((v) => v.version > 0), [{ version: 2, state: 'ready' }]);
  const res = await call(`${url}/models/book/predict`, { body: BOOK_ROW });
  assert.equal(res.headers['x-model-version'], '2');
  assert.equal(res.body.prediction, labelsOf(2).rain);

  chmodSync(join(repo, 'book', '2'), 0o755);
  await until(book, (b) => problems(b).length === 0);
  // Said once while it lasted (a pass a second), not on every pass.
  const said = server.stdout().split('\n').filter((l) => l.includes('cannot be read'));
  assert.equal(said.length, 1, said.join('\n'));
});

test('a model folder holding a flat model file beside numbered version folders says once at start-up, and in check, that the version folders are served and the file is not (it was ignored without a word)', async () => {
  const repo = tempDir();
  const dir = join(repo, 'book');
  mkdirSync(dir);
  copyFileSync(BOOK_MODEL, join(dir, 'model.onnx'));
  writeFileSync(join(dir, 'model.yaml'), bookConfig('book', 1));
  mkdirSync(join(dir, '2'));
  copyFileSync(BOOK_MODEL, join(dir, '2', 'model.onnx'));
  // Named by its config, the model folder's file is served: no warning for that folder.
  const named = join(repo, 'named');
  mkdirSync(join(named, '1'), { recursive: true });
  copyFileSync(BOOK_MODEL, join(named, 'svc.onnx'));
  writeFileSync(join(named, '1', 'model.yaml'), bookConfig('named', 1).replace('model: model.onnx', 'model: ../svc.onnx'));
  const warning = /book: (?:\(folder\): )?holds numbered version folders \(2\) and, beside them, model\.onnx of the flat layout: the version folders are served \(as the version policy selects\), model\.onnx is not; move it into a version folder of its own, or remove it/;

  const server = startServe([repo, '--port', '0', '--grpc-port', '0', '--workers', '1', '--log-level', 'warn'], { captureStdout: true });
  after(() => server.kill());
  const url = await server.url;
  const res = await call(`${url}/models/book/predict`, { body: BOOK_ROW });
  assert.equal(res.headers['x-model-version'], '2');
  const said = server.stdout().split('\n').filter((l) => l.includes('model folder layout'));
  assert.equal(said.length, 1, server.stdout());
  assert.match(said[0]!, warning);

  const report = await checkRepository(repo);
  assert.equal(report.ok, true, JSON.stringify(report.problems));
  const layout = report.problems.filter((p) => /flat layout/.test(p.message)).map((p) => `${p.severity} ${p.file}: ${p.key}: ${p.message}`);
  assert.equal(layout.length, 1, JSON.stringify(report.problems));
  assert.match(layout[0]!, /^warning /);
  assert.match(layout[0]!, warning);
});

test('empty version folders are no problem when the model folder\'s config names a model file outside them (an absolute path): every version serves that file', () => {
  const repo = tempDir();
  mkdirSync(join(repo, 'outside', '1'), { recursive: true });
  mkdirSync(join(repo, 'outside', '2'));
  writeFileSync(join(repo, 'outside', 'model.yaml'), bookModelYaml({ name: 'outside', model: BOOK_MODEL, ...labelsOf(1), extra: 'version_policy: { all: true }' }));
  const configs = loadRepository(repo);
  assert.deepEqual(configs.map((c) => [String(c.version), c.modelFile]).sort(), [['1', BOOK_MODEL], ['2', BOOK_MODEL]]);
});

// A version folder that is a symbolic link to nothing (`3 -> /gone`: a volume not mounted, a release folder deleted) was
// no version at all, without a word: the model served its other versions and nothing said why 3 was missing. Now start-up
// and --watch warn once naming the link and its missing target, check warns, and the other versions still serve.
test('a version folder that is a symbolic link to nothing is warned of at start-up, under --watch and by check; the other versions serve', async () => {
  const { startServer } = await import('../../src/server.js');
  const { captureLogLines } = await import('../helpers/logs.js');
  const { symlinkSync, rmSync } = await import('node:fs');
  const repo = tempDir();
  writeBookVersion(repo, 'book', 1);
  writeBookVersion(repo, 'book', 2);
  const gone = join(tempDir(), 'gone');
  symlinkSync(gone, join(repo, 'book', '3'));
  const warning = (v: number, target: string) => new RegExp(`book[\\\\/]${v}: is a symbolic link that leads to no folder \\(it points to ${target.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}, which does not exist\\): version ${v} is not served; the model's other versions are`);

  const report = await checkRepository(repo);
  assert.equal(report.ok, true, JSON.stringify(report.problems));
  const links = report.problems.filter((p) => /symbolic link/.test(p.message)).map((p) => `${p.severity} ${p.file}: ${p.message}`);
  assert.equal(links.length, 1, JSON.stringify(report.problems));
  assert.match(links[0]!, /^warning /);
  assert.match(links[0]!, warning(3, gone));

  const { lines, stream } = captureLogLines<{ level: number; msg: string }>();
  const server = await startServer({ repo, port: 0, workers: 1, logger: { level: 'warn', stream }, watch: { pollMs: 3_600_000, debounceMs: 3_600_000, settleMs: 0 } });
  try {
    const said = () => lines.filter((l) => l.msg.startsWith('version folder link: ')).map((l) => l.msg);
    assert.equal(said().length, 1, JSON.stringify(lines));
    assert.match(said()[0]!, warning(3, gone));
    assert.equal(server.core.status('book')[0]!.serving, 2);
    // Not said again by the passes that find it unchanged; a new dangling link is said once.
    await server.core.reconcile({});
    assert.equal(said().length, 1, JSON.stringify(said()));
    const moved = join(tempDir(), 'moved');
    rmSync(join(repo, 'book', '3'));
    symlinkSync(moved, join(repo, 'book', '4'));
    await server.core.reconcile({});
    await server.core.reconcile({});
    assert.equal(said().length, 2, JSON.stringify(said()));
    assert.match(said()[1]!, warning(4, moved));
    assert.equal(server.core.status('book')[0]!.serving, 2);
  } finally {
    await server.shutdown();
  }
});

// A model folder whose numbered entries are all links to nothing (every release folder gone) was no versioned model
// folder at all: without a config it was skipped without a word (start-up, check), with one it was read as a model
// without versions (its model file not found) and start-up never said why. Now each link is warned of, at start-up (with
// the start-up's failure when there is one) and by check, saying no version of that folder serves.
test('a model folder whose only numbered entries are symbolic links to nothing is warned of, link by link, at start-up and by check', async () => {
  const { startServer } = await import('../../src/server.js');
  const { captureLogLines } = await import('../helpers/logs.js');
  const { symlinkSync } = await import('node:fs');
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const warning = (v: number, target: string) => new RegExp(`gone[\\\\/]${v}: is a symbolic link that leads to no folder \\(it points to ${escape(target)}, which does not exist\\): version ${v} is not served, nor is any other \\(no numbered entry of this folder is a folder\\)`);
  const targets = [join(tempDir(), 'one'), join(tempDir(), 'two')];

  // No config in it: the model beside it serves, and each link is said.
  const repo = tempDir();
  writeBookVersion(repo, 'book', 1);
  mkdirSync(join(repo, 'gone'));
  targets.forEach((target, i) => symlinkSync(target, join(repo, 'gone', String(i + 1))));
  const report = await checkRepository(repo);
  assert.equal(report.ok, true, JSON.stringify(report.problems));
  const links = report.problems.filter((p) => /symbolic link/.test(p.message)).map((p) => `${p.severity} ${p.file}: ${p.message}`);
  assert.equal(links.length, 2, JSON.stringify(report.problems));
  links.forEach((link, i) => { assert.match(link, /^warning /); assert.match(link, warning(i + 1, targets[i]!)); });
  const { lines, stream } = captureLogLines<{ level: number; msg: string }>();
  const server = await startServer({ repo, port: 0, workers: 1, logger: { level: 'warn', stream } });
  try {
    const said = lines.filter((l) => l.msg.startsWith('version folder link: ')).map((l) => l.msg);
    assert.equal(said.length, 2, JSON.stringify(lines));
    said.forEach((line, i) => assert.match(line, warning(i + 1, targets[i]!)));
    assert.equal(server.core.status('book')[0]!.serving, 1);
  } finally {
    await server.shutdown();
  }

  // With a config in it: read as a model without versions, whose model file is not there; the links are said with that.
  writeFileSync(join(repo, 'gone', 'model.yaml'), bookModelYaml({ name: 'gone', model: 'model.onnx', ...labelsOf(1) }));
  const failing = await checkRepository(repo);
  assert.equal(failing.ok, false);
  assert.match(JSON.stringify(failing.problems.filter((p) => p.severity === 'error')), /ONNX file not found/);
  assert.equal(failing.problems.filter((p) => p.severity === 'warning' && /symbolic link/.test(p.message)).length, 2, JSON.stringify(failing.problems));
  await assert.rejects(startServer({ repo, port: 0, workers: 1, logger: false }), (err: Error) => {
    assert.ok(err instanceof StartupError);
    assert.match(err.message, /ONNX file not found/);
    const said = err.message.split('\n').filter((l) => l.startsWith('version folder link: '));
    assert.equal(said.length, 2, err.message);
    said.forEach((line, i) => assert.match(line, warning(i + 1, targets[i]!)));
    return true;
  });

  // Nothing else in the repository: "no model found" says why.
  const alone = tempDir();
  mkdirSync(join(alone, 'gone'));
  symlinkSync(targets[0]!, join(alone, 'gone', '1'));
  await assert.rejects(checkRepository(alone), (err: Error) => /no model found: .*; .*gone[\\/]1 is a symbolic link that leads to no folder/.test(err.message));
  await assert.rejects(startServer({ repo: alone, port: 0, workers: 1, logger: false }), (err: Error) => {
    assert.match(err.message, /no model found: .*gone[\\/]1 is a symbolic link that leads to no folder/);
    assert.equal(err.message.match(/symbolic link/g)?.length, 1, err.message);
    return true;
  });
});

// A model folder that lost its config while every version folder became a symbolic link to nothing (a release volume
// unmounted) was no model folder to --watch: its model was removed with the plain 'model version unloaded', and no
// warning named the links (the repeated ones cover model folders only). Now the unload is a warning saying why, once.
test('--watch: a model folder whose config goes and whose every version link comes to lead nowhere is removed with a warning saying why, naming the links, once', async () => {
  const { startServer } = await import('../../src/server.js');
  const { captureLogLines } = await import('../helpers/logs.js');
  const { symlinkSync, rmSync } = await import('node:fs');
  const repo = tempDir();
  const releases = tempDir();
  writeBookVersion(repo, 'other', 1);
  mkdirSync(join(repo, 'book'));
  writeFileSync(join(repo, 'book', 'model.yaml'), bookConfig('book', 1));
  for (const v of [1, 2]) {
    mkdirSync(join(releases, String(v)));
    copyFileSync(BOOK_MODEL, join(releases, String(v), 'model.onnx'));
    symlinkSync(join(releases, String(v)), join(repo, 'book', String(v)));
  }
  const { lines, stream } = captureLogLines<{ level: number; msg: string; model?: string }>();
  const server = await startServer({ repo, port: 0, workers: 1, logger: { level: 'info', stream }, watch: { pollMs: 3_600_000, debounceMs: 3_600_000, settleMs: 0 } });
  try {
    assert.equal(server.core.status('book')[0]!.serving, 2);
    rmSync(join(repo, 'book', 'model.yaml'));
    rmSync(releases, { recursive: true });
    await server.core.reconcile({});
    await server.core.reconcile({});
    assert.equal(server.core.knows('book'), false);
    assert.equal(server.core.status('other')[0]!.serving, 1);
    const unloads = lines.filter((l) => l.msg.startsWith('model version unloaded'));
    assert.equal(unloads.length, 1, JSON.stringify(lines));
    assert.equal(unloads[0]!.level, 40, 'a warning');
    const target = (v: number) => join(releases, String(v)).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    assert.match(unloads[0]!.msg, new RegExp(`^model version unloaded: \\S*book no longer holds a config or any version folder: its numbered entries are symbolic links to nothing \\(\\S*book[\\\\/]1: it points to ${target(1)}, which does not exist; \\S*book[\\\\/]2: it points to ${target(2)}, which does not exist\\); the model is removed$`));
    // A folder deleted is a removal as before: the plain line.
    rmSync(join(repo, 'other'), { recursive: true });
    await server.core.reconcile({});
    const plain = lines.filter((l) => l.msg.startsWith('model version unloaded') && l.model === 'other');
    assert.deepEqual(plain.map((l) => [l.level, l.msg]), [[30, 'model version unloaded']]);
  } finally {
    await server.shutdown();
  }
});

// A model removed under --watch while no version of it was loaded (left unloaded by the memory budget, or its config
// failed) had no version to unload: nothing was logged, the user never heard it was removed. Now the removal is said, once.
test('--watch: a model removed while no version of it is loaded (the memory budget, a failed config) is logged as removed, once; with the warning saying why when its folder stays', async () => {
  const { startServer } = await import('../../src/server.js');
  const { captureLogLines } = await import('../helpers/logs.js');
  const { symlinkSync, rmSync } = await import('node:fs');
  const repo = tempDir();
  const releases = tempDir();
  writeBookVersion(repo, 'a', 1);
  writeBookVersion(repo, 'b', 1);
  // zed: its config at the model folder's level, its version a link into a release volume.
  mkdirSync(join(repo, 'zed'));
  writeFileSync(join(repo, 'zed', 'model.yaml'), bookConfig('zed', 1));
  mkdirSync(join(releases, '1'));
  copyFileSync(BOOK_MODEL, join(releases, '1', 'model.onnx'));
  symlinkSync(join(releases, '1'), join(repo, 'zed', '1'));
  const { lines, stream } = captureLogLines<{ level: number; msg: string; model?: string }>();
  const server = await startServer({ repo, port: 0, workers: 1, maxLoadedModels: 1, logger: { level: 'info', stream }, watch: { pollMs: 3_600_000, debounceMs: 3_600_000, settleMs: 0 } });
  try {
    assert.deepEqual(server.core.status().map((m) => [m.name, m.state]), [['a', 'ready'], ['b', 'unavailable'], ['zed', 'unavailable']]);
    // c arrives with a config that does not read: its version fails.
    writeBookVersion(repo, 'c', 1);
    writeFileSync(join(repo, 'c', '1', 'model.yaml'), 'fields: [\n');
    await server.core.reconcile({});
    assert.equal(server.core.status('c')[0]!.state, 'failed');
    rmSync(join(repo, 'b'), { recursive: true });
    rmSync(join(repo, 'c'), { recursive: true });
    rmSync(join(repo, 'zed', 'model.yaml'));
    rmSync(releases, { recursive: true });
    await server.core.reconcile({});
    await server.core.reconcile({});
    assert.deepEqual(server.core.status().map((m) => m.name), ['a']);
    const removals = lines.filter((l) => l.msg.startsWith('model removed')).map((l) => [l.model, l.level, l.msg]).sort();
    assert.equal(removals.length, 3, JSON.stringify(lines));
    assert.deepEqual(removals.slice(0, 2), [['b', 30, 'model removed (no version of it was loaded)'], ['c', 30, 'model removed (no version of it was loaded)']]);
    assert.equal(removals[2]![0], 'zed');
    assert.equal(removals[2]![1], 40, 'a warning');
    assert.match(String(removals[2]![2]), /^model removed: \S*zed no longer holds a config or any version folder: its numbered entries are symbolic links to nothing \(\S*zed[\\/]1: it points to .*, which does not exist\); the model is removed$/);
    assert.equal(lines.filter((l) => l.msg.startsWith('model version unloaded')).length, 0, 'no version was loaded to unload');
  } finally {
    await server.shutdown();
  }
});

// A subfolder named like a version that is none (`02`, `v3`, `1000000000`) was warned of by check alone: serve started
// without a word while it served the other versions. Now start-up logs it as check words it; a 10-digit number, a whole
// number from 1 as the rule said, is told the limit it breaks (at most 9 digits).
test('serve logs at start-up each subfolder named like a version that is none, as check warns of it; a 10-digit one is told the 9-digit limit', async () => {
  const { startServer } = await import('../../src/server.js');
  const { captureLogLines } = await import('../helpers/logs.js');
  const repo = tempDir();
  writeBookVersion(repo, 'book', 1);
  for (const name of ['02', '1000000000']) {
    mkdirSync(join(repo, 'book', name));
    copyFileSync(BOOK_MODEL, join(repo, 'book', name, 'model.onnx'));
  }
  const expected = [
    /^version folder name: \S*book[\\/]02: is not a version folder, so it is not served: versions are folders named 1, 2, 3, … \(a whole number from 1, no leading zero, letter or dot\) \(rename it to 2\)$/,
    /^version folder name: \S*book[\\/]1000000000: is not a version folder, so it is not served: versions are folders named 1, 2, 3, … \(a whole number from 1 of at most 9 digits\)$/,
  ];
  const report = await checkRepository(repo);
  assert.deepEqual(report.problems.map((p) => p.severity), ['warning', 'warning']);
  report.problems.forEach((p, i) => assert.match(`version folder name: ${p.file}: ${p.message}`, expected[i]!));
  const { lines, stream } = captureLogLines<{ level: number; msg: string }>();
  const server = await startServer({ repo, port: 0, workers: 1, logger: { level: 'warn', stream } });
  try {
    const said = lines.filter((l) => l.msg.startsWith('version folder name: '));
    assert.equal(said.length, 2, JSON.stringify(lines));
    said.forEach((l, i) => { assert.equal(l.level, 40); assert.match(l.msg, expected[i]!); });
    assert.equal(server.core.status('book')[0]!.serving, 1);
  } finally {
    await server.shutdown();
  }
});

// A subfolder named like a version that is none was warned of at start-up and by check, not when it appeared while
// --watch ran. Now the scan says it once, from the listing of the model folder it makes anyway (no listing more).
test('--watch: a subfolder named like a version that is none (v3) appearing is warned of once, as at start-up, with no more listings of the model folder per scan', async () => {
  const { startServer } = await import('../../src/server.js');
  const { captureLogLines } = await import('../helpers/logs.js');
  const fs = (await import('node:fs')).default;
  const { syncBuiltinESMExports } = await import('node:module');
  const { mock } = await import('node:test');
  const repo = tempDir();
  writeBookVersion(repo, 'book', 1);
  mkdirSync(join(repo, 'book', '02'));
  const { lines, stream } = captureLogLines<{ level: number; msg: string; model?: string }>();
  const server = await startServer({ repo, port: 0, workers: 1, logger: { level: 'warn', stream }, watch: { pollMs: 3_600_000, debounceMs: 3_600_000, settleMs: 0 } });
  const said = () => lines.filter((l) => l.msg.startsWith('version folder name: ')).map((l) => l.msg);
  // The listings of the model folder during a scan, counted.
  const listings = async () => {
    let n = 0;
    const readdir = fs.readdirSync;
    mock.method(fs, 'readdirSync', function (this: unknown, ...args: Parameters<typeof readdir>) {
      if (String(args[0]) === join(repo, 'book')) n++;
      return (readdir as (...a: unknown[]) => unknown).apply(this, args);
    });
    syncBuiltinESMExports();
    try {
      await server.core.reconcile({});
    } finally {
      mock.restoreAll();
      syncBuiltinESMExports();
    }
    return n;
  };
  try {
    // As before this warning was said: modelFolders lists it twice (can it be listed, is it a model folder), versionLayout once.
    const before = await listings();
    assert.ok(before > 0 && before <= 3, `${before} listings of the model folder in one scan`);
    assert.equal(said().length, 1, 'said at start-up, not again by a scan');
    assert.match(said()[0]!, /book[\\/]02: /);
    mkdirSync(join(repo, 'book', 'v3'));
    assert.equal(await listings(), before, 'a folder named like a version adds no listing');
    await server.core.reconcile({});
    assert.equal(said().length, 2, JSON.stringify(said()));
    assert.match(said()[1]!, /^version folder name: \S*book[\\/]v3: is not a version folder, so it is not served: versions are folders named 1, 2, 3, … \(a whole number from 1, no leading zero, letter or dot\) \(rename it to 3\)$/);
    assert.equal(lines.find((l) => l.msg === said()[1])!.model, 'book');
    // Renamed as told: served; nothing more said.
    fs.renameSync(join(repo, 'book', 'v3'), join(repo, 'book', '3'));
    writeBookVersion(repo, 'book', 3);
    await server.core.reconcile({});
    assert.equal(server.core.status('book')[0]!.serving, 3);
    assert.equal(said().length, 2);
  } finally {
    await server.shutdown();
  }
});

// An edit of the serving (newest) version's files made it 'settling' for a second, and the version policy picked among the
// settled versions alone: the version before it was loaded, then unloaded as 'removed' once the edit settled. Now a loaded
// version whose files are changing still counts for the policy: it keeps serving and no other version is loaded.
test('--watch: editing the serving version\'s folder loads no older version while the edit settles; the newest keeps serving', async () => {
  const repo = tempDir();
  writeBookVersion(repo, 'book', 1);
  const v2 = writeBookVersion(repo, 'book', 2);
  const core = await InferenceCore.start({ repo, runtime: new InProcessRuntime() });
  const events: string[] = [];
  core.on('event', (e: { type: string; version?: number; reason?: string }) => { if (e.type === 'version-ready' || e.type === 'version-unloaded') events.push(`${e.type} ${e.version} ${e.reason ?? ''}`.trim()); });
  try {
    core.watch({ pollMs: 3_600_000, debounceMs: 3_600_000, settleMs: 1000 });
    // Both versions settled (unchanged for a second: a change time cannot be set back); then version 2's config is edited.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    writeFileSync(join(v2, 'model.yaml'), bookConfig('book', 2, 'description: edited\n'));
    await core.reconcile({});
    assert.equal(events.length, 0, `nothing loaded or unloaded while the edit settles: ${events.join(', ')}`);
    const [status] = core.status('book');
    assert.equal(status!.serving, 2);
    assert.deepEqual(status!.versions.map((v) => v.version), [2]);
    // Settled: version 2 is reloaded with the edit, and still nothing of version 1.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await core.reconcile({});
    assert.deepEqual(events.filter((e) => / 1( |$)/.test(e)), []);
    assert.deepEqual(events.slice(0, 1), ['version-ready 2']);
    assert.equal(core.status('book')[0]!.serving, 2);
  } finally {
    await core.close();
  }
});
