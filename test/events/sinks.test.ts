// The event pipeline's parts on real files, a real HTTP server and a real core: the JSON Lines sink
// rotates by size without splitting a line; the core reports predictions from predict() and from
// the tensor-level infer() (what OIP/gRPC/pipelines call) to its observers; sampling and redaction;
// the serve options report their problems together; the event writer's fast path writes what the
// general one does; a sink with a linger gathers events under load.
import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { InferenceCore } from '../../src/core/core.js';
import type { PredictionRecord } from '../../src/core/prediction-tap.js';
import { FileSink } from '../../src/events/file-sink.js';
import { WebhookSink } from '../../src/events/webhook-sink.js';
import { retryAfterMs, urlForMessages } from '../../src/outbound-http.js';
import { createServer } from 'node:http';
import { PredictionEventWriter, predictionEvent } from '../../src/events/cloudevent.js';
import { PredictionEvents, eventMetricsHooks } from '../../src/events/events.js';
import { BoundedSink, DROP_REASONS, type DropReason, type EventSink, type SinkCounters } from '../../src/events/sink.js';
import { Registry } from 'prom-client';
import { sample } from '../helpers/prom.js';
import { loadRepository } from '../../src/config/load.js';
import { createRuntime } from '../../src/runtime/create.js';
import { parseServeOptions } from '../../src/cli/serve-options.js';
import { EXAMPLES, tempDir } from '../helpers/paths.js';

test('file sink: appends JSON Lines and rotates past the size, keeping N old files, lines whole', async () => {
  const path = join(tempDir(), 'events.jsonl');
  const sink = new FileSink({ path, maxBytes: 1000, keep: 2 });
  const line = (i: number) => JSON.stringify({ id: `e-${i}`, pad: 'x'.repeat(80) });
  for (let i = 0; i < 60; i++) sink.offer(line(i));
  await sink.close();
  assert.deepEqual(sink.counters(), { delivered: 60, dropped: 0, failures: 0, queued: 0 });
  const files = [path, `${path}.1`, `${path}.2`];
  assert.equal(existsSync(`${path}.3`), false);
  const ids: string[] = [];
  for (const f of [...files].reverse()) {
    const text = readFileSync(f, 'utf8');
    assert.ok(Buffer.byteLength(text) <= 1000, `${f} is ${Buffer.byteLength(text)} bytes`);
    for (const l of text.trim().split('\n')) ids.push((JSON.parse(l) as { id: string }).id);
  }
  // The newest events, in order, none split: the oldest rotated away past keep=2.
  assert.deepEqual(ids, Array.from({ length: ids.length }, (_, k) => `e-${60 - ids.length + k}`));
});

test('file sink: a file deleted or moved away is started again at its path, not written on unseen', async () => {
  const dir = tempDir();
  const path = join(dir, 'events.jsonl');
  const sink = new FileSink({ path });
  const until = async (check: () => boolean) => { while (!check()) await new Promise((r) => setTimeout(r, 5)); };
  sink.offer('{"id":"a"}');
  await until(() => sink.counters().delivered === 1);
  renameSync(path, join(dir, 'moved.jsonl'));
  sink.offer('{"id":"b"}');
  await until(() => sink.counters().delivered === 2);
  rmSync(path);
  sink.offer('{"id":"c"}');
  await sink.close();
  assert.equal(readFileSync(join(dir, 'moved.jsonl'), 'utf8'), '{"id":"a"}\n');
  assert.equal(readFileSync(path, 'utf8'), '{"id":"c"}\n');
});

test('file sink: a rotation that fails after a batch\'s first lines were written (the oldest file\'s name a folder) writes only the rest once it works: no line twice', async () => {
  // The retry wrote the whole batch again: its lines written before the failed rotation were in two files.
  const dir = tempDir();
  const path = join(dir, 'events.jsonl');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(`${path}.2`); // rotation removes FILE.2 first: a folder there makes it fail
  let failures = 0;
  const sink = new FileSink({ path, maxBytes: 33, keep: 2, backoffMs: 5, maxBackoffMs: 5, onFailure: () => failures++ });
  const until = async (check: () => boolean) => { while (!check()) await new Promise((r) => setTimeout(r, 5)); };
  const line = (id: string) => JSON.stringify({ id }); // 10 characters, 11 bytes with its newline
  // 'a' goes alone; b, c and d wait and go as one batch: b and c fill the file to its 33 bytes, d needs a rotation.
  for (const id of ['a', 'b', 'c', 'd']) sink.offer(line(id));
  await until(() => failures > 0);
  rmSync(`${path}.2`, { recursive: true });
  await until(() => sink.counters().queued === 0);
  await sink.close();
  assert.equal(readFileSync(`${path}.1`, 'utf8'), [line('a'), line('b'), line('c'), ''].join('\n'));
  assert.equal(readFileSync(path, 'utf8'), `${line('d')}\n`);
  assert.equal(existsSync(`${path}.2`), false, 'one rotation: b and c were not written again');
  assert.deepEqual(sink.counters(), { delivered: 4, dropped: 0, failures, queued: 0 });
});

test('the core reports predict() and infer() to observers; events sample and redact', async () => {
  const runtime = await createRuntime({ workers: 0 });
  const configs = loadRepository(EXAMPLES).filter((c) => c.name === 'weather');
  const records: PredictionRecord[] = [];
  const core = await InferenceCore.start({ configs, runtime, onPrediction: (r) => records.push(r) });
  const texts: string[] = [];
  const sink: EventSink = { kind: 'memory', target: 'memory', offer: (e) => { texts.push(e); return true; }, counters: (): SinkCounters => ({ delivered: 0, dropped: 0, failures: 0, queued: 0 }), close: async () => undefined };
  const events = new PredictionEvents({ sinks: [sink], redact: ['humidity', 'rain_probability'] });
  const remove = core.predictions.add(events.observe);
  try {
    assert.equal(records.length, 0, 'the warm-up run is not reported');
    const v = core.resolve('weather')!;
    const row = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };
    const validated = v.validate(row);
    assert.ok(validated.ok);
    const [answer] = await v.predict(validated.rows, undefined, { requestId: 'r-1', frontDoor: 'http' });
    await v.infer(v.encode(validated.rows), 1, { requestId: 't-1', frontDoor: 'grpc' });
    assert.deepEqual(records.map((r) => [r.requestId, r.frontDoor, r.rows]), [['r-1', 'http', 1], ['t-1', 'grpc', 1]]);
    assert.deepEqual(records[0]!.predictions, [answer]);
    assert.ok(records[1]!.outputs && records[1]!.feeds);
    const [fromPredict, fromInfer] = texts.map((t) => JSON.parse(t) as { id: string; requestid: string; data: { inputs: unknown; predictions: unknown } });
    assert.equal(fromPredict!.requestid, 'r-1');
    assert.match(fromPredict!.id, /^[0-9a-f-]{36}$/, 'a new id per event (a client may send one request id twice)');
    assert.notEqual(fromPredict!.id, fromInfer!.id);
    assert.deepEqual(fromPredict!.data.inputs, [{ ...row, humidity: '[redacted]' }]);
    assert.deepEqual(fromPredict!.data.predictions, [{ ...answer, rain_probability: '[redacted]' }]);
    const tensors = fromInfer!.data.inputs as Record<string, { datatype: string; shape: number[]; data: number[] }>;
    assert.equal(tensors.float_input!.datatype, 'float32');
    assert.deepEqual(tensors.float_input!.shape, [1, 7]);
    // A redacted name that is an Object member (a field of another model) is not added to rows that lack it.
    const texts2: string[] = [];
    const named = new PredictionEvents({ sinks: [{ ...sink, offer: (e) => { texts2.push(e); return true; } }], redact: ['toString', 'constructor', 'humidity'] });
    named.observe(records[0]!);
    assert.deepEqual((JSON.parse(texts2[0]!) as { data: { inputs: unknown } }).data.inputs, [{ ...row, humidity: '[redacted]' }]);
    // Sampling: rate 0 sends nothing.
    const none = new PredictionEvents({ sinks: [sink], sampleRate: 0 });
    const before = texts.length;
    for (let i = 0; i < 50; i++) none.observe(records[0]!);
    assert.equal(texts.length, before);
  } finally {
    remove();
    await core.close();
  }
});

