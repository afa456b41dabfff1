// Prediction events POSTed to a webhook (undici). One waiting event goes as a structured CloudEvent
// (application/cloudevents+json); several as the spec's JSON batch format
// (application/cloudevents-batch+json, an array). No answer, a 5xx, 404, 408, 409 or 429 is a
// failure: the same events are sent again after a backoff, until the webhook takes them. Another 4xx
// (400, 401, 403, 405, 415, 422…) refuses that batch for good: it is dropped (reason rejected) and
// the next one sent after a pause (BoundedSink). A user:password in the URL is sent as Basic authorization.
import { STATUS_CODES } from 'node:http';
import type { Agent } from 'undici';
import { undici } from '../lazy-modules.js';
import { BoundedSink, RetryLaterError, type BoundedSinkOptions } from './sink.js';
import { retryAfterMs, urlBasicAuthorization } from '../outbound-http.js';

/**
 * The 4xx answers retried, as Knative's senders do: 404 (a route or broker that does not exist yet
 * while a deployment rolls out), 408, 409 and 429. 410 and 413 are handled apart; any other 4xx
 * would be answered again to the same batch, which then held the queue for good.
 */
const RETRIED_4XX = new Set([404, 408, 409, 429]);

export interface WebhookSinkOptions extends BoundedSinkOptions {
  url: string;
  /** Extra headers (e.g. Authorization). */
  headers?: Record<string, string>;
  /** Per attempt, ms (default 10,000). */
  timeoutMs?: number;
  /** Where the Authorization header's credentials were given (an option, a variable), for the warning on a 401/403; never the secret. */
  credentials?: string;
  /** Where the URL was given (default `--events-webhook`), for the warning after a redirect. */
  urlSource?: string;
}

export class WebhookSink extends BoundedSink {
  readonly kind = 'webhook';
  readonly target: string;
  private readonly url: string;
  private readonly headers: Record<string, string>;
  private readonly agent: Agent;
  /** Why the webhook takes no more events (it answered 410 or a redirect); undefined while it does. */
  private stoppedWhy: string | undefined;
  /**
   * The smallest body the webhook answered 413 to (bytes; Infinity until it does). Kept, unlike the
   * MQTT sink's cut after a stall: a 413 is the webhook's explicit answer, and probing above it
   * would send bodies it refuses (each re-sent in halves) to every webhook whose limit is real.
   */
  private refusedBytes = Infinity;
  /** What to check when the webhook answers 401 or 403. */
  private readonly credentials: string;
  private readonly urlSource: string;
  /** Per attempt, ms: connecting, the answer's headers, and reading its body. */
  private readonly timeoutMs: number;

  constructor(options: WebhookSinkOptions) {
    super(options);
    const url = new URL(options.url);
    // undici drops a URL's user:password without a word: no Authorization was sent, and the webhook refused every event.
    const authorization = urlBasicAuthorization(url);
    const basic: Record<string, string> = authorization === undefined ? {} : { authorization };
    url.username = '';
    url.password = '';
    this.url = url.href;
    this.target = url.origin + url.pathname;
    this.headers = { ...basic, ...options.headers };
    this.urlSource = options.urlSource ?? '--events-webhook';
    this.credentials = options.credentials
      ?? (options.headers?.authorization !== undefined ? 'the Authorization token (--events-webhook-token-env or --events-webhook-token-file)'
        : basic.authorization !== undefined ? 'the user name and password in the webhook URL'
          : 'that no credentials were sent: give a token with --events-webhook-token-env NAME or --events-webhook-token-file PATH');
    const timeout = options.timeoutMs ?? 10_000;
    this.timeoutMs = timeout;
    this.agent = new (undici().Agent)({ connections: 2, headersTimeout: timeout, bodyTimeout: timeout, connectTimeout: timeout });
  }

  protected async deliver(events: string[], signal: AbortSignal): Promise<void> {
    // Bodies as large as one the webhook refused with 413 are split before they are sent.
    let from = 0;
    while (from < events.length) {
      let to = from + 1;
      let bytes = Buffer.byteLength(events[from]!) + 2; // as a batch: [ and ]
      while (to < events.length && bytes + Buffer.byteLength(events[to]!) + 1 < this.refusedBytes) bytes += Buffer.byteLength(events[to++]!) + 1;
      await this.post(events.slice(from, to), signal);
      from = to;
    }
  }

