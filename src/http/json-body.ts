// The one JSON body parser of the HTTP front door: Fastify's content-type parser (app.ts) and the
// predict fast path (fast-path.ts) both use it, so a broken body gets the same answer on either.
// Plain JSON.parse: a "__proto__" key becomes an own data property (no prototype pollution), and
// the validator treats it, like "constructor", as an unknown field. A leading byte-order mark is
// dropped (some Windows tools write one).
import { ModelServeError } from '../errors.js';

export function parseJsonBody(text: string): unknown {
  if (text.length === 0) throw new ModelServeError('MS_ERR_BAD_JSON', 'request body is empty; expected a JSON object or array');
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (error) {
    throw new ModelServeError('MS_ERR_BAD_JSON', `request body is not valid JSON: ${(error as Error).message.replace(/\s+/g, ' ').slice(0, 200)}`);
  }
}
