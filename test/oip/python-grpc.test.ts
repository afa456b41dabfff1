// An independent gRPC client: Debian's Python gRPC (python3-grpcio), with stubs generated from the
// project's .proto by python3-grpc-tools at test time, against the running server — health,
// metadata, ModelInfer with raw contents (as tritonclient sends) and typed contents, and Triton's
// streaming ModelStreamInfer.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/server.js';
import { bookRows, tempDir, writeBookModelFolder } from '../helpers/paths.js';
import { call } from '../helpers/http.js';
import { generatePythonStubs } from '../helpers/oip.js';

const PYTHON = '/usr/bin/python3';
let server: RunningServer;
let stubs: string;


const CLIENT = `
import json, struct, sys
import grpc
import grpc_service_pb2 as pb, grpc_service_pb2_grpc as rpc
import model_config_pb2
from google.protobuf import json_format
import health_pb2, health_pb2_grpc

fields = ["temp_c", "humidity", "wind_speed_kmph", "wind_bearing_degree", "visibility_km", "pressure_millibars", "current_weather_condition"]
rows = json.loads(sys.argv[2])
channel = grpc.insecure_channel(sys.argv[1])
stub = rpc.GRPCInferenceServiceStub(channel)
out = {}
out["live"] = stub.ServerLive(pb.ServerLiveRequest()).live
out["ready"] = stub.ServerReady(pb.ServerReadyRequest()).ready
meta = stub.ModelMetadata(pb.ModelMetadataRequest(name="book-weather"))
out["inputs"] = [(t.name, t.datatype, list(t.shape)) for t in meta.inputs]
out["view"] = meta.properties["view"]

# Triton's ModelConfig, read the way tritonclient's get_model_config(as_json=True) does.
config = stub.ModelConfig(pb.ModelConfigRequest(name="book-weather")).config
out["config"] = json_format.MessageToDict(config, preserving_proto_field_name=True)
out["input_type"] = model_config_pb2.DataType.Name(config.input[0].data_type)

# raw_input_contents: little-endian FP64 columns, as tritonclient sends them.
req = pb.ModelInferRequest(model_name="book-weather", id="py-1")
for f in fields:
    t = req.inputs.add(name=f, datatype="FP64", shape=[len(rows), 1])
    req.raw_input_contents.append(struct.pack("<%dd" % len(rows), *[r[f] for r in rows]))
res = stub.ModelInfer(req)
out["id"] = res.id
raw = res.raw_output_contents[0]
labels, i = [], 0
while i < len(raw):
    (n,) = struct.unpack_from("<I", raw, i)
    labels.append(raw[i + 4:i + 4 + n].decode())
    i += 4 + n
out["raw_labels"] = labels

# typed contents
req = pb.ModelInferRequest(model_name="book-weather")
for f in fields:
    t = req.inputs.add(name=f, datatype="FP64", shape=[len(rows)])
    t.contents.fp64_contents.extend([r[f] for r in rows])
res = stub.ModelInfer(req)
out["typed_labels"] = [b.decode() for b in res.outputs[0].contents.bytes_contents]

# a bad request: INVALID_ARGUMENT naming the tensor
req.inputs[0].datatype = "BYTES"
try:
    stub.ModelInfer(req)
except grpc.RpcError as e:
    out["error"] = [e.code().name, e.details()]

# an unknown model with a 20,000-character name: NOT_FOUND (the name echoed in full made the status
# header larger than gRPC's C core accepts, which it reported as RESOURCE_EXHAUSTED)
for call_name, request in [("ModelInfer", pb.ModelInferRequest(model_name="a" * 20000)), ("ModelReady", pb.ModelReadyRequest(name="a" * 20000))]:
    try:
        getattr(stub, call_name)(request)
        out[call_name + "_long"] = ["OK", ""]
    except grpc.RpcError as e:
        out[call_name + "_long"] = [e.code().name, e.details()]
try:
    health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="s" * 20000))
except grpc.RpcError as e:
    out["health_long"] = [e.code().name, e.details()]

# Triton's streaming inference, as tritonclient's start_stream/async_stream_infer use it: a
# request iterator in, one ModelStreamInferResponse per request out (a bad one in error_message).
def stream_requests():
    for k in range(len(rows)):
        r = pb.ModelInferRequest(model_name="book-weather", id="s%d" % k)
        for f in fields:
            r.inputs.add(name=f, datatype="FP64", shape=[1, 1])
            r.raw_input_contents.append(struct.pack("<d", rows[k][f]))
        yield r
    bad = pb.ModelInferRequest(model_name="book-weather", id="bad")
    bad.inputs.add(name="colour", datatype="FP64", shape=[1]).contents.fp64_contents.append(1)
    yield bad
streamed = {}
for answer in stub.ModelStreamInfer(stream_requests()):
    if answer.error_message:
        streamed["error"] = answer.error_message
    else:
        raw = answer.infer_response.raw_output_contents[0]
        streamed[answer.infer_response.id] = raw[4:4 + struct.unpack_from("<I", raw, 0)[0]].decode()
out["streamed"] = streamed

health = health_pb2_grpc.HealthStub(channel)
out["health"] = health_pb2.HealthCheckResponse.ServingStatus.Name(health.Check(health_pb2.HealthCheckRequest(service="")).status)
print(json.dumps(out))
`;

