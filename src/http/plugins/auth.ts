// Optional API-key / bearer-token authentication.
//
// Keys come from an environment variable (comma/newline separated) and/or a file (one per line,
// `#` comments), never from the command line (argv is visible in `ps`). A request is accepted with
// `Authorization: Bearer <key>` or `X-API-Key: <key>`. Comparison is constant-time: the candidate
// and every key are hashed to SHA-256 digests of equal length and compared with
// crypto.timingSafeEqual, against every key (no early exit), so neither a key's content nor its
// length leaks through timing. Failures get 401 with `WWW-Authenticate: Bearer` (RFC 6750).
//
// Always open: /healthz and /readyz (orchestrator probes carry no credentials), CORS preflights
// (OPTIONS). Open unless configured otherwise: /docs and /openapi.json (publicDocs, default on).
// /metrics is open only with publicMetrics (Prometheus can send a bearer token:
// `authorization: { credentials_file: ... }` in the scrape config).
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { sendError } from '../errors.js';

export interface AuthOptions {
  keys: readonly string[];
  /** Keys that may also use the repository API (load/unload); they work everywhere a key does. */
  adminKeys?: readonly string[];
  /** /docs and /openapi.json without a key (default true). */
  publicDocs?: boolean;
  /** /metrics without a key (default false). */
  publicMetrics?: boolean;
}

/** Shortest key accepted: shorter ones are guessable, so startup refuses them. */
export const MIN_KEY_LENGTH = 16;

export interface KeySources {
  /** Name of the environment variable holding the keys. */
  envName?: string;
  /** Path of a file holding the keys. */
  file?: string;
}

/** Splits a key list (commas, whitespace/newlines; `#` starts a comment line in files). */
export function parseKeys(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .flatMap((line) => line.split(/[\s,]+/))
    .filter((k) => k !== '');
}

/**
 * Reads the keys of every configured source. Returns the keys and the problems found (missing
 * variable or file, no key, a key too short or with characters a header cannot carry); the caller
 * reports the problems together with the other option errors. Never echoes a key.
 */
export function loadApiKeys(sources: KeySources, env: NodeJS.ProcessEnv = process.env): { keys: string[]; problems: string[] } {
  const keys: string[] = [];
  const problems: string[] = [];
  const check = (found: string[], where: string) => {
    if (found.length === 0) problems.push(`${where}: holds no API key`);
    found.forEach((k, i) => {
      if (k.length < MIN_KEY_LENGTH) problems.push(`${where}: key #${i + 1} is shorter than ${MIN_KEY_LENGTH} characters`);
      else if (!/^[\x21-\x7e]+$/.test(k)) problems.push(`${where}: key #${i + 1} has characters other than printable ASCII`);
      else keys.push(k);
    });
  };
  if (sources.envName !== undefined) {
    const value = env[sources.envName];
    if (value === undefined || value.trim() === '') problems.push(`--api-keys-env: environment variable ${sources.envName} is not set or empty`);
    else check(parseKeys(value), `$${sources.envName}`);
  }
  if (sources.file !== undefined) {
    let text: string | undefined;
    try {
      text = readFileSync(sources.file, 'utf8');
    } catch (err) {
      problems.push(`--api-keys-file: cannot read ${sources.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (text !== undefined) check(parseKeys(text), sources.file);
  }
  return { keys: [...new Set(keys)], problems };
}

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/** Constant-time membership: compares against every key, whatever matches first. */
export function keyMatcher(keys: readonly string[]): (candidate: string) => boolean {
  const digests = keys.map(digest);
  return (candidate) => {
    const d = digest(candidate);
    let ok = false;
    for (const k of digests) ok = timingSafeEqual(d, k) || ok;
    return ok;
  };
}

function credential(request: FastifyRequest): string | undefined {
  const auth = request.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  const key = request.headers['x-api-key'];
  return typeof key === 'string' && key !== '' ? key.trim() : undefined;
}

const ALWAYS_OPEN = new Set(['/healthz', '/readyz']);

/** Routes that change what is served: only admin keys may call them. */
export function isAdminRoute(route: string): boolean {
  return route.startsWith('/v2/repository/');
}

/** Adds the authentication hook (onRequest, so unauthenticated bodies are never parsed). */
export function installAuth(app: FastifyInstance, options: AuthOptions): void {
  if (options.keys.length === 0 && (options.adminKeys ?? []).length === 0) throw new Error('installAuth: no keys');
  const matchesAdmin = keyMatcher(options.adminKeys ?? []);
  const matchesUser = keyMatcher(options.keys);
  const matches = (key: string) => matchesUser(key) || matchesAdmin(key);
  const publicDocs = options.publicDocs ?? true;
  const isOpen = (request: FastifyRequest): boolean => {
    if (request.method === 'OPTIONS') return true;
    const route = request.routeOptions.url;
    if (route === undefined) return false; // unknown paths: 401 first, so they reveal nothing
    if (ALWAYS_OPEN.has(route)) return true;
    if (route === '/metrics') return options.publicMetrics ?? false;
    // The dashboard's page and assets hold no data; its data streams are protected like /metrics.
    if (route === '/dashboard' || route.startsWith('/dashboard/assets/')) return true;
    if (route.startsWith('/dashboard/')) return options.publicMetrics ?? false;
    if (publicDocs && (route === '/openapi.json' || route === '/docs' || route.startsWith('/docs/'))) return true;
    return false;
  };
  app.addHook('onRequest', async (request, reply) => {
    if (isOpen(request)) return;
    const given = credential(request);
    if (given !== undefined && isAdminRoute(request.routeOptions.url ?? '')) {
      if (matchesAdmin(given)) return;
      if (matchesUser(given)) return sendError(reply, 'MS_ERR_FORBIDDEN', 'this API key may not change the model repository; use an admin key (--admin-api-keys-env / --admin-api-keys-file)');
    }
    if (given !== undefined && matches(given)) return;
    const challenge = given === undefined ? 'Bearer realm="modelserve"' : 'Bearer realm="modelserve", error="invalid_token"';
    return sendError(reply, 'MS_ERR_UNAUTHORIZED', given === undefined
      ? 'authentication required: send Authorization: Bearer <key> or X-API-Key: <key>'
      : 'invalid API key', { 'www-authenticate': challenge });
  });
}

/** The OpenAPI security schemes for the docs (Swagger UI's Authorize button). */
export function withSecuritySchemes<T extends object>(document: T): T {
  const doc = structuredClone(document) as T & { components?: Record<string, unknown>; security?: unknown };
  doc.components = {
    ...(doc.components ?? {}),
    securitySchemes: {
      bearerAuth: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <API key>' },
      apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
    },
  };
  doc.security = [{ bearerAuth: [] }, { apiKeyHeader: [] }];
  return doc;
}
