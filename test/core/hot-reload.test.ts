// Proof under load: the project's own load tester (the CLI, in its own process) runs against a
// real server while the repository changes under --watch, and every change must cost 0 failed
// requests: a new version, an edited config, a replaced model file, a broken version (the old one
// keeps serving), a removed version, an explicit unload and load (of another model), and a model
// evicted by the memory budget and loaded again by a request. A folder copied in slowly is loaded
// only once complete, and a model file whose copy stalls only once whole.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { startServer, type RunningServer } from '../../src/server.js';
import type { RunResult } from '../../src/loadtest/types.js';
import { call } from '../helpers/http.js';
import { sample } from '../helpers/prom.js';
import { BOOK_MODEL, BOOK_SCALER, CLI, EXAMPLES, tempDir } from '../helpers/paths.js';
import { BOOK_ROW, bookConfig, labelsOf, writeBookVersion } from './fixtures.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `modelserve loadtest` (closed model, 4 users) against url while `during` runs; returns its JSON result. */
async function underLoad(url: string, during: () => Promise<void>, seconds = 4): Promise<RunResult> {
  const child = spawn(process.execPath, [CLI, 'loadtest', url, '--data', JSON.stringify(BOOK_ROW), '-u', '4', '-d', `${seconds}s`, '--json', '-q'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  await sleep(500); // the load is running before the change
  try {
    await during();
  } finally {
    await exited;
  }
  assert.ok(out.trim().startsWith('{'), `loadtest printed no JSON: ${err}`);
  return JSON.parse(out) as RunResult;
}

function assertNoFailures(result: RunResult, what: string): void {
  assert.ok(result.requests > 50, `${what}: only ${result.requests} requests ran`);
  assert.equal(result.failures, 0, `${what}: ${result.failures} of ${result.requests} requests failed: ${JSON.stringify(result.statusCounts)} ${JSON.stringify(result.errorKinds)}`);
}

/** Polls until check() holds (a change is applied in the background). */
async function until(check: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await sleep(50);
  }
}

describe('--watch under load', () => {
  let server: RunningServer;
  let repo: string;
  const logs: string[] = [];
  const model = async (name = 'book') => (await call(`${server.url}/models/${name}`)).body;
  const predict = async () => (await call(`${server.url}/models/book/predict`, { body: BOOK_ROW })).body.prediction as string;

  before(async () => {
    repo = tempDir();
    writeBookVersion(repo, 'book', 1);
    writeBookVersion(repo, 'other', 1);
    const stream = new Writable({ write(chunk: Buffer, _e, done) { logs.push(chunk.toString()); done(); } });
    server = await startServer({ repo, port: 0, workers: 2, watch: { pollMs: 100, debounceMs: 50, settleMs: 400 }, logger: { level: 'info', stream } });
  });
  after(async () => {
    await server?.shutdown();
    rmSync(repo, { recursive: true, force: true });
  });

  test('a new version appears: it takes traffic once warm, the old one is unloaded', async () => {
    const result = await underLoad(`${server.url}/models/book/predict`, async () => {
      writeBookVersion(repo, 'book', 2);
      await until(async () => (await model()).serving_version === 2, 'version 2 serving');
      await until(async () => (await model()).versions.length === 1, 'version 1 unloaded');
    });
    assertNoFailures(result, 'new version');
    assert.equal(await predict(), labelsOf(2).rain);
    // Said in the log, not only in /metrics (it said nothing).
    const said = logs.map((l) => JSON.parse(l) as { msg: string; model?: string; version?: number; reason?: string });
    assert.ok(said.some((l) => l.msg === 'model version loaded' && l.model === 'book' && l.version === 2), 'version 2 loaded, logged');
    assert.ok(said.some((l) => l.msg === 'model version unloaded' && l.model === 'book' && l.version === 1), 'version 1 unloaded, logged');
  });

  test('an edited config is reloaded in place', async () => {
    const result = await underLoad(`${server.url}/models/book/predict`, async () => {
      writeFileSync(join(repo, 'book', '2', 'model.yaml'), bookConfig('book', 22));
      await until(async () => (await predict()) === labelsOf(22).rain, 'the edited labels answering');
    });
    assertNoFailures(result, 'edited config');
  });

  test('a replaced model file is reloaded', async () => {
    const loads = async () => sample((await call(`${server.url}/metrics`)).text, 'modelserve_model_loads_total', { model: 'book', outcome: 'ok' }) ?? 0;
    const before = await loads();
    const result = await underLoad(`${server.url}/models/book/predict`, async () => {
      copyFileSync(BOOK_MODEL, join(repo, 'book', '2', 'model.onnx.tmp'));
      rmSync(join(repo, 'book', '2', 'model.onnx'));
      copyFileSync(join(repo, 'book', '2', 'model.onnx.tmp'), join(repo, 'book', '2', 'model.onnx'));
      rmSync(join(repo, 'book', '2', 'model.onnx.tmp'));
      await until(async () => (await loads()) > before, 'a reload');
    });
    assertNoFailures(result, 'replaced model file');
  });

  test('a broken version never takes traffic: the previous one keeps serving, the failure is shown, logged and counted', async () => {
    const result = await underLoad(`${server.url}/models/book/predict`, async () => {
      const dir = join(repo, 'book', '3');
      mkdirSync(dir);
      writeFileSync(join(dir, 'model.onnx'), 'this is not an ONNX file');
      writeFileSync(join(dir, 'model.yaml'), bookConfig('book', 3));
      await until(async () => (await model()).versions.some((v: { version: number; state: string }) => v.version === 3 && v.state === 'failed'), 'version 3 failed');
    });
    assertNoFailures(result, 'broken version');
    const info = await model();
    assert.equal(info.serving_version, 2);
    const failed = info.versions.find((v: { version: number }) => v.version === 3);
    // The API quotes no line of the file (a config's model: may name any file); the log does.
    assert.match(failed.reason, /book\/3\/model\.onnx is not a valid ONNX model: it looks like text \(its first line is quoted in the server's log and by modelserve check, not here\)/);
    assert.ok(logs.some((l) => l.includes('model load failed') && l.includes("book/3/model.onnx is not a valid ONNX model: it looks like text (starts with 'this is not an ONNX file')")), 'the failure is logged with the file and its first line');
    const text = (await call(`${server.url}/metrics`)).text;
    assert.ok((sample(text, 'modelserve_model_loads_total', { model: 'book', outcome: 'failed' }) ?? 0) >= 1);

    // An invalid YAML is a failure too, named with its file.
    writeFileSync(join(repo, 'book', '3', 'model.yaml'), 'fields: [unclosed');
    await until(async () => /book\/3\/model\.yaml.*not valid YAML/s.test(JSON.stringify((await model()).versions)), 'the YAML problem shown');
    assert.equal((await model()).serving_version, 2);
  });

  test('a version removed: the one before takes over, with no gap', async () => {
    rmSync(join(repo, 'book', '3'), { recursive: true });
    writeBookVersion(repo, 'book', 4);
    await until(async () => (await model()).serving_version === 4, 'version 4 serving');
    const result = await underLoad(`${server.url}/models/book/predict`, async () => {
      rmSync(join(repo, 'book', '4'), { recursive: true });
      await until(async () => (await model()).serving_version === 2, 'version 2 serving again');
      await until(async () => (await model()).versions.length === 1, 'version 4 unloaded');
    });
    assertNoFailures(result, 'removed version');
  });

  test('an explicit unload then load of another model costs the served one nothing', async () => {
    const result = await underLoad(`${server.url}/models/book/predict`, async () => {
      assert.equal((await call(`${server.url}/v2/repository/models/other/unload`, { method: 'POST' })).status, 200);
      assert.equal((await call(`${server.url}/models/other/predict`, { body: BOOK_ROW })).status, 503);
      assert.equal((await call(`${server.url}/v2/repository/models/other/load`, { method: 'POST' })).status, 200);
      assert.equal((await call(`${server.url}/models/other/predict`, { body: BOOK_ROW })).status, 200);
    });
    assertNoFailures(result, 'unload and load');
  });

  test('unload and load of the model under load: accepted requests all finish, later ones get a clear 503, then it serves again', async () => {
    const inFlight = Array.from({ length: 40 }, () => call(`${server.url}/models/book/predict`, { body: BOOK_ROW }));
    await sleep(1);
    await call(`${server.url}/v2/repository/models/book/unload`, { method: 'POST' });
    for (const res of await Promise.all(inFlight)) {
      assert.ok(res.status === 200 || (res.status === 503 && res.body.code === 'MS_ERR_MODEL_UNAVAILABLE'), res.text);
    }
    await call(`${server.url}/v2/repository/models/book/load`, { method: 'POST' });
    assert.equal((await call(`${server.url}/models/book/predict`, { body: BOOK_ROW })).status, 200);
  });

  test('a folder copied in slowly, file by file with pauses, is loaded only when complete', async () => {
    const dir = join(repo, 'book', '5');
    mkdirSync(dir);
    const seen = new Set<string>();
    const watchStates = setInterval(() => {
      void model().then((m) => { for (const v of m.versions) if (v.version === 5) seen.add(v.state); });
    }, 25);
    try {
      const result = await underLoad(`${server.url}/models/book/predict`, async () => {
        writeFileSync(join(dir, 'model.yaml'), bookConfig('book', 5));
        await sleep(150);
        // The ONNX file arrives in pieces, each well within the settle time of the one before.
        const bytes = readFileSync(BOOK_MODEL);
        const pieces = 4;
        for (let i = 0; i < pieces; i++) {
          writeFileSync(join(dir, 'model.onnx'), bytes.subarray(0, Math.ceil(((i + 1) * bytes.length) / pieces)));
          await sleep(150);
        }
        await until(async () => (await model()).serving_version === 5, 'version 5 serving');
      }, 5);
      assertNoFailures(result, 'slow copy');
    } finally {
      clearInterval(watchStates);
    }
    assert.ok(!seen.has('failed'), `a half-copied version was tried: states seen ${[...seen].join(', ')}`);
    assert.equal(await predict(), labelsOf(5).rain);
  });

  test('a model file whose copy stalls for longer than the settle time (a slow network share) is waited for, said once, and loaded when whole', async () => {
    const dir = join(repo, 'book', '6');
    mkdirSync(dir);
    const seen = new Set<string>();
    const watchStates = setInterval(() => {
      void model().then((m) => { for (const v of m.versions) if (v.version === 6) seen.add(v.state); });
    }, 25);
    const logged = logs.length;
    try {
      const result = await underLoad(`${server.url}/models/book/predict`, async () => {
        writeFileSync(join(dir, 'model.yaml'), bookConfig('book', 6));
        const bytes = readFileSync(BOOK_MODEL);
        const pieces = 3;
        for (let i = 0; i < pieces; i++) {
          appendFileSync(join(dir, 'model.onnx'), bytes.subarray(Math.floor((i * bytes.length) / pieces), Math.floor(((i + 1) * bytes.length) / pieces)));
          // Each stall is past the settle time (400 ms): the version's files look settled while it is cut short.
          if (i < pieces - 1) await until(async () => logs.slice(logged).some((l) => l.includes('model file incomplete')), 'the stall noticed');
          if (i < pieces - 1) await sleep(900);
        }
        await until(async () => (await model()).serving_version === 6, 'version 6 serving');
      }, 6);
      assertNoFailures(result, 'stalled copy');
    } finally {
      clearInterval(watchStates);
    }
    // It was tried half-written at each stall: 'failed', logged at error level and counted as a failed load.
    assert.ok(!seen.has('failed'), `a half-copied version was tried: states seen ${[...seen].join(', ')}`);
    const said = logs.slice(logged).map((l) => JSON.parse(l) as { level: number; msg: string; model?: string; version?: number });
    assert.deepEqual(said.filter((l) => l.level >= 50).map((l) => l.msg), []);
    const waiting = said.filter((l) => l.msg.startsWith('model file incomplete'));
    assert.equal(waiting.length, 1, 'said once for the whole copy');
    assert.match(waiting[0]!.msg, /book\/6\/model\.onnx: it is \d+ bytes long, but a field from byte \d+ runs to byte \d+; waiting for the rest of it/);
    assert.equal(waiting[0]!.level, 40);
    assert.equal(await predict(), labelsOf(6).rain);
  });
});

test('a model evicted by the memory budget and loaded again by a request: 0 failed requests', async () => {
  const repo = tempDir();
  writeBookVersion(repo, 'hot', 1);
  writeBookVersion(repo, 'cold', 1);
  const server = await startServer({ repo, port: 0, workers: 2, maxLoadedModels: 1, logger: false });
  try {
    const evictions = async () => sample((await call(`${server.url}/metrics`)).text, 'modelserve_model_evictions_total', { model: 'hot' }) ?? 0;
    const result = await underLoad(`${server.url}/models/hot/predict`, async () => {
      for (let i = 0; i < 2; i++) {
        // Each request for the cold model evicts the hot one; the load's next request loads it back.
        assert.equal((await call(`${server.url}/models/cold/predict`, { body: BOOK_ROW })).status, 200);
        await until(async () => (await call(`${server.url}/models/hot`)).body.state === 'ready', 'hot loaded again');
        await sleep(200);
      }
    }, 5);
    assertNoFailures(result, 'eviction');
    assert.ok((await evictions()) >= 1, 'the hot model was evicted');
  } finally {
    await server.shutdown();
    rmSync(repo, { recursive: true, force: true });
  }
});

describe('--watch and the ways deployments update a repository', () => {
  test('a model file left cut short (a copy that died) is tried once its wait is over: it fails saying so, and what serves keeps serving', async () => {
    const repo = tempDir();
    writeBookVersion(repo, 'book', 1);
    const server = await startServer({ repo, port: 0, workers: 1, watch: { pollMs: 100, debounceMs: 50, settleMs: 400, incompleteMs: 1500 }, logger: false });
    try {
      const dir = join(repo, 'book', '2');
      mkdirSync(dir);
      writeFileSync(join(dir, 'model.yaml'), bookConfig('book', 2));
      writeFileSync(join(dir, 'model.onnx'), readFileSync(BOOK_MODEL).subarray(0, 100_000));
      const failed = async () => (await call(`${server.url}/models/book`)).body.versions.find((v: { version: number; state: string }) => v.version === 2 && v.state === 'failed');
      await until(async () => (await failed()) !== undefined, 'version 2 failed');
      // onnxruntime's "protobuf parsing failed" said nothing of why.
      assert.match((await failed()).reason, /book\/2\/model\.onnx is not a valid ONNX model: it is 100000 bytes long, but a field from byte \d+ runs to byte \d+: is it still being copied, or was its copy cut short\?/);
      assert.equal((await call(`${server.url}/models/book`)).body.serving_version, 1);
    } finally {
      await server.shutdown();
      rmSync(repo, { recursive: true, force: true });
    }
  });

  /**
   * A repository of the XGBoost example in Triton's layout (rain/model.yaml, rain/1/model.json), served under --watch.
   * `incompleteMs` is passed as given: undefined is the default wait (it was taken as no wait at all).
   */
  async function xgboostRepo(incompleteMs?: number) {
    const repo = tempDir();
    const example = join(EXAMPLES, 'rain-xgboost');
    mkdirSync(join(repo, 'rain', '1'), { recursive: true });
    copyFileSync(join(example, 'model.yaml'), join(repo, 'rain', 'model.yaml'));
    copyFileSync(join(example, 'model.json'), join(repo, 'rain', '1', 'model.json'));
    const logs: Array<{ level: number; msg: string }> = [];
    const stream = new Writable({ write(chunk: Buffer, _e, done) { logs.push(JSON.parse(chunk.toString()) as { level: number; msg: string }); done(); } });
    const server = await startServer({ repo, port: 0, workers: 1, watch: { pollMs: 100, debounceMs: 50, settleMs: 400, incompleteMs }, logger: { level: 'info', stream } });
    return { repo, server, logs, bytes: readFileSync(join(example, 'model.json')) };
  }

  test('an XGBoost model.json whose copy stalls is waited for like an ONNX file, said once, and loaded when whole', async () => {
    const { repo, server, logs, bytes } = await xgboostRepo();
    try {
      const said = () => logs.filter((l) => l.msg.startsWith('model file incomplete') || l.msg.startsWith('model load failed'));
      mkdirSync(join(repo, 'rain', '2'));
      const cut = bytes.indexOf('"', bytes.length / 2) + 3; // within a string
      writeFileSync(join(repo, 'rain', '2', 'model.json'), bytes.subarray(0, cut));
      await until(async () => said().length > 0, 'the stall noticed');
      // It was tried half-written: "is not XGBoost's JSON model format (Unterminated string in JSON …)", a failed load.
      assert.equal(said()[0]!.level, 40, said()[0]!.msg);
      assert.match(said()[0]!.msg, /^model file incomplete: .*rain\/2\/model\.json: it ends within a string at byte \d+; waiting for the rest of it/);
      appendFileSync(join(repo, 'rain', '2', 'model.json'), bytes.subarray(cut));
      await until(async () => (await call(`${server.url}/models/rain-xgboost`)).body.serving_version === 2, 'version 2 serving');
      assert.deepEqual(logs.filter((l) => l.level >= 50).map((l) => l.msg), []);
    } finally {
      await server.shutdown();
      rmSync(repo, { recursive: true, force: true });
    }
  });

  test('an XGBoost model.json left cut short is tried once its wait is over: it fails saying so, and what serves keeps serving', async () => {
    const { repo, server, bytes } = await xgboostRepo(1500);
    try {
      mkdirSync(join(repo, 'rain', '2'));
      writeFileSync(join(repo, 'rain', '2', 'model.json'), bytes.subarray(0, bytes.indexOf('{', bytes.length / 2) + 1));
      const failed = async () => (await call(`${server.url}/models/rain-xgboost`)).body.versions.find((v: { version: number; state: string }) => v.version === 2 && v.state === 'failed');
      await until(async () => (await failed()) !== undefined, 'version 2 failed');
      // It said "Unexpected end of JSON input", and to save the model with save_model('model.json').
      assert.match((await failed()).reason, /rain\/2\/model\.json is cut short \(it ends at byte \d+ with \d+ objects or arrays still open\): is it still being copied, or was its copy cut short\?$/);
      assert.equal((await call(`${server.url}/models/rain-xgboost`)).body.serving_version, 1);
    } finally {
      await server.shutdown();
      rmSync(repo, { recursive: true, force: true });
    }
  });

  test('git-sync / a ConfigMap volume: the repository is a symlink swapped to a new folder and the old one deleted; the new version takes over with no gap', async () => {
    // <root>/repo -> ..data -> ..<timestamp>/, the layout git-sync and Kubernetes' atomic writer keep up to date.
    const root = tempDir();
    writeBookVersion(join(root, '..2026_12_04_a'), 'book', 1);
    symlinkSync('..2026_12_04_a', join(root, '..data'));
    symlinkSync('..data', join(root, 'repo'));
    const server = await startServer({ repo: join(root, 'repo'), port: 0, workers: 1, watch: { pollMs: 100, debounceMs: 50, settleMs: 400 }, logger: false });
    try {
      const result = await underLoad(`${server.url}/models/book/predict`, async () => {
        // The new commit's tree arrives complete; then the link is swapped in one rename and the old tree goes.
        writeBookVersion(join(root, '..2026_12_04_b'), 'book', 2);
        symlinkSync('..2026_12_04_b', join(root, '..data_tmp'));
        renameSync(join(root, '..data_tmp'), join(root, '..data'));
        rmSync(join(root, '..2026_12_04_a'), { recursive: true });
        await until(async () => (await call(`${server.url}/models/book`)).body.serving_version === 2, 'version 2 serving');
        await until(async () => (await call(`${server.url}/models/book`)).body.versions.length === 1, 'version 1 unloaded');
      });
      // Version 1's folder was gone before version 2 had settled: it was unloaded at once, and every request got 503 until then.
      assertNoFailures(result, 'symlink swap');
      assert.equal((await call(`${server.url}/models/book/predict`, { body: BOOK_ROW })).body.prediction, labelsOf(2).rain);
    } finally {
      await server.shutdown();
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('tar -xf of an archive made on macOS: the ._model.onnx beside a raw model (its metadata) is no second model', async () => {
    const repo = tempDir();
    mkdirSync(join(repo, 'raw'));
    copyFileSync(BOOK_MODEL, join(repo, 'raw', 'model.onnx'));
    const server = await startServer({ repo, port: 0, workers: 1, watch: { pollMs: 100, debounceMs: 50, settleMs: 400 }, logger: false });
    try {
      const loads = async () => sample((await call(`${server.url}/metrics`)).text, 'modelserve_model_loads_total', { model: 'raw', outcome: 'ok' }) ?? 0;
      const before = await loads();
      // What macOS' tar puts in an archive beside each file (AppleDouble: the file's metadata), extracted with the new model.
      writeFileSync(join(repo, 'raw', '._model.onnx'), Buffer.from('0005160700020000', 'hex'));
      copyFileSync(BOOK_MODEL, join(repo, 'raw', 'model.onnx'));
      // It counted as a second .onnx file: the reload failed ("2 .onnx files: a folder without a config must hold exactly one").
      await until(async () => (await loads()) > before, 'the raw model reloaded');
      const info = (await call(`${server.url}/models/raw`)).body;
      assert.deepEqual(info.versions.map((v: { state: string; reason?: string }) => [v.state, v.reason]), [['ready', undefined]]);
    } finally {
      await server.shutdown();
      rmSync(repo, { recursive: true, force: true });
    }
  });

  test('unzip of an archive made in a timezone ahead of the server: a version whose files are dated in the future is loaded', async () => {
    const repo = tempDir();
    writeBookVersion(repo, 'book', 1);
    const server = await startServer({ repo, port: 0, workers: 1, watch: { pollMs: 100, debounceMs: 50, settleMs: 400 }, logger: false });
    try {
      // Zip keeps local times without a zone: unzipped on a UTC server, files made in UTC+9 are 9 hours ahead.
      const dir = writeBookVersion(repo, 'book', 2);
      const ahead = Date.now() / 1000 + 9 * 3600;
      for (const p of [join(dir, 'model.onnx'), join(dir, 'model.yaml'), dir]) utimesSync(p, ahead, ahead);
      // It counted as still being copied until that time: not loaded, not even listed.
      await until(async () => (await call(`${server.url}/models/book`)).body.serving_version === 2, 'version 2 serving', 5000);
    } finally {
      await server.shutdown();
      rmSync(repo, { recursive: true, force: true });
    }
  });

  test('tar -xf of a reproducible archive: a file of the same size and modification time as the one it replaces is reloaded', async () => {
    const repo = tempDir();
    const dir = writeBookVersion(repo, 'book', 1);
    // Archives built with a fixed mtime (SOURCE_DATE_EPOCH, tar --mtime) give every file the same one.
    const extract = (v: number) => {
      writeFileSync(join(dir, 'model.yaml'), bookConfig('book', v));
      utimesSync(join(dir, 'model.yaml'), 1_700_000_000, 1_700_000_000);
    };
    extract(2);
    const server = await startServer({ repo, port: 0, workers: 1, watch: { pollMs: 100, debounceMs: 50, settleMs: 400 }, logger: false });
    try {
      const predict = async () => (await call(`${server.url}/models/book/predict`, { body: BOOK_ROW })).body.prediction as string;
      assert.equal(await predict(), labelsOf(2).rain);
      extract(3); // Rain-3 is as long as Rain-2: only the content differs
      // The fingerprint was size and mtime: the new labels were never loaded.
      await until(async () => (await predict()) === labelsOf(3).rain, 'the extracted labels answering', 5000);
    } finally {
      await server.shutdown();
      rmSync(repo, { recursive: true, force: true });
    }
  });
});

test('--watch: a serving model whose config, scaler file or model file is replaced by a broken one keeps serving its previous load, and says once what is wrong, naming the file', async () => {
  const repo = tempDir();
  const dir = writeBookVersion(repo, 'book', 1);
  const scaler = JSON.parse(readFileSync(BOOK_SCALER, 'utf8')) as { mean: number[]; scale: number[] };
  const good = {
    'model.yaml': bookConfig('book', 1).replace(/scale:\n\s+mean: .*\n\s+scale: .*\n/, 'scale: { file: scaler.json }\n'),
    'scaler.json': JSON.stringify(scaler),
    'model.onnx': readFileSync(BOOK_MODEL),
  };
  for (const [name, content] of Object.entries(good)) writeFileSync(join(dir, name), content);
  const logs: string[] = [];
  const stream = new Writable({ write(chunk: Buffer, _e, done) { logs.push(chunk.toString()); done(); } });
  const server = await startServer({ repo, port: 0, workers: 1, watch: { pollMs: 100, debounceMs: 50, settleMs: 300, incompleteMs: 600 }, logger: { level: 'info', stream } });
  const status = async () => (await call(`${server.url}/models/book`)).body;
  const predict = async () => (await call(`${server.url}/models/book/predict`, { body: BOOK_ROW })).body.prediction as string;
  try {
    const rain = await predict();
    assert.equal(rain, labelsOf(1).rain);
    // The 4th: what the log says, where the API (which quotes no line of a model file) says less.
    const broken: Array<[string, string | Buffer, RegExp, RegExp?]> = [
      ['model.yaml', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(good['model.yaml'], 'utf16le')]), /book\/1\/model\.yaml: \(file\): is not UTF-8 text \(it looks like UTF-16: save it as UTF-8\)/],
      ['model.yaml', 'just words\n', /book\/1\/model\.yaml: \(root\): must be object: it is the text 'just words'; a model config is a map/],
      ['scaler.json', Buffer.from(JSON.stringify(scaler), 'utf16le'), /book\/1\/scaler\.json is not UTF-8 text \(it looks like UTF-16/],
      ['model.onnx', 'version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n', /book\/1\/model\.onnx is not a valid ONNX model: it is a Git LFS pointer, not the model: fetch the model itself \(git lfs pull\)/],
      ['model.onnx', 'This is not a model.\n', /book\/1\/model\.onnx is not a valid ONNX model: it looks like text \(its first line is quoted in the server's log and by modelserve check, not here\)/, /book\/1\/model\.onnx is not a valid ONNX model: it looks like text \(starts with 'This is not a model\.'\)/],
    ];
    for (const [name, content, says, logSays = says] of broken) {
      const from = logs.length;
      writeFileSync(join(dir, name), content);
      await until(async () => says.test(JSON.stringify(await status())), `${name}: ${says}`);
      const now = await status();
      assert.equal(now.serving_version, 1, name);
      assert.match(now.versions.find((v: { version: number }) => v.version === 1).reason, /^reload failed \(version 1 as loaded before keeps serving\): /, name);
      assert.equal(await predict(), rain, `${name}: the previous load keeps answering`);
      // Put back: the problem goes, and it was said in the log.
      writeFileSync(join(dir, name), good[name as keyof typeof good]);
      await until(async () => !says.test(JSON.stringify(await status())), `${name} put back`);
      // Said once in the log (a scan that finds the same files again says nothing more), without a stack frame.
      const said = logs.slice(from).filter((l) => logSays.test(JSON.parse(l).msg));
      assert.equal(said.length, 1, `${name}: ${said.join('')}`);
      assert.doesNotMatch(said[0]!, /\\n\s+at /, name);
    }
  } finally {
    await server.shutdown();
    rmSync(repo, { recursive: true, force: true });
  }
});
