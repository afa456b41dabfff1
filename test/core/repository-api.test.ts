// The repository API's load and unload of one model, sent close together, take effect in the order
// they were sent: an unload acknowledged while a load was still running left the model serving
// once that load finished.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type RunningServer } from '../../src/server.js';
import { call } from '../helpers/http.js';
import { tempDir } from '../helpers/paths.js';
import { BOOK_ROW, writeBookVersion } from './fixtures.js';

let server: RunningServer;

before(async () => {
  const repo = tempDir();
  writeBookVersion(repo, 'book', 1, 'optimize: false\n');
  server = await startServer({ repo, port: 0, workers: 1, logger: false });
});
after(async () => { await server?.shutdown(); });

test('a load then an unload sent while it runs: the model ends unloaded, as the unload answered; then a load serves it again', async () => {
  for (let round = 0; round < 3; round++) {
    const load = call(`${server.url}/v2/repository/models/book/load`, { method: 'POST' });
    await new Promise((r) => setTimeout(r, 5));
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
