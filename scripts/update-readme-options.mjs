// Regenerates the README's `modelserve serve` options table from the option table in the code.
import { readFileSync, writeFileSync } from 'node:fs';
import { serveOptionsMarkdown } from '../dist/src/cli/serve-options.js';

const start = '<!-- serve-options:start -->';
const end = '<!-- /serve-options:end -->'.replace('/', '');
const text = readFileSync('README.md', 'utf8');
const i = text.indexOf(start);
const j = text.indexOf(end);
if (i < 0 || j < i) throw new Error('README.md has no serve-options markers');
writeFileSync('README.md', `${text.slice(0, i + start.length)}\n${serveOptionsMarkdown()}\n${text.slice(j)}`);
console.log('README.md: serve options table updated');
