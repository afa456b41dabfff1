// A config's model: may name any file the server can read (absolute paths and ../ on purpose). When that file is not
// a model, the reason quotes its first line for the operator; the same reason once reached every user-key holder
// (GET /models, OIP metadata, the repository index and load, gRPC, a request's 'not available'): whoever could write a
// config could have the first line of a keys file shown to every client. The log keeps the quote; the API does not.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startServer, type RunningServer } from '../../src/server.js';
import { call } from '../helpers/http.js';
import { captureLogLines } from '../helpers/logs.js';
import { grpcClients, rpc, type GrpcClient } from '../helpers/oip.js';
import { EXAMPLES, tempDir } from '../helpers/paths.js';
import { jsonSyntaxReason } from '../../src/user-file.js';
import { BOOK_ROW, bookConfig, writeBookVersion } from './fixtures.js';

const KEY = 'user-key-0123456789abcdef';
const ADMIN = 'admin-key-0123456789abcdef';
const SECRET = 'sk-live-THE-SECRET-LINE';

let server: RunningServer;
let repo: string;
let inference: GrpcClient;
let closeClients: () => void;
const logs = captureLogLines<{ msg?: string }>();
const user = { authorization: `Bearer ${KEY}` };
const admin = { authorization: `Bearer ${ADMIN}` };

before(async () => {
  repo = tempDir();
  writeBookVersion(repo, 'book', 1, 'optimize: false\n');
  server = await startServer({ repo, port: 0, grpcPort: 'free', workers: 1, logger: { level: 'info', stream: logs.stream }, app: { auth: { keys: [KEY], adminKeys: [ADMIN] } } });
  ({ inference, close: closeClients } = grpcClients(server.grpcPort!));
});
after(async () => {
  closeClients?.();
  await server?.shutdown();
});

