// --max-loaded-models: a load that fails evicts no model. Room was made before the load started, so
// the first request to a model whose ONNX file is broken (cut short, a Git LFS pointer left in its
// place) unloaded a good model, and so did every repository API load of it: a client retrying the load
// emptied the server one model per try. The real server with the example models and onnxruntime.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startServer } from '../../src/server.js';
import { call } from '../helpers/http.js';
import { grpcClients, rpc } from '../helpers/oip.js';
import { EXAMPLES, tempDir } from '../helpers/paths.js';

const BROKEN: Array<{ what: string; write: (file: string) => void; reason: RegExp }> = [
  { what: 'cut short', write: (file) => writeFileSync(file, readFileSync(file).subarray(0, 4000)), reason: /not a valid ONNX model: it is \d+ bytes long/ },
  { what: 'a Git LFS pointer', write: (file) => writeFileSync(file, 'version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n'), reason: /model.onnx is not a valid ONNX model: it is a Git LFS pointer, not the model: fetch the model itself \(git lfs pull\)/ },
];

for (const broken of BROKEN) {
  test(`--max-loaded-models 2: a model whose ONNX file is ${broken.what}, requested and loaded through the repository API again and again, unloads neither good model`, async () => {
    const repo = tempDir();
    for (const name of ['loan', 'weather', 'zz-broken']) cpSync(join(EXAMPLES, name === 'zz-broken' ? 'weather' : name), join(repo, name), { recursive: true });
    writeFileSync(join(repo, 'zz-broken', 'model.yaml'), readFileSync(join(repo, 'zz-broken', 'model.yaml'), 'utf8').replace(/^name: weather$/m, 'name: zz-broken').replace(/^default: true$/m, ''));
    const server = await startServer({ repo, port: 0, workers: 1, maxLoadedModels: 2, logger: false });
    // Broken after the start (which refuses a broken file: budget-startup-check.test.ts), as by a copy over it.
    broken.write(join(repo, 'zz-broken', 'model.onnx'));
    const states = async () => Object.fromEntries(((await call(`${server.url}/models`)).body.models as Array<{ name: string; state: string }>).map((m) => [m.name, m.state]));
    try {
      assert.deepEqual(await states(), { loan: 'ready', weather: 'ready', 'zz-broken': 'unavailable' });
      const predict = await call(`${server.url}/models/zz-broken/predict`, { method: 'POST', body: { temp_c: 8 } });
      assert.equal(predict.status, 503, JSON.stringify(predict.body));
      assert.equal(predict.body.code, 'MS_ERR_MODEL_UNAVAILABLE');
      assert.match(JSON.stringify(predict.body.detail), broken.reason);
      for (let attempt = 0; attempt < 2; attempt++) {
        const load = await call(`${server.url}/v2/repository/models/zz-broken/load`, { method: 'POST' });
        assert.equal(load.status, 400, JSON.stringify(load.body));
        assert.match(String(load.body.error), broken.reason);
      }
      assert.deepEqual(await states(), { loan: 'ready', weather: 'ready', 'zz-broken': 'failed' });
      const evictions = (await call(`${server.url}/metrics`)).text.split('\n').filter((l) => l.startsWith('modelserve_model_evictions_total{'));
      assert.deepEqual(evictions.filter((l) => !l.endsWith(' 0')), [], evictions.join('\n'));
    } finally {
      await server.shutdown();
    }
  });
}

