// The book's model over the Open Inference Protocol: every one of the 19,289 rows of the sample
// data, sent as binary FP64 columns over REST and as raw contents over gRPC, answers what
// onnxruntime answers on the correctly scaled rows (the reference of test/http/book-weather).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';
import { request } from 'undici';
import { startServer, type RunningServer } from '../../src/server.js';
import { BOOK_FIELDS, BOOK_MODEL, BOOK_SCALER, bookRows, tempDir, writeBookModelFolder } from '../helpers/paths.js';
import { binaryBody, fp64, grpcClients, parseBinaryResponse, readBytesElements, rpc } from '../helpers/oip.js';

let server: RunningServer;
const rows = bookRows();
let expected: string[];
const SIZE = 500;

before(async () => {
  const { mean, scale } = JSON.parse(readFileSync(BOOK_SCALER, 'utf8')) as { mean: number[]; scale: number[] };
  const x = new Float32Array(rows.length * 7);
  rows.forEach((row, r) => BOOK_FIELDS.forEach((f, c) => { x[r * 7 + c] = (row[f]! - mean[c]!) / scale[c]!; }));
  const session = await ort.InferenceSession.create(BOOK_MODEL);
  const out = await session.run({ float_input: new ort.Tensor('float32', x, [rows.length, 7]) });
  expected = Array.from(out.label!.data as BigInt64Array, (v) => (v === 1n ? 'Rain' : 'No_Rain'));
  await session.release();
  server = await startServer({ repo: writeBookModelFolder(tempDir(), 'batching:\n  max_batch_size: 512\n'), port: 0, grpcPort: 'free', workers: 2 });
});
after(async () => {
  await server?.shutdown();
});

const column = (part: typeof rows, f: string) => fp64(part.map((r) => r[f]!));

test('OIP REST, binary tensors: all 19,289 rows equal onnxruntime', async () => {
  assert.equal(rows.length, 19289);
  const answers: string[] = [];
  for (let i = 0; i < rows.length; i += SIZE) {
    const part = rows.slice(i, i + SIZE);
    const { body, headerLength } = binaryBody(BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [part.length, 1], bytes: column(part, f) })), { parameters: { binary_data_output: true } });
    const res = await request(`${server.url}/v2/models/book-weather/infer`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength) } });
    const bytes = Buffer.from(await res.body.arrayBuffer());
    assert.equal(res.statusCode, 200, bytes.toString());
    answers.push(...readBytesElements(parseBinaryResponse(bytes, Number(res.headers['inference-header-content-length'])).binary.get('prediction')!));
  }
  const wrong = answers.map((a, i) => (a === expected[i] ? -1 : i)).filter((i) => i >= 0);
  assert.equal(answers.length, rows.length);
  assert.deepEqual(wrong, [], `rows answered differently: ${wrong.slice(0, 10).join(', ')}`);
});

test('OIP gRPC, raw contents: all 19,289 rows equal onnxruntime', async () => {
  const { inference, close } = grpcClients(server.grpcPort!);
  try {
    const answers: string[] = [];
    for (let i = 0; i < rows.length; i += SIZE) {
      const part = rows.slice(i, i + SIZE);
      const res = await rpc<{ raw_output_contents: Buffer[] }>(inference, 'ModelInfer', {
        model_name: 'book-weather',
        inputs: BOOK_FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [part.length] })),
        raw_input_contents: BOOK_FIELDS.map((f) => Buffer.from(column(part, f))),
      });
      answers.push(...readBytesElements(res.raw_output_contents[0]!));
    }
    const wrong = answers.map((a, i) => (a === expected[i] ? -1 : i)).filter((i) => i >= 0);
    assert.equal(answers.length, rows.length);
    assert.deepEqual(wrong, [], `rows answered differently: ${wrong.slice(0, 10).join(', ')}`);
  } finally {
    close();
  }
});
