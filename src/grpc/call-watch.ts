// What grpc-js answers by itself on the inference service, where no handler runs or learns of it,
// made visible and, where grpc-js's answer is wrong, corrected — through a server interceptor:
// - a unary call with no request message (an empty body, or one cut short) or two: grpc-js answered
//   UNIMPLEMENTED "…for server streaming method"; now INVALID_ARGUMENT naming the message missing;
// - a ModelStreamInfer stream the client ended inside a message (its last request cut short):
//   grpc-js ended it OK, as if every request had been sent; now INVALID_ARGUMENT saying so;
// - what grpc-js answers by itself — a deadline past before the request was read (DEADLINE_EXCEEDED),
//   a message past the receive limit (RESOURCE_EXHAUSTED), one it cannot decompress (INTERNAL; an
//   unknown grpc-encoding: UNIMPLEMENTED), an invalid grpc-timeout (INTERNAL) — now with an access
//   line and a count;
// - a call to a method the server does not have (a typo'd service, Triton's shared-memory RPCs, which
//   tritonclient calls): grpc-js answers UNIMPLEMENTED before any interceptor runs (watchUnknownMethods);
// - a call whose request (its one message and the end of its body) has not arrived within the request
//   timeout, as HTTP's 408: grpc-js would hold it (and its connection, never idle) for good (ArrivalBound).
// It is on ModelInfer's path: one object per call, no closures, no writes.
import type * as grpc from '@grpc/grpc-js';
import { status as Status } from '@grpc/grpc-js';
import { PassThroughCall, type CallStatus, type Listener } from './pass-through-call.js';

/** An inference RPC as the access line and the errors name it. */
export interface WatchedMethod { rpc: string; requestType: string }

/** Reports an answer grpc-js gave (or one given here): its access line and count. */
export type OwnAnswer = (rpc: string, metadata: grpc.Metadata | undefined, code: grpc.status, started: number) => void;


/**
 * Whether the client ended the call's request body inside a message: grpc-js's framing state
 * (a private field of its call, read defensively: absent in another grpc-js, nothing is concluded)
 * is READING_SIZE or READING_MESSAGE at the end of the body.
 */
function endedInsideMessage(call: grpc.ServerInterceptingCallInterface): boolean {
  const state = (call as { decoder?: { readState?: unknown } }).decoder?.readState;
  return state === 1 || state === 2;
}

/**
 * Whether grpc-js's call is already over (the client cancelled it, or it was answered): a status
 * sent to it then goes nowhere, so it is not reported. Read from its private fields, as endedInsideMessage().
 */
function over(call: grpc.ServerInterceptingCallInterface): boolean {
  const c = call as { cancelled?: unknown; stream?: { destroyed?: unknown; closed?: unknown } };
  return c.cancelled === true || c.stream?.destroyed === true || c.stream?.closed === true;
}

/**
 * The status grpc-js itself put on the wire, read from its call's HTTP/2 stream (the trailers, or
 * the headers of a trailers-only answer; a private field, read as endedInsideMessage()): undefined when it sent
 * none (the client cancelled).
 */
function sentStatus(call: grpc.ServerInterceptingCallInterface): grpc.status | undefined {
  const stream = (call as { stream?: { sentTrailers?: Record<string, unknown>; sentHeaders?: Record<string, unknown> } }).stream;
  const code = stream?.sentTrailers?.['grpc-status'] ?? stream?.sentHeaders?.['grpc-status'];
  return code === undefined ? undefined : Number(code);
}

/** A call waiting for its request, as the bound sees it. */
interface Arriving { readonly started: number; expire(status: CallStatus): void }

/**
 * Bounds how long a call's request may take to arrive (headers to the end of its body) on the
 * calls that take one message (unary, server streaming: their handler runs only once it is in).
 * Checked every min(30 s, the bound), as Node checks HTTP's requestTimeout: one timer for all
 * calls, and nothing per call but a place in a set.
 */
export class ArrivalBound {
  private readonly arriving = new Set<Arriving>();
  private timer: NodeJS.Timeout | undefined;

  /** ms: the bound (0: none); status: what a call past it is answered. */
  constructor(readonly ms: number, private readonly status: CallStatus) {}

  add(call: Arriving): void {
    if (this.ms <= 0) return;
    this.arriving.add(call);
    this.timer ??= setInterval(() => this.sweep(), Math.min(30_000, this.ms)).unref();
  }

