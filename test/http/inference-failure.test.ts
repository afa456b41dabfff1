// A real inference failure inside onnxruntime (Gather with an out-of-range index): 500 with a short
// message and the request id (details only in the log), and the failing request never fails the
// requests batched with it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { startServer, type RunningServer } from '../../src/server.js';
import { REPO } from '../helpers/paths.js';
import { call } from '../helpers/http.js';

let server: RunningServer;
const logLines: string[] = [];

before(async () => {
  const stream = new Writable({ write(chunk, _enc, done) { logLines.push(...chunk.toString().split('\n').filter(Boolean)); done(); } });
  server = await startServer({ repo: join(REPO, 'test', 'fixtures', 'gather'), port: 0, workers: 2, logger: { level: 'info', stream } });
});
after(async () => {
  await server?.shutdown();
});

test('an index the model cannot handle: 500, short message, request id, details only in the log', async () => {
  const res = await call(`${server.url}/predict`, { body: { index: 7 }, headers: { 'x-request-id': 'fail-1' } });
  assert.equal(res.status, 500);
  assert.deepEqual(res.body, { detail: 'inference failed; see the server log for this request id', code: 'MS_ERR_INFERENCE', request_id: 'fail-1' });
  const logged = logLines.map((l) => JSON.parse(l) as { reqId?: string; level: number; msg: string; err?: { message: string } }).filter((l) => l.reqId === 'fail-1' && l.level >= 50);
  assert.ok(logged.length > 0, 'the failure is logged under the request id');
  assert.match(JSON.stringify(logged), /out of bounds|indices|Gather/i, 'the log has onnxruntime\'s details');
});

test('one failing request among concurrent good ones fails alone', async () => {
  const bodies = [0, 1, 2, 9, 0, 2, 1, 1, 0, 2].map((index) => ({ index }));
  for (let round = 0; round < 5; round++) {
    const results = await Promise.all(bodies.map((body) => call(`${server.url}/predict`, { body })));
    results.forEach((res, i) => {
      if (bodies[i]!.index === 9) assert.equal(res.status, 500);
      else assert.deepEqual([res.status, res.body], [200, { value: [10, 20, 30][bodies[i]!.index] }]);
    });
  }
});

test('an array request with one bad row fails as a whole (500), the others still answer', async () => {
  const res = await call(`${server.url}/predict`, { body: [{ index: 0 }, { index: 5 }] });
  assert.equal(res.status, 500);
  assert.deepEqual((await call(`${server.url}/predict`, { body: [{ index: 0 }, { index: 2 }] })).body, [{ value: 10 }, { value: 30 }]);
});

test('an expected 503 (the model unloaded) is not logged at error level, on JSON REST and OIP REST; a 500 is', async () => {
  const unload = await call(`${server.url}/v2/repository/models/gather/unload`, { method: 'POST', body: {} });
  assert.equal(unload.status, 200, JSON.stringify(unload.body));
  try {
    const json = await call(`${server.url}/predict`, { body: { index: 0 }, headers: { 'x-request-id': 'unloaded-json' } });
    assert.equal(json.status, 503);
    const oip = await call(`${server.url}/v2/models/gather/infer`, { body: { inputs: [{ name: 'index', datatype: 'INT64', shape: [1], data: [0] }] }, headers: { 'x-request-id': 'unloaded-oip' } });
    assert.equal(oip.status, 503, JSON.stringify(oip.body));
    const lines = logLines.map((l) => JSON.parse(l) as { reqId?: string; level: number; status?: number });
    for (const id of ['unloaded-json', 'unloaded-oip']) {
      const mine = lines.filter((l) => l.reqId === id);
      assert.ok(mine.some((l) => l.status === 503), `${id}: its access line`);
      assert.deepEqual(mine.filter((l) => l.level >= 50), [], `${id}: nothing at error level`);
    }
  } finally {
    const load = await call(`${server.url}/v2/repository/models/gather/load`, { method: 'POST', body: {} });
    assert.equal(load.status, 200, JSON.stringify(load.body));
  }
});
