// Runs every compiled test file (dist/test/**/*.test.js) with node:test.
// Usage: node scripts/run-tests.mjs [substring-filter ...]
// dist/test/container/ needs a Docker engine: `npm run test:container` (scripts/test-container.mjs) runs it.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function collect(dir) {
  const out = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) {
      if (path !== join('dist', 'test', 'container')) out.push(...collect(path));
    }
    else if (entry.endsWith('.test.js')) out.push(path);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = collect('dist/test').filter((f) => filters.length === 0 || filters.some((s) => f.includes(s))).sort();
if (files.length === 0) {
  console.error('no test files found under dist/test (did `npm run build` run?)');
  process.exit(1);
}
// Servers the tests start get no gRPC port unless a test asks for one: the default (8001) may be
// held by anything else on the machine, and a test of the HTTP side must not fail on it.
const env = { ...process.env, MODELSERVE_GRPC_PORT: process.env.MODELSERVE_GRPC_PORT ?? '0' };
// --test-force-exit: a test that times out skips its own clean-up (a server it started stays open), and
// its file's process would then never exit, holding the whole run until CI's limit; the failure is reported either way.
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-force-exit', ...files], { stdio: 'inherit', env });
process.exit(result.status ?? 1);
