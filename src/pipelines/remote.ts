// A remote pipeline step: another modelserve, any JSON predict endpoint, or an Open Inference
// Protocol (KServe v2) server. One undici Pool per step bounds the calls in flight (its
// connections; more wait in its queue); the step's timeout covers the queue wait and every retry;
// a failed connection (or a 503) is retried when the call is idempotent, which predictions are.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool } from 'undici';
import type { FieldSpec, RemoteStepSpec, ValueType } from '../config/types.js';
import { ModelServeError } from '../errors.js';
import type { PredictionObject } from '../response/decode.js';
import type { Row, ValidationIssue } from '../validation/request-validator.js';
import { undici } from '../lazy-modules.js';
import { stepValidationError, type RowOrigin } from './errors.js';
import { TIMEOUT_HEADER } from '../protocols/deadline.js';
import { flatten } from '../protocols/oip/tensors.js';
import { clientGone } from '../batching/batcher.js';
import { retryAfterMs, urlBasicAuthorization } from '../outbound-http.js';

const OIP_TYPES: Record<FieldSpec['type'], string> = { number: 'FP64', integer: 'INT64', string: 'BYTES', boolean: 'BOOL' };

/** The largest answer read from a remote step: past it, the read stops (a 502), not the process's memory. */
const MAX_ANSWER_BYTES = 64 * 2 ** 20;
/**
 * The deepest nesting of objects and lists an 'any' answer may have: past some thousands of levels
 * JSON.stringify (the answer's, the event's) overflows the stack, which was a 500 for every request.
 */
const MAX_ANY_DEPTH = 32;
/** How often a call in flight checks whether its own client has gone (then it is cancelled). */
const CLIENT_POLL_MS = 50;

/** Connection-level failures worth another attempt (the service restarting, a stale keep-alive socket). */
const RETRYABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ENOTFOUND', 'EAI_AGAIN']);

export class RemoteStep {
  private readonly pool: Pool;
  private readonly path: string;
  private readonly origin: string;
  /** A URL's user:password@ as HTTP Basic (the pool connects to the origin, which drops them); never shown in messages. */
  private readonly authorization: string | undefined;

  constructor(
    readonly step: string,
    private readonly spec: RemoteStepSpec,
  ) {
    // The model's name is one path segment (an OIP server's names may hold '/', '?', spaces).
    const model = encodeURIComponent(spec.model ?? '');
    const url = new URL(spec.protocol === 'modelserve' ? `${spec.url}/models/${model}/predict` : spec.protocol === 'oip' ? `${spec.url}/v2/models/${model}/infer` : spec.url);
    this.origin = url.origin;
    this.authorization = urlBasicAuthorization(url);
    this.path = `${url.pathname}${url.search}`;
    this.pool = new (undici().Pool)(this.origin, { connections: spec.maxInFlight, pipelining: 1, connectTimeout: Math.min(spec.timeoutMs, 10_000), maxResponseSize: MAX_ANSWER_BYTES });
  }

  /** The URL as errors name it (to the client too): without its query, which may hold a key (?code=, ?api_key=). */
  get target(): string {
    const query = this.path.indexOf('?');
    return `${this.origin}${query < 0 ? this.path : `${this.path.slice(0, query)}?…`}`;
  }