  delete(call: Arriving): void { this.arriving.delete(call); }

  /** Calls waiting for their request. */
  get size(): number { return this.arriving.size; }

  private sweep(): void {
    const now = performance.now();
    // In the order they started: the first one still within the bound ends the sweep.
    for (const call of this.arriving) {
      if (now - call.started < this.ms) break;
      this.arriving.delete(call);
      call.expire(this.status);
    }
    if (this.arriving.size === 0) { clearInterval(this.timer); this.timer = undefined; }
  }
}

/** A call outside the inference service (grpc.health.v1) that takes one message: only its arrival bounded, nothing reported. */
class BoundedCall extends PassThroughCall implements Arriving {
  readonly started = performance.now();
  private expired = false;

  constructor(next: grpc.ServerInterceptingCallInterface, private readonly bound: ArrivalBound) {
    super(next);
    bound.add(this);
  }

  expire(status: CallStatus): void {
    if (over(this.next)) return;
    this.expired = true;
    this.next.sendStatus(status);
  }

  override start(listener: Listener): void {
    super.start(listener);
    // Reset with its headers: no cancel will come (see WatchedCall.start).
    if (over(this.next)) this.bound.delete(this);
  }

  override onReceiveMessage(message: unknown): void { if (!this.expired) this.listener!.onReceiveMessage(message); }
  override onReceiveHalfClose(): void {
    this.bound.delete(this);
    if (!this.expired) this.listener!.onReceiveHalfClose();
  }
  override onCancel(): void {
    this.bound.delete(this);
    this.listener?.onCancel();
  }
  override sendStatus(status: CallStatus): void {
    this.bound.delete(this);
    if (!this.expired) this.next.sendStatus(status);
  }
}

class WatchedCall extends PassThroughCall implements Arriving {
  private metadata: grpc.Metadata | undefined;
  private messages = 0;
  /** The handler has the call (a unary one's, once its message is read): it answers and logs it itself. */
  private handled: boolean;
  /** A status went out (the handler's, or one given here). */
  private ended = false;
  private cancelled = false;
  /** The client ended a stream inside a message: its OK status becomes INVALID_ARGUMENT. */
  private cutShort = false;
  /** Its request did not arrive within the bound: answered here, what comes after is dropped. */
  private expired = false;
  readonly started = performance.now();

  constructor(next: grpc.ServerInterceptingCallInterface, private readonly method: WatchedMethod, private readonly streaming: boolean, private readonly report: OwnAnswer, private readonly bound: ArrivalBound | undefined) {
    super(next);
    this.handled = streaming;
    if (!streaming) bound?.add(this);
  }

  expire(status: CallStatus): void {
    if (this.ended || this.cancelled || over(this.next)) return;
    this.expired = true;
    this.ended = true;
    this.next.sendStatus(status);
    this.report(this.method.rpc, this.metadata, status.code, this.started);
  }

  override start(listener: Listener): void {
    super.start(listener);
    // A stream already gone when the call starts (the client's RST_STREAM came in the same read as
    // its headers: rapid reset) makes grpc-js's call drop the listener, never to tell it of the cancel:
    // the bound would hold the call, its stream and metadata until its sweep (up to 90 s by default;
    // at rapid-reset rates, tens of MB for nobody). It needs no bound: it will never be answered.
    if (over(this.next)) this.bound?.delete(this);
  }

  override onReceiveMetadata(metadata: grpc.Metadata): void {
    this.metadata = metadata;
    this.listener!.onReceiveMetadata(metadata);
  }

  override onReceiveMessage(message: unknown): void {
    if (this.expired) return;
    if (!this.streaming && ++this.messages > 1) return this.refuse(`a unary call carries one ${this.method.requestType}; this one sent more`);
    this.listener!.onReceiveMessage(message);
  }

  override onReceiveHalfClose(): void {
    this.bound?.delete(this);
    if (this.cancelled || this.expired) return;
    if (!this.streaming && this.messages === 0) return this.refuse(`the call carries no ${this.method.requestType}: its body was empty or ended inside the message`);
    if (this.streaming) this.cutShort = endedInsideMessage(this.next);
    this.handled = true;
    this.listener!.onReceiveHalfClose();
  }

