// One keep-alive HTTP/1.1 connection that writes a request the moment it is given one: the
// closed model's per-user connection (as wrk and autocannon have theirs).
//
// Why not undici here: before reusing an idle keep-alive socket, undici yields one event-loop turn
// (setImmediate; a defence against response smuggling through proxies, GHSA-35p6-xmwp-9g52), so
// every next request of a closed-model user left a turn later than the answer came in. Against a
// busy server that delay reorders the server's queue: measured against a one-core server at ~90%
// (bench/loadtester.ts), the p50 fell below wrk's and ~5% of requests took two rounds of the
// server's queue instead of one, putting the p99 50% above wrk's. Writing at once removes most of it.
// An answer that arrives whole in one read (HTTP/1.1, Content-Length) is recognised by a narrow
// fast path (response-fast-path.ts); every other one is parsed by http-parser-js (what autocannon
// uses): chunked or close-delimited bodies, answers split over reads, HTTP/1.0. The open model
// keeps undici's Pool (any free connection takes the next request; latency there runs from the
// intended send time anyway).
import { writeSync } from 'node:fs';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { HTTPParser } from 'http-parser-js';
import { MAX_CHECKED_BODY, errorKind, jsonBodyError, type Slot, type SlotOwner, type Target } from './slot.js';
import { isJsonMediaType, parseCompleteResponse } from './response-fast-path.js';

/**
 * One read buffer shared by every plain-TCP connection (net's `onread`): answers are parsed
 * synchronously as they arrive, so nothing outlives the callback, and no read allocates a Buffer
 * or passes through the Readable stream machinery — less work and less garbage between an answer
 * and the next request.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/**
 * Writes a request. On a plain TCP socket with nothing queued in its stream, straight to the
 * descriptor: Node's stream write costs ~1 µs more per call, and that µs is part of the turnaround
 * the closed-model benchmark against wrk turns on (bench/loadtester.ts). Whatever the kernel does
 * not take at once (a full send buffer, EPIPE, a reset) goes through the stream, which queues the
 * rest in order or reports the error as usual. The descriptor is read from the live handle at each
 * write: a destroyed socket has none, so a closed (or reused) descriptor is never written.
 */
