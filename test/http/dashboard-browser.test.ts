// GET /dashboard in Debian's headless Chromium, with auth on and nothing reachable beyond
// 127.0.0.1: after a burst of requests the counters, the label distribution, the histogram, the
// errors and the latest predictions (redacted) show what the server reports (/metrics and
// /dashboard/stats), read from the DOM. A screenshot is saved under dist/test-artifacts/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { EXAMPLES, REPO, tempDir } from '../helpers/paths.js';
import { sample } from '../helpers/prom.js';

const KEY = 'dashboard-test-key-0123456789';
const ADMIN_KEY = 'dashboard-test-admin-key-0123456789';
let server: RunningServer;
let browser: Browser;
const auth = { authorization: `Bearer ${KEY}` };
type Row = Record<string, number>;
const rows = (JSON.parse(readFileSync(join(EXAMPLES, 'weather', 'testset.json'), 'utf8')) as { rows: Row[] }).rows;

before(async () => {
  server = await startServer({ repo: EXAMPLES, port: 0, workers: 1, logger: false, app: { auth: { keys: [KEY], adminKeys: [ADMIN_KEY] }, redact: ['humidity'] } });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await server?.shutdown();
});

test('the dashboard page is open, its data streams are protected like /metrics', async () => {
  assert.equal((await fetch(`${server.url}/dashboard`)).status, 200);
  assert.equal((await fetch(`${server.url}/dashboard/assets/uPlot.min.js`)).status, 200);
  assert.equal((await fetch(`${server.url}/dashboard/stats`)).status, 401);
  assert.equal((await fetch(`${server.url}/dashboard/events`)).status, 401);
  assert.equal((await fetch(`${server.url}/dashboard/stats`, { headers: auth })).status, 200);
  // The stream sends a frame at once, then one every 500 ms: three come. (Not within 2 s: a loaded
  // machine took longer; the deadline is only there to fail rather than wait for ever.)
  const res = await fetch(`${server.url}/dashboard/events`, { headers: auth });
  assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  const frames = () => (text.match(/\ndata: |^data: /g) ?? []).length;
  const deadline = setTimeout(() => void reader.cancel(), 30_000);
  try {
    while (frames() < 3) {
      const chunk = await reader.read();
      if (chunk.done) break; // cancelled at the deadline
      text += chunk.value;
    }
  } finally {
    clearTimeout(deadline);
  }
  assert.ok(frames() >= 3, `three frames within 30 s, got ${frames()}: ${text.slice(0, 200)}`);
  await reader.cancel();
});

