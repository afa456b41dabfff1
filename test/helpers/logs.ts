// The server's log lines as a test reads them: a stream for the logger option, and each JSON line parsed.
import { Writable } from 'node:stream';

/** A stream to give the logger (`logger: { level, stream }`) and the lines written to it, parsed. */
export function captureLogLines<Line = Record<string, unknown>>(): { lines: Line[]; stream: Writable } {
  const lines: Line[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString().split('\n')) if (text.trim() !== '') lines.push(JSON.parse(text) as Line);
      done();
    },
  });
  return { lines, stream };
}
