// Prediction events POSTed to a webhook (undici). One waiting event goes as a structured CloudEvent
// (application/cloudevents+json); several as the spec's JSON batch format
// (application/cloudevents-batch+json, an array). Any answer but 2xx, or no answer, is a failure:
// the same events are sent again after a backoff, until the webhook takes them.
import type { Agent } from 'undici';
import { undici } from '../lazy-modules.js';
import { BoundedSink, type BoundedSinkOptions } from './sink.js';

export interface WebhookSinkOptions extends BoundedSinkOptions {
  url: string;
  /** Extra headers (e.g. Authorization). */
  headers?: Record<string, string>;
  /** Per attempt, ms (default 10,000). */
  timeoutMs?: number;
}

export class WebhookSink extends BoundedSink {
  readonly kind = 'webhook';
  readonly target: string;
  private readonly url: string;
  private readonly headers: Record<string, string>;
  private readonly agent: Agent;

  constructor(options: WebhookSinkOptions) {
    super(options);
    this.url = options.url;
    this.target = new URL(options.url).origin + new URL(options.url).pathname;
    this.headers = options.headers ?? {};
    const timeout = options.timeoutMs ?? 10_000;
    this.agent = new (undici().Agent)({ connections: 2, headersTimeout: timeout, bodyTimeout: timeout, connectTimeout: timeout });
  }

  protected async deliver(events: string[], signal: AbortSignal): Promise<void> {
    const single = events.length === 1;
    const response = await undici().request(this.url, {
      method: 'POST',
      dispatcher: this.agent,
      signal,
      headers: { ...this.headers, 'content-type': single ? 'application/cloudevents+json; charset=utf-8' : 'application/cloudevents-batch+json; charset=utf-8' },
      body: single ? events[0]! : `[${events.join(',')}]`,
    });
    await response.body.dump();
    if (response.statusCode < 200 || response.statusCode >= 300) throw new Error(`webhook answered ${response.statusCode}`);
  }

  protected override async release(): Promise<void> {
    await this.agent.close().catch(() => undefined);
  }
}
