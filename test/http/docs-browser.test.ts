// The book's own test of its service, in a real browser: open /docs, "Try it out" on the weather
// predict operation, Execute, and see the prediction in the response panel.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { EXAMPLES } from '../helpers/paths.js';

let server: RunningServer;
let browser: Browser;

before(async () => {
  server = await startServer({ repo: EXAMPLES, port: 0, workers: 1 });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await server?.shutdown();
});

test('Swagger UI: Try it out -> Execute on POST /predict shows the prediction, with no internet', async () => {
  const context = await browser.newContext();
  // Any request that leaves the server (a CDN, fonts) fails the test: the docs must work offline.
  const external: string[] = [];
  await context.route('**/*', (route) => {
    const target = new URL(route.request().url());
    if (target.hostname !== '127.0.0.1' && target.protocol !== 'data:') {
      external.push(route.request().url());
      return route.abort();
    }
    return route.continue();
  });
  const page = await context.newPage();
  await page.goto(`${server.url}/docs`);
  const operation = page.locator('#operations-weather-predict');
  await operation.locator('.opblock-summary').click();
  // The UI opens operations in "Try it out" mode (tryItOutEnabled); click it when it is offered.
  const tryItOut = operation.getByRole('button', { name: 'Try it out' });
  if (await tryItOut.isVisible()) await tryItOut.click();
  // The request body editor is pre-filled with the model's example.
  assert.match(await operation.locator('textarea.body-param__text').inputValue(), /"temp_c": 8\.75/);
  await operation.getByRole('button', { name: 'Execute' }).click();
  const response = operation.locator('.live-responses-table .response .response-col_description pre, .live-responses-table .response .response-col_description code').first();
  await response.waitFor({ timeout: 15_000 });
  const text = await response.innerText();
  const body = JSON.parse(text) as { prediction: string; rain_probability: number };
  assert.ok(['Rain', 'No_Rain'].includes(body.prediction), text);
  assert.equal(await operation.locator('.live-responses-table .response .response-col_status').first().innerText(), '200');
  await page.screenshot({ path: 'test-results/docs-try-it-out.png', fullPage: false }).catch(() => undefined);
  assert.deepEqual(external, []);
  await context.close();
});

test('Swagger UI: Try it out -> Execute on the Open Inference Protocol infer operation sends its example and shows the output tensors', async () => {
  const page = await browser.newPage();
  await page.goto(`${server.url}/docs`);
  const operation = page.locator('#operations-weather-oip_infer_weather');
  await operation.locator('.opblock-summary').click();
  const tryItOut = operation.getByRole('button', { name: 'Try it out' });
  if (await tryItOut.isVisible()) await tryItOut.click();
  await operation.getByRole('button', { name: 'Execute' }).click();
  const status = operation.locator('.live-responses-table .response .response-col_status').first();
  await status.waitFor({ timeout: 15_000 });
  const text = await operation.locator('.live-responses-table .response .response-col_description pre').first().innerText();
  assert.equal(await status.innerText(), '200', text);
  const body = JSON.parse(text) as { model_name: string; outputs: Array<{ name: string; data: unknown[] }> };
  assert.equal(body.model_name, 'weather');
  assert.deepEqual(body.outputs.map((o) => o.name), ['prediction', 'rain_probability']);
  await page.close();
});

test('Swagger UI: Try it out -> Execute on GET /models/{name} sends the model name the select shows', async () => {
  const page = await browser.newPage();
  await page.goto(`${server.url}/docs`);
  const operation = page.locator('#operations-service-get_model');
  await operation.locator('.opblock-summary').click();
  const tryItOut = operation.getByRole('button', { name: 'Try it out' });
  if (await tryItOut.isVisible()) await tryItOut.click();
  const shown = await operation.locator('tr[data-param-name="name"] select').inputValue();
  await operation.getByRole('button', { name: 'Execute' }).click();
  const status = operation.locator('.live-responses-table .response .response-col_status').first();
  // Before, Execute sent nothing: the select showed a name but the UI held no value.
  await status.waitFor({ timeout: 15_000 });
  const text = await operation.locator('.live-responses-table .response .response-col_description pre').first().innerText();
  assert.equal(await status.innerText(), '200', text);
  assert.equal((JSON.parse(text) as { name: string }).name, shown);
  await page.close();
});

test('Swagger UI: the filter box narrows the operations to the tags (models) that match what is typed', async () => {
  const page = await browser.newPage();
  await page.goto(`${server.url}/docs`);
  await page.locator('#operations-weather-predict').waitFor();
  const tags = async () => (await page.locator('.opblock-tag-section h3 .opblock-tag, .opblock-tag-section h3').allInnerTexts()).map((text) => text.trim().split(/\s/)[0]);
  assert.ok((await tags()).includes('loan') && (await tags()).includes('weather'), (await tags()).join(', '));
  await page.locator('input.operation-filter-input').fill('loa');
  await page.locator('#operations-weather-predict').waitFor({ state: 'detached' });
  const shown = await tags();
  assert.ok(shown.includes('loan'), shown.join(', '));
  assert.ok(!shown.includes('weather'), shown.join(', '));
  await page.close();
});
