// The example models (examples/weather, examples/loan) against scikit-learn, with no Python:
// each committed test set (held-out rows + sklearn's predict_proba, written by train.py) is run
// through the committed model.onnx with onnxruntime-node. Also checks that each model.yaml matches
// its model, that the examples' in-graph preprocessing is really in the graph, that the loan model
// answers for categories it never saw, and that the sample files are well-formed.
// Self-contained on purpose: reads model.yaml with `yaml`, builds the feeds itself (no loader).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';

const REPO = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
})();
const EXAMPLES = join(REPO, 'examples');
const TOLERANCE = 1e-5;

type Value = number | string | boolean;
type Row = Record<string, Value>;

interface FieldConfig {
  type: 'number' | 'integer' | 'string' | 'boolean';
  minimum?: number;
  maximum?: number;
  description?: string;
  example?: Value;
}

interface ExampleConfig {
  name: string;
  model?: string;
  default?: boolean;
  root_response?: Record<string, unknown>;
  fields: Record<string, FieldConfig>;
  inputs: Record<string, { fields: string[]; type?: string; scale?: { mean: number[]; scale: number[] } }>;
  outputs: Record<string, { from: string; column?: number; map?: Record<string, string> }>;
}

interface TestSet {
  rows: Row[];
  expected: { probabilities: number[][]; label: number[] };
}

interface InvalidSample {
  name?: string;
  body: unknown;
  status: number;
  detail_contains: Array<{ loc: Array<string | number>; type?: string; msg?: string }>;
}

function readJson<T>(...parts: string[]): T {
  return JSON.parse(readFileSync(join(EXAMPLES, ...parts), 'utf8')) as T;
}

function readConfig(name: string): ExampleConfig {
  return parse(readFileSync(join(EXAMPLES, name, 'model.yaml'), 'utf8')) as ExampleConfig;
}

/** The request rows as ONNX feeds, per the config's `inputs` section and the session's metadata. */
function feedsFor(config: ExampleConfig, session: ort.InferenceSession, rows: Row[]): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, spec] of Object.entries(config.inputs)) {
    const meta = session.inputMetadata.find((m) => m.name === name);
    assert.ok(meta && meta.isTensor, `config input ${name} is a tensor input of the model`);
    const type = spec.type ?? meta.type;
    const dims = meta.shape.length === 1 ? [rows.length] : [rows.length, spec.fields.length];
    const values = rows.flatMap((row) => spec.fields.map((f) => row[f]!));
    let tensor: ort.Tensor;
    if (type === 'string') tensor = new ort.Tensor('string', values.map(String), dims);
    else if (type === 'int64') tensor = new ort.Tensor('int64', BigInt64Array.from(values, (v) => BigInt(v as number)), dims);
    else if (type === 'float32') tensor = new ort.Tensor('float32', Float32Array.from(values, Number), dims);
    else throw new Error(`unexpected input type ${type}`);
    feeds[name] = tensor;
  }
  return feeds;
}

async function predict(config: ExampleConfig, session: ort.InferenceSession, rows: Row[]): Promise<{ probs: number[][]; labels: number[] }> {
  const out = await session.run(feedsFor(config, session, rows));
  const p = out.probabilities!;
  const l = out.label!;
  assert.deepEqual(p.dims, [rows.length, 2]);
  assert.deepEqual(l.dims, [rows.length]);
  const data = p.data as Float32Array;
  const probs = rows.map((_, i) => [data[2 * i]!, data[2 * i + 1]!]);
  const labels = Array.from(l.data as BigInt64Array, Number);
  return { probs, labels };
}

function exampleRow(config: ExampleConfig): Row {
  return Object.fromEntries(Object.entries(config.fields).map(([k, f]) => [k, f.example!]));
}

function opTypes(name: string): Array<{ op: string; domain: string; attrs: string[] }> {
  const bytes = readFileSync(join(EXAMPLES, name, 'model.onnx'));
  const model = onnxProto.onnx.ModelProto.decode(bytes);
  return (model.graph?.node ?? []).map((n) => ({
    op: n.opType ?? '',
    domain: n.domain ?? '',
    attrs: (n.attribute ?? []).map((a) => a.name ?? ''),
  }));
}

