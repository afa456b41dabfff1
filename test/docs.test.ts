// Every command docs/*.md shows runs, as written: each ```sh/```bash block either runs here or is
// marked `<!-- docs-test: not run: REASON -->` (infrastructure this machine lacks: Docker, gcloud,
// a cluster, root), and every inline `modelserve loadtest …`/`modelserve serve …` is accepted by
// the option parser. The runnable blocks' `modelserve` commands run as processes against a real
// server on the example models, with the placeholders bound (URL, the host:port, b.json, rows.csv,
// body.json, headers.txt, $LOADTEST_HEADERS) and, to keep the suite short, durations cut to 1 s (-d, --stage, capacity steps at
// most 200 req/s) — the flags themselves are the ones the docs show.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../src/server.js';
import { parseRunArgs } from '../src/loadtest/args.js';
import { parseServeOptions } from '../src/cli/serve-options.js';
import { CLI, EXAMPLES, REPO, tempDir } from './helpers/paths.js';

const DOCS = join(REPO, 'docs');
const FILES = readdirSync(DOCS).filter((f) => f.endsWith('.md')).sort();
// Also docs/deploy.md's markers (test/deploy/docs.test.ts): `doc-example: NAME; not run: REASON`, or
// `doc-example: NAME; run by test/…` — a block another test runs (a container) is not run here.
const NOT_RUN = /<!-- (?:docs-test: not run: (.+?)|doc-example: [a-z0-9-]+; not run: (.+?)|doc-example: [a-z0-9-]+; (run by test\/.+?)) -->\s*$/;

interface Block { file: string; line: number; text: string; notRun?: string; runBy?: string }

function blocks(): Block[] {
  const out: Block[] = [];
  for (const file of FILES) {
    const text = readFileSync(join(DOCS, file), 'utf8');
    for (const m of text.matchAll(/^[ \t]*```(?:sh|bash)\n([\s\S]*?)^[ \t]*```/gm)) {
      const before = text.slice(0, m.index).trimEnd().split('\n').at(-1) ?? '';
      out.push({ file, line: text.slice(0, m.index).split('\n').length, text: m[1]!, ...((m) => ({ notRun: m?.[1] ?? m?.[2], runBy: m?.[3] }))(NOT_RUN.exec(before)) });
    }
  }
  return out;
}

