// What a --watch pass costs when nothing changed, with many models (a team serving one model per
// customer): the repository is scanned every second, so a pass that reparsed every config and
// checked every model against every other kept an idle server with 300 models at 43 % of a core.
// Counted here: config files read, cross-model checks made and the configs they look at, by a pass that finds nothing new.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configFileReadCount } from '../../src/config/load.js';
import { scanRepository } from '../../src/core/repository.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { tempDir } from '../helpers/paths.js';
import { bookConfig, writeBookVersion } from './fixtures.js';

const MODELS = ['a', 'b', 'c', 'd', 'e'];
let repo: string;
let server: RunningServer;

before(async () => {
  repo = tempDir();
  for (const name of MODELS) writeBookVersion(repo, name, 1);
  server = await startServer({ repo, port: 0, grpcPort: 0, workers: 1, logger: false });
});
after(async () => {
  await server?.shutdown();
});

test('a scan of an unchanged repository reads no config again; after one config is edited, only that model is read', () => {
  scanRepository(repo);
  let before = configFileReadCount();
  scanRepository(repo);
  assert.equal(configFileReadCount() - before, 0, 'configs read by a scan that found nothing changed');
  writeFileSync(join(repo, 'c', '1', 'model.yaml'), `${bookConfig('c', 1)}# edited\n`);
  before = configFileReadCount();
  scanRepository(repo);
  // Model c's version config, and again for its version policy (the same file, once each).
  const reads = configFileReadCount() - before;
  assert.ok(reads > 0 && reads <= 2, `configs read after one edit: ${reads}`);
});

test('a reconcile pass that finds nothing changed checks no model against the others again', async () => {
  await server.core.reconcile({});
  const before = server.core.crossModelChecks;
  await server.core.reconcile({});
  await server.core.reconcile({});
  assert.equal(server.core.crossModelChecks - before, 0);
  assert.deepEqual(server.core.servingVersions().map((v) => v.name).sort(), MODELS);
});

test('the clash checks of a pass that finds nothing changed look at a few configs per model, not at every model for each model', async () => {
  await server.core.reconcile({});
  await server.core.reconcile({});
  const before = server.core.clashInputs;
  await server.core.reconcile({});
  const looked = server.core.clashInputs - before;
  // Linear: the pass's configs compared once with the pass before's, then each model's own. Gathering every
  // other model's configs for each model was quadratic (here 5 models x 15 = 75; at 400 models, 10-20 ms a second).
  assert.ok(looked <= 3 * MODELS.length, `configs looked at by an idle pass over ${MODELS.length} models: ${looked}`);
});
