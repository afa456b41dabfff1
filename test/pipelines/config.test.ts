// A pipeline's config is checked at load against the other models' configs: unknown models and
// versions, fields no step answers, type mismatches between a step's answer and the next step's
// input, cycles — every problem at once, each with its file and key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadRepository } from '../../src/config/load.js';
import { InferenceCore } from '../../src/core/core.js';
import { resolvePipelines } from '../../src/pipelines/check.js';
import { InProcessRuntime } from '../../src/runtime/in-process.js';
import { EXAMPLES } from '../helpers/paths.js';
import { startServer } from '../../src/server.js';
import { call } from '../helpers/http.js';
import { exampleModel, newRepo, WEATHER_ROW, writeConfig } from './helpers.js';
import { writeIdentityModels } from '../helpers/onnx.js';

test('every cross-model problem at once: unknown model and version, missing field, type mismatch, cycle', async () => {
  const repo = newRepo();
  exampleModel(repo, 'weather');
  exampleModel(repo, 'loan');
  writeConfig(repo, 'broken', `
pipeline:
  sequence:
    - model: weather
    - model: nowhere
    - name: old
      model: loan
      version: 7
    - name: typed
      model: loan
      inputs: { City: rain_probability, Term: prediction }
  outputs: { answer: nothing_answers_this }
`);
  writeConfig(repo, 'ping', 'pipeline:\n  sequence:\n    - model: pong\n');
  writeConfig(repo, 'pong', 'pipeline:\n  sequence:\n    - model: ping\n');
  const configs = loadRepository(repo);
  const { problems } = resolvePipelines(configs);
  const lines = problems.map((p) => `${p.file.split('/').slice(-2).join('/')}: ${p.path}: ${p.message}`);
  const expect = [
    /broken\/model.yaml: pipeline.sequence.1.model: no model 'nowhere' in the repository/,
    /broken\/model.yaml: pipeline.sequence.2.version: model 'loan' serves no version 7 \(served: 1\)/,
    /broken\/model.yaml: pipeline.sequence.3.inputs.City: type mismatch: 'rain_probability' is number \(answered by step 'weather'\) but step 'typed' takes 'City' as string/,
    /broken\/model.yaml: pipeline.sequence.3.inputs.Term: type mismatch: 'prediction' is string \(answered by step 'weather'\) but step 'typed' takes 'Term' as integer/,
    /broken\/model.yaml: pipeline.outputs.answer: 'nothing_answers_this' is not a request field nor answered by a step/,
    /p[io]ng\/model.yaml: pipeline.sequence.0.model: cycle: (ping -> pong -> ping|pong -> ping -> pong)/,
  ];
  for (const re of expect) assert.ok(lines.some((l) => re.test(l)), `expected ${re} among:\n${lines.join('\n')}`);
  // The core refuses to start with one message listing them all.
  await assert.rejects(InferenceCore.start({ repo, runtime: new InProcessRuntime() }), (err: Error) => {
    assert.match(err.message, /invalid model configuration \(\d+ problems\)/);
    for (const re of expect.slice(0, 5)) assert.match(err.message, new RegExp(re.source.replace(/^broken\\\/model.yaml: /, '')));
    return true;
  });
});

test('a pipeline config\'s own problems are reported with the schema\'s, all at once', () => {
  const repo = newRepo();
  exampleModel(repo, 'weather');
  writeConfig(repo, 'bad', `
model: x.onnx
fields: { a: { type: number } }
pipeline:
  sequence:
    - model: weather
      remote: { url: "http://127.0.0.1:1", fields: { a: { type: number } }, outputs: { b: number } }
  ensemble:
    - model: weather
traffic: { 1: 60, 2: 30 }
`);
  assert.throws(() => loadRepository(repo), (err: Error) => {
    const m = err.message;
    assert.match(m, /bad\/model.yaml: model: does not apply to a pipeline/);
    assert.match(m, /bad\/model.yaml: fields: does not apply to a pipeline/);
    return true;
  });
  writeConfig(repo, 'bad', `
pipeline:
  sequence:
    - model: weather
      remote: { url: "http://127.0.0.1:1", fields: { a: { type: number } }, outputs: { b: number } }
  ensemble:
    - model: weather
traffic: { 1: 60, 2: 30 }
`);
  assert.throws(() => loadRepository(repo), (err: Error) => {
    const m = err.message;
    assert.match(m, /bad\/model.yaml: pipeline: give one of sequence, ensemble or switch, not sequence and ensemble/);
    assert.match(m, /bad\/model.yaml: pipeline.sequence.0: a step names either a model \(model:\) or a remote service \(remote:\)/);
    assert.match(m, /bad\/model.yaml: pipeline.sequence.0.remote.model: is required for protocol modelserve/);
    assert.match(m, /bad\/model.yaml: traffic: the percentages add up to 90, not 100/);
    return true;
  });
});

