// Every manifest under deploy/kubernetes and deploy/knative, validated against the Kubernetes and
// Knative schemas (kubernetes-models, @kubernetes-models/knative), plus the rules that tie them to
// each other, to the Dockerfile and to the server (probe endpoints, drain timeout, workers = CPUs).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import ts from 'typescript';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Service } from 'kubernetes-models/v1/Service';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { parseServeOptions } from '../../src/cli/serve-options.js';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Service as KnativeService } from '@kubernetes-models/knative/serving.knative.dev/v1/Service';
import { numericUser, readImageSpec, REPO_ROOT } from './docker-image.js';
import { AFTER_DRAIN_MS } from '../../src/server.js';
import { tempDir } from '../helpers/paths.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- parsed YAML, checked field by field below

interface Manifest {
  file: string;
  obj: Obj;
}

interface Validating {
  validate(): void;
}

/** apiVersion/kind -> the schema-backed model that validates it. */
const MODELS: Record<string, (o: Obj) => Validating> = {
  'apps/v1/Deployment': (o) => new Deployment(o as never),
  'v1/Service': (o) => new Service(o as never),
  'autoscaling/v2/HorizontalPodAutoscaler': (o) => new HorizontalPodAutoscaler(o as never),
  'policy/v1/PodDisruptionBudget': (o) => new PodDisruptionBudget(o as never),
  'serving.knative.dev/v1/Service': (o) => new KnativeService(o as never),
};
/** Not API objects: build-tool configuration, checked separately. */
const TOOL_KINDS = new Set(['kustomize.config.k8s.io/v1beta1/Kustomization']);

function load(dir: string): Manifest[] {
  const out: Manifest[] = [];
  const base = join(REPO_ROOT, 'deploy', dir);
  for (const name of readdirSync(base).filter((n) => /\.ya?ml$/.test(n)).sort()) {
    for (const doc of parseAllDocuments(readFileSync(join(base, name), 'utf8'))) {
      assert.deepEqual(doc.errors, [], `${dir}/${name}: YAML errors`);
      const obj = doc.toJS() as Obj | null;
      if (obj) out.push({ file: `${dir}/${name}`, obj });
    }
  }
  return out;
}

const typeOf = (o: Obj) => `${o.apiVersion}/${o.kind}`;
const kube = load('kubernetes');
const knative = load('knative');
const find = (list: Manifest[], type: string): Obj => {
  const hits = list.filter((m) => typeOf(m.obj) === type);
  assert.equal(hits.length, 1, `exactly one ${type}`);
  return hits[0].obj;
};

const deployment = find(kube, 'apps/v1/Deployment');
const podSpec: Obj = deployment.spec.template.spec;
const container: Obj = podSpec.containers[0];
const svc = find(kube, 'v1/Service');
const hpa = find(kube, 'autoscaling/v2/HorizontalPodAutoscaler');
const pdb = find(kube, 'policy/v1/PodDisruptionBudget');
const ksvc = find(knative, 'serving.knative.dev/v1/Service');
const kContainer: Obj = ksvc.spec.template.spec.containers[0];
const image = readImageSpec().runtime;
const kubectl = ['/usr/bin/kubectl', '/usr/local/bin/kubectl'].find((p) => existsSync(p));

const envOf = (c: Obj): Record<string, string> => Object.fromEntries((c.env ?? []).map((e: Obj) => [e.name, e.value]));

/** Kubernetes CPU quantity in cores ("2", "1500m", 0.5). */
function cores(q: string | number): number {
  const s = String(q);
  return s.endsWith('m') ? Number(s.slice(0, -1)) / 1000 : Number(s);
}
/** Kubernetes memory quantity in bytes. */
function bytes(q: string | number): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(String(q));
  assert.ok(m, `memory quantity ${q}`);
  const mult: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
  return Number(m[1]) * (m[2] ? mult[m[2]] : 1);
}

