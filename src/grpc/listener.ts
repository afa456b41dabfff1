// The gRPC port's TCP listener, owned here rather than by grpc-js (which takes each accepted socket
// through its connection injector): grpc-js's own listener kept a connection that never sent the
// HTTP/2 client preface (a port scanner, a client that sends a few bytes and stops) for good when
// --grpc-max-connection-idle is 0, and for that long (5 minutes) otherwise. Here a connection must
// send its 24-byte preface within the request timeout (HTTP's: its headers' bound), else it is closed.
// The bytes read to see it are put back (unshift) before grpc-js gets the socket: Node's HTTP/2
// session reads what a socket already buffered (nodejs/node#34532).
import { lookup } from 'node:dns/promises';
import { createServer, isIP, type Server, type Socket } from 'node:net';

/** What every HTTP/2 client sends first (RFC 9113 3.4). */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export interface GrpcListenerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** How long a connection may take to send the HTTP/2 preface, ms (0: no bound). */
  prefaceTimeoutMs: number;
  /** Hands a connection that sent its preface (or bytes that are none: grpc-js answers those) to grpc-js. */
  inject(socket: Socket): void;
  log?: { warn(obj: object, msg: string): void; debug?(obj: object, msg: string): void };
}

export interface GrpcListener {
  port: number;
  /** Stops accepting, and closes the connections that have not sent their preface (they hold no call). */
  stop(): void;
  /** Destroys every connection accepted (the drain's deadline). */
  destroyAll(): void;
}

/** Listens on every address of the host (as grpc-js did: a name such as localhost may have two), all on one port. */
export async function listenGrpc(options: GrpcListenerOptions): Promise<GrpcListener> {
  const sockets = new Set<Socket>();
  const waiting = new Set<Socket>();
  let stopped = false;

  const accept = (socket: Socket) => {
    if (stopped) return void socket.destroy();
    sockets.add(socket);
    waiting.add(socket);
    socket.once('close', () => { sockets.delete(socket); waiting.delete(socket); });
    // A reset before the preface: nobody else listens to this socket yet.
    const ignore = () => undefined;
    socket.on('error', ignore);
    const timer = options.prefaceTimeoutMs > 0 ? setTimeout(() => {
      options.log?.debug?.({ peer: `${socket.remoteAddress}:${socket.remotePort}`, timeoutMs: options.prefaceTimeoutMs }, 'gRPC: connection closed: no HTTP/2 client preface within the request timeout');
      socket.destroy();
    }, options.prefaceTimeoutMs) : undefined;
    socket.once('close', () => clearTimeout(timer));
    const chunks: Buffer[] = [];
    let length = 0;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      const seen = chunks.length === 1 ? chunk : Buffer.concat(chunks);
      // Still a beginning of the preface: wait for the rest.
      if (length < PREFACE.length && seen.equals(PREFACE.subarray(0, length))) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', ignore);
      socket.pause();
      socket.unshift(seen);
      waiting.delete(socket);
      options.inject(socket);
    };
    socket.on('data', onData);
  };

  const addresses = isIP(options.host) !== 0 ? [options.host] : [...new Set((await lookup(options.host, { all: true })).map((a) => a.address))];
  const servers: Server[] = [];
  const errors: Error[] = [];
  let port = options.port;
  for (const host of addresses) {
    const server = createServer(accept);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host, port }, () => { server.off('error', reject); resolve(); });
      });
    } catch (err) {
      errors.push(err as Error);
      continue;
    }
    // An accept that fails (EMFILE) is said, not thrown.
    server.on('error', (err) => options.log?.warn({ err }, 'gRPC: accepting a connection failed'));
    // Port 0: the first address picks it, the others take the same.
    port = (server.address() as { port: number }).port;
    servers.push(server);
  }
  if (servers.length === 0) throw errors[0] ?? new Error(`no address for ${options.host}`);

  return {
    port,
    stop() {
      stopped = true;
      for (const server of servers) server.close();
      for (const socket of waiting) socket.destroy();
    },
    destroyAll() {
      for (const socket of sockets) socket.destroy();
    },
  };
}
