// The one-read fast path (src/loadtest/response-fast-path.ts) against http-parser-js, the parser
// of record: whatever the fast path accepts it must read exactly as http-parser-js does, and
// everything outside its narrow shape must be refused (null) so that the parser takes it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HTTPParser } from 'http-parser-js';
import { parseCompleteResponse } from '../../src/loadtest/response-fast-path.js';

interface Parsed { status: number; bytes: number; keepAlive: boolean; complete: boolean }

/** What http-parser-js makes of the same bytes. */
function reference(raw: Buffer): Parsed {
  const p = new HTTPParser(HTTPParser.RESPONSE);
  const out: Parsed = { status: 0, bytes: 0, keepAlive: true, complete: false };
  p[HTTPParser.kOnHeadersComplete] = (info: { statusCode: number; shouldKeepAlive: boolean }) => { out.status = info.statusCode; out.keepAlive = info.shouldKeepAlive; return 0; };
  p[HTTPParser.kOnBody] = (_c: Buffer, _o: number, length: number) => { out.bytes += length; };
  p[HTTPParser.kOnMessageComplete] = () => { out.complete = true; };
  p.execute(raw);
  return out;
}

const crlf = (lines: string[], body = ''): Buffer => Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'latin1');
const fastify = crlf(['HTTP/1.1 200 OK', 'content-type: application/json; charset=utf-8', 'content-length: 21', 'Date: Sun, 22 Nov 2026 05:41:45 GMT', 'Connection: keep-alive', 'Keep-Alive: timeout=72'], '{"prediction":"Rain"}');

const accepted: Array<[string, Buffer]> = [
  ['a Fastify answer', fastify],
  ['mixed-case names and padded value', crlf(['HTTP/1.1 200 OK', 'CONTENT-LENGTH:   5  ', 'Content-Type: text/plain'], 'hello')],
  ['an error status with a body', crlf(['HTTP/1.1 503 Service Unavailable', 'Content-Length: 11'], 'overloaded!')],
  ['an empty body', crlf(['HTTP/1.1 200 OK', 'Content-Length: 0'])],
  ['Connection: close', crlf(['HTTP/1.1 200 OK', 'Connection: Close', 'Content-Length: 2'], 'ok')],
  ['close inside a connection list', crlf(['HTTP/1.1 200 OK', 'connection: keep-alive, close', 'content-length: 2'], 'ok')],
  ['a status line without a reason', Buffer.from('HTTP/1.1 200\r\ncontent-length: 2\r\n\r\nok', 'latin1')],
  ['a body holding CRLFs', crlf(['HTTP/1.1 200 OK', 'content-length: 8'], 'a\r\n\r\nb\r\n')],
];

const refused: Array<[string, Buffer]> = [
  ['chunked', crlf(['HTTP/1.1 200 OK', 'Transfer-Encoding: chunked'], '2\r\nok\r\n0\r\n\r\n')],
  ['HTTP/1.0', crlf(['HTTP/1.0 200 OK', 'Content-Length: 2'], 'ok')],
  ['no Content-Length (close-delimited)', crlf(['HTTP/1.1 200 OK', 'Connection: close'], 'ok')],
  ['204', crlf(['HTTP/1.1 204 No Content', 'Content-Length: 0'])],
  ['304', crlf(['HTTP/1.1 304 Not Modified', 'Content-Length: 10'])],
  ['1xx', crlf(['HTTP/1.1 100 Continue'])],
  ['a body still to come', crlf(['HTTP/1.1 200 OK', 'Content-Length: 10'], 'part')],
  ['headers still to come', Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n', 'latin1')],
  ['bytes after the answer', crlf(['HTTP/1.1 200 OK', 'Content-Length: 2'], 'okHTTP/1.1 200 OK\r\n')],
  ['a repeated Content-Length', crlf(['HTTP/1.1 200 OK', 'Content-Length: 2', 'Content-Length: 2'], 'ok')],
  ['a non-numeric Content-Length', crlf(['HTTP/1.1 200 OK', 'Content-Length: 2x'], 'ok')],
  ['a negative Content-Length', crlf(['HTTP/1.1 200 OK', 'Content-Length: -2'], 'ok')],
  ['an obsolete folded header', crlf(['HTTP/1.1 200 OK', 'X-A: 1', ' folded', 'Content-Length: 2'], 'ok')],
  ['a CR inside a header name', crlf(['HTTP/1.1 200 OK', 'Content\rLength: 2'], 'ok')],
  ['a header line without a colon', crlf(['HTTP/1.1 200 OK', 'Content-Length: 2', 'garbage'], 'ok')],
  ['bare LF line ends', Buffer.from('HTTP/1.1 200 OK\nContent-Length: 2\n\nok', 'latin1')],
  ['not HTTP', Buffer.from('SSH-2.0-OpenSSH_9.6 something longer\r\n\r\n', 'latin1')],
  ['a three-letter status', Buffer.from('HTTP/1.1 2x0 OK\r\ncontent-length: 2\r\n\r\nok', 'latin1')],
  ['too short', Buffer.from('HTTP/1.1 200', 'latin1')],
];

for (const [name, raw] of accepted) {
  test(`fast path reads ${name} as http-parser-js does`, () => {
    const fast = parseCompleteResponse(raw, raw.length);
    assert.ok(fast, 'accepted');
    const ref = reference(raw);
    assert.equal(ref.complete, true);
    assert.deepEqual({ status: fast.status, bytes: fast.bytes, keepAlive: fast.keepAlive }, { status: ref.status, bytes: ref.bytes, keepAlive: ref.keepAlive });
  });
}

test('fast path refuses every answer outside its shape (http-parser-js takes those)', () => {
  for (const [name, raw] of refused) assert.equal(parseCompleteResponse(raw, raw.length), null, name);
});

test('fast path reads only the given length of a reused buffer, whatever stale bytes follow', () => {
  const buffer = Buffer.alloc(64 * 1024, 'x');
  // A stale, complete-looking answer past the end must not complete a partial one.
  const partial = Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n', 'latin1');
  partial.copy(buffer, 0);
  Buffer.from('\r\n\r\nok', 'latin1').copy(buffer, partial.length);
  assert.equal(parseCompleteResponse(buffer, partial.length), null);
  // And a whole answer at the start is read exactly, stale bytes after it ignored.
  fastify.copy(buffer, 0);
  Buffer.from('\r\n\r\nHTTP/1.1 500 stale\r\n', 'latin1').copy(buffer, fastify.length);
  assert.deepEqual(parseCompleteResponse(buffer, fastify.length), { status: 200, bytes: 21, keepAlive: true, jsonBody: fastify.length - 21 });
});

test('fast path says where a body its Content-Type declares JSON starts (application/json, …+json, with parameters), else -1', () => {
  const body = (ct: string): Buffer => crlf(['HTTP/1.1 200 OK', `Content-Type: ${ct}`, 'content-length: 2'], '{}');
  for (const ct of ['application/json', 'Application/JSON; charset=utf-8', 'application/problem+json', 'application/cloudevents+json ;x=1']) {
    const raw = body(ct);
    assert.equal(parseCompleteResponse(raw, raw.length)?.jsonBody, raw.length - 2, ct);
  }
  for (const ct of ['text/plain', 'application/jsonp', 'application/json-seq', 'text/html; note=json']) {
    const raw = body(ct);
    assert.equal(parseCompleteResponse(raw, raw.length)?.jsonBody, -1, ct);
  }
  assert.equal(parseCompleteResponse(fastify, fastify.length)?.jsonBody, fastify.indexOf('{"prediction"'));
});
