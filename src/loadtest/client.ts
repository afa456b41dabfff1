// The HTTP side of the load tester: reusable request "slots" (see slot.ts). The open model shares
// one undici Pool on keep-alive connections (pipelining 1), its slots being undici dispatch
// handlers themselves, so a request costs no promise, stream or closure on our side; the closed
// model gives each user its own connection (connection.ts).
import { performance } from 'node:perf_hooks';
import { Pool, type Dispatcher } from 'undici';
import { ConnectionSlot } from './connection.js';
import { isJsonMediaType } from './response-fast-path.js';
import { MAX_CHECKED_BODY, errorKind, jsonBodyError, type Slot, type SlotOwner, type Target } from './slot.js';

export { errorKind, type Slot, type SlotOwner, type Target } from './slot.js';

class TimeoutError extends Error {
  readonly code = 'UND_ERR_BODY_TIMEOUT';
}

/** One request in flight through the shared pool; reused for the next request once done. */
export class PoolSlot implements Slot {
  /** performance.now() the latency is measured from (intended send time in the open model). */
  start = 0;
  status = 0;
  bytes = 0;
  done = true;
  /** Free for the owner (a user index, a timer). */
  tag = 0;
  /** performance.now() the request was written to a connection, and undici's way to abort it (null when none is in flight). */
  private sentAt = 0;
  private abort: ((err: Error) => void) | null = null;
  /** The JSON body of the answer being read (a 2xx whose Content-Type says JSON), or null when it is not checked. */
  private jsonChunks: Buffer[] | null = null;
  private checkBody: Buffer | null = null;
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
  onConnect(abort: (err: Error) => void): void {
    // The open model's clock runs from the intended send time, whatever the connection does; the
    // timeout runs from the write, as the closed model's does.
    this.sentAt = performance.now();
    this.abort = abort;
  }

  /**
   * Aborts the request as timed out once it has been in flight longer than `timeoutMs`. undici's
   * bodyTimeout is the wait between two reads: a server trickling a byte every 100 ms held a
   * request (and the run, and Ctrl-C) forever.
   */
  expire(now: number, timeoutMs: number): void {
    if (!this.done && this.abort !== null && now - this.sentAt > timeoutMs) {
      const abort = this.abort;
      this.abort = null;
      abort(new TimeoutError(`no complete answer within ${timeoutMs} ms`));
    }
  }
  onHeaders(statusCode: number, headers: Buffer[] | null): boolean {
    this.status = statusCode;
    this.jsonChunks = null;
    if (statusCode >= 200 && statusCode < 300 && statusCode !== 204 && this.opts.method !== 'HEAD' && headers) {
      for (let i = 0; i < headers.length; i += 2) {
        // 12: 'content-type'.length, so other names cost no string.
        if (headers[i]!.length === 12 && headers[i]!.toString('latin1').toLowerCase() === 'content-type' && isJsonMediaType(headers[i + 1]!.toString('latin1'))) this.jsonChunks = [];
      }
    }
    return true;
  }
  onData(chunk: Buffer): boolean {
    this.bytes += chunk.length;
    if (this.jsonChunks !== null) {
      // Too big to keep for the check: it goes unchecked.
      if (this.bytes > MAX_CHECKED_BODY) this.jsonChunks = null;
      else this.jsonChunks.push(chunk);
    }
    return true;
  }
  bodyError(): string | null {
    const body = this.checkBody;
    if (body === null) return null;
    this.checkBody = null;
    return jsonBodyError(body);
  }
  onComplete(): void {
    this.abort = null;
    if (this.done) return;
    this.done = true;
    const json = this.jsonChunks;
    this.jsonChunks = null;
    this.checkBody = json === null ? null : json.length === 1 ? json[0]! : Buffer.concat(json);
    this.owner.onSlotDone(this, this.status, null);
  }
  onError(err: unknown): void {
    this.abort = null;
    this.jsonChunks = null;
    if (this.done) return;
    // undici (7.x) holds a 304's Content-Length to the body a 304 never has (RFC 9110 §8.6: it
    // may give the representation's length) and fails it: the answer came whole, so it counts as
    // the 304 it is, as the closed model reads it. On other statuses the mismatch is a protocol error (slot.ts).
    if (this.status === 304 && (err as { code?: string })?.code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') { this.onComplete(); return; }
    this.done = true;
    this.checkBody = null;
    this.owner.onSlotDone(this, 0, errorKind(err));
  }
}

/**
 * The connections of one run: a shared Pool (open model: any free connection takes the next
 * request) and dedicated connections (closed model: one keep-alive connection per user, as Locust
 * and wrk have). All keep-alive, one request at a time per connection.
 */
export class HttpClient {
  readonly pool: Pool;
  readonly headerList: string[];
  private readonly dedicated: ConnectionSlot[] = [];
  private readonly pooled: PoolSlot[] = [];
  /** Checks the pool's requests against the timeout (see PoolSlot.expire); started with the first. */
  private sweep: NodeJS.Timeout | null = null;
  constructor(readonly target: Target, connections: number) {
    this.pool = new Pool(target.origin, {
      connections,
      pipelining: 1,
      keepAliveTimeout: 60_000,
      keepAliveMaxTimeout: 600_000,
      headersTimeout: target.timeoutMs,
      bodyTimeout: target.timeoutMs,
      connect: { timeout: Math.min(target.timeoutMs, 10_000) },
    });
    this.headerList = [];
    for (const [k, v] of Object.entries(target.headers)) this.headerList.push(k, v);
  }

  /** A slot that sends through the shared pool. */
  slot(owner: SlotOwner): Slot {
    const slot = new PoolSlot(this.pool, this, owner);
    this.pooled.push(slot);
    if (this.sweep === null) {
      const timeoutMs = this.target.timeoutMs;
      // A tenth of the timeout late at most (between 10 ms and 1 s): one timer for all requests.
      this.sweep = setInterval(() => {
        const now = performance.now();
        for (const s of this.pooled) s.expire(now, timeoutMs);
      }, Math.min(1000, Math.max(10, timeoutMs / 10))).unref();
    }
    return slot;
  }

  /** A slot with its own connection (one per closed-model user). */
  dedicatedSlot(owner: SlotOwner): Slot {
    const slot = new ConnectionSlot(this.target, owner);
    this.dedicated.push(slot);
    return slot;
  }

  /** Closed model: requests resent once on a new connection because the server had closed the idle one (ConnectionSlot.retries). */
  get retries(): number {
    let n = 0;
    for (const c of this.dedicated) n += c.retries;
    return n;
  }

  async close(): Promise<void> {
    if (this.sweep !== null) clearInterval(this.sweep);
    for (const c of this.dedicated) c.close();
    await this.pool.destroy();
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

/** Whether the server at the URL's host and port completes a TLS handshake (its certificate unchecked: only the protocol is asked). */
export async function speaksTls(url: URL, timeoutMs: number): Promise<boolean> {
  const { connect } = await import('node:tls');
  const { isIP } = await import('node:net');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return new Promise<boolean>((resolve) => {
    const sock = connect({ host, port: Number(url.port || 80), rejectUnauthorized: false, ...(isIP(host) === 0 ? { servername: host } : {}) });
    const done = (yes: boolean): void => { clearTimeout(timer); sock.destroy(); resolve(yes); };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once('secureConnect', () => done(true));
    sock.once('error', () => done(false));
    sock.once('close', () => done(false));
  });
}