test('the event writer writes what JSON.stringify(predictionEvent()) writes, for every kind of record', async () => {
  const runtime = await createRuntime({ workers: 0 });
  const configs = loadRepository(EXAMPLES).filter((c) => c.name === 'weather' || c.name === 'loan');
  const records: PredictionRecord[] = [];
  const core = await InferenceCore.start({ configs, runtime, onPrediction: (r) => records.push(r) });
  try {
    const weather = core.resolve('weather')!;
    const loan = core.resolve('loan')!;
    const predict = async (v: typeof weather, body: unknown, requestId?: string) => {
      const validated = v.validate(body);
      assert.ok(validated.ok, JSON.stringify(validated));
      await v.predict(validated.rows, undefined, { requestId, frontDoor: 'http' });
    };
    // Numbers, a key the lenient model keeps, a string needing escapes, no request id (a fresh one).
    await predict(weather, [{ temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1, note: 'say "hi"\n\u00e9\u2028' }, { temp_c: -3.1e-7, humidity: 1, wind_speed_kmph: 0, wind_bearing_degree: 0, visibility_km: 0, pressure_millibars: 999, current_weather_condition: 0 }], 'r-"1"');
    await predict(weather, { temp_c: 1, humidity: 0.5, wind_speed_kmph: 1, wind_bearing_degree: 1, visibility_km: 1, pressure_millibars: 1000, current_weather_condition: 1 });
    // Integers, categorical strings and defaults (loan's example request).
    const example = JSON.parse(readFileSync(join(EXAMPLES, 'loan', 'samples', 'valid.json'), 'utf8')) as unknown;
    await predict(loan, example, 'loan-1');
    await weather.infer(weather.encode([{ temp_c: 1, humidity: 0.5, wind_speed_kmph: 1, wind_bearing_degree: 1, visibility_km: 1, pressure_millibars: 1000, current_weather_condition: 1 }]), 1, { requestId: 't-1', frontDoor: 'grpc' });
    assert.equal(records.length, 4);
    assert.ok(records[0]!.json && records[2]!.json, 'predict() records carry the compiled writers');
    // Odd model names and times: the shared attributes are cached per model version, the time per ms.
    const odd = { ...records[0]!, model: 'we"ird/ü', time: records[0]!.time + 1 };
    const sameMs = { ...records[1]!, time: odd.time };
    const all = [...records, odd, sameMs, { ...records[1]!, time: 0 }];
    const general = { redact: new Set<string>(), sourcePrefix: '/edge' };
    const writer = new PredictionEventWriter(general);
    for (const record of all) {
      const written = JSON.parse(writer.write(record)) as { id: string };
      const expected = JSON.parse(JSON.stringify(predictionEvent(record, general))) as { id: string };
      assert.match(written.id, /^[0-9a-f-]{36}$/);
      written.id = expected.id;
      assert.deepEqual(written, expected);
    }
    // Redaction takes the general path, with the same result.
    const redacted = { redact: new Set(['humidity', 'prediction']) };
    const [viaWriter, viaObject] = [JSON.parse(new PredictionEventWriter(redacted).write(records[0]!)) as { id: string }, JSON.parse(JSON.stringify(predictionEvent(records[0]!, redacted))) as { id: string }];
    assert.notEqual(viaWriter.id, viaObject.id, 'a new id per event');
    viaWriter.id = viaObject.id;
    assert.deepEqual(viaWriter, viaObject);
  } finally {
    await core.close();
  }
});

/** A sink whose deliveries are recorded and acknowledged at once. */
class RecordingSink extends BoundedSink {
  readonly kind = 'memory';
  readonly target = 'memory';
  readonly deliveries: string[][] = [];
  protected async deliver(events: string[]): Promise<void> {
    this.deliveries.push(events);
  }
}

test('examples/weather-station/README.md shows the event the cloud receives: its attributes, in order, with values of their types (a UUID id, the station\'s request id as requestid)', async () => {
  // The README showed the reading's request id as the event's id and no requestid attribute.
  const readme = readFileSync(join(EXAMPLES, 'weather-station', 'README.md'), 'utf8');
  const block = /What the cloud receives[\s\S]*?```json\n([\s\S]*?)\n```/.exec(readme);
  assert.ok(block, 'the README shows an event');
  const shown = JSON.parse(block[1]!) as Record<string, unknown> & { data: Record<string, unknown> };
  const runtime = await createRuntime({ workers: 0 });
  const configs = loadRepository(EXAMPLES).filter((c) => c.name === 'weather');
  const records: PredictionRecord[] = [];
  const core = await InferenceCore.start({ configs, runtime, onPrediction: (r) => records.push(r) });
  try {
    const weather = core.resolve('weather')!;
    const validated = weather.validate(shown.data.inputs);
    assert.ok(validated.ok, JSON.stringify(validated));
    await weather.predict(validated.rows, undefined, { requestId: 'station-1-17', frontDoor: 'mqtt' });
    const real = JSON.parse(new PredictionEventWriter({ redact: new Set() }).write(records[0]!)) as Record<string, unknown> & { data: Record<string, unknown> };
    const shape = (o: Record<string, unknown>) => Object.entries(o).map(([k, v]) => `${k}: ${Array.isArray(v) ? 'array' : typeof v}`);
    assert.deepEqual(shape(shown), shape(real));
    assert.deepEqual(shape(shown.data), shape(real.data));
    assert.match(String(shown.id), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'a new UUID per event');
    assert.equal(shown.requestid, real.requestid);
    assert.deepEqual(Object.keys((shown.data.predictions as object[])[0]!), Object.keys((real.data.predictions as object[])[0]!));
  } finally {
    await core.close();
  }
});

/**
 * node:test's mock timers for a sink: its pacing is measured on performance.now(), which they do not
 * mock, so it follows their ticks here. `stepWallClock` moves Date alone (NTP, a VM resumed).
 */
