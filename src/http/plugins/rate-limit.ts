// Per-API-key rate limits: one token bucket per key. A bucket holds up to `burst` tokens and
// refills at `rate` tokens per second; a request takes one token, or is refused with 429 and
// Retry-After (the seconds until a token is back). Buckets exist only for the configured keys, so
// memory is bounded by the key list whatever clients send. Requests without auth (auth off, or an
// always-open route) are never counted. @fastify/rate-limit was considered: its store counts
// requests in fixed windows (max per timeWindow), which lets 2x max through around a window edge
// and has no separate burst, so it is not a token bucket.
import { createHash } from 'node:crypto';

export interface RateLimit {
  /** Tokens per second. */
  rate: number;
  /** Bucket size: the requests a key can send at once after being idle. */
  burst: number;
}

const UNIT_SECONDS: Record<string, number> = { s: 1, sec: 1, m: 60, min: 60, h: 3600 };

/** "10/s", "600/min", "36000/h" or a bare number (per second) → tokens per second, or undefined. */
export function parseRate(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*(s|sec|m|min|h))?\s*$/i.exec(text);
  if (!m) return undefined;
  const rate = Number(m[1]) / UNIT_SECONDS[(m[2] ?? 's').toLowerCase()]!;
  return rate > 0 && Number.isFinite(rate) ? rate : undefined;
}

/** The default burst for a rate: one second's worth, at least 1. */
export function defaultBurst(rate: number): number {
  return Math.max(1, Math.ceil(rate));
}

export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(readonly limit: RateLimit, now: number = performance.now()) {
    this.tokens = limit.burst;
    this.last = now;
  }

  /** Takes a token: 0 when allowed, else the milliseconds until one is available. */
  take(now: number = performance.now()): number {
    this.tokens = Math.min(this.limit.burst, this.tokens + ((now - this.last) / 1000) * this.limit.rate);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return ((1 - this.tokens) / this.limit.rate) * 1000;
  }
}

/** A short, non-secret name for a key in metrics and logs: the first 8 hex digits of its SHA-256. */
export function keyFingerprint(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 8);
}

/** One bucket per key that has a limit (its own, else the default); keys without one are free. */
export function buildBuckets(keys: readonly string[], perKey: ReadonlyMap<string, RateLimit>, fallback: RateLimit | undefined): Array<TokenBucket | undefined> {
  return keys.map((key) => {
    const limit = perKey.get(key) ?? fallback;
    return limit === undefined ? undefined : new TokenBucket(limit);
  });
}
