// Every example in the README runs: the book config serves the real svc.onnx, the curl body gets
// the answer the README shows, the 422 shown is the real one, and the options table is current.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../src/server.js';
import { serveOptionsMarkdown } from '../src/cli/serve-options.js';
import { BOOK_MODEL, CLI, REPO, tempDir } from './helpers/paths.js';
import { call } from './helpers/http.js';

const README = readFileSync(join(REPO, 'README.md'), 'utf8');

/** The fenced block right after `<!-- readme-example: NAME -->`. */
function example(name: string): string {
  const at = README.indexOf(`<!-- readme-example: ${name} -->`);
  assert.ok(at >= 0, `README has no example ${name}`);
  const m = /```\w*\n([\s\S]*?)```/.exec(README.slice(at));
  assert.ok(m, `no code block after example ${name}`);
  return m[1]!;
}

let server: RunningServer;
before(async () => {
  const repo = tempDir();
  mkdirSync(join(repo, 'book-weather'));
  writeFileSync(join(repo, 'book-weather', 'model.yaml'), example('book-config'));
  symlinkSync(BOOK_MODEL, join(repo, 'book-weather', 'svc.onnx'));
  server = await startServer({ repo, port: 0, workers: 1 });
});
after(async () => {
  await server?.shutdown();
});

test('README: the book config serves svc.onnx and the curl example answers as shown', async () => {
  const curl = example('book-request');
  const body = JSON.parse(/-d '([^']+)'/.exec(curl)![1]!);
  const res = await call(`${server.url}/predict`, { body });
  assert.equal(res.status, 200);
  assert.ok(README.includes(`answers \`${res.text}\``), `README should show ${res.text}`);
});

test('README: the 422 example is what the server answers', async () => {
  const body = JSON.parse(/-d '([^']+)'/.exec(example('book-request'))![1]!);
  const res = await call(`${server.url}/predict`, { body: { ...body, humidity: 83 } });
  assert.equal(res.status, 422);
  assert.ok(README.includes(res.text), `README should show ${res.text}`);
});

test('README: the start-up check example is what serve prints for the book config with those two mistakes', async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'models', 'book-weather'), { recursive: true });
  writeFileSync(join(dir, 'models', 'book-weather', 'model.yaml'), example('book-config').replace('float_input:', 'features:').replace('from: label', 'from: labels'));
  symlinkSync(BOOK_MODEL, join(dir, 'models', 'book-weather', 'svc.onnx'));
  const err = await promisify(execFile)(process.execPath, [CLI, 'serve', 'models', '--port', '0', '--grpc-port', '0', '--workers', '1'], { cwd: dir }).then(() => assert.fail('serve started'), (e: { code: number; stderr: string }) => e);
  assert.equal(err.code, 1);
  assert.equal(err.stderr, example('startup-check'));
});

test('README: the quick-start curl answers as shown, on the example models', async () => {
  const examples = await startServer({ repo: join(REPO, 'examples'), port: 0, workers: 1 });
  try {
    const snippet = example('quickstart-request');
    const body = JSON.parse(/-d '([^']+)'/.exec(snippet.replace(/\\\n\s*/g, ''))![1]!.replace(/\s*\n\s*/g, ' '));
    const res = await call(`${examples.url}/predict`, { body });
    const shown = /# (\{.*)…\}/.exec(snippet)![1]!;
    assert.ok(res.text.startsWith(shown), `README shows ${shown}…, the server answers ${res.text}`);
  } finally {
    await examples.shutdown();
  }
});

test('README: the serve options table is generated from the code (node scripts/update-readme-options.mjs)', () => {
  assert.ok(README.includes(serveOptionsMarkdown()), 'README options table is stale: run npm run build && node scripts/update-readme-options.mjs');
});

test('README: the quick start is the two commands, and .ci/run calls the test command', () => {
  assert.match(README, /npm install && npm start/);
  assert.match(README, /\nnpm test\s/);
  const ci = readFileSync(join(REPO, '.ci', 'run'), 'utf8');
  assert.match(ci, /^npm test$/m);
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
  assert.match(pkg.scripts.start, /serve examples/);
  assert.match(pkg.scripts.test, /lint/);
  assert.match(pkg.scripts.test, /build|typecheck/);
});

