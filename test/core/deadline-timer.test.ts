// A caller's deadline far off becomes a timer of at most 2^31 - 1 ms. A request with no queue.timeout_ms may send
// x-modelserve-timeout-ms up to 2^53 (a gRPC deadline and an MQTT message expiry go further); Node fires a timer past
// 2^31 - 1 ms at once (TimeoutOverflowWarning), so such a request waiting for its model to load timed out at once
// (504). The real server, the book's model loaded on demand under --max-loaded-models.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { startServer } from '../../src/server.js';
import { delayUntil, TIMEOUT_HEADER } from '../../src/protocols/deadline.js';
import { call } from '../helpers/http.js';
import { tempDir } from '../helpers/paths.js';
import { BOOK_ROW, labelsOf, writeBookVersion } from './fixtures.js';

test('delayUntil: a deadline past 2^31 - 1 ms is a timer of 2^31 - 1 ms, one passed is 0', () => {
  assert.equal(delayUntil(performance.now() + 2 ** 53), 2 ** 31 - 1);
  assert.equal(delayUntil(performance.now() - 5), 0);
});

test('a request whose x-modelserve-timeout-ms is past 2^31 - 1 ms waits for its model to load, not a 504 at once', async () => {
  const repo = tempDir();
  // No queue.timeout_ms: the header alone is the deadline.
  for (const name of ['aa', 'bb']) writeBookVersion(repo, name, 1, 'queue:\n  timeout_ms: 0\n');
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  const server = await startServer({ repo, port: 0, workers: 1, maxLoadedModels: 1, logger: false });
  try {
    assert.equal(server.core.status('bb')[0]!.state, 'unavailable', 'bb loads on its first request');
    for (const ms of [String(2 ** 31), String(2 ** 53 - 1)]) {
      const name = ms === String(2 ** 31) ? 'bb' : 'aa'; // each request loads the model the one before evicted
      const res = await call(`${server.url}/models/${name}/predict`, { method: 'POST', body: BOOK_ROW, headers: { [TIMEOUT_HEADER]: ms } });
      assert.equal(res.status, 200, `${TIMEOUT_HEADER}: ${ms}: ${JSON.stringify(res.body)}`);
      assert.ok([labelsOf(1).rain, labelsOf(1).dry].includes(String(res.body.prediction)), JSON.stringify(res.body));
    }
    assert.deepEqual(warnings.filter((w) => w.startsWith('TimeoutOverflowWarning')), []);
  } finally {
    process.off('warning', onWarning);
    await server.shutdown();
  }
});
