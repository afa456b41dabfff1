// Remote steps over real sockets: a second modelserve process is a step of the first; killed
// mid-run it yields clear 502/503s (never a hang), and the pipeline recovers when it returns.
// A step that times out is a 504 naming it; a step's 422 is a 422 naming the step and the field.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/server.js';
import { EXAMPLES } from '../helpers/paths.js';
import { startServe, type RunningCli } from '../helpers/serve.js';
import { call } from '../helpers/http.js';
import { freePort } from '../helpers/net.js';
import { newRepo, WEATHER_REMOTE_FIELDS, WEATHER_ROW, writeConfig } from './helpers.js';

let downstreamPort: number;
let downstream: RunningCli | undefined;
let upstream: RunningServer;
let slow: Server;
/** The slow service's requests, held until the test releases them (it never answers by itself). */
const held: ServerResponse[] = [];
let slowAnswered = 0;
function releaseSlow(): void {
  for (const res of held.splice(0)) {
    slowAnswered++;
    if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
  }
}
let oip: Server;
let liar: Server;

async function startDownstream(): Promise<RunningCli> {
  const server = startServe([join(EXAMPLES, 'weather'), '--port', String(downstreamPort), '--workers', '1', '--log-level', 'warn']);
  await server.url;
  return server;
}

const listen = (server: Server) => new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));

