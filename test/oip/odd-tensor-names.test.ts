// Raw models (a folder holding only model.onnx) whose inputs and outputs have names no config would
// pick: non-ASCII, URL characters (/ ? # %), spaces, quotes, a newline, 10 KB long, the name of an
// Object.prototype key, one name for an input and an output. Each is served under the graph's own
// names on every OIP door (metadata, /config, REST JSON and binary, gRPC) with a valid /openapi.json,
// on a worker thread (the worker protocol carries the names) and in-process. Names no tensor can be
// passed by (empty, '__proto__', holding a NUL, an output listed twice) are refused at load, naming the file and the
// tensor. Graphs built with Debian's python3-onnx.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import SwaggerParser from '@apidevtools/swagger-parser';
import { startServer, type RunningServer } from '../../src/server.js';
import { createRuntime } from '../../src/runtime/create.js';
import { tempDir } from '../helpers/paths.js';
import { writeGraphFolders } from '../helpers/onnx.js';
import { checkRawSignature } from '../../src/config/signature.js';
import { binaryBody, grpcClients, parseBinaryResponse, rpc, type GrpcClient } from '../helpers/oip.js';

/** Model folder -> its input's and output's names (Identity y = x; `same`: the input is the output, no node). */
const SERVED: Record<string, { input: string; output: string }> = {
  non_ascii: { input: 'température', output: '温度' },
  url_chars: { input: 'a/b?c#d', output: '100% /v2/models/x/infer?x=1#top' },
  escapes: { input: '%2F%00%zz', output: 'a%20b' },
  spaces: { input: ' x y ', output: '\t' },
  quotes: { input: 'say "hi"', output: "it's `x` \\ {$ref}" },
  newline: { input: 'a\nb', output: 'c\r\nd' },
  long: { input: 'x'.repeat(10240), output: 'é'.repeat(5120) },
  prototype_keys: { input: 'constructor', output: 'hasOwnProperty' },
  same: { input: 'x', output: 'x' },
};

/** Model folder -> graph (Python, after writeGraphFolders' prelude) and what loading it must say. */
const REFUSED: Record<string, { graph: string; says: RegExp }> = {
  unnamed_input: {
    graph: "save('unnamed_input', [h.make_node('Identity', ['x'], ['y'])], [v('', T.FLOAT, ['N', 2]), v('x', T.FLOAT, ['N', 2])], [v('y', T.FLOAT, ['N', 2])])",
    says: /unnamed_input\/model\.onnx: inputs: the model's input 1 \(of 2\) has an empty name/,
  },
  unnamed_both: {
    graph: "save('unnamed_both', [], [v('', T.FLOAT, ['N', 2])], [v('', T.FLOAT, ['N', 2])])",
    says: /unnamed_both\/model\.onnx: inputs: the model's input 1 \(of 1\) has an empty name.*\n.*unnamed_both\/model\.onnx: outputs: the model's output 1 \(of 1\) has an empty name/,
  },
  proto_input: {
    graph: "save('proto_input', [h.make_node('Identity', ['__proto__'], ['y'])], [v('__proto__', T.FLOAT, ['N', 2])], [v('y', T.FLOAT, ['N', 2])])",
    says: /proto_input\/model\.onnx: inputs: the model's input '__proto__' cannot be passed by name/,
  },
  proto_output: {
    graph: "save('proto_output', [h.make_node('Identity', ['x'], ['__proto__'])], [v('x', T.FLOAT, ['N', 2])], [v('__proto__', T.FLOAT, ['N', 2])])",
    says: /proto_output\/model\.onnx: outputs: the model's output '__proto__' cannot be passed by name/,
  },
  // onnxruntime reads a name up to its NUL: the warm-up failed with "Invalid input name: a", not saying why.
  nul_input: {
    graph: "save('nul_input', [h.make_node('Identity', ['a\\x00b'], ['y'])], [v('a\\x00b', T.FLOAT, ['N', 2])], [v('y', T.FLOAT, ['N', 2])])",
    says: /nul_input\/model\.onnx: inputs: the model's input "a\\u0000b" cannot be passed by name: onnxruntime reads a name only up to its first NUL character, so it would look for 'a'; rename it in the graph/,
  },
  nul_output: {
    graph: "save('nul_output', [h.make_node('Identity', ['x'], ['\\x00y'])], [v('x', T.FLOAT, ['N', 2])], [v('\\x00y', T.FLOAT, ['N', 2])])",
    says: /nul_output\/model\.onnx: outputs: the model's output "\\u0000y" cannot be passed by name: onnxruntime reads a name only up to its first NUL character, so it would look for ''/,
  },
  output_twice: {
    graph: "save('output_twice', [h.make_node('Identity', ['x'], ['y'])], [v('x', T.FLOAT, ['N', 2])], [v('y', T.FLOAT, ['N', 2]), v('y', T.FLOAT, ['N', 2])])",
    says: /output_twice\/model\.onnx: outputs: the model lists its output 'y' more than once/,
  },
};

const servedGraphs = Object.entries(SERVED).map(([model, { input, output }]) => {
  const [x, y] = [JSON.stringify(input), JSON.stringify(output)];
  return input === output
    ? `save(${JSON.stringify(model)}, [], [v(${x}, T.FLOAT, ['N', 2])], [v(${y}, T.FLOAT, ['N', 2])])`
    : `save(${JSON.stringify(model)}, [h.make_node('Identity', [${x}], [${y}])], [v(${x}, T.FLOAT, ['N', 2])], [v(${y}, T.FLOAT, ['N', 2])])`;
});

