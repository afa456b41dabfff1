// What the MQTT front door logs about its connection, against a real mosquitto: a broker never
// reached is "broker unreachable"; a connection that was up and is lost (the broker stopped, or hung
// past the keepalive) is "lost the connection to the broker" with why — it was also logged as
// "broker unreachable"; a connection the front door ends itself at shutdown is no warning (the
// session-kept shutdown warned "broker unreachable").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { startServer } from '../../src/server.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { captureLogLines } from '../helpers/logs.js';
import { tempDir } from '../helpers/paths.js';
import { sample as promValue } from '../helpers/prom.js';
import { exampleModel } from '../pipelines/helpers.js';

interface Line { level: number; msg: string; url?: string; reason?: string; err?: string }

const UNREACHABLE = 'mqtt: broker unreachable; reconnecting with backoff';
const LOST = 'mqtt: lost the connection to the broker; reconnecting with backoff';
const WARN = 40;
const row = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };

function weatherRepo(extra = ''): string {
  const repo = tempDir();
  exampleModel(repo, 'weather', 'weather', extra);
  return repo;
}

const said = (lines: Line[], msg: string) => lines.filter((l) => l.msg === msg);

test('a broker not reached yet is "unreachable"; once connected, the broker stopping (a clean close) is "lost the connection" with why, not "unreachable"; shutdown warns nothing', async (t) => {
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  await broker.stop();
  const logs = captureLogLines<Line>();
  const server = await startServer({ repo: weatherRepo(), port: 0, workers: 1, logger: { level: 'info', stream: logs.stream }, streams: { mqtt: { url: broker.url, reconnectMaxMs: 250 } } });
  let shutDown = false;
  t.after(async () => { if (!shutDown) await server.shutdown(); });
  await logs.until((lines) => said(lines, UNREACHABLE).length === 1, 'the broker unreachable');
  await broker.start();
  await server.streams!.frontDoor!.waitReady();
  assert.deepEqual(said(logs.lines, LOST), [], 'never connected: nothing was lost');

  await broker.stop();
  await logs.until((lines) => said(lines, LOST).length === 1, 'the lost connection');
  assert.deepEqual(said(logs.lines, LOST).map((l) => [l.url, l.reason, l.level]), [[broker.url, 'the broker closed the connection', WARN]]);
  // The reconnects refused meanwhile: the broker is away, yet this outage began with a connection.
  await logs.until((lines) => lines.some((l) => l.msg === 'mqtt: cannot connect to the broker; retrying with backoff'), 'a refused reconnect');
  assert.equal(said(logs.lines, UNREACHABLE).length, 1, 'only the first outage, before any connection, is "unreachable"');

  await broker.start();
  await server.streams!.frontDoor!.waitReady();
  const before = logs.lines.length;
  shutDown = true;
  await server.shutdown();
  assert.deepEqual(logs.lines.slice(before).filter((l) => l.level >= WARN), [], 'the shutdown warns nothing');
  assert.equal(said(logs.lines, LOST).length, 1, 'one outage, one "lost"');
});

test('a connection lost to a keepalive timeout (the broker hung) is "lost the connection" with the reason, not "unreachable"', async (t) => {
  const broker = await startMosquitto();
  t.after(async () => { broker.resume(); await broker.stop(); });
  const logs = captureLogLines<Line>();
  const server = await startServer({ repo: weatherRepo(), port: 0, workers: 1, logger: { level: 'info', stream: logs.stream }, streams: { mqtt: { url: broker.url, keepaliveSeconds: 1, reconnectMaxMs: 250 } } });
  t.after(() => server.shutdown());
  await server.streams!.frontDoor!.waitReady();
  broker.pause();
  await logs.until((lines) => said(lines, LOST).length === 1, 'the lost connection');
  assert.deepEqual(said(logs.lines, LOST).map((l) => [l.err, l.level]), [['Keepalive timeout', WARN]]);
  broker.resume();
  await server.streams!.frontDoor!.waitReady();
  await logs.until((lines) => said(lines, 'mqtt: connected').length === 2, 'the reconnect');
  assert.deepEqual(said(logs.lines, UNREACHABLE), []);
});

test('with the session kept (--mqtt-client-id), the shutdown that ends the connection itself (a request held for the next process) warns nothing', async (t) => {
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const logs = captureLogLines<Line>();
  // The first row waits in its batch, so the shutdown is under way while it is in flight and the next request is held.
  const server = await startServer({ repo: weatherRepo('batching: { max_queue_delay_ms: 3000 }\n'), port: 0, workers: 1, drainTimeout: 30_000, logger: { level: 'info', stream: logs.stream }, streams: { mqtt: { url: broker.url, clientId: 'modelserve-connection-logs' } } });
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'connection-logs-test' });
  t.after(() => client.endAsync());
  await server.streams!.frontDoor!.waitReady();
  const send = () => client.publishAsync('modelserve/weather/predict', JSON.stringify(row), { qos: 1, properties: { responseTopic: 'test/answers' } });
  await send();
  const end = Date.now() + 10_000;
  while ((promValue(await (await fetch(`${server.url}/metrics`)).text(), 'modelserve_queue_depth', { model: 'weather', version: '1' }) ?? 0) !== 1) {
    if (Date.now() > end) assert.fail('the row is not in the queue');
    await new Promise((r) => setTimeout(r, 20));
  }
  const shutdown = server.shutdown();
  await send();
  assert.equal(await shutdown, true);
  assert.deepEqual(logs.lines.filter((l) => l.level >= WARN), [], 'no warning');
});