for (const name of ['weather', 'loan']) {
  describe(`examples/${name}`, () => {
    let config: ExampleConfig;
    let session: ort.InferenceSession;

    before(async () => {
      config = readConfig(name);
      session = await ort.InferenceSession.create(join(EXAMPLES, name, config.model ?? 'model.onnx'));
    });
    after(async () => {
      await session?.release();
    });

    it('config inputs and outputs name real ONNX inputs and outputs, and every ONNX input is fed', () => {
      for (const input of Object.keys(config.inputs)) assert.ok(session.inputNames.includes(input), `input ${input}`);
      for (const input of session.inputNames) assert.ok(input in config.inputs, `ONNX input ${input} is fed by the config`);
      for (const [field, out] of Object.entries(config.outputs)) {
        assert.ok(session.outputNames.includes(out.from), `output ${field} from ${out.from}`);
      }
      const fed = Object.values(config.inputs).flatMap((i) => i.fields).sort();
      assert.deepEqual(fed, Object.keys(config.fields).sort(), 'every field feeds exactly one input column');
      assert.deepEqual([...session.outputNames].sort(), ['label', 'probabilities']);
    });

    it('matches scikit-learn predict_proba on the committed held-out set within 1e-5, with identical labels', async () => {
      const testset = readJson<TestSet>(name, 'testset.json');
      assert.ok(testset.rows.length >= 100 && testset.rows.length <= 500, `rows: ${testset.rows.length}`);
      const { probs, labels } = await predict(config, session, testset.rows);
      let maxDiff = 0;
      probs.forEach((row, i) => row.forEach((p, c) => {
        maxDiff = Math.max(maxDiff, Math.abs(p - testset.expected.probabilities[i]![c]!));
      }));
      assert.ok(maxDiff <= TOLERANCE, `max abs diff ${maxDiff}`);
      assert.deepEqual(labels, testset.expected.label);
      // Both classes occur, so the label check can fail in either direction.
      assert.ok(labels.includes(0) && labels.includes(1));
    });

    it('label is the argmax of probabilities, and probabilities are a distribution', async () => {
      const testset = readJson<TestSet>(name, 'testset.json');
      const { probs, labels } = await predict(config, session, testset.rows);
      probs.forEach(([p0, p1], i) => {
        assert.ok(p0! >= 0 && p1! >= 0 && p0! <= 1 && p1! <= 1);
        assert.ok(Math.abs(p0! + p1! - 1) < 1e-6);
        assert.equal(labels[i], p1! > p0! ? 1 : 0, `row ${i}`);
      });
    });

    it('one row at a time gives the same answers as the whole batch', async () => {
      const testset = readJson<TestSet>(name, 'testset.json');
      const rows = testset.rows.slice(0, 20);
      const batch = await predict(config, session, rows);
      for (const [i, row] of rows.entries()) {
        const single = await predict(config, session, [row]);
        assert.deepEqual(single.labels, [batch.labels[i]]);
        assert.ok(Math.abs(single.probs[0]![1]! - batch.probs[i]![1]!) <= 1e-6);
      }
    });

    it('parity.json records a passing check of exactly the committed model.onnx', () => {
      const parity = readJson<Record<string, number | string>>(name, 'parity.json');
      assert.ok((parity.rows_checked as number) >= 1000);
      assert.ok((parity.max_abs_diff as number) <= TOLERANCE);
      assert.equal(parity.label_agreement, 1);
      const sha = createHash('sha256').update(readFileSync(join(EXAMPLES, name, 'model.onnx'))).digest('hex');
      assert.equal(parity.model_sha256, sha);
    });

    it('field examples form a valid request within the configured ranges, and the model answers it', async () => {
      const row = exampleRow(config);
      for (const [field, spec] of Object.entries(config.fields)) {
        const v = row[field];
        assert.ok(spec.description, `${field} has a description`);
        if (spec.type === 'string') assert.equal(typeof v, 'string', field);
        else {
          assert.equal(typeof v, 'number', field);
          if (spec.type === 'integer') assert.ok(Number.isInteger(v), field);
          if (spec.minimum !== undefined) assert.ok((v as number) >= spec.minimum, field);
          if (spec.maximum !== undefined) assert.ok((v as number) <= spec.maximum, field);
        }
      }
      const { probs } = await predict(config, session, [row]);
      assert.ok(probs[0]![1]! > 0 && probs[0]![1]! < 1);
    });

    it('samples: valid.json requests carry every field; expected.json has one answer each; invalid.json is well-formed', async () => {
      const valid = readJson<Row[]>(name, 'samples', 'valid.json');
      const expected = readJson<Array<Record<string, unknown>>>(name, 'samples', 'expected.json');
      assert.ok(valid.length >= 5);
      assert.equal(expected.length, valid.length);
      for (const body of valid) for (const field of Object.keys(config.fields)) assert.ok(field in body, `${field} in ${JSON.stringify(body)}`);
      for (const answer of expected) assert.deepEqual(Object.keys(answer), Object.keys(config.outputs));
      // Samples with plain JSON types (no lax conversions needed) must give the expected answers.
      const plain = valid
        .map((body, i) => ({ body, i }))
        .filter(({ body }) => Object.entries(config.fields).every(([f, spec]) =>
          typeof body[f] === (spec.type === 'string' ? 'string' : 'number')));
      assert.ok(plain.length >= 4);
      const { probs } = await predict(config, session, plain.map(({ body }) => body));
      const [probField, probOut] = Object.entries(config.outputs).find(([, o]) => o.column === 1)!;
      assert.equal(probOut.from, 'probabilities');
      plain.forEach(({ i }, j) => {
        assert.ok(Math.abs(probs[j]![1]! - (expected[i]![probField] as number)) <= TOLERANCE, `valid.json[${i}]`);
      });
      const invalid = readJson<InvalidSample[]>(name, 'samples', 'invalid.json');
      assert.ok(invalid.length >= 5);
      for (const s of invalid) {
        assert.ok('body' in s, JSON.stringify(s));
        assert.equal(s.status, 422);
        assert.ok(Array.isArray(s.detail_contains) && s.detail_contains.length > 0, s.name);
        for (const d of s.detail_contains) {
          assert.equal(d.loc[0], 'body', s.name);
          if (d.loc.length > 1) assert.ok((d.loc[1] as string) in config.fields, `${s.name}: ${d.loc[1]} is a field`);
        }
      }
    });
  });
}

