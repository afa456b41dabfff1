// serve's start-up message (completeStartupMessage): the check's full list replaces the failure's
// own message only when it holds that failure; a check that misses it never hides the real cause.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { completeStartupMessage } from '../../src/check/startup.js';
import { StartupError } from '../../src/errors.js';
import { tempDir } from '../helpers/paths.js';

test('a failure the check does not find is printed as it is, not replaced by the check\'s list of other problems', async () => {
  const repo = tempDir('modelserve-startup-');
  for (const name of ['broken', 'broken2']) {
    mkdirSync(join(repo, name));
    writeFileSync(join(repo, name, 'model.yaml'), 'colour: red\n');
  }
  const file = relative(process.cwd(), join(repo, 'other', 'model.onnx'));
  const real = new StartupError('MS_ERR_MODEL_SIGNATURE', `model configuration does not match the ONNX model (1 problem):\n  ${file}: inputs.x: the real cause`);
  assert.equal(await completeStartupMessage(real, repo, false), real.message);
  // A failure the check holds: the check's complete list, every model's problems.
  const found = new StartupError('MS_ERR_CONFIG_INVALID', `invalid model configuration (1 problem):\n  ${relative(process.cwd(), join(repo, 'broken', 'model.yaml'))}: colour: unknown key`);
  const message = await completeStartupMessage(found, repo, false);
  assert.match(message, /broken\/model\.yaml: colour: unknown key/);
  // Each config also lacks fields, inputs and outputs, which serve refuses first: 4 problems each.
  assert.match(message, /^invalid model configuration \(8 problems\)/);
  assert.match(message, /broken\/model\.yaml: outputs: is required/);
  assert.match(message, /broken2\/model\.yaml: colour: unknown key/);
});
