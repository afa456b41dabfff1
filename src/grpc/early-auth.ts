// Refuses a call without a valid API key as soon as its headers arrive. grpc-js runs a unary or
// server-streaming handler (where the key was checked) only once the request message is in: a
// client without a key could open calls, never send their message and hold them — and with them
// its connection, which is then never idle (--grpc-max-connection-idle) — for good.
import type * as grpc from '@grpc/grpc-js';
import { PassThroughCall, type CallStatus } from './pass-through-call.js';

/** The answer to a call refused at its headers, or undefined to let it through. */
export type EarlyCheck = (path: string, metadata: grpc.Metadata) => CallStatus | undefined;

class CheckedCall extends PassThroughCall {
  private refused = false;

  constructor(next: grpc.ServerInterceptingCallInterface, private readonly path: string, private readonly check: EarlyCheck) {
    super(next);
  }

  override onReceiveMetadata(metadata: grpc.Metadata): void {
    const refusal = this.check(this.path, metadata);
    if (refusal === undefined) return this.listener!.onReceiveMetadata(metadata);
    // The handler never hears of the call: nothing more of it is passed on.
    this.refused = true;
    this.next.sendStatus(refusal);
  }

  override onReceiveMessage(message: unknown): void { if (!this.refused) this.listener!.onReceiveMessage(message); }
  override onReceiveHalfClose(): void { if (!this.refused) this.listener!.onReceiveHalfClose(); }
  override onCancel(): void { if (!this.refused) this.listener?.onCancel(); }
}

/** The interceptor checking every call's headers with `check`. */
export function checkAtHeaders(check: EarlyCheck): grpc.ServerInterceptor {
  const intercept = (descriptor: { path: string }, call: grpc.ServerInterceptingCallInterface): grpc.ServerInterceptingCallInterface => new CheckedCall(call, descriptor.path, check);
  // grpc-js uses only the interface of what an interceptor returns (see pass-through-call.ts).
  return intercept as unknown as grpc.ServerInterceptor;
}