describe('manifests validate against the Kubernetes and Knative schemas', () => {
  it('every object in deploy/kubernetes and deploy/knative has a schema and passes it', () => {
    assert.ok(kube.length >= 4 && knative.length >= 1);
    for (const { file, obj } of [...kube, ...knative]) {
      const type = typeOf(obj);
      if (TOOL_KINDS.has(type)) continue;
      const model = MODELS[type];
      assert.ok(model, `${file}: no schema wired for ${type}`);
      assert.doesNotThrow(() => model(obj).validate(), `${file}: ${type}`);
      assert.match(obj.metadata?.name ?? '', /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, `${file}: metadata.name`);
    }
  });

  it('the validators reject broken objects (the schemas are really applied)', () => {
    const broken: Array<[string, Obj]> = [];
    const d = structuredClone(deployment);
    d.spec.template.spec.containers[0].image = 42;
    broken.push(['Deployment with a numeric image', d]);
    const d2 = structuredClone(deployment);
    d2.spec.template.spec.containers[0].readinessProbe.periodSeconds = 'often';
    broken.push(['Deployment with a string periodSeconds', d2]);
    const h = structuredClone(hpa);
    h.spec.maxReplicas = 'twelve';
    broken.push(['HPA with a string maxReplicas', h]);
    const p = structuredClone(pdb);
    p.spec.selector = 'app=modelserve';
    broken.push(['PDB with a string selector', p]);
    const s = structuredClone(svc);
    s.spec.ports[0].port = 'eighty';
    broken.push(['Service with a string port', s]);
    const k = structuredClone(ksvc);
    k.spec.template.spec.containerConcurrency = 'eighty';
    broken.push(['Knative Service with a string containerConcurrency', k]);
    const k2 = structuredClone(ksvc);
    k2.spec.template.spec.containers[0].livenessProbe.httpGet.path = 7;
    broken.push(['Knative Service with a numeric probe path', k2]);
    for (const [what, obj] of broken) assert.throws(() => MODELS[typeOf(obj)](obj).validate(), `${what} must fail validation`);
  });

  it('kustomization.yaml lists every manifest of the folder and rewrites the Deployment image', () => {
    const k = find(kube, 'kustomize.config.k8s.io/v1beta1/Kustomization');
    const files = [...new Set(kube.map((m) => m.file.replace('kubernetes/', '')))].filter((f) => f !== 'kustomization.yaml').sort();
    assert.deepEqual([...k.resources].sort(), files);
    const imageName = String(container.image).split(':')[0];
    assert.ok(k.images.some((i: Obj) => i.name === imageName), `images[].name ${imageName}`);
  });

  it('kubectl kustomize renders the folder, with the image rewritten', { skip: kubectl ? false : 'kubectl is not installed' }, () => {
    const r = spawnSync(kubectl as string, ['kustomize', join(REPO_ROOT, 'deploy/kubernetes')], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj);
    assert.deepEqual(docs.map(typeOf).sort(), kube.map((m) => typeOf(m.obj)).filter((t) => !TOOL_KINDS.has(t)).sort());
    const k = find(kube, 'kustomize.config.k8s.io/v1beta1/Kustomization');
    const rendered = docs.find((d) => d.kind === 'Deployment');
    assert.equal(rendered?.spec.template.spec.containers[0].image, `${k.images[0].newName}:${k.images[0].newTag}`);
  });
});

// ---- unknown fields ------------------------------------------------------------------------------
// The JSON schemas above accept unknown properties (a misspelled `readinesProbe` passes them, and the
// API server would drop or reject it). kubernetes-models also ships TypeScript types for the same
// schemas; an object literal assigned to them gets TypeScript's excess-property check, which names
// every field that does not exist. Each manifest becomes such a literal in an in-memory program.