/** The commands of a block: continuation lines joined, comments and blank lines dropped. */
function commands(block: string): string[] {
  return block.replace(/\\\n\s*/g, ' ').split('\n').map((l) => l.replace(/\s+#.*$/, '').replace(/^\s*#.*$/, '').trim()).filter((l) => l !== '');
}

/** Shell words: '…' and "…" quoting, as sh would split these simple lines. */
function words(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}

let server: RunningServer;
let cwd: string;
before(async () => {
  server = await startServer({ repo: EXAMPLES, port: 0, workers: 1, logger: false });
  // The docs' files, in a scratch folder (reports are written there, not into the repository).
  cwd = tempDir('modelserve-docs-');
  symlinkSync(EXAMPLES, join(cwd, 'examples'));
  const rows = JSON.parse(readFileSync(join(EXAMPLES, 'weather', 'samples', 'valid.json'), 'utf8')) as Array<Record<string, unknown>>;
  for (const name of ['b.json', 'body.json']) writeFileSync(join(cwd, name), JSON.stringify(rows));
  const columns = Object.keys(rows[0]!);
  // The headers the docs keep off the command line (the example server has no auth: sent, not checked).
  writeFileSync(join(cwd, 'headers.txt'), 'Authorization: Bearer docs-example-key\n');
  writeFileSync(join(cwd, 'rows.csv'), [columns.join(','), ...rows.slice(0, 8).map((r) => columns.map((c) => r[c]).join(','))].join('\n'));
});
after(async () => {
  await server?.shutdown();
});

/** Binds the placeholders of a documented command to the test server. */
function bind(argv: string[]): string[] {
  const origin = server.url;
  return argv.map((w) => w === 'URL' ? `${origin}/predict` : w.replace(/^(https?:\/\/127\.0\.0\.1:80[08]0|https:\/\/my-svc\.example\.run\.app|https:\/\/modelserve-….run.app)/, origin));
}

/** Cuts the run's length (and nothing else). */
function shorten(argv: string[]): string[] {
  const out = argv.map((w, i) => {
    const flag = argv[i - 1];
    if (flag === '-d' || flag === '--duration') return '1s';
    if (flag === '--stage') return w.replace(/^[^:]+:/, '1s:');
    return w;
  });
  if (out.includes('--find-capacity')) out.push('--step-duration', '1s', '--max-rate', '200');
  return out;
}

function run(argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...argv], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOADTEST_HEADERS: 'X-Api-Key: docs-example-key' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

test('docs: every shell block runs here or says why not (and that list stays short)', () => {
  const all = blocks();
  assert.ok(all.length > 0);
  const notRun = all.filter((b) => b.notRun !== undefined);
  // (Blocks that name the test that runs them are checked by test/deploy/docs.test.ts.)
  for (const b of notRun) assert.ok(b.notRun!.length > 10, `${b.file}:${b.line}: a reason is needed`);
  // (docs/deploy.md's cloud, cluster and VM walk-throughs are most of these; each names the test that covers it.)
  assert.ok(notRun.length <= 10, `${notRun.length} blocks are not run: ${notRun.map((b) => `${b.file}:${b.line}`).join(', ')}`);
  for (const b of all.filter((x) => x.notRun === undefined && x.runBy === undefined)) {
    for (const c of commands(b.text)) assert.match(c, /^(npx )?modelserve /, `${b.file}:${b.line}: '${c}' is neither run by this test nor marked not run`);
  }
});

test('docs: every `gcloud run` command names its --region (without one gcloud asks for it, and a CI job without a terminal fails)', () => {
  const commandsSeen = FILES.flatMap((file) => [...readFileSync(join(DOCS, file), 'utf8').replace(/\\\n\s*/g, ' ').matchAll(/gcloud run [^`\n#]*/g)].map((m) => `${file}: ${m[0].trim()}`));
  assert.ok(commandsSeen.length >= 3, commandsSeen.join('\n'));
  assert.deepEqual(commandsSeen.filter((c) => !/ --region[ =]\S/.test(c)), []);
});

test('docs: every inline `modelserve loadtest …` and `modelserve serve …` is accepted as written', () => {
  let checked = 0;
  for (const file of FILES) {
    const text = readFileSync(join(DOCS, file), 'utf8').replace(/^[ \t]*```[\s\S]*?^[ \t]*```/gm, '');
    for (const [, span] of text.matchAll(/`((?:npx )?modelserve (?:loadtest|serve)[^`]*)`/g)) {
      const argv = bind(words(span!.replace(/^npx /, ''))).slice(1);
      // Synopses (`<url>`, `[-n 100]`, `[options]`) describe the syntax; they are not commands.
      // A bare `modelserve loadtest` names the command.
      if (argv.length <= 1 || argv.some((w) => /^[<[]/.test(w))) continue;
      checked++;
      if (argv[0] === 'serve') assert.doesNotThrow(() => parseServeOptions(argv.slice(1), {}), `${file}: ${span}`);
      else if (argv[1] !== 'compare') assert.doesNotThrow(() => parseRunArgs(argv.slice(argv[1] === 'measure' ? 2 : 1)), `${file}: ${span}`);
    }
  }
  // The modelserve commands of blocks run elsewhere or not at all (a cloud URL, a container) are parsed too.
  for (const b of blocks().filter((x) => x.notRun !== undefined || x.runBy !== undefined)) {
    for (const c of commands(b.text)) {
      if (!/^(npx )?modelserve (loadtest|serve) /.test(c)) continue;
      const argv = bind(words(c.replace(/^npx /, ''))).slice(1);
      checked++;
      if (argv[0] === 'serve') assert.doesNotThrow(() => parseServeOptions(argv.slice(1), {}), `${b.file}:${b.line}: ${c}`);
      else assert.doesNotThrow(() => parseRunArgs(argv.slice(1)), `${b.file}:${b.line}: ${c}`);
    }
  }
  assert.ok(checked >= 3, `${checked} inline commands checked`);
});

test('docs: the shell blocks\' modelserve commands run against the example models', async () => {
  let ran = 0;
  for (const b of blocks().filter((x) => x.notRun === undefined && x.runBy === undefined)) {
    for (const c of commands(b.text)) {
      const argv = shorten(bind(words(c.replace(/^npx /, '')).slice(1)));
      const res = await run(argv);
      // A threshold or an SLO may fail on a loaded machine (exit 3); bad usage (2) or a run error (1) may not.
      const allowed = argv.includes('--threshold') || argv.includes('--find-capacity') ? [0, 3] : [0];
      assert.ok(allowed.includes(res.code ?? -1), `${b.file}:${b.line}: '${c}' exited ${res.code}: ${res.stderr.slice(-600)}`);
      ran++;
    }
  }
  assert.ok(ran >= 10, `${ran} commands ran`);
  // What the commands wrote is there.
  for (const f of ['report.html', 'capacity.html', 'local.json', 'cloud.json']) assert.ok(readFileSync(join(cwd, f)).length > 0, f);
});
