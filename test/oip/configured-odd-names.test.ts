// Configured models (model.yaml) whose graph outputs or response fields are named like keys of
// Object.prototype: each response field is answered with its own value on the JSON API (one row and
// many), OIP REST and gRPC, with a valid /openapi.json; one model output read by four fields (two
// columns, a label, the raw row) answers each. Graph tensors no run can pass by name ('__proto__',
// read or not; a NUL in a name a field reads) are refused at load, naming model.yaml and the key,
// rather than failing the warm-up in onnxruntime's words. Graphs built with Debian's python3-onnx.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import SwaggerParser from '@apidevtools/swagger-parser';
import { startServer, type RunningServer } from '../../src/server.js';
import { createRuntime } from '../../src/runtime/create.js';
import { tempDir } from '../helpers/paths.js';
import { writeGraphFolders } from '../helpers/onnx.js';
import { grpcClients, rpc, type GrpcClient } from '../helpers/oip.js';

/** Python for a graph: x [N, 2] float copied to each output (Identity), under save(model, ...). */
const graph = (model: string, outputs: string[], input = 'x'): string => {
  const q = JSON.stringify;
  return `save(${q(model)}, [${outputs.map((o) => `h.make_node('Identity', [${q(input)}], [${q(o)}])`).join(', ')}], [v(${q(input)}, T.FLOAT, ['N', 2])], [${outputs.map((o) => `v(${q(o)}, T.FLOAT, ['N', 2])`).join(', ')}])`;
};

/** A model.yaml feeding fields a and b as the graph's `input`, with these outputs (YAML lines). */
const writeConfig = (dir: string, model: string, outputs: string, input = 'x') => writeFileSync(join(dir, model, 'model.yaml'), `fields:
  a: { type: number, example: 1 }
  b: { type: number, example: 2 }
inputs:
  ${input}: { fields: [a, b] }
outputs:
${outputs}
`);

const repo = tempDir('modelserve-configured-odd-names-');
writeGraphFolders(repo, [graph('prototype_keys', ['constructor', 'toString']), graph('read_four_ways', ['y'])].join('\n'));
writeConfig(repo, 'prototype_keys', '  constructor: { from: constructor, column: 1 }\n  toString: { from: toString, column: 0 }\n  hasOwnProperty: { from: constructor }\n  valueOf: { from: constructor, map: { "1": one } }');
writeConfig(repo, 'read_four_ways', '  first: { from: y, column: 0 }\n  second: { from: y, column: 1 }\n  label: { from: y, map: { "1": one } }\n  row: { from: y }');
after(() => rmSync(repo, { recursive: true, force: true }));

/** Each model's answer to rows (a, b) = (1, 2) and (3, 4), field by field. */
const ANSWERS: Record<string, Array<Record<string, unknown>>> = {
  prototype_keys: [{ constructor: 2, toString: 1, hasOwnProperty: [1, 2], valueOf: 'one' }, { constructor: 4, toString: 3, hasOwnProperty: [3, 4], valueOf: '3' }],
  read_four_ways: [{ first: 1, second: 2, label: 'one', row: [1, 2] }, { first: 3, second: 4, label: '3', row: [3, 4] }],
};

/** An answer's field as OIP returns it: its values over both rows, flat. */
const column = (answers: Array<Record<string, unknown>>, field: string): unknown[] => answers.flatMap((a) => a[field]);

