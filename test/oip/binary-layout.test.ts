// The binary tensor layout of BYTES outputs (4-byte little-endian length, then the UTF-8 bytes),
// written char by char for short ASCII elements and by Node's encoder otherwise: both must give
// the layout exactly, at the boundaries between them (64/65 chars, the first non-ASCII char).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromBytes, toBytes } from '../../src/protocols/oip/tensors.js';
import { inferResponseBody } from '../../src/protocols/oip/rest-body.js';

const ELEMENTS = ['', 'Rain', 'No_Rain', '\u007f', '\u0080', 'é', 'ü漢字', '😀', 'a'.repeat(64), 'b'.repeat(65), `${'c'.repeat(63)}é`, `${'d'.repeat(300)}é`];

/** The layout built the plain way, one encoded Buffer per element. */
function expectedLayout(values: string[]): Buffer {
  return Buffer.concat(values.flatMap((v) => {
    const bytes = Buffer.from(v, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32LE(bytes.byteLength);
    return [length, bytes];
  }));
}

test('toBytes writes every BYTES element in the binary layout, ASCII or not, short or long', () => {
  const bytes = toBytes({ name: 'p', datatype: 'BYTES', shape: [ELEMENTS.length], values: ELEMENTS });
  assert.deepEqual(Buffer.from(bytes), expectedLayout(ELEMENTS));
  assert.deepEqual(fromBytes('p', 'BYTES', [ELEMENTS.length], bytes).values, ELEMENTS);
});

test('a binary answer is its JSON header then the outputs\' bytes, whose length Inference-Header-Content-Length gives', () => {
  const probabilities = new Float64Array([0.25, 0.5, 0.125]);
  const outputs = [
    { name: 'label', datatype: 'BYTES' as const, shape: [3, 1], values: ['Rain', 'ü', 'No_Rain'] },
    { name: 'p', datatype: 'FP64' as const, shape: [3, 1], values: probabilities },
  ];
  const { body, headerLength } = inferResponseBody({ model_name: 'mödel', model_version: '1' }, outputs, { binaryDefault: true });
  assert.ok(headerLength !== undefined);
  const header = JSON.parse(body.subarray(0, headerLength).toString('utf8')) as { model_name: string; outputs: Array<{ parameters: { binary_data_size: number } }> };
  assert.equal(header.model_name, 'mödel');
  const labels = expectedLayout(['Rain', 'ü', 'No_Rain']);
  assert.deepEqual(header.outputs.map((o) => o.parameters.binary_data_size), [labels.byteLength, 24]);
  assert.deepEqual(body.subarray(headerLength), Buffer.concat([labels, Buffer.from(probabilities.buffer)]));
  // An output asked for as JSON stays in the header.
  const mixed = inferResponseBody({ model_name: 'm', model_version: '1' }, outputs, { binaryDefault: false, outputs: [{ name: 'label', binary: false }, { name: 'p', binary: true }] });
  const json = JSON.parse(mixed.body.subarray(0, mixed.headerLength).toString('utf8')) as { outputs: Array<{ data?: unknown }> };
  assert.deepEqual(json.outputs[0]!.data, ['Rain', 'ü', 'No_Rain']);
  assert.equal(mixed.body.byteLength - mixed.headerLength!, 24);
});
