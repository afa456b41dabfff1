// The HTML report is one self-contained file: no external references, uPlot inlined, and it
// renders its charts in a real (headless) Chromium opened from file:// with the network blocked.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { json, runCli, startServer } from './helpers.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

test('--html writes a self-contained report that renders its charts offline', { skip: CHROMIUM ? false : 'no chromium installed' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lt-html-'));
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