function mockClocks(now: number): { tick: (ms: number) => void; stepWallClock: (ms: number) => void } {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now });
  let monotonic = 0;
  mock.method(performance, 'now', () => monotonic);
  return {
    tick: (ms) => {
      monotonic += ms;
      mock.timers.tick(ms);
    },
    stepWallClock: (ms) => mock.timers.setTime(Date.now() + ms),
  };
}

test('a sink with a linger sends the first event at once, then gathers events until the linger ends or a batch is full', async () => {
  const clock = mockClocks(1_000_000);
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  try {
    const sink = new RecordingSink({ lingerMs: 10, maxBatch: 3 });
    sink.offer('a');
    await settle();
    assert.deepEqual(sink.deliveries, [['a']], 'the first event goes at once');
    sink.offer('b');
    sink.offer('c');
    await settle();
    assert.deepEqual(sink.deliveries, [['a']], 'later ones wait for the linger');
    clock.tick(10);
    await settle();
    assert.deepEqual(sink.deliveries, [['a'], ['b', 'c']]);
    sink.offer('d');
    sink.offer('e');
    await settle();
    assert.equal(sink.deliveries.length, 2);
    sink.offer('f');
    await settle();
    assert.deepEqual(sink.deliveries.at(-1), ['d', 'e', 'f'], 'a full batch does not wait');
    sink.offer('g');
    await settle();
    await sink.close(1000);
    assert.deepEqual(sink.deliveries.at(-1), ['g'], 'close sends what lingers');
    assert.deepEqual(sink.counters(), { delivered: 7, dropped: 0, failures: 0, queued: 0 });
  } finally {
    mock.timers.reset();
    mock.restoreAll();
  }
});

/** A destination that is down until open() (as the MQTT sink waits for its broker). */
class GatedSink extends RecordingSink {
  private isOpen = false;
  protected override ready(): boolean {
    return this.isOpen;
  }
  open(): void {
    this.isOpen = true;
    this.poke();
  }
  shut(): void {
    this.isOpen = false;
  }
}

/** A destination that takes the events it is sent but refuses them for good while `rejecting` (a webhook's 401). */
class RejectingSink extends RecordingSink {
  rejecting = true;
  protected override async deliver(events: string[]): Promise<void> {
    await super.deliver(events);
    if (this.rejecting) this.refuse(events.length, 'the destination refused them', 'rejected');
  }
}

test('a wall clock stepped back or forward (NTP, a VM resumed) neither holds a sink\'s events for as long as the step nor skips its pauses', async () => {
  // The linger and the pause after a rejection were measured on Date.now(): stepped back an hour,
  // a sink sent nothing for an hour (unless a full batch waited), even one with no linger at all;
  // stepped forward, the pause after a rejection and the linger were skipped.
  const clock = mockClocks(100_000_000);
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  try {
    const sink = new RejectingSink({ backoffMs: 100, maxBackoffMs: 400 });
    sink.rejecting = false;
    sink.offer('a');
    await settle();
    clock.stepWallClock(-3_600_000);
    sink.offer('b');
    await settle();
    assert.deepEqual(sink.deliveries, [['a'], ['b']], 'a sink without a linger sends at once');
    sink.rejecting = true;
    sink.offer('c');
    await settle();
    clock.stepWallClock(-3_600_000);
    sink.offer('d');
    await settle();
    assert.equal(sink.deliveries.length, 3, 'the batch after a rejected one waits');
    clock.tick(400);
    await settle();
    assert.deepEqual(sink.deliveries.at(-1), ['d'], 'within the largest pause');
    clock.stepWallClock(3_600_000);
    sink.offer('e');
    await settle();
    assert.equal(sink.deliveries.length, 4, 'the batch after a rejected one still waits with the clock stepped forward');
    clock.tick(400);
    await settle();
    assert.deepEqual(sink.deliveries.at(-1), ['e']);
    const lingering = new RecordingSink({ lingerMs: 10 });
    lingering.offer('x');
    await settle();
    clock.stepWallClock(-3_600_000);
    lingering.offer('y');
    await settle();
    clock.tick(10);
    await settle();
    assert.deepEqual(lingering.deliveries, [['x'], ['y']], 'within the linger');
    clock.stepWallClock(3_600_000);
    lingering.offer('z');
    await settle();
    assert.deepEqual(lingering.deliveries, [['x'], ['y']], 'the linger still holds with the clock stepped forward');
    clock.tick(10);
    await settle();
    assert.deepEqual(lingering.deliveries.at(-1), ['z']);
    await Promise.all([sink.close(1000), lingering.close(1000)]);
  } finally {
    mock.timers.reset();
    mock.restoreAll();
  }
});

test('a sink waits before the batch after a rejected one: the retry backoff\'s steps, growing while rejections go on, reset by a delivery; events arriving meanwhile queue (queue_full past the bound)', async () => {
  // A destination refusing every batch for good (a wrong token) got the next one at once: a request per batch.
  const clock = mockClocks(1_000_000);
  mock.method(Math, 'random', () => 1); // the largest jitter: each pause is its whole step
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  const drops: string[] = [];
  try {
    const sink = new RejectingSink({ backoffMs: 100, maxBackoffMs: 400, maxQueue: 5, onDropped: (_sink, n, reason) => drops.push(`${reason} ${n}`) });
    sink.offer('a');
    await settle();
    assert.deepEqual(sink.deliveries, [['a']]);
    const waits = async (ms: number, what: string) => {
      const before = sink.deliveries.length;
      clock.tick(ms - 1);
      await settle();
      assert.equal(sink.deliveries.length, before, `${what}: nothing sent before ${ms} ms`);
      clock.tick(1);
      await settle();
      assert.equal(sink.deliveries.length, before + 1, `${what}: sent after ${ms} ms`);
    };
    sink.offer('b');
    sink.offer('c');
    await settle();
    assert.equal(sink.deliveries.length, 1, 'the batch after a rejected one is not sent at once');
    await waits(100, 'after the first rejection');
    assert.deepEqual(sink.deliveries.at(-1), ['b', 'c'], 'what arrived meanwhile goes together');
    sink.offer('d');
    await waits(200, 'after the second');
    sink.offer('e');
    await waits(400, 'after the third');
    for (const e of 'fghijkl') sink.offer(e);
    assert.deepEqual(sink.counters(), { delivered: 0, dropped: 7, failures: 0, queued: 5 }, 'the queue holds 5, two dropped as queue_full');
    sink.rejecting = false; // fixed on the destination's side: the sink never stopped
    await waits(400, 'at most the largest pause');
    assert.deepEqual(sink.deliveries.at(-1), ['f', 'g', 'h', 'i', 'j']);
    sink.rejecting = true;
    sink.offer('m');
    await settle();
    assert.deepEqual(sink.deliveries.at(-1), ['m'], 'after a delivery the next batch goes at once');
    sink.offer('n');
    await waits(100, 'a delivery resets the pause');
    assert.deepEqual(drops, ['rejected 1', 'rejected 2', 'rejected 1', 'rejected 1', 'queue_full 1', 'queue_full 1', 'rejected 1', 'rejected 1']);
    assert.deepEqual(sink.counters(), { delivered: 5, dropped: 9, failures: 0, queued: 0 });
    await sink.close(1000);
  } finally {
    mock.timers.reset();
    mock.restoreAll();
  }
});

