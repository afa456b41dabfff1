// MQTT benchmark: predictions/s through mosquitto at QoS 1 (modelserve serve --mqtt-url, the weather
// example), end-to-end latency (publish -> prediction received) at half that rate, and the cost of
// prediction events on HTTP req/s (an MQTT event sink at full rate vs no events, same run).
// Usage: node dist/bench/mqtt.js [--seconds 5] [--rounds 3] [--quick] [--no-write]
// (or `npm run bench -- --only mqtt`). Bounded: ~1 min (--quick ~15 s). Everything on 127.0.0.1:
// one mosquitto, modelserve servers as child processes, the load generators in this process.
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { noDelay } from '../src/mqtt/connection.js';
import { startMosquitto } from '../test/helpers/mosquitto.js';
import { CLI, ROOT, freePort, numberArg, sleep, startProc, waitFor200, type Proc } from './procs.js';
import { machineLine, writeSection, median } from './report.js';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

const ROW = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };
const BODY = JSON.stringify(ROW);

async function serve(extra: string[]): Promise<{ proc: Proc; url: string }> {
  const port = await freePort();
  const proc = startProc(process.execPath, [CLI, 'serve', join(ROOT, 'examples'), '--port', String(port), '--grpc-port', '0', '--log-level', 'warn', ...extra], { cwd: ROOT });
  const url = `http://127.0.0.1:${port}`;
  await waitFor200(`${url}/models/weather/predict`, BODY, { proc, timeoutMs: 30_000 });
  return { proc, url };
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;

/** Closed loop with a window of unanswered messages: answers per second. */
async function throughput(client: MqttClient, seconds: number, window = 512): Promise<number> {
  let answered = 0;
  let sent = 0;
  let stop = false;
  const send = () => {
    while (!stop && sent - answered < window) {
      client.publish('modelserve/weather/predict', BODY, { qos: 1, properties: { responseTopic: 'bench/answers' } });
      sent++;
    }
  };
  const onMessage = () => { answered++; send(); };
  client.on('message', onMessage);
  send();
  await sleep(1000); // warm-up
  const a0 = answered;
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const rate = (answered - a0) / ((performance.now() - t0) / 1000);
  stop = true;
  await sleep(500);
  client.off('message', onMessage);
  return rate;
}

/** Open loop at a fixed rate: latency from each message's scheduled send time to its answer. */
async function latencyAt(client: MqttClient, rate: number, seconds: number): Promise<{ p50: number; p99: number; received: number; sent: number }> {
  const sentAt = new Map<number, number>();
  const latencies: number[] = [];
  const onMessage = (_t: string, _p: Buffer, packet: mqtt.IPublishPacket) => {
    const i = Number(packet.properties?.correlationData?.toString());
    const at = sentAt.get(i);
    if (at !== undefined) { latencies.push(performance.now() - at); sentAt.delete(i); }
  };
  client.on('message', onMessage);
  const t0 = performance.now();
  let n = 0;
  const total = Math.round(rate * seconds);
  while (n < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
    for (; n < due; n++) {
      sentAt.set(n, t0 + (n / rate) * 1000);
      client.publish('modelserve/weather/predict', BODY, { qos: 1, properties: { responseTopic: 'bench/answers', correlationData: Buffer.from(String(n)) } });
    }
    await sleep(2);
  }
  await sleep(1000);
  client.off('message', onMessage);
  latencies.sort((a, b) => a - b);
  return { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), received: latencies.length, sent: total };
}

/** CPU seconds (user + system) a process has used so far, from /proc (clock ticks of 10 ms). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** One load run; also the server's CPU per request (µs), which the machine's other load disturbs less than req/s. */
function httpRun(server: { url: string; proc: Proc }, seconds: number): { rps: number; cpuUs: number } {
  const c0 = cpuSeconds(server.proc.pid);
  const r = httpRps(server.url, seconds);
  const used = cpuSeconds(server.proc.pid) - c0;
  return { rps: r.rps, cpuUs: (used / (r.rps * seconds)) * 1e6 };
}

