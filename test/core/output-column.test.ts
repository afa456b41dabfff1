// A `column:` output is a whole column of the model's output: an index past the output's width is refused at load
// (by the signature when the graph fixes the width, by the warm-up run when it does not), never answered with
// another row's value; and a huge index (1e300) is refused by the schema naming the file and the key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadRepository } from '../../src/config/load.js';
import { InferenceCore } from '../../src/core/core.js';
import { InProcessRuntime } from '../../src/runtime/in-process.js';
import { startServer } from '../../src/server.js';
import { call } from '../helpers/http.js';
import { writeIdentityModels } from '../helpers/onnx.js';
import { tempDir } from '../helpers/paths.js';

/** A repository of one model 'wide': Identity 'x' -> 'y' of no fixed width ([N, K]), fed two fields, reading `column` of 'y'. */
function repoReading(column: string): string {
  const repo = tempDir('modelserve-column-');
  writeIdentityModels(repo, [{ file: 'wide/model.onnx', elem: 'FLOAT', shape: ['N', 'K'] }]);
  writeFileSync(join(repo, 'wide', 'model.yaml'), `
fields:
  a: { type: number, example: 1 }
  b: { type: number, example: 2 }
inputs:
  x: { fields: [a, b] }
outputs:
  second: { from: y, column: 1 }
  third: { from: y, column: ${column} }
`);
  return repo;
}

test('a column past the width of an output of no fixed width fails the load naming the file and the column (it answered the next row\'s first value, or null for the last row)', async () => {
  const repo = repoReading('2');
  const runtime = new InProcessRuntime();
  await assert.rejects(InferenceCore.start({ repo, runtime }), (err: Error) => {
    assert.match(err.message, /wide\/model\.yaml: .*warm-up run .*output 'third' reads column 2 of model output 'y', which has 2 column\(s\)/);
    return true;
  });
});

test('the columns a model has still serve, row by row, on the JSON API and the Open Inference Protocol', async () => {
  const server = await startServer({ repo: repoReading('0'), port: 0, grpcPort: 0, workers: 0, logger: false });
  try {
    const res = await call(`${server.url}/models/wide/predict`, { body: [{ a: 1, b: 2 }, { a: 3, b: 4 }] });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, [{ second: 2, third: 1 }, { second: 4, third: 3 }]);
    const oip = await call(`${server.url}/v2/models/wide/infer`, { body: { inputs: [{ name: 'a', datatype: 'FP64', shape: [2], data: [1, 3] }, { name: 'b', datatype: 'FP64', shape: [2], data: [2, 4] }] } });
    assert.equal(oip.status, 200, oip.text);
    const outputs = (oip.body as { outputs: Array<{ name: string; data: number[] }> }).outputs;
    assert.deepEqual(Object.fromEntries(outputs.map((o) => [o.name, o.data])), { second: [2, 4], third: [1, 3] });
  } finally {
    await server.shutdown();
  }
});

test('a column of 1e300 is refused by the schema, naming the file and the key', () => {
  assert.throws(() => loadRepository(repoReading('1e300')), /wide\/model\.yaml: outputs\.third\.column: must be <= 2147483646/);
});
