// Refuses a call without a valid API key as soon as its headers arrive. grpc-js runs a unary or
// server-streaming handler (where the key was checked) only once the request message is in: a
// client without a key could open calls, never send their message and hold them — and with them
// its connection, which is then never idle (--grpc-max-connection-idle) — for good.
import type * as grpc from '@grpc/grpc-js';

type CallStatus = Parameters<grpc.ServerInterceptingCallInterface['sendStatus']>[0];

/** The answer to a call refused at its headers, or undefined to let it through. */
export type EarlyCheck = (path: string, metadata: grpc.Metadata) => CallStatus | undefined;

type Listener = Parameters<grpc.ServerInterceptingCallInterface['start']>[0];

class CheckedCall implements grpc.ServerInterceptingCallInterface {
  private listener: Listener | undefined;
  private refused = false;

  constructor(private readonly next: grpc.ServerInterceptingCallInterface, private readonly path: string, private readonly check: EarlyCheck) {}

  start(listener: Listener): void {
    this.listener = listener;
    this.next.start(this);
  }

  onReceiveMetadata(metadata: grpc.Metadata): void {
    const refusal = this.check(this.path, metadata);
    if (refusal === undefined) return this.listener!.onReceiveMetadata(metadata);
    // The handler never hears of the call: nothing more of it is passed on.
    this.refused = true;
    this.next.sendStatus(refusal);
  }

  onReceiveMessage(message: unknown): void { if (!this.refused) this.listener!.onReceiveMessage(message); }
  onReceiveHalfClose(): void { if (!this.refused) this.listener!.onReceiveHalfClose(); }
  onCancel(): void { if (!this.refused) this.listener?.onCancel(); }

  sendMetadata(metadata: grpc.Metadata): void { this.next.sendMetadata(metadata); }
  sendMessage(message: unknown, callback: () => void): void { this.next.sendMessage(message, callback); }
  sendStatus(status: CallStatus): void { this.next.sendStatus(status); }
  startRead(): void { this.next.startRead(); }
  getPeer(): string { return this.next.getPeer(); }
  getDeadline(): grpc.Deadline { return this.next.getDeadline(); }
  getHost(): string { return this.next.getHost(); }
  getAuthContext(): ReturnType<grpc.ServerInterceptingCallInterface['getAuthContext']> { return this.next.getAuthContext(); }
  getConnectionInfo(): ReturnType<grpc.ServerInterceptingCallInterface['getConnectionInfo']> { return this.next.getConnectionInfo(); }
  getMetricsRecorder(): ReturnType<grpc.ServerInterceptingCallInterface['getMetricsRecorder']> { return this.next.getMetricsRecorder(); }
}

/** The interceptor checking every call's headers with `check`. */
export function checkAtHeaders(check: EarlyCheck): grpc.ServerInterceptor {
  const intercept = (descriptor: { path: string }, call: grpc.ServerInterceptingCallInterface): grpc.ServerInterceptingCallInterface => new CheckedCall(call, descriptor.path, check);
  // As watchCalls: grpc-js uses only the interface of what an interceptor returns.
  return intercept as unknown as grpc.ServerInterceptor;
}
