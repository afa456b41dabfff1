// Every example in the README runs: the book config serves the real svc.onnx, the curl body gets
// the answer the README shows, the 422 shown is the real one, and the options table is current.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../src/server.js';
import { serveOptionsMarkdown } from '../src/cli/serve-options.js';
import { BOOK_MODEL, REPO, tempDir } from './helpers/paths.js';
import { call } from './helpers/http.js';

const README = readFileSync(join(REPO, 'README.md'), 'utf8');

/** The fenced block right after `<!-- readme-example: NAME -->`. */
function example(name: string): string {
  const at = README.indexOf(`<!-- readme-example: ${name} -->`);
  assert.ok(at >= 0, `README has no example ${name}`);
  const m = /```\w*\n([\s\S]*?)```/.exec(README.slice(at));
  assert.ok(m, `no code block after example ${name}`);
  return m[1]!;
}

let server: RunningServer;
before(async () => {
  const repo = tempDir();
  mkdirSync(join(repo, 'book-weather'));
  writeFileSync(join(repo, 'book-weather', 'model.yaml'), example('book-config'));
  symlinkSync(BOOK_MODEL, join(repo, 'book-weather', 'svc.onnx'));
  server = await startServer({ repo, port: 0, workers: 1 });
});
after(async () => {
  await server?.shutdown();
});

test('README: the book config serves svc.onnx and the curl example answers as shown', async () => {
  const curl = example('book-request');
  const body = JSON.parse(/-d '([^']+)'/.exec(curl)![1]!);
  const res = await call(`${server.url}/predict`, { body });
  assert.equal(res.status, 200);
  assert.ok(README.includes(`answers \`${res.text}\``), `README should show ${res.text}`);
});

test('README: the 422 example is what the server answers', async () => {
  const body = JSON.parse(/-d '([^']+)'/.exec(example('book-request'))![1]!);
  const res = await call(`${server.url}/predict`, { body: { ...body, humidity: 83 } });
  assert.equal(res.status, 422);
  assert.ok(README.includes(res.text), `README should show ${res.text}`);
});

test('README: the quick-start curl answers as shown, on the example models', async () => {
  const examples = await startServer({ repo: join(REPO, 'examples'), port: 0, workers: 1 });
  try {
    const snippet = example('quickstart-request');
    const body = JSON.parse(/-d '([^']+)'/.exec(snippet.replace(/\\\n\s*/g, ''))![1]!.replace(/\s*\n\s*/g, ' '));
    const res = await call(`${examples.url}/predict`, { body });
    const shown = /# (\{.*)…\}/.exec(snippet)![1]!;
    assert.ok(res.text.startsWith(shown), `README shows ${shown}…, the server answers ${res.text}`);
  } finally {
    await examples.shutdown();
  }
});

test('README: the serve options table is generated from the code (node scripts/update-readme-options.mjs)', () => {
  assert.ok(README.includes(serveOptionsMarkdown()), 'README options table is stale: run npm run build && node scripts/update-readme-options.mjs');
});

test('README: the quick start is the two commands, and .ci/run calls the test command', () => {
  assert.match(README, /npm install && npm start/);
  assert.match(README, /\nnpm test\s/);
  const ci = readFileSync(join(REPO, '.ci', 'run'), 'utf8');
  assert.match(ci, /^npm test$/m);
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
  assert.match(pkg.scripts.start, /serve examples/);
  assert.match(pkg.scripts.test, /lint/);
  assert.match(pkg.scripts.test, /build|typecheck/);
});

test('README: the repository API commands run as written against the example models', async () => {
  const examples = await startServer({ repo: join(REPO, 'examples'), port: 0, workers: 1 });
  try {
    const block = example('repository-api').replace(/\\\n\s*/g, ' ');
    const commands = block.split('\n').filter((l) => l.startsWith('curl '));
    const shown = /^# (\[.*\])$/m.exec(block)![1]!;
    const outputs: string[] = [];
    for (const command of commands) {
      // Asynchronously: the server answering it runs in this process.
      const run = await promisify(execFile)('bash', ['-c', command.replaceAll('localhost:8000', examples.url.replace('http://', ''))], { encoding: 'utf8', timeout: 10_000 });
      outputs.push(run.stdout);
    }
    assert.equal(outputs[0], shown, 'the index shown is the one served');
    assert.match(outputs[1]!, /"state":"unavailable"/);
    assert.match(outputs[2]!, /"state":"ready"/);
    assert.match(outputs[3]!, /^\{"prediction":"No_Rain"/);
  } finally {
    await examples.shutdown();
  }
});
