// What the schedulers see of the HTTP side: a target, and reusable request slots that call their
// owner back once per request. Implemented by client.ts (undici pool) and connection.ts (one
// connection per closed-model user).

export interface Target {
  origin: string;
  method: string;
  path: string;
  /** Lower-case header names. */
  headers: Record<string, string>;
  timeoutMs: number;
}

/** TLS failures: certificate verification (Node's X.509 codes) and handshake errors from OpenSSL. */
const TLS_CODE = /CERT|^ERR_SSL_|^ERR_TLS_/;

/** Classifies a transport error into a short kind: timeout, connect, socket, aborted, protocol, tls:<code> or other. */
export function errorKind(err: unknown): string {
  const e = err as { code?: string; name?: string; cause?: { code?: string } };
  // An answer that is not HTTP: the closed model's parser says HPE_…, undici's HTTPParserError has
  // no code here. One kind, so the two load models name the same failure alike.
  if (e?.name === 'HTTPParserError' || e?.code?.startsWith('HPE_')) return 'protocol';
  // Answers undici reads but will not take, which the closed model's parser calls malformed: headers
  // past its limit, a 101 to a request that asked no upgrade, an unasked 100 Continue (it drops the
  // connection on that). As 'socket' they read as a closed connection and got the hint to try https.
  if (e?.code === 'UND_ERR_HEADERS_OVERFLOW') return 'protocol';
  // undici finds it only where the body is none (a 204 or 1xx with a Content-Length, RFC 9112 §6.3); the closed model's parser calls it bytes past the answer.
  if (e?.code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') return 'protocol';
  if (e?.code === 'UND_ERR_SOCKET' && /^bad (upgrade|response)$/.test((err as Error).message)) return 'protocol';
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
      if (TLS_CODE.test(code)) return `tls:${code}`;
      return code ? `other:${code}` : 'other';
  }
}

/**
 * A successful answer's body is checked only when its Content-Type says JSON, and only up to this
 * size (bigger ones are not kept: memory stays bounded whatever a server sends).
 */
export const MAX_CHECKED_BODY = 1024 * 1024;

/**
 * Decodes JSON text: UTF-8 (RFC 8259 §8.1), bytes that are not UTF-8 refused (toString() put
 * U+FFFD in their place, and the answer passed). ignoreBOM keeps a BOM in the text, which
 * JSON.parse refuses, as before.
 */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The error kind of a body its Content-Type declares JSON that is not UTF-8 or does not parse as JSON, or null. */
export function jsonBodyError(body: Buffer): string | null {
  try {
    JSON.parse(UTF8.decode(body));
    return null;
  } catch {
    return 'invalid-json';
  }
}

export interface SlotOwner {
  /** `status` is the HTTP status, or 0 with `kind` set for a transport error. */
  onSlotDone(slot: Slot, status: number, kind: string | null): void;
}

/** One request in flight; reused for the next request once done. */
export interface Slot {
  /** performance.now() the latency is measured from (intended send time in the open model). */
  start: number;
  status: number;
  /** Response body bytes. */
  bytes: number;
  done: boolean;
  /** Free for the owner (a user index, a timer). */
  tag: number;
  /** Sends one request with `body`; the latency clock starts at `start`. */
  send(body: Buffer | null, start: number): void;
  /**
   * For a 2xx answer whose Content-Type says JSON: 'invalid-json' when its body does not parse,
   * else null (also when there is nothing to check). Call at most once per answer, synchronously
   * within onSlotDone (the body may live in a shared read buffer), and after the next send() if
   * need be: JSON.parse costs more than reading the answer, so a closed-model user's next request
   * goes out first.
   */
  bodyError(): string | null;
}