function httpRps(url: string, seconds: number): { rps: number; p50: number } {
  const r = spawnSync(process.execPath, [CLI, 'loadtest', `${url}/models/weather/predict`, '--data', BODY, '-u', '32', '-d', `${seconds}s`, '--json', '-q'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`loadtest failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { rps: number; latencyMs: { p50: number } };
  return { rps: out.rps, p50: out.latencyMs.p50 };
}

export async function main(argv: string[]): Promise<number> {
  const quick = argv.includes('--quick');
  const seconds = numberArg(argv, '--seconds', quick ? 2 : 5);
  const rounds = numberArg(argv, '--rounds', quick ? 1 : 3);
  const broker = await startMosquitto();
  const servers: Proc[] = [];
  try {
    const mqttServer = await serve(['--mqtt-url', broker.url, '--mqtt-required']);
    servers.push(mqttServer.proc);
    // --mqtt-required: ready once connected and subscribed.
    for (let i = 0; i < 300 && (await fetch(`${mqttServer.url}/readyz`)).status !== 200; i++) await sleep(50);
    const client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'bench-mqtt' });
    noDelay(client);
    await client.subscribeAsync('bench/answers', { qos: 1 });
    const rates: number[] = [];
    for (let r = 0; r < rounds; r++) rates.push(await throughput(client, seconds));
    const best = Math.max(...rates);
    console.error(`mqtt: ${rates.map((x) => x.toFixed(0)).join(', ')} predictions/s`);
    const half = await latencyAt(client, best / 2, seconds);
    console.error(`mqtt: at ${(best / 2).toFixed(0)}/s p50 ${half.p50.toFixed(2)} ms p99 ${half.p99.toFixed(2)} ms (${half.received}/${half.sent})`);
    await client.endAsync();
    await mqttServer.proc.stop();
    servers.length = 0;

    // Events on vs off: two servers, measured in alternation with the same load.
    const off = await serve([]);
    const on = await serve(['--mqtt-url', broker.url, '--events-mqtt-topic', 'bench/events']);
    servers.push(off.proc, on.proc);
    const offRuns: number[] = [];
    const onRuns: number[] = [];
    const offCpu: number[] = [];
    const onCpu: number[] = [];
    const pairs = rounds * 2;
    for (let r = 0; r < pairs; r++) {
      // Alternating which goes first, so neither always runs right after the other's load.
      const first = r % 2 === 0 ? off : on;
      const second = r % 2 === 0 ? on : off;
      const a = httpRun(first, seconds / 2);
      const b = httpRun(second, seconds / 2);
      const [o, n] = r % 2 === 0 ? [a, b] : [b, a];
      offRuns.push(o.rps); onRuns.push(n.rps); offCpu.push(o.cpuUs); onCpu.push(n.cpuUs);
    }
    const ratio = median(onRuns.map((x, i) => x / offRuns[i]!));
    const cpuRatio = median(onCpu) / median(offCpu);
    console.error(`events: off ${offRuns.map((x) => x.toFixed(0)).join(', ')} req/s; on ${onRuns.map((x) => x.toFixed(0)).join(', ')} req/s; paired on/off median ${ratio.toFixed(3)}; server CPU/request off ${median(offCpu).toFixed(0)} µs, on ${median(onCpu).toFixed(0)} µs`);
    const metrics = await (await fetch(`${on.url}/metrics`)).text();
    const delivered = /modelserve_events_total\{sink="mqtt",outcome="delivered"\} (\d+)/.exec(metrics)?.[1] ?? '?';
    const dropped = /modelserve_events_total\{sink="mqtt",outcome="dropped"\} (\d+)/.exec(metrics)?.[1] ?? '0';

    if (!argv.includes('--no-write')) {
      writeSection('mqtt', `## MQTT front door and prediction events

Command: \`npm run build && node dist/bench/mqtt.js${argv.filter((a) => a !== '--no-write').map((a) => ` ${a}`).join('')}\` (or \`npm run bench -- --only mqtt\`). ${machineLine()}.
One mosquitto 2.0 (Debian) and the modelserve servers (\`modelserve serve examples\`, default workers) as child processes; the MQTT and HTTP load generators in the bench process; all on 127.0.0.1, sharing the machine's cores.

| measure | result |
| --- | --- |
| MQTT predictions/s, QoS 1 in and out, 1 row per message, 512 unanswered at most (best of ${rounds} × ${seconds} s: ${rates.map((x) => x.toFixed(0)).join(', ')}) | **${best.toFixed(0)}/s** |
| end-to-end latency at half that rate (${(best / 2).toFixed(0)} msg/s for ${seconds} s, publish → prediction received, from each message's scheduled send time) | p50 **${half.p50.toFixed(2)} ms**, p99 **${half.p99.toFixed(2)} ms** (${half.received}/${half.sent} answered) |
| HTTP req/s, prediction events off (32 users, ${pairs} runs of ${seconds / 2} s: ${offRuns.map((x) => x.toFixed(0)).join(', ')}) | ${median(offRuns).toFixed(0)} (median); server CPU ${median(offCpu).toFixed(0)} µs/request |
| HTTP req/s, every prediction sent as a CloudEvent to MQTT, QoS 1 (${onRuns.map((x) => x.toFixed(0)).join(', ')}) | ${median(onRuns).toFixed(0)} (median); server CPU ${median(onCpu).toFixed(0)} µs/request |
| cost of events | paired runs: median on/off **${ratio.toFixed(3)}** (${((1 - ratio) * 100).toFixed(1)} % fewer req/s; target ≤ 10 %); server CPU per request **${((cpuRatio - 1) * 100).toFixed(1)} %** more; ${delivered} events delivered, ${dropped} dropped |

Both HTTP servers ran side by side and were measured in alternating pairs (off then on, on then off, …), so each pair saw the same machine; req/s also pays for mosquitto's CPU on the same cores (nobody subscribed to the events topic). CPU per request is the server process's user + system time (/proc) over the requests of the run; it is the steadier figure when other work shares the machine. Load average when this ran: ${loadavg().map((x) => x.toFixed(1)).join(', ')}.`);
    }
    return 0;
  } finally {
    for (const p of servers) await p.stop();
    await broker.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err: unknown) => { console.error(err); process.exitCode = 1; });
}
