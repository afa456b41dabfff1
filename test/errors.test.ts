import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERRORS } from '../src/errors.js';
import { REPO } from './helpers/paths.js';

test('every error code is documented in docs/errors.md with its HTTP status', () => {
  const doc = readFileSync(join(REPO, 'docs', 'errors.md'), 'utf8');
  for (const [code, def] of Object.entries(ERRORS)) {
    const row = doc.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
    assert.ok(row, `${code} is not documented in docs/errors.md`);
    const status = row.split('|')[2]!.trim();
    assert.equal(status, def.status === 0 ? 'startup' : String(def.status), `${code}: documented status`);
  }
});

test('docs/errors.md documents no code that does not exist', () => {
  const doc = readFileSync(join(REPO, 'docs', 'errors.md'), 'utf8');
  for (const [, code] of doc.matchAll(/^\| `(MS_ERR_[A-Z_]+)` \|/gm)) assert.ok(code! in ERRORS, `${code} is documented but not in src/errors.ts`);
});