describe('response fields and model outputs named like Object.prototype keys, one output read four ways', () => {
  let server: RunningServer;
  let inference: GrpcClient;
  let closeClients: () => void;

  before(async () => {
    server = await startServer({ repo, port: 0, grpcPort: 'free', runtime: await createRuntime({ workers: 1, inlineMaxMs: 0 }), logger: false });
    ({ inference, close: closeClients } = grpcClients(server.grpcPort!));
  });
  after(async () => {
    closeClients?.();
    await server?.shutdown();
  });

  test('the JSON API answers every field with its own value, for one row and for many', async () => {
    for (const [model, answers] of Object.entries(ANSWERS)) {
      const many = await request(`${server.url}/models/${model}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ a: 1, b: 2 }, { a: 3, b: 4 }]) });
      const text = await many.body.text();
      assert.equal(many.statusCode, 200, `${model}: ${text}`);
      // Own keys, in the config's order: a key set as a prototype would be missing from the JSON.
      assert.equal(text, JSON.stringify(answers), model);
      const one = await request(`${server.url}/models/${model}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ a: 1, b: 2 }) });
      assert.equal(await one.body.text(), JSON.stringify(answers[0]), model);
    }
  });

  test('OIP REST and gRPC answer every field under its name', async () => {
    for (const [model, answers] of Object.entries(ANSWERS)) {
      const res = await request(`${server.url}/v2/models/${model}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: [{ name: 'a', datatype: 'FP64', shape: [2], data: [1, 3] }, { name: 'b', datatype: 'FP64', shape: [2], data: [2, 4] }] }) });
      const json = await res.body.json() as { outputs: Array<{ name: string; data: unknown[] }> };
      assert.equal(res.statusCode, 200, `${model}: ${JSON.stringify(json)}`);
      const fields = Object.keys(answers[0]!);
      assert.deepEqual(json.outputs.map((o) => [o.name, o.data]), fields.map((f) => [f, column(answers, f)]), model);

      const g = await rpc<{ outputs: Array<{ name: string; contents: { fp32_contents: number[]; bytes_contents: Buffer[] } }> }>(inference, 'ModelInfer', { model_name: model, inputs: [{ name: 'a', datatype: 'FP64', shape: [2], contents: { fp64_contents: [1, 3] } }, { name: 'b', datatype: 'FP64', shape: [2], contents: { fp64_contents: [2, 4] } }] });
      const values = (c: { fp32_contents: number[]; bytes_contents: Buffer[] }) => (c.bytes_contents.length > 0 ? c.bytes_contents.map((b) => Buffer.from(b).toString()) : c.fp32_contents);
      assert.deepEqual(g.outputs.map((o) => [o.name, values(o.contents)]), fields.map((f) => [f, column(answers, f)]), model);
    }
  });

  test('/openapi.json is a valid OpenAPI document listing each field', async () => {
    const doc = await (await request(`${server.url}/openapi.json`)).body.json() as Record<string, unknown>;
    await SwaggerParser.validate(structuredClone(doc) as never);
    const text = JSON.stringify(doc);
    for (const field of Object.keys(ANSWERS.prototype_keys![0]!)) assert.ok(text.includes(`"${field}":{`), field);
  });
});

/** Model folder -> its graph, its config's outputs (and input), and what loading it must say. */
const REFUSED: Record<string, { graph: string; outputs: string; input?: string; says: RegExp }> = {
  // Was: "the load-time warm-up run ... failed: At least one output should be requested."
  proto_read: {
    graph: graph('proto_read', ['__proto__']),
    outputs: '  value: { from: __proto__, column: 0 }',
    says: /proto_read\/model\.yaml: outputs\.value\.from: the model's output '__proto__' cannot be passed by name: onnxruntime-node's JavaScript objects of outputs read that key as their prototype; rename it in the graph/,
  },
  // Was: "the load-time warm-up run ... failed: Tensor.dims must be an array."
  proto_unread: {
    graph: graph('proto_unread', ['y', '__proto__']),
    outputs: '  value: { from: y, column: 0 }',
    says: /proto_unread\/model\.yaml: outputs: the model's output '__proto__' cannot be passed by name/,
  },
  // Was: "the model's input '__proto__' is not fed (add inputs.__proto__)", which the config schema refuses.
  proto_input: {
    graph: graph('proto_input', ['y'], '__proto__'),
    outputs: '  value: { from: y, column: 0 }',
    input: 'x',
    says: /proto_input\/model\.yaml: inputs: the model's input '__proto__' cannot be passed by name/,
  },
  // Was: the warm-up's "Invalid output name: a".
  nul_read: {
    graph: graph('nul_read', ['a\0b']),
    outputs: '  value: { from: "a\\0b", column: 0 }',
    says: /nul_read\/model\.yaml: outputs\.value\.from: the model's output "a\\u0000b" cannot be passed by name: onnxruntime reads a name only up to its first NUL character, so it would look for 'a'/,
  },
};

test('a configured model whose graph has a tensor no run can pass by name is refused at load, naming model.yaml and the key', async () => {
  for (const [model, { graph: python, outputs, input, says }] of Object.entries(REFUSED)) {
    const dir = tempDir('modelserve-configured-odd-names-refused-');
    try {
      writeGraphFolders(dir, python);
      writeConfig(dir, model, outputs, input);
      await assert.rejects(startServer({ repo: dir, port: 0, runtime: await createRuntime({ workers: 0 }), logger: false }), (err: Error) => {
        assert.match(err.message, says, model);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});
