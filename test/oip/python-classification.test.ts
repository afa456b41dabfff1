// Triton's classification extension through an independent gRPC client: Debian's Python gRPC
// (python3-grpcio) with stubs generated from proto/ by python3-grpc-tools, against a real server
// with the weather example (its whole probabilities output added) and the loan example. A requested
// output with parameters {"classification": InferParameter(int64_param=K)}, raw contents decoded as
// tritonclient does (4-byte little-endian length, then the bytes), typed contents, ModelStreamInfer,
// and hostile parameter values; the expected classes are the top K of the plain REST answer.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/server.js';
import { EXAMPLES, tempDir } from '../helpers/paths.js';
import { call } from '../helpers/http.js';
import { generatePythonStubs } from '../helpers/oip.js';

const PYTHON = '/usr/bin/python3';
const WEATHER = join(EXAMPLES, 'weather');
const FIELDS = ['temp_c', 'humidity', 'wind_speed_kmph', 'wind_bearing_degree', 'visibility_km', 'pressure_millibars', 'current_weather_condition'];
const rows = (JSON.parse(readFileSync(join(WEATHER, 'testset.json'), 'utf8')) as { rows: Array<Record<string, number>> }).rows.slice(0, 5);
const LOAN = [
  { Term: 84, NoEmp: 5, CreateJob: 0, RetainedJob: 5, longitude: -87.6298, latitude: 41.8781, GrAppv: 150000, SBA_Appv: 127500, is_new: 'False', FranchiseCode: '1', UrbanRural: 1, City: 'CHICAGO', State: 'IL', Bank: 'JPMORGAN CHASE BANK NATL ASSOC', BankState: 'OH', RevLineCr: 'N', naics_first_two: '44', same_state: 'False' },
  { Term: 240, NoEmp: 40, CreateJob: 2, RetainedJob: 10, longitude: -122.4, latitude: 37.77, GrAppv: 900000, SBA_Appv: 675000, is_new: 'True', FranchiseCode: '0', UrbanRural: 2, City: 'SAN FRANCISCO', State: 'CA', Bank: 'WELLS FARGO BANK NATL ASSOC', BankState: 'CA', RevLineCr: 'Y', naics_first_two: '72', same_state: 'True' },
];

