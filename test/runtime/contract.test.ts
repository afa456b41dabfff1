// The InferenceRuntime contract, run against every implementation (InProcessRuntime,
// WorkerPoolRuntime and HybridRuntime) with real onnxruntime sessions on real models. Reference outputs come from a
// plain onnxruntime session created here, so "same outputs as the reference" for both
// implementations means identical outputs between them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import ort from 'onnxruntime-node';
import { readFileSync } from 'node:fs';
import { StartupError } from '../../src/errors.js';
import { InProcessRuntime } from '../../src/runtime/in-process.js';
import type { InferenceRuntime, NamedTensors, TensorData } from '../../src/runtime/types.js';
import { WorkerPoolRuntime } from '../../src/workers/pool.js';
import { HybridRuntime } from '../../src/runtime/hybrid.js';
import { SVC_PATH, svcRows, svcSource, svcTensor, typesSource } from './fixtures.js';
import { rejectsWith } from '../helpers/assert.js';

interface Reference {
  label: BigInt64Array;
  probabilities: Float32Array;
}

async function referenceSvc(rows: number[][]): Promise<Reference> {
  const session = await ort.InferenceSession.create(readFileSync(SVC_PATH));
  const t = svcTensor(rows);
  const out = await session.run({ float_input: new ort.Tensor('float32', t.data as Float32Array, t.dims) });
  await session.release();
  return { label: out.label.data as BigInt64Array, probabilities: out.probabilities.data as Float32Array };
}

function typesFeeds(): NamedTensors {
  return {
    s: { type: 'string', dims: [4], data: ['a', 'b', 'zz', ''] },
    f32: { type: 'float32', dims: [4, 2], data: new Float32Array([1, 2, 3, 4, -0.5, 0.25, 1e30, -1e-30]) },
    f64: { type: 'float64', dims: [4], data: new Float64Array([Math.PI, -0, 1e300, 5e-324]) },
    i32: { type: 'int32', dims: [4], data: new Int32Array([1, -2, 2147483647, -2147483648]) },
    i64: { type: 'int64', dims: [4], data: new BigInt64Array([1n, -2n, 9007199254740993n, 9223372036854775806n]) },
    b: { type: 'bool', dims: [4], data: new Uint8Array([1, 0, 1, 0]) },
  };
}

