// What modelserve's own HTTP clients (the events webhook, remote pipeline steps, the load tester)
// read and send alike.

/** The longest Retry-After obeyed: a bogus one (a year) must not stop a client for good. */
const MAX_RETRY_AFTER_MS = 3_600_000;

/** A Retry-After header (delay-seconds or an HTTP-date) as ms from now; undefined when absent or unreadable. */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined) return undefined;
  const ms = /^\s*\d+\s*$/.test(value) ? Number(value) * 1000 : Date.parse(value) - now;
  return Number.isNaN(ms) ? undefined : Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}

/** A URL's user or password as written (a stray % that is no escape is kept as it is). */
function percentDecoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * A URL's user:password@ as an HTTP Basic Authorization value, as curl sends it (undici drops them
 * without a word: the server then answered 401 to everything); undefined when it has none.
 */
export function urlBasicAuthorization(url: URL): string | undefined {
  if (url.username === '' && url.password === '') return undefined;
  return `Basic ${Buffer.from(`${percentDecoded(url.username)}:${percentDecoded(url.password)}`).toString('base64')}`;
}

/**
 * A URL as written, for a message: a user:password@ as …@ and a query as ?… (either may hold a key).
 * Works on text that is no valid URL too, so everything up to the last '@' after the scheme goes,
 * looked for before the query is cut: a password holding '?', '#', '/' or ' ' (no valid URL, but
 * still a password) is not shown either, not even in part. An '@' in the query hides the host and
 * path too: more hidden than needed, never less.
 */
export function urlForMessages(text: string): string {
  const scheme = text.indexOf('://');
  const at = scheme < 0 ? -1 : text.lastIndexOf('@');
  const [head, tail] = at > scheme ? [`${text.slice(0, scheme + 3)}…`, text.slice(at)] : ['', text];
  const query = tail.search(/[?#]/);
  return `${head}${query < 0 ? tail : `${tail.slice(0, query)}${tail[query] === '?' ? '?…' : ''}`}`;
}
