// shutdown() in process: queued batches finish before the workers stop; a drain that cannot finish
// in --drain-timeout reports it and still stops (bounded), rather than hanging.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { startServer } from '../../src/server.js';
import { bookRows, writeBookModelFolder } from '../helpers/paths.js';
import { sample } from '../helpers/prom.js';

const rows = bookRows(1024);

async function fire(url: string, dispatcher: Agent, n: number, rowsPer: number) {
  return Promise.all(Array.from({ length: n }, async (_, i) => {
    try {
      const res = await request(`${url}/predict`, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json' }, body: JSON.stringify(rows.slice(i % 8, (i % 8) + rowsPer)) });
      const text = await res.body.text();
      return { status: res.statusCode, n: res.statusCode === 200 ? (JSON.parse(text) as unknown[]).length : 0 };
    } catch (err) {
      return { status: 0, n: 0, error: (err as { code?: string }).code };
    }
  }));
}

test('shutdown waits for every queued batch: all requests in the queue at the signal are answered 200', { timeout: 60_000 }, async (t) => {
  const dir = writeBookModelFolder(undefined, 'optimize: false\nbatching: { max_batch_size: 256, max_queue_delay_ms: 1 }\nqueue: { max_rows: 100000 }\n');
  const server = await startServer({ repo: dir, port: 0, workers: 1, drainTimeout: 30_000 });
  const dispatcher = new Agent({ connections: 64 });
  t.after(async () => {
    await server.shutdown();
    await dispatcher.destroy();
  });
  let read = 0;
  server.app.server.on('request', () => { read++; });
  const pending = fire(server.url, dispatcher, 40, 256);
  // Wait until the server has read every request and some are queued behind the running batch.
  const metrics = server.app.metrics!;
  let depth = 0;
  for (let i = 0; i < 400 && (depth === 0 || read < 40); i++) {
    depth = sample(await metrics.render(), 'modelserve_queue_depth', { model: 'book-weather' }) ?? 0;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.ok(depth > 0 && read === 40, `rows were queued when shutdown began (read ${read}, queued rows ${depth})`);
  const drained = await server.shutdown();
  const results = await pending;
  assert.equal(drained, true);
  assert.deepEqual(results.filter((r) => r.status !== 200), [], 'every request read before the shutdown is answered');
  assert.ok(results.every((r) => r.n === 256));
  assert.equal(server.core.resolve('book-weather')!.batcher.stats().queuedRows, 0);
});

test('a drain longer than drainTimeout: shutdown reports false and still stops promptly', { timeout: 60_000 }, async (t) => {
  const dir = writeBookModelFolder(undefined, 'optimize: false\nbatching: { max_batch_size: 1024, max_queue_delay_ms: 1 }\nqueue: { max_rows: 100000 }\n');
  const server = await startServer({ repo: dir, port: 0, workers: 1, drainTimeout: 1 });
  const dispatcher = new Agent({ connections: 64 });
  t.after(async () => {
    await server.shutdown();
    await dispatcher.destroy();
  });
  const pending = fire(server.url, dispatcher, 40, 1000);
  await new Promise((r) => setTimeout(r, 100));
  const t0 = performance.now();
  const drained = await server.shutdown();
  const elapsed = performance.now() - t0;
  const results = await pending;
  assert.equal(drained, false);
  // Cut connections show up as client errors, never as hangs.
  assert.ok(results.some((r) => r.status === 0), 'some requests were cut');
  // Bounded: the drain timeout plus the 2 s cap on closing the runtime, far below the time the
  // 40 × 1000 rows of unoptimised SVM would need.
  assert.ok(elapsed < 10_000, `stopped in ${elapsed.toFixed(0)} ms`);
});
