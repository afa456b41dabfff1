// The same mistake over OIP REST and over gRPC gets the same answer: the status of the same meaning
// (400 / INVALID_ARGUMENT, 404 / NOT_FOUND, 503 / UNAVAILABLE) and the same message — or, where the
// protocols carry the data differently (REST's "data", gRPC's contents.X or raw_input_contents),
// messages that both name the tensor and the problem. One table, one real server, each mistake sent
// as a REST JSON body, as gRPC typed contents and (where the data is FP64) as gRPC raw contents.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startServer, type RunningServer } from '../../src/server.js';
import { contentsField, isDatatype } from '../../src/protocols/oip/tensors.js';
import { BOOK_FIELDS, BOOK_MODEL, tempDir, writeBookModelFolder } from '../helpers/paths.js';
import { fp64, grpcClients, rpc, type GrpcClient } from '../helpers/oip.js';

interface Tensor { name: string; datatype: string; shape: number[]; data?: unknown[] }
interface Case {
  title: string;
  model?: string;
  version?: string;
  inputs: Tensor[];
  outputs?: string[];
  /** Request parameters as REST sends them, and as gRPC's InferParameter map. */
  rest?: Record<string, unknown>;
  grpcParameters?: Record<string, unknown>;
  http: number;
  code: grpc.status;
  /** true: the messages are equal; a pattern: both match it (a protocol detail differs). */
  same: true | RegExp;
  /** Raw contents' message when it differs from typed contents' (a pattern it must match); false: not sent raw. */
  raw?: RegExp | false;
}

const four = [1, 2, 3, 4];
/** A column tensor; data null: none at all. */
const column = (name: string, data: unknown[] | null = four, datatype = 'FP64', shape = [4, 1]): Tensor => ({ name, datatype, shape, ...(data === null ? {} : { data }) });
const book = (change: Partial<Record<string, Tensor | null>> = {}): Tensor[] => BOOK_FIELDS.flatMap((f) => (change[f] === null ? [] : [change[f] ?? column(f)]));

const CASES: Case[] = [
  { title: 'no inputs', inputs: [], http: 400, code: grpc.status.INVALID_ARGUMENT, same: true, raw: false },
  { title: 'a tensor without data', inputs: book({ temp_c: column('temp_c', null) }), http: 400, code: grpc.status.INVALID_ARGUMENT, same: /^input 'temp_c': has no data \(shape \[4, 1\] holds 4 elements; give /, raw: /^input 'temp_c': raw_input_contents is 0 bytes but shape \[4, 1\] of FP64 needs 32$/ },
  { title: 'a tensor with empty data', inputs: book({ temp_c: column('temp_c', []) }), http: 400, code: grpc.status.INVALID_ARGUMENT, same: /^input 'temp_c': has no data \(shape \[4, 1\] holds 4 elements; give /, raw: /^input 'temp_c': raw_input_contents is 0 bytes/ },
  { title: 'shape and data disagree', inputs: book({ humidity: column('humidity', [1, 2, 3]) }), http: 400, code: grpc.status.INVALID_ARGUMENT, same: /^input 'humidity': shape \[4, 1\] holds 4 elements but (data|contents\.fp64_contents) has 3$/, raw: /^input 'humidity': raw_input_contents is 24 bytes but shape \[4, 1\] of FP64 needs 32$/ },
  { title: 'a datatype the field does not take', inputs: book({ temp_c: column('temp_c', [true, false, true, false], 'BOOL') }), http: 400, code: grpc.status.INVALID_ARGUMENT, same: true, raw: false },
  { title: 'an unknown datatype', inputs: book({ temp_c: column('temp_c', four, 'FLOAT') }), http: 400, code: grpc.status.INVALID_ARGUMENT, same: true },
  { title: 'FP16', inputs: book({ temp_c: column('temp_c', four, 'FP16') }), http: 400, code: grpc.status.INVALID_ARGUMENT, same: true },
  { title: 'a huge shape', inputs: book({ temp_c: column('temp_c', null, 'FP64', [100_000, 100_000]) }), http: 400, code: grpc.status.INVALID_ARGUMENT, same: true },
  { title: 'an unknown input', inputs: [...book(), column('colour')], http: 400, code: grpc.status.INVALID_ARGUMENT, same: true },
  { title: 'a missing input', inputs: book({ humidity: null }), http: 400, code: grpc.status.INVALID_ARGUMENT, same: true },
  { title: 'an input given twice', inputs: [...book(), column('temp_c')], http: 400, code: grpc.status.INVALID_ARGUMENT, same: true },
  { title: 'rows that disagree', inputs: book({ humidity: column('humidity', [1, 2], 'FP64', [2, 1]) }), http: 400, code: grpc.status.INVALID_ARGUMENT, same: true },
  { title: 'an unknown output', inputs: book(), outputs: ['colour'], http: 400, code: grpc.status.INVALID_ARGUMENT, same: true },
  { title: 'an output requested twice', inputs: book(), outputs: ['prediction', 'prediction'], http: 400, code: grpc.status.INVALID_ARGUMENT, same: true },
  { title: 'a negative timeout parameter', inputs: book(), rest: { timeout: -1 }, grpcParameters: { timeout: { int64_param: -1 } }, http: 400, code: grpc.status.INVALID_ARGUMENT, same: true },
  { title: 'a timeout parameter that is not an integer', inputs: book(), rest: { timeout: 1.5 }, grpcParameters: { timeout: { double_param: 1.5 } }, http: 400, code: grpc.status.INVALID_ARGUMENT, same: true },
  { title: 'a timeout parameter that is a string', inputs: book(), rest: { timeout: '100' }, grpcParameters: { timeout: { string_param: '100' } }, http: 400, code: grpc.status.INVALID_ARGUMENT, same: true },
  { title: 'an unknown model', model: 'no-such-model', inputs: book(), http: 404, code: grpc.status.NOT_FOUND, same: true },
  { title: 'an unknown version', version: '7', inputs: book(), http: 404, code: grpc.status.NOT_FOUND, same: true },
  { title: 'a version that is not a number', version: 'latest', inputs: book(), http: 404, code: grpc.status.NOT_FOUND, same: true },
  { title: 'an unloaded model', model: 'unloaded', inputs: book(), http: 503, code: grpc.status.UNAVAILABLE, same: true },
];

let server: RunningServer;
let inference: GrpcClient;
let closeClients: () => void;

before(async () => {
  const repo = tempDir();
  writeBookModelFolder(repo);
  mkdirSync(join(repo, 'unloaded'));
  symlinkSync(BOOK_MODEL, join(repo, 'unloaded', 'svc.onnx'));
  server = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, logger: false });
  // Unloaded through the repository API: 503 MS_ERR_MODEL_UNAVAILABLE.
  const unload = await fetch(`${server.url}/v2/repository/models/unloaded/unload`, { method: 'POST' });
  assert.equal(unload.status, 200, await unload.text());
  ({ inference, close: closeClients } = grpcClients(server.grpcPort!));
});
after(async () => {
  closeClients?.();
  await server?.shutdown();
});

