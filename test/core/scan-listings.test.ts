// A repository of many model folders (one model per customer) is scanned every second under --watch, and walked at
// serve's start-up for its warnings. Each walk listed every model folder 3 to 6 times (can it be listed, is it a model,
// its version folders, its .onnx files, its files) and serve's warnings walked the repository three times over.
// Counted here: the listings of each folder, and the lstat calls, made by one scan and by the start-up warnings.
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import fs, { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { configFileReadCount, loadRepository } from '../../src/config/load.js';
import { scanRepository } from '../../src/core/repository.js';
import { repositoryWarnings } from '../../src/startup-warnings.js';
import { BOOK_MODEL, tempDir } from '../helpers/paths.js';
import { bookConfig, writeBookVersion } from './fixtures.js';

/** A flat model with its config, a raw .onnx alone, a model of two version folders, one with a lookalike (02) and a link to nothing. */
function repository(): string {
  const repo = tempDir();
  mkdirSync(join(repo, 'flat'));
  copyFileSync(BOOK_MODEL, join(repo, 'flat', 'model.onnx'));
  writeFileSync(join(repo, 'flat', 'model.yaml'), bookConfig('flat', 1));
  mkdirSync(join(repo, 'raw'));
  copyFileSync(BOOK_MODEL, join(repo, 'raw', 'model.onnx'));
  writeBookVersion(repo, 'versioned', 1);
  writeBookVersion(repo, 'versioned', 2);
  mkdirSync(join(repo, 'versioned', '02'));
  symlinkSync(join(repo, 'gone'), join(repo, 'versioned', '3'));
  return repo;
}

/** The listings of each folder, and the lstat calls, made by `walk`. */
function counted(walk: () => unknown): { listings: Map<string, number>; lstats: number } {
  const listings = new Map<string, number>();
  let lstats = 0;
  const readdir = fs.readdirSync;
  const lstat = fs.lstatSync;
  mock.method(fs, 'readdirSync', function (this: unknown, ...args: unknown[]) {
    listings.set(String(args[0]), (listings.get(String(args[0])) ?? 0) + 1);
    return (readdir as (...a: unknown[]) => unknown).apply(this, args);
  });
  mock.method(fs, 'lstatSync', function (this: unknown, ...args: unknown[]) {
    lstats++;
    return (lstat as (...a: unknown[]) => unknown).apply(this, args);
  });
  syncBuiltinESMExports();
  try {
    walk();
  } finally {
    mock.restoreAll();
    syncBuiltinESMExports();
  }
  return { listings, lstats };
}

const listedMoreThanOnce = (listings: Map<string, number>) => [...listings].filter(([, n]) => n > 1).map(([dir, n]) => `${dir}: ${n}`);

test('a scan lists each folder of the repository once, and looks for config files in those listings (no lstat per name)', () => {
  const repo = repository();
  const first = scanRepository(repo);
  assert.deepEqual(first.models.map((m) => [m.name, m.versions.map((v) => v.version)]), [['flat', [1]], ['raw', [1]], ['versioned', [1, 2]]]);
  assert.equal(first.models[2]!.lookalikes?.length, 1);
  assert.equal(first.models[2]!.danglingLinks?.length, 1);
  const { listings, lstats } = counted(() => scanRepository(repo));
  assert.deepEqual(listedMoreThanOnce(listings), []);
  for (const dir of [repo, 'flat', 'raw', 'versioned', join('versioned', '1'), join('versioned', '2')].map((d) => (d === repo ? d : join(repo, d)))) assert.equal(listings.get(dir), 1, dir);
  // Only the link to nothing (versioned/3) is told apart by lstat (is it a model folder, then its versions); config files are found in the listings.
  assert.ok(lstats <= 2, `${lstats} lstat calls`);
});

test("serve's start-up warnings walk the repository with each folder listed once, and say the same", () => {
  const repo = repository();
  const warnings = repositoryWarnings(repo).map((w) => w.message.replace(/^.*?: \S*?(versioned[\\/]\S+): .*$/, '$1'));
  assert.deepEqual(warnings, [join('versioned', '02'), join('versioned', '3')]);
  const { listings } = counted(() => repositoryWarnings(repo));
  assert.deepEqual(listedMoreThanOnce(listings), []);
});

// Whether a model folder of version folders also holds a flat model file: every version's config was read (YAML parsed) to
// see whether it names that file, even with no such file there (400 models: hundreds of configs parsed at start-up for nothing).
test("serve's start-up warnings read no config of a model with no model file beside its version folders; one with such a file is still warned of", () => {
  const repo = repository();
  const before = configFileReadCount();
  assert.deepEqual(repositoryWarnings(repo).filter((w) => w.message.startsWith('model folder layout: ')), []);
  assert.equal(configFileReadCount() - before, 0, 'configs read');
  copyFileSync(BOOK_MODEL, join(repo, 'versioned', 'old.onnx'));
  assert.match(repositoryWarnings(repo).find((w) => w.message.startsWith('model folder layout: '))?.message ?? '', /versioned: holds numbered version folders \(1, 2\) and, beside them, old\.onnx of the flat layout/);
});

// serve's start-up read each model's version policy twice (which versions to load, then whether it selects any), each
// read parsing the model's configs again: with hundreds of models, YAML parsing was most of the start-up's main-thread time.
test("serve's start-up (loadRepository) reads each config file twice at most: once for the version policy, once as the version's config", () => {
  const repo = tempDir();
  for (const name of ['a', 'b', 'c']) {
    mkdirSync(join(repo, name));
    copyFileSync(BOOK_MODEL, join(repo, name, 'model.onnx'));
    writeFileSync(join(repo, name, 'model.yaml'), bookConfig(name, 1));
  }
  writeBookVersion(repo, 'versioned', 1);
  writeBookVersion(repo, 'versioned', 2);
  const before = configFileReadCount();
  assert.deepEqual(loadRepository(repo).map((c) => `${c.name} ${c.version}`), ['a 1', 'b 1', 'c 1', 'versioned 2']);
  // a, b, c: the policy and the config; versioned: the policy (version 2's file) and version 2's config.
  assert.equal(configFileReadCount() - before, 8);
});
