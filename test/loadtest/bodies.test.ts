import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { bodiesFromModelInfo, bodyPicker, fetchModelExamples, loadBodyFile, parseCsv } from '../../src/loadtest/bodies.js';
import { json, startServer } from './helpers.js';
import { BOOK_CSV, tempDir } from '../helpers/paths.js';

const dir = tempDir('lt-bodies-');

test('a JSON array is many bodies, an object one', () => {
  const f = join(dir, 'a.json');
  writeFileSync(f, JSON.stringify([{ a: 1 }, { a: 2 }, { a: 3 }]));
  const set = loadBodyFile(f);
  assert.deepEqual(set.bodies.map((b) => JSON.parse(b.toString())), [{ a: 1 }, { a: 2 }, { a: 3 }]);
  writeFileSync(f, '{"x": true}');
  assert.equal(loadBodyFile(f).bodies.length, 1);
  writeFileSync(f, '{"x": ');
  assert.throws(() => loadBodyFile(f), /invalid JSON/);
});

test('a body file that is a folder, missing, or a CSV without rows: the message names the file', () => {
  // Was Node's 'EISDIR: illegal operation on a directory, read', and CSV problems without the file.
  assert.throws(() => loadBodyFile(dir), (e: Error) => e.message === `--body ${dir}: is a folder; give a .json, .jsonl or .csv file`);
  assert.throws(() => loadBodyFile(join(dir, 'absent.json')), (e: Error) => e.message === `--body ${join(dir, 'absent.json')}: no such file`);
  const csv = join(dir, 'header-only.csv');
  writeFileSync(csv, 'a,b\n');
  assert.throws(() => loadBodyFile(csv), (e: Error) => e.message === `${csv}: a CSV body file needs a header row and at least one data row`);
  writeFileSync(csv, 'a,b\n1\n');
  assert.throws(() => loadBodyFile(csv), (e: Error) => e.message === `${csv}: CSV row 2 has 1 cells, the header has 2`);
});

test('JSONL: one body per non-empty line', () => {
  const f = join(dir, 'b.jsonl');
  writeFileSync(f, '{"a":1}\n\n{"a":2}\r\n');
  assert.deepEqual(loadBodyFile(f).bodies.map((b) => b.toString()), ['{"a":1}', '{"a":2}']);
});

test('CSV rows become field objects with numbers kept numeric (the seed data set)', () => {
  assert.deepEqual(parseCsv('a,b,c\nx,"b,c","""d"""\n'), [{ a: 'x', b: 'b,c', c: '"d"' }]);
  assert.deepEqual(parseCsv('x,y,z\n1,2.5,hi\n-3,,true\n'), [{ x: 1, y: 2.5, z: 'hi' }, { x: -3, y: null, z: true }]);
  const file = BOOK_CSV;
  const set = loadBodyFile(file);
  const lines = readFileSync(file, 'utf8').split(/\r?\n/).filter((l) => l.trim());
  assert.equal(set.bodies.length, lines.length - 1);
  const first = JSON.parse(set.bodies[0]!.toString()) as Record<string, unknown>;
  assert.deepEqual(Object.keys(first), lines[0]!.split(',').map((h) => h.trim()));
  assert.ok(Object.values(first).some((v) => typeof v === 'number'));
});

test('body files saved with a byte-order mark, CRLF and blank lines, and CSV cells quoted over line breaks or split by semicolons, are read as written', () => {
  // A BOM (Notepad, PowerShell) made every .json/.jsonl body file 'invalid JSON (Unexpected token …)';
  // a quoted cell holding a line break was cut into two rows ('CSV row 3 has 1 cells'); a
  // semicolon-separated CSV, which init accepts as a sample, became one field named 'a;b'.
  const bom = '\uFEFF';
  const f = join(dir, 'bom.json');
  writeFileSync(f, `${bom}{"a": 1}\r\n`);
  assert.deepEqual(loadBodyFile(f).bodies.map((b) => b.toString()), ['{"a":1}']);
  const l = join(dir, 'bom.jsonl');
  writeFileSync(l, `${bom}{"a": 1}\r\n\r\n{"a": 2}\r\n`);
  assert.deepEqual(loadBodyFile(l).bodies.map((b) => b.toString()), ['{"a":1}', '{"a":2}']);
  const c = join(dir, 'quoted.csv');
  writeFileSync(c, `${bom}id,note,x\r\n1,"two\r\nlines",2.5\r\n\r\n2,"a ""b"", c",3\r\n`);
  assert.deepEqual(loadBodyFile(c).bodies.map((b) => JSON.parse(b.toString())), [{ id: 1, note: 'two\r\nlines', x: 2.5 }, { id: 2, note: 'a "b", c', x: 3 }]);
  const s = join(dir, 'semicolon.csv');
  writeFileSync(s, 'a;b\n1;x\n');
  assert.deepEqual(loadBodyFile(s).bodies.map((b) => JSON.parse(b.toString())), [{ a: 1, b: 'x' }]);
});