// A file that passes the checks made before a load (whole, an ONNX protobuf with a graph) but that onnxruntime refuses:
// room was made for it, and the model unloaded for it stayed unloaded (its next request paid a load). Now the models
// unloaded for a load that fails are loaded back before the failing request is answered.
test('--max-loaded-models 2: a model whose ONNX graph onnxruntime refuses (an operator it has no kernel for), requested, leaves both good models loaded', async () => {
  const repo = tempDir();
  for (const name of ['loan', 'weather', 'zz-broken']) cpSync(join(EXAMPLES, name === 'zz-broken' ? 'weather' : name), join(repo, name), { recursive: true });
  writeFileSync(join(repo, 'zz-broken', 'model.yaml'), readFileSync(join(repo, 'zz-broken', 'model.yaml'), 'utf8').replace(/^name: weather$/m, 'name: zz-broken').replace(/^default: true$/m, ''));
  // The graph's one ArgMax node renamed in place (same length: the protobuf stays whole) to an operator no one defines.
  const onnx = readFileSync(join(repo, 'zz-broken', 'model.onnx'));
  const at = onnx.indexOf('ArgMax');
  assert.ok(at > 0 && onnx.indexOf('ArgMax', at + 1) === -1);
  onnx.write('ArgMux', at, 'latin1');
  writeFileSync(join(repo, 'zz-broken', 'model.onnx'), onnx);
  const server = await startServer({ repo, port: 0, workers: 1, maxLoadedModels: 2, logger: false });
  const states = async () => Object.fromEntries(((await call(`${server.url}/models`)).body.models as Array<{ name: string; state: string }>).map((m) => [m.name, m.state]));
  try {
    assert.deepEqual(await states(), { loan: 'ready', weather: 'ready', 'zz-broken': 'unavailable' });
    const predict = await call(`${server.url}/models/zz-broken/predict`, { method: 'POST', body: { temp_c: 8 } });
    assert.equal(predict.status, 503, JSON.stringify(predict.body));
    assert.match(JSON.stringify(predict.body.detail), /ArgMux/);
    assert.deepEqual(await states(), { loan: 'ready', weather: 'ready', 'zz-broken': 'failed' });
  } finally {
    await server.shutdown();
  }
});

// A model file that does not match its config (another model copied over it) passes the file checks made before a
// load, so every request and every repository-API load of it unloaded a good model to make room, then loaded it back
// once onnxruntime's signature said no. Now the config is checked against the inputs and outputs the file declares
// (read from its protobuf, no session) before anything is unloaded: the good models are never touched.
test('--max-loaded-models 2: a model whose ONNX file does not match its config, requested and loaded through the repository API again and again, unloads neither good model', async () => {
  const repo = tempDir();
  for (const name of ['loan', 'weather', 'zz-broken']) cpSync(join(EXAMPLES, name === 'zz-broken' ? 'weather' : name), join(repo, name), { recursive: true });
  writeFileSync(join(repo, 'zz-broken', 'model.yaml'), readFileSync(join(repo, 'zz-broken', 'model.yaml'), 'utf8').replace(/^name: weather$/m, 'name: zz-broken').replace(/^default: true$/m, ''));
  const server = await startServer({ repo, port: 0, workers: 1, maxLoadedModels: 2, logger: false });
  // Replaced after the start (which refuses a mismatch: budget-startup-check.test.ts), as by a copy of the wrong model.
  cpSync(join(EXAMPLES, 'loan', 'model.onnx'), join(repo, 'zz-broken', 'model.onnx'));
  const unloaded: string[] = [];
  server.core.on('event', (e: { type: string; model?: string; reason?: string }) => { if (e.type === 'version-unloaded' || e.type === 'eviction') unloaded.push(`${e.type} ${e.model} ${e.reason ?? ''}`); });
  const states = async () => Object.fromEntries(((await call(`${server.url}/models`)).body.models as Array<{ name: string; state: string }>).map((m) => [m.name, m.state]));
  const mismatch = /model configuration does not match the ONNX model [\s\S]*inputs\.float_input: the model has no input 'float_input'/;
  try {
    const predict = await call(`${server.url}/models/zz-broken/predict`, { method: 'POST', body: { temp_c: 8 } });
    assert.equal(predict.status, 503, JSON.stringify(predict.body));
    assert.match(JSON.stringify(predict.body.detail), mismatch);
    for (let attempt = 0; attempt < 2; attempt++) {
      const load = await call(`${server.url}/v2/repository/models/zz-broken/load`, { method: 'POST' });
      assert.equal(load.status, 400, JSON.stringify(load.body));
      assert.match(String(load.body.error), mismatch);
    }
    assert.deepEqual(await states(), { loan: 'ready', weather: 'ready', 'zz-broken': 'failed' });
    assert.deepEqual(unloaded, []);
  } finally {
    await server.shutdown();
  }
});

