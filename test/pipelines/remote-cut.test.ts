// A remote step whose service closes the connection, over real sockets: before answering, or in the
// middle of an answer. Either is a 502 naming the step that says what happened — not "cannot reach",
// which sends the user looking for a network problem when the service was reached.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startServer, type RunningServer } from '../../src/server.js';
import { newRepo, writeConfig } from './helpers.js';

let service: Server;
let server: RunningServer;
let continueCalls = 0;

before(async () => {
  service = createServer((req, res) => {
    req.resume();
    if (req.url === '/drop') return req.socket.destroy();
    // Bytes that are not HTTP (a service on the wrong port), and headers past undici's 16 KiB.
    if (req.url === '/garbage') return req.socket.end('SSH-2.0-OpenSSH_9.6\r\n\r\n');
    if (req.url === '/headers') return res.writeHead(200, { 'x-big': 'a'.repeat(70_000) }).end('[{"y":1}]');
    // An interim 100 Continue nobody asked for (the call sends no expect: 100-continue), then the answer.
    if (req.url === '/continue') {
      continueCalls++;
      res.writeContinue();
      return res.writeHead(200, { 'content-type': 'application/json' }).end('[{"y":1}]');
    }
    // Half an answer of the length it announces, then the connection goes.
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
    res.write('[{"y":');
    setImmediate(() => res.destroy());
  });
  await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
  const port = (service.address() as AddressInfo).port;
  const repo = newRepo();
  for (const path of ['drop', 'cut', 'garbage', 'headers', 'continue']) {
    writeConfig(repo, path, `
pipeline:
  sequence:
    - name: scorer
      remote: { url: "http://127.0.0.1:${port}/${path}", protocol: json, retries: ${path === 'continue' ? 1 : 0}, fields: { x: { type: number } }, outputs: { y: number } }
`);
  }
  server = await startServer({ repo, port: 0, workers: 0, logger: false });
});
after(async () => {
  await server?.shutdown();
  service?.close();
});

async function predict(model: string): Promise<{ status: number; body: { code: string; detail: string } }> {
  const res = await fetch(`${server.url}/models/${model}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"x":1}' });
  return { status: res.status, body: await res.json() as { code: string; detail: string } };
}

test('a service that closes the connection without answering: a 502 naming the step that says so', async () => {
  const answer = await predict('drop');
  assert.equal(answer.status, 502);
  assert.equal(answer.body.code, 'MS_ERR_STEP_FAILED');
  assert.match(answer.body.detail, /^step 'scorer': http:\/\/127\.0\.0\.1:\d+\/drop closed the connection without answering \(UND_ERR_SOCKET\)$/);
});

test('a service that closes the connection in the middle of its answer: a 502 naming the step, its status and the cut answer', async () => {
  const answer = await predict('cut');
  assert.equal(answer.status, 502);
  assert.equal(answer.body.code, 'MS_ERR_STEP_FAILED');
  assert.match(answer.body.detail, /^step 'scorer': http:\/\/127\.0\.0\.1:\d+\/cut answered 200 but closed the connection before the answer was complete \(/);
});

test('a service that answers something that is not HTTP, or headers past 16 KiB: a 502 naming the step that says so, not "cannot reach"', async () => {
  const garbage = await predict('garbage');
  assert.equal(garbage.status, 502);
  assert.match(garbage.body.detail, /^step 'scorer': http:\/\/127\.0\.0\.1:\d+\/garbage answered something that is not HTTP\/1\.1 \(/);
  const headers = await predict('headers');
  assert.equal(headers.status, 502);
  assert.match(headers.body.detail, /^step 'scorer': http:\/\/127\.0\.0\.1:\d+\/headers answered with headers larger than 16 KiB \(UND_ERR_HEADERS_OVERFLOW\)$/);
});

test('a service that sends a 100 Continue nobody asked for: a 502 that says so (undici refuses it), not "closed without answering", and no retry', async () => {
  const answer = await predict('continue');
  assert.equal(answer.status, 502);
  assert.equal(answer.body.code, 'MS_ERR_STEP_FAILED');
  assert.match(answer.body.detail, /^step 'scorer': http:\/\/127\.0\.0\.1:\d+\/continue answered 100 Continue, which the call did not ask for \(it sends no expect: 100-continue\), and the connection was closed \(UND_ERR_SOCKET\)$/);
  // The step allows one retry: the service would send it again.
  assert.equal(continueCalls, 1);
});