before(async () => {
  stubs = generatePythonStubs();
  writeFileSync(join(stubs, 'client.py'), CLIENT);
  server = await startServer({ repo: writeBookModelFolder(tempDir()), port: 0, grpcPort: 'free', workers: 1 });
});
after(async () => {
  await server?.shutdown();
});

test('Python grpcio with stubs generated from proto/: metadata, raw and typed ModelInfer, ModelStreamInfer, errors, health', async () => {
  const rows = bookRows(6);
  const expected = ((await call(`${server.url}/predict`, { body: rows })).body as Array<{ prediction: string }>).map((p) => p.prediction);
  // Asynchronously: the server runs in this process.
  const { stdout: output } = await promisify(execFile)(PYTHON, [join(stubs, 'client.py'), `127.0.0.1:${server.grpcPort}`, JSON.stringify(rows)], { cwd: stubs, encoding: 'utf8', timeout: 60_000 });
  const out = JSON.parse(output);
  assert.equal(out.live, true);
  assert.equal(out.ready, true);
  assert.equal(out.view, 'fields');
  assert.deepEqual(out.inputs[0], ['temp_c', 'FP64', [-1, 1]]);
  // ModelConfig: the REST config's content (protobuf's JSON mapping writes int64 as strings).
  const restConfig = (await call(`${server.url}/v2/models/book-weather/config`)).body;
  assert.equal(out.input_type, 'TYPE_FP64');
  assert.equal(out.config.name, restConfig.name);
  assert.equal(out.config.max_batch_size, restConfig.max_batch_size);
  assert.deepEqual(out.config.input, restConfig.input.map((t: { dims: number[] }) => ({ ...t, dims: t.dims.map(String) })));
  assert.deepEqual(out.config.output, restConfig.output.map((t: { dims: number[] }) => ({ ...t, dims: t.dims.map(String) })));
  assert.deepEqual(out.config.parameters, restConfig.parameters);
  assert.deepEqual(out.config.version_policy, restConfig.version_policy);
  assert.equal(out.config.backend, 'onnxruntime');
  assert.equal(out.id, 'py-1');
  assert.deepEqual(out.raw_labels, expected);
  assert.deepEqual(out.typed_labels, expected);
  for (const key of ['ModelInfer_long', 'ModelReady_long', 'health_long']) {
    assert.equal(out[key][0], 'NOT_FOUND', `${key}: ${out[key].join(' ')}`);
    assert.ok(out[key][1].length < 400, `${key}: the message is short (${out[key][1].length} characters)`);
  }
  assert.equal(out.error[0], 'INVALID_ARGUMENT');
  assert.match(out.error[1], /input 'temp_c': .*datatype BYTES reads bytes_contents/);
  assert.equal(out.health, 'SERVING');
  assert.deepEqual(Object.keys(out.streamed).sort(), ['error', ...rows.map((_, k) => `s${k}`)].sort());
  assert.deepEqual(rows.map((_, k) => out.streamed[`s${k}`]), expected);
  assert.match(out.streamed.error, /unknown input 'colour'/);
});
