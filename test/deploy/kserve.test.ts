// deploy/kserve: the ClusterServingRuntime and the InferenceService. KServe's CRDs have no schema
// package here, so their pod parts (containers, probes, ports) are validated against the Kubernetes
// schemas (kubernetes-models) and the KServe-specific fields are checked one by one; the runtime's
// arguments go through modelserve's own option parser, and its probes hit real routes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { Container } from 'kubernetes-models/v1/Container';
import { ContainerPort } from 'kubernetes-models/v1/ContainerPort';
import { parseServeOptions } from '../../src/cli/serve-options.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { REPO, tempDir, writeBookModelFolder } from '../helpers/paths.js';
import { call } from '../helpers/http.js';
import { grpcClients, rpc } from '../helpers/oip.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- parsed YAML, checked field by field
const read = (name: string): Obj => parse(readFileSync(join(REPO, 'deploy', 'kserve', name), 'utf8')) as Obj;
const runtime = read('cluster-serving-runtime.yaml');
const service = read('inference-service.yaml');
let server: RunningServer;

before(async () => {
  server = await startServer({ repo: writeBookModelFolder(tempDir()), port: 0, grpcPort: 'free', workers: 1 });
});
after(async () => {
  await server?.shutdown();
});

test('ClusterServingRuntime: KServe fields, a valid container, arguments modelserve accepts', () => {
  assert.equal(runtime.apiVersion, 'serving.kserve.io/v1alpha1');
  assert.equal(runtime.kind, 'ClusterServingRuntime');
  assert.deepEqual(runtime.spec.protocolVersions, ['v2', 'grpc-v2']);
  assert.ok(runtime.spec.supportedModelFormats.some((f: Obj) => f.name === 'onnx' && f.autoSelect === true));
  assert.equal(runtime.spec.containers.length, 1);
  const container = runtime.spec.containers[0];
  assert.equal(container.name, 'kserve-container');
  new Container(container).validate();
  const options = parseServeOptions(container.args.slice(1), Object.fromEntries(container.env.map((e: Obj) => [e.name, e.value])));
  assert.equal(options.repo, '/mnt/models');
  assert.equal(options.port, 8080);
  assert.equal(options.grpcPort, 8001);
  assert.equal(options.host, '0.0.0.0');
  assert.equal(container.readinessProbe.httpGet.port, options.port);
  assert.equal(container.livenessProbe.grpc.port, options.grpcPort);
  assert.equal(container.securityContext.runAsUser, 1000);
});

test('the runtime is sized as the Deployment is: CPU request = limit = MODELSERVE_WORKERS, memory request = limit (it requested 1 core and started 2 workers)', () => {
  const container = runtime.spec.containers[0];
  const env = Object.fromEntries(container.env.map((e: Obj) => [e.name, e.value])) as Record<string, string>;
  const { requests, limits } = container.resources;
  assert.equal(Number(env.MODELSERVE_WORKERS), Number(limits.cpu));
  assert.equal(requests.cpu, limits.cpu);
  assert.equal(requests.memory, limits.memory);
});

test('the runtime\'s liveness probe cannot kill a model still loading: a startup probe on readiness gives it 2 min', () => {
  // Neither port listens before every model is loaded and warmed up (src/server.ts), and gRPC health
  // is NOT_SERVING until then: without a startup probe the liveness probe (3 failures 10 s apart)
  // restarted any pod whose models took ~30 s to load, over and over.
  const container = runtime.spec.containers[0];
  const startup = container.startupProbe;
  assert.ok(startup, 'a startupProbe (liveness and readiness only start once it passes)');
  assert.equal(startup.httpGet?.path, container.readinessProbe.httpGet.path);
  assert.equal(startup.httpGet?.port, container.readinessProbe.httpGet.port);
  assert.ok(startup.timeoutSeconds <= startup.periodSeconds);
  assert.ok(startup.periodSeconds * startup.failureThreshold >= 60, `the startup probe allows ${startup.periodSeconds * startup.failureThreshold} s for loading + warm-up`);
});

test('InferenceService: uses the runtime, its model format, and the h2c port of --grpc-port', () => {
  assert.equal(service.apiVersion, 'serving.kserve.io/v1beta1');
  assert.equal(service.kind, 'InferenceService');
  const model = service.spec.predictor.model;
  assert.equal(model.runtime, runtime.metadata.name);
  assert.ok(runtime.spec.supportedModelFormats.some((f: Obj) => f.name === model.modelFormat.name));
  assert.ok(runtime.spec.protocolVersions.includes(model.protocolVersion));
  assert.match(model.storageUri, /^(gs|s3|pvc|https?):\/\//);
  for (const p of model.ports) new ContainerPort(p).validate();
  assert.deepEqual(model.ports.map((p: Obj) => [p.name, p.containerPort]), [['h2c', 8001]]);
});

test('the runtime\'s probes answer on a running server (HTTP readiness, gRPC health)', async () => {
  const container = runtime.spec.containers[0];
  const ready = await call(`${server.url}${container.readinessProbe.httpGet.path}`);
  assert.equal(ready.status, 200);
  const { health, close } = grpcClients(server.grpcPort!);
  try {
    assert.deepEqual(await rpc(health, 'Check', { service: '' }), { status: 'SERVING' });
  } finally {
    close();
  }
});

test('the runtime is locked down as the Deployment is: read-only root filesystem with /tmp an emptyDir, no capabilities, RuntimeDefault seccomp, non-root', () => {
  const container = runtime.spec.containers[0];
  const deployment = parse(readFileSync(join(REPO, 'deploy', 'kubernetes', 'deployment.yaml'), 'utf8')) as Obj;
  const pod = deployment.spec.template.spec;
  // The Deployment splits these between the pod and its container; a ServingRuntime has only the container's.
  assert.deepEqual(container.securityContext, { ...pod.securityContext, ...pod.containers[0].securityContext });
  const tmp = container.volumeMounts.find((m: Obj) => m.mountPath === '/tmp');
  assert.ok(tmp, 'a writable /tmp under the read-only root');
  assert.deepEqual(runtime.spec.volumes.find((v: Obj) => v.name === tmp.name), pod.volumes.find((v: Obj) => v.name === 'tmp'));
  new Container(container).validate();
});