  override onCancel(): void {
    this.cancelled = true;
    this.bound?.delete(this);
    if (!this.ended) {
      // Ended by grpc-js with its own answer (a deadline past, a message past the limit or one it
      // could not decompress, an invalid grpc-timeout): the status it sent. A handled call's deadline
      // is the handler's to report; a stream's (handled from its start) is each request's, answered
      // and reported on its own. A client's cancel sent none: nobody hears it, it is not reported.
      const code = sentStatus(this.next);
      if (code !== undefined && !(this.handled && code === Status.DEADLINE_EXCEEDED)) this.report(this.method.rpc, this.metadata, code, this.started);
    }
    this.listener?.onCancel();
  }

  private refuse(details: string): void {
    this.ended = true;
    this.bound?.delete(this);
    // A cancelled call's request may never have been read: its end is no missing message.
    const heard = !this.cancelled && !over(this.next);
    this.next.sendStatus({ code: Status.INVALID_ARGUMENT, details });
    if (heard) this.report(this.method.rpc, this.metadata, Status.INVALID_ARGUMENT, this.started);
  }

  // The responder: the handler's status, its end watched.
  override sendStatus(status: CallStatus): void {
    if (this.ended) return;
    this.ended = true;
    this.bound?.delete(this);
    if (this.cutShort && status.code === Status.OK && !this.cancelled && !over(this.next)) {
      this.report(this.method.rpc, this.metadata, Status.INVALID_ARGUMENT, this.started);
      return this.next.sendStatus({ ...status, code: Status.INVALID_ARGUMENT, details: `the client ended the stream inside a message: its last ${this.method.requestType} was cut short (the ones before it are answered)` });
    }
    this.next.sendStatus(status);
  }
}

/**
 * The interceptor watching the methods given (by path); with a bound, every call taking one message
 * has its arrival bounded. It must come first (innermost): it reads grpc-js's call's private fields.
 */
export function watchCalls(methods: ReadonlyMap<string, WatchedMethod>, report: OwnAnswer, bound?: ArrivalBound): grpc.ServerInterceptor {
  const intercept = (descriptor: { path: string; requestStream: boolean }, call: grpc.ServerInterceptingCallInterface): grpc.ServerInterceptingCallInterface => {
    const method = methods.get(descriptor.path);
    if (method !== undefined) return new WatchedCall(call, method, descriptor.requestStream, report, bound);
    return bound !== undefined && bound.ms > 0 && !descriptor.requestStream ? new BoundedCall(call, bound) : call;
  };
  // grpc-js types an interceptor's result as its ServerInterceptingCall class (see pass-through-call.ts).
  return intercept as unknown as grpc.ServerInterceptor;
}

/** Reports a call to a method the server does not have: its path as sent, and the status grpc-js answered. */
export type UnknownMethod = (path: string, code: grpc.status, started: number) => void;

/** How grpc-js's answer to an unknown method names it (server.js getUnimplementedStatusResponse). */
const UNIMPLEMENTED_PREFIX = 'The server does not implement the method ';

/**
 * Reports each call grpc-js answers UNIMPLEMENTED for its unknown method, before any interceptor
 * or handler runs. grpc-js has no public hook for it: its server's private _respondWithError, which
 * it calls only for an unknown method (never on a served call's path: nothing is added there), is
 * wrapped on this server. Read defensively: absent in another grpc-js, nothing is reported (and
 * returns false). The answer is reported only once it went out (the stream's headers sent).
 */
export function watchUnknownMethods(server: grpc.Server, report: UnknownMethod): boolean {
  const s = server as unknown as { _respondWithError?: unknown };
  const respond = s._respondWithError;
  if (typeof respond !== 'function') return false;
  s._respondWithError = function (this: unknown, err: { code?: unknown; details?: unknown }, stream: { headersSent?: unknown } | undefined, ...rest: unknown[]): unknown {
    const started = performance.now();
    const result: unknown = respond.call(this, err, stream, ...rest);
    if (stream?.headersSent === true) {
      const details = typeof err?.details === 'string' ? err.details : '';
      report(details.startsWith(UNIMPLEMENTED_PREFIX) ? details.slice(UNIMPLEMENTED_PREFIX.length) : '', typeof err?.code === 'number' ? err.code : Status.INTERNAL, started);
    }
    return result;
  };
  return true;
}
