// OIP model readiness of a model that failed to load, one that is loading, and a version that failed
// while another serves: REST's 400 names the model (and version) and its own reason — the failure's
// file and problem, "it is loading" — and gRPC ModelReady answers false; once the files are fixed
// and loaded again (or the held load is let go) both say ready. A real server with the real
// in-process runtime on the book's model; a load is held by a runtime whose load waits for the test
// to let it go (no timing); broken models are added after start (a bad model at start stops it).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/server.js';
import { BOOK_MODEL, tempDir, writeBookModelFolder } from '../helpers/paths.js';
import { HeldRuntime } from '../helpers/held-runtime.js';
import { grpcClients, rpc } from '../helpers/oip.js';
import { writeGraphFolders } from '../helpers/onnx.js';
import { bookConfig, writeBookVersion } from '../core/fixtures.js';

let repo: string;
let server: RunningServer;
let runtime: HeldRuntime;
let clients: ReturnType<typeof grpcClients>;

before(async () => {
  repo = tempDir();
  writeBookModelFolder(repo);
  writeBookVersion(repo, 'versioned', 1, 'version_policy: { all: true }\n');
  runtime = new HeldRuntime();
  server = await startServer({ repo, port: 0, runtime, grpcPort: 'free', logger: false });
  clients = grpcClients(server.grpcPort!);
});
after(async () => {
  clients?.close();
  await server?.shutdown();
});

interface ReadyBody { error?: string; code?: string; name?: string; ready?: boolean }
const ready = async (path: string) => {
  const res = await server.app.inject({ url: path });
  return { status: res.statusCode, body: res.json() as ReadyBody };
};
const load = (name: string) => server.app.inject({ method: 'POST', url: `/v2/repository/models/${name}/load` });
/**
 * Loads `name` through the repository API with the runtime's loads held: `whileLoading` runs once
 * the load waits in the runtime; then the load goes on (also when `whileLoading` fails) and its answer's status is returned.
 */
async function loadHeld(name: string, whileLoading: () => Promise<void>): Promise<number> {
  const arrived = runtime.holdLoads();
  const loading = load(name);
  try {
    await Promise.race([arrived, loading.then((res) => { throw new Error(`the load of '${name}' ended (${res.statusCode} ${res.body}) before it reached the runtime`); })]);
    await whileLoading();
  } finally {
    runtime.letLoadsGo();
  }
  return (await loading).statusCode;
}

const grpcReady = async (name: string, version = '') => ((await rpc(clients.inference, 'ModelReady', { name, version })) as { ready: boolean }).ready;

/** REST says not ready with MS_ERR_MODEL_NOT_READY, the protocol's name and ready: false, and a message matching `error`; gRPC says false. */
async function assertNotReady(name: string, version: string, error: RegExp): Promise<void> {
  const path = version === '' ? `/v2/models/${name}/ready` : `/v2/models/${name}/versions/${version}/ready`;
  const res = await ready(path);
  assert.equal(res.status, 400, `${path}: ${JSON.stringify(res.body)}`);
  assert.equal(res.body.code, 'MS_ERR_MODEL_NOT_READY', path);
  assert.equal(res.body.name, name, path);
  assert.equal(res.body.ready, false, path);
  assert.match(res.body.error ?? '', error, path);
  assert.equal(await grpcReady(name, version), false, `gRPC ModelReady ${name} ${version}`);
}

async function assertReady(name: string, version = ''): Promise<void> {
  const path = version === '' ? `/v2/models/${name}/ready` : `/v2/models/${name}/versions/${version}/ready`;
  assert.deepEqual(await ready(path), { status: 200, body: { name, ready: true } }, path);
  assert.equal(await grpcReady(name, version), true, `gRPC ModelReady ${name} ${version}`);
}

