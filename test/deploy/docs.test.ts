// docs/deploy.md: every shell block says whether a test runs it (`<!-- doc-example: NAME; run by
// test/… -->`, and that test exists) or why none can (`<!-- doc-example: NAME; not run: REASON -->`:
// a cloud account, a cluster). The `gcloud run deploy` flags, which no test can run, are checked
// against the Knative Service and the image instead.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { REPO_ROOT, readImageSpec } from './docker-image.js';
import { AFTER_DRAIN_MS } from '../../src/server.js';
import { tempDir } from '../helpers/paths.js';

const DOC = readFileSync(join(REPO_ROOT, 'docs/deploy.md'), 'utf8');
const MARKER = /<!-- doc-example: ([a-z0-9-]+); (run by (test\/[\w/.-]+\.ts)(?: [^\n]*?)?|not run: .+?) -->\s*\n\s*```sh\n/g;

describe('docs/deploy.md', () => {
  it('every shell block is marked: run by a test (which exists), or not run and why', () => {
    const blocks = [...DOC.matchAll(/^\s*```sh$/gm)].length;
    const marked = [...DOC.matchAll(MARKER)];
    assert.equal(marked.length, blocks, 'a ```sh block without a <!-- doc-example: NAME; run by test/… | not run: why --> line right above it');
    const names = marked.map((m) => m[1]);
    assert.equal(new Set(names).size, names.length, 'example names are unique');
    for (const m of marked) if (m[3]) assert.ok(existsSync(join(REPO_ROOT, m[3])), `${m[1]}: ${m[3]} does not exist`);
    assert.ok(marked.filter((m) => m[3]).length >= 4, 'most of what can run here is run');
  });

  it('copied block by block into one shell, from the checkout: no block leaves the reader in another folder, and each file a command reads was written by an earlier line', () => {
    const lines = [...DOC.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1].split('\n'));
    // A `cd` outside a subshell moves every later block (their deploy/… paths, the files they read).
    assert.deepEqual(lines.filter((l) => /^\s*cd\s/.test(l)), [], 'use (cd DIR && …) or a path instead');
    const written = new Set<string>();
    const unwritten: string[] = [];
    for (const line of lines) {
      for (const m of line.matchAll(/(?:-d @|--body )([\w./-]+)/g)) if (!written.has(m[1])) unwritten.push(`${m[1]}: ${line.trim()}`);
      for (const m of line.matchAll(/> ?([\w./-]+\.json)/g)) written.add(m[1]);
    }
    assert.deepEqual(unwritten, []);
    // dist/ is the build's output: a fresh clone has none to copy.
    const firstBuild = lines.findIndex((l) => /\bnpm run build\b/.test(l));
    const copiesDist = lines.findIndex((l) => /\bcp\b.*\sdist(\s|$)/.test(l));
    if (copiesDist >= 0) assert.ok(firstBuild >= 0 && firstBuild < copiesDist, `copies dist/ before any npm run build: ${lines[copiesDist].trim()}`);
  });

  it('the Kubernetes block needs only kubectl: its sed points the kustomization at the pushed image, as kubectl kustomize renders it', () => {
    const block = /<!-- doc-example: kubernetes;[^\n]*\n\s*```sh\n([\s\S]*?)```/.exec(DOC)?.[1] ?? '';
    assert.ok(block, 'no kubernetes block');
    // The standalone kustomize is another install; kubectl has `apply -k` and `kustomize`, no `edit`.
    assert.deepEqual(block.split('\n').filter((l) => /(^|[\s(;&|])kustomize\s/.test(l) && !/kubectl kustomize/.test(l)), []);
    const sed = block.split('\n').find((l) => l.startsWith('sed -i '));
    assert.ok(sed, 'a sed line that sets the image');
    const pushed = /docker push (\S+)/.exec(DOC)?.[1];
    assert.ok(pushed, 'the push step\'s image');
    const kubectl = ['/usr/bin/kubectl', '/usr/local/bin/kubectl'].find((p) => existsSync(p));
    if (!kubectl) return; // the sed is still checked for kubectl-only use above
    const dir = tempDir('modelserve-kustomize-');
    try {
      cpSync(join(REPO_ROOT, 'deploy/kubernetes'), join(dir, 'deploy/kubernetes'), { recursive: true });
      const r = spawnSync('bash', ['-c', sed], { cwd: dir, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const k = spawnSync(kubectl, ['kustomize', join(dir, 'deploy/kubernetes')], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(k.status, 0, k.stderr);
      const deployment = parseAllDocuments(k.stdout).map((d) => d.toJS() as { kind: string; spec: { template: { spec: { containers: Array<{ image: string }> } } } }).find((d) => d.kind === 'Deployment');
      assert.equal(deployment?.spec.template.spec.containers[0].image, pushed);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the `gcloud run deploy` flags are the Knative Service\'s settings and fit the image', () => {
    const block = /```sh\n(gcloud run deploy modelserve[\s\S]*?)```/.exec(DOC)?.[1].replace(/\\\n\s*/g, ' ') ?? '';
    assert.ok(block, 'no gcloud run deploy block');
    const flag = (name: string) => new RegExp(`--${name}[ =](\\S+)`).exec(block)?.[1];
    const svc = parse(readFileSync(join(REPO_ROOT, 'deploy/knative/service.yaml'), 'utf8')) as { spec: { template: { metadata: { annotations: Record<string, string> }; spec: { containerConcurrency: number; timeoutSeconds: number; containers: Array<{ ports: Array<{ containerPort: number }>; env: Array<{ name: string; value: string }>; resources: { limits: { cpu: string; memory: string } } }> } } } };
    const tpl = svc.spec.template;
    const c = tpl.spec.containers[0];
    const image = readImageSpec().runtime;
    assert.equal(flag('port'), image.env.PORT, 'the port the image listens on');
    assert.equal(Number(flag('port')), c.ports[0].containerPort);
    assert.equal(flag('cpu'), c.resources.limits.cpu);
    assert.equal(flag('memory'), c.resources.limits.memory);
    assert.equal(Number(flag('concurrency')), tpl.spec.containerConcurrency);
    assert.equal(Number(flag('timeout')), tpl.spec.timeoutSeconds);
    assert.equal(flag('min-instances'), tpl.metadata.annotations['autoscaling.knative.dev/minScale']);
    assert.equal(flag('max-instances'), tpl.metadata.annotations['autoscaling.knative.dev/maxScale']);
    assert.equal(block.includes('--cpu-boost'), tpl.metadata.annotations['run.googleapis.com/startup-cpu-boost'] === 'true');
    const env = Object.fromEntries((flag('set-env-vars') ?? '').split(',').map((kv) => kv.split('=')));
    assert.deepEqual(env, Object.fromEntries(c.env.map((e) => [e.name, e.value])));
    assert.equal(env.MODELSERVE_WORKERS, flag('cpu'), 'one worker per vCPU');
    assert.ok(Number(env.MODELSERVE_DRAIN_TIMEOUT_MS) + AFTER_DRAIN_MS < 10_000, 'Cloud Run kills 10 s after SIGTERM');
    assert.match(block, /--image \S+\/modelserve:\d+\.\d+\.\d+/);
  });
});

describe('docs/deploy.md: API keys in Cloud Run from Secret Manager', () => {
  const block = /<!-- doc-example: cloud-run-secret;[^\n]*\n\s*```sh\n([\s\S]*?)```/.exec(DOC)?.[1] ?? '';
  const commands = block.replace(/\\\n\s*/g, ' ').split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter((l) => l !== '');
  /** The $(…) of a line (balanced parentheses: value(…) inside), with where each starts and ends. */
  const substitutions = (line: string) => {
    const out: Array<{ start: number; end: number; inner: string }> = [];
    for (let i = line.indexOf('$('); i >= 0; i = line.indexOf('$(', i + 1)) {
      let depth = 0;
      for (let j = i + 1; j < line.length; j++) {
        if (line[j] === '(') depth++;
        else if (line[j] === ')' && --depth === 0) { out.push({ start: i, end: j + 1, inner: line.slice(i + 2, j) }); i = j; break; }
      }
    }
    return out;
  };
  /** Shell words, as sh splits these lines: '…' and "…" quoting (no $(…) left in them). */
  const words = (line: string) => {
    const out: string[] = [];
    let word: string | null = null;
    let quote = '';
    for (const ch of line) {
      if (quote) { if (ch === quote) quote = ''; else word += ch; continue; }
      if (ch === '\'' || ch === '"') { quote = ch; word ??= ''; continue; }
      if (/\s/.test(ch)) { if (word !== null) out.push(word); word = null; continue; }
      word = (word ?? '') + ch;
    }
    if (word !== null) out.push(word);
    return out;
  };

  it('creates the secret from a file, lets the runtime service account read it, then points the service at it, in that order', () => {
    assert.equal(commands.length, 3, block);
    const [create, grant, update] = commands as [string, string, string];
    const secret = /^gcloud secrets create (\S+) /.exec(create)?.[1];
    assert.ok(secret, `the first command creates the secret: ${create}`);
    // The keys go through a file or stdin, never as an argument (ps, the shell history).
    assert.match(create, /--data-file[ =](?!-\S)\S+/);
    assert.doesNotMatch(create, /\becho\b|\bprintf\b|<<</);
    assert.match(grant, new RegExp(`^gcloud secrets add-iam-policy-binding ${secret} `));
    assert.match(grant, /--role[ =]roles\/secretmanager\.secretAccessor\b/);
    assert.match(grant, /--member[ =]"?serviceAccount:\$\(gcloud run services describe modelserve .*serviceAccountName/);
    assert.match(update, new RegExp(`^gcloud run services update modelserve .*--set-secrets[ =]MODELSERVE_API_KEYS=${secret}:latest\\b`));
    assert.match(update, /--update-env-vars[ =]MODELSERVE_API_KEYS_ENV=MODELSERVE_API_KEYS\b/);
    // The file is the one the Kubernetes secret step wrote.
    const file = /--data-file[ =](\S+)/.exec(create)![1]!;
    if (file !== '-') assert.match(DOC.slice(0, DOC.indexOf(block)), new RegExp(`> ${file.replace(/\./g, '\\.')}\\b`));
  });

  const gcloud = ['/usr/bin/gcloud', '/usr/local/bin/gcloud'].find((p) => existsSync(p));
  it('gcloud accepts every command and flag as written (offline: each stops only for want of an account)', { skip: gcloud ? false : 'gcloud is not installed' }, () => {
    const dir = tempDir('modelserve-gcloud-secret-');
    try {
      const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CLOUDSDK_') && k !== 'GOOGLE_APPLICATION_CREDENTIALS'));
      Object.assign(env, { CLOUDSDK_CONFIG: join(dir, 'config'), CLOUDSDK_CORE_DISABLE_PROMPTS: '1' });
      writeFileSync(join(dir, 'api-keys.txt'), 'k'.repeat(48));
      const argvs: string[][] = [];
      for (const c of commands) {
        // The $(…) is a command of its own; its output is an account's e-mail.
        const subs = substitutions(c);
        for (const sub of subs) argvs.push(words(sub.inner));
        argvs.push(words(subs.reduceRight((line, sub) => line.slice(0, sub.start) + '123-compute@developer.gserviceaccount.com' + line.slice(sub.end), c)));
      }
      assert.equal(argvs.length, 4);
      for (const argv of argvs) {
        assert.equal(argv[0], 'gcloud');
        const r = spawnSync(gcloud as string, [...argv.slice(1), '--project', 'my-project'], { cwd: dir, encoding: 'utf8', env, timeout: 120_000 });
        assert.notEqual(r.status, 0);
        assert.match(r.stderr, /You do not currently have an active account/, `${argv.join(' ')}: ${r.stderr}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('kubectl apply advice', () => {
  it('no doc or manifest says `kubectl apply -f` on a folder holding a kustomization.yaml (kubectl would send the Kustomization itself, no cluster object, and skip its image)', () => {
    const files = [
      'README.md', 'BENCHMARKS.md',
      ...readdirSync(join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`),
      ...(readdirSync(join(REPO_ROOT, 'deploy'), { recursive: true }) as string[]).map((f) => `deploy/${f}`).filter((f) => statSync(join(REPO_ROOT, f)).isFile()),
    ];
    const isKustomizeDir = (p: string) => existsSync(p) && statSync(p).isDirectory() && ['kustomization.yaml', 'kustomization.yml', 'Kustomization'].some((k) => existsSync(join(p, k)));
    const offences: string[] = [];
    let applies = 0;
    for (const file of files) {
      const text = readFileSync(join(REPO_ROOT, file), 'utf8').replace(/\\\n\s*/g, ' ');
      for (const m of text.matchAll(/kubectl\s+apply\b([^`\n]*)/g)) {
        applies++;
        for (const f of m[1]!.matchAll(/(?:^|\s)(?:-f|--filename)(?:=|\s+)['"]?([^\s'";)]+)/g)) {
          if (isKustomizeDir(join(REPO_ROOT, f[1]!))) offences.push(`${file}: ${m[0].trim()}`);
        }
      }
    }
    assert.ok(applies >= 3, `${applies} kubectl apply commands seen`);
    assert.deepEqual(offences, [], 'use kubectl apply -k for these folders');
  });
});