async function overRest(c: Case): Promise<{ status: number; message: string }> {
  const model = c.model ?? 'book-weather';
  const path = c.version === undefined ? `/v2/models/${model}/infer` : `/v2/models/${model}/versions/${c.version}/infer`;
  const body = { inputs: c.inputs, ...(c.outputs ? { outputs: c.outputs.map((name) => ({ name })) } : {}), ...(c.rest ? { parameters: c.rest } : {}) };
  const res = await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, message: (JSON.parse(text) as { error: string }).error };
}

async function overGrpc(c: Case, raw: boolean): Promise<{ code: grpc.status; message: string }> {
  const request = {
    model_name: c.model ?? 'book-weather',
    model_version: c.version ?? '',
    inputs: c.inputs.map((t) => ({
      name: t.name, datatype: t.datatype, shape: t.shape,
      ...(raw || t.data === undefined ? {} : { contents: { [contentsField(isDatatype(t.datatype) ? t.datatype : 'FP64')]: t.data } }),
    })),
    ...(raw ? { raw_input_contents: c.inputs.map((t) => Buffer.from(fp64((t.data ?? []) as number[]))) } : {}),
    outputs: (c.outputs ?? []).map((name) => ({ name })),
    ...(c.grpcParameters ? { parameters: c.grpcParameters } : {}),
  };
  try {
    await rpc(inference, 'ModelInfer', request);
  } catch (err) {
    const e = err as grpc.ServiceError;
    return { code: e.code, message: e.details };
  }
  return assert.fail(`${c.title}: gRPC answered without an error`);
}

for (const c of CASES) {
  test(`OIP REST and gRPC answer ${c.title} alike`, async () => {
    const rest = await overRest(c);
    assert.equal(rest.status, c.http, `REST: ${rest.message}`);
    const typed = await overGrpc(c, false);
    assert.equal(typed.code, c.code, `gRPC: ${typed.message}`);
    if (c.same === true) assert.equal(typed.message, rest.message);
    else {
      assert.match(rest.message, c.same, 'REST');
      assert.match(typed.message, c.same, 'gRPC typed contents');
    }
    if (c.raw === false || c.inputs.some((t) => t.datatype !== 'FP64')) return;
    const raw = await overGrpc(c, true);
    assert.equal(raw.code, c.code, `gRPC raw: ${raw.message}`);
    if (c.raw === undefined && c.same === true) assert.equal(raw.message, rest.message, 'gRPC raw contents');
    else assert.match(raw.message, c.raw ?? (c.same as RegExp), 'gRPC raw contents');
  });
}