test('after a burst the dashboard shows the values the server reports, with no network beyond 127.0.0.1', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1100 } });
  const external: string[] = [];
  await context.route('**/*', (route) => {
    const target = new URL(route.request().url());
    if (target.hostname !== '127.0.0.1') {
      external.push(route.request().url());
      return route.abort();
    }
    return route.continue();
  });
  // The key a user would type into the page's form, already in this tab's session storage.
  await context.addInitScript({ content: `sessionStorage.setItem('modelserve-key', ${JSON.stringify(KEY)})` });
  const page = await context.newPage();
  // Nothing the page asks for fails, nothing it logs is an error (a 404 for /favicon.ico was both).
  const failures: string[] = [];
  page.on('response', (res) => { if (res.status() >= 400) failures.push(`${res.status()} ${res.url()}`); });
  page.on('console', (message) => { if (message.type() === 'error') failures.push(message.text()); });
  await page.goto(`${server.url}/dashboard`);
  await page.waitForSelector('#status[data-status="live"]', { timeout: 10_000 });

  // The burst: 300 predictions (tallied by label) and 7 invalid requests.
  const labels: Record<string, number> = {};
  const n = 300;
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${server.url}/models/weather/predict`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(rows[i % rows.length]) });
    const body = await res.json() as { prediction: string };
    labels[body.prediction] = (labels[body.prediction] ?? 0) + 1;
  }
  for (let i = 0; i < 7; i++) {
    const res = await fetch(`${server.url}/models/weather/predict`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ temp_c: 'hot' }) });
    assert.equal(res.status, 422);
    await res.arrayBuffer();
  }
  const card = page.locator('section.card[data-model="weather"][data-version="1"]');
  // A function, not a string: the page's CSP (script-src 'self') forbids evaluating strings.
  type Doc = { querySelector(selector: string): { textContent: string | null } | null };
  // Both counts: a frame sent after the 300th prediction but before the 7th 422 shows fewer errors.
  await page.waitForFunction(({ count, errors }) => {
    const doc = (globalThis as unknown as { document: Doc }).document;
    return doc.querySelector('section.card[data-model="weather"] [data-stat="requests"]')?.textContent === String(count)
      && doc.querySelector('tr[data-error="http 422"][data-model="weather"] td:nth-child(5)')?.textContent === String(errors);
  }, { count: n, errors: 7 }, { timeout: 10_000 });

  const metrics = await (await fetch(`${server.url}/metrics`, { headers: auth })).text();
  const stats = await (await fetch(`${server.url}/dashboard/stats`, { headers: auth })).json() as { versions: Array<{ model: string; requests: number; latency: { p50: number; p95: number; p99: number }; batches: { meanRows: number } }> };
  const weather = stats.versions.find((v) => v.model === 'weather')!;
  assert.equal(sample(metrics, 'modelserve_requests_total', { model: 'weather', version: '1', route: '/models/:name/predict', status: '200' }), n);
  assert.equal(weather.requests, n);
  const stat = async (name: string) => (await card.locator(`[data-stat="${name}"]`).textContent())!;
  assert.equal(await stat('requests'), String(n));
  assert.equal(await stat('rows'), String(n));
  assert.equal(await stat('p50'), weather.latency.p50.toFixed(2));
  assert.equal(await stat('p99'), weather.latency.p99.toFixed(2));
  assert.equal(await stat('batch'), weather.batches.meanRows.toFixed(2));
  // Label distribution: the counts the test saw in the answers.
  for (const [label, count] of Object.entries(labels)) {
    assert.equal(await card.locator(`tr[data-label="${label}"] [data-count]`).textContent(), String(count), label);
  }
  assert.equal(await card.getAttribute('data-histogram-total'), String(n));
  assert.equal(await page.locator('tr[data-error="http 422"][data-model="weather"] td').nth(4).textContent(), String(sample(metrics, 'modelserve_requests_total', { model: 'weather', version: '1', route: '/models/:name/predict', status: '422' })));
  // Latest predictions, redacted: no humidity value reaches the page.
  const inputs = await page.locator('#latest td[data-col="inputs"]').allTextContents();
  assert.ok(inputs.length > 0);
  for (const text of inputs) assert.match(text, /"humidity":"\[redacted\]"/);
  // Two charts per served version: uPlot drew canvases.
  assert.ok(await card.locator('canvas').count() >= 2);

  const dir = join(REPO, 'dist', 'test-artifacts');
  mkdirSync(dir, { recursive: true });
  const shot = join(dir, 'dashboard.png');
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`dashboard screenshot: ${shot}`);
  assert.deepEqual(external, []);
  assert.deepEqual(failures, []);
  await context.close();
});

test('a version unloaded while the page is open keeps its card, marked not loaded, until it is loaded again', async () => {
  const context = await browser.newContext();
  await context.addInitScript({ content: `sessionStorage.setItem('modelserve-key', ${JSON.stringify(KEY)})` });
  const page = await context.newPage();
  await page.goto(`${server.url}/dashboard`);
  const card = page.locator('section.card[data-model="loan"][data-version="1"]');
  await card.and(page.locator('[data-loaded="true"]')).waitFor({ timeout: 10_000 });
  assert.equal(await card.locator('h2').textContent(), 'loan · version 1');
  const repository = (action: string) => fetch(`${server.url}/v2/repository/models/loan/${action}`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  assert.equal((await repository('unload')).status, 200);
  await card.and(page.locator('[data-loaded="false"]')).waitFor({ timeout: 10_000 });
  assert.equal(await card.locator('h2').textContent(), 'loan · version 1 (not loaded)');
  const stats = await (await fetch(`${server.url}/dashboard/stats`, { headers: auth })).json() as { versions: Array<{ model: string; loaded: boolean }> };
  assert.deepEqual(stats.versions.map((v) => [v.model, v.loaded]), [['loan', false], ['rain-xgboost', true], ['weather', true]]);
  assert.equal((await repository('load')).status, 200);
  await card.and(page.locator('[data-loaded="true"]')).waitFor({ timeout: 10_000 });
  assert.equal(await card.locator('h2').textContent(), 'loan · version 1');
  await context.close();
});

test('a key the server refuses is said to be refused (not "needed", as with no key); the form takes another and the page goes live', async () => {
  const context = await browser.newContext();
  await context.addInitScript({ content: `if (!sessionStorage.getItem('modelserve-key')) sessionStorage.setItem('modelserve-key', 'not-a-key')` });
  const page = await context.newPage();
  try {
    await page.goto(`${server.url}/dashboard`);
    await page.waitForSelector('#auth:not([hidden])', { timeout: 10_000 });
    assert.equal(await page.locator('#status').textContent(), 'API key refused: enter another');
    await page.fill('#key', KEY);
    await page.click('#auth button[type="submit"]');
    await page.waitForSelector('#status[data-status="live"]', { timeout: 10_000 });
  } finally {
    await context.close();
  }
});

test('a rate-limited key: the page waits as long as Retry-After says before it connects again, and says so', async () => {
  const SLOW = 'slow-key-0123456789abcdef';
  const limited = await startServer({ repo: EXAMPLES, port: 0, workers: 1, logger: false, app: { auth: { keys: [SLOW], rateLimits: new Map([[SLOW, { rate: 0.05, burst: 1 }]]) } } });
  const context = await browser.newContext();
  try {
    // The key's one token, spent: the page's first request is refused for ~20 s.
    assert.equal((await fetch(`${limited.url}/dashboard/stats`, { headers: { authorization: `Bearer ${SLOW}` } })).status, 200);
    await context.addInitScript({ content: `sessionStorage.setItem('modelserve-key', ${JSON.stringify(SLOW)})` });
    const page = await context.newPage();
    const refused = page.waitForResponse((r) => r.url().endsWith('/dashboard/events'));
    await page.goto(`${limited.url}/dashboard`);
    const res = await refused;
    assert.equal(res.status(), 429);
    const wait = Number(res.headers()['retry-after']);
    assert.ok(wait > 2, `Retry-After: ${wait}`);
    await page.locator('#status', { hasText: 'HTTP 429' }).waitFor({ timeout: 10_000 });
    assert.equal(await page.locator('#status').textContent(), `HTTP 429; retrying in ${wait} s`);
  } finally {
    await context.close();
    await limited.shutdown();
  }
});

test('under --watch the cards follow the repository: a removed model loses its card, an added one gets its card in name order, and with none left the page says so; after a server restart the page shows the new server\'s models only', async () => {
  const repo = tempDir();
  for (const name of ['weather', 'loan']) cpSync(join(EXAMPLES, name), join(repo, name), { recursive: true });
  // Polling off: the test runs each --watch pass itself.
  let watched = await startServer({ repo, port: 0, workers: 1, logger: false, watch: { pollMs: 3_600_000, debounceMs: 3_600_000, settleMs: 0 } });
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${watched.url}/dashboard`);
    const cardsAre = async (expected: string[]) => {
      await page.waitForFunction((keys) => {
        const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): Iterable<{ getAttribute(a: string): string | null }> } }).document;
        return JSON.stringify([...doc.querySelectorAll('section.card')].map((c) => `${c.getAttribute('data-model')}@${c.getAttribute('data-version')}`)) === JSON.stringify(keys);
      }, expected, { timeout: 10_000 }).catch(async () => assert.fail(`cards ${JSON.stringify(await page.locator('section.card').evaluateAll((cs) => cs.map((c) => `${c.getAttribute('data-model')}@${c.getAttribute('data-version')}`)))}, expected ${JSON.stringify(expected)}`));
    };
    await cardsAre(['loan@1', 'weather@1']);
    rmSync(join(repo, 'loan'), { recursive: true });
    await watched.core.reconcile({});
    await cardsAre(['weather@1']);
    cpSync(join(EXAMPLES, 'rain-xgboost'), join(repo, 'rain-xgboost'), { recursive: true });
    await watched.core.reconcile({});
    await cardsAre(['rain-xgboost@1', 'weather@1']);
    for (const name of ['weather', 'rain-xgboost']) rmSync(join(repo, name), { recursive: true });
    await watched.core.reconcile({});
    await cardsAre([]);
    assert.equal(await page.locator('#no-models').isVisible(), true);
    // A restart on the same port with another repository: the page reconnects and shows its models.
    const port = Number(new URL(watched.url).port);
    await watched.shutdown();
    await page.locator('#status', { hasText: 'disconnected' }).waitFor({ timeout: 10_000 });
    cpSync(join(EXAMPLES, 'loan'), join(repo, 'loan'), { recursive: true });
    watched = await startServer({ repo, port, workers: 1, logger: false });
    await page.waitForSelector('#status[data-status="live"]', { timeout: 10_000 });
    await cardsAre(['loan@1']);
    assert.equal(await page.locator('#no-models').isVisible(), false);
  } finally {
    await context.close();
    await watched.shutdown();
  }
});