function writeRequest(socket: Socket, bytes: Buffer, raw: boolean): void {
  const fd = raw && socket.writableLength === 0 ? (socket as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd : undefined;
  if (typeof fd === 'number' && fd >= 0) {
    let written: number;
    try { written = writeSync(fd, bytes); } catch { written = 0; }
    if (written === bytes.length) return;
    socket.write(bytes.subarray(written));
    return;
  }
  socket.write(bytes);
}

class TimeoutError extends Error {
  readonly code = 'UND_ERR_HEADERS_TIMEOUT';
}
class ProtocolError extends Error {
  readonly code = 'HPE_INVALID';
}

/** A chunk-size line (RFC 9112 §7.1): hex digits, then optional extensions. */
const CHUNK_SIZE = /^[0-9a-fA-F]{1,15}[ \t]*(;.*)?$/;
/** A Content-Length value: digits only (http-parser-js reads 'abc' as NaN and '-1' as -1). */
const CONTENT_LENGTH = /^\d{1,15}$/;

/** The http-parser-js internals read here (0.5.x, pinned by package-lock; connection.test.ts covers each use). */
type ParserState = { consumeLine(): string | undefined; line: string; offset: number; end: number; BODY_CHUNKHEAD(): void };
/**
 * http-parser-js reads a chunk size with parseInt and takes NaN for the last chunk, so a body
 * framed with 'ZZ' ended as a clean 200. This one refuses a size line that is not hex (the
 * parser's execute turns the throw into its error result, like any other malformed answer).
 */
function strictChunkHead(parser: object): void {
  const p = parser as unknown as ParserState;
  const original = p.BODY_CHUNKHEAD;
  p.BODY_CHUNKHEAD = function (this: ParserState): void {
    const { line, offset } = this;
    const size = this.consumeLine();
    if (size === undefined) return;
    if (!CHUNK_SIZE.test(size)) throw new Error(`invalid chunk size ${JSON.stringify(size.slice(0, 20))}`);
    // Let the original read the same line again, as it would have.
    this.line = line;
    this.offset = offset;
    original.call(this);
  };
}

export class ConnectionSlot implements Slot {
  start = 0;
  status = 0;
  bytes = 0;
  done = true;
  tag = 0;
  private socket: Socket | null = null;
  private connected = false;
  private keepAlive = true;
  private pending: Buffer | null = null;
  private readonly parser = new HTTPParser(HTTPParser.RESPONSE);
  private readonly timer: NodeJS.Timeout;
  private readonly url: URL;
  private readonly head: string;
  /** The whole request per body (bodies are a small fixed set, reused in rotation). */
  private readonly requests = new Map<Buffer | null, Buffer>();
  private closed = false;
  /** An answer has completed on the current connection: a request written to it now reuses it. */
  private answeredOnSocket = false;
  /** The request in flight went to a connection that had answered before, and may be resent once (see retryOnNewConnection). */
  private resendable = false;
  /** The request in flight, for a resend. */
  private inFlight: Buffer | null = null;
  /** Requests resent on a new connection because the server had closed the idle one they were written to. */
  retries = 0;
  /** The answer in progress is being read by http-parser-js (it did not come whole in one read). */
  private parsing = false;
  /** Why the answer being parsed is malformed (found in its headers), or null. */
  private invalid: string | null = null;
  /** The connection whose bytes the parser is reading. */
  private reading: Socket | null = null;
  /** HEAD answers carry a Content-Length without a body: never for the one-read fast path. */
  private readonly fastPath: boolean;
  /** Plain TCP (not TLS): requests may go straight to the descriptor. */
  private readonly plainTcp: boolean;
  /** The JSON body of the answer being parsed, in copies (reads share one buffer), or null when it is not checked. */
  private jsonChunks: Buffer[] | null = null;
  private jsonLength = 0;
  /** The last answer's body to check (bodyError), or null. */
  private checkBody: Buffer | null = null;

  constructor(private readonly target: Target, private readonly owner: SlotOwner) {
    this.url = new URL(target.origin);
    this.plainTcp = this.url.protocol === 'http:';
    let head = `${target.method} ${target.path} HTTP/1.1\r\nhost: ${this.url.host}\r\n`;
    for (const [k, v] of Object.entries(target.headers)) if (k !== 'host' && k !== 'content-length') head += `${k}: ${v}\r\n`;
    this.head = head;
    const skipBody = target.method === 'HEAD';
    this.fastPath = !skipBody;
    strictChunkHead(this.parser);
    this.parser[HTTPParser.kOnHeadersComplete] = (info: { statusCode: number; shouldKeepAlive: boolean; headers: string[] }) => {
      if (this.stale()) return 1;
      this.status = info.statusCode;
      this.keepAlive = info.shouldKeepAlive;
      this.invalid = null;
      this.jsonChunks = null;
      const checked = !skipBody && info.statusCode >= 200 && info.statusCode < 300 && info.statusCode !== 204;
      for (let i = 0; i < info.headers.length; i += 2) {
        const name = info.headers[i]!.toLowerCase();
        if (name === 'content-length' && !CONTENT_LENGTH.test(info.headers[i + 1]!.trim())) this.invalid = `invalid Content-Length ${JSON.stringify(info.headers[i + 1]!.slice(0, 20))}`;
        else if (name === 'content-type' && checked && isJsonMediaType(info.headers[i + 1]!)) { this.jsonChunks = []; this.jsonLength = 0; }
      }
      // A callback may not throw (execute rethrows it out of the socket's read): skip the body and fail at its end.
      // 1xx, 204 and 304 answers have no body whatever their Content-Length says (RFC 9112 §6.3): a
      // 304 with the representation's Content-Length waited for bytes that never come, a timeout.
      return skipBody || this.invalid !== null || info.statusCode < 200 || info.statusCode === 204 || info.statusCode === 304 ? 1 : 0;
    };
    this.parser[HTTPParser.kOnBody] = (chunk: Buffer, offset: number, length: number) => {
      if (this.stale()) return;
      this.bytes += length;
      if (this.jsonChunks === null) return;
      this.jsonLength += length;
      // Too big to keep for the check: it goes unchecked.
      if (this.jsonLength > MAX_CHECKED_BODY) this.jsonChunks = null;
      else this.jsonChunks.push(Buffer.from(chunk.subarray(offset, offset + length)));
    };
    this.parser[HTTPParser.kOnMessageComplete] = () => {
      if (this.stale()) return;
      if (this.invalid !== null) { this.fail(new ProtocolError(this.invalid)); return; }
      // 101: we asked for no upgrade. Other 1xx are interim (100 Continue, 103 Early Hints): the
      // final answer follows on the same connection, and a client must read past them (RFC 9110 §15.2).
      if (this.status === 101) { this.fail(new ProtocolError('101 Switching Protocols to a request that asked for no upgrade')); return; }
      if (this.status >= 100 && this.status < 200) { this.status = 0; return; }
      // Bytes past the answer's end on a connection kept open (garbage past the Content-Length, a
      // 204 with a body, a second answer nobody asked for) would be read as the start of the next
      // request's answer: the exchange is out of step, so the answer fails and the connection goes.
      // (offset and end: how far into the read execute() is, and where the read ends.)
      const p = this.parser as unknown as ParserState;
      if (this.keepAlive && p.offset < p.end) { this.fail(new ProtocolError(`${p.end - p.offset} bytes past the end of the answer`)); return; }
      const json = this.jsonChunks;
      this.jsonChunks = null;
      this.complete(json === null ? null : json.length === 1 ? json[0]! : Buffer.concat(json, this.jsonLength));
    };
    // One timer per connection, re-armed per request (refresh is far cheaper than a new timer) and
    // never cleared before close() (a cleared timer cannot be re-armed); when it fires after an
    // answer it finds nothing in flight. Unref'd: the sockets keep the process alive, not it.
    this.timer = setTimeout(() => this.onTimer(), target.timeoutMs).unref();
  }

  private requestBytes(body: Buffer | null): Buffer {
    let bytes = this.requests.get(body);
    if (bytes === undefined) {
      const length = body === null ? (this.target.method === 'GET' || this.target.method === 'HEAD' ? '' : 'content-length: 0\r\n') : `content-length: ${body.length}\r\n`;
      const head = Buffer.from(`${this.head}${length}\r\n`, 'latin1');
      bytes = body === null ? head : Buffer.concat([head, body]);
      if (this.requests.size < 1024) this.requests.set(body, bytes);
    }
    return bytes;
  }

  send(body: Buffer | null, start: number): void {
    this.start = start;
    this.status = 0;
    this.bytes = 0;
    this.done = false;
    const bytes = this.requestBytes(body);
    this.inFlight = bytes;
    this.resendable = this.answeredOnSocket && this.socket !== null && this.connected;
    if (this.socket !== null && this.connected) {
      writeRequest(this.socket, bytes, this.plainTcp);
      this.timer.refresh();
      return;
    }
    this.timer.refresh();
    this.pending = bytes;
    if (this.socket === null) this.open();
  }

  private open(): void {
    const port = Number(this.url.port || (this.plainTcp ? 80 : 443));
    const host = this.url.hostname.replace(/^\[|\]$/g, '');
    const onBytes = (chunk: Buffer, length: number): void => {
      if (this.socket !== socket) return;
      // Nothing was asked (the user is waiting between requests): whatever the server sends now
      // cannot be an answer, and would be read as the start of the next one. Drop the connection.
      if (this.done) { this.drop(); return; }
      // A byte of the answer came: the server read the request, which is never resent.
      this.resendable = false;
      if (!this.parsing) {
        const whole = this.fastPath ? parseCompleteResponse(chunk, length) : null;
        if (whole !== null) {
          this.status = whole.status;
          this.bytes = whole.bytes;
          this.keepAlive = whole.keepAlive;
          this.complete(whole.jsonBody >= 0 && whole.status < 300 ? chunk.subarray(whole.jsonBody, length) : null);
          return;
        }
        // A new answer starts with this read: whatever the parser still holds is stale.
        this.parsing = true;
        this.parser.reinitialize(HTTPParser.RESPONSE);
      }
      this.reading = socket;
      const r = this.parser.execute(chunk, 0, length);
      if (r instanceof Error && this.socket === socket) this.fail(new ProtocolError(`invalid HTTP response: ${r.message}`));
    };
    const socket: Socket = !this.plainTcp
      // SNI names a host, never an address (RFC 6066; Node warns when given one).
      ? tlsConnect({ host, port, ...(isIP(host) === 0 ? { servername: host } : {}), ALPNProtocols: ['http/1.1'] })
      : netConnect({ host, port, onread: { buffer: READ_BUFFER, callback: (nread: number, buf: Buffer) => { onBytes(buf, nread); return true; } } });
    this.socket = socket;
    this.connected = false;
    this.parsing = false;
    this.answeredOnSocket = false;
    socket.setNoDelay(true);
    socket.on(this.plainTcp ? 'connect' : 'secureConnect', () => {
      if (this.socket !== socket) return;
      this.connected = true;
      if (this.pending !== null) {
        // Latency is the round trip from the write, as wrk measures it, not the connect.
        this.start = performance.now();
        writeRequest(socket, this.pending, this.plainTcp);
        this.pending = null;
      }
    });
    if (!this.plainTcp) socket.on('data', (chunk: Buffer) => onBytes(chunk, chunk.length));
    socket.on('error', (err) => { if (this.socket === socket && !this.retryOnNewConnection()) this.fail(err); });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.connected = false;
      // A body delimited by the connection's end completes here; otherwise an answer was cut off.
      // (Completing it may already have sent the user's next request on a new connection: then
      // this.socket is that connection, and nothing here failed.)
      if (!this.done) {
        // The parser read this connection (this.socket was it until just now).
        this.reading = null;
        if (this.parsing) this.parser.finish();
        if (!this.done && this.socket === null && !this.retryOnNewConnection()) this.fail(Object.assign(new Error('the server closed the connection before the answer ended'), { code: 'UND_ERR_SOCKET' }));
      }
    });
  }

  /**
   * The parser is still reading a connection this slot has left (an answer failed or closed it
   * mid-read, and the next request may already be on a new one): the rest of that read is not
   * this request's answer.
   */
  private stale(): boolean {
    return this.reading !== this.socket;
  }

  /**
   * A server closes an idle keep-alive connection when it likes (Node after keepAliveTimeout, 5 s;
   * nginx after keepalive_timeout or keepalive_requests; load balancers after their idle timeout),
   * without saying so in an answer: a request written as it closes is lost unread. When the
   * connection had answered before and closes (or resets) before any byte of this answer, the
   * request is resent once on a new connection, as Go's net/http and urllib3 do, and counted apart
   * (retries), not as the server's failure. A connection that never answered, or a second loss, fails.
   */
  private retryOnNewConnection(): boolean {
    if (this.done || this.closed || !this.resendable || this.inFlight === null) return false;
    this.resendable = false;
    this.retries++;
    const bytes = this.inFlight;
    this.drop();
    this.pending = bytes;
    this.timer.refresh();
    this.open();
    return true;
  }

  private drop(): void {
    const s = this.socket;
    this.socket = null;
    this.connected = false;
    this.pending = null;
    s?.destroy();
  }

  /** `body`: the answer's JSON body to check, or null. */
  private complete(body: Buffer | null): void {
    this.parsing = false;
    if (this.done) return;
    this.done = true;
    this.checkBody = body;
    this.answeredOnSocket = true;
    if (!this.keepAlive) this.drop();
    this.owner.onSlotDone(this, this.status, null);
  }

  private fail(err: unknown): void {
    this.drop();
    if (this.done) return;
    this.done = true;
    this.checkBody = null;
    this.owner.onSlotDone(this, 0, errorKind(err));
  }

  bodyError(): string | null {
    const body = this.checkBody;
    if (body === null) return null;
    this.checkBody = null;
    return jsonBodyError(body);
  }

  private onTimer(): void {
    if (!this.done && !this.closed) this.fail(new TimeoutError(`no complete answer within ${this.target.timeoutMs} ms`));
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.drop();
  }
}