const CLIENT = `
import json, struct, sys
import grpc
import grpc_service_pb2 as pb, grpc_service_pb2_grpc as rpc

args = json.loads(sys.argv[2])
fields, rows, loan = args["fields"], args["rows"], args["loan"]
stub = rpc.GRPCInferenceServiceStub(grpc.insecure_channel(sys.argv[1]))
out = {}

def read_bytes(raw):
    # tritonclient's deserialize_bytes_tensor: 4-byte little-endian length, then the bytes
    items, i = [], 0
    while i < len(raw):
        (n,) = struct.unpack_from("<I", raw, i)
        items.append(raw[i + 4:i + 4 + n].decode())
        i += 4 + n
    return items

def weather(model_rows, outputs, raw=True, params=None):
    req = pb.ModelInferRequest(model_name="weather-probs")
    for f in fields:
        t = req.inputs.add(name=f, datatype="FP64", shape=[len(model_rows), 1])
        if raw:
            req.raw_input_contents.append(struct.pack("<%dd" % len(model_rows), *[r[f] for r in model_rows]))
        else:
            t.contents.fp64_contents.extend([r[f] for r in model_rows])
    for name, k in outputs:
        o = req.outputs.add(name=name)
        if k is not None:
            o.parameters["classification"].CopyFrom(k)
    for key, value in (params or {}).items():
        req.parameters[key].CopyFrom(value)
    return req

def answer(res, raw=True):
    if raw:
        return [[o.name, o.datatype, list(o.shape), read_bytes(res.raw_output_contents[i]) if o.datatype == "BYTES" else None] for i, o in enumerate(res.outputs)]
    return [[o.name, o.datatype, list(o.shape), [b.decode() for b in o.contents.bytes_contents]] for o in res.outputs]

K = lambda k: pb.InferParameter(int64_param=k)
res = stub.ModelInfer(weather(rows, [("probabilities", K(2)), ("prediction", None), ("rain_probability", K(1))]))
out["raw"] = answer(res)
out["typed"] = answer(stub.ModelInfer(weather(rows, [("probabilities", K(1))], raw=False)), raw=False)

# loan: inputs of three datatypes from the model's metadata, as raw contents
meta = stub.ModelMetadata(pb.ModelMetadataRequest(name="loan"))
req = pb.ModelInferRequest(model_name="loan")
for t in meta.inputs:
    req.inputs.add(name=t.name, datatype=t.datatype, shape=[len(loan), 1])
    values = [r[t.name] for r in loan]
    if t.datatype == "BYTES":
        req.raw_input_contents.append(b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values))
    elif t.datatype == "FP64":
        req.raw_input_contents.append(struct.pack("<%dd" % len(values), *values))
    elif t.datatype == "INT64":
        req.raw_input_contents.append(struct.pack("<%dq" % len(values), *values))
    else:
        raise SystemExit("unexpected datatype " + t.datatype)
req.outputs.add(name="default_proba").parameters["classification"].CopyFrom(K(3))
out["loan"] = answer(stub.ModelInfer(req))

# hostile values: each either answered or INVALID_ARGUMENT
hostile = {
    "uint64_2^63": ("probabilities", pb.InferParameter(uint64_param=2**63)),
    "int64_max": ("probabilities", pb.InferParameter(int64_param=2**63 - 1)),
    "int64_1e18": ("probabilities", pb.InferParameter(int64_param=10**18)),
    "double_2": ("probabilities", pb.InferParameter(double_param=2.0)),
    "double_2.5": ("probabilities", pb.InferParameter(double_param=2.5)),
    "double_1e300": ("probabilities", pb.InferParameter(double_param=1e300)),
    "double_inf": ("probabilities", pb.InferParameter(double_param=float("inf"))),
    "string_3": ("probabilities", pb.InferParameter(string_param="3")),
    "bool_true": ("probabilities", pb.InferParameter(bool_param=True)),
    "int64_-1": ("probabilities", pb.InferParameter(int64_param=-1)),
    "int64_0": ("probabilities", pb.InferParameter(int64_param=0)),
    "int64_-2^63": ("probabilities", pb.InferParameter(int64_param=-2**63)),
    "bytes_output": ("prediction", K(1)),
    "unknown_output": ("colour", K(1)),
}
out["hostile"] = {}
for key, (name, k) in hostile.items():
    try:
        out["hostile"][key] = ["OK", answer(stub.ModelInfer(weather(rows[:1], [(name, k)])))]
    except grpc.RpcError as e:
        out["hostile"][key] = [e.code().name, e.details()]
try:
    stub.ModelInfer(weather(rows[:1], [], params={"classification": K(2)}))
    out["request_level"] = ["OK", ""]
except grpc.RpcError as e:
    out["request_level"] = [e.code().name, e.details()]

# ModelStreamInfer: one request a row with K alternating, then bad ones answered in error_message
def stream_requests():
    for k in range(len(rows)):
        r = weather([rows[k]], [("probabilities", K(1 + k % 2))])
        r.id = "s%d" % k
        yield r
    bad = weather([rows[0]], [("probabilities", K(0))])
    bad.id = "bad-k"
    yield bad
    bad = weather([rows[0]], [("prediction", K(1))])
    bad.id = "bad-output"
    yield bad
streamed = {"errors": []}
for a in stub.ModelStreamInfer(stream_requests()):
    if a.error_message:
        streamed["errors"].append(a.error_message)
    else:
        streamed[a.infer_response.id] = answer(a.infer_response)
out["streamed"] = streamed
print(json.dumps(out))
`;