test('webhook sink: a webhook refusing every batch (401) is not sent the next one at once; shutdown during the pause ends it at the flush deadline, the waiting events counted as shutdown', async () => {
  let arrivals = 0;
  const webhook = createServer((req, res) => {
    arrivals++;
    req.resume();
    req.on('end', () => { res.statusCode = 401; res.end(); });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  const drops: string[] = [];
  // A pause far longer than this test: nothing may be sent during it.
  const sink = new WebhookSink({ url: `http://127.0.0.1:${(webhook.address() as { port: number }).port}/events`, backoffMs: 600_000, maxBackoffMs: 600_000, onDropped: (_sink, n, reason) => drops.push(`${reason} ${n}`) });
  try {
    sink.offer('{"n":1}');
    for (const end = Date.now() + 5000; sink.counters().dropped === 0;) {
      assert.ok(Date.now() < end, JSON.stringify(sink.counters()));
      await new Promise((r) => setTimeout(r, 10));
    }
    for (let n = 2; n <= 4; n++) sink.offer(`{"n":${n}}`);
    await sink.close(300);
    assert.equal(arrivals, 1, 'one request: the events after the rejection waited');
    assert.deepEqual(drops, ['rejected 1', 'shutdown 3']);
  } finally {
    await sink.close(0);
    webhook.close();
  }
});

test('a delivery that ends after the flush\'s deadline is not counted delivered on top of dropped (shutdown): each event is counted once', async () => {
  // A webhook trickling its 2xx answer past the deadline: the event was counted dropped (shutdown) at
  // close, then delivered when the answer ended; the queue's byte count went below zero.
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  let finish: (() => void) | undefined;
  class SlowSink extends RecordingSink {
    protected override deliver(events: string[]): Promise<void> {
      this.deliveries.push(events);
      return new Promise((resolve) => { finish = resolve; }); // heeds no abort
    }
  }
  const drops: string[] = [];
  let delivered = 0;
  const sink = new SlowSink({ onDropped: (_sink, n, reason) => drops.push(`${reason} ${n}`), onDelivered: (_sink, n) => { delivered += n; } });
  const alive = setInterval(() => undefined, 1000); // close's deadline timer keeps nothing running
  try {
    sink.offer('a');
    await settle();
    assert.equal(sink.deliveries.length, 1);
    await sink.close(10);
    finish!();
    await settle();
  } finally {
    clearInterval(alive);
  }
  assert.deepEqual(drops, ['shutdown 1']);
  assert.equal(delivered, 0);
  assert.deepEqual(sink.counters(), { delivered: 0, dropped: 1, failures: 0, queued: 0 });
});

test('a sink bounds its queue by bytes too: large events past --events-queue-bytes are dropped and counted, not held until memory runs out', async () => {
  // 2,000-row requests to a webhook that never answered took a server from 160 MB to 3.2 GB with
  // 1,823 events queued (of the 10,000 the count allowed): past its heap limit at ~2,500.
  const warnings: Array<Record<string, unknown>> = [];
  const sink = new GatedSink({ maxQueueBytes: 1000, warn: (message, detail) => warnings.push({ message, ...detail }) });
  const big = (c: string) => c.repeat(300);
  try {
    for (const c of 'abcd') sink.offer(big(c));
    assert.deepEqual(sink.counters(), { delivered: 0, dropped: 1, failures: 0, queued: 3 }, 'three fit in 1,000 bytes, the fourth is dropped');
    assert.match(String(warnings[0]?.message), /prediction events dropped: the memory sink's queue is full \(10000 events or 1000 bytes\)/);
    sink.open();
    while (sink.counters().queued > 0) await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(sink.deliveries.flat().map((e) => e[0]), ['a', 'b', 'c']);
    // Delivered events free their bytes: the queue takes as much again.
    sink.shut();
    for (const c of 'efg') assert.equal(sink.offer(big(c)), true);
    assert.deepEqual(sink.counters(), { delivered: 3, dropped: 1, failures: 0, queued: 3 });
    const again = new GatedSink({ maxQueueBytes: 1000 });
    assert.equal(again.offer('x'.repeat(5000)), true, 'one event larger than the bound alone is taken (it could never be sent otherwise)');
    assert.equal(again.offer('y'), false);
    again.open();
    await again.close(1000);
  } finally {
    sink.open();
    await sink.close(1000);
  }
  assert.equal(parseServeOptions(['--events-file', join(tmpdir(), 'e.jsonl')], {}).streams?.events?.maxQueueBytes, 64 * 1024 * 1024, 'the default, 64 MiB');
  assert.equal(parseServeOptions(['--events-file', join(tmpdir(), 'e.jsonl'), '--events-queue-bytes', '1mb'], {}).streams?.events?.maxQueueBytes, 1024 * 1024);
});

test('webhook sink: a batch the webhook refuses as too large (413) is sent in parts; an event too large alone is dropped and counted, the rest delivered', async () => {
  // A webhook with a body limit, as nginx has (client_max_body_size): 413 past 2,000 bytes.
  const received: string[] = [];
  let refused = 0;
  const webhook = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      if (body.length > 2000) { refused++; res.statusCode = 413; return res.end(); }
      const events = (body.startsWith('[') ? JSON.parse(body) : [JSON.parse(body)]) as Array<{ n: number }>;
      for (const e of events) received.push(String(e.n));
      res.end();
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  const warnings: string[] = [];
  const sink = new WebhookSink({ url: `http://127.0.0.1:${(webhook.address() as { port: number }).port}/events`, backoffMs: 10, maxBackoffMs: 10, warn: (message) => warnings.push(message) });
  try {
    const event = (n: number, bytes = 300) => JSON.stringify({ n, pad: 'x'.repeat(bytes) });
    // The first goes alone; the other 29 wait and go as one batch of ~9 KB.
    for (let n = 0; n < 30; n++) sink.offer(event(n, n === 17 ? 3000 : 300));
    const end = Date.now() + 10_000;
    while (sink.counters().queued > 0) {
      assert.ok(Date.now() < end, `events still queued: ${JSON.stringify(sink.counters())}, ${refused} refused with 413`);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(received, Array.from({ length: 30 }, (_, n) => String(n)).filter((n) => n !== '17'), 'every event but the oversized one, in order');
    assert.deepEqual(sink.counters(), { delivered: 29, dropped: 1, failures: 0, queued: 0 });
    assert.match(warnings.join('\n'), /an event of 3\d{3} bytes is larger than the webhook accepts \(it answered 413\)/);
  } finally {
    await sink.close(1000);
    webhook.close();
  }
});

test('webhook sink: a batch split after a 413 whose last part fails on the network sends again only that part: the parts delivered or rejected before are not sent twice', async () => {
  // The whole batch was sent again: the delivered parts twice (duplicates), the rejected one refused again.
  const received: string[] = [];
  let cut = false;
  const webhook = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => { body += d.toString(); });
    req.on('end', () => {
      const events = (body.startsWith('[') ? JSON.parse(body) : [JSON.parse(body)]) as Array<{ n: string }>;
      if (events.length > 2) { res.statusCode = 413; return res.end(); }
      if (events.some((e) => e.n.startsWith('bad'))) { res.statusCode = 400; return res.end(); }
      // The connection lost before any answer, once.
      if (events.some((e) => e.n.startsWith('net')) && !cut) { cut = true; return req.socket.destroy(); }
      for (const e of events) received.push(e.n);
      res.end();
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  const drops: string[] = [];
  const sink = new WebhookSink({ url: `http://127.0.0.1:${(webhook.address() as { port: number }).port}/events`, backoffMs: 10, maxBackoffMs: 10, onDropped: (_sink, n, reason) => drops.push(`${reason} ${n}`) });
  try {
    // '0' goes alone; the six after it wait and go as one batch, split (413) into [1,2] [bad3] [4,5] [net6].
    for (const n of ['0', '1', '2', 'bad3', '4', '5', 'net6']) sink.offer(JSON.stringify({ n }));
    for (const end = Date.now() + 10_000; sink.counters().queued > 0;) {
      assert.ok(Date.now() < end, JSON.stringify(sink.counters()));
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(cut);
    assert.deepEqual(received, ['0', '1', '2', '4', '5', 'net6'], 'each delivered once, in order');
    assert.deepEqual(drops, ['rejected 1'], 'the rejected part counted once');
    assert.deepEqual(sink.counters(), { delivered: 6, dropped: 1, failures: 1, queued: 0 });
  } finally {
    await sink.close(1000);
    webhook.close();
  }
});

test('webhook sink: an answer whose body trickles on (a byte before each idle timeout) holds the sink no longer than the attempt\'s timeout: its status counts', async () => {
  // The sink read the body to its end: it never came, and no event was sent again until a restart.
  let requests = 0;
  const webhook = createServer((req, res) => {
    requests++;
    req.resume();
    req.on('end', () => {
      res.writeHead(200);
      const drip = setInterval(() => res.write('x'), 50);
      res.on('close', () => clearInterval(drip));
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  const sink = new WebhookSink({ url: `http://127.0.0.1:${(webhook.address() as { port: number }).port}/events`, timeoutMs: 300 });
  try {
    for (const n of [1, 2]) {
      sink.offer(`{"n":${n}}`);
      for (const end = Date.now() + 10_000; sink.counters().delivered < n;) {
        assert.ok(Date.now() < end, `held by the trickling answer: ${JSON.stringify(sink.counters())}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    assert.equal(requests, 2);
    assert.deepEqual(sink.counters(), { delivered: 2, dropped: 0, failures: 0, queued: 0 });
  } finally {
    await sink.close(0);
    webhook.closeAllConnections();
    webhook.close();
  }
});

test('webhook sink: a failed attempt is logged as what the webhook did (no answer in time, the connection closed before an answer), not in undici\'s words', async () => {
  // The warning's error said "Headers Timeout Error" or "other side closed".
  for (const [answer, said] of [['none', /^the webhook did not answer within 200 ms \(/], ['close', /^the webhook closed the connection before answering \(/]] as const) {
    const webhook = createServer((req, res) => {
      req.resume();
      req.on('end', () => { if (answer === 'close') res.socket?.destroy(); });
    });
    await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
    const errors: string[] = [];
    const sink = new WebhookSink({ url: `http://127.0.0.1:${(webhook.address() as { port: number }).port}/events`, timeoutMs: 200, backoffMs: 10, maxBackoffMs: 10, warn: (_message, detail) => errors.push(String(detail.error)) });
    try {
      sink.offer('{"n":1}');
      for (const end = Date.now() + 10_000; errors.length === 0;) {
        assert.ok(Date.now() < end, JSON.stringify(sink.counters()));
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.match(errors[0]!, said);
    } finally {
      await sink.close(0);
      webhook.closeAllConnections();
      webhook.close();
    }
  }
});

test('webhook sink: a 429 (or 503) with Retry-After is not sent again before it, as the CloudEvents webhook spec requires', async () => {
  // It was retried after the usual 50-100 ms backoff, hammering a rate-limited webhook.
  const arrivals: number[] = [];
  const webhook = createServer((req, res) => {
    arrivals.push(performance.now());
    req.resume();
    req.on('end', () => {
      if (arrivals.length === 1) { res.writeHead(429, { 'retry-after': '1' }); return res.end(); }
      res.end();
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  const sink = new WebhookSink({ url: `http://127.0.0.1:${(webhook.address() as { port: number }).port}/events`, backoffMs: 10, maxBackoffMs: 10 });
  try {
    sink.offer('{"n":1}');
    while (sink.counters().delivered === 0) await new Promise((r) => setTimeout(r, 20));
    assert.equal(arrivals.length, 2);
    // A lower bound only (sleeping at least as asked): the timer never fires early.
    assert.ok(arrivals[1]! - arrivals[0]! >= 990, `sent again ${Math.round(arrivals[1]! - arrivals[0]!)} ms after the 429 asked for 1 s`);
    assert.deepEqual(sink.counters(), { delivered: 1, dropped: 0, failures: 1, queued: 0 });
  } finally {
    await sink.close(1000);
    webhook.close();
  }
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(retryAfterMs('120', now), 120_000);
  assert.equal(retryAfterMs('Thu, 01 Jan 2026 00:00:30 GMT', now), 30_000, 'an HTTP-date');
  assert.equal(retryAfterMs('Wed, 31 Dec 2025 00:00:00 GMT', now), 0, 'a date gone by: at once');
  assert.equal(retryAfterMs('999999999', now), 3_600_000, 'at most an hour');
  assert.equal(retryAfterMs('soon', now), undefined);
  assert.equal(retryAfterMs(undefined, now), undefined);
});

test('webhook sink: a user:password in the URL is sent as Basic authorization, a token from --events-webhook-token-env/-file as Bearer; the password is never logged', async () => {
  // undici dropped the URL's credentials without a word: the webhook answered 401 to every event, retried forever.
  const seen: Array<string | undefined> = [];
  const webhook = createServer((req, res) => {
    seen.push(req.headers.authorization);
    req.resume();
    const ok = req.headers.authorization === `Basic ${Buffer.from('bob:p@ss:word').toString('base64')}` || req.headers.authorization === 'Bearer tok-123.abc';
    req.on('end', () => { res.statusCode = ok ? 204 : 401; res.end(); });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  const port = (webhook.address() as { port: number }).port;
  const warnings: string[] = [];
  const basic = new WebhookSink({ url: `http://bob:p%40ss%3Aword@127.0.0.1:${port}/events`, backoffMs: 10, maxBackoffMs: 10, warn: (message, detail) => warnings.push(message + JSON.stringify(detail)) });
  const dir = tempDir();
  writeFileSync(join(dir, 'token'), 'tok-123.abc\n');
  let bearer: WebhookSink | undefined;
  try {
    basic.offer('{"n":1}');
    await basic.close(5000);
    const fromFile = parseServeOptions(['--events-webhook', `http://127.0.0.1:${port}/events`, '--events-webhook-token-file', join(dir, 'token')], {});
    const fromEnv = parseServeOptions(['--events-webhook', `http://127.0.0.1:${port}/events`, '--events-webhook-token-env', 'HOOK_TOKEN'], { HOOK_TOKEN: 'tok-123.abc' });
    assert.deepEqual(fromEnv.streams?.events?.webhookHeaders, fromFile.streams?.events?.webhookHeaders);
    bearer = new WebhookSink({ url: fromFile.streams!.events!.webhook!, headers: fromFile.streams!.events!.webhookHeaders, backoffMs: 10, maxBackoffMs: 10 });
    bearer.offer('{"n":2}');
    await bearer.close(5000);
    assert.deepEqual({ basic: basic.counters(), bearer: bearer.counters() }, { basic: { delivered: 1, dropped: 0, failures: 0, queued: 0 }, bearer: { delivered: 1, dropped: 0, failures: 0, queued: 0 } }, JSON.stringify(seen));
    assert.equal(basic.target, `http://127.0.0.1:${port}/events`);
    assert.ok(!warnings.join().includes('p%40ss'), warnings.join());
  } finally {
    await basic.close(0);
    await bearer?.close(0);
    webhook.close();
    rmSync(dir, { recursive: true });
  }
  // A token that cannot be a header value, one without a webhook, one beside URL credentials: said at start.
  assert.throws(() => parseServeOptions(['--events-webhook', 'https://bob:pw@h/e', '--events-webhook-token-env', 'HOOK_TOKEN'], { HOOK_TOKEN: 'two words' }), (err: Error) => {
    assert.match(err.message, /--events-webhook-token-env: --events-webhook has a user name and password too; give one of them/);
    assert.match(err.message, /--events-webhook-token-env: the token is empty or holds spaces/);
    assert.ok(!err.message.includes('two words'));
    return true;
  });
  // Set in their variables, both are named as such: the URL's was named --events-webhook, never typed.
  assert.throws(() => parseServeOptions([], { MODELSERVE_EVENTS_WEBHOOK: 'https://bob:pw-9x@h/e', MODELSERVE_EVENTS_WEBHOOK_TOKEN_ENV: 'HOOK_TOKEN', HOOK_TOKEN: 't' }), (err: Error) => {
    assert.match(err.message, /\$MODELSERVE_EVENTS_WEBHOOK_TOKEN_ENV: \$MODELSERVE_EVENTS_WEBHOOK has a user name and password too; give one of them/);
    assert.doesNotMatch(err.message, /--events-webhook/);
    assert.ok(!err.message.includes('pw-9x'));
    return true;
  });
  assert.throws(() => parseServeOptions(['--events-webhook-token-env', 'HOOK_TOKEN'], { HOOK_TOKEN: 't' }), /--events-webhook-token-env: needs --events-webhook or MODELSERVE_EVENTS_WEBHOOK/);
  assert.throws(() => parseServeOptions(['--events-webhook', 'https://h/e', '--events-webhook-token-env', 'HOOK_TOKEN'], {}), /--events-webhook-token-env: environment variable HOOK_TOKEN is not set or empty/);
});

test('webhook sink: after a 410 Gone or a redirect no more events are sent (the CloudEvents webhook spec); they are dropped and counted, with a warning', async () => {
  // Both were retried forever, a warning "webhook answered 301" every 10 s.
  for (const [status, why] of [[410, /410 Gone \(it was retired\): no more events are sent to it/], [301, /answered 301, a redirect to https:\/\/new\.example\/hook, which a webhook sender must not follow: no more events are sent to it; give \$MODELSERVE_EVENTS_WEBHOOK the new URL/]] as const) {
    let arrivals = 0;
    const webhook = createServer((req, res) => {
      arrivals++;
      req.resume();
      req.on('end', () => { res.writeHead(status, { location: 'https://new.example/hook' }); res.end(); });
    });
    await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
    const warnings: string[] = [];
    // The URL set in its variable: the warning names that, not a flag the user never typed.
    const events = parseServeOptions([], { MODELSERVE_EVENTS_WEBHOOK: `http://127.0.0.1:${(webhook.address() as { port: number }).port}/events` }).streams!.events!;
    const sink = new WebhookSink({ url: events.webhook!, urlSource: events.webhookSource, backoffMs: 10, maxBackoffMs: 10, warn: (message) => warnings.push(message) });
    try {
      sink.offer('{"n":1}');
      for (const end = Date.now() + 5000; sink.counters().dropped === 0;) {
        assert.ok(Date.now() < end, `still sending after a ${status}: ${JSON.stringify(sink.counters())}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      sink.offer('{"n":2}');
      await sink.close(2000);
      assert.deepEqual(sink.counters(), { delivered: 0, dropped: 2, failures: 0, queued: 0 });
      assert.equal(arrivals, 1, 'one POST, none after the answer');
      assert.match(warnings[0]!, why);
      assert.ok(!warnings.some((w) => /retrying/.test(w)), warnings.join('\n'));
    } finally {
      await sink.close(0);
      webhook.close();
    }
  }
});

test('webhook sink: a 4xx that resending cannot change (400, 401, 403, 405, 415, 422) drops that batch as rejected, with one warning naming the answer and what to fix, and the next batch is sent; 404, 408 and 409 are retried', async () => {
  // A 401 was retried forever (a warning every 10 s), the same refused batch sent again while the
  // queue filled and fresh events were dropped as queue_full.
  let status = 401;
  let accepted = 'Bearer fixed-token';
  const arrivals: string[] = [];
  const webhook = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => { body += d.toString(); });
    req.on('end', () => {
      arrivals.push(body);
      res.statusCode = status === 401 && req.headers.authorization === accepted ? 200 : status;
      res.end();
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(webhook.address() as { port: number }).port}/events`;
  const warnings: string[] = [];
  const drops: string[] = [];
  // The token as the server options give it: from the variable named by --events-webhook-token-env.
  const options = parseServeOptions(['--events-webhook', url], { MODELSERVE_EVENTS_WEBHOOK_TOKEN_ENV: 'HOOK_TOKEN', HOOK_TOKEN: 'old-secret-123' });
  const events = options.streams!.events!;
  const sink = new WebhookSink({
    url, headers: events.webhookHeaders, credentials: events.webhookCredentials, backoffMs: 10, maxBackoffMs: 10,
    warn: (message, detail) => warnings.push(`${message} ${JSON.stringify(detail)}`),
    onDropped: (_sink, n, reason) => drops.push(`${reason} ${n}`),
  });
  const settled = async (what: () => boolean) => {
    for (const end = Date.now() + 5000; !what();) {
      assert.ok(Date.now() < end, `not settled: ${JSON.stringify(sink.counters())} ${warnings.join('\n')}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  try {
    sink.offer('{"n":1}');
    await settled(() => sink.counters().dropped === 1);
    assert.deepEqual(drops, ['rejected 1']);
    assert.equal(arrivals.length, 1, 'the refused batch is not sent again');
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0]!, /the webhook answered 401 Unauthorized, which resending cannot change: these events are dropped, later ones are still sent \(check the token in \$HOOK_TOKEN \(named by \$MODELSERVE_EVENTS_WEBHOOK_TOKEN_ENV\)/);
    assert.doesNotMatch(warnings[0]!, /old-secret-123/);
    assert.equal(sink.stopped(), undefined, 'the sink goes on: credentials can be fixed while the server runs');
    // Fixed on the webhook's side: the next event gets through, without a restart.
    accepted = 'Bearer old-secret-123';
    sink.offer('{"n":2}');
    await settled(() => sink.counters().delivered === 1);
    assert.deepEqual(arrivals, ['{"n":1}', '{"n":2}']);
    for (const [code, hint] of [[400, /400 Bad Request.*see the webhook's log/], [403, /403 Forbidden.*check the token in \$HOOK_TOKEN/], [405, /405 Method Not Allowed.*check its path/], [415, /415 Unsupported Media Type.*application\/cloudevents-batch\+json/], [422, /422 Unprocessable Entity/]] as const) {
      status = code;
      const before = sink.counters().dropped;
      sink.offer(`{"code":${code}}`);
      await settled(() => sink.counters().dropped === before + 1);
      assert.match(drops.at(-1)!, /^rejected 1$/);
      assert.equal(arrivals.filter((a) => a === `{"code":${code}}`).length, 1, `${code} sent once`);
      // The warning is rate-limited per reason (this sink's came within 10 s): a fresh sink's first says it.
      const said: string[] = [];
      const fresh = new WebhookSink({ url, headers: events.webhookHeaders, credentials: events.webhookCredentials, warn: (message) => said.push(message) });
      fresh.offer('{"fresh":1}');
      await fresh.close(2000);
      assert.equal(said.length, 1, said.join('\n'));
      assert.match(said[0]!, hint);
    }
    assert.equal(sink.counters().failures, 0, 'no rejection is a retried failure');
    assert.equal(warnings.length, 1, `one warning within 10 s: ${warnings.join('\n')}`);
    // Knative's senders retry these (a route or broker may not exist yet): so does this one, until a 2xx.
    for (const code of [404, 408, 409]) {
      status = code;
      const delivered = sink.counters().delivered;
      const failures = sink.counters().failures;
      sink.offer(`{"retry":${code}}`);
      await settled(() => sink.counters().failures >= failures + 2);
      status = 200;
      await settled(() => sink.counters().delivered === delivered + 1);
    }
    assert.ok(warnings.some((w) => /webhook answered 404 \(a route that may not exist yet; if it lasts, check the URL's path\)/.test(w)), warnings.join('\n'));
    assert.equal(drops.filter((d) => !d.startsWith('rejected')).length, 0, drops.join());
  } finally {
    await sink.close(0);
    webhook.close();
  }
});

test('sinks: drops are warned about and counted by reason (queue_full, stopped, shutdown), a shutdown never reported as a full queue; a stopped webhook shows in modelserve_events_sink_running', async () => {
  // At shutdown every unreported drop was logged as "the webhook sink's queue was full": events a
  // retired webhook (410) refused, events offered while the sink was closing. Only the log said it stopped.
  const webhook = createServer((req, res) => {
    req.resume();
    req.on('end', () => { res.statusCode = 410; res.end(); });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  const registry = new Registry();
  const warnings: Array<{ message: string; sink: unknown; reason: unknown; dropped: unknown }> = [];
  const common = {
    // Called once the sinks exist, as in src/events/streams.ts.
    onDropped: (sink: string, n: number, reason: DropReason) => hooks.onDropped(sink, n, reason),
    warn: (message: string, detail: Record<string, unknown>) => warnings.push({ message, sink: detail.sink, reason: detail.reason, dropped: detail.dropped }),
    backoffMs: 10,
    maxBackoffMs: 10,
  };
  const hook = new WebhookSink({ ...common, url: `http://127.0.0.1:${(webhook.address() as { port: number }).port}/events` });
  const gated = new GatedSink({ ...common, maxQueue: 3 });
  const hooks = eventMetricsHooks(registry, () => [hook, gated]);
  const metric = async (name: string, labels: Record<string, string>) => sample(await registry.metrics(), name, labels);
  try {
    assert.equal(await metric('modelserve_events_sink_running', { sink: 'webhook' }), 1);
    // The help named --events-webhook alone, which a URL from $MODELSERVE_EVENTS_WEBHOOK never went through.
    assert.match(await registry.metrics(), /# HELP modelserve_events_sink_running .*restart with the new URL in --events-webhook or \$MODELSERVE_EVENTS_WEBHOOK, whichever gave it\.\n/);
    hook.offer('{"n":1}');
    for (const end = Date.now() + 5000; hook.counters().dropped === 0;) {
      assert.ok(Date.now() < end, `still sending after a 410: ${JSON.stringify(hook.counters())}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(await metric('modelserve_events_sink_running', { sink: 'webhook' }), 0, 'the webhook stopped for good');
    assert.equal(await metric('modelserve_events_sink_running', { sink: 'memory' }), 1);
    hook.offer('{"n":2}'); // refused too, its warning held back (one every 10 s)
    for (const e of ['a', 'b', 'c', 'd', 'e']) gated.offer(e); // 3 queued (never delivered: the destination is down), 2 dropped
    await hook.close(2000);
    const closing = gated.close(100);
    gated.offer('f'); // after the sink began closing
    await closing;
    assert.deepEqual(warnings.map((w) => [w.sink, w.reason, w.dropped]), [
      ['webhook', 'stopped', 1],
      ['memory', 'queue_full', 1],
      ['webhook', 'stopped', 1], // n:2, at close: said with its reason
      ['memory', 'shutdown', 1], // f: warned at once, as the first of its reason
      ['memory', 'queue_full', 1], // e, at close
      ['memory', 'shutdown', 3], // a, b, c: the flush's deadline passed
    ], JSON.stringify(warnings));
    assert.match(warnings[2]!.message, /the webhook answered 410 Gone/);
    assert.match(warnings[3]!.message, /the memory sink is closing \(shutdown\)/);
    assert.match(warnings.at(-1)!.message, /the memory sink did not deliver them within 100 ms of shutdown/);
    const counts: Record<string, number | undefined> = {};
    for (const sink of ['webhook', 'memory']) for (const reason of DROP_REASONS) counts[`${sink} ${reason}`] = await metric('modelserve_events_dropped_total', { sink, reason });
    assert.deepEqual(counts, {
      'webhook queue_full': 0, 'webhook too_large': 0, 'webhook stopped': 2, 'webhook rejected': 0, 'webhook shutdown': 0,
      'memory queue_full': 2, 'memory too_large': 0, 'memory stopped': 0, 'memory rejected': 0, 'memory shutdown': 4,
    });
    // The total by outcome is unchanged: every drop, whatever its reason.
    assert.equal(await metric('modelserve_events_total', { sink: 'memory', outcome: 'dropped' }), 6);
    assert.equal(await metric('modelserve_events_total', { sink: 'webhook', outcome: 'dropped' }), 2);
  } finally {
    gated.open();
    await gated.close(0);
    await hook.close(0);
    webhook.close();
  }
});

test('serve options: MQTT and events problems are reported together', () => {
  assert.throws(() => parseServeOptions(['--mqtt-url', 'http://x', '--events-sample', '2', '--events-webhook', 'ftp://x', '--events-mqtt-topic', 'a/#', '--mqtt-password-env', 'NOPE_NOT_SET'], {}), (err: Error) => {
    for (const p of [/--mqtt-url: 'http:\/\/x' is not an MQTT URL/, /--events-sample: '2' is not a fraction/, /--events-webhook: 'ftp:\/\/x' is not an http\(s\) URL/, /--events-mqtt-topic: 'a\/#' has a wildcard/, /--mqtt-password-env: environment variable NOPE_NOT_SET is not set/]) assert.match(err.message, p);
    return true;
  });
  assert.throws(() => parseServeOptions(['--events-mqtt-topic', 'cloud'], {}), /--events-mqtt-topic: needs --mqtt-url/);
  // URLs the pattern took but the URL parser refuses stopped the server with "Invalid URL" (or a port
  // range error), naming no option; the password in one is not echoed.
  assert.throws(() => parseServeOptions(['--events-webhook', 'http://hooks.example.com:99999/e', '--mqtt-url', 'mqtt://127.0.0.1:99999'], {}), (err: Error) => {
    assert.match(err.message, /--events-webhook: 'http:\/\/hooks\.example\.com:99999\/e' is not an http\(s\) URL/);
    assert.match(err.message, /--mqtt-url: 'mqtt:\/\/127\.0\.0\.1:99999' is not an MQTT URL/);
    return true;
  });
  assert.throws(() => parseServeOptions(['--events-webhook', 'https://bob:hunter2@hooks example.com/e'], {}), (err: Error) => err.message.includes("--events-webhook: 'https://…@hooks example.com/e' is not an http(s) URL") && !err.message.includes('hunter2'));
  // A password in a refused URL is not echoed (the message goes to the terminal and the platform's log).
  assert.throws(() => parseServeOptions(['--mqtt-url', 'tcp://bob:hunter2-secret@broker:1883'], {}), (err: Error) => err.message.includes("--mqtt-url: 'tcp://…@broker:1883' is not an MQTT URL") && !err.message.includes('hunter2'));
  // Nor a password holding a '/' (it is what makes the URL unparsable), nor a user name alone (a
  // broker's access token goes there: ThingsBoard's, Flespi's), nor a query's token.
  assert.throws(() => parseServeOptions(['--mqtt-url', 'mqtt://bob:hun/ter2@broker host:1883', '--events-webhook', 'https://tok3n-s3cret@hooks example.com/e?sig=s1gn4ture'], {}), (err: Error) => {
    assert.match(err.message, /--mqtt-url: 'mqtt:\/\/…@broker host:1883' is not an MQTT URL/);
    assert.match(err.message, /--events-webhook: 'https:\/\/…@hooks example\.com\/e\?…' is not an http\(s\) URL/);
    assert.doesNotMatch(err.message, /bob|hun|ter2|tok3n|s3cret|s1gn4ture/);
    return true;
  });
  // A valid broker URL as the MQTT front door's log lines show it (mqtt: connected, unreachable):
  // an access token given as the user name was logged as it is.
  assert.equal(urlForMessages('mqtt://tok3n-s3cret@broker:1883'), 'mqtt://…@broker:1883');
  assert.equal(urlForMessages('wss://bob:hunter2@broker/mqtt?token=s3cret'), 'wss://…@broker/mqtt?…');
  assert.equal(urlForMessages('mqtt://broker:1883'), 'mqtt://broker:1883');
  // An events file that cannot be written is said at start (it was only logged at the first event).
  assert.throws(() => parseServeOptions(['--events-file', tmpdir()], {}), new RegExp(`--events-file: ${tmpdir()} is not a regular file \\(events are appended to a file\\)`));
  assert.throws(() => parseServeOptions(['--events-file', '/nonexistent-folder/e.jsonl'], {}), /--events-file: \/nonexistent-folder\/e\.jsonl cannot be created: the folder \/nonexistent-folder does not exist/);
  assert.throws(() => parseServeOptions(['--mqtt-url', 'mqtt://127.0.0.1:1', '--mqtt-errors-topic', 'modelserve/{model}/predict'], {}), /--mqtt-errors-topic: 'modelserve\/\{model\}\/predict' is also the request topic: every answer would come back as a request/);
  // A group with a '/' subscribed to another topic ($share/a/b/<topic> is group 'a'), and a request
  // topic written as $share/… got its messages under the plain topic: both were ready and never answered.
  assert.throws(() => parseServeOptions(['--mqtt-url', 'mqtt://127.0.0.1:1', '--mqtt-group', 'plant/7', '--mqtt-request-topic', '$share/g/{model}/in'], {}), (err: Error) => {
    assert.match(err.message, /--mqtt-group: 'plant\/7' holds a '\/', '\+' or '#', which a shared-subscription group name may not/);
    assert.match(err.message, /--mqtt-request-topic: '\$share\/g\/\{model\}\/in' starts with \$share\/, which names a shared subscription, not a topic: give the plain topic \(and --mqtt-group NAME/);
    return true;
  });
  const ok = parseServeOptions(['--mqtt-url', 'mqtt://127.0.0.1:1883', '--mqtt-password-env', 'PW', '--events-file', 'e.jsonl', '--events-redact', 'a, b'], { PW: 'secret' });
  assert.equal(ok.streams?.mqtt?.password, 'secret');
  assert.deepEqual(ok.streams?.events?.redact, ['a', 'b']);
  assert.deepEqual(parseServeOptions(['--events-redact', 'a, b'], {}).redact, ['a', 'b'], 'the dashboard redacts without a sink too');
  assert.equal(ok.streams?.mqtt?.topics?.request, 'modelserve/{model}/predict');
  assert.equal(parseServeOptions([], {}).streams, undefined);
});

test("a sink's first failure is warned about in a process's first seconds (the warning throttle's clock starts near 0 there)", async () => {
  // A fresh process: performance.now() is then a few hundred ms, and a throttle that started at 0
  // held back every failure warning for its first 10 s — when a misconfigured webhook fails first.
  const { execFile } = await import('node:child_process');
  const sinkModule = new URL('../../src/events/webhook-sink.js', import.meta.url).href;
  const script = `
    const { WebhookSink } = await import(${JSON.stringify(sinkModule)});
    const warnings = [];
    const sink = new WebhookSink({ url: 'http://127.0.0.1:1/events', backoffMs: 10, maxBackoffMs: 10, warn: (message) => warnings.push(message) });
    sink.offer(JSON.stringify({ n: 1 }));
    while (sink.counters().failures === 0) await new Promise((r) => setTimeout(r, 5));
    await sink.close(0);
    console.log(JSON.stringify({ uptimeMs: performance.now(), warnings }));`;
  const out = await new Promise<string>((resolve, reject) => execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout))));
  const { uptimeMs, warnings } = JSON.parse(out) as { uptimeMs: number; warnings: string[] };
  assert.match(warnings.join('\n'), /the webhook sink failed; retrying with backoff/, `no warning after ${uptimeMs.toFixed(0)} ms of the process`);
});