before(async () => {
  downstreamPort = await freePort();
  downstream = await startDownstream();
  // A service that answers only when the test releases it, and a minimal Open Inference Protocol (v2) server.
  slow = createServer((req, res) => { req.resume(); held.push(res); });
  oip = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      const request = JSON.parse(body) as { inputs: Array<{ name: string; shape: number[]; data: number[] }> };
      const n = request.inputs[0]!.shape[0]!;
      const total = Array.from({ length: n }, (_, i) => request.inputs.reduce((sum, t) => sum + t.data[i]!, 0));
      // Answers of other OIP servers: nested data (row-major, as OIP allows), an output two
      // values wide, an outputs list holding a null.
      const odd: Record<string, unknown> = {
        '/v2/models/nested/infer': [{ name: 'total', datatype: 'FP64', shape: [n, 1], data: total.map((t) => [t]) }],
        '/v2/models/wide/infer': [{ name: 'total', datatype: 'FP64', shape: [n, 2], data: total.flatMap((t) => [t, -t]) }],
        '/v2/models/nulls/infer': [null],
      };
      if (req.url! in odd) return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ outputs: odd[req.url!] }));
      // A model name with a space, a slash and a '?' arrives as one path segment, percent-encoded.
      if (req.url !== '/v2/models/adder/infer' && req.url !== '/v2/models/my%20adder%2Fv2%3F/infer') return res.writeHead(404).end('{"error":"no such model"}');
      if (total.some((t) => t < 0)) return res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"negative total"}');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ model_name: 'adder', outputs: [{ name: 'total', datatype: 'FP64', shape: [n, 1], data: total }] }));
    });
  });
  // A JSON service whose answers and 422s are not what they should be.
  liar = createServer((req, res) => {
    const json = (status: number, body: string) => res.writeHead(status, { 'content-type': 'application/json' }).end(body);
    if (req.url === '/any') {
      // Untyped ('any') answers: an object, a list whose length varies by row, a list of one length.
      let body = '';
      req.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => {
        const rows = JSON.parse(body) as Array<{ x: number }>;
        json(200, JSON.stringify(rows.map(({ x }) => ({ info: { label: 'rain', p: x / 10 }, ragged: Array.from({ length: x }, (_, i) => i), pair: [x, -x] }))));
      });
      return;
    }
    req.resume();
    if (req.url === '/types') return json(200, '[{"score":"abc","tag":5}]');
    if (req.url === '/list') return json(200, '[{"score":[1,2],"tag":"a"}]');
    if (req.url === '/null422') return json(422, '{"detail":[null]}');
    // Its declared output, and a field it does not declare that has a request field's name.
    if (req.url === '/extra') return json(200, '[{"score":1,"x":"junk"}]');
    // A score that is not a finite number (modelserve answers NaN as null), and a finite one.
    if (req.url === '/nan') return json(200, '[{"score":null}]');
    if (req.url === '/one') return json(200, '[{"score":1}]');
    // An untyped answer nested 5,000 lists deep (JSON.parse takes it; JSON.stringify overflows the stack).
    if (req.url === '/deep') return json(200, `[{"info":${'['.repeat(5000)}${']'.repeat(5000)}}]`);
    if (req.url === '/huge') {
      // 70 MiB of answer, written as the client reads it.
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(1 << 20, 0x20);
      let sent = 0;
      const more = () => { while (sent < 70 && res.write(chunk)) sent++; if (sent >= 70) res.end(); };
      res.on('drain', () => { sent++; more(); });
      res.on('error', () => undefined);
      return more();
    }
    return json(422, '{"detail":[{"loc":"notarray","msg":5}]}');
  });
  const [slowPort, oipPort, liarPort] = await Promise.all([listen(slow), listen(oip), listen(liar)]);
  const repo = newRepo();
  writeConfig(repo, 'remote-weather', `
pipeline:
  sequence:
    - name: forecast
      remote:
        url: http://127.0.0.1:${downstreamPort}
        model: weather
        timeout_ms: 2000
        retries: 1
        max_in_flight: 8
        fields:
${WEATHER_REMOTE_FIELDS.replace(/^ {10}/gm, '          ')}
        outputs: { prediction: string, rain_probability: number }
`);
  writeConfig(repo, 'slow', `
pipeline:
  sequence:
    - name: sleepy
      remote: { url: "http://127.0.0.1:${slowPort}/predict", protocol: json, timeout_ms: 300, fields: { x: { type: number } }, outputs: { y: number } }
`);
  // Its own limit (300 ms) is sooner than its step's (5 s); the slow server answers only when released.
  writeConfig(repo, 'slow-limited', `
queue: { timeout_ms: 300 }
pipeline:
  sequence:
    - name: sleepy
      remote: { url: "http://127.0.0.1:${slowPort}/predict", protocol: json, timeout_ms: 5000, fields: { x: { type: number } }, outputs: { y: number } }
`);
  writeConfig(repo, 'adder', `
pipeline:
  sequence:
    - name: add
      remote: { url: "http://127.0.0.1:${oipPort}", protocol: oip, model: adder, fields: { a: { type: number }, b: { type: integer } }, outputs: { total: number } }
`);
  writeConfig(repo, 'adder-named', `
pipeline:
  sequence:
    - name: add
      remote: { url: "http://127.0.0.1:${oipPort}/", protocol: oip, model: "my adder/v2?", fields: { a: { type: number }, b: { type: integer } }, outputs: { total: number } }
`);
  for (const model of ['nested', 'wide', 'nulls']) {
    writeConfig(repo, `adder-${model}`, `
pipeline:
  sequence:
    - name: add
      remote: { url: "http://127.0.0.1:${oipPort}", protocol: oip, model: ${model}, retries: 0, fields: { a: { type: number }, b: { type: integer } }, outputs: { total: number } }
`);
  }
  for (const path of ['types', 'list', 'null422', 'weird422', 'huge']) {
    // 'huge' sends 70 MiB: on a loaded machine that takes longer than the default 5 s step timeout (a 504),
    // so its limits are a minute and the size limit is what stops it.
    const limits = path === 'huge' ? 'timeout_ms: 60000, ' : '';
    writeConfig(repo, `liar-${path}`, `
${path === 'huge' ? 'queue: { timeout_ms: 60000 }\n' : ''}pipeline:
  sequence:
    - name: liar
      remote: { url: "http://127.0.0.1:${liarPort}/${path}", protocol: json, ${limits}retries: 0, fields: { x: { type: number } }, outputs: { score: number, tag: string } }
`);
  }
  writeConfig(repo, 'liar-any', `
pipeline:
  sequence:
    - name: liar
      remote: { url: "http://127.0.0.1:${liarPort}/any", protocol: json, retries: 0, fields: { x: { type: number } }, outputs: { info: any, ragged: any, pair: any } }
`);
  writeConfig(repo, 'liar-deep', `
pipeline:
  sequence:
    - name: liar
      remote: { url: "http://127.0.0.1:${liarPort}/deep", protocol: json, retries: 0, fields: { x: { type: number } }, outputs: { info: any } }
`);
  writeConfig(repo, 'liar-extra', `
pipeline:
  sequence:
    - name: liar
      remote: { url: "http://127.0.0.1:${liarPort}/extra", protocol: json, retries: 0, fields: { x: { type: number } }, outputs: { score: number } }
  outputs: [score, x]
`);
  writeConfig(repo, 'liar-mean', `
pipeline:
  ensemble:
    - name: nan
      remote: { url: "http://127.0.0.1:${liarPort}/nan", protocol: json, retries: 0, fields: { x: { type: number } }, outputs: { score: number } }
    - name: one
      remote: { url: "http://127.0.0.1:${liarPort}/one", protocol: json, retries: 0, fields: { x: { type: number } }, outputs: { score: number } }
  combine:
    mean: { mean: score }
    weighted: { weighted_mean: score }
`);
  upstream = await startServer({ repo, port: 0, workers: 1 });
});