let server: RunningServer;
let stubs: string;

before(async () => {
  stubs = generatePythonStubs();
  writeFileSync(join(stubs, 'client.py'), CLIENT);
  const repo = tempDir();
  mkdirSync(join(repo, 'weather-probs'));
  const yaml = readFileSync(join(WEATHER, 'model.yaml'), 'utf8').replace(/^name: weather$/m, 'name: weather-probs').replace(/^model: model.onnx$/m, `model: ${join(WEATHER, 'model.onnx')}`);
  writeFileSync(join(repo, 'weather-probs', 'model.yaml'), `${yaml}  probabilities:\n    from: probabilities\n`);
  symlinkSync(join(EXAMPLES, 'loan'), join(repo, 'loan'));
  server = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1 });
});
after(async () => {
  await server?.shutdown();
});

/** The plain REST answer of one output. */
async function plain(model: string, inputs: unknown[], name: string): Promise<Array<number | string>> {
  const res = await call(`${server.url}/v2/models/${model}/infer`, { body: { inputs, outputs: [{ name }] } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return (res.body as { outputs: Array<{ data: Array<number | string> }> }).outputs[0]!.data;
}

/** Classes as "<index>[:<label>]" and their values, per row of `width`: the top K of the plain answer, ties lower index first. */
function topK(data: number[], width: number, k: number, label: (i: number) => string | undefined): Array<{ key: string; value: number }> {
  const out: Array<{ key: string; value: number }> = [];
  for (let r = 0; r < data.length / width; r++) {
    const row = data.slice(r * width, (r + 1) * width).map((v, i) => ({ v, i }));
    row.sort((a, b) => b.v - a.v || a.i - b.i);
    for (const { v, i } of row.slice(0, k)) out.push({ key: label(i) === undefined ? String(i) : `${i}:${label(i)}`, value: v });
  }
  return out;
}

/** "<value>:<index>[:<label>]" strings checked against topK (values as FP32: the server writes an FP32 in its shortest text). */
function assertClasses(actual: string[], want: Array<{ key: string; value: number }>, what: string): void {
  assert.equal(actual.length, want.length, what);
  actual.forEach((s, i) => {
    const [value, ...key] = s.split(':');
    assert.equal(key.join(':'), want[i]!.key, `${what} element ${i}: ${s}`);
    assert.equal(Math.fround(Number(value)), Math.fround(want[i]!.value), `${what} element ${i}: ${s}`);
  });
}

test('Python grpcio: classification over ModelInfer (raw and typed contents), ModelStreamInfer and hostile K values', async () => {
  const columns = (rs: typeof rows) => FIELDS.map((f) => ({ name: f, datatype: 'FP64', shape: [rs.length, 1], data: rs.map((r) => r[f]!) }));
  const probabilities = (await plain('weather-probs', columns(rows), 'probabilities')) as number[];
  const rain = (await plain('weather-probs', columns(rows), 'rain_probability')) as number[];
  const prediction = await plain('weather-probs', columns(rows), 'prediction');
  const labels = ['No_Rain', 'Rain'];
  const meta = (await call(`${server.url}/v2/models/loan`)).body as { inputs: Array<{ name: string; datatype: string }> };
  const loanInputs = meta.inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: [LOAN.length, 1], data: LOAN.map((s) => s[i.name as keyof typeof s]) }));
  const loanProba = (await plain('loan', loanInputs, 'default_proba')) as number[];

  const { stdout } = await promisify(execFile)(PYTHON, [join(stubs, 'client.py'), `127.0.0.1:${server.grpcPort}`, JSON.stringify({ fields: FIELDS, rows, loan: LOAN })], { cwd: stubs, encoding: 'utf8', timeout: 120_000 });
  const out = JSON.parse(stdout);

  // Raw contents: two classified outputs and a plain BYTES one between them, in the order asked.
  const [probs, pred, rainClasses] = out.raw;
  assert.deepEqual(probs.slice(0, 3), ['probabilities', 'BYTES', [rows.length, 2]]);
  assertClasses(probs[3], topK(probabilities, 2, 2, (i) => labels[i]), 'raw probabilities');
  assert.deepEqual(pred, ['prediction', 'BYTES', [rows.length, 1], prediction]);
  assert.deepEqual(rainClasses.slice(0, 3), ['rain_probability', 'BYTES', [rows.length, 1]]);
  assertClasses(rainClasses[3], topK(rain, 1, 1, () => 'Rain'), 'raw rain_probability');
  // Typed contents: bytes_contents.
  assert.deepEqual(out.typed[0].slice(0, 3), ['probabilities', 'BYTES', [rows.length, 1]]);
  assertClasses(out.typed[0][3], topK(probabilities, 2, 1, (i) => labels[i]), 'typed probabilities');
  // loan: a TreeEnsembleClassifier's column output, its class the value 1; K = 3 past its one element.
  assert.deepEqual(out.loan[0].slice(0, 3), ['default_proba', 'BYTES', [LOAN.length, 1]]);
  assertClasses(out.loan[0][3], topK(loanProba, 1, 3, () => '1'), 'loan default_proba');

  // Hostile K: a count past the classes (however given as a whole number) answers every class; anything else is INVALID_ARGUMENT naming the output.
  const everyClass = topK(probabilities.slice(0, 2), 2, 2, (i) => labels[i]);
  for (const key of ['uint64_2^63', 'int64_max', 'int64_1e18', 'double_1e300']) {
    assert.equal(out.hostile[key][0], 'OK', `${key}: ${out.hostile[key][1]}`);
    assert.deepEqual(out.hostile[key][1][0].slice(0, 3), ['probabilities', 'BYTES', [1, 2]], key);
    assertClasses(out.hostile[key][1][0][3], everyClass, key);
  }
  assert.equal(out.hostile.double_2[0], 'OK');
  for (const [key, shown] of [['double_2.5', '2.5'], ['double_inf', 'Infinity'], ['string_3', '"3"'], ['bool_true', 'true'], ['int64_-1', '-1'], ['int64_0', '0'], ['int64_-2^63', '-9223372036854775808']]) {
    assert.equal(out.hostile[key!][0], 'INVALID_ARGUMENT', `${key}: ${out.hostile[key!][1]}`);
    assert.equal(out.hostile[key!][1], `output 'probabilities': parameters.classification must be a positive integer (how many classes to return), not ${shown}`, key);
  }
  assert.deepEqual(out.hostile.bytes_output, ['INVALID_ARGUMENT', "output 'prediction': parameters.classification needs an output of numbers to rank, but 'prediction' is BYTES"]);
  assert.equal(out.hostile.unknown_output[0], 'INVALID_ARGUMENT');
  assert.match(out.hostile.unknown_output[1], /unknown output 'colour'/);
  assert.equal(out.request_level[0], 'INVALID_ARGUMENT');
  assert.match(out.request_level[1], /parameters.classification is a requested output's parameter, not the request's/);

  // ModelStreamInfer: each row its own K, the bad requests answered in error_message while the stream goes on.
  rows.forEach((_, k) => {
    const answer = out.streamed[`s${k}`];
    assert.ok(answer, `s${k} answered`);
    assert.deepEqual(answer[0].slice(0, 3), ['probabilities', 'BYTES', [1, 1 + (k % 2)]]);
    assertClasses(answer[0][3], topK(probabilities.slice(2 * k, 2 * k + 2), 2, 1 + (k % 2), (i) => labels[i]), `streamed s${k}`);
  });
  assert.equal(out.streamed.errors.length, 2);
  assert.match(out.streamed.errors[0], /output 'probabilities': parameters.classification must be a positive integer.*not 0/);
  assert.match(out.streamed.errors[1], /output 'prediction': parameters.classification needs an output of numbers to rank/);
});
