// The HTTP side of the load tester: one undici Pool on keep-alive connections (pipelining 1) and
// reusable request "slots" that are undici dispatch handlers themselves, so a request costs no
// promise, stream or closure on our side: the slot records the status and byte count and calls
// its owner back once.
import { performance } from 'node:perf_hooks';
import { Client, Pool, type Dispatcher } from 'undici';

export interface Target {
  origin: string;
  method: string;
  path: string;
  /** Lower-case header names. */
  headers: Record<string, string>;
  timeoutMs: number;
}

/** Classifies a transport error into a short kind: timeout, connect, socket, aborted or other. */
export function errorKind(err: unknown): string {
  const e = err as { code?: string; name?: string; cause?: { code?: string } };
  const code = e?.code ?? e?.cause?.code ?? '';
  switch (code) {
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ETIMEDOUT':
      return 'timeout';
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EAI_AGAIN':
      return 'connect';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return 'socket';
    case 'UND_ERR_ABORTED':
    case 'UND_ERR_DESTROYED':
      return 'aborted';
    default:
      return code ? `other:${code}` : 'other';
  }
}

export interface SlotOwner {
  /** `status` is the HTTP status, or 0 with `kind` set for a transport error. */
  onSlotDone(slot: Slot, status: number, kind: string | null): void;
}

/** One request in flight; reused for the next request once done. */
export class Slot {
  /** performance.now() the latency is measured from (intended send time in the open model). */
  start = 0;
  status = 0;
  bytes = 0;
  done = true;
  /** Free for the owner (a user index, a timer). */
  tag = 0;
  /**
   * Closed model: restart the clock when undici actually writes the request (it defers the next
   * request on a keep-alive socket by one event-loop turn), so latency is the server's round trip
   * as wrk measures it. The open model keeps the intended send time instead.
   */
  clockAtWrite = false;
  readonly opts: { origin: string; method: string; path: string; headers: string[]; body: Buffer | null; headersTimeout: number; bodyTimeout: number; blocking: boolean };
  constructor(private readonly dispatcher: Dispatcher, client: HttpClient, private readonly owner: SlotOwner) {
    const t = client.target;
    this.opts = { origin: t.origin, method: t.method, path: t.path, headers: client.headerList, body: null, headersTimeout: t.timeoutMs, bodyTimeout: t.timeoutMs, blocking: false };
  }

  /** Sends one request with `body`; the latency clock starts at `start`. */
  send(body: Buffer | null, start: number): void {
    this.start = start;
    this.status = 0;
    this.bytes = 0;
    this.done = false;
    this.opts.body = body;
    this.dispatcher.dispatch(this.opts as never, this as never);
  }

  // --- undici dispatch handler (the classic callback interface) ---
  onConnect(_abort: unknown): void {
    if (this.clockAtWrite) this.start = performance.now();
  }
  onHeaders(statusCode: number): boolean {
    this.status = statusCode;
    return true;
  }
  onData(chunk: Buffer): boolean {
    this.bytes += chunk.length;
    return true;
  }
  onComplete(): void {
    if (this.done) return;
    this.done = true;
    this.owner.onSlotDone(this, this.status, null);
  }
  onError(err: unknown): void {
    if (this.done) return;
    this.done = true;
    this.owner.onSlotDone(this, 0, errorKind(err));
  }
}

/**
 * The connections of one run: a shared Pool (open model: any free connection takes the next
 * request) and dedicated single-connection Clients (closed model: one keep-alive connection per
 * user, as Locust and wrk have). All keep-alive, pipelining 1.
 */
export class HttpClient {
  readonly pool: Pool;
  readonly headerList: string[];
  private readonly dedicated: Client[] = [];
  constructor(readonly target: Target, connections: number) {
    this.pool = new Pool(target.origin, { connections, ...this.clientOptions() });
    this.headerList = [];
    for (const [k, v] of Object.entries(target.headers)) this.headerList.push(k, v);
  }

  private clientOptions(): Client.Options {
    const t = this.target;
    return {
      pipelining: 1,
      keepAliveTimeout: 60_000,
      keepAliveMaxTimeout: 600_000,
      headersTimeout: t.timeoutMs,
      bodyTimeout: t.timeoutMs,
      connect: { timeout: Math.min(t.timeoutMs, 10_000) },
    };
  }

  /** A slot that sends through the shared pool. */
  slot(owner: SlotOwner): Slot {
    return new Slot(this.pool, this, owner);
  }

  /** A slot with its own connection (one per closed-model user). */
  dedicatedSlot(owner: SlotOwner): Slot {
    const c = new Client(this.target.origin, this.clientOptions());
    this.dedicated.push(c);
    return new Slot(c, this, owner);
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.destroy(), ...this.dedicated.map((c) => c.destroy())]);
  }
}

/** Resolves when a TCP connection to the origin can be opened, rejects with the reason otherwise. */
export async function probe(origin: string, timeoutMs: number): Promise<void> {
  const { connect } = await import('node:net');
  const u = new URL(origin);
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  await new Promise<void>((resolve, reject) => {
    const sock = connect({ host: u.hostname.replace(/^\[|\]$/g, ''), port });
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`connecting to ${u.host} timed out after ${timeoutMs} ms`)); }, timeoutMs);
    sock.once('connect', () => { clearTimeout(timer); sock.end(); sock.destroy(); resolve(); });
    sock.once('error', (err) => { clearTimeout(timer); reject(err); });
  });
}
