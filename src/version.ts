import { createRequire } from 'node:module';

// package.json is two levels up from dist/src/version.js and one from src/version.ts; resolve from the package root.
const require = createRequire(import.meta.url);
function readVersion(): string {
  for (const path of ['../../package.json', '../package.json']) {
    try {
      return (require(path) as { version: string }).version;
    } catch {
      // try the next location
    }
  }
  return '0.0.0';
}
export const VERSION = readVersion();
