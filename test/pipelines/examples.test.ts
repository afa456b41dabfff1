// The pipeline examples (examples/pipelines) answer exactly what calling each model and combining
// by hand answers, on 1,000 rows each: the book's scaler -> svc.onnx sequence, the weather
// ensemble (mean / vote) and the loan switch by UrbanRural (mixed batches keep their order).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/server.js';
import { BOOK_MODEL, BOOK_SCALER, EXAMPLES, bookRows, tempDir } from '../helpers/paths.js';
import { call } from '../helpers/http.js';

const PIPELINES = join(EXAMPLES, 'pipelines');
let examples: RunningServer;
let book: RunningServer;

before(async () => {
  // The book's example as its README says: svc.onnx copied in, the scaler built from model-scaler.json.
  const dir = join(tempDir('modelserve-book-'), 'book');
  cpSync(join(PIPELINES, 'book'), dir, { recursive: true });
  copyFileSync(BOOK_MODEL, join(dir, 'book-svc', 'svc.onnx'));
  execFileSync('/usr/bin/python3', [join(dir, 'build_scaler.py'), BOOK_SCALER], { stdio: 'pipe' });
  [examples, book] = await Promise.all([
    startServer({ repo: PIPELINES, port: 0, workers: 2 }),
    startServer({ repo: dir, port: 0, workers: 1 }),
  ]);
});
after(async () => {
  await Promise.all([examples?.shutdown(), book?.shutdown()]);
});

const post = async (url: string, body: unknown) => {
  const res = await call(url, { body });
  assert.equal(res.status, 200, res.text);
  return res.body;
};

/** Real weather rows (the book's CSV) inside the weather examples' ranges. */
function weatherRows(n: number): Array<Record<string, number>> {
  return bookRows(5000).filter((r) => r.pressure_millibars! >= 850 && r.humidity! <= 1 && r.visibility_km! <= 100 && r.wind_speed_kmph! <= 250).slice(0, n);
}

test('book: scaler then svc.onnx as a sequence equals calling book-scaler, renaming, calling book-svc (1,000 rows)', async () => {
  const rows = bookRows(1000);
  assert.equal(rows.length, 1000);
  const piped = await post(`${book.url}/predict`, rows);
  const scaled = await post(`${book.url}/models/book-scaler/predict`, rows) as Array<Record<string, number>>;
  const renamed = scaled.map((s) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k.replace(/_scaled$/, ''), v])));
  const manual = await post(`${book.url}/models/book-svc/predict`, renamed) as Array<{ prediction: string }>;
  assert.deepEqual(piped, manual.map((m) => ({ prediction: m.prediction })));
  // The fix of the book's defect: answers depend on the row (the book's service answered one constant).
  assert.ok(new Set(manual.map((m) => m.prediction)).size === 2);
  // One row at a time, too (a few), with x-model-version.
  for (const row of rows.slice(0, 5)) {
    const res = await call(`${book.url}/models/book-weather/predict`, { body: row });
    assert.equal(res.headers['x-model-version'], '1');
    assert.deepEqual(res.body, piped[rows.indexOf(row)]);
  }
});

test('weather ensemble: the mean of both models\' rain probabilities and their vote (SVM on a tie), 1,000 rows', async () => {
  const rows = weatherRows(1000);
  assert.equal(rows.length, 1000);
  const piped = await post(`${examples.url}/models/weather-ensemble/predict`, rows) as Array<{ rain_probability: number; prediction: string }>;
  const svm = await post(`${examples.url}/models/weather/predict`, rows) as Array<{ rain_probability: number; prediction: string }>;
  const gb = await post(`${examples.url}/models/weather-gb/predict`, rows) as Array<{ rain_probability: number; prediction: string }>;
  let disagreements = 0;
  rows.forEach((_, i) => {
    assert.equal(piped[i]!.rain_probability, (svm[i]!.rain_probability + gb[i]!.rain_probability) / 2);
    assert.equal(piped[i]!.prediction, svm[i]!.prediction); // two voters: agreement, or a tie the first member wins
    if (svm[i]!.prediction !== gb[i]!.prediction) disagreements++;
  });
  assert.ok(disagreements > 0, 'the two members disagree on some rows (the vote is exercised)');
});

test('loan switch: UrbanRural = 2 goes to loan-rural, every other row to loan, in the request\'s order (1,000 rows)', async () => {
  const base = (JSON.parse(readFileSync(join(EXAMPLES, 'loan', 'testset.json'), 'utf8')) as { rows: Array<Record<string, unknown>> }).rows;
  const rows = Array.from({ length: 1000 }, (_, i) => ({ ...base[i % base.length]!, UrbanRural: (i * 7) % 3 }));
  const piped = await post(`${examples.url}/models/loan-by-area/predict`, rows) as Array<{ default_proba: number }>;
  const rural = rows.map((r, i) => ({ r, i })).filter((x) => x.r.UrbanRural === 2);
  const other = rows.map((r, i) => ({ r, i })).filter((x) => x.r.UrbanRural !== 2);
  const ruralAnswers = await post(`${examples.url}/models/loan-rural/predict`, rural.map((x) => x.r)) as Array<{ default_proba: number }>;
  const otherAnswers = await post(`${examples.url}/models/loan/predict`, other.map((x) => x.r)) as Array<{ default_proba: number }>;
  const manual = new Array<{ default_proba: number }>(rows.length);
  rural.forEach((x, k) => { manual[x.i] = ruralAnswers[k]!; });
  other.forEach((x, k) => { manual[x.i] = otherAnswers[k]!; });
  assert.deepEqual(piped, manual);
  assert.ok(rural.length > 300 && other.length > 600);
  // The two models differ, so the routing is visible.
  assert.ok(rural.some((x, k) => Math.abs(ruralAnswers[k]!.default_proba - piped[x.i]!.default_proba) < 1e-12));
});