test("a model: naming a text file outside the repository: the API says it looks like text without quoting it; the server's log quotes it", async () => {
  const secrets = join(tempDir(), 'api-keys.txt');
  writeFileSync(secrets, `${SECRET}\nmore secrets\n`);
  mkdirSync(join(repo, 'leak', '1'), { recursive: true });
  writeFileSync(join(repo, 'leak', '1', 'model.yaml'), bookConfig('leak', 1).replace('model: model.onnx', `model: ${secrets}`));

  const load = await call(`${server.url}/v2/repository/models/leak/load`, { method: 'POST', headers: admin });
  assert.equal(load.status, 400, load.text);
  assert.match(load.body.error, /api-keys\.txt is not a valid ONNX model: it looks like text \(its first line is quoted in the server's log and by modelserve check, not here\)/);

  const grpcMetadata = new grpc.Metadata();
  grpcMetadata.set('authorization', `Bearer ${ADMIN}`);
  const answers: Array<[string, string]> = [
    ['repository load', load.text],
    ['GET /models', (await call(`${server.url}/models`, { headers: user })).text],
    ['GET /models/leak', (await call(`${server.url}/models/leak`, { headers: user })).text],
    ['GET /v2/models/leak', (await call(`${server.url}/v2/models/leak`, { headers: user })).text],
    ['POST /v2/repository/index', (await call(`${server.url}/v2/repository/index`, { method: 'POST', body: {}, headers: admin })).text],
    ['POST /models/leak/predict', (await call(`${server.url}/models/leak/predict`, { body: BOOK_ROW, headers: user })).text],
    ['gRPC RepositoryIndex', JSON.stringify(await rpc(inference, 'RepositoryIndex', {}, grpcMetadata))],
    ['gRPC ModelMetadata', JSON.stringify(await rpc(inference, 'ModelMetadata', { name: 'leak' }, grpcMetadata).catch((err: grpc.ServiceError) => err.details))],
  ];
  // The reason is there (the file and what it looks like), its first line is not.
  assert.match(answers[1]![1], /api-keys\.txt is not a valid ONNX model: it looks like text/);
  assert.match(answers[5]![1], /not available: .*it looks like text.*MS_ERR_MODEL_UNAVAILABLE/);
  for (const [where, text] of answers) assert.doesNotMatch(text, /THE-SECRET/, where);

  const said = logs.lines.filter((l) => l.msg?.includes('model load failed'));
  assert.ok(said.some((l) => l.msg!.includes(`it looks like text (starts with '${SECRET}')`)), `the log quotes it: ${JSON.stringify(said)}`);
});

// JSON.parse's message quotes the text it stopped at ('Unexpected token 's', "sk-live-TH"... is not valid JSON'): a
// scale.file or a format: xgboost model: naming a keys file put that quote in a reason every client reads.
test("a scale.file and a format: xgboost model: naming a text file that is not JSON: the API says so without quoting it; the log quotes it", async () => {
  const secrets = join(tempDir(), 'tokens.txt');
  writeFileSync(secrets, `${SECRET}\nmore secrets\n`);
  writeFileSync(join(writeBookVersion(repo, 'scaled', 1), 'model.yaml'), bookConfig('scaled', 1).replace(/scale:\n\s+mean: .*\n\s+scale: .*\n/, `scale: { file: ${secrets} }\n`));
  mkdirSync(join(repo, 'boosted', '1'), { recursive: true });
  writeFileSync(join(repo, 'boosted', '1', 'model.yaml'), bookConfig('boosted', 1, 'format: xgboost\n').replace('model: model.onnx', `model: ${secrets}`));

  const grpcMetadata = new grpc.Metadata();
  grpcMetadata.set('authorization', `Bearer ${ADMIN}`);
  for (const name of ['scaled', 'boosted']) {
    const load = await call(`${server.url}/v2/repository/models/${name}/load`, { method: 'POST', headers: admin });
    assert.equal(load.status, 400, load.text);
    assert.match(load.body.error, /tokens\.txt.* not (valid JSON|XGBoost's JSON model format)/, load.text);
    const answers: Array<[string, string]> = [
      ['repository load', load.text],
      ['GET /models', (await call(`${server.url}/models`, { headers: user })).text],
      [`GET /models/${name}`, (await call(`${server.url}/models/${name}`, { headers: user })).text],
      [`GET /v2/models/${name}`, (await call(`${server.url}/v2/models/${name}`, { headers: user })).text],
      ['POST /v2/repository/index', (await call(`${server.url}/v2/repository/index`, { method: 'POST', body: {}, headers: admin })).text],
      [`POST /models/${name}/predict`, (await call(`${server.url}/models/${name}/predict`, { body: BOOK_ROW, headers: user })).text],
      ['gRPC RepositoryIndex', JSON.stringify(await rpc(inference, 'RepositoryIndex', {}, grpcMetadata))],
      ['gRPC ModelMetadata', JSON.stringify(await rpc(inference, 'ModelMetadata', { name }, grpcMetadata).catch((err: grpc.ServiceError) => err.details))],
    ];
    assert.match(answers[2]![1], /tokens\.txt.* not (valid JSON: |XGBoost's JSON model format \()Unexpected token \(the text it stopped at is quoted in the server's log and by modelserve check, not here\)/, `${name}: the reason names the file`);
    for (const [where, text] of answers) assert.doesNotMatch(text, /sk-live/, `${name}: ${where}`);
  }
  const said = logs.lines.map((l) => l.msg ?? '').filter((m) => m.includes('tokens.txt'));
  assert.ok(said.some((m) => /scale\.file: .*tokens\.txt is not valid JSON: .*sk-live-TH/.test(m)), `the log quotes the scaler's: ${JSON.stringify(said)}`);
  assert.ok(said.some((m) => /tokens\.txt is not XGBoost's JSON model format \(.*sk-live-TH/.test(m)), `the log quotes the model's: ${JSON.stringify(said)}`);
});

test('what clients read of JSON.parse: its position as a line and column, never the text it quotes', () => {
  const reason = (text: string) => {
    try {
      JSON.parse(text);
    } catch (err) {
      return jsonSyntaxReason(err as SyntaxError, text);
    }
    throw new Error('parsed');
  };
  assert.equal(reason('{\n  "a": 1 sk-live-THE-SECRET\n}').forClients, "Expected ',' or '}' after property value at line 2, column 10");
  assert.equal(reason('').forClients, 'Unexpected end of JSON input');
  for (const text of ['sk-live-THE-SECRET-LINE', 'sk', '{"a": sk-live-THE-SECRET}']) {
    const { message, forClients } = reason(text);
    assert.doesNotMatch(forClients, /sk/, text);
    assert.match(message, /sk/, `the operator's keeps it: ${message}`);
  }
});

// A reason named files relative to the server's working directory (the config, the model file, a scale.file), or
// where they are ("ONNX file not found: /srv/…"): in a container started from / that was the layout of the server's
// disk, for every client. Clients read a file relative to the model repository, one outside it as its config writes
// it; the log keeps the operator's names.
test("a server whose working directory is elsewhere: clients read files relative to the repository, or as the config writes them; the log names them as before", async () => {
  const home = tempDir();
  const cwd = join(tempDir(), 'started', 'from', 'here'); // deeper than a version folder: a path from it is not the one written
  mkdirSync(cwd, { recursive: true });
  const outside = join(tempDir(), 'notes.txt');
  writeFileSync(outside, 'some notes\n');
  const written = relative(join(home, 'far', '1'), outside);
  writeBookVersion(home, 'book', 1, 'optimize: false\n');
  const before = process.cwd();
  process.chdir(cwd);
  const local = await startServer({ repo: home, port: 0, grpcPort: 'free', workers: 1, logger: { level: 'info', stream: logs.stream }, app: { auth: { keys: [KEY], adminKeys: [ADMIN] } } });
  const clients = grpcClients(local.grpcPort!);
  try {
    // A config whose model file is not there yet (a load means it as it is), a scale.file that is no JSON, a model
    // file that is text, one onnxruntime refuses, a config that does not match its model, a model: outside the repository.
    mkdirSync(join(home, 'missing', '1'), { recursive: true });
    writeFileSync(join(home, 'missing', '1', 'model.yaml'), bookConfig('missing', 1));
    writeFileSync(join(writeBookVersion(home, 'scaled', 1), 'scaler.json'), '{"mean": [1,');
    writeFileSync(join(home, 'scaled', '1', 'model.yaml'), bookConfig('scaled', 1).replace(/scale:\n\s+mean: .*\n\s+scale: .*\n/, 'scale: { file: scaler.json }\n'));
    writeFileSync(join(writeBookVersion(home, 'texty', 1), 'model.onnx'), 'not a model\n');
    writeFileSync(join(writeBookVersion(home, 'refused', 1), 'model.onnx'), Buffer.from([0x3a, 0x00])); // a ModelProto with an empty graph
    writeBookVersion(home, 'mismatched', 1, 'optimize: false\n');
    writeFileSync(join(home, 'mismatched', '1', 'model.yaml'), bookConfig('mismatched', 1).replace('float_input:', 'wrong_input:'));
    writeFileSync(join(writeBookVersion(home, 'far', 1), 'model.yaml'), bookConfig('far', 1).replace('model: model.onnx', `model: ${written}`));
    // Two model folders that name one model: the second is not served (the load says why).
    writeFileSync(join(writeBookVersion(home, 'twin-a', 1, 'optimize: false\n'), 'model.yaml'), bookConfig('twin', 1, 'optimize: false\n'));
    writeFileSync(join(writeBookVersion(home, 'twin-b', 1, 'optimize: false\n'), 'model.yaml'), bookConfig('twin', 1, 'optimize: false\n'));

    // An empty version folder beside the model folder's config; an XGBoost model.json without a config; a split
    // whose versions the newest version's policy (another file) does not serve.
    mkdirSync(join(home, 'hollow', '1'), { recursive: true });
    writeFileSync(join(home, 'hollow', 'model.yaml'), bookConfig('hollow', 1));
    mkdirSync(join(home, 'xgb', '1'), { recursive: true });
    copyFileSync(join(EXAMPLES, 'rain-xgboost', 'model.json'), join(home, 'xgb', '1', 'model.json'));
    writeBookVersion(home, 'split', 1, 'optimize: false\ntraffic: { 1: 50, 2: 50 }\n');
    writeBookVersion(home, 'split', 2, 'optimize: false\nversion_policy: { specific: [1] }\n');

    const expected: Record<string, RegExp> = {
      hollow: /hollow\/1: \(folder\): version folder 1 is empty: it should hold model\.onnx \(the model file hollow\/model\.yaml names for every version\)/,
      xgb: /xgb\/1: \(folder\): no model\.yaml .*: `modelserve init xgb\/1\/model\.json` writes a model\.yaml for it/,
      split: /split\/1\/model\.yaml: traffic\.2: version 2 is not in the model's version_policy \(split\/2\/model\.yaml\)'s specific/,
      missing: /missing\/1\/model\.yaml: model: ONNX file not found: missing\/1\/model\.onnx/,
      scaled: /scaled\/1\/model\.yaml: inputs\.float_input\.scale\.file: scaled\/1\/scaler\.json is not valid JSON/,
      texty: /texty\/1\/model\.onnx is not a valid ONNX model: it looks like text/,
      refused: /refused\/1\/model\.onnx: onnxruntime could not load the model/,
      mismatched: /model configuration does not match the ONNX model \(\d+ problems?\):\\n {2}mismatched\/1\/model\.yaml: /,
      twin: /twin-b\/1\/model\.yaml: name: model name 'twin' is already used by twin-a\/1\/model\.yaml; this folder is not served/,
      far: new RegExp(`${written.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not a valid ONNX model: it looks like text`),
    };
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${ADMIN}`);
    const answers: Array<[string, string]> = [];
    for (const name of Object.keys(expected)) {
      const load = await call(`${local.url}/v2/repository/models/${name}/load`, { method: 'POST', headers: admin });
      assert.equal(load.status, 400, `${name}: ${load.text}`);
      assert.match(load.text, expected[name]!, `${name}: the load's answer`);
      answers.push(
        [`${name}: repository load`, load.text],
        [`GET /models/${name}`, (await call(`${local.url}/models/${name}`, { headers: user })).text],
        [`GET /v2/models/${name}`, (await call(`${local.url}/v2/models/${name}`, { headers: user })).text],
        [`POST /models/${name}/predict`, (await call(`${local.url}/models/${name}/predict`, { body: BOOK_ROW, headers: user })).text],
        [`gRPC ModelMetadata ${name}`, JSON.stringify(await rpc(clients.inference, 'ModelMetadata', { name }, metadata).catch((err: grpc.ServiceError) => err.details))],
      );
    }
    answers.push(
      ['GET /models', (await call(`${local.url}/models`, { headers: user })).text],
      ['POST /v2/repository/index', (await call(`${local.url}/v2/repository/index`, { method: 'POST', body: {}, headers: admin })).text],
      ['gRPC RepositoryIndex', JSON.stringify(await rpc(clients.inference, 'RepositoryIndex', {}, metadata))],
    );
    const models = (await call(`${local.url}/models`, { headers: user })).text;
    // (A version folder that is empty or holds no config is not yet a model: only its load says what it lacks.)
    for (const [name, reason] of Object.entries(expected)) if (!['missing', 'twin', 'hollow', 'xgb'].includes(name)) assert.match(models, reason, `GET /models: ${name}`);
    // Neither where the repository is nor where it is from the working directory; nor where the outside file is.
    const disk = [home, relative(cwd, home), outside, relative(cwd, outside), cwd];
    for (const [where, text] of answers) for (const path of disk) assert.ok(!text.includes(path), `${where} names ${path}: ${text}`);

    const said = logs.lines.map((l) => l.msg ?? '');
    assert.ok(said.some((m) => m.includes(`${relative(cwd, join(home, 'texty', '1', 'model.onnx'))} is not a valid ONNX model`)), 'the log names the file from the working directory');
    assert.ok(said.some((m) => m.includes(`${join(home, 'refused', '1', 'model.onnx')}: onnxruntime could not load the model`)), 'the log names where the file is');
    assert.ok(said.some((m) => m.includes(`${relative(cwd, join(home, 'scaled', '1', 'scaler.json'))} is not valid JSON`)), "the log names the scaler's file from the working directory");
    assert.ok(said.some((m) => m.includes(`model name 'twin' is already used by ${join(home, 'twin-a', '1', 'model.yaml')}`)), 'the log names where the other config is');
  } finally {
    clients.close();
    await local.shutdown();
    process.chdir(before);
  }
});