  /**
   * A webhook that limits its body size (nginx's default is 1 MB) answers a large batch 413 however
   * often it is sent: the queue would stop for good. So a refused batch is split in halves, and an
   * event that alone is too large is dropped and counted (as the MQTT sink does past the broker's limit).
   */
  private async post(events: string[], signal: AbortSignal): Promise<void> {
    if (this.stoppedWhy !== undefined) {
      this.refuse(events.length, this.stoppedWhy, 'stopped');
      return;
    }
    const single = events.length === 1;
    const body = single ? events[0]! : `[${events.join(',')}]`;
    const response = await undici().request(this.url, {
      method: 'POST',
      dispatcher: this.agent,
      signal,
      headers: { ...this.headers, 'content-type': single ? 'application/cloudevents+json; charset=utf-8' : 'application/cloudevents-batch+json; charset=utf-8' },
      body,
    }).catch((err: unknown) => { throw this.clearer(err); });
    // The status is the answer; the body is read (for the connection's reuse) within the attempt's
    // time: one trickling a byte at a time, each before the idle timeout, held the sink for good.
    await response.body.dump({ limit: 128 * 1024, signal: AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)]) }).catch(() => undefined);
    if (response.statusCode === 413) {
      this.refusedBytes = Math.min(this.refusedBytes, Buffer.byteLength(body));
      if (single) {
        this.refuse(1, `an event of ${Buffer.byteLength(body)} bytes is larger than the webhook accepts (it answered 413)`);
        return;
      }
      const half = Math.ceil(events.length / 2);
      await this.post(events.slice(0, half), signal);
      await this.post(events.slice(half), signal);
      return;
    }
    // The CloudEvents webhook spec: after a 410 the sender refrains from sending; a redirect is never
    // followed. Both were retried forever; now every event is dropped and counted (one warning at once).
    if (response.statusCode === 410 || (response.statusCode >= 300 && response.statusCode < 400)) {
      const location = response.headers.location;
      this.stoppedWhy = response.statusCode === 410
        ? 'the webhook answered 410 Gone (it was retired): no more events are sent to it'
        : `the webhook answered ${response.statusCode}, a redirect${typeof location === 'string' ? ` to ${location.slice(0, 200)}` : ''}, which a webhook sender must not follow: no more events are sent to it; give ${this.urlSource} the new URL`;
      this.refuse(events.length, this.stoppedWhy, 'stopped');
      return;
    }
    if (response.statusCode >= 400 && response.statusCode < 500 && !RETRIED_4XX.has(response.statusCode)) {
      this.refuse(events.length, this.rejection(response.statusCode), 'rejected');
      return;
    }
    if (response.statusCode < 200 || response.statusCode >= 300) {
      // The CloudEvents webhook spec: a sender MUST NOT send again before a 429's Retry-After (RFC 9110 gives 503 one too).
      const wait = response.statusCode === 429 || response.statusCode === 503 ? retryAfterMs(response.headers['retry-after']) : undefined;
      const message = `webhook answered ${response.statusCode}${response.statusCode === 404 ? " (a route that may not exist yet; if it lasts, check the URL's path)" : ''}`;
      throw wait === undefined ? new Error(message) : new RetryLaterError(`${message} (Retry-After: ${wait / 1000} s)`, wait);
    }
    // A later part's failure must not send these again.
    this.acknowledged(events.length);
  }

  /** undici's words for a failed attempt ("Headers Timeout Error", "other side closed") as what the webhook did. */
  private clearer(err: unknown): unknown {
    const code = (err as { code?: unknown } | undefined)?.code;
    const said = code === 'UND_ERR_HEADERS_TIMEOUT' ? `the webhook did not answer within ${this.timeoutMs} ms`
      : code === 'UND_ERR_CONNECT_TIMEOUT' ? `no connection to the webhook within ${this.timeoutMs} ms`
        : code === 'UND_ERR_SOCKET' ? 'the webhook closed the connection before answering'
          : code === 'UND_ERR_HEADERS_OVERFLOW' ? "the webhook's answer has headers larger than 16 KiB"
            : undefined;
    return said === undefined ? err : new Error(`${said} (${(err as Error).message})`, { cause: err });
  }

  /** Why a 4xx refuses the events for good, and what to fix. */
  private rejection(status: number): string {
    const answer = `the webhook answered ${status}${STATUS_CODES[status] ? ` ${STATUS_CODES[status]}` : ''}`;
    const fix = status === 401 || status === 403 ? `check ${this.credentials}, or the webhook's side`
      : status === 405 ? 'it takes no POST at this URL: check its path'
        : status === 415 ? 'it must accept CloudEvents as application/cloudevents+json and, for several, application/cloudevents-batch+json'
          : "see the webhook's log for why it refused them";
    // Not a stop: credentials or the webhook can be fixed while the server runs.
    return `${answer}, which resending cannot change: these events are dropped, later ones are still sent (${fix})`;
  }

  override stopped(): string | undefined {
    return this.stoppedWhy;
  }

  protected override async release(): Promise<void> {
    await this.agent.close().catch(() => undefined);
  }
}

