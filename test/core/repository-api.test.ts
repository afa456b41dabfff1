// The repository API's load and unload of one model, sent close together, take effect in the order
// they were sent: an unload acknowledged while a load was still running left the model serving
// once that load finished. A load whose folder's configs were not applied (a pipeline step no
// model serves) answered 200 while the previous config kept serving.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/server.js';
import { call } from '../helpers/http.js';
import { tempDir } from '../helpers/paths.js';
import { BOOK_ROW, bookConfig, writeBookVersion } from './fixtures.js';

let server: RunningServer;
let repo: string;
const pipeline = (step: string) => `name: pipe\npipeline:\n  sequence:\n    - model: ${step}\n`;

before(async () => {
  repo = tempDir();
  writeBookVersion(repo, 'book', 1, 'optimize: false\n');
  mkdirSync(join(repo, 'pipe'));
  writeFileSync(join(repo, 'pipe', 'model.yaml'), pipeline('book'));
  server = await startServer({ repo, port: 0, workers: 1, logger: false });
});
after(async () => { await server?.shutdown(); });

/** Resolves once the core is asked to load `name` (the real load runs): a repository call made after it comes after it. */
function loadReceived(name: string): Promise<void> {
  const core = server.core;
  const loadModel = core.loadModel;
  return new Promise((resolve) => {
    core.loadModel = (asked) => {
      const loading = loadModel.call(core, asked);
      if (asked === name) {
        Reflect.deleteProperty(core, 'loadModel'); // the class's method again
        resolve();
      }
      return loading;
    };
  });
}

test('a load then an unload sent while it runs: the model ends unloaded, as the unload answered; then a load serves it again', async () => {
  for (let round = 0; round < 3; round++) {
    // The unload is sent once the load has reached the core (sent 5 ms apart on two connections, the unload at times came first).
    const received = loadReceived('book');
    const load = call(`${server.url}/v2/repository/models/book/load`, { method: 'POST' });
    await received;
    const unload = await call(`${server.url}/v2/repository/models/book/unload`, { method: 'POST' });
    assert.equal(unload.status, 200, unload.text);
    assert.equal((await load).status, 200);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await call(`${server.url}/models/book`)).body.state, 'unavailable', `round ${round}`);
    const res = await call(`${server.url}/models/book/predict`, { body: BOOK_ROW });
    assert.equal(res.status, 503, `round ${round}: ${res.text}`);
    assert.equal(res.body.code, 'MS_ERR_MODEL_UNAVAILABLE');
  }
  assert.equal((await call(`${server.url}/v2/repository/models/book/load`, { method: 'POST' })).status, 200);
  assert.equal((await call(`${server.url}/models/book/predict`, { body: BOOK_ROW })).status, 200);
});

test('ten loads at once of one model all succeed, one after another', async () => {
  const loads = await Promise.all(Array.from({ length: 10 }, () => call(`${server.url}/v2/repository/models/book/load`, { method: 'POST' })));
  for (const res of loads) assert.equal(res.status, 200, res.text);
  assert.equal((await call(`${server.url}/models/book/predict`, { body: BOOK_ROW })).status, 200);
});

test('a load whose pipeline config names a model that is not served answers 400 naming the file and step; the pipeline as loaded before keeps serving', async () => {
  writeFileSync(join(repo, 'pipe', 'model.yaml'), pipeline('nope'));
  try {
    const load = await call(`${server.url}/v2/repository/models/pipe/load`, { method: 'POST' });
    assert.equal(load.status, 400, load.text);
    assert.equal(load.body.code, 'MS_ERR_MODEL_LOAD_FAILED');
    assert.match(load.body.error, /version 1 as loaded before keeps serving/);
    assert.match(load.body.error, /pipe[\\/]model\.yaml: pipeline\.sequence\.0\.model: no model 'nope'/);
    const res = await call(`${server.url}/models/pipe/predict`, { body: BOOK_ROW });
    assert.equal(res.status, 200, res.text);
  } finally {
    writeFileSync(join(repo, 'pipe', 'model.yaml'), pipeline('book'));
  }
  const fixed = await call(`${server.url}/v2/repository/models/pipe/load`, { method: 'POST' });
  assert.equal(fixed.status, 200, fixed.text);
});