test('a step\'s 422 names the step and the field; OpenAPI has the pipelines\' own schemas', async () => {
  // weather-ensemble's fields carry the members' ranges: humidity 2 is refused by the pipeline's own validation.
  const row = weatherRows(1)[0]!;
  const bad = await call(`${examples.url}/models/weather-ensemble/predict`, { body: { ...row, humidity: 2 } });
  assert.equal(bad.status, 422);
  assert.deepEqual(bad.body.detail[0].loc, ['body', 'humidity']);
  const doc = (await call(`${examples.url}/openapi.json`)).body;
  assert.deepEqual(doc.components.schemas.WeatherEnsembleRequest.required.sort(), Object.keys(row).sort());
  assert.deepEqual(Object.keys(doc.components.schemas.WeatherEnsembleResponse.properties), ['rain_probability', 'prediction']);
  assert.deepEqual(doc.components.schemas.LoanByAreaResponse.required, ['default_proba']);
  assert.ok(doc.paths['/models/loan-by-area/predict']);
});

test('per-step metrics and per-version request metrics', async () => {
  const text = (await call(`${examples.url}/metrics`)).text;
  assert.match(text, /modelserve_pipeline_step_duration_seconds_count\{model="weather-ensemble",version="1",step="weather-gb",outcome="ok"\} [1-9]/);
  assert.match(text, /modelserve_pipeline_step_duration_seconds_count\{model="loan-by-area",version="1",step="rural",outcome="ok"\} [1-9]/);
  assert.match(text, /modelserve_requests_total\{model="loan-by-area",version="1",route="\/models\/:name\/predict",status="200"\} [1-9]/);
});

test('a pipeline is served over the Open Inference Protocol too, with the same answers as JSON', async () => {
  const rows = weatherRows(20);
  const meta = await call(`${examples.url}/v2/models/weather-ensemble`);
  assert.equal(meta.status, 200, meta.text);
  const inputs = (meta.body.inputs as Array<{ name: string; datatype: string; shape: number[] }>).map((i) => ({
    name: i.name, datatype: i.datatype, shape: i.shape.length === 1 ? [rows.length] : [rows.length, 1], data: rows.map((r) => r[i.name]),
  }));
  const res = await call(`${examples.url}/v2/models/weather-ensemble/infer`, { body: { id: 'p1', inputs } });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.body.id, 'p1');
  const json = (await post(`${examples.url}/models/weather-ensemble/predict`, rows)) as Array<Record<string, unknown>>;
  for (const out of res.body.outputs as Array<{ name: string; data: unknown[] }>) {
    const expected = json.map((p) => p[out.name]);
    if (typeof expected[0] === 'number') out.data.forEach((v, k) => assert.ok(Math.abs(Number(v) - Number(expected[k])) < 1e-5, `${out.name}[${k}]`));
    else assert.deepEqual(out.data, expected, out.name);
  }
  assert.ok((res.body.outputs as unknown[]).length >= 1);
});

test('a pipeline follows --watch: an edited pipeline config is reloaded and answers with its new fields, with no failed request', async () => {
  const root = tempDir('modelserve-pipeline-watch-');
  cpSync(EXAMPLES, join(root, 'examples'), { recursive: true });
  const repo = join(root, 'examples', 'pipelines');
  const server = await startServer({ repo, port: 0, workers: 1, logger: false, watch: { pollMs: 100, debounceMs: 50, settleMs: 300 } });
  try {
    const [row] = weatherRows(1);
    const before = (await post(`${server.url}/models/weather-ensemble/predict`, row)) as Record<string, unknown>;
    assert.ok('rain_probability' in before);
    let failed = 0;
    let stop = false;
    const traffic = (async () => {
      while (!stop) if ((await call(`${server.url}/models/weather-ensemble/predict`, { body: row })).status !== 200) failed++;
    })();
    const file = join(repo, 'weather-ensemble', 'model.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('rain_probability: { mean: rain_probability }', 'chance_of_rain: { mean: rain_probability }'));
    const deadline = Date.now() + 20_000;
    let after: Record<string, unknown> = before;
    while (!('chance_of_rain' in after) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      after = (await post(`${server.url}/models/weather-ensemble/predict`, row)) as Record<string, unknown>;
    }
    stop = true;
    await traffic;
    assert.equal(after.chance_of_rain, before.rain_probability, 'the reloaded pipeline answers under its new field name');
    assert.equal(failed, 0, 'no request failed while the pipeline reloaded');
    const doc = (await call(`${server.url}/openapi.json`)).body;
    assert.ok(JSON.stringify(doc.components.schemas).includes('chance_of_rain'), 'the docs follow the reloaded pipeline');
  } finally {
    await server.shutdown();
  }
});
