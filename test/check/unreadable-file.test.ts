// A single file modelserve's user may not read (a model file, a config, a scaler mounted from a host
// with the host's owner and mode) was said as "cannot be read (permission denied)" alone, while an
// unreadable folder said by which uid and what to do. Now both do. Root reads through any chmod:
// check and serve run as nobody.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BOOK_FIELDS, BOOK_MODEL, BOOK_SCALER, CLI, EXAMPLES, tempDir } from '../helpers/paths.js';

const NOBODY = { uid: 65534, gid: 65534 };
const HINT = "cannot be read \\(permission denied\\) by modelserve's user \\(uid 65534\\): make it readable \\(chmod a\\+r, or chown\\)";

test('an unreadable model file, config or scaler file: check and serve name it, by which uid, and what to do', { skip: process.getuid?.() !== 0 && 'needs root to run check as another user', timeout: 120_000 }, () => {
  const root = tempDir('modelserve-unreadable-file-');
  chmodSync(root, 0o755);
  const repo = join(root, 'models');
  for (const name of ['weather', 'loan']) cpSync(join(EXAMPLES, name), join(repo, name), { recursive: true });
  mkdirSync(join(repo, 'book'));
  copyFileSync(BOOK_MODEL, join(repo, 'book', 'svc.onnx'));
  copyFileSync(BOOK_SCALER, join(repo, 'book', 'model-scaler.json'));
  writeFileSync(join(repo, 'book', 'model.yaml'), `model: svc.onnx\nfields:\n${BOOK_FIELDS.map((f) => `  ${f}: { type: number }`).join('\n')}\ninputs:\n  float_input:\n    fields: [${BOOK_FIELDS.join(', ')}]\n    scale: { file: model-scaler.json }\noutputs:\n  prediction: { from: label }\n`);
  chmodSync(join(repo, 'weather', 'model.onnx'), 0o000);
  chmodSync(join(repo, 'loan', 'model.yaml'), 0o000);
  chmodSync(join(repo, 'book', 'model-scaler.json'), 0o000);
  for (const args of [['check', repo], ['serve', repo, '--port', '0', '--grpc-port', '0', '--workers', '1']]) {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000, ...NOBODY, cwd: root });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`weather[\\\\/]model\\.onnx ${HINT}`), `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`loan[\\\\/]model\\.yaml: \\(file\\): ${HINT}`), `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`model-scaler\\.json ${HINT}`), `${args[0]}: ${r.stderr}`);
  }
});
