// Fuzz of the MQTT front door, as test/http/fuzz.test.ts is of HTTP: seeded hostile messages
// through a real mosquitto — payloads that are not JSON, not UTF-8, too large, deep, of the wrong
// types, with prototype keys; MQTT 5 properties that are odd (response topics that are empty, hold
// wildcards, are a request, errors or predictions topic, are very long; long or binary correlation
// data; odd request ids and user properties; message expiry). Every message on a served request
// topic gets exactly one answer on the errors topic ({detail, code, status, request_id}, a
// documented code with its documented 4xx status) or a prediction; none gets a 5xx or goes
// unanswered, and the front door still answers a good request afterwards. A failure names the
// message's index (the generator is seeded; FUZZ_SEED and FUZZ_SCALE as in the other fuzz tests).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type IClientPublishOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { ERRORS } from '../../src/errors.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { EXAMPLES, tempDir } from '../helpers/paths.js';
import { draws, inParallel } from '../helpers/fuzz.js';
import { exampleModel } from '../pipelines/helpers.js';

const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const MESSAGES = Math.round(2_000 * SCALE);
const CONCURRENCY = 8;
const LIMIT = 16 * 1024;
const ANSWER_WAIT_MS = 15_000;
const MODELS = ['weather', 'loan', 'strict'] as const;
const SAMPLES = {
  weather: JSON.parse(readFileSync(join(EXAMPLES, 'weather', 'samples', 'valid.json'), 'utf8')) as Array<Record<string, unknown>>,
  loan: JSON.parse(readFileSync(join(EXAMPLES, 'loan', 'samples', 'valid.json'), 'utf8')) as Array<Record<string, unknown>>,
};

let broker: Broker;
let server: RunningServer;
let client: MqttClient;
/** Every message that came back, by the index in its correlation data. */
const answers = new Map<number, Array<{ topic: string; payload: Buffer }>>();
const waiters = new Map<number, () => void>();

before(async () => {
  broker = await startMosquitto();
  const repo = tempDir();
  exampleModel(repo, 'weather');
  exampleModel(repo, 'loan');
  exampleModel(repo, 'weather', 'strict', 'strict: true\n');
  server = await startServer({ repo, port: 0, workers: 1, logger: false, bodyLimit: LIMIT, streams: { mqtt: { url: broker.url, required: true, maxPayload: LIMIT } } });
  await server.streams!.frontDoor!.waitReady();
  client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'test-fuzz' });
  client.on('message', (topic: string, payload: Buffer, packet: IPublishPacket) => {
    const index = /^fz-(\d+)\|/.exec(packet.properties?.correlationData?.toString('latin1') ?? '')?.[1];
    if (index === undefined) return;
    const list = answers.get(Number(index)) ?? [];
    list.push({ topic, payload });
    answers.set(Number(index), list);
    waiters.get(Number(index))?.();
  });
  await client.subscribeAsync(['modelserve/+/errors', 'modelserve/+/predictions', 'fuzz/#'], { qos: 1 });
});
after(async () => {
  await client?.endAsync();
  await server?.shutdown();
  await broker?.stop();
});

