// Optional API-key / bearer-token authentication.
//
// Keys come from an environment variable (comma/newline separated) and/or a file (one per line,
// `#` comments), never from the command line (argv is visible in `ps`). A line may end with
// `rate=10/s burst=20` (or `rate=none`): the rate limit of the keys on that line (rate-limit.ts). A request is accepted with
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
import { readUserText, unreadableReason } from '../../user-file.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isOipUrl, sendError } from '../errors.js';
import { errorResponse } from '../openapi.js';
import { RATE_LIMIT_RETRY_AFTER_HEADER, WWW_AUTHENTICATE_HEADER } from '../../protocols/openapi-statuses.js';
import { ModelServeError } from '../../errors.js';
import { buildBuckets, keyFingerprint, parseRate, type RateLimit } from './rate-limit.js';

export interface AuthOptions {
  keys: readonly string[];
  /** Keys that may also use the repository API (load/unload); they work everywhere a key does. */
  adminKeys?: readonly string[];
  /** /docs and /openapi.json without a key (default true). */
  publicDocs?: boolean;
  /** /metrics without a key (default false). */
  publicMetrics?: boolean;
  /** Token-bucket limit of each key that has one (keys absent here are not limited). */
  rateLimits?: ReadonlyMap<string, RateLimit>;
  /** The gate to use (one per process, shared by HTTP and gRPC so a key has one bucket); built from these options when absent. */
  gate?: KeyGate;
}

/**
 * Who may call, for every front door that takes API keys (HTTP, gRPC): admits a credential to a
 * route, taking a token from its key's bucket. One gate per process, so a key's rate limit is one
 * budget whichever protocol its requests use.
 */
export interface KeyGate {
  /**
   * Undefined when `given` may call: a user key (a token taken, unless `rateLimited` is false), or
   * an admin key (never limited). Else the answer: 401 (no or unknown key), 403 (a user key on an
   * admin route) or 429 with Retry-After.
   */
  admit(given: string | undefined, route: { admin: boolean; rateLimited?: boolean }): ModelServeError | undefined;
  /** Whether any key has a rate limit (else admitting once per connection or stream is enough). */
  readonly limited: boolean;
}

export function createKeyGate(options: AuthOptions, onLimited?: (fingerprint: string) => void): KeyGate {
  if (options.keys.length === 0 && (options.adminKeys ?? []).length === 0) throw new Error('createKeyGate: no keys');
  const matchesAdmin = keyMatcher(options.adminKeys ?? []);
  const indexOf = keyIndexer(options.keys);
  const buckets = buildBuckets(options.keys, options.rateLimits ?? new Map(), undefined);
  const fingerprints = options.keys.map(keyFingerprint);
  return {
    limited: buckets.some((b) => b !== undefined),
    admit(given, route) {
      const index = given === undefined ? -1 : indexOf(given);
      // Admin keys are never rate-limited; only they may call the repository API.
      const admin = given !== undefined && matchesAdmin(given);
      if (route.admin) {
        if (admin) return undefined;
        if (index >= 0) return new ModelServeError('MS_ERR_FORBIDDEN', 'this API key may not change the model repository; use an admin key (--admin-api-keys-env / --admin-api-keys-file)');
      } else if (admin) return undefined;
      if (index >= 0) {
        if (route.rateLimited === false) return undefined;
        const waitMs = buckets[index]?.take() ?? 0;
        if (waitMs === 0) return undefined;
        onLimited?.(fingerprints[index]!);
        const retryAfter = Math.max(1, Math.ceil(waitMs / 1000));
        return new ModelServeError('MS_ERR_RATE_LIMITED', `rate limit of this API key (${fingerprints[index]}) exceeded: ${formatLimit(buckets[index]!.limit)}; retry in ${retryAfter} s`, { headers: { 'retry-after': String(retryAfter) } });
      }
      const challenge = given === undefined ? 'Bearer realm="modelserve"' : 'Bearer realm="modelserve", error="invalid_token"';
      return new ModelServeError('MS_ERR_UNAUTHORIZED', given === undefined
        ? 'authentication required: send Authorization: Bearer <key> or X-API-Key: <key>'
        : 'invalid API key', { headers: { 'www-authenticate': challenge } });
    },
  };
}

