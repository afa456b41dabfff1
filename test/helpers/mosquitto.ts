// A real mosquitto broker for tests: Debian's /usr/sbin/mosquitto on a free port on 127.0.0.1,
// with a generated config (persistence on, so a stop/start keeps sessions and queued QoS 1
// messages, as a production broker would), stopped by its own pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from './net.js';
import { tempDir } from './paths.js';

export const MOSQUITTO = process.env.MOSQUITTO_PATH ?? '/usr/sbin/mosquitto';

export interface Broker {
  port: number;
  url: string;
  dir: string;
  /** SIGTERM (the broker saves its state), waits for the exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same state (`forget`: without it, as a broker without persistence restarts). */
  start(options?: { forget?: boolean }): Promise<void>;
  /** SIGSTOP / SIGCONT: a broker that holds its connections open and answers nothing (a hung host). */
  pause(): void;
  resume(): void;
  log(): string;
}

function waitPort(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => { socket.destroy(); resolve(); });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > until) reject(new Error(`mosquitto did not listen on ${port} within ${timeoutMs} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/** `config`: more lines for mosquitto.conf (e.g. max_packet_size). */
export async function startMosquitto(config: string[] = []): Promise<Broker> {
  if (!existsSync(MOSQUITTO)) throw new Error(`mosquitto not found at ${MOSQUITTO} (apt-get install -y mosquitto; scripts/system-deps.sh installs it)`);
  const port = await freePort();
  const dir = tempDir('modelserve-mosquitto-');
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    `user ${userInfo().username}`,
    'persistence true',
    `persistence_location ${dir}/`,
    // Sessions may hold many QoS 1 messages while a client reconnects (the tests' bursts).
    'max_queued_messages 200000',
    'max_inflight_messages 0',
    'set_tcp_nodelay true',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    ...config,
    '',
  ].join('\n'));
  let proc: ChildProcess | undefined;
  let output = '';
  const start = async (options: { forget?: boolean } = {}) => {
    if (options.forget) rmSync(join(dir, 'mosquitto.db'), { force: true });
    const child = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = child;
    child.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
    await Promise.race([
      waitPort(port, 5000),
      new Promise((_, reject) => child.once('exit', (code) => reject(new Error(`mosquitto exited (${code}): ${output}`)))),
    ]);
  };
  const stop = async () => {
    const child = proc;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    // The fallback timer is cleared once it exited: left running, it held each test file open 5 s more.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((r) => { timer = setTimeout(r, 5000); })]);
    clearTimeout(timer);
    if (child.exitCode === null && child.signalCode === null) { child.kill('SIGKILL'); await exited; }
  };
  await start();
  const pause = () => { proc?.kill('SIGSTOP'); };
  const resume = () => { proc?.kill('SIGCONT'); };
  return { port, url: `mqtt://127.0.0.1:${port}`, dir, stop, start, pause, resume, log: () => output };
}
