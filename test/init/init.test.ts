// `modelserve init`: the book's round trip (init from svc.onnx, the sample and the scaler answers
// exactly as the README's hand-written config on all 19,289 rows, two real servers), a config
// without hints that serves, the probability field, and the refusals.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { startServer } from '../../src/server.js';
import { BOOK_CSV, BOOK_FIELDS, BOOK_MODEL, BOOK_SCALER, CLI, REPO, bookRows, tempDir } from '../helpers/paths.js';
import { call } from '../helpers/http.js';

const root = tempDir('modelserve-init-');
after(() => rmSync(root, { recursive: true, force: true }));

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000, cwd: root });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The README's hand-written book config (the block after `<!-- readme-example: book-config -->`). */
function readmeBookConfig(): string {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  return /```yaml\n([\s\S]*?)```/.exec(readme.slice(readme.indexOf('<!-- readme-example: book-config -->')))![1]!;
}

const INIT_FIELDS = ['Temperature_C', 'Humidity', 'Wind_speed_kmph', 'Wind_bearing_degrees', 'Visibility_km', 'Pressure_millibars', 'Current_weather_condition'];

test('book round trip: init svc.onnx --sample --scaler --labels serves exactly as the README config on all 19,289 rows', async () => {
  const r = cli(['init', BOOK_MODEL, '-o', 'models/weather', '--sample', BOOK_CSV, '--scaler', BOOK_SCALER, '--labels', '0=No_Rain,1=Rain']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /ok: serve it with `modelserve serve models\/weather`/);
  assert.match(r.stderr, /note: the sample's column Future_weather_condition is not fed/);
  const dir = join(root, 'models', 'weather');
  assert.ok(existsSync(join(dir, 'svc.onnx')) && existsSync(join(dir, 'model-scaler.json')));
  const config = parseYaml(readFileSync(join(dir, 'model.yaml'), 'utf8'));
  assert.deepEqual(Object.keys(config.fields), INIT_FIELDS);
  assert.deepEqual(config.inputs, { float_input: { fields: INIT_FIELDS, scale: { file: 'model-scaler.json' } } });
  assert.deepEqual(config.outputs, { prediction: { from: 'label', map: { 0: 'No_Rain', 1: 'Rain' } } });
  assert.equal(config.fields.Temperature_C.example, 35.02222222);
  assert.match(readFileSync(join(dir, 'model.yaml'), 'utf8'), /# minimum: 0\.13\n\s+# maximum: 1\n/);

  const handRepo = join(root, 'hand');
  mkdirSync(join(handRepo, 'book-weather'), { recursive: true });
  writeFileSync(join(handRepo, 'book-weather', 'model.yaml'), readmeBookConfig());
  symlinkSync(BOOK_MODEL, join(handRepo, 'book-weather', 'svc.onnx'));
  const hand = await startServer({ repo: handRepo, port: 0, workers: 1 });
  const generated = await startServer({ repo: dir, port: 0, workers: 1 });
  try {
    const rows = bookRows();
    assert.equal(rows.length, 19289);
    let rain = 0;
    for (let start = 0; start < rows.length; start += 2000) {
      const batch = rows.slice(start, start + 2000);
      const a = await call(`${hand.url}/predict`, { body: batch });
      const b = await call(`${generated.url}/predict`, { body: batch.map((row) => Object.fromEntries(INIT_FIELDS.map((f, i) => [f, row[BOOK_FIELDS[i]!]]))) });
      assert.equal(a.status, 200, a.text);
      assert.equal(b.status, 200, b.text);
      assert.equal(b.text, a.text, `rows ${start}..${start + batch.length}`);
      rain += (a.body as Array<{ prediction: string }>).filter((p) => p.prediction === 'Rain').length;
    }
    // Not one answer for every row: the scaler is applied.
    assert.ok(rain > 0 && rain < rows.length, `Rain in ${rain} of ${rows.length}`);
  } finally {
    await hand.shutdown();
    await generated.shutdown();
  }
});

test('init without hints writes a config that serves (x0…x6, every output as it is); --proba-field adds a probability column', async () => {
  const plain = cli(['init', BOOK_MODEL, '-o', 'plain']);
  assert.equal(plain.status, 0, plain.stderr);
  const config = parseYaml(readFileSync(join(root, 'plain', 'model.yaml'), 'utf8'));
  assert.deepEqual(config.inputs.float_input.fields, ['x0', 'x1', 'x2', 'x3', 'x4', 'x5', 'x6']);
  assert.deepEqual(config.outputs, { label: { from: 'label' }, probabilities: { from: 'probabilities' } });
  const server = await startServer({ repo: join(root, 'plain'), port: 0, workers: 1 });
  try {
    const res = await call(`${server.url}/predict`, { body: { x0: 1, x1: 0.5, x2: 3, x3: 100, x4: 10, x5: 1000, x6: 1 } });
    assert.equal(res.status, 200, res.text);
    const body = res.body as { label: number; probabilities: number[] };
    assert.ok(body.label === 0 || body.label === 1);
    assert.equal(body.probabilities.length, 2);
  } finally {
    await server.shutdown();
  }
  const proba = cli(['init', BOOK_MODEL, '-o', 'proba', '--fields', BOOK_FIELDS.join(','), '--scaler', BOOK_SCALER, '--labels', '0=No_Rain,1=Rain', '--proba-field', 'rain_probability']);
  assert.equal(proba.status, 0, proba.stderr);
  const withProba = parseYaml(readFileSync(join(root, 'proba', 'model.yaml'), 'utf8'));
  assert.deepEqual(Object.keys(withProba.fields), [...BOOK_FIELDS]);
  assert.deepEqual(withProba.outputs.rain_probability, { from: 'probabilities', column: 1 });
  // A column past the output's was answered "give the column as NAME:COLUMN", which it was.
  const past = cli(['init', BOOK_MODEL, '-o', 'proba-past', '--proba-field', 'rain_probability:2']);
  assert.equal(past.status, 1);
  assert.match(past.stderr, /--proba-field: column 2 is past the output 'probabilities', whose 2 columns are 0 to 1\n/);
});

test('init on a model with one input per field (the loan example) serves the example answers without hints', async () => {
  const r = cli(['init', join(REPO, 'examples/loan/model.onnx'), '-o', 'loan', '--proba-field', 'default_proba']);
  assert.equal(r.status, 0, r.stderr);
  const server = await startServer({ repo: join(root, 'loan'), port: 0, workers: 1 });
  try {
    const valid = JSON.parse(readFileSync(join(REPO, 'examples/loan/samples/valid.json'), 'utf8')) as unknown[];
    const expected = JSON.parse(readFileSync(join(REPO, 'examples/loan/samples/expected.json'), 'utf8')) as Array<{ default_proba: number }>;
    const res = await call(`${server.url}/predict`, { body: valid[0] });
    assert.equal(res.status, 200, res.text);
    assert.ok(Math.abs(res.body.default_proba - expected[0]!.default_proba) <= 1e-5, `${res.body.default_proba} vs ${expected[0]!.default_proba}`);
  } finally {
    await server.shutdown();
  }
});

test('init refuses, naming the problem: an existing model.yaml, a scaler of the wrong length, bad labels, a non-ONNX file', () => {
  assert.equal(cli(['init', BOOK_MODEL, '-o', 'twice']).status, 0);
  const again = cli(['init', BOOK_MODEL, '-o', 'twice']);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /twice\/model\.yaml exists; pass --force to overwrite it/);
  assert.equal(cli(['init', BOOK_MODEL, '-o', 'twice', '--force']).status, 0);
  writeFileSync(join(root, 'short.json'), JSON.stringify({ mean: [1, 2], scale: [1, 2] }));
  const short = cli(['init', BOOK_MODEL, '-o', 'short', '--scaler', join(root, 'short.json')]);
  assert.equal(short.status, 1);
  assert.match(short.stderr, /short\.json has 2 mean values but the model's input 'float_input' takes 7/);
  // A scale of 1e-320 is 0 in effect: the folder written would not have loaded.
  writeFileSync(join(root, 'tiny.json'), JSON.stringify({ mean: [0, 0, 0, 0, 0, 0, 0], scale: [1, 1, 1, 1, 1, 1, 1e-320] }));
  const tiny = cli(['init', BOOK_MODEL, '-o', 'tiny', '--scaler', join(root, 'tiny.json')]);
  assert.equal(tiny.status, 1);
  assert.match(tiny.stderr, /tiny\.json: scale\[6\] is 1e-320, so small that dividing by it is past what a float32 holds/);
  assert.ok(!existsSync(join(root, 'tiny')));
  // A scaler that is not JSON (here the model itself, by mistake): its file named, on one line.
  const binary = cli(['init', BOOK_MODEL, '-o', 'binary', '--scaler', BOOK_MODEL]);
  assert.equal(binary.status, 1);
  assert.match(binary.stderr, /^modelserve init: .*svc\.onnx is not a text file: it holds binary data \(is it the right file\?\)\n$/);
  assert.equal(cli(['init', BOOK_MODEL, '--labels', 'Rain']).status, 2);
  // One value, two labels: the second silently won.
  const twice = cli(['init', BOOK_MODEL, '-o', 'twice-labelled', '--labels', '0=No,0=Yes']);
  assert.equal(twice.status, 2);
  assert.match(twice.stderr, /--labels: the value 0 is given two labels \(got 0=No,0=Yes\)/);
  writeFileSync(join(root, 'text.onnx'), 'not a model');
  const text = cli(['init', join(root, 'text.onnx')]);
  assert.equal(text.status, 1);
  assert.match(text.stderr, /text\.onnx is not a valid ONNX model/);
});

test('init -o into a folder that cannot be created answers at once, naming it (Node\'s recursive mkdir looped forever under /proc)', () => {
  // /proc answers ENOENT to mkdir under a folder that exists; the old code never returned (the
  // spawn's timeout, not a status, ended it).
  const proc = spawnSync(process.execPath, [CLI, 'init', BOOK_MODEL, '-o', '/proc/modelserve-init/book'], { encoding: 'utf8', timeout: 30_000, cwd: root });
  assert.equal(proc.signal, null, 'init did not return');
  assert.equal(proc.status, 1);
  assert.equal(proc.stderr, 'modelserve init: cannot create the folder /proc/modelserve-init: /proc does not take new folders\n');
  // Under a file: the folder named, with the system's reason.
  writeFileSync(join(root, 'a-file'), '');
  const underFile = cli(['init', BOOK_MODEL, '-o', 'a-file/book']);
  assert.equal(underFile.status, 1);
  assert.match(underFile.stderr, /^modelserve init: cannot create the folder \S*a-file\/book: ENOTDIR: not a directory/);
  // The folder itself a file (it said 'cannot read: ENOTDIR … copyfile').
  const isFile = cli(['init', BOOK_MODEL, '-o', 'a-file']);
  assert.equal(isFile.status, 1);
  assert.match(isFile.stderr, /^modelserve init: cannot create the folder \S*a-file: a file of that name exists\n$/);
});

test("init names a column '__proto__' 'proto' (a config refuses that name; the folder it wrote did not serve)", () => {
  const r = cli(['init', BOOK_MODEL, '-o', 'proto', '--fields', '__proto__,b,c,d,e,f,g']);
  assert.equal(r.status, 0, r.stderr);
  const config = parseYaml(readFileSync(join(root, 'proto', 'model.yaml'), 'utf8')) as { fields: Record<string, unknown> };
  assert.deepEqual(Object.keys(config.fields), ['proto', 'b', 'c', 'd', 'e', 'f', 'g']);
});

test("init --name that is not a model name says which name the model gets (it was changed without a word)", () => {
  const r = cli(['init', BOOK_MODEL, '-o', 'renamed', '--name', 'Bad Name!']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /note: --name 'Bad Name!' is not a model name \(lower-case letters, digits, - and _\): the model is named 'bad-name'/);
  assert.match(readFileSync(join(root, 'renamed', 'model.yaml'), 'utf8'), /^name: bad-name$/m);
});

test('init --sample with a ;-separated CSV of decimal commas (8,75) reads them as numbers and says so; numbers it cannot read (1.016,51) are named', () => {
  // A spreadsheet in a German or French locale exports this; an extra numeric column (Id) first would
  // otherwise be fed in place of the decimal-comma ones.
  const header = ['Id', ...INIT_FIELDS];
  writeFileSync(join(root, 'comma.csv'), `${header.join(';')}\n1;8,75;0,83;70;259;15,82;1016,51;1\n2;-3,5;,9;12;80;9,66;998;0\n`);
  const r = cli(['init', BOOK_MODEL, '-o', 'comma', '--sample', join(root, 'comma.csv'), '--fields', INIT_FIELDS.join(',')]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /note: the sample's columns Temperature_C, Humidity, Visibility_km, Pressure_millibars have decimal commas \(1,5\): read as numbers/);
  const config = parseYaml(readFileSync(join(root, 'comma', 'model.yaml'), 'utf8'));
  assert.equal(config.fields.Temperature_C.example, 8.75);
  const fed = cli(['init', BOOK_MODEL, '-o', 'comma-order', '--sample', join(root, 'comma.csv')]);
  assert.equal(fed.status, 0, fed.stderr);
  // Without --fields the first 7 numeric columns are fed: Id and 6 of the book's, each one a number.
  assert.deepEqual(parseYaml(readFileSync(join(root, 'comma-order', 'model.yaml'), 'utf8')).inputs.float_input.fields, header.slice(0, 7));
  writeFileSync(join(root, 'thousands.csv'), `${INIT_FIELDS.join(';')}\n8,75;0,83;70;259;15,82;1.016,51;1\n`);
  const thousands = cli(['init', BOOK_MODEL, '-o', 'thousands', '--sample', join(root, 'thousands.csv'), '--fields', INIT_FIELDS.join(',')]);
  assert.equal(thousands.status, 0, thousands.stderr);
  assert.match(thousands.stderr, /note: the sample's column Pressure_millibars is not numbers as written \(e\.g\. "1\.016,51": thousands separators\?\), so read as text/);
});

test('init --sample reads a semicolon- or tab-separated CSV by its header; a CSV with a short row is refused naming the file and the line', () => {
  const header = INIT_FIELDS;
  const row = ['8.75', '0.83', '70', '259', '15.82', '1016.51', '1'];
  for (const [name, sep] of [['semi', ';'], ['tab', '\t']] as const) {
    writeFileSync(join(root, `${name}.csv`), `${header.join(sep)}\r\n${row.join(sep)}\r\n`);
    const r = cli(['init', BOOK_MODEL, '-o', name, '--sample', join(root, `${name}.csv`)]);
    assert.equal(r.status, 0, r.stderr);
    const config = parseYaml(readFileSync(join(root, name, 'model.yaml'), 'utf8'));
    assert.deepEqual(config.inputs.float_input.fields, INIT_FIELDS);
    assert.equal(config.fields.Wind_speed_kmph.example, 70);
  }
  writeFileSync(join(root, 'short.csv'), `${header.join(',')}\n${row.join(',')}\n${row.slice(1).join(',')}\n`);
  const short = cli(['init', BOOK_MODEL, '-o', 'short-row', '--sample', join(root, 'short.csv')]);
  assert.equal(short.status, 1);
  assert.match(short.stderr, /^modelserve init: .*short\.csv: not a CSV sample: Invalid Record Length: expect 7, got 6 on line 3\n/);
});

test('init refuses a model, scaler or sample that is a FIFO, a device or huge, naming it, without reading it (the old code waited on the FIFO forever and read /dev/zero until memory ran out)', () => {
  const fifo = join(root, 'init-fifo');
  execFileSync('mkfifo', [fifo]);
  const huge = join(root, 'huge.csv');
  writeFileSync(huge, '');
  truncateSync(huge, 10 * 2 ** 30); // sparse: no disk used
  for (const [args, message] of [
    [['/dev/zero'], '/dev/zero is not a regular file (a character device)'],
    [[fifo], `${fifo} is not a regular file (a FIFO)`],
    [[BOOK_MODEL, '-o', 'refused', '--scaler', '/dev/zero'], '/dev/zero is not a regular file (a character device)'],
    [[BOOK_MODEL, '-o', 'refused', '--sample', fifo], `${fifo} is not a regular file (a FIFO)`],
    [[BOOK_MODEL, '-o', 'refused', '--sample', huge], `${huge} is too large (10 GiB; a CSV sample may be up to 64 MiB; give its first rows: head -n 10001 ${huge} > sample.csv)`],
  ] as const) {
    const r = spawnSync(process.execPath, [CLI, 'init', ...args], { encoding: 'utf8', timeout: 15_000, cwd: root });
    assert.equal(r.signal, null, `init ${args.join(' ')} did not return`);
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr, `modelserve init: ${message}\n`);
  }
  assert.equal(existsSync(join(root, 'refused')), false);
});
