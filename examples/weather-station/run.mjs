#!/usr/bin/env node
// The book's production design on one machine: a local mosquitto (the site's broker), modelserve
// serving the weather model over MQTT and sending every prediction as a CloudEvent to a "cloud"
// topic, a station replaying readings, and a cloud-side subscriber that counts what arrives.
// The dashboard is at http://127.0.0.1:<port>/dashboard. Ctrl-C stops everything.
//   node examples/weather-station/run.mjs [--port 8000 (or $PORT)] [--rate 20] [--screenshot FILE]
// (`npm run build` first; mosquitto from your package manager: apt-get install -y mosquitto.)
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
const { values } = parseArgs({ options: { port: { type: 'string', default: process.env.PORT ?? '8000' }, rate: { type: 'string', default: '20' }, screenshot: { type: 'string' }, mosquitto: { type: 'string', default: '/usr/sbin/mosquitto' } } });
if (!existsSync(values.mosquitto)) { console.error(`weather-station: mosquitto not found at ${values.mosquitto} (apt-get install -y mosquitto)`); process.exit(2); }

const freePort = () => new Promise((res, rej) => { const s = createServer(); s.once('error', rej); s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); }); });
const children = [];
const start = (name, cmd, args) => {
  const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  children.push({ name, child });
  child.once('exit', (code, signal) => { if (!stopping) { console.error(`weather-station: ${name} exited (${code ?? signal}); stopping`); void stop(1); } });
  return child;
};
let stopping = false;
const dir = mkdtempSync(join(tmpdir(), 'weather-station-'));
async function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  // Each child by its own pid, the publisher first, the broker last.
  for (const { child } of [...children].reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  }
  rmSync(dir, { recursive: true, force: true });
  process.exit(code);
}
process.once('SIGINT', () => void stop(0));
process.once('SIGTERM', () => void stop(0));

// 1. The broker, on a free port of 127.0.0.1.
// (Not the HTTP port: a port just freed by whoever chose --port may be handed out again.)
let brokerPort = await freePort();
while (String(brokerPort) === String(values.port)) brokerPort = await freePort();
writeFileSync(join(dir, 'mosquitto.conf'), `listener ${brokerPort} 127.0.0.1\nallow_anonymous true\nuser ${userInfo().username}\nlog_type error\nlog_type warning\n`);
start('mosquitto', values.mosquitto, ['-c', join(dir, 'mosquitto.conf')]);
const brokerUrl = `mqtt://127.0.0.1:${brokerPort}`;

// 2. modelserve: the example models over HTTP and MQTT; every prediction to the cloud topic.
const CLOUD = 'cloud/weather-station/events';
start('modelserve', process.execPath, [join(ROOT, 'bin', 'modelserve.js'), 'serve', join(ROOT, 'examples'), '--port', values.port, '--grpc-port', '0', '--mqtt-url', brokerUrl, '--mqtt-required', '--events-mqtt-topic', CLOUD, '--log-level', 'warn']);
const base = `http://127.0.0.1:${values.port}`;
for (let i = 0; ; i++) {
  const ok = await fetch(`${base}/readyz`).then((r) => r.status === 200, () => false);
  if (ok) break;
  if (i > 600) { console.error('weather-station: modelserve did not become ready in 60 s'); await stop(1); }
  await new Promise((r) => setTimeout(r, 100));
}

// 3. The cloud: counts the prediction events and the rain calls.
const cloud = await mqtt.connectAsync(brokerUrl, { protocolVersion: 5, clientId: 'cloud' });
await cloud.subscribeAsync(CLOUD, { qos: 1 });
let events = 0;
let rain = 0;
cloud.on('message', (_topic, payload, packet) => {
  const parsed = JSON.parse(payload.toString());
  for (const event of packet.properties?.contentType === 'application/cloudevents-batch+json' ? parsed : [parsed]) {
    events++;
    if (event.data.predictions.some((p) => p.prediction === 'Rain')) rain++;
  }
});

// 4. The station.
start('publisher', process.execPath, [join(HERE, 'publisher.mjs'), '--url', brokerUrl, '--rate', values.rate]);
console.error(`weather-station: broker ${brokerUrl}; dashboard ${base}/dashboard; cloud topic ${CLOUD}; Ctrl-C stops`);
setInterval(() => console.error(`weather-station: ${events} prediction events in the cloud (${rain} rain)`), 2000).unref();

if (values.screenshot) {
  // The README's picture: the dashboard after a few seconds of readings, in headless Chromium.
  await new Promise((r) => setTimeout(r, 8000));
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${base}/dashboard`);
  await page.waitForSelector('#status[data-status="live"]');
  await new Promise((r) => setTimeout(r, 6000));
  await page.screenshot({ path: values.screenshot });
  await browser.close();
  console.error(`weather-station: screenshot ${values.screenshot}`);
  await stop(0);
}