after(async () => {
  await upstream?.shutdown();
  downstream?.kill();
  slow?.closeAllConnections();
  slow?.close();
  oip?.close();
  liar?.close();
});

test('a remote modelserve step answers what the remote model answers (single and batch)', async () => {
  const direct = await call(`http://127.0.0.1:${downstreamPort}/predict`, { body: [WEATHER_ROW, { ...WEATHER_ROW, humidity: 0.2 }] });
  const piped = await call(`${upstream.url}/models/remote-weather/predict`, { body: [WEATHER_ROW, { ...WEATHER_ROW, humidity: 0.2 }] });
  assert.equal(piped.status, 200, piped.text);
  assert.deepEqual(piped.body, direct.body);
  const one = await call(`${upstream.url}/models/remote-weather/predict`, { body: WEATHER_ROW });
  assert.deepEqual(one.body, direct.body[0]);
});

test('the remote step\'s 422 is a 422 naming the step, the row and the field', async () => {
  const res = await call(`${upstream.url}/models/remote-weather/predict`, { body: [WEATHER_ROW, { ...WEATHER_ROW, humidity: 2 }] });
  assert.equal(res.status, 422, res.text);
  assert.deepEqual(res.body.detail[0].loc, ['step', 'forecast', 'body', 1, 'humidity']);
  assert.match(res.body.detail[0].msg, /^step 'forecast': /);
  assert.equal(res.body.detail[0].type, 'value_error.number.not_le');
});

test('a step past its timeout is a 504 naming the step, answered at the timeout', async () => {
  // The remote holds the call until this test releases it: the 504 can only be the step's own timeout.
  const res = await call(`${upstream.url}/models/slow/predict`, { body: { x: 1 } });
  const unanswered = held.length;
  const answered = slowAnswered;
  releaseSlow();
  assert.equal(res.status, 504, res.text);
  assert.equal(res.body.code, 'MS_ERR_STEP_TIMEOUT');
  assert.deepEqual([unanswered, answered], [1, 0], 'the call reached the remote and was still unanswered when the 504 came');
  // The step's 300 ms, not the pipeline's queue.timeout_ms (30 s by default), which would also end the call.
  assert.match(res.body.detail, /step 'sleepy': .* did not answer within 300 ms$/);
});

test("a caller's longer deadline does not extend a pipeline's own queue.timeout_ms, on the JSON and the OIP routes", async () => {
  const headers = { 'x-modelserve-timeout-ms': '3000' };
  // The remote never answers, so either limit ends the call: the budget the 504 names tells which.
  const budget = (detail: string) => Number(/did not answer within (\d+) ms/.exec(detail)?.[1]);
  const json = await call(`${upstream.url}/models/slow-limited/predict`, { body: { x: 1 }, headers });
  assert.equal(json.status, 504, json.text);
  assert.ok(budget(json.body.detail) <= 300, json.text);
  const oip = await call(`${upstream.url}/v2/models/slow-limited/infer`, { body: { inputs: [{ name: 'x', datatype: 'FP64', shape: [1], data: [1] }] }, headers });
  releaseSlow();
  assert.equal(oip.status, 504, oip.text);
  assert.ok(budget(oip.body.detail ?? oip.body.error) <= 300, `the pipeline's 300 ms, not the caller's 3 s: ${oip.text}`);
});

test('an OIP v2 step: one tensor per field in, the named output tensor out; its 400 is a 422 naming the step', async () => {
  const res = await call(`${upstream.url}/models/adder/predict`, { body: [{ a: 1.5, b: 2 }, { a: -1, b: 3 }] });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.body, [{ total: 3.5 }, { total: 2 }]);
  const bad = await call(`${upstream.url}/models/adder/predict`, { body: { a: -10, b: 1 } });
  assert.equal(bad.status, 422);
  assert.deepEqual(bad.body.detail[0].loc, ['step', 'add', 'body']);
  assert.match(bad.body.detail[0].msg, /negative total/);
});

