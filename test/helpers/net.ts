import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';

// Ports for processes that must be told one (mosquitto, a CLI's --port) are taken below the
// kernel's ephemeral range: a port from listen(0) is also where the next outgoing connection of
// any test may land between our close() and the process's bind (an EADDRINUSE seen in CI).
const EPHEMERAL_LOW = (() => {
  try { return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768; } catch { return 32768; }
})();
const LOW = 10_000;

function bindable(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(undefined));
    srv.listen(port, '127.0.0.1', () => {
      const bound = (srv.address() as { port: number }).port;
      srv.close(() => resolve(bound));
    });
  });
}

/** A TCP port that was free on 127.0.0.1 a moment ago, outside the ephemeral range when it can be. */
export async function freePort(): Promise<number> {
  const span = EPHEMERAL_LOW - LOW;
  for (let attempt = 0; span > 1000 && attempt < 50; attempt++) {
    const port = await bindable(LOW + Math.floor(Math.random() * span));
    if (port !== undefined) return port;
  }
  const any = await bindable(0);
  if (any === undefined) throw new Error('no free TCP port on 127.0.0.1');
  return any;
}
