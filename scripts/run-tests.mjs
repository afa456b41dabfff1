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
// Servers the tests start from the CLI do not take gRPC's fixed default port 8001 (another run on
// the same machine may hold it): tests that use gRPC give their own free port.
const env = { ...process.env, MODELSERVE_GRPC_PORT: process.env.MODELSERVE_GRPC_PORT ?? '0' };
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], { stdio: 'inherit', env });
process.exit(result.status ?? 1);