test('an ensemble member weight past 1000000 is refused naming the file and the key (weights of 1e308 summed to Infinity and every weighted mean answered NaN)', () => {
  const repo = newRepo();
  exampleModel(repo, 'weather');
  writeConfig(repo, 'heavy', `
pipeline:
  ensemble:
    - model: weather
      weight: 1e308
    - name: again
      model: weather
      weight: 1e308
  combine:
    rain_probability: { weighted_mean: rain_probability }
`);
  assert.throws(() => loadRepository(repo), (err: Error) => {
    assert.match(err.message, /heavy\/model.yaml: pipeline.ensemble.0.weight: must be <= 1000000/);
    assert.match(err.message, /heavy\/model.yaml: pipeline.ensemble.1.weight: must be <= 1000000/);
    return true;
  });
  // The bound itself is taken.
  writeConfig(repo, 'heavy', 'pipeline:\n  ensemble:\n    - model: weather\n      weight: 1000000\n    - name: again\n      model: weather\n  combine:\n    rain_probability: { weighted_mean: rain_probability }\n');
  assert.doesNotThrow(() => loadRepository(repo));
});

test('a model config still needs fields, inputs and outputs', () => {
  const repo = newRepo();
  writeConfig(repo, 'm', 'model: x.onnx\n');
  assert.throws(() => loadRepository(repo), /m\/model.yaml: fields: is required[\s\S]*inputs: is required[\s\S]*outputs: is required/);
});

test('a remote step\'s URL that cannot be parsed is a problem of its file, reported with the others (not a bare "Invalid URL" at start)', async () => {
  const repo = newRepo();
  exampleModel(repo, 'weather');
  writeConfig(repo, 'bad-url', `
pipeline:
  sequence:
    - name: far
      remote: { url: "http://a b", model: m, fields: { a: { type: number } }, outputs: { b: number } }
    - name: farther
      version: 2
      remote: { url: "http://[::1", model: m, fields: { a: { type: number } }, outputs: { c: number } }
`);
  const check = (err: Error) => {
    assert.match(err.message, /invalid model configuration \(3 problems\)/);
    assert.match(err.message, /bad-url\/model.yaml: pipeline.sequence.0.remote.url: 'http:\/\/a b' is not a valid URL/);
    assert.match(err.message, /bad-url\/model.yaml: pipeline.sequence.1.version: applies to a model step only/);
    assert.match(err.message, /bad-url\/model.yaml: pipeline.sequence.1.remote.url: 'http:\/\/\[::1' is not a valid URL/);
    return true;
  };
  assert.throws(() => loadRepository(repo), check);
  await assert.rejects(InferenceCore.start({ repo, runtime: new InProcessRuntime() }), check);
});

