// The HTML report is one self-contained file: no external references, uPlot inlined, and it
// renders its charts in a real (headless) Chromium opened from file:// with the network blocked.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { writeHtml } from '../../src/loadtest/reporters/html.js';
import type { RunResult } from '../../src/loadtest/types.js';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { json, runCli, startServer } from './helpers.js';
import { tempDir } from '../helpers/paths.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

test('--html writes a self-contained report that renders its charts offline', { skip: CHROMIUM ? false : 'no chromium installed' }, async () => {
  const dir = tempDir('lt-html-');
  const srv = await startServer((_q, res) => json(res, 200, { ok: true }));
  const file = join(dir, 'report.html');
  try {
    const r = await runCli(['loadtest', `${srv.url}/predict`, '--rate', '200', '-d', '3s', '-q', '--html', file]);
    assert.equal(r.code, 0, r.stderr);
  } finally {
    await srv.close();
  }
  const html = readFileSync(file, 'utf8');
  assert.ok(!/(src|href)=["']https?:/i.test(html), 'no external scripts or stylesheets');
  assert.ok(html.includes('uPlot'), 'uPlot is inlined');
  const browser = await chromium.launch({ executablePath: CHROMIUM!, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('request', (req) => { if (!req.url().startsWith('file:')) requests.push(req.url()); });
    await page.route(/^https?:/, (route) => route.abort());
    await page.goto(pathToFileURL(file).href);
    await page.waitForSelector('body[data-charts]', { timeout: 10_000 });
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, [], 'the report loads nothing from the network');
    assert.equal(await page.getAttribute('body', 'data-charts'), '4');
    assert.equal(await page.locator('canvas').count(), 4, 'req/s, latency, offered/in-flight and distribution charts');
    assert.match(await page.locator('h1').innerText(), /GET http:\/\/127\.0\.0\.1:\d+\/predict/);
    await page.setViewportSize({ width: 1200, height: 1800 });
    await page.screenshot({ path: join(dir, 'report.png'), fullPage: true });
  } finally {
    await browser.close();
  }
});

test('the y axes are wide enough for their labels (10,000 is not cut to "0,000"); a capacity report lists every step', { skip: CHROMIUM ? false : 'no chromium installed' }, async () => {
  const dir = tempDir('lt-html-');
  const srv = await startServer((_q, res) => json(res, 200, { ok: true }));
  const saved = join(dir, 'run.json');
  try {
    const r = await runCli(['loadtest', `${srv.url}/predict`, '--find-capacity', '--slo', 'p99<1s', '--start-rate', '20', '--max-rate', '40', '--step-duration', '1s', '-q', '-o', saved]);
    assert.equal(r.code, 0, r.stderr);
  } finally {
    await srv.close();
  }
  // The real run's result, with the rates of a fast server (five-digit req/s on the y axes).
  const run = JSON.parse(readFileSync(saved, 'utf8')) as RunResult;
  run.series = run.series.map((p, i) => ({ ...p, rps: 12_000 + 500 * i, offered: 12_000, users: 14_000, p99: 10_500 }));
  run.capacity!.steps = run.capacity!.steps.map((s, i) => ({ ...s, rate: 10_000 * (i + 1), achievedRps: 10_000 * (i + 1), p99: 12_345 }));
  const file = join(dir, 'big.html');
  writeHtml(file, run);
  const browser = await chromium.launch({ executablePath: CHROMIUM!, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage();
    await page.goto(pathToFileURL(file).href);
    await page.waitForSelector('body[data-charts]', { timeout: 10_000 });
    // For each chart: the widest y tick label, measured in the axis font, plus ticks and gap, fits the axis.
    // (A string: this project compiles without the DOM types.)
    const axes = await page.evaluate(`window.__charts.map((u) => {
      const ax = u.axes[1];
      u.ctx.font = ax.font[0];
      const widest = Math.max(...(ax._values || []).map((v) => u.ctx.measureText(String(v)).width)) / (window.devicePixelRatio || 1);
      return { labels: ax._values || [], needed: widest + ax.ticks.size + ax.gap, size: ax._size };
    })`) as Array<{ labels: string[]; needed: number; size: number }>;
    assert.ok(axes.some((a) => a.labels.some((l) => /^\d{2},\d{3}$/.test(l))), `some axis shows five-digit labels: ${JSON.stringify(axes.map((a) => a.labels))}`);
    for (const a of axes) assert.ok(a.needed <= a.size, `labels ${a.labels.join(' ')} need ${a.needed.toFixed(1)} px, the axis has ${a.size}`);
    assert.equal(await page.locator('table.steps tr').count(), 1 + run.capacity!.steps.length, 'a row per capacity step');
  } finally {
    await browser.close();
  }
});

test('the HTML report escapes what came from the user: a <script> in the path, markup in the body file\'s name and the threshold', async () => {
  const dir = tempDir('lt-html-xss-');
  const srv = await startServer((_q, res) => { res.writeHead(500, { 'content-type': 'text/html' }); res.end('<script>document.title="pwned"</script>'); });
  const body = join(dir, '<img src=x onerror=alert(1)>.json');
  writeFileSync(body, '{"a":1}');
  const file = join(dir, 'report.html');
  try {
    const r = await runCli(['loadtest', `${srv.url}/predict`, '--path', '/p?<script>document.title="pwned"</script>', '--body', body, '-n', '3', '-q', '--html', file, '--threshold', 'p99<1s']);
    assert.equal(r.code, 0, r.stderr);
  } finally {
    await srv.close();
  }
  const html = readFileSync(file, 'utf8');
  // uPlot, the data and the chart code: no other script element.
  assert.equal(html.match(/<script\b/g)?.length, 3);
  assert.doesNotMatch(html, /<img/);
  assert.match(html, /Load test: POST http:\/\/127\.0\.0\.1:\d+\/p\?&#60;script&#62;document\.title=&#34;pwned&#34;&#60;\/script&#62;/);
  assert.match(html, /&#60;img src=x onerror=alert\(1\)&#62;\.json/);
});
