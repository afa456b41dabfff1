// The common answer in one read, recognised without a general parser: `HTTP/1.1`, a final status
// (not 1xx/204/304), a Content-Length, no Transfer-Encoding, and exactly that many body bytes ending
// the read. Anything else returns null and goes to http-parser-js, which stays the parser of record.
//
// Why: between an answer and the next request a closed-model user spends its turnaround, and against
// a one-core server that reads its sockets in rounds a few µs decide whether the next request makes
// the server's next round or waits a whole extra one (bench/loadtester.ts). http-parser-js takes
// ~1.5 µs per answer (a string per header line, a regex match each); this takes a fraction of it.

export interface FastResponse {
  status: number;
  /** Body bytes (the Content-Length). */
  bytes: number;
  /** False when the answer says `Connection: close`. */
  keepAlive: boolean;
  /** Where the body starts when a Content-Type says it is JSON (see isJsonMediaType), else -1. */
  jsonBody: number;
}

/** `application/json`, `…/…+json` (problem+json, cloudevents+json), with or without parameters. */
const JSON_MEDIA_TYPE = /^[^/;\s]+\/(?:[^;\s]*\+)?json[ \t]*(?:;|$)/i;

/** Whether a Content-Type value declares a JSON body. */
export function isJsonMediaType(value: string): boolean {
  return JSON_MEDIA_TYPE.test(value.trimStart());
}

const CR = 0x0d, LF = 0x0a, COLON = 0x3a, SP = 0x20, TAB = 0x09;
const PREFIX = Buffer.from('HTTP/1.1 ', 'latin1');
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const CONTENT_LENGTH = Buffer.from('content-length', 'latin1');
const CONNECTION = Buffer.from('connection', 'latin1');
const TRANSFER_ENCODING = Buffer.from('transfer-encoding', 'latin1');
const CONTENT_TYPE = Buffer.from('content-type', 'latin1');
const CLOSE = Buffer.from('close', 'latin1');

/** Whether b[start, end) equals `lower` ignoring the case of ASCII letters (`lower` is lower-case). */
function equalsIgnoreCase(b: Buffer, start: number, end: number, lower: Buffer): boolean {
  if (end - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    const c = b[start + i]!;
    if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== lower[i]) return false;
  }
  return true;
}

/** Whether the value b[start, end) holds the token `close` (Connection: close, or a list with it). */
function hasCloseToken(b: Buffer, start: number, end: number): boolean {
  for (let i = start; i + CLOSE.length <= end; i++) {
    if (equalsIgnoreCase(b, i, i + CLOSE.length, CLOSE)) return true;
  }
  return false;
}

/**
 * Recognises one complete answer filling exactly b[0, length), or returns null (then the caller
 * parses the read in full). `b` may be longer than `length` (a reused read buffer).
 */
export function parseCompleteResponse(b: Buffer, length: number): FastResponse | null {
  if (length < 16) return null;
  for (let i = 0; i < PREFIX.length; i++) if (b[i] !== PREFIX[i]) return null;
  const d0 = b[9]! - 0x30, d1 = b[10]! - 0x30, d2 = b[11]! - 0x30;
  if (d0 < 2 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return null;
  const status = d0 * 100 + d1 * 10 + d2;
  if (status === 204 || status === 304) return null;
  if (b[12] !== SP && b[12] !== CR) return null;
  const headEnd = b.indexOf(HEAD_END, 12);
  if (headEnd < 0 || headEnd + 4 > length) return null;
  let contentLength = -1;
  let keepAlive = true;
  let json = false;
  // Header lines: from after the status line to headEnd; each `name: value`.
  let line = b.indexOf(LF, 12) + 1;
  while (line > 0 && line < headEnd + 2) {
    let eol = b.indexOf(LF, line);
    if (eol < 0 || eol > headEnd + 1 || b[eol - 1] !== CR) return null;
    eol -= 1; // at the CR
    const first = b[line]!;
    if (first === SP || first === TAB) return null; // obsolete line folding
    let colon = line;
    while (colon < eol && b[colon] !== COLON) colon++;
    if (colon === eol) return null;
    let v = colon + 1;
    while (v < eol && (b[v] === SP || b[v] === TAB)) v++;
    let ve = eol;
    while (ve > v && (b[ve - 1] === SP || b[ve - 1] === TAB)) ve--;
    const lower = first | 0x20;
    if (lower === 0x63 /* c */) {
      if (equalsIgnoreCase(b, line, colon, CONTENT_LENGTH)) {
        if (contentLength >= 0 || ve === v || ve - v > 15) return null; // repeated, empty or absurd
        let n = 0;
        for (let i = v; i < ve; i++) {
          const digit = b[i]! - 0x30;
          if (digit < 0 || digit > 9) return null;
          n = n * 10 + digit;
        }
        contentLength = n;
      } else if (equalsIgnoreCase(b, line, colon, CONNECTION)) {
        if (hasCloseToken(b, v, ve)) keepAlive = false;
      } else if (equalsIgnoreCase(b, line, colon, CONTENT_TYPE)) {
        json = isJsonMediaType(b.toString('latin1', v, ve));
      }
    } else if (lower === 0x74 /* t */ && equalsIgnoreCase(b, line, colon, TRANSFER_ENCODING)) {
      return null;
    }
    line = eol + 2;
  }
  if (contentLength < 0 || headEnd + 4 + contentLength !== length) return null;
  return { status, bytes: contentLength, keepAlive, jsonBody: json ? headEnd + 4 : -1 };
}
