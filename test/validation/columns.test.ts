// The columnar shortcut for OIP tensors (compileColumnCheck + compileColumnEncoder) must give the
// feeds the row path gives (validate the rows, then encode them), and must say "take the row path"
// for every value the row validator would refuse or convert.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelConfig } from '../../src/config/types.js';
import { testConfig } from '../helpers/config.js';
import type { ModelSignature } from '../../src/runtime/types.js';
import { compileColumnEncoder, compileEncoder } from '../../src/tensors/encode.js';
import { compileColumnCheck, compileRequestValidator, type Row } from '../../src/validation/request-validator.js';

function config(overrides: Partial<ModelConfig> = {}): ModelConfig {
  return testConfig({
    fields: [
      { name: 'temp_c', type: 'number', required: true, minimum: -60, maximum: 60 },
      { name: 'humidity', type: 'number', required: true },
      { name: 'term', type: 'integer', required: false, default: 12 },
      { name: 'count', type: 'integer', required: true, maximum: 1000 },
    ],
    tensors: [
      { name: 'scaled', fields: ['temp_c', 'humidity'], scale: { mean: [11.5, 0.73], scale: [9.4, 0.19] } },
      { name: 'plain', fields: ['humidity', 'temp_c'] },
      { name: 'ints', fields: ['term', 'count'] },
      { name: 'one', fields: ['count'] },
    ],
    ...overrides,
  });
}

const signature: ModelSignature = {
  inputs: [
    { name: 'scaled', type: 'float32', shape: ['N', 2] },
    { name: 'plain', type: 'float64', shape: ['N', 2] },
    { name: 'ints', type: 'int64', shape: ['N', 2] },
    { name: 'one', type: 'int32', shape: ['N'] },
  ],
  outputs: [{ name: 'y', type: 'float32', shape: ['N'] }],
};

const columnsOf = (cols: Record<string, ArrayLike<number>>) => new Map(Object.entries(cols));

function rowsOf(cols: Record<string, ArrayLike<number>>, n: number): Row[] {
  return Array.from({ length: n }, (_, r) => Object.fromEntries(Object.entries(cols).map(([k, v]) => [k, v[r]])));
}

test('valid columns give exactly the feeds the row path gives', () => {
  const c = config();
  const check = compileColumnCheck(c)!;
  const encodeColumns = compileColumnEncoder(c, signature)!;
  const encodeRows = compileEncoder(c, signature);
  const validate = compileRequestValidator(c);
  const n = 37;
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const cols = {
    temp_c: Float64Array.from({ length: n }, () => random() * 120 - 60),
    humidity: Float32Array.from({ length: n }, () => random()),
    term: Int32Array.from({ length: n }, () => Math.floor(random() * 360)),
    count: Uint16Array.from({ length: n }, () => Math.floor(random() * 1000)),
  };
  assert.equal(check(columnsOf(cols)), true);
  const validated = validate(rowsOf(cols, n));
  assert.ok(validated.ok);
  assert.deepEqual(encodeColumns(columnsOf(cols), n), encodeRows(validated.rows));
});

test('a value the row validator would refuse, or a missing column, takes the row path', () => {
  const c = config();
  const check = compileColumnCheck(c)!;
  const good = () => ({ temp_c: [1, 2], humidity: [0.5, 0.6], term: [12, 24], count: [3, 4] });
  assert.equal(check(columnsOf(good())), true);
  const bad: Array<[string, number]> = [
    ['temp_c', 61], ['temp_c', -60.5], ['temp_c', NaN], ['humidity', Infinity], ['humidity', -Infinity], ['humidity', 3.5e38],
    ['count', 1.5], ['count', 1001], ['term', 2 ** 53], ['term', NaN],
  ];
  for (const [field, value] of bad) {
    const cols = good() as Record<string, number[]>;
    cols[field]![1] = value;
    assert.equal(check(columnsOf(cols)), false, `${field} = ${value}`);
    // ...and the row path does refuse it: the errors come from there.
    const validated = compileRequestValidator({ ...c, lax: false })(rowsOf(cols, 2));
    assert.equal(validated.ok, false, `${field} = ${value} is refused by the row validator`);
  }
  const missing = good() as Partial<ReturnType<typeof good>>;
  delete missing.term;
  assert.equal(check(columnsOf(missing as Record<string, number[]>)), false, 'a missing column (its default) takes the row path');
});

test('fields that are not all plain numbers never take the shortcut', () => {
  assert.equal(compileColumnCheck(config({ fields: [{ name: 'city', type: 'string', required: true }] })), undefined);
  assert.equal(compileColumnCheck(config({ fields: [{ name: 'ok', type: 'boolean', required: true }] })), undefined);
  assert.equal(compileColumnCheck(config({ fields: [{ name: 'grade', type: 'integer', required: true, enum: [1, 2, 3] }] })), undefined);
  const stringTensor: ModelSignature = { inputs: [{ name: 'scaled', type: 'string', shape: ['N', 2] }], outputs: [] };
  assert.equal(compileColumnEncoder(config({ tensors: [{ name: 'scaled', fields: ['temp_c', 'humidity'] }] }), stringTensor), undefined);
});