test('a model whose load failed is not ready for that failure, naming its file and problem, until it is fixed and loaded again', async () => {
  const dir = join(repo, 'broken');
  mkdirSync(dir);
  // Not an ONNX file at all: refused before onnxruntime sees it.
  writeFileSync(join(dir, 'model.onnx'), 'not an onnx model\n');
  assert.equal((await load('broken')).statusCode, 400);
  for (const version of ['', '1']) {
    await assertNotReady('broken', version, new RegExp(`^model 'broken'${version ? ' version 1' : ''} is not ready: it failed to load: broken/model\\.onnx is not a valid ONNX model: it looks like text`));
  }

  // A valid ONNX graph onnxruntime refuses (an operator it does not know): its reason is onnxruntime's.
  writeGraphFolders(join(repo, 'graphs'), "save('unknown_op', [h.make_node('NoSuchOperator', ['x'], ['y'])], [v('x', T.FLOAT, [1])], [v('y', T.FLOAT, [1])])");
  copyFileSync(join(repo, 'graphs', 'unknown_op', 'model.onnx'), join(dir, 'model.onnx'));
  rmSync(join(repo, 'graphs'), { recursive: true });
  assert.equal((await load('broken')).statusCode, 400);
  await assertNotReady('broken', '', /^model 'broken' is not ready: it failed to load: .*onnxruntime could not load the model: .*NoSuchOperator/s);

  // A config with problems: each named with its file.
  copyFileSync(BOOK_MODEL, join(dir, 'model.onnx'));
  writeFileSync(join(dir, 'model.yaml'), `${bookConfig('broken', 1)}bogus_key: 1\n`);
  assert.equal((await load('broken')).statusCode, 400);
  await assertNotReady('broken', '1', /^model 'broken' version 1 is not ready: it failed to load: invalid model configuration .*broken\/model\.yaml: bogus_key: unknown key/s);

  // Fixed and loaded again: ready on both front doors.
  writeFileSync(join(dir, 'model.yaml'), bookConfig('broken', 1));
  assert.equal((await load('broken')).statusCode, 200);
  await assertReady('broken');
  await assertReady('broken', '1');
});

test('a model that is loading is not ready because it is loading, then ready once its load finishes', async () => {
  // A new model, its first load held.
  const dir = join(repo, 'slow');
  mkdirSync(dir);
  copyFileSync(BOOK_MODEL, join(dir, 'model.onnx'));
  assert.equal(await loadHeld('slow', async () => {
    await assertNotReady('slow', '', /^model 'slow' is not ready: it is loading$/);
    await assertNotReady('slow', '1', /^model 'slow' version 1 is not ready: it is loading$/);
  }), 200);
  await assertReady('slow');
  await assertReady('slow', '1');

  // Unloaded, then loaded again (held): loading, not "unloaded by request".
  assert.equal((await server.app.inject({ method: 'POST', url: '/v2/repository/models/slow/unload' })).statusCode, 200);
  await assertNotReady('slow', '', /^model 'slow' is not ready: unloaded by request$/);
  assert.equal(await loadHeld('slow', async () => {
    await assertNotReady('slow', '', /^model 'slow' is not ready: it is loading$/);
  }), 200);
  await assertReady('slow');
});

test('a version that failed to load is not ready for its failure while the version before serves; one loading is not ready until loaded', async () => {
  const v2 = writeBookVersion(repo, 'versioned', 2, 'version_policy: { all: true }\n');
  writeFileSync(join(v2, 'model.onnx'), 'not an onnx model\n');
  const failed = await load('versioned');
  assert.equal(failed.statusCode, 400);
  assert.match(failed.json<{ error: string }>().error, /version 1 as loaded before keeps serving/);
  await assertNotReady('versioned', '2', /^model 'versioned' version 2 is not ready: it failed to load: versioned\/2\/model\.onnx is not a valid ONNX model: it looks like text/);
  // The model, and its version 1, serve.
  await assertReady('versioned');
  await assertReady('versioned', '1');

  // Fixed: version 2 loads (held: loading while version 1 serves), then is ready.
  copyFileSync(BOOK_MODEL, join(v2, 'model.onnx'));
  assert.equal(await loadHeld('versioned', async () => {
    await assertNotReady('versioned', '2', /^model 'versioned' version 2 is not ready: it is loading$/);
    await assertReady('versioned', '1');
  }), 200);
  await assertReady('versioned', '2');
  await assertReady('versioned');
});

test('a model folder whose config has no model file beside it is not ready saying no version is whole on disk, not just "not loaded"', async () => {
  // Its config alone: the scan takes it for a copy still arriving, so the load finds no version to load.
  const dir = join(repo, 'config-only');
  mkdirSync(dir);
  writeFileSync(join(dir, 'model.yaml'), bookConfig('config-only', 1));
  const refused = await load('config-only');
  assert.equal(refused.statusCode, 400);
  assert.match(refused.json<{ error: string }>().error, /^model 'config-only' failed to load: version 1: /);
  // It said only "it is not loaded" (and its metadata "is not available"), with nothing naming why.
  const whole = /no version of it is whole on disk yet \(a version needs its config and its model file; one holding its config alone, or whose files are still changing, is taken for a copy in progress\)$/;
  await assertNotReady('config-only', '', new RegExp(`^model 'config-only' is not ready: it is not loaded: ${whole.source}`));
  const metadata = await server.app.inject({ url: '/v2/models/config-only' });
  assert.equal(metadata.statusCode, 503);
  assert.match(metadata.json<{ error: string }>().error, new RegExp(`^model 'config-only' is not available: ${whole.source}`));

  copyFileSync(BOOK_MODEL, join(dir, 'model.onnx'));
  assert.equal((await load('config-only')).statusCode, 200);
  await assertReady('config-only');
});
