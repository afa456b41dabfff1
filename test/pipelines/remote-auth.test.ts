// A remote step's URL with user:password@ (as the events webhook takes it): sent as HTTP Basic
// authorization, over a real socket. The pool connects to the URL's origin, which has no
// credentials: without this they were dropped, and the service answered 401.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startServer, type RunningServer } from '../../src/server.js';
import { newRepo, writeConfig } from './helpers.js';

let service: Server;
let server: RunningServer;

before(async () => {
  const expected = `Basic ${Buffer.from('scorer:p@ss word').toString('base64')}`;
  service = createServer((req, res) => {
    req.resume();
    if (req.headers.authorization !== expected) return res.writeHead(401, { 'content-type': 'application/json' }).end('{"detail":"who are you?"}');
    res.writeHead(200, { 'content-type': 'application/json' }).end('[{"y":1}]');
  });
  await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
  const port = (service.address() as AddressInfo).port;
  const repo = newRepo();
  writeConfig(repo, 'secured', `
pipeline:
  sequence:
    - name: scorer
      remote: { url: "http://scorer:p%40ss%20word@127.0.0.1:${port}/score", protocol: json, retries: 0, fields: { x: { type: number } }, outputs: { y: number } }
`);
  // A key in the query (as some services take it): never in the answer's error, which the client reads.
  writeConfig(repo, 'keyed', `
pipeline:
  sequence:
    - name: scorer
      remote: { url: "http://127.0.0.1:${port}/score?code=s3cret-key", protocol: json, retries: 0, fields: { x: { type: number } }, outputs: { y: number } }
`);
  server = await startServer({ repo, port: 0, workers: 0, logger: false });
});
after(async () => {
  await server?.shutdown();
  service?.close();
});

test("a remote URL's user:password@ is sent as HTTP Basic authorization (percent-decoded)", async () => {
  const res = await fetch(`${server.url}/models/secured/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"x":1}' });
  assert.equal(res.status, 200, await res.clone().text());
  assert.deepEqual(await res.json(), { y: 1 });
});

test("a remote URL's query (which may hold a key) is not shown in a step's error, which the client reads", async () => {
  const res = await fetch(`${server.url}/models/keyed/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"x":1}' });
  assert.equal(res.status, 502);
  const { detail } = await res.json() as { detail: string };
  assert.match(detail, /^step 'scorer': http:\/\/127\.0\.0\.1:\d+\/score\?… answered 401: who are you\?$/);
});