test('a query or # in a modelserve or oip remote step\'s url is refused, naming the file and the step (the model\'s path is appended after it)', () => {
  const repo = newRepo();
  exampleModel(repo, 'weather');
  writeConfig(repo, 'queried', `
pipeline:
  sequence:
    - name: far
      remote: { url: "http://h:8000/?code=s3cret", model: m, fields: { a: { type: number } }, outputs: { b: number } }
    - name: farther
      remote: { url: "http://h:8000/base#x", protocol: oip, model: m, fields: { b: { type: number } }, outputs: { c: number } }
    - name: whole
      remote: { url: "http://h:8000/models/m/predict?code=s3cret", protocol: json, fields: { c: { type: number } }, outputs: { d: number } }
`);
  assert.throws(() => loadRepository(repo), (err: Error) => {
    assert.match(err.message, /invalid model configuration \(2 problems\)/);
    assert.match(err.message, /queried\/model.yaml: pipeline.sequence.0.remote.url: step 'far': has a query \(\?…\), but protocol modelserve appends \/models\/\{model\}\/predict to the url; give the url without it \(or protocol json/);
    assert.match(err.message, /queried\/model.yaml: pipeline.sequence.1.remote.url: step 'farther': has a fragment \(#\), but protocol oip appends \/v2\/models\/\{model\}\/infer to the url; give the url without it$/m);
    assert.doesNotMatch(err.message, /s3cret|sequence\.2/);
    return true;
  });
});

test('a remote step\'s url that cannot be parsed is named without its user:password@ or query', () => {
  const repo = newRepo();
  exampleModel(repo, 'weather');
  writeConfig(repo, 'bad-url', `
pipeline:
  sequence:
    - name: far
      remote: { url: "http://scorer:pa/ss w0rd@a b:80/x?key=s3cret", model: m, fields: { a: { type: number } }, outputs: { b: number } }
`);
  assert.throws(() => loadRepository(repo), (err: Error) => {
    assert.match(err.message, /bad-url\/model.yaml: pipeline.sequence.0.remote.url: 'http:\/\/…@a b:80\/x\?…' is not a valid URL/);
    assert.doesNotMatch(err.message, /scorer|w0rd|s3cret/);
    return true;
  });
});

test('a remote step\'s url whose password holds a ? or # (so it cannot be parsed) is named without any of its user:password@', () => {
  const repo = newRepo();
  exampleModel(repo, 'weather');
  writeConfig(repo, 'bad-url', `
pipeline:
  sequence:
    - name: far
      remote: { url: "http://scorer:pa?ss@a b/x", model: m, fields: { a: { type: number } }, outputs: { b: number } }
    - name: farther
      remote: { url: "https://scorer2:s3#cret@h:8000/x", model: m, fields: { b: { type: number } }, outputs: { c: number } }
`);
  assert.throws(() => loadRepository(repo), (err: Error) => {
    assert.match(err.message, /pipeline.sequence.0.remote.url: 'http:\/\/…@a b\/x' is not a valid URL/);
    assert.match(err.message, /pipeline.sequence.1.remote.url: 'https:\/\/…@h:8000\/x' is not a valid URL/);
    assert.doesNotMatch(err.message, /scorer|pa\?|s3/);
    return true;
  });
});

test('a nested pipeline\'s answer keeps its type: a string it passes through cannot feed a number field', () => {
  const repo = newRepo();
  exampleModel(repo, 'weather');
  exampleModel(repo, 'loan');
  writeConfig(repo, 'echo', 'pipeline:\n  sequence:\n    - model: loan\n  outputs: [default_proba, City]\n');
  writeConfig(repo, 'outer', 'pipeline:\n  sequence:\n    - model: echo\n    - model: weather\n      inputs: { temp_c: City, humidity: default_proba }\n');
  const { problems } = resolvePipelines(loadRepository(repo));
  assert.deepEqual(problems.map((p) => `${p.file.split('/').slice(-2).join('/')}: ${p.path}: ${p.message}`), [
    "outer/model.yaml: pipeline.sequence.1.inputs.temp_c: type mismatch: 'City' is string (answered by step 'echo') but step 'weather' takes 'temp_c' as number",
  ]);
});

test('a step that is a raw model (a folder with only its .onnx file) is a problem of the pipeline\'s file, not a pipeline serving no fields whose every request fails', async () => {
  const repo = newRepo();
  mkdirSync(join(repo, 'raw-weather'));
  copyFileSync(join(EXAMPLES, 'weather', 'model.onnx'), join(repo, 'raw-weather', 'model.onnx'));
  writeConfig(repo, 'uses-raw', 'pipeline:\n  switch:\n    - model: raw-weather\n      default: true\n');
  const check = (err: Error) => {
    assert.match(err.message, /invalid model configuration \(1 problem\)/);
    assert.match(err.message, /uses-raw\/model.yaml: pipeline.switch.0.model: model 'raw-weather' has no fields \(it is served from its .onnx file without a model.yaml\): a step needs its fields and outputs/);
    assert.match(err.message, /modelserve init \S+raw-weather\/model.onnx -o \S+raw-weather\)/);
    return true;
  };
  await assert.rejects(InferenceCore.start({ repo, runtime: new InProcessRuntime() }), check);
});

test('members taking one field as integer and number, with different defaults: the ensemble loads (it was refused: "is number … but integer for an earlier step"), takes integers only, and each member fills in its own default (the first member\'s was sent to both)', async () => {
  const repo = newRepo();
  writeIdentityModels(repo, [{ file: 'as-number/model.onnx', elem: 'DOUBLE', shape: ['N', 1] }, { file: 'as-integer/model.onnx', elem: 'DOUBLE', inputElem: 'INT64', shape: ['N', 1] }]);
  writeConfig(repo, 'as-number', 'fields:\n  x: { type: number, required: false, default: 1 }\ninputs:\n  x: { fields: [x] }\noutputs:\n  v: { from: y }\n');
  writeConfig(repo, 'as-integer', 'fields:\n  x: { type: integer, required: false, default: 0 }\ninputs:\n  x: { fields: [x] }\noutputs:\n  v: { from: y }\n');
  writeConfig(repo, 'both', 'pipeline:\n  ensemble:\n    - model: as-number\n    - model: as-integer\n  combine:\n    v: { mean: v }\n');
  const core = await InferenceCore.start({ repo, runtime: new InProcessRuntime() });
  try {
    const both = core.resolve('both')!;
    const answer = async (row: Record<string, unknown>) => (await both.predict([row], Infinity)) as unknown as Array<{ v: number }>;
    assert.deepEqual(await answer({}), [{ v: 0.5 }], 'as-number fills in 1, as-integer 0');
    assert.deepEqual(await answer({ x: 4 }), [{ v: 4 }]);
    const x = both.config.fields.find((f) => f.name === 'x')!;
    assert.deepEqual([x.type, x.required, x.default], ['integer', false, undefined]);
  } finally {
    await core.close();
  }
});

// A new pipeline refused for its config (here a cycle) is listed failed with why; its requests said only "model 'selfie'
// is not available", with neither the file nor the problem, while a pipeline whose load failed said both.
test('under --watch, a pipeline that names itself as a step, or forms a cycle through another, is listed failed naming its file and the cycle, and its requests are a 503 that says so', async () => {
  const repo = newRepo();
  exampleModel(repo, 'weather');
  const server = await startServer({ repo, port: 0, grpcPort: 0, workers: 1, logger: false, watch: { pollMs: 100, debounceMs: 50, settleMs: 200 } });
  try {
    writeConfig(repo, 'selfie', 'pipeline:\n  sequence:\n    - model: selfie\n');
    writeConfig(repo, 'ping', 'pipeline:\n  sequence:\n    - model: pong\n');
    writeConfig(repo, 'pong', 'pipeline:\n  sequence:\n    - model: weather\n    - model: ping\n');
    const cycles: Record<string, RegExp> = {
      selfie: /selfie\/model\.yaml: pipeline\.sequence\.0\.model: cycle: selfie -> selfie/,
      ping: /p[io]ng\/model\.yaml: pipeline\.sequence\.\d\.model: cycle: (ping -> pong -> ping|pong -> ping -> pong)/,
      pong: /p[io]ng\/model\.yaml: pipeline\.sequence\.\d\.model: cycle: (ping -> pong -> ping|pong -> ping -> pong)/,
    };
    for (const [name, cycle] of Object.entries(cycles)) {
      const deadline = Date.now() + 20_000;
      while (!cycle.test((await call(`${server.url}/models/${name}`)).text)) {
        assert.ok(Date.now() < deadline, `${name}: ${(await call(`${server.url}/models/${name}`)).text}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const res = await call(`${server.url}/models/${name}/predict`, { body: {} });
      assert.equal(res.status, 503, res.text);
      assert.equal((res.body as { code: string }).code, 'MS_ERR_MODEL_UNAVAILABLE');
      assert.match((res.body as { detail: string }).detail, cycle);
    }
    assert.equal((await call(`${server.url}/models/weather/predict`, { body: WEATHER_ROW })).status, 200);
  } finally {
    await server.shutdown();
  }
});