test("a remote model's name is one path segment of the URL, percent-encoded (Triton's names may hold spaces, slashes, '?')", async () => {
  const res = await call(`${upstream.url}/models/adder-named/predict`, { body: { a: 1.5, b: 2 } });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.body, { total: 3.5 });
});

test('the remote modelserve killed mid-run: 502/503, never a hang; recovery when it returns', async () => {
  // Decided by what happened, not by how long it took: the outage lasts until every client has had
  // a request that began after the kill end in a 502/503 (so none waited for the remote to return),
  // and recovery until every client has had three 200s in a row after the restart. A request that
  // hangs holds its client, so the phase it is in never ends: the bounds below only turn that into
  // a failure, far past the step's 2 s timeout (x2 attempts) that ends a call to an unreachable remote.
  const HANG_MS = 30_000;
  const statuses = new Map<number, number>();
  type Phase = 'before' | 'outage' | 'after';
  let phase: Phase = 'before';
  let running = true;
  const CLIENTS = 3;
  const failedInOutage = new Set<number>();
  const streakAfter = Array.from({ length: CLIENTS }, () => 0);
  const okBefore = new Set<number>();
  let progress = (): void => undefined;
  const client = async (id: number) => {
    while (running) {
      const began = phase;
      let guard: NodeJS.Timeout | undefined;
      const res = await Promise.race([
        call(`${upstream.url}/models/remote-weather/predict`, { body: WEATHER_ROW }),
        new Promise<never>((_, reject) => { guard = setTimeout(() => reject(new Error(`a request begun ${began} the outage hung for ${HANG_MS} ms`)), HANG_MS); }),
      ]).finally(() => clearTimeout(guard));
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status !== 200) assert.match(res.body.detail, /step 'forecast'/, res.text);
      if (began === 'before' && res.status === 200) okBefore.add(id);
      if (began === 'outage' && phase === 'outage' && (res.status === 502 || res.status === 503)) failedInOutage.add(id);
      if (began === 'after') streakAfter[id] = res.status === 200 ? streakAfter[id]! + 1 : 0;
      progress();
    }
  };
  /** Resolves once `done()` holds (checked after every answer); fails after `HANG_MS` with `what`. */
  const until = (done: () => boolean, what: () => string) => new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what()} within ${HANG_MS} ms: ${JSON.stringify([...statuses])}`)), HANG_MS);
    progress = () => { if (done()) { clearTimeout(timer); progress = () => undefined; resolve(); } };
    progress();
  });
  const clients = Array.from({ length: CLIENTS }, (_, id) => client(id));
  const clientsFailed = Promise.all(clients).then(() => undefined);
  try {
    await Promise.race([until(() => okBefore.size === CLIENTS, () => `only ${okBefore.size} clients had a 200 before the kill`), clientsFailed]);
    downstream!.kill();
    phase = 'outage';
    await Promise.race([until(() => failedInOutage.size === CLIENTS, () => `only ${failedInOutage.size} of ${CLIENTS} clients had a request of the outage end in a 502/503`), clientsFailed]);
    downstream = await startDownstream();
    phase = 'after';
    await Promise.race([until(() => streakAfter.every((n) => n >= 3), () => `not recovered: 200s in a row per client ${streakAfter}`), clientsFailed]);
  } finally {
    running = false;
    await Promise.allSettled(clients);
  }
  await Promise.all(clients);
  const summary = JSON.stringify([...statuses]);
  assert.deepEqual([...statuses.keys()].filter((s) => s !== 200 && s !== 502 && s !== 503), [], summary);
});

test('a remote answer of the wrong type is a 502 naming the step and the field, not passed on', async () => {
  const res = await call(`${upstream.url}/models/liar-types/predict`, { body: { x: 1 } });
  assert.equal(res.status, 502, res.text);
  assert.equal(res.body.code, 'MS_ERR_STEP_FAILED');
  assert.match(res.body.detail, /step 'liar': unreadable answer from .*: 'score' is "abc", not a number/);
});

test('an OIP step\'s nested data is read as OIP allows; a number output answered as a list or an outputs list holding a null is a 502 naming the step, not a 500', async () => {
  // Nested data: answered 500 (the list [3] went on as the number). Two values per row: a 500 too.
  const nested = await call(`${upstream.url}/models/adder-nested/predict`, { body: [{ a: 1, b: 2 }, { a: 3, b: 4 }] });
  assert.equal(nested.status, 200, nested.text);
  assert.deepEqual(nested.body, [{ total: 3 }, { total: 7 }]);
  for (const [model, why] of [
    ['adder-wide', /step 'add': unreadable answer from .*: 'total' has 2 values per row, not one number \(declare it as any to take them as a list\)/],
    // Was 'cannot reach …: Cannot read properties of null (reading 'name')'.
    ['adder-nulls', /step 'add': unreadable answer from .*: no output 'total' with 1 rows/],
    ['liar-list', /step 'liar': unreadable answer from .*: 'score' is \[1,2\], not a number/],
  ] as const) {
    for (const url of [`${upstream.url}/models/${model}/predict`, `${upstream.url}/v2/models/${model}/infer`]) {
      const oip = url.includes('/v2/');
      const body = oip ? { inputs: (model === 'liar-list' ? [['x', 'FP64']] : [['a', 'FP64'], ['b', 'INT64']]).map(([name, datatype]) => ({ name, datatype, shape: [1], data: [1] })) } : model === 'liar-list' ? { x: 1 } : { a: 1, b: 2 };
      const res = await call(url, { body });
      assert.equal(res.status, 502, `${url}: ${res.text}`);
      assert.equal(res.body.code, 'MS_ERR_STEP_FAILED');
      assert.match(oip ? res.body.error : res.body.detail, why);
    }
  }
});

test("a remote step's untyped ('any') answers over OIP: an object or a ragged list is BYTES of its JSON text per row, lists of one length a matrix", async () => {
  const res = await call(`${upstream.url}/v2/models/liar-any/infer`, { body: { inputs: [{ name: 'x', datatype: 'FP64', shape: [2, 1], data: [1, 2] }] } });
  assert.equal(res.status, 200, res.text);
  const outputs = Object.fromEntries((res.body as { outputs: Array<{ name: string; datatype: string; shape: number[]; data: unknown[] }> }).outputs.map((o) => [o.name, o]));
  assert.deepEqual({ datatype: outputs.info!.datatype, shape: outputs.info!.shape, data: outputs.info!.data }, { datatype: 'BYTES', shape: [2, 1], data: ['{"label":"rain","p":0.1}', '{"label":"rain","p":0.2}'] });
  assert.deepEqual({ datatype: outputs.ragged!.datatype, shape: outputs.ragged!.shape, data: outputs.ragged!.data }, { datatype: 'BYTES', shape: [2, 1], data: ['[0]', '[0,1]'] });
  assert.deepEqual({ datatype: outputs.pair!.datatype, shape: outputs.pair!.shape, data: outputs.pair!.data }, { datatype: 'FP64', shape: [2, 2], data: [1, -1, 2, -2] });
  // The JSON route answers the values as they came.
  const json = await call(`${upstream.url}/models/liar-any/predict`, { body: [{ x: 1 }] });
  assert.equal(json.status, 200, json.text);
  assert.deepEqual(json.body, [{ info: { label: 'rain', p: 0.1 }, ragged: [0], pair: [1, -1] }]);
});

test("a remote step's untyped ('any') answer nested thousands of levels deep is a 502 naming the step and the output, not a 500 from serializing it", async () => {
  for (const url of [`${upstream.url}/models/liar-deep/predict`, `${upstream.url}/v2/models/liar-deep/infer`]) {
    const body = url.includes('/v2/') ? { inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: [1] }] } : [{ x: 1 }];
    const res = await call(url, { body });
    assert.equal(res.status, 502, res.text);
    assert.match(res.text, /step 'liar': unreadable answer from http:\/\/127\.0\.0\.1:\d+\/deep: 'info' is nested more than 32 levels deep/);
  }
});

test("a remote 422 whose detail is not FastAPI's issues is still a 422 in FastAPI's shape, naming the step", async () => {
  for (const model of ['liar-null422', 'liar-weird422']) {
    const res = await call(`${upstream.url}/models/${model}/predict`, { body: { x: 1 } });
    assert.equal(res.status, 422, `${model}: ${res.text}`);
    const [issue, ...rest] = res.body.detail as Array<{ loc: unknown[]; msg: string; type: string }>;
    assert.equal(rest.length, 0);
    assert.deepEqual(issue!.loc, ['step', 'liar', 'body'], model);
    assert.match(issue!.msg, /^step 'liar': \{"detail":\[/, model);
    assert.equal(issue!.type, 'value_error.remote');
  }
});

test("a pipeline that calls itself by mistake stops when its client's deadline passes: the remaining time travels with each hop (x-modelserve-timeout-ms)", async () => {
  const port = await freePort();
  const repo = newRepo();
  writeConfig(repo, 'loop', `
