// Raw HTTP/1.1 over a net.Socket, for requests no well-behaved client can send (broken framing,
// bad headers): writes the bytes, reads the first response (Content-Length framed, or up to the
// close), and reports a hang when neither comes within the timeout.
import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export type RawOutcome = { kind: 'response'; response: RawResponse } | { kind: 'closed'; received: string } | { kind: 'hang' };

function parseResponse(buffer: Buffer, ended: boolean, head = false): RawResponse | undefined {
  const headEnd = buffer.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const [statusLine, ...lines] = buffer.subarray(0, headEnd).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1]);
  if (!Number.isInteger(status)) return undefined;
  // An interim answer (100 Continue) is followed by the real one.
  if (status >= 100 && status < 200) return parseResponse(buffer.subarray(headEnd + 4), ended, head);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const rest = buffer.subarray(headEnd + 4);
  if (head) return { status, headers, body: '' };
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    if (rest.length < length) return undefined;
    return { status, headers, body: rest.subarray(0, length).toString('utf8') };
  }
  if (headers['transfer-encoding']?.includes('chunked')) {
    let at = 0;
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = rest.indexOf('\r\n', at);
      if (lineEnd < 0) return undefined;
      const size = parseInt(rest.subarray(at, lineEnd).toString('latin1'), 16);
      if (size === 0) return { status, headers, body: Buffer.concat(parts).toString('utf8') };
      if (rest.length < lineEnd + 2 + size + 2) return undefined;
      parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  if (status === 204 || status === 304) return { status, headers, body: '' };
  return ended ? { status, headers, body: rest.toString('utf8') } : undefined;
}

/** Sends `bytes` on a new connection to 127.0.0.1:port and waits for the first response (or the close). */
export function sendRaw(port: number, bytes: string | Buffer, timeoutMs = 5000, options: { head?: boolean; halfClose?: boolean } = {}): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (outcome: RawOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ kind: 'hang' }), timeoutMs);
    const tryParse = (ended: boolean) => {
      const response = parseResponse(received, ended, options.head);
      if (response) finish({ kind: 'response', response });
      else if (ended) finish({ kind: 'closed', received: received.toString('latin1') });
    };
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      tryParse(false);
    });
    socket.on('end', () => tryParse(true));
    socket.on('close', () => tryParse(true));
    socket.on('error', () => tryParse(true));
    // halfClose: the client says it has nothing more to send (a request cut short stays cut short).
    if (options.halfClose) socket.end(bytes);
    else socket.write(bytes);
  });
}