  /** Rows (already renamed to the service's fields) -> one answer object per row. */
  async run(rows: Row[], origin: RowOrigin, deadline?: number): Promise<PredictionObject[]> {
    const started = performance.now();
    const until = Math.min(started + this.spec.timeoutMs, deadline ?? Infinity);
    const body = JSON.stringify(this.spec.protocol === 'oip' ? this.oipRequest(rows) : rows);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), Math.max(0, until - started));
    // A client that went away cancels the call: a downstream modelserve then sees its own client
    // go and stops in turn (else a chain of hops, a pipeline calling itself, ran on past its deadline
    // for as long as each hop's deadline, counted from its arrival, outran the time between hops).
    const client = origin.client;
    const watch = client === undefined ? undefined : setInterval(() => { if (clientGone(client)) controller.abort(); }, CLIENT_POLL_MS);
    let attempt = 0;
    // The status of an answer whose body is being read (a failure then is the answer cut short, not the service unreachable).
    let answered: number | undefined;
    try {
      for (;;) {
        try {
          // What is left of the deadline goes along (whole ms, rounded down, so that every hop of a
          // chain has less): a modelserve downstream stops when this call does. None left: not sent.
          const left = Math.floor(until - performance.now());
          if (left < 1) controller.abort();
          controller.signal.throwIfAborted();
          // The client's request id goes along, so the service's logs and events match this request's.
          const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json', [TIMEOUT_HEADER]: String(left) };
          if (origin.requestId !== undefined) headers['x-request-id'] = origin.requestId;
          if (this.authorization !== undefined) headers.authorization = this.authorization;
          answered = undefined;
          const res = await this.pool.request({ path: this.path, method: 'POST', headers, body, signal: controller.signal });
          answered = res.statusCode;
          const text = await res.body.text();
          if (res.statusCode === 200) return this.answers(text, rows.length);
          if (res.statusCode === 422 || (this.spec.protocol === 'oip' && res.statusCode === 400)) throw stepValidationError(this.step, this.remoteIssues(text), origin);
          // The service is busy (503) or asks us to slow down (429): not before its Retry-After.
          const busy = res.statusCode === 503 || res.statusCode === 429;
          const wait = busy ? retryAfterMs(res.headers['retry-after']) : undefined;
          // A 503 is tried again while its Retry-After (if any) ends before the deadline: one past it would only time out.
          if (res.statusCode === 503 && this.mayRetry(attempt, until) && (wait === undefined || performance.now() + wait < until)) {
            attempt++;
            await sleep(Math.min(Math.max(100 * attempt, wait ?? 0), Math.max(0, until - performance.now())));
            continue;
          }
          const reason = errorText(text);
          // The client hears when to come back: the service's Retry-After (whole seconds), passed on.
          if (busy) {
            throw new ModelServeError('MS_ERR_STEP_UNAVAILABLE', `step '${this.step}': ${this.target} answered ${res.statusCode}${res.statusCode === 429 ? ' (too many requests)' : ''}${reason}`,
              wait === undefined ? {} : { headers: { 'retry-after': String(Math.ceil(wait / 1000)) } });
          }
          // Its deadline passed (the one this call gave it, or its own): a timeout, not a failure.
          if (res.statusCode === 504) throw new ModelServeError('MS_ERR_STEP_TIMEOUT', `step '${this.step}': ${this.target} answered 504${reason}`);
          throw new ModelServeError('MS_ERR_STEP_FAILED', `step '${this.step}': ${this.target} answered ${res.statusCode}${reason}`);
        } catch (err) {
          if (err instanceof ModelServeError) throw err;
          if (controller.signal.aborted && clientGone(client)) {
            throw new ModelServeError('MS_ERR_CLIENT_GONE', `step '${this.step}': the client went away; the call to ${this.target} was cancelled`);
          }
          if (controller.signal.aborted) {
            throw new ModelServeError('MS_ERR_STEP_TIMEOUT', `step '${this.step}': ${this.target} did not answer within ${Math.round(until - started)} ms${attempt > 0 ? ` (${attempt + 1} attempts)` : ''}`);
          }
          const code = (err as { code?: string }).code ?? '';
          if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') throw this.unreadable(`the answer is larger than ${MAX_ANSWER_BYTES / 2 ** 20} MiB`);
          // undici refuses a 100 Continue the call did not ask for (no expect: 100-continue): it closes the
          // connection with a SocketError 'bad response' (undici's wording, checked by test/pipelines/remote-cut.test.ts),
          // which is otherwise its error for an answer to no call, never one in flight. The service does it again: no retry.
          const interim = code === 'UND_ERR_SOCKET' && (err as Error).message === 'bad response';
          if (RETRYABLE.has(code) && !interim && this.mayRetry(attempt, until)) {
            attempt++;
            await sleep(Math.min(50 * attempt, Math.max(0, until - performance.now())));
            continue;
          }
          const attempts = attempt > 0 ? ` (${attempt + 1} attempts)` : '';
          // Reached, but the connection closed: before any answer, or in the middle of one.
          // An answer that is not HTTP, or whose headers pass undici's limit, was reached: not "cannot reach".
          const why = answered !== undefined ? `answered ${answered} but closed the connection before the answer was complete (${code || (err as Error).message})`
            : interim ? `answered 100 Continue, which the call did not ask for (it sends no expect: 100-continue), and the connection was closed (${code})`
              : code === 'UND_ERR_SOCKET' ? `closed the connection without answering (${code})`
              : code === 'UND_ERR_HEADERS_OVERFLOW' ? `answered with headers larger than 16 KiB (${code})`
                : (err as Error).name === 'HTTPParserError' ? `answered something that is not HTTP/1.1 (${(err as Error).message})` : undefined;
          if (why !== undefined) throw new ModelServeError('MS_ERR_STEP_FAILED', `step '${this.step}': ${this.target} ${why}${attempts}`, { cause: err });
          throw new ModelServeError('MS_ERR_STEP_FAILED', `step '${this.step}': cannot reach ${this.target}: ${code || (err as Error).message}${attempts}`, { cause: err });
        }
      }
    } finally {
      clearTimeout(timer);
      clearInterval(watch);
    }
  }

  private mayRetry(attempt: number, until: number): boolean {
    return this.spec.idempotent && attempt < this.spec.retries && performance.now() < until;
  }

  private oipRequest(rows: Row[]): unknown {
    return {
      inputs: this.spec.fields.map((f) => ({ name: f.name, datatype: OIP_TYPES[f.type], shape: [rows.length, 1], data: rows.map((r) => r[f.name]) })),
      outputs: this.spec.outputs.map((o) => ({ name: o.field })),
    };
  }

  private answers(text: string, n: number): PredictionObject[] {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw this.unreadable('not JSON');
    }
    if (this.spec.protocol === 'oip') return this.oipAnswers(parsed, n);
    const list = Array.isArray(parsed) ? parsed : (parsed as { predictions?: unknown })?.predictions;
    if (!Array.isArray(list) || list.length !== n) throw this.unreadable(`expected an array of ${n} answer objects`);
    // Only the declared outputs go on: an undeclared field would replace the request's (or an
    // earlier step's) field of that name for the steps after this one, unchecked.
    return list.map((answer: unknown) => {
      if (answer === null || typeof answer !== 'object' || Array.isArray(answer)) throw this.unreadable('an answer is not an object');
      const out: PredictionObject = {};
      for (const o of this.spec.outputs) {
        // Own keys only: an output named like an Object method (toString) is not in every answer.
        if (!Object.hasOwn(answer, o.field)) throw this.unreadable(`an answer has no '${o.field}'`);
        out[o.field] = this.checkType(o, (answer as Record<string, unknown>)[o.field]);
      }
      return out;
    });
  }

  private oipAnswers(parsed: unknown, n: number): PredictionObject[] {
    const outputs = (parsed as { outputs?: unknown })?.outputs;
    if (!Array.isArray(outputs)) throw this.unreadable('no outputs array');
    const rows: PredictionObject[] = Array.from({ length: n }, () => ({}));
    for (const o of this.spec.outputs) {
      const tensor = outputs.find((t: unknown): t is { data?: unknown } => typeof t === 'object' && t !== null && (t as { name?: unknown }).name === o.field);
      // OIP data is row-major, flat or nested (as modelserve itself takes it).
      const data: unknown[] = [];
      if (!tensor || !Array.isArray(tensor.data) || flatten(tensor.data, data, Infinity) !== 'ok' || data.length < n || data.length % n !== 0) throw this.unreadable(`no output '${o.field}' with ${n} rows`);
      const width = data.length / n;
      // Several values per row are a list, which only an 'any' output is (a number's is one value: the client, the next step and the OIP metadata rely on it).
      if (width > 1 && o.type !== 'any') throw this.unreadable(`'${o.field}' has ${width} values per row, not one ${o.type} (declare it as any to take them as a list)`);
      for (let r = 0; r < n; r++) rows[r]![o.field] = this.checkType(o, width === 1 ? data[r] : data.slice(r * width, (r + 1) * width));
    }
    return rows;
  }

  /** An answered value must be of its declared output type: the next step and the client rely on it. */
  private checkType(output: RemoteStepSpec['outputs'][number], value: unknown): unknown {
    if (!ofType(value, output.type)) throw this.unreadable(`'${output.field}' is ${JSON.stringify(value)?.slice(0, 60) ?? String(value)}, not ${output.type === 'integer' ? 'an' : 'a'} ${output.type}`);
    if (output.type === 'any' && nestedPast(value, MAX_ANY_DEPTH)) throw this.unreadable(`'${output.field}' is nested more than ${MAX_ANY_DEPTH} levels deep`);
    return value;
  }

  private remoteIssues(text: string): ValidationIssue[] {
    try {
      const body = JSON.parse(text) as { detail?: unknown; error?: unknown };
      // FastAPI's issues, if they are that: anything else in `detail` is shown as text.
      if (Array.isArray(body.detail) && body.detail.length > 0 && body.detail.every(isIssue)) {
        return body.detail.map((i) => ({ loc: i.loc, msg: i.msg, type: typeof i.type === 'string' ? i.type : 'value_error.remote' }));
      }
      if (Array.isArray(body.detail)) return [{ loc: ['body'], msg: text.slice(0, 200), type: 'value_error.remote' }];
      const msg = typeof body.detail === 'string' ? body.detail : typeof body.error === 'string' ? body.error : text.slice(0, 200);
      return [{ loc: ['body'], msg, type: 'value_error.remote' }];
    } catch {
      return [{ loc: ['body'], msg: text.slice(0, 200), type: 'value_error.remote' }];
    }
  }

  private unreadable(why: string): ModelServeError {
    return new ModelServeError('MS_ERR_STEP_FAILED', `step '${this.step}': unreadable answer from ${this.target}: ${why}`);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/** Whether a remote 422's `detail` entry is a FastAPI issue (loc: an array of keys and indexes, msg: text). */
function isIssue(x: unknown): x is { loc: Array<string | number>; msg: string; type?: unknown } {
  const issue = x as { loc?: unknown; msg?: unknown } | null;
  return typeof issue === 'object' && issue !== null && typeof issue.msg === 'string' && Array.isArray(issue.loc)
    && issue.loc.every((k) => typeof k === 'string' || typeof k === 'number');
}

/** Whether objects and lists in `value` nest more than `levels` deep (stops there: the walk's own recursion is bounded). */
function nestedPast(value: unknown, levels: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (levels === 0) return true;
  for (const item of Array.isArray(value) ? value : Object.values(value)) if (nestedPast(item, levels - 1)) return true;
  return false;
}

/** Whether an answered value is of a declared type ('any': whatever it is). */
function ofType(value: unknown, type: ValueType): boolean {
  switch (type) {
    // null: a number that is not finite (NaN, ±Infinity), as modelserve itself answers it.
    case 'number': return value === null || typeof value === 'number';
    case 'integer': return value === null || Number.isInteger(value);
    case 'string': return typeof value === 'string';
    case 'boolean': return typeof value === 'boolean';
    default: return true;
  }
}

function errorText(text: string): string {
  try {
    const body = JSON.parse(text) as { detail?: unknown; error?: unknown };
    const detail = typeof body.detail === 'string' ? body.detail : typeof body.error === 'string' ? body.error : undefined;
    return detail ? `: ${detail.slice(0, 200)}` : '';
  } catch {
    return '';
  }
}
