// The one JSON body parser of the front doors that take JSON rows: HTTP (Fastify's content-type
// parser in app.ts and the predict fast path in fast-path.ts) and MQTT (a message payload), so a
// broken body gets the same answer on each. Plain JSON.parse: a "__proto__" key becomes an own data
// property (no prototype pollution), and the validator treats it, like "constructor", as an
// unknown field. A leading byte-order mark is dropped (some Windows tools write one).
import { isUtf8 } from 'node:buffer';
import { ModelServeError } from '../errors.js';

// (An MQTT payload is the request's body too: the messages say 'request body' on both front doors,
// so a client reading either gets the same detail for the same mistake.)
const what = 'request body';

/** 3 when the bytes start with a UTF-8 byte-order mark (some Windows tools write one), else 0: where JSON text starts. */
export function utf8BomLength(bytes: Uint8Array): number {
  return bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
}

export function parseJsonBody(body: Buffer): unknown {
  if (body.length === 0) throw new ModelServeError('MS_ERR_BAD_JSON', `${what} is empty; expected a JSON object or array`);
  // JSON is UTF-8 (RFC 8259); decoding other bytes would put U+FFFD into strings and accept them.
  if (!isUtf8(body)) throw new ModelServeError('MS_ERR_BAD_JSON', `${what} is not valid UTF-8; expected a JSON object or array`);
  try {
    return JSON.parse(body.toString('utf8', utf8BomLength(body)));
  } catch (error) {
    throw new ModelServeError('MS_ERR_BAD_JSON', `${what} is not valid JSON: ${(error as Error).message.replace(/\s+/g, ' ').slice(0, 200)}`);
  }
}

/**
 * A body past its limit (HTTP's --body-limit, MQTT's --mqtt-max-payload): one message for both
 * front doors. It names the limit, not the body's size, which HTTP does not always know (chunked).
 */
export function bodyTooLarge(limit: number): ModelServeError {
  return new ModelServeError('MS_ERR_BODY_TOO_LARGE', `${what} is larger than the limit (${limit} bytes)`);
}