function generator(seed: number) {
  const { random, int, pick, chance } = draws(seed);
  const scalar = (): unknown => pick([
    () => random() * 2000 - 1000, () => int(10), () => 1e308, () => -1e308, () => 5e-324, () => -0,
    () => String(random()), () => 'nan', () => '', () => '\u0000\u2028\ud800', () => 'x'.repeat(int(3000)),
    () => true, () => null, () => [], () => ({}), () => [1, 2], () => ({ a: 1 }),
  ])();
  const nested = (depth: number): unknown => {
    let value: unknown = scalar();
    for (let i = 0; i < depth; i++) value = chance(0.5) ? [value] : { k: value };
    return value;
  };
  const row = (model: 'weather' | 'loan'): Record<string, unknown> => {
    const r: Record<string, unknown> = { ...pick(SAMPLES[model]) };
    const mutations = int(4);
    for (let i = 0; i < mutations; i++) {
      const key = pick([...Object.keys(r), 'extra', '__proto__', 'constructor', 'prototype', '', 'toString']);
      if (chance(0.25)) delete r[key];
      else r[key] = chance(0.2) ? nested(1 + int(40)) : scalar();
    }
    return r;
  };
  const payload = (model: 'weather' | 'loan'): Buffer => Buffer.from(pick([
    () => JSON.stringify(row(model)),
    () => JSON.stringify(row(model)),
    () => JSON.stringify(Array.from({ length: 1 + int(chance(0.1) ? 60 : 6) }, () => row(model))),
    () => JSON.stringify([]),
    () => JSON.stringify(nested(int(80))),
    () => ((n: number) => `${'{"k":['.repeat(n)}1${']}'.repeat(n)}`)(int(3000)),
    () => JSON.stringify(scalar()),
    () => JSON.stringify(row(model)).slice(0, int(60)),
    () => '\ufeff' + JSON.stringify(row(model)),
    () => '{"__proto__": {"polluted": 1}, "constructor": {"prototype": {"polluted": 1}}}',
    () => JSON.stringify({ pad: 'x'.repeat(LIMIT + int(1000)) }),
    () => Buffer.from(Array.from({ length: int(300) }, () => int(256))).toString('latin1'),
    () => '',
    () => 'null',
    () => JSON.stringify(row(model)) + ' trailing',
  ])(), chance(0.05) ? 'latin1' : 'utf8');

  /** One message: where it goes, what it carries, and whether it is on a served request topic. */
  const message = (index: number) => {
    const model = pick(MODELS);
    const served = !chance(0.05);
    const topic = served ? `modelserve/${model}/predict` : pick(['modelserve/nope/predict', 'modelserve/weather/other', 'fuzz-unserved/x']);
    const correlation = `fz-${index}|` + (chance(0.1) ? 'c'.repeat(int(2000)) : '');
    const properties: NonNullable<IClientPublishOptions['properties']> = {
      correlationData: chance(0.05) ? Buffer.concat([Buffer.from(correlation, 'latin1'), Buffer.from([0, 0xff, 0xfe])]) : Buffer.from(correlation, 'latin1'),
    };
    if (chance(0.6)) {
      properties.responseTopic = pick([
        `fuzz/r/${index}`, `fuzz/r/${index}`, `fuzz/ü/${index}`, '', 'fuzz/+/x', 'fuzz/#', `fuzz/${'t'.repeat(int(5000))}`,
        `modelserve/${model}/errors`, `modelserve/${model}/predictions`, 'modelserve/loan/predict', 'modelserve/weather/errors',
      ]);
    }
    if (chance(0.2)) {
      properties.userProperties = pick<Record<string, string | string[]>>([
        { request_id: 'ok-id' }, { request_id: 'bad id with spaces' }, { request_id: 'x'.repeat(500) },
        { request_id: ['a', 'b'] }, { other: 'v', 'x-modelserve-version': 'nope' }, { request_id: '' },
      ]);
    }
    if (chance(0.1)) properties.contentType = pick(['text/plain', 'application/json; charset=latin1', '', 'x'.repeat(300)]);
    if (chance(0.05)) properties.messageExpiryInterval = 600;
    return { index, model, served, topic, body: payload(model === 'loan' ? 'loan' : 'weather'), properties };
  };
  return { message };
}

/** Why an answer breaks the rules, or undefined when it keeps them. */
function violation(topic: string, payload: Buffer, model: string, responseTopic: string | undefined): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(payload.toString('utf8'));
  } catch {
    return `the answer on ${topic} is not JSON`;
  }
  const errorShaped = typeof body === 'object' && body !== null && !Array.isArray(body) && 'code' in body && 'status' in body;
  // (A request may name its model's own errors topic as its response topic: its prediction goes there.)
  if (topic === `modelserve/${model}/predictions` || !errorShaped) return topic.endsWith('/errors') && topic !== responseTopic ? `a prediction on the errors topic ${topic}` : undefined;
  const b = body as Record<string, unknown>;
  if (Object.keys(b).sort().join() !== 'code,detail,request_id,status') return `error keys ${Object.keys(b).join(',')}`;
  if (typeof b.request_id !== 'string' || typeof b.code !== 'string' || typeof b.status !== 'number') return 'error field types';
  if (b.status >= 500) return `status ${b.status} (${b.code}: ${JSON.stringify(b.detail).slice(0, 200)})`;
  const def = (ERRORS as Record<string, { status: number }>)[b.code];
  if (def === undefined) return `unknown code ${b.code}`;
  if (def.status !== b.status) return `${b.code} is documented as ${def.status}, sent ${b.status}`;
  if (b.code === 'MS_ERR_VALIDATION') {
    if (!Array.isArray(b.detail) || b.detail.length === 0) return '422 detail is not a list of issues';
    const bad = (b.detail as Array<Record<string, unknown>>).find((d) => !Array.isArray(d.loc) || typeof d.msg !== 'string' || typeof d.type !== 'string');
    if (bad) return `422 item ${JSON.stringify(bad).slice(0, 200)} is not {loc, msg, type}`;
  } else if (typeof b.detail !== 'string') return 'detail is not a string';
  return undefined;
}

