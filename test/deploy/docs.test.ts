// docs/deploy.md: every shell block says whether a test runs it (`<!-- doc-example: NAME; run by
// test/… -->`, and that test exists) or why none can (`<!-- doc-example: NAME; not run: REASON -->`:
// a cloud account, a cluster). The `gcloud run deploy` flags, which no test can run, are checked
// against the Knative Service and the image instead.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
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