test('a load of a new model folder holding a config alone (no model file beside it) answers 400 naming each config file and every problem, not "no version could be loaded"', async () => {
  mkdirSync(join(repo, 'flat'));
  writeFileSync(join(repo, 'flat', 'model.yaml'), bookConfig('flat', 1).replace('model: model.onnx', 'model: missing.onnx'));
  mkdirSync(join(repo, 'numbered', '1'), { recursive: true });
  mkdirSync(join(repo, 'numbered', '2'), { recursive: true });
  writeFileSync(join(repo, 'numbered', 'model.yaml'), 'version_policy: { all: true }\n');
  writeFileSync(join(repo, 'numbered', '1', 'model.yaml'), 'name: numbered\nmodel: model.onnx\nfields: [temp_c]\n');
  writeFileSync(join(repo, 'numbered', '2', 'model.yaml'), 'name: numbered\nmodel: [\n');
  const flat = await call(`${server.url}/v2/repository/models/flat/load`, { method: 'POST' });
  assert.equal(flat.status, 400, flat.text);
  assert.equal(flat.body.code, 'MS_ERR_MODEL_LOAD_FAILED');
  assert.match(flat.body.error, /flat[\\/]model\.yaml: model: ONNX file not found: .*missing\.onnx/);
  const numbered = await call(`${server.url}/v2/repository/models/numbered/load`, { method: 'POST' });
  assert.equal(numbered.status, 400, numbered.text);
  assert.match(numbered.body.error, /version 1: .*numbered[\\/]1[\\/]model\.yaml: fields: must be object/s);
  assert.match(numbered.body.error, /numbered[\\/]1[\\/]model\.yaml: inputs: is required/);
  assert.match(numbered.body.error, /version 2: .*numbered[\\/]2[\\/]model\.yaml: \(file\): not valid YAML/s);
  assert.doesNotMatch(numbered.body.error, /no version could be loaded/);
});

test('a page on another origin cannot unload or load a model (browsers send these POSTs without a preflight: no auth, any content type): 403; the server\'s own pages and clients without Origin (curl, Triton\'s) can', async () => {
  const host = new URL(server.url).host;
  for (const origin of ['https://evil.example', 'null', `http://${host}.evil.example`]) {
    for (const action of ['unload', 'load']) {
      const res = await call(`${server.url}/v2/repository/models/book/${action}`, { method: 'POST', raw: '', headers: { origin, 'content-type': 'text/plain' } });
      assert.equal(res.status, 403, `${origin} ${action}: ${res.text}`);
      assert.equal(res.body.code, 'MS_ERR_FORBIDDEN');
      assert.match(String(res.body.error), /repository API cannot be called from a page on/);
    }
  }
  // DNS rebinding: evil.example re-pointed at this server is, to the browser, the page's own origin.
  const port = new URL(server.url).port;
  const rebound = await call(`${server.url}/v2/repository/models/book/unload`, { method: 'POST', raw: '', headers: { origin: `http://rebind.evil.example:${port}`, host: `rebind.evil.example:${port}`, 'content-type': 'text/plain' } });
  assert.equal(rebound.status, 403, rebound.text);
  assert.match(String(rebound.body.error), /a DNS name of this server: list it/);
  assert.equal((await call(`${server.url}/models/book/predict`, { body: BOOK_ROW })).status, 200, 'still served');
  assert.equal((await call(`${server.url}/v2/repository/models/book/unload`, { method: 'POST', headers: { origin: `http://localhost:${port}`, host: `localhost:${port}` } })).status, 200);
  assert.equal((await call(`${server.url}/v2/repository/models/book/load`, { method: 'POST' })).status, 200);
  assert.equal((await call(`${server.url}/v2/repository/models/book/unload`, { method: 'POST', headers: { origin: `http://${host}` } })).status, 200);
  assert.equal((await call(`${server.url}/v2/repository/models/book/load`, { method: 'POST' })).status, 200);
  assert.equal((await call(`${server.url}/models/book/predict`, { body: BOOK_ROW })).status, 200);
});