test(`fuzz: ${MESSAGES} hostile MQTT messages through a real broker each get one documented answer, never a 5xx or silence`, async (t) => {
  const gen = generator(25);
  const problems: string[] = [];
  const outcomes = new Map<string, number>();
  const count = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  await inParallel(MESSAGES, CONCURRENCY, async (i) => {
    const m = gen.message(i);
    const arrived = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => { waiters.delete(i); resolve(false); }, m.served ? ANSWER_WAIT_MS : 300);
      waiters.set(i, () => { clearTimeout(timer); waiters.delete(i); resolve(true); });
    });
    try {
      await client.publishAsync(m.topic, m.body, { qos: 1, properties: m.properties });
    } catch (err) {
      // The broker refused the message itself (mosquitto's own checks): nobody else saw it.
      count(`refused by the broker: ${(err as Error).message}`);
      waiters.get(i)?.();
      return;
    }
    const answered = await arrived;
    if (!m.served) {
      if (answered) problems.push(`#${i}: a message on the unserved topic ${m.topic} was answered`);
      count('unserved');
      return;
    }
    if (!answered) {
      problems.push(`#${i}: no answer within ${ANSWER_WAIT_MS} ms (topic ${m.topic}, response topic ${JSON.stringify(m.properties.responseTopic?.slice(0, 80))})`);
      return;
    }
    // Give a second copy (the error also sent to a response topic) a moment to arrive.
    await new Promise((resolve) => setTimeout(resolve, 20));
    for (const a of answers.get(i) ?? []) {
      const why = violation(a.topic, a.payload, m.model, m.properties.responseTopic);
      if (why) problems.push(`#${i}: ${why}`);
      const b = JSON.parse(a.payload.toString('utf8')) as { code?: string };
      count(a.topic === m.properties.responseTopic ? 'on its response topic' : a.topic.endsWith('/errors') ? `error ${b.code}` : 'prediction');
    }
    const onErrors = (answers.get(i) ?? []).filter((a) => a.topic.endsWith('/errors')).length;
    if (onErrors > 1) problems.push(`#${i}: ${onErrors} messages on errors topics`);
  });
  const summary = [...outcomes].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}=${n}`).join(' ');
  t.diagnostic(`outcomes: ${summary}`);
  assert.deepEqual(problems.slice(0, 20), [], `${problems.length} problems; outcomes: ${summary}`);
  assert.ok((outcomes.get('prediction') ?? 0) + (outcomes.get('on its response topic') ?? 0) > MESSAGES / 20, `too few predictions to mean anything: ${summary}`);
  assert.ok([...outcomes.keys()].some((k) => k === 'error MS_ERR_VALIDATION'), summary);

  // Still serving: a good row gets its prediction, and /readyz says ready.
  const arrived = new Promise<void>((resolve) => waiters.set(MESSAGES, resolve));
  await client.publishAsync('modelserve/weather/predict', JSON.stringify(SAMPLES.weather[0]), { qos: 1, properties: { correlationData: Buffer.from(`fz-${MESSAGES}|`), responseTopic: 'fuzz/last' } });
  await arrived;
  assert.deepEqual(answers.get(MESSAGES)!.map((a) => a.topic), ['fuzz/last']);
  assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
});
