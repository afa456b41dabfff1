// A caller's deadline, from the x-modelserve-timeout-ms request header: how many milliseconds it
// will wait for the answer. Remote pipeline steps send what is left of theirs, so a chain of
// pipelines across servers (or one that calls itself by mistake) shares one deadline instead of
// starting a new one at every hop — the work of a request the client gave up on stops with it.
import { performance } from 'node:perf_hooks';
import { MAX_TIMEOUT_MS } from '../config/schema.js';

export const TIMEOUT_HEADER = 'x-modelserve-timeout-ms';

/**
 * The request's deadline (performance.now() ms): the sooner of the header's and the model's own
 * queue timeout (`ownTimeoutMs`, 0: none). Undefined without a usable header: the model's own
 * applies, as it always did (a malformed value is ignored, as a malformed request id is).
 */
export function deadlineFrom(header: string | string[] | undefined, ownTimeoutMs: number): number | undefined {
  if (typeof header !== 'string') return undefined;
  const ms = Number(header);
  if (!Number.isSafeInteger(ms) || ms <= 0) return undefined;
  return performance.now() + (ownTimeoutMs > 0 ? Math.min(ms, ownTimeoutMs) : ms);
}

/**
 * A timer's delay until a deadline (performance.now() ms): at least 0, at most 2^31 - 1 ms. A caller's deadline may
 * be far past that (the header takes up to 2^53 ms, a gRPC deadline and an MQTT message expiry more), and Node fires a
 * timer with a longer delay at once (TimeoutOverflowWarning): such a request timed out the moment it had to wait.
 * (A deadline further off is cut to 24.8 days: no load or queue wait it bounds lasts that long.)
 */
export function delayUntil(deadline: number): number {
  return Math.min(MAX_TIMEOUT_MS, Math.max(0, deadline - performance.now()));
}
