// A remote step whose service is busy, over real sockets: its 503 or 429 is the pipeline's 503
// MS_ERR_STEP_UNAVAILABLE naming the step, with the service's Retry-After passed on to the client;
// a 503 whose Retry-After ends past the step's deadline is not tried again at once.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startServer, type RunningServer } from '../../src/server.js';
import { newRepo, writeConfig } from './helpers.js';

let busy: Server;
let server: RunningServer;
const hits = new Map<string, number>();

before(async () => {
  busy = createServer((req, res) => {
    req.resume();
    hits.set(req.url!, (hits.get(req.url!) ?? 0) + 1);
    const [status, retryAfter] = ({ '/503-later': [503, '7'], '/429-later': [429, '3'], '/429': [429, undefined] } as Record<string, [number, string | undefined]>)[req.url!] ?? [404, undefined];
    res.writeHead(status, { 'content-type': 'application/json', ...(retryAfter === undefined ? {} : { 'retry-after': retryAfter }) }).end('{"detail":"busy"}');
  });
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  const port = (busy.address() as AddressInfo).port;
  const repo = newRepo();
  for (const path of ['503-later', '429-later', '429']) {
    writeConfig(repo, `busy-${path}`, `
pipeline:
  sequence:
    - name: scorer
      remote: { url: "http://127.0.0.1:${port}/${path}", protocol: json, timeout_ms: 2000, retries: 1, fields: { x: { type: number } }, outputs: { y: number } }
`);
  }
  server = await startServer({ repo, port: 0, workers: 0, logger: false });
});
after(async () => {
  await server?.shutdown();
  busy?.close();
});

async function predict(model: string): Promise<{ status: number; retryAfter: string | null; body: { code: string; detail: string } }> {
  const res = await fetch(`${server.url}/models/${model}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"x":1}' });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() as { code: string; detail: string } };
}

test("a remote 503 with a Retry-After past the step's deadline: one call, a 503 naming the step with the service's Retry-After", async () => {
  const answer = await predict('busy-503-later');
  assert.equal(answer.status, 503);
  assert.equal(answer.body.code, 'MS_ERR_STEP_UNAVAILABLE');
  assert.match(answer.body.detail, /^step 'scorer': .* answered 503: busy$/);
  assert.equal(answer.retryAfter, '7');
  assert.equal(hits.get('/503-later'), 1);
});

test('a remote 429 is the step unavailable (503, the service is overloaded), not a 502 blaming the server; its Retry-After is passed on', async () => {
  const later = await predict('busy-429-later');
  assert.equal(later.status, 503);
  assert.equal(later.body.code, 'MS_ERR_STEP_UNAVAILABLE');
  assert.match(later.body.detail, /^step 'scorer': .* answered 429 \(too many requests\): busy$/);
  assert.equal(later.retryAfter, '3');
  const bare = await predict('busy-429');
  assert.equal(bare.status, 503);
  assert.equal(bare.retryAfter, null);
});