const repo = tempDir('modelserve-odd-names-');
writeGraphFolders(repo, servedGraphs.join('\n'));
after(() => rmSync(repo, { recursive: true, force: true }));

const VALUES = [1.5, -2, 0.25, 8];
const fp32 = new Uint8Array(Float32Array.from(VALUES).buffer);

for (const where of ['a worker thread', 'in-process'] as const) {
  describe(`on ${where}`, () => {
    let server: RunningServer;
    let inference: GrpcClient;
    let closeClients: () => void;

    before(async () => {
      const runtime = where === 'in-process' ? await createRuntime({ workers: 0 }) : await createRuntime({ workers: 1, inlineMaxMs: 0 });
      server = await startServer({ repo, port: 0, grpcPort: 'free', runtime, logger: false });
      ({ inference, close: closeClients } = grpcClients(server.grpcPort!));
    });
    after(async () => {
      closeClients?.();
      await server?.shutdown();
    });

    test('metadata and /config name each tensor exactly as the graph does', async () => {
      for (const [model, { input, output }] of Object.entries(SERVED)) {
        const meta = await request(`${server.url}/v2/models/${model}`);
        assert.equal(meta.statusCode, 200, model);
        const body = await meta.body.json() as { inputs: Array<{ name: string }>; outputs: Array<{ name: string }> };
        assert.deepEqual([body.inputs.map((i) => i.name), body.outputs.map((o) => o.name)], [[input], [output]], model);
        const config = await (await request(`${server.url}/v2/models/${model}/config`)).body.json() as { input: Array<{ name: string }>; output: Array<{ name: string }> };
        assert.deepEqual([config.input.map((i) => i.name), config.output.map((o) => o.name)], [[input], [output]], model);
        const grpcMeta = await rpc<{ inputs: Array<{ name: string }>; outputs: Array<{ name: string }> }>(inference, 'ModelMetadata', { name: model });
        assert.deepEqual([grpcMeta.inputs.map((i) => i.name), grpcMeta.outputs.map((o) => o.name)], [[input], [output]], model);
      }
    });

    test('REST JSON, REST binary and gRPC infer by the graph\'s names and answer under them', async () => {
      for (const [model, { input, output }] of Object.entries(SERVED)) {
        const res = await request(`${server.url}/v2/models/${model}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: [{ name: input, datatype: 'FP32', shape: [2, 2], data: VALUES }], outputs: [{ name: output }] }) });
        const json = await res.body.json() as { outputs: unknown };
        assert.equal(res.statusCode, 200, `${model}: ${JSON.stringify(json)}`);
        assert.deepEqual(json.outputs, [{ name: output, datatype: 'FP32', shape: [2, 2], data: VALUES }], model);

        const { body, headerLength } = binaryBody([{ name: input, datatype: 'FP32', shape: [2, 2], bytes: fp32 }], { outputs: [{ name: output, parameters: { binary_data: true } }] });
        const bin = await request(`${server.url}/v2/models/${model}/infer`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength) }, body });
        const raw = Buffer.from(await bin.body.arrayBuffer());
        assert.equal(bin.statusCode, 200, `${model}: ${raw.toString()}`);
        const parsed = parseBinaryResponse(raw, Number(bin.headers['inference-header-content-length']));
        assert.deepEqual(parsed.json.outputs.map((o) => o.name), [output], model);
        assert.deepEqual([...new Float32Array(Uint8Array.from(parsed.binary.get(output)!).buffer)], VALUES, model);

        const g = await rpc<{ outputs: Array<{ name: string; contents: { fp32_contents: number[] } }> }>(inference, 'ModelInfer', { model_name: model, inputs: [{ name: input, datatype: 'FP32', shape: [2, 2], contents: { fp32_contents: VALUES } }], outputs: [{ name: output }] });
        assert.deepEqual(g.outputs.map((o) => [o.name, o.contents.fp32_contents]), [[output, VALUES]], model);
      }
    });

    test('/openapi.json is a valid OpenAPI document', async () => {
      const res = await request(`${server.url}/openapi.json`);
      assert.equal(res.statusCode, 200);
      await SwaggerParser.validate(await res.body.json() as never);
    });
  });
}

test('a tensor that cannot be passed by its name (empty, __proto__, holding a NUL, an output listed twice) is refused at load, naming the file and the tensor', async () => {
  for (const [model, { graph, says }] of Object.entries(REFUSED)) {
    const dir = tempDir('modelserve-odd-names-refused-');
    try {
      writeGraphFolders(dir, graph);
      await assert.rejects(startServer({ repo: dir, port: 0, runtime: await createRuntime({ workers: 0 }), logger: false }), (err: Error) => {
        assert.match(err.message, says, model);
        assert.ok(err.message.includes(join(model, 'model.onnx')), model);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('a name with control characters is quoted as JSON in the load\'s message, so the newline shows', () => {
  const y = { name: 'a\nb', type: 'float32', shape: ['N'] };
  assert.deepEqual(checkRawSignature({ inputs: [{ name: 'x', type: 'float32', shape: ['N'] }], outputs: [y, y] }), ['outputs: the model lists its output "a\\nb" more than once; each output is passed by its name, so list it once']);
});