// The same refused file, unchanged, loaded again (a client retrying the repository API's load, requests for it): each
// time a good model was unloaded to make room and then loaded back. Now the files onnxruntime refused are remembered
// (size and times of the model file and its config): their next load unloads nothing and fails alike, and a changed
// file is tried as any other (room made for it).
test('--max-loaded-models 2: a model whose unchanged ONNX graph onnxruntime refused before, loaded again by request, REST and gRPC, unloads no good model; once fixed it loads', async () => {
  const repo = tempDir();
  for (const name of ['loan', 'weather', 'zz-broken']) cpSync(join(EXAMPLES, name === 'zz-broken' ? 'weather' : name), join(repo, name), { recursive: true });
  writeFileSync(join(repo, 'zz-broken', 'model.yaml'), readFileSync(join(repo, 'zz-broken', 'model.yaml'), 'utf8').replace(/^name: weather$/m, 'name: zz-broken').replace(/^default: true$/m, ''));
  const good = readFileSync(join(repo, 'zz-broken', 'model.onnx'));
  const onnx = Buffer.from(good);
  onnx.write('ArgMux', onnx.indexOf('ArgMax'), 'latin1');
  writeFileSync(join(repo, 'zz-broken', 'model.onnx'), onnx);
  const server = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, maxLoadedModels: 2, logger: false });
  const clients = grpcClients(server.grpcPort!);
  const evictions: string[] = [];
  server.core.on('event', (e: { type: string; model?: string }) => { if (e.type === 'eviction') evictions.push(e.model!); });
  const states = async () => Object.fromEntries(((await call(`${server.url}/models`)).body.models as Array<{ name: string; state: string }>).map((m) => [m.name, m.state]));
  try {
    // The first load cannot know: room is made, and given back once onnxruntime refuses.
    const first = await call(`${server.url}/models/zz-broken/predict`, { method: 'POST', body: { temp_c: 8 } });
    assert.equal(first.status, 503, JSON.stringify(first.body));
    assert.match(JSON.stringify(first.body.detail), /ArgMux/);
    assert.equal(evictions.length, 1);
    assert.deepEqual(await states(), { loan: 'ready', weather: 'ready', 'zz-broken': 'failed' });
    for (let attempt = 0; attempt < 2; attempt++) {
      const load = await call(`${server.url}/v2/repository/models/zz-broken/load`, { method: 'POST' });
      assert.equal(load.status, 400, JSON.stringify(load.body));
      assert.match(String(load.body.error), /onnxruntime could not load the model: .*ArgMux/);
      await assert.rejects(rpc(clients.inference, 'RepositoryModelLoad', { model_name: 'zz-broken' }), (err: grpc.ServiceError) => /ArgMux/.test(err.details));
      const again = await call(`${server.url}/models/zz-broken/predict`, { method: 'POST', body: { temp_c: 8 } });
      assert.equal(again.status, 503, JSON.stringify(again.body));
    }
    assert.equal(evictions.length, 1, `evicted again: ${evictions.join(', ')}`);
    assert.deepEqual(await states(), { loan: 'ready', weather: 'ready', 'zz-broken': 'failed' });
    // Fixed (the file changed): tried as any other, loaded, and room is made for it.
    writeFileSync(join(repo, 'zz-broken', 'model.onnx'), good);
    const load = await call(`${server.url}/v2/repository/models/zz-broken/load`, { method: 'POST' });
    assert.equal(load.status, 200, JSON.stringify(load.body));
    assert.equal(evictions.length, 2);
    assert.equal((await states())['zz-broken'], 'ready');
  } finally {
    clients.close();
    await server.shutdown();
  }
});