/** A key line's own rate settings, before the --rate-limit/--rate-burst defaults apply. */
export interface KeyRateSettings {
  /** Tokens per second, or null for `rate=none` (never limited). */
  rate?: number | null;
  burst?: number;
}

/** Shortest key accepted: shorter ones are guessable, so startup refuses them. */
export const MIN_KEY_LENGTH = 16;

export interface KeySources {
  /** Name of the environment variable holding the keys. */
  envName?: string;
  /** Path of a file holding the keys. */
  file?: string;
}

const ATTRIBUTE = /^(rate|burst)=(.*)$/i;

/** A `#` that starts a line or follows a separator, with the rest of its line: a comment (a `#` inside a key is part of it). */
const COMMENT = /(^|[\s,])#.*$/;

/** Splits a key list into lines of keys (commas, whitespace; `#` starts a comment, a whole line or after a key) with their rate attributes. */
export function parseKeyLines(text: string): Array<{ keys: string[]; attributes: Record<string, string> }> {
  return text
    .split('\n')
    // A trailing comment's words would otherwise be read as keys: `#rotated-by-ops-2026-11` one that works.
    .map((line) => line.replace(COMMENT, '$1').trim())
    .filter((line) => line !== '')
    .map((line) => {
      const keys: string[] = [];
      const attributes: Record<string, string> = {};
      for (const token of line.split(/[\s,]+/).filter((t) => t !== '')) {
        const m = ATTRIBUTE.exec(token);
        if (m) attributes[m[1]!.toLowerCase()] = m[2]!;
        else keys.push(token);
      }
      return { keys, attributes };
    });
}

/** The keys of a key list, without their attributes. */
export function parseKeys(text: string): string[] {
  return parseKeyLines(text).flatMap((line) => line.keys);
}

/**
 * Reads the keys of every configured source. Returns the keys and the problems found (missing
 * variable or file, no key, a key too short or with characters a header cannot carry); the caller
 * reports the problems together with the other option errors. Never echoes a key.
 */
export function loadApiKeys(sources: KeySources, env: NodeJS.ProcessEnv = process.env): { keys: string[]; problems: string[]; rates: Map<string, KeyRateSettings> } {
  const keys: string[] = [];
  const problems: string[] = [];
  const rates = new Map<string, KeyRateSettings>();
  const check = (text: string, where: string) => {
    const lines = parseKeyLines(text);
    const found = lines.flatMap((line) => line.keys);
    if (found.length === 0) problems.push(`${where}: holds no API key`);
    let index = 0;
    for (const line of lines) {
      const settings: KeyRateSettings = {};
      const { rate, burst } = line.attributes;
      if (rate !== undefined) {
        const perSecond = rate.toLowerCase() === 'none' ? null : parseRate(rate);
        if (perSecond === undefined) problems.push(`${where}: rate=${rate} is not a rate (e.g. rate=10/s, rate=600/min, rate=none)`);
        else settings.rate = perSecond;
      }
      if (burst !== undefined) {
        if (!/^\d+$/.test(burst) || Number(burst) < 1) problems.push(`${where}: burst=${burst} is not a whole number of at least 1`);
        else settings.burst = Number(burst);
      }
      if (line.keys.length === 0) problems.push(`${where}: ${Object.keys(line.attributes).join('/')}= on a line without a key`);
      for (const k of line.keys) {
        index += 1;
        if (k.length < MIN_KEY_LENGTH) problems.push(`${where}: key #${index} is shorter than ${MIN_KEY_LENGTH} characters`);
        else if (!/^[\x21-\x7e]+$/.test(k)) problems.push(`${where}: key #${index} has characters other than printable ASCII`);
        else {
          keys.push(k);
          if (settings.rate !== undefined || settings.burst !== undefined) rates.set(k, settings);
        }
      }
    }
  };
  if (sources.envName !== undefined) {
    const value = env[sources.envName];
    if (value === undefined || value.trim() === '') problems.push(`--api-keys-env: environment variable ${sources.envName} is not set or empty`);
    else check(value, `$${sources.envName}`);
  }
  if (sources.file !== undefined) {
    let text: string | undefined;
    try {
      text = readUserText(sources.file, 'keys');
    } catch (err) {
      problems.push(`--api-keys-file: ${sources.file} ${unreadableReason(err)}`);
    }
    if (text !== undefined) check(text, sources.file);
  }
  return { keys: [...new Set(keys)], problems, rates };
}

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/** Constant-time lookup: compares against every key, whatever matches first; -1 for none. */
export function keyIndexer(keys: readonly string[]): (candidate: string) => number {
  const digests = keys.map(digest);
  return (candidate) => {
    const d = digest(candidate);
    let found = -1;
    for (let i = 0; i < digests.length; i++) found = timingSafeEqual(d, digests[i]!) ? i : found;
    return found;
  };
}