test('README: every `gcloud run` command names its --region (without one gcloud asks for it, and a CI job without a terminal fails)', () => {
  const commandsSeen = [...README.replace(/\\\n\s*/g, ' ').matchAll(/gcloud run [^`\n#]*/g)].map((m) => m[0].trim());
  assert.ok(commandsSeen.length >= 1, 'the Deploy section shows one');
  assert.deepEqual(commandsSeen.filter((c) => !/ --region[ =]\S/.test(c)), []);
});

test('README: the repository API commands run as written against the example models', async () => {
  const examples = await startServer({ repo: join(REPO, 'examples'), port: 0, workers: 1 });
  try {
    const block = example('repository-api').replace(/\\\n\s*/g, ' ');
    const commands = block.split('\n').filter((l) => l.startsWith('curl '));
    const [shown, shownReady] = [...block.matchAll(/^# (\[.*\])$/gm)].map((m) => m[1]!);
    const outputs: string[] = [];
    for (const command of commands) {
      // Asynchronously: the server answering it runs in this process.
      const run = await promisify(execFile)('bash', ['-c', command.replaceAll('localhost:8000', examples.url.replace('http://', ''))], { encoding: 'utf8', timeout: 10_000 });
      outputs.push(run.stdout);
    }
    assert.equal(outputs[0], shown, 'the index shown is the one served');
    assert.match(outputs[1]!, /"state":"unavailable"/);
    assert.equal(outputs[2], shownReady, 'the ready-only index shown is the one served (loan unloaded)');
    assert.match(outputs[3]!, /"state":"ready"/);
    assert.match(outputs[4]!, /^\{"prediction":"No_Rain"/);
  } finally {
    await examples.shutdown();
  }
});

// "Use from KServe and Triton clients": the curl call, the grpcurl-style call (its JSON request sent
// with a @grpc/grpc-js client from proto/), and the tritonclient snippet's request (sent with Python
// gRPC stubs generated from proto/, as tritonclient is not installable here), against the README's
// book config with gRPC on.
test('README: the Open Inference Protocol examples (curl, grpcurl-style, tritonclient-equivalent) answer as shown', async () => {
  const { grpcClients, rpc, generatePythonStubs } = await import('./helpers/oip.js');
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const repo = tempDir();
  mkdirSync(join(repo, 'book-weather'));
  writeFileSync(join(repo, 'book-weather', 'model.yaml'), example('book-config'));
  symlinkSync(BOOK_MODEL, join(repo, 'book-weather', 'svc.onnx'));
  const oip = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1 });
  try {
    const curl = example('oip-curl');
    assert.ok(curl.includes('curl -s localhost:8000/v2/models/book-weather/infer'));
    const res = await call(`${oip.url}/v2/models/book-weather/infer`, { raw: /-d '([^']+)'/.exec(curl)![1]! });
    assert.equal(res.status, 200, res.text);
    assert.ok(curl.includes(`# ${res.text}`), `README should show ${res.text}`);

    const grpcurl = example('oip-grpcurl');
    assert.ok(grpcurl.includes('localhost:8001 inference.GRPCInferenceService/ModelInfer'));
    const clients = grpcClients(oip.grpcPort!);
    try {
      const answer = await rpc<{ outputs: Array<{ name: string; datatype: string; shape: string[]; contents: { bytes_contents: Buffer[] } }> }>(clients.inference, 'ModelInfer', JSON.parse(/-d '([^']+)'/.exec(grpcurl)![1]!));
      const out = answer.outputs[0]!;
      const shown = `"outputs": [{"name": "${out.name}", "datatype": "${out.datatype}", "shape": ["${out.shape.join('", "')}"], "contents": {"bytesContents": ["${out.contents.bytes_contents[0]!.toString('base64')}"]}}] ("${out.contents.bytes_contents[0]!.toString()}")`;
      assert.ok(grpcurl.includes(shown), `README should show ${shown}`);
    } finally {
      clients.close();
    }

    // The tritonclient snippet's request: its fields and row, FP64 [1, 1] raw contents.
    const snippet = /```python\n([\s\S]*?)```/.exec(README.slice(README.indexOf('## Use from KServe and Triton clients')))![1]!;
    const fields = JSON.parse(/fields = (\[[\s\S]*?\])/.exec(snippet)![1]!.replace(/\s+/g, ' '));
    const row = JSON.parse(/row = (\[.*\])/.exec(snippet)![1]!);
    const printed = /# (\[\[.*\]\])/.exec(snippet)![1]!;
    const stubs = generatePythonStubs();
    const script = `
import struct, sys, grpc, grpc_service_pb2 as pb, grpc_service_pb2_grpc as rpc
stub = rpc.GRPCInferenceServiceStub(grpc.insecure_channel(sys.argv[1]))
req = pb.ModelInferRequest(model_name="book-weather")
for name, value in zip(${JSON.stringify(fields)}, ${JSON.stringify(row)}):
    req.inputs.add(name=name, datatype="FP64", shape=[1, 1])
    req.raw_input_contents.append(struct.pack("<d", value))
res = stub.ModelInfer(req)
raw = res.raw_output_contents[0]
print([[raw[4:4 + struct.unpack_from("<I", raw)[0]]]])
`;
    writeFileSync(join(stubs, 'triton_equivalent.py'), script);
    const { stdout } = await promisify(execFile)('/usr/bin/python3', [join(stubs, 'triton_equivalent.py'), `127.0.0.1:${oip.grpcPort}`], { cwd: stubs, encoding: 'utf8', timeout: 60_000 });
    assert.equal(stdout.trim(), printed);
  } finally {
    await oip.shutdown();
  }
});