describe('examples/weather specifics', () => {
  it('scales inside the graph (ai.onnx.ml Scaler), has Platt coefficients, and the config adds no scaling', () => {
    const config = readConfig('weather');
    assert.equal(config.default, true);
    assert.equal(Object.values(config.inputs)[0]!.scale, undefined);
    const ops = opTypes('weather');
    assert.deepEqual(ops.map((o) => o.op), ['Scaler', 'SVMClassifier', 'ArgMax']);
    const svm = ops.find((o) => o.op === 'SVMClassifier')!;
    assert.equal(svm.domain, 'ai.onnx.ml');
    assert.ok(svm.attrs.includes('prob_a') && svm.attrs.includes('prob_b'));
  });

  it('maps label 1 to Rain and reads rain_probability from column 1', () => {
    const config = readConfig('weather');
    assert.deepEqual(config.outputs.prediction, { from: 'label', map: { '1': 'Rain', '0': 'No_Rain' } });
    assert.deepEqual(config.outputs.rain_probability, { from: 'probabilities', column: 1 });
  });
});

describe('examples/loan specifics', () => {
  let config: ExampleConfig;
  let session: ort.InferenceSession;
  before(async () => {
    config = readConfig('loan');
    session = await ort.InferenceSession.create(join(EXAMPLES, 'loan', 'model.onnx'));
  });
  after(async () => {
    await session?.release();
  });

  it('has the article service\'s 18 fields with their types, one [N,1] input each, and its GET / answer', () => {
    const types: Record<string, string> = {
      Term: 'integer', NoEmp: 'integer', CreateJob: 'integer', RetainedJob: 'integer', longitude: 'number',
      latitude: 'number', GrAppv: 'number', SBA_Appv: 'number', is_new: 'string', FranchiseCode: 'string',
      UrbanRural: 'integer', City: 'string', State: 'string', Bank: 'string', BankState: 'string',
      RevLineCr: 'string', naics_first_two: 'string', same_state: 'string',
    };
    assert.deepEqual(Object.fromEntries(Object.entries(config.fields).map(([k, f]) => [k, f.type])), types);
    assert.deepEqual(Object.keys(config.fields), Object.keys(types), 'article field order');
    const onnxType = { integer: 'int64', number: 'float32', string: 'string' } as Record<string, string>;
    for (const meta of session.inputMetadata) {
      assert.ok(meta.isTensor);
      assert.equal(meta.type, onnxType[types[meta.name]!], meta.name);
      assert.equal(meta.shape.length, 2);
      assert.equal(meta.shape[1], 1);
    }
    assert.deepEqual(Object.keys(config.outputs), ['default_proba']);
    assert.deepEqual(config.root_response, { message: 'Loan Default Prediction App', model_version: 0.1 });
  });

  it('encodes categoricals in the graph (LabelEncoder) before a TreeEnsembleClassifier, without ZipMap', () => {
    const ops = opTypes('loan');
    const kinds = new Set(ops.map((o) => o.op));
    assert.ok(kinds.has('LabelEncoder') && kinds.has('TreeEnsembleClassifier') && !kinds.has('ZipMap'));
    assert.equal(ops.filter((o) => o.op === 'LabelEncoder').length, 9);
    for (const o of ops.filter((x) => x.op === 'LabelEncoder')) assert.ok(o.attrs.includes('default_float'));
  });

  it('answers with a valid probability for categories never seen in training, never an error', async () => {
    const base = exampleRow(config);
    const categorical = Object.entries(config.fields).filter(([, f]) => f.type === 'string').map(([k]) => k);
    const unseen = ['ATLANTIS', '', 'ünïcödé 東京', 'x'.repeat(500), 'chicago'];
    const rows: Row[] = [];
    for (const field of categorical) for (const value of unseen) rows.push({ ...base, [field]: value });
    rows.push(Object.fromEntries(Object.entries(base).map(([k, v]) => [k, categorical.includes(k) ? 'NEVER SEEN' : v])));
    const { probs } = await predict(config, session, rows);
    for (const [p0, p1] of probs) {
      assert.ok(Number.isFinite(p1) && p1! > 0 && p1! < 1);
      assert.ok(Math.abs(p0! + p1! - 1) < 1e-6);
    }
    // Every unseen value takes the same default path: the answers for one field are all equal.
    for (let f = 0; f < categorical.length; f++) {
      const group = probs.slice(f * unseen.length, (f + 1) * unseen.length).map((p) => p[1]);
      assert.ok(group.every((p) => p === group[0]), `${categorical[f]}: ${group.join(', ')}`);
    }
  });

  it('the categories matter: a known city and an unseen one can give different answers', async () => {
    const testset = readJson<TestSet>('loan', 'testset.json');
    const rows = testset.rows.slice(0, 200);
    const known = await predict(config, session, rows);
    const swapped = await predict(config, session, rows.map((r) => ({ ...r, State: 'ZZ', Bank: 'NOBODY', naics_first_two: '00' })));
    const changed = known.probs.filter((p, i) => Math.abs(p[1]! - swapped.probs[i]![1]!) > 1e-4).length;
    assert.ok(changed > 0, 'unseen categories change some answers');
  });
});

describe('examples/parity.mjs, as examples/README.md runs it', () => {
  // "Re-check parity of any example without Python": every example folder with a testset.json,
  // rain-xgboost (an XGBoost JSON model, with sensor gaps) included; it tried to load model.json as ONNX.
  for (const folder of ['weather', 'loan', 'rain-xgboost', 'pipelines/weather-gb', 'pipelines/loan-rural']) {
    it(`node examples/parity.mjs examples/${folder} passes`, () => {
      const run = spawnSync(process.execPath, ['examples/parity.mjs', `examples/${folder}`], { cwd: REPO, encoding: 'utf8' });
      assert.equal(run.status, 0, run.stderr);
      const verdict = JSON.parse(run.stdout) as { rows: number; ok: boolean; label_agreement: number };
      assert.deepEqual([verdict.rows, verdict.ok, verdict.label_agreement], [400, true, 1]);
    });
  }
});