test('a version reloaded with its outputs renamed (model.yaml edited under --watch): its label counts and histogram follow the new fields, none counted as "undefined"', async () => {
  const repo = tempDir();
  cpSync(join(EXAMPLES, 'weather'), join(repo, 'weather'), { recursive: true });
  const watched = await startServer({ repo, port: 0, workers: 1, logger: false, watch: { pollMs: 3_600_000, debounceMs: 3_600_000, settleMs: 0 } });
  const context = await browser.newContext();
  try {
    const predict = async () => (await fetch(`${watched.url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(rows[0]) })).json() as Promise<Record<string, unknown>>;
    assert.deepEqual(Object.keys(await predict()), ['prediction', 'rain_probability']);
    const yaml = join(repo, 'weather', 'model.yaml');
    writeFileSync(yaml, readFileSync(yaml, 'utf8').replace('  prediction:\n    from: label', '  rain:\n    from: label').replace('  rain_probability:\n', '  p_rain:\n'));
    await watched.core.reconcile({});
    const answer = await predict();
    assert.deepEqual(Object.keys(answer), ['rain', 'p_rain']);
    const stats = await (await fetch(`${watched.url}/dashboard/stats`)).json() as { versions: Array<{ labels: { field: string; counts: Record<string, number> }; histogram: { field: string; counts: number[] } }> };
    assert.deepEqual(stats.versions[0]!.labels, { field: 'rain', counts: { [String(answer.rain)]: 1 } });
    assert.equal(stats.versions[0]!.histogram.field, 'p_rain');
    assert.equal(stats.versions[0]!.histogram.counts.reduce((a, b) => a + b, 0), 1);
    // The page's card shows the new fields' charts.
    const page = await context.newPage();
    await page.goto(`${watched.url}/dashboard`);
    const card = page.locator('section.card[data-model="weather"]');
    await card.locator(`tr[data-label="${String(answer.rain)}"]`).waitFor({ timeout: 10_000 });
    assert.deepEqual(await card.locator('.u-title').allTextContents(), ['requests/s and p99 latency', 'predictions by rain', 'p_rain (last 2048)']);
    assert.equal(await card.getAttribute('data-histogram-total'), '1');
    // Renamed again while the page is open: the card follows.
    writeFileSync(yaml, readFileSync(yaml, 'utf8').replace('  rain:\n    from: label', '  will_rain:\n    from: label'));
    await watched.core.reconcile({});
    await predict();
    await card.locator('.u-title', { hasText: 'predictions by will_rain' }).waitFor({ timeout: 10_000 });
    assert.equal(await page.locator('section.card').count(), 1);
  } finally {
    await context.close();
    await watched.shutdown();
  }
});

test('a repository of 60 models: only the cards on screen get charts (the page built 180 and redrew them all twice a second); a card scrolled to gets its charts and shows its counts', async () => {
  const repo = tempDir();
  const names = Array.from({ length: 60 }, (_, i) => `m${String(i).padStart(2, '0')}`);
  for (const name of names) {
    cpSync(join(EXAMPLES, 'weather'), join(repo, name), { recursive: true });
    const yaml = join(repo, name, 'model.yaml');
    writeFileSync(yaml, readFileSync(yaml, 'utf8').replace('name: weather', `name: ${name}`).replace('default: true', 'default: false'));
  }
  const many = await startServer({ repo, port: 0, workers: 1, logger: false });
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  try {
    const last = names.at(-1)!;
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${many.url}/models/${last}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(rows[i]) });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
    const page = await context.newPage();
    await page.goto(`${many.url}/dashboard`);
    await page.locator('section.card[data-model="m00"] canvas').first().waitFor({ timeout: 20_000 });
    assert.equal(await page.locator('section.card').count(), names.length);
    // Every card has its title (a search in the page finds it), drawn or not.
    assert.equal(await page.locator(`section.card[data-model="${last}"] h2`).textContent(), `${last} · version 1`);
    const drawn = await page.locator('section.card:has(canvas)').count();
    assert.ok(drawn > 0 && drawn <= 20, `${drawn} of ${names.length} cards have charts`);
    const card = page.locator(`section.card[data-model="${last}"]`);
    assert.equal(await card.locator('canvas').count(), 0);
    await card.scrollIntoViewIfNeeded();
    await card.locator('[data-stat="requests"]', { hasText: '3' }).waitFor({ timeout: 10_000 });
    assert.ok(await card.locator('canvas').count() >= 2);
    assert.equal(await card.getAttribute('data-histogram-total'), '3');
  } finally {
    await context.close();
    await many.shutdown();
  }
});

test('on a phone (375 px wide) the page does not scroll sideways: the header wraps, the charts fit their cards and the latest-predictions table scrolls within its panel', async () => {
  const context = await browser.newContext({ viewport: { width: 375, height: 800 } });
  await context.addInitScript({ content: `sessionStorage.setItem('modelserve-key', ${JSON.stringify(KEY)})` });
  try {
    const res = await fetch(`${server.url}/models/weather/predict`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(rows.slice(0, 5)) });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const page = await context.newPage();
    await page.goto(`${server.url}/dashboard`);
    await page.locator('#latest tbody tr').first().waitFor({ timeout: 10_000 });
    await page.locator('section.card canvas').first().waitFor({ timeout: 10_000 });
    const widths = await page.evaluate(() => {
      const doc = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number }; querySelectorAll(s: string): Iterable<{ getBoundingClientRect(): { right: number } }> } }).document;
      return { page: doc.documentElement.scrollWidth, viewport: doc.documentElement.clientWidth, rightmostCanvas: Math.max(...[...doc.querySelectorAll('section.card canvas')].map((c) => c.getBoundingClientRect().right)) };
    });
    assert.equal(widths.viewport, 375);
    assert.ok(widths.page <= widths.viewport, `the page is ${widths.page} px wide in a ${widths.viewport} px viewport`);
    assert.ok(widths.rightmostCanvas <= widths.viewport, `a chart reaches ${widths.rightmostCanvas} px`);
  } finally {
    await context.close();
  }
});

test('a stream that goes silent without closing (a dropped network, a proxy holding it): the page says it is disconnected and connects again, instead of staying "live" on old numbers', async () => {
  // A TCP proxy to the server that can stop forwarding on the connections it has, leaving them open.
  const pairs: Array<[Socket, Socket]> = [];
  const streams = new Set<Socket>();
  const proxy = createServer((client) => {
    const upstream = connect(Number(new URL(server.url).port), '127.0.0.1');
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    upstream.on('data', (chunk: Buffer) => { if (chunk.includes('text/event-stream')) streams.add(upstream); });
    pairs.push([client, upstream]);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
  const context = await browser.newContext();
  await context.addInitScript({ content: `sessionStorage.setItem('modelserve-key', ${JSON.stringify(KEY)})` });
  try {
    const page = await context.newPage();
    await page.goto(`${url}/dashboard`);
    await page.waitForSelector('body[data-frames]', { timeout: 10_000 });
    assert.equal(await page.locator('#status').getAttribute('data-status'), 'live');
    // The event stream's connection only: the browser's idle keep-alive ones stay usable, as after a proxy dropped one stream.
    const frozen = pairs.filter(([, upstream]) => streams.has(upstream));
    assert.equal(frozen.length, 1);
    for (const [client, upstream] of frozen) { client.unpipe(upstream); upstream.unpipe(client); client.pause(); upstream.pause(); }
    await page.locator('#status', { hasText: 'disconnected' }).waitFor({ timeout: 30_000 });
    // New connections pass: the page is live again and gets frames.
    await page.waitForSelector('#status[data-status="live"]', { timeout: 10_000 });
    const frames = Number(await page.locator('body').getAttribute('data-frames'));
    await page.waitForFunction((seen) => Number((globalThis as unknown as { document: { body: { getAttribute(a: string): string | null } } }).document.body.getAttribute('data-frames')) > seen, frames, { timeout: 10_000 });
  } finally {
    await context.close();
    for (const [client, upstream] of pairs) { client.destroy(); upstream.destroy(); }
    await new Promise((resolve) => proxy.close(resolve));
  }
});