pipeline:
  sequence:
    - name: again
      remote: { url: "http://127.0.0.1:${port}", model: loop, timeout_ms: 1000, retries: 0, fields: { x: { type: number } }, outputs: { y: number } }
`);
  const server = await startServer({ repo, port, workers: 1, logger: false });
  try {
    const requests = async () => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      return [...text.matchAll(/^modelserve_requests_total\{model="loop"[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    };
    const res = await call(`${server.url}/models/loop/predict`, { body: { x: 1 } });
    assert.equal(res.status, 504, res.text);
    // Hops still queued on a busy machine may finish after it; then it must go quiet, and stay so.
    let settled = -1;
    for (let tries = 0; tries < 20; tries++) {
      const count = await requests();
      if (count === settled) break;
      settled = count;
      await new Promise((r) => setTimeout(r, 500));
    }
    const before = await (await fetch(`${server.url}/metrics`)).text();
    await new Promise((r) => setTimeout(r, 1500));
    const later = await (await fetch(`${server.url}/metrics`)).text();
    const series = (text: string) => text.split('\n').filter((l) => l.startsWith('modelserve_requests_total{model="loop"')).join('\n');
    assert.equal(await requests(), settled, `no hop runs on after the deadline:\n${series(before)}\n-- 1.5 s later --\n${series(later)}`);
  } finally {
    await server.shutdown();
  }
});

test('a field a remote step answers but does not declare is dropped: it does not replace the request\'s field of that name', async () => {
  const res = await call(`${upstream.url}/models/liar-extra/predict`, { body: { x: 3 } });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.body, { score: 1, x: 3 });
});

test('an ensemble\'s mean over a member\'s null (a non-finite number) is null, not a mean that counts it as 0', async () => {
  const res = await call(`${upstream.url}/models/liar-mean/predict`, { body: { x: 3 } });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.body, { mean: null, weighted: null });
});

test('a remote answer past 64 MiB is a 502 naming the step, read no further', async () => {
  const res = await call(`${upstream.url}/models/liar-huge/predict`, { body: { x: 1 } });
  assert.equal(res.status, 502, res.text);
  assert.match(res.body.detail, /step 'liar': unreadable answer from .*: the answer is larger than 64 MiB/);
});

test("a client that goes away cancels its remote steps' calls in flight (a downstream modelserve then sees its own client go), not at the step's timeout", { timeout: 20_000 }, async () => {
  // A service that never answers, and says when a call's connection closes.
  const closed: Array<() => void> = [];
  let received = 0;
  const silent = createServer((req) => { received++; req.resume(); req.socket.once('close', () => closed.shift()?.()); });
  const port = await listen(silent);
  const repo = newRepo();
  writeConfig(repo, 'waits', `
pipeline:
  sequence:
    - name: never
      remote: { url: "http://127.0.0.1:${port}/predict", protocol: json, timeout_ms: 60000, retries: 0, fields: { x: { type: number } }, outputs: { y: number } }
`);
  const server = await startServer({ repo, port: 0, workers: 1, logger: false });
  try {
    const cancelled = new Promise<void>((resolve) => closed.push(resolve));
    const controller = new AbortController();
    const answer = fetch(`${server.url}/models/waits/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"x":1}', signal: controller.signal }).catch(() => 'aborted');
    while (received === 0) await new Promise((r) => setTimeout(r, 10));
    controller.abort();
    assert.equal(await answer, 'aborted');
    // On the old code the call stayed open until its 60 s timeout: the test's own timeout fails it.
    await cancelled;
  } finally {
    await server.shutdown();
    silent.closeAllConnections();
    silent.close();
  }
});