/** apiVersion/kind -> [module, interface] of its kubernetes-models type. */
const TYPES: Record<string, [string, string]> = {
  'apps/v1/Deployment': ['kubernetes-models/apps/v1/Deployment', 'IDeployment'],
  'v1/Service': ['kubernetes-models/v1/Service', 'IService'],
  'autoscaling/v2/HorizontalPodAutoscaler': ['kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler', 'IHorizontalPodAutoscaler'],
  'policy/v1/PodDisruptionBudget': ['kubernetes-models/policy/v1/PodDisruptionBudget', 'IPodDisruptionBudget'],
  'serving.knative.dev/v1/Service': ['@kubernetes-models/knative/serving.knative.dev/v1/Service', 'IService'],
};

/** Type-checks each object against its type; returns the diagnostics, prefixed by the label. */
function typeCheck(objects: Array<{ label: string; type: [string, string] | 'IContainer[]'; obj: unknown }>): string[] {
  const file = join(REPO_ROOT, 'test/deploy/__manifests__.ts');
  const lines: string[] = [`import type { IContainer } from 'kubernetes-models/v1/Container';`];
  objects.forEach(({ type, obj }, i) => {
    if (type === 'IContainer[]') lines.push(`export const m${i}: IContainer[] = ${JSON.stringify(obj)};`);
    else {
      lines.push(`import type { ${type[1]} as T${i} } from '${type[0]}';`);
      lines.push(`export const m${i}: T${i} = ${JSON.stringify(obj)};`);
    }
  });
  const source = lines.join('\n');
  const options: ts.CompilerOptions = { strict: true, noEmit: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, types: [], skipLibCheck: true };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.getSourceFile = (name, lang, ...rest) => (name === file ? ts.createSourceFile(name, source, lang) : getSourceFile(name, lang, ...rest));
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
    const m = /^export const m(\d+)/.exec(source.split('\n')[line] ?? '');
    return `${m ? objects[Number(m[1])].label : '?'}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
  });
}

/** Knative's generated types predate its startupProbe support (Knative 1.15), and Knative lets probes
 * omit the port: its containers are checked as Kubernetes containers, probe ports filled in. */
function knativeForTypeCheck(obj: Obj): Array<{ label: string; type: [string, string] | 'IContainer[]'; obj: unknown }> {
  const o = structuredClone(obj);
  const containers: Obj[] = o.spec.template.spec.containers;
  o.spec.template.spec.containers = containers.map((c) => ({ image: c.image }));
  for (const c of containers) {
    for (const p of ['startupProbe', 'livenessProbe', 'readinessProbe']) if (c[p]?.httpGet && c[p].httpGet.port === undefined) c[p].httpGet.port = c.ports?.[0]?.containerPort ?? 8080;
  }
  return [
    { label: 'knative Service', type: TYPES['serving.knative.dev/v1/Service'], obj: o },
    { label: 'knative containers', type: 'IContainer[]', obj: containers.map((c) => ({ name: c.name ?? 'user-container', ...c })) },
  ];
}

function allForTypeCheck(list: Manifest[]) {
  return list.flatMap(({ file, obj }) => {
    const type = typeOf(obj);
    if (TOOL_KINDS.has(type)) return [];
    if (type === 'serving.knative.dev/v1/Service') return knativeForTypeCheck(obj);
    assert.ok(TYPES[type], `${file}: no type wired for ${type}`);
    return [{ label: `${file} ${type}`, type: TYPES[type], obj: obj as unknown }];
  });
}

describe('manifests have no unknown fields (excess-property check against the kubernetes-models types)', () => {
  it('every field of every manifest exists in its type', () => {
    assert.deepEqual(typeCheck(allForTypeCheck([...kube, ...knative])), []);
  });

  it('a misspelled field is caught, in a Deployment and in a Knative container', () => {
    const d = structuredClone(deployment);
    d.spec.template.spec.containers[0].readinesProbe = d.spec.template.spec.containers[0].readinessProbe;
    const k = structuredClone(ksvc);
    k.spec.template.spec.containers[0].livenesProbe = { httpGet: { path: '/healthz' } };
    const problems = typeCheck(allForTypeCheck([{ file: 'x', obj: d }, { file: 'y', obj: k }]));
    assert.ok(problems.some((p) => p.includes('readinesProbe')), problems.join('\n'));
    assert.ok(problems.some((p) => p.includes('livenesProbe')), problems.join('\n'));
  });
});

describe('Kubernetes Deployment follows the server and the image', () => {
  const ports: Obj[] = container.ports;
  const httpPort = ports.find((p) => p.name === 'http');
  const env = envOf(container);

  it('listens on $PORT = the container port = the port the image exposes', () => {
    assert.ok(httpPort, 'a port named http');
    assert.equal(String(httpPort.containerPort), env.PORT);
    assert.equal(env.PORT, image.env.PORT);
    assert.deepEqual(image.expose, [String(httpPort.containerPort)]);
  });

  it('probes: startup and readiness on /readyz, liveness on /healthz, all on the http port', () => {
    assert.equal(container.startupProbe?.httpGet?.path, '/readyz');
    assert.equal(container.readinessProbe?.httpGet?.path, '/readyz');
    assert.equal(container.livenessProbe?.httpGet?.path, '/healthz');
    for (const p of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      const port = container[p].httpGet.port;
      assert.ok(port === 'http' || port === httpPort?.containerPort, `${p} port`);
      assert.ok(container[p].timeoutSeconds <= container[p].periodSeconds, `${p}: timeout <= period`);
    }
    const startupBudget = container.startupProbe.periodSeconds * container.startupProbe.failureThreshold;
    assert.ok(startupBudget >= 60, `the startup probe allows ${startupBudget} s for loading + warm-up`);
  });

  it('terminationGracePeriodSeconds > preStop + shutdown delay + drain timeout + what follows the drain; a shutdown delay covers endpoint removal', () => {
    const drainMs = Number(env.MODELSERVE_DRAIN_TIMEOUT_MS ?? image.env.MODELSERVE_DRAIN_TIMEOUT_MS ?? 10_000);
    const delayMs = Number(env.MODELSERVE_SHUTDOWN_DELAY_MS ?? image.env.MODELSERVE_SHUTDOWN_DELAY_MS ?? 0);
    const cmd: string[] = container.lifecycle?.preStop?.exec?.command ?? [];
    const preStop = cmd[0] === 'sleep' ? Number(cmd[1]) : Number(container.lifecycle?.preStop?.sleep?.seconds ?? 0);
    assert.ok(Number.isFinite(drainMs) && drainMs > 0);
    assert.ok(preStop * 1000 + delayMs >= 2000, 'keep accepting a few seconds after SIGTERM while endpoints are removed');
    const needed = preStop + (delayMs + drainMs + AFTER_DRAIN_MS) / 1000;
    assert.ok(podSpec.terminationGracePeriodSeconds > needed, `${podSpec.terminationGracePeriodSeconds} s > ${needed} s`);
  });

  it('CPU limit = CPU request = MODELSERVE_WORKERS (one inference thread per core); memory request = limit', () => {
    const { requests, limits } = container.resources;
    const workers = Number(env.MODELSERVE_WORKERS);
    assert.ok(Number.isInteger(workers) && workers >= 1, 'MODELSERVE_WORKERS set');
    assert.equal(cores(limits.cpu), workers);
    assert.equal(cores(requests.cpu), workers);
    assert.equal(bytes(requests.memory), bytes(limits.memory));
    assert.ok(bytes(limits.memory) >= 256 * 2 ** 20);
  });

  it('runs as the image user, non-root, read-only root filesystem, no privilege escalation', () => {
    const u = numericUser(image.user);
    assert.ok(u);
    assert.equal(podSpec.securityContext.runAsNonRoot, true);
    assert.equal(podSpec.securityContext.runAsUser, u.uid);
    assert.equal(container.securityContext.allowPrivilegeEscalation, false);
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.deepEqual(container.securityContext.capabilities.drop, ['ALL']);
  });

  it('serves the model repository the image bakes, with the image entrypoint', () => {
    assert.equal(container.command, undefined, 'keep the image ENTRYPOINT');
    assert.deepEqual(container.args, image.cmd);
  });

  it('selector matches the pod labels; rolling updates never drop below the desired count', () => {
    const labels = deployment.spec.template.metadata.labels;
    for (const [k, v] of Object.entries(deployment.spec.selector.matchLabels)) assert.equal(labels[k], v);
    assert.equal(deployment.spec.strategy.rollingUpdate.maxUnavailable, 0);
  });
});

describe('Service, HPA and PDB point at the Deployment', () => {
  const labels = deployment.spec.template.metadata.labels;
  const selects = (sel: Record<string, string>) => Object.entries(sel).every(([k, v]) => labels[k] === v);

  it('Service selects the pods and targets the http port, and the gRPC port the server listens on (it had none: gRPC was unreachable through the Service)', () => {
    assert.ok(selects(svc.spec.selector));
    assert.ok(svc.spec.ports.every((p: Obj) => p.targetPort === 'http' || p.targetPort === 'grpc' || p.targetPort === container.ports[0].containerPort));
    const grpcPort = container.ports.find((p: Obj) => p.name === 'grpc');
    assert.ok(grpcPort, 'a container port named grpc');
    assert.equal(grpcPort.containerPort, parseServeOptions([], envOf(container)).grpcPort);
    const routed = svc.spec.ports.find((p: Obj) => p.targetPort === 'grpc');
    assert.ok(routed, 'a Service port for gRPC');
    assert.equal(routed.appProtocol, 'kubernetes.io/h2c');
  });

  it('the Deployment leaves spec.replicas to the HPA (a re-apply would reset a scaled-out Deployment to it)', () => {
    // `kubectl apply -k` (every image update of docs/deploy.md) patches a replicas field that is in
    // the manifest back to its value: 12 pods at peak load would drop to the manifest's number until
    // the HPA scales out again. Without the field, the HPA's minReplicas applies from the start.
    assert.equal(deployment.spec.replicas, undefined, 'remove spec.replicas: hpa.yaml owns it');
  });

  it('HPA scales the Deployment on CPU utilisation (which has a request to be measured against)', () => {
    assert.equal(hpa.spec.scaleTargetRef.kind, 'Deployment');
    assert.equal(hpa.spec.scaleTargetRef.name, deployment.metadata.name);
    assert.ok(hpa.spec.minReplicas >= 2 && hpa.spec.minReplicas <= hpa.spec.maxReplicas);
    const cpu = hpa.spec.metrics.find((m: Obj) => m.type === 'Resource' && m.resource.name === 'cpu');
    assert.ok(cpu, 'a cpu metric');
    assert.equal(cpu.resource.target.type, 'Utilization');
    assert.ok(cpu.resource.target.averageUtilization > 0 && cpu.resource.target.averageUtilization < 100);
    assert.ok(container.resources.requests.cpu, 'Utilization needs a CPU request');
  });

  it('PDB selects the pods and leaves at least one serving at HPA minReplicas', () => {
    assert.ok(selects(pdb.spec.selector.matchLabels));
    if (pdb.spec.maxUnavailable !== undefined) assert.ok(pdb.spec.maxUnavailable < hpa.spec.minReplicas);
    else assert.ok(pdb.spec.minAvailable >= 1 && pdb.spec.minAvailable < hpa.spec.minReplicas);
  });
});

describe('Knative Service (Cloud Run: gcloud run services replace)', () => {
  const tspec: Obj = ksvc.spec.template.spec;
  const env = envOf(kContainer);
  const annotations: Record<string, string> = ksvc.spec.template.metadata?.annotations ?? {};

  it('sets containerConcurrency and a request timeout', () => {
    assert.ok(Number.isInteger(tspec.containerConcurrency) && tspec.containerConcurrency > 0 && tspec.containerConcurrency <= 1000);
    assert.ok(tspec.timeoutSeconds > 0);
  });

  it('one http1 port = the image port; PORT is left to the platform (reserved on Cloud Run)', () => {
    assert.equal(kContainer.ports.length, 1);
    assert.equal(kContainer.ports[0].name, 'http1');
    assert.equal(String(kContainer.ports[0].containerPort), image.env.PORT);
    assert.equal(env.PORT, undefined);
  });

  it('startup probe on /readyz, liveness on /healthz, without a port (Knative/Cloud Run use the container port)', () => {
    assert.equal(kContainer.startupProbe?.httpGet?.path, '/readyz');
    assert.equal(kContainer.livenessProbe?.httpGet?.path, '/healthz');
    for (const p of ['startupProbe', 'livenessProbe']) {
      assert.equal(kContainer[p].httpGet.port, undefined);
      assert.ok(kContainer[p].timeoutSeconds <= kContainer[p].periodSeconds);
      assert.ok(kContainer[p].periodSeconds * kContainer[p].failureThreshold <= 240, 'Cloud Run caps a probe at 240 s');
    }
  });

  it('CPU limit = MODELSERVE_WORKERS; drain timeout < the 10 s Cloud Run allows after SIGTERM', () => {
    assert.equal(cores(kContainer.resources.limits.cpu), Number(env.MODELSERVE_WORKERS));
    assert.ok(Number(env.MODELSERVE_DRAIN_TIMEOUT_MS) + Number(env.MODELSERVE_SHUTDOWN_DELAY_MS ?? 0) + AFTER_DRAIN_MS < 10_000);
    assert.ok(bytes(kContainer.resources.limits.memory) >= bytes(container.resources.limits.memory));
  });

  it('autoscaling bounds are consistent', () => {
    const min = Number(annotations['autoscaling.knative.dev/minScale'] ?? 0);
    const max = Number(annotations['autoscaling.knative.dev/maxScale']);
    assert.ok(Number.isInteger(min) && Number.isInteger(max) && min <= max && max >= 1);
  });

  it('serves the repository the image bakes, with the image entrypoint', () => {
    assert.equal(kContainer.command, undefined);
    assert.deepEqual(kContainer.args, image.cmd);
  });
});

// ---- Knative lock-down, which Cloud Run refuses ----------------------------------------------------
// service.yaml must stay what `gcloud run services replace` accepts; kustomization.yaml adds, for
// Knative only, the lock-down the Deployment has. Both claims are checked: the fields against the
// Deployment and Knative's rules, and Cloud Run's refusal with the real gcloud (offline: it parses
// the file into its run/v1 API message, rejecting unknown fields, before it asks for an account).

/** Container securityContext fields Knative ≥ 1.9 accepts without a feature flag
 * (knative/serving pkg/apis/serving/fieldmask.go, SecurityContextMask). */
const KNATIVE_CONTAINER_SECURITY_FIELDS = new Set(['allowPrivilegeEscalation', 'capabilities', 'readOnlyRootFilesystem', 'runAsGroup', 'runAsNonRoot', 'runAsUser', 'seccompProfile']);

/** RFC 6902 `add`, the only operation kustomization.yaml uses (kubectl kustomize is checked against this below). */
function jsonPatchAdd(target: Obj, ops: Obj[]): Obj {
  const out = structuredClone(target);
  for (const op of ops) {
    assert.equal(op.op, 'add', `patch op ${op.op}`);
    const keys = String(op.path).split('/').slice(1).map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = keys.pop() as string;
    let node: Obj = out;
    for (const k of keys) {
      assert.ok(node[k] !== undefined, `${op.path}: no ${k}`);
      node = node[k];
    }
    if (Array.isArray(node)) node.splice(last === '-' ? node.length : Number(last), 0, op.value);
    else node[last] = op.value;
  }
  return out;
}

describe('Knative Service: locked down on Knative (kubectl apply -k deploy/knative), Cloud Run-valid as a file', () => {
  const kustomization = find(knative, 'kustomize.config.k8s.io/v1beta1/Kustomization');
  const patches: Obj[] = kustomization.patches ?? [];
  const locked = patches.reduce((o, p) => {
    assert.equal(p.target?.kind, 'Service');
    assert.equal(p.target?.name, ksvc.metadata.name);
    return jsonPatchAdd(o, parse(p.patch) as Obj[]);
  }, ksvc);
  const lockedSpec: Obj = locked.spec.template.spec;
  const lockedContainer: Obj = lockedSpec.containers[0];
  const gcloud = ['/usr/bin/gcloud', '/usr/local/bin/gcloud'].find((p) => existsSync(p));

  it('kustomization.yaml renders service.yaml with the Deployment\'s lock-down, all on the container (Knative gates a pod securityContext behind a flag), /tmp an emptyDir', () => {
    assert.deepEqual(kustomization.resources, ['service.yaml']);
    assert.deepEqual(lockedContainer.securityContext, { ...podSpec.securityContext, ...container.securityContext });
    for (const field of Object.keys(lockedContainer.securityContext)) assert.ok(KNATIVE_CONTAINER_SECURITY_FIELDS.has(field), `Knative refuses container securityContext.${field}`);
    assert.equal(lockedSpec.securityContext, undefined);
    assert.equal(lockedContainer.securityContext.runAsUser, numericUser(image.user)?.uid);
    const tmp = lockedContainer.volumeMounts.find((m: Obj) => m.mountPath === '/tmp');
    assert.ok(tmp, 'a writable /tmp under the read-only root');
    assert.deepEqual(lockedSpec.volumes.find((v: Obj) => v.name === tmp.name), podSpec.volumes.find((v: Obj) => v.name === 'tmp'));
    assert.doesNotThrow(() => MODELS['serving.knative.dev/v1/Service'](locked).validate());
    assert.deepEqual(typeCheck(knativeForTypeCheck(locked)), []);
  });

  it('kubectl kustomize renders the same object', { skip: kubectl ? false : 'kubectl is not installed' }, () => {
    const r = spawnSync(kubectl as string, ['kustomize', join(REPO_ROOT, 'deploy/knative')], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj);
    assert.deepEqual(docs, [locked]);
  });

  it('service.yaml has no securityContext: gcloud run services replace parses it, and refuses the locked-down one naming those fields', { skip: gcloud ? false : 'gcloud is not installed' }, () => {
    assert.equal(kContainer.securityContext, undefined);
    assert.equal(ksvc.spec.template.spec.securityContext, undefined);
    const dir = tempDir('modelserve-gcloud-');
    try {
      // A config folder of its own: no account, no prompt, nothing of the user's gcloud touched.
      const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CLOUDSDK_') && k !== 'GOOGLE_APPLICATION_CREDENTIALS'));
      Object.assign(env, { CLOUDSDK_CONFIG: join(dir, 'config'), CLOUDSDK_CORE_DISABLE_PROMPTS: '1' });
      const replace = (file: string) => spawnSync(gcloud as string, ['run', 'services', 'replace', file, '--region', 'us-central1', '--project', 'my-project'], { encoding: 'utf8', env, timeout: 120_000 });
      const plain = replace(join(REPO_ROOT, 'deploy/knative/service.yaml'));
      assert.doesNotMatch(plain.stderr, /Failed to parse/, plain.stderr);
      assert.match(plain.stderr, /active account/, 'parsed, then stopped for want of an account');
      writeFileSync(join(dir, 'locked.yaml'), stringify(locked));
      const refused = replace(join(dir, 'locked.yaml'));
      assert.notEqual(refused.status, 0);
      assert.match(refused.stderr, /Failed to parse value\(s\) in protobuf \[Service\]/, refused.stderr);
      for (const field of ['allowPrivilegeEscalation', 'readOnlyRootFilesystem', 'runAsNonRoot', 'capabilities', 'seccompProfile']) assert.match(refused.stderr, new RegExp(`securityContext\\.\\{[^}]*\\b${field}\\b`), field);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
