// The one JSON body parser of the front doors that take JSON rows: HTTP (Fastify's content-type
// parser in app.ts and the predict fast path in fast-path.ts) and MQTT (a message payload), so a
// broken body gets the same answer on each. Plain JSON.parse: a "__proto__" key becomes an own data
// property (no prototype pollution), and the validator treats it, like "constructor", as an
// unknown field. A leading byte-order mark is dropped (some Windows tools write one).
import { ModelServeError } from '../errors.js';

/** `what` names the body in the messages ('request body', 'message payload'). */
export function parseJsonBody(text: string, what = 'request body'): unknown {
  if (text.length === 0) throw new ModelServeError('MS_ERR_BAD_JSON', `${what} is empty; expected a JSON object or array`);
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (error) {
    throw new ModelServeError('MS_ERR_BAD_JSON', `${what} is not valid JSON: ${(error as Error).message.replace(/\s+/g, ' ').slice(0, 200)}`);
  }
}