/** Constant-time membership. */
export function keyMatcher(keys: readonly string[]): (candidate: string) => boolean {
  const indexOf = keyIndexer(keys);
  return (candidate) => indexOf(candidate) >= 0;
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

// The OIP health routes are probes too (KServe's readiness probe calls /v2/health/ready).
const ALWAYS_OPEN = new Set(['/healthz', '/readyz', '/v2/health/live', '/v2/health/ready']);

/** Routes that change what is served: only admin keys may call them. */
export function isAdminRoute(route: string): boolean {
  return route.startsWith('/v2/repository/');
}

/** Adds the authentication hook (onRequest, so unauthenticated bodies are never parsed). */
export function installAuth(app: FastifyInstance, options: AuthOptions): void {
  const gate = options.gate ?? createKeyGate(options, (fingerprint) => app.metrics?.rateLimited(fingerprint));
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
    const refused = gate.admit(credential(request), { admin: isAdminRoute(request.routeOptions.url ?? '') });
    if (refused !== undefined) return sendError(reply, refused.code, refused.message, refused.headers);
  });
}

function formatLimit(limit: RateLimit): string {
  return `${Number(limit.rate.toPrecision(6))} requests/s, bursts of ${limit.burst}`;
}

/**
 * The OpenAPI security schemes for the docs (Swagger UI's Authorize button), and what auth adds to
 * the answers: the probes need no key (`security: []`), every other operation can answer 401, and
 * 429 when keys are rate-limited (admin routes excepted: admin keys are never limited).
 */
export function withSecuritySchemes<T extends object>(document: T, options: { rateLimited?: boolean } = {}): T {
  const doc = structuredClone(document) as T & { components?: Record<string, unknown>; security?: unknown; paths?: Record<string, Record<string, { security?: unknown; responses?: Record<string, unknown> }>> };
  for (const [path, operations] of Object.entries(doc.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      if (ALWAYS_OPEN.has(path)) {
        operation.security = [];
        continue;
      }
      const responses = (operation.responses ??= {});
      const schema = isOipUrl(path) ? 'OipError' : 'Error';
      responses['401'] ??= errorResponse('No API key, or an unknown one (MS_ERR_UNAUTHORIZED); WWW-Authenticate says which.', schema, WWW_AUTHENTICATE_HEADER);
      if (options.rateLimited && !isAdminRoute(path)) responses['429'] ??= errorResponse('The API key used up its rate limit (MS_ERR_RATE_LIMITED); retry after Retry-After seconds.', schema, RATE_LIMIT_RETRY_AFTER_HEADER);
    }
  }
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
