// Fields and outputs named like Object's own methods (constructor, toString) over a real remote
// step: they are read from the request and the answer like any other name, never found on
// Object.prototype (the pipeline failing to load with "Cannot read properties of undefined", a field
// dropped before the call, a missing output answered as a function).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startServer, type RunningServer } from '../../src/server.js';
import { newRepo, writeConfig } from './helpers.js';

let echo: Server;
let server: RunningServer;

before(async () => {
  // Answers each row as its JSON text (/echo), or an empty object per row (/empty).
  echo = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => {
      const rows = JSON.parse(body) as unknown[];
      const answers = rows.map((row) => (req.url === '/echo' ? { echo: JSON.stringify(row) } : {}));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answers));
    });
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
  const repo = newRepo();
  writeConfig(repo, 'echo', `
pipeline:
  sequence:
    - name: echo
      remote: { url: "${url}/echo", protocol: json, retries: 0, fields: { constructor: { type: number }, toString: { type: string } }, outputs: { echo: string } }
`);
  writeConfig(repo, 'empty', `
pipeline:
  sequence:
    - name: empty
      remote: { url: "${url}/empty", protocol: json, retries: 0, fields: { x: { type: number } }, outputs: { toString: any } }
`);
  server = await startServer({ repo, port: 0, workers: 0, logger: false });
});
after(async () => {
  await server?.shutdown();
  echo?.close();
});

async function predict(model: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.url}/models/${model}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() as Record<string, unknown> };
}

test("a step taking fields named constructor and toString loads, and the request's values reach the remote step", async () => {
  const answer = await predict('echo', { constructor: 1, toString: 'a' });
  assert.equal(answer.status, 200);
  assert.deepEqual(JSON.parse(answer.body.echo as string), { constructor: 1, toString: 'a' });
});

test("an answer without the declared output 'toString' is a 502 naming the step and the output, not Object's method passed on", async () => {
  const answer = await predict('empty', { x: 1 });
  assert.equal(answer.status, 502);
  assert.equal(answer.body.code, 'MS_ERR_STEP_FAILED');
  assert.match(answer.body.detail as string, /^step 'empty': unreadable answer from .*: an answer has no 'toString'$/);
});