test('model info → bodies from examples, per-field examples, or schema examples', () => {
  assert.deepEqual(bodiesFromModelInfo({ examples: [{ a: 1 }, { a: 2 }] }), [{ a: 1 }, { a: 2 }]);
  assert.deepEqual(bodiesFromModelInfo({ fields: [{ name: 'temp_c', example: 8.75 }, { name: 'humidity', example: 0.83 }, { name: 'x' }] }), [{ temp_c: 8.75, humidity: 0.83 }]);
  assert.deepEqual(bodiesFromModelInfo({ inputs: { a: { example: 1 } } }), [{ a: 1 }]);
  assert.deepEqual(bodiesFromModelInfo({ schema: { properties: { a: { examples: [5] } } } }), [{ a: 5 }]);
  assert.deepEqual(bodiesFromModelInfo({ name: 'm' }), []);
});

test('--model-examples fetches GET /models/<name> from a real server', async () => {
  const srv = await startServer((req, res) => {
    if (req.url === '/models/weather') json(res, 200, { name: 'weather', fields: [{ name: 'temp_c', type: 'number', example: 8.75 }, { name: 'humidity', type: 'number', example: 0.83 }] });
    else json(res, 404, { detail: 'not found' });
  });
  try {
    const set = await fetchModelExamples(srv.url, 'weather', {}, 2000);
    assert.deepEqual(JSON.parse(set.bodies[0]!.toString()), { temp_c: 8.75, humidity: 0.83 });
    await assert.rejects(fetchModelExamples(srv.url, 'nope', {}, 2000), /404/);
  } finally {
    await srv.close();
  }
});

test('--model-examples from a hostile server: a trickled answer times out, an endless one stops at 16 MiB, and its error text reaches the terminal without control characters (the first two held the tool forever)', { timeout: 30_000 }, async () => {
  const srv = await startServer((req, res) => {
    if (req.url === '/models/trickle') {
      res.writeHead(200, { 'content-type': 'application/json' });
      const t = setInterval(() => res.write(' '), 50);
      res.on('close', () => clearInterval(t));
    } else if (req.url === '/models/endless') {
      res.writeHead(200, { 'content-type': 'application/json' });
      const mib = Buffer.alloc(1024 * 1024, 0x20);
      const more = (): void => { while (!res.destroyed && res.write(mib)); };
      res.on('drain', more);
      more();
    } else {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('\u001b[2J\u001b]0;owned\u0007 boom');
    }
  });
  try {
    await assert.rejects(fetchModelExamples(srv.url, 'trickle', {}, 500), /models\/trickle: no complete answer within 500 ms/);
    await assert.rejects(fetchModelExamples(srv.url, 'endless', {}, 20_000), /larger than 16 MiB/);
    await assert.rejects(fetchModelExamples(srv.url, 'evil', {}, 2000), (e: Error) => {
      assert.match(e.message, /answered 500: \?\[2J\?\]0;owned\? boom/);
      assert.ok(![...e.message].some((c) => c.charCodeAt(0) < 0x20), 'no control character');
      return true;
    });
  } finally {
    await srv.close();
  }
});

test('pickers rotate in order or pick at random among all bodies', () => {
  const bodies = [Buffer.from('a'), Buffer.from('b'), Buffer.from('c')];
  const rot = bodyPicker(bodies, 'rotate');
  assert.deepEqual(Array.from({ length: 7 }, () => rot()!.toString()).join(''), 'abcabca');
  const rnd = bodyPicker(bodies, 'random');
  const seen = new Set(Array.from({ length: 300 }, () => rnd()!.toString()));
  assert.deepEqual([...seen].sort(), ['a', 'b', 'c']);
  assert.equal(bodyPicker(null, 'rotate')(), null);
});
