// Why do event-loop servers lose ~3× between states of these machines while Flask does not (issue
// #19 point 2)? One hypothesis, tested here: these machines are Firecracker guests booted with
// cpuidle_haltpoll and `haltpoll.guest_halt_poll_ns=0`, so a vCPU with nothing to run halts at
// once and waking it again is a VM exit on the host. An event-loop server that answers faster than
// its clients send goes idle between requests and would pay that wake-up per request; a Flask
// worker pays it too, but its own CPU per request is ~10× larger.
//
// The experiment: the same servers under the same wrk with guest halt polling off (as booted) and
// on (the kernel's usual default, 200 µs: a vCPU polls that long before halting), interleaved;
// the original value is restored at the end. Needs root and /sys/module/haltpoll; elsewhere the
// section says it could not run.
//   node dist/bench/idle-wakeups.js [--seconds 2] [--rounds 3] [--no-write]
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runWrk, writeWrkScript, type HttpResult } from './http-bench.js';
import { flaskMissing, startFlask, startModelserve, startNodeHttpLimit, writeBookModelFolder, type Server } from './peers.js';
import { cpuMs, numberArg, removeOnExit, ROOT, sharedDir } from './procs.js';
import { machineLine, writeSection, median } from './report.js';

const PARAM = '/sys/module/haltpoll/parameters/guest_halt_poll_ns';
const POLL_NS = 200_000;

interface Cell { rps: number; cpuUs: number; switches: number; p99Ms: number }

const fmtInt = (v: number) => Math.round(v).toLocaleString('en-US');

