#!/usr/bin/env node
// Thin launcher: the CLI is compiled from src/cli/main.ts by `npm run build` (run by `npm install`).
// An older Node (Debian 12's /usr/bin/node is 18) would fail somewhere inside with an error that
// names no cause: say which Node is needed before loading anything.
const major = Number(process.versions.node.split('.')[0]);
if (major < 20) {
  console.error(`modelserve needs Node.js 20 or newer; this is Node.js ${process.versions.node} (${process.execPath})`);
  process.exit(1);
}
const { main } = await import('../dist/src/cli/main.js');

main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code; },
  (err) => { console.error(err instanceof Error ? err.message : String(err)); process.exitCode = 1; },
);