function runtimeContract(name: string, factory: () => InferenceRuntime): void {
  describe(`InferenceRuntime contract: ${name}`, () => {
    let rt: InferenceRuntime;
    const rows = svcRows(300, 1000);
    let ref: Reference;

    before(async () => {
      rt = factory();
      ref = await referenceSvc(rows);
    });
    after(async () => {
      await rt.close();
    });

    test('load resolves with each model signature', async () => {
      const sigs = await rt.load([svcSource('svc'), typesSource('types')]);
      assert.deepEqual(Object.keys(sigs).sort(), ['svc', 'types']);
      assert.deepEqual(sigs.svc, {
        inputs: [{ name: 'float_input', type: 'float32', shape: [-1, 7] }],
        outputs: [
          { name: 'label', type: 'int64', shape: [-1] },
          { name: 'probabilities', type: 'float32', shape: [-1, 2] },
        ],
      });
      assert.deepEqual(
        sigs.types.inputs.map((i) => [i.name, i.type, i.shape]),
        [['s', 'string', ['N']], ['f32', 'float32', ['N', 2]], ['f64', 'float64', ['N']], ['i32', 'int32', ['N']], ['i64', 'int64', ['N']], ['b', 'bool', ['N']]],
      );
      assert.deepEqual(sigs.types.outputs.map((o) => [o.name, o.type]), [
        ['s_out', 'string'], ['s_code', 'int64'], ['f32_out', 'float32'], ['f64_out', 'float64'], ['i32_out', 'int32'], ['i64_out', 'int64'], ['b_out', 'bool'],
      ]);
      assert.ok(rt.parallelism >= 1);
    });

    test('svc.onnx on 300 real rows gives exactly the reference outputs', async () => {
      const out = await rt.run('svc', { float_input: svcTensor(rows) });
      assert.deepEqual(Object.keys(out).sort(), ['label', 'probabilities']);
      assert.equal(out.label.type, 'int64');
      assert.deepEqual(out.label.dims, [300]);
      assert.ok(out.label.data instanceof BigInt64Array);
      assert.deepEqual(out.label.data, ref.label);
      assert.equal(out.probabilities.type, 'float32');
      assert.deepEqual(out.probabilities.dims, [300, 2]);
      assert.ok(out.probabilities.data instanceof Float32Array);
      assert.deepEqual(out.probabilities.data, ref.probabilities);
      // Both classes occur in this slice, so a constant answer would not pass.
      assert.ok(ref.label.includes(0n) && ref.label.includes(1n));
    });

    test('outputNames limits the outputs', async () => {
      const out = await rt.run('svc', { float_input: svcTensor(rows.slice(0, 5)) }, ['probabilities']);
      assert.deepEqual(Object.keys(out), ['probabilities']);
      assert.deepEqual(out.probabilities.data, ref.probabilities.slice(0, 10));
    });

    test('string, float32, float64, int32, int64 and bool tensors round-trip', async () => {
      const feeds = typesFeeds();
      const out = await rt.run('types', feeds);
      const expect: Record<string, TensorData> = {
        s_out: { type: 'string', dims: [4], data: ['a', 'b', 'zz', ''] },
        s_code: { type: 'int64', dims: [4], data: new BigInt64Array([1n, 2n, -1n, -1n]) },
        f32_out: { type: 'float32', dims: [4, 2], data: new Float32Array([2, 4, 6, 8, -1, 0.5, 2e30, -2e-30]) },
        f64_out: { type: 'float64', dims: [4], data: new Float64Array([Math.PI, -0, 1e300, 5e-324]) },
        i32_out: { type: 'int32', dims: [4], data: new Int32Array([1, -2, 2147483647, -2147483648]) },
        i64_out: { type: 'int64', dims: [4], data: new BigInt64Array([2n, -1n, 9007199254740994n, 9223372036854775807n]) },
        b_out: { type: 'bool', dims: [4], data: new Uint8Array([0, 1, 0, 1]) },
      };
      assert.deepEqual(out, expect);
      // The caller's feeds are untouched (not detached, not modified).
      assert.deepEqual(feeds, typesFeeds());
    });

    test('an unknown model name rejects with MS_ERR_MODEL_NOT_FOUND', async () => {
      await rejectsWith(rt.run('nope', { float_input: svcTensor(rows.slice(0, 1)) }), 'MS_ERR_MODEL_NOT_FOUND', /nope/);
    });

    test('a bad feed rejects with MS_ERR_INFERENCE and the runtime keeps working', async () => {
      await rejectsWith(rt.run('svc', { float_input: { type: 'float32', dims: [2, 3], data: new Float32Array(6) } }), 'MS_ERR_INFERENCE');
      await rejectsWith(rt.run('svc', { float_input: { type: 'float32', dims: [2, 7], data: new Float32Array(5) } }), 'MS_ERR_INFERENCE', /14 values/);
      const out = await rt.run('svc', { float_input: svcTensor(rows.slice(0, 3)) });
      assert.deepEqual(out.label.data, ref.label.slice(0, 3));
    });

    test('corrupt bytes make load reject with MS_ERR_MODEL_LOAD naming the file', async () => {
      const path = '/models/broken/model.onnx';
      const err = await rejectsWith(rt.load([{ name: 'broken', path, bytes: new Uint8Array([8, 7, 1, 2, 3, 255, 0, 42]) }]), 'MS_ERR_MODEL_LOAD');
      assert.ok(err instanceof StartupError);
      assert.ok(err.message.startsWith(`${path}: `), err.message);
      const empty = await rejectsWith(rt.load([{ name: 'empty', path: '/m/empty.onnx', bytes: new Uint8Array(0) }]), 'MS_ERR_MODEL_LOAD');
      assert.match(empty.message, /^\/m\/empty\.onnx: /);
      // The models loaded before are still served; the broken one is not.
      await rt.run('svc', { float_input: svcTensor(rows.slice(0, 1)) });
      await rejectsWith(rt.run('broken', { float_input: svcTensor(rows.slice(0, 1)) }), 'MS_ERR_MODEL_NOT_FOUND');
    });

    test('120 concurrent runs of different sizes all resolve with their own outputs', async () => {
      const runs = [];
      for (let i = 0; i < 120; i++) {
        const start = (i * 7) % 250;
        const n = 1 + (i % 50);
        runs.push(
          rt.run('svc', { float_input: svcTensor(rows.slice(start, start + n)) }).then((out) => ({ out, start, n })),
        );
      }
      const results = await Promise.all(runs);
      for (const { out, start, n } of results) {
        assert.deepEqual(out.label.data, ref.label.slice(start, start + n));
        assert.deepEqual(out.probabilities.data, ref.probabilities.slice(start * 2, (start + n) * 2));
      }
    });

    test('loading a model again under the same name replaces it', async () => {
      const rt2 = factory();
      try {
        const first = await rt2.load([svcSource('m')]);
        assert.equal(first.m.inputs[0].name, 'float_input');
        const second = await rt2.load([typesSource('m')]);
        assert.equal(second.m.inputs[0].name, 's');
        const out = await rt2.run('m', typesFeeds(), ['s_code']);
        assert.deepEqual(out.s_code.data, new BigInt64Array([1n, 2n, -1n, -1n]));
      } finally {
        await rt2.close();
      }
    });

    test('close waits for in-flight runs, then further runs reject with MS_ERR_NOT_READY', async () => {
      const rt2 = factory();
      await rt2.load([svcSource('svc')]);
      const inFlight = [1, 2, 3, 4].map(() => rt2.run('svc', { float_input: svcTensor(rows) }));
      await rt2.close();
      for (const out of await Promise.all(inFlight)) assert.deepEqual(out.label.data, ref.label);
      await rejectsWith(rt2.run('svc', { float_input: svcTensor(rows.slice(0, 1)) }), 'MS_ERR_NOT_READY');
    });
  });
}

runtimeContract('InProcessRuntime', () => new InProcessRuntime({ intraOpThreads: 1, interOpThreads: 1 }));
runtimeContract('WorkerPoolRuntime (2 workers)', () => new WorkerPoolRuntime({ workers: 2, intraOpThreads: 1, interOpThreads: 1 }));
runtimeContract('HybridRuntime (2 workers, cheap batches on the calling thread)', () => new HybridRuntime(new WorkerPoolRuntime({ workers: 2, intraOpThreads: 1, interOpThreads: 1, measureCost: true }), { inlineMaxMs: 2 }));