async function measure(server: Server, script: string, seconds: number): Promise<Cell> {
  const before = cpuMs(server.proc.pid);
  const r: HttpResult = await runWrk(`${server.base}/predict`, script, 16, seconds);
  const after = cpuMs(server.proc.pid);
  return { rps: r.rps, cpuUs: ((after.total - before.total) * 1000) / r.requests, switches: (after.switches - before.switches) / r.requests, p99Ms: r.p99Ms };
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  const seconds = numberArg(argv, '--seconds', 2);
  const rounds = numberArg(argv, '--rounds', 3);
  const write = !argv.includes('--no-write');
  const lines: string[] = ['## Idle wake-ups: why event-loop servers lose most between machine states', ''];
  lines.push(`Command: \`node dist/bench/idle-wakeups.js --seconds ${seconds} --rounds ${rounds}\` (also \`npm run bench -- --only idle-wakeups\`) — ${machineLine()}.`, '');
  const cmdline = existsSync('/proc/cmdline') ? readFileSync('/proc/cmdline', 'utf8') : '';
  let original: string | undefined;
  try {
    original = readFileSync(PARAM, 'utf8').trim();
    writeFileSync(PARAM, original);
  } catch (err) {
    lines.push(`Not run here: ${PARAM} cannot be read and written (${(err as Error).message.split('\n')[0]}); it needs root on a guest with the cpuidle_haltpoll driver.`);
    if (write) writeSection('idle-wakeups', lines.join('\n'));
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  }
  const shared = sharedDir();
  const tmp = mkdtempSync(join(tmpdir(), 'modelserve-bench-wake-'));
  removeOnExit(tmp);
  const weatherBody = JSON.stringify((JSON.parse(readFileSync(join(ROOT, 'examples', 'weather', 'samples', 'valid.json'), 'utf8')) as unknown[])[0]);
  const script = writeWrkScript(tmp, 'weather', weatherBody);
  const servers: Array<{ label: string; server: Server }> = [];
  try {
    servers.push({ label: 'node:http limit', server: await startNodeHttpLimit() });
    servers.push({ label: 'modelserve book svc.onnx (defaults)', server: await startModelserve('book', writeBookModelFolder(tmp, shared)) });
    const flaskWhy = flaskMissing(shared);
    if (!flaskWhy) servers.push({ label: 'Flask peer: gunicorn -w 2', server: await startFlask(shared, weatherBody) });
    const settings = [original, String(POLL_NS)];
    const cells = new Map<string, Cell[]>();
    for (const s of servers) await runWrk(`${s.server.base}/predict`, script, 16, 1); // warm-up
    for (let round = 0; round < rounds; round++) {
      for (const setting of settings) {
        writeFileSync(PARAM, setting);
        for (const s of servers) {
          const c = await measure(s.server, script, seconds);
          const key = `${s.label}|${setting}`;
          cells.set(key, [...(cells.get(key) ?? []), c]);
          console.error(`[idle-wakeups] round ${round + 1} guest_halt_poll_ns=${setting} ${s.label}: ${fmtInt(c.rps)} req/s, ${c.cpuUs.toFixed(1)} µs CPU/request, ${c.switches.toFixed(2)} switches/request`);
        }
      }
    }
    writeFileSync(PARAM, original);
    lines.push(`Hypothesis: the kernel command line of this machine has \`${(/cpuidle_haltpoll\.force=\S+/.exec(cmdline) ?? [''])[0]}\` \`${(/haltpoll\.guest_halt_poll_ns=\S+/.exec(cmdline) ?? ['(no guest_halt_poll_ns)'])[0]}\`: an idle vCPU halts at once, and waking it is a VM exit on the host. Here the same servers ran under \`wrk -t1 -c16 -d${seconds}s\` with \`${PARAM}\` as booted (${original}) and at ${POLL_NS} (a vCPU polls up to 200 µs before halting), interleaved over ${rounds} rounds (medians; the value was restored to ${original} afterwards). CPU µs per request is the server's process tree's user + system time over the run's requests; halt polling itself counts as idle, not as the server's CPU.`, '');
    lines.push('| system | guest_halt_poll_ns | req/s | CPU µs per request | context switches per request | p99 ms |');
    lines.push('|---|---:|---:|---:|---:|---:|');
    for (const s of servers) {
      for (const setting of settings) {
        const cs = cells.get(`${s.label}|${setting}`) ?? [];
        lines.push(`| ${s.label} | ${setting} | ${fmtInt(median(cs.map((c) => c.rps)))} | ${median(cs.map((c) => c.cpuUs)).toFixed(1)} | ${median(cs.map((c) => c.switches)).toFixed(2)} | ${median(cs.map((c) => c.p99Ms)).toFixed(2)} |`);
      }
    }
    lines.push('');
    const gain = (label: string) => {
      const off = median((cells.get(`${label}|${original}`) ?? []).map((c) => c.rps));
      const on = median((cells.get(`${label}|${POLL_NS}`) ?? []).map((c) => c.rps));
      return on / off;
    };
    lines.push(`Halt polling on / off, req/s: ${servers.map((s) => `${s.label} **${gain(s.label).toFixed(2)}×**`).join(', ')}.`);
    const node = servers[0]!.label;
    const nodeSwitches = median([...(cells.get(`${node}|${original}`) ?? [])].map((c) => c.switches));
    lines.push('');
    lines.push(Math.abs(gain(node) - 1) < 0.1
      ? `Verdict for this run: halt polling made no difference — node:http slept ${nodeSwitches.toFixed(2)} times per request (it was busy enough never to idle between requests), so there was no halt to avoid. The hypothesis can only show where the servers idle between requests (the slow state, where the main benchmark's CPU table shows ~0.8 context switches per request); it is not confirmed by this run.`
      : `Verdict for this run: halt polling changed node:http's req/s by ${gain(node).toFixed(2)}× (it slept ${nodeSwitches.toFixed(2)} times per request with halt polling off): wake-ups of halted vCPUs are part of what an event-loop server pays per request here.`);
  } finally {
    if (original !== undefined) writeFileSync(PARAM, original);
    await Promise.all(servers.map((s) => s.server.stop()));
  }
  const text = lines.join('\n');
  if (write) writeSection('idle-wakeups', text);
  process.stdout.write(`${text}\n`);
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then((code) => { process.exitCode = code; }, (err: unknown) => { console.error(err); process.exitCode = 1; });
}
