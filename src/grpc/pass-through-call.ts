// A server interceptor's call that passes everything on, both ways, between grpc-js's call (`next`)
// and the handler's listener: an interceptor overrides only what it watches or changes (call-watch.ts,
// early-auth.ts). grpc-js types an interceptor's result as its ServerInterceptingCall class but uses
// only this interface: extending that class would cost each call its responder's closures.
import type * as grpc from '@grpc/grpc-js';

export type Listener = Parameters<grpc.ServerInterceptingCallInterface['start']>[0];
export type CallStatus = Parameters<grpc.ServerInterceptingCallInterface['sendStatus']>[0];

export abstract class PassThroughCall implements grpc.ServerInterceptingCallInterface {
  protected listener: Listener | undefined;

  constructor(protected readonly next: grpc.ServerInterceptingCallInterface) {}

  start(listener: Listener): void {
    this.listener = listener;
    this.next.start(this);
  }

  // The listener grpc-js calls with what the client sends.
  onReceiveMetadata(metadata: grpc.Metadata): void { this.listener!.onReceiveMetadata(metadata); }
  onReceiveMessage(message: unknown): void { this.listener!.onReceiveMessage(message); }
  onReceiveHalfClose(): void { this.listener!.onReceiveHalfClose(); }
  onCancel(): void { this.listener?.onCancel(); }

  // The responder: what the handler sends.
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
