// What grpc-js answers by itself on the inference service, where no handler runs or learns of it,
// made visible and, where grpc-js's answer is wrong, corrected — through a server interceptor:
// - a unary call with no request message (an empty body, or one cut short) or two: grpc-js answered
//   UNIMPLEMENTED "…for server streaming method"; now INVALID_ARGUMENT naming the message missing;
// - a ModelStreamInfer stream the client ended inside a message (its last request cut short):
//   grpc-js ended it OK, as if every request had been sent; now INVALID_ARGUMENT saying so;
// - a deadline past before the request was read, and a message past the receive limit: grpc-js's
//   own DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED, now with an access line and a count.
// It is on ModelInfer's path: one object per call, no closures, no writes.
import type * as grpc from '@grpc/grpc-js';
import { status as Status } from '@grpc/grpc-js';

/** An inference RPC as the access line and the errors name it. */
export interface WatchedMethod { rpc: string; requestType: string }

/** Reports an answer grpc-js gave (or one given here): its access line and count. */
export type OwnAnswer = (rpc: string, metadata: grpc.Metadata | undefined, code: grpc.status, started: number) => void;

type Listener = Parameters<grpc.ServerInterceptingCallInterface['start']>[0];
type CallStatus = Parameters<grpc.ServerInterceptingCallInterface['sendStatus']>[0];

/**
 * grpc-js's framing state of the call's request body (a private field of its call, read defensively:
 * absent in another grpc-js, nothing is concluded). READING_SIZE or READING_MESSAGE at the end of
 * the body: the client ended it inside a message; a size past the limit: grpc-js refused it.
 */
function framing(call: grpc.ServerInterceptingCallInterface): { cutShort: boolean; pastLimit: boolean } {
  const decoder = (call as { decoder?: { readState?: unknown; readMessageSize?: unknown; maxReadMessageLength?: unknown } }).decoder;
  const state = decoder?.readState;
  const size = decoder?.readMessageSize;
  const max = decoder?.maxReadMessageLength;
  return {
    cutShort: state === 1 || state === 2,
    pastLimit: state === 1 && typeof size === 'number' && typeof max === 'number' && max !== -1 && size > max,
  };
}

/**
 * Whether grpc-js's call is already over (the client cancelled it, or it was answered): a status
 * sent to it then goes nowhere, so it is not reported. Read from its private fields, as framing().
 */
function over(call: grpc.ServerInterceptingCallInterface): boolean {
  const c = call as { cancelled?: unknown; stream?: { destroyed?: unknown; closed?: unknown } };
  return c.cancelled === true || c.stream?.destroyed === true || c.stream?.closed === true;
}

class WatchedCall implements grpc.ServerInterceptingCallInterface {
  private listener: Listener | undefined;
  private metadata: grpc.Metadata | undefined;
  private messages = 0;
  /** The handler has the call (a unary one's, once its message is read): it answers and logs it itself. */
  private handled: boolean;
  /** A status went out (the handler's, or one given here). */
  private ended = false;
  private cancelled = false;
  /** The client ended a stream inside a message: its OK status becomes INVALID_ARGUMENT. */
  private cutShort = false;
  private readonly started = performance.now();

  constructor(private readonly next: grpc.ServerInterceptingCallInterface, private readonly method: WatchedMethod, private readonly streaming: boolean, private readonly report: OwnAnswer) {
    this.handled = streaming;
  }

  start(listener: Listener): void {
    this.listener = listener;
    this.next.start(this);
  }

  // The listener grpc-js calls with what the client sends.
  onReceiveMetadata(metadata: grpc.Metadata): void {
    this.metadata = metadata;
    this.listener!.onReceiveMetadata(metadata);
  }

  onReceiveMessage(message: unknown): void {
    if (!this.streaming && ++this.messages > 1) return this.refuse(`a unary call carries one ${this.method.requestType}; this one sent more`);
    this.listener!.onReceiveMessage(message);
  }

  onReceiveHalfClose(): void {
    if (this.cancelled) return;
    if (!this.streaming && this.messages === 0) return this.refuse(`the call carries no ${this.method.requestType}: its body was empty or ended inside the message`);
    if (this.streaming) this.cutShort = framing(this.next).cutShort;
    this.handled = true;
    this.listener!.onReceiveHalfClose();
  }

  onCancel(): void {
    this.cancelled = true;
    if (!this.ended) {
      // Ended by grpc-js with its own answer (a unary call before its handler had it; a stream
      // whose requests' deadlines are answered each): named where it can be told; a client's
      // cancel, or a compression grpc-js could not read, cannot be told apart and is not reported.
      const deadline = this.next.getDeadline();
      const code = !this.handled && (deadline instanceof Date ? deadline.getTime() : deadline) <= Date.now() ? Status.DEADLINE_EXCEEDED
        : framing(this.next).pastLimit ? Status.RESOURCE_EXHAUSTED : undefined;
      if (code !== undefined) this.report(this.method.rpc, this.metadata, code, this.started);
    }
    this.listener?.onCancel();
  }

  private refuse(details: string): void {
    this.ended = true;
    // A cancelled call's request may never have been read: its end is no missing message.
    const heard = !this.cancelled && !over(this.next);
    this.next.sendStatus({ code: Status.INVALID_ARGUMENT, details });
    if (heard) this.report(this.method.rpc, this.metadata, Status.INVALID_ARGUMENT, this.started);
  }

  // The responder: what the handler sends, passed on.
  sendMetadata(metadata: grpc.Metadata): void { this.next.sendMetadata(metadata); }
  sendMessage(message: unknown, callback: () => void): void { this.next.sendMessage(message, callback); }
  sendStatus(status: CallStatus): void {
    if (this.ended) return;
    this.ended = true;
    if (this.cutShort && status.code === Status.OK && !this.cancelled && !over(this.next)) {
      this.report(this.method.rpc, this.metadata, Status.INVALID_ARGUMENT, this.started);
      return this.next.sendStatus({ ...status, code: Status.INVALID_ARGUMENT, details: `the client ended the stream inside a message: its last ${this.method.requestType} was cut short (the ones before it are answered)` });
    }
    this.next.sendStatus(status);
  }
  startRead(): void { this.next.startRead(); }
  getPeer(): string { return this.next.getPeer(); }
  getDeadline(): grpc.Deadline { return this.next.getDeadline(); }
  getHost(): string { return this.next.getHost(); }
  getAuthContext(): ReturnType<grpc.ServerInterceptingCallInterface['getAuthContext']> { return this.next.getAuthContext(); }
  getConnectionInfo(): ReturnType<grpc.ServerInterceptingCallInterface['getConnectionInfo']> { return this.next.getConnectionInfo(); }
  getMetricsRecorder(): ReturnType<grpc.ServerInterceptingCallInterface['getMetricsRecorder']> { return this.next.getMetricsRecorder(); }
}

/** The interceptor watching the methods given (by path); other calls (grpc.health.v1) pass as they are. */
export function watchCalls(methods: ReadonlyMap<string, WatchedMethod>, report: OwnAnswer): grpc.ServerInterceptor {
  const intercept = (descriptor: { path: string; requestStream: boolean }, call: grpc.ServerInterceptingCallInterface): grpc.ServerInterceptingCallInterface => {
    const method = methods.get(descriptor.path);
    return method === undefined ? call : new WatchedCall(call, method, descriptor.requestStream, report);
  };
  // grpc-js types an interceptor's result as its ServerInterceptingCall class but uses only the
  // interface: extending the class would cost each call its responder's closures.
  return intercept as unknown as grpc.ServerInterceptor;
}
