// The server's log lines as a test reads them: a stream for the logger option, and each JSON line parsed.
import { Writable } from 'node:stream';

export interface CapturedLogLines<Line> {
  lines: Line[];
  stream: Writable;
  /**
   * Resolves once `done(lines)` holds, checked now and after every write; rejects naming `what`
   * (and the lines so far) if it does not within `timeoutMs`. For lines written after the answer a
   * test awaits (an access line is written when the response has gone out): no sleep decides it.
   */
  until(done: (lines: Line[]) => boolean, what: string, timeoutMs?: number): Promise<void>;
}

/** A stream to give the logger (`logger: { level, stream }`) and the lines written to it, parsed. */
export function captureLogLines<Line = Record<string, unknown>>(): CapturedLogLines<Line> {
  const lines: Line[] = [];
  const waiting = new Set<() => void>();
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString().split('\n')) if (text.trim() !== '') lines.push(JSON.parse(text) as Line);
      for (const check of waiting) check();
      done();
    },
  });
  const until = (done: (lines: Line[]) => boolean, what: string, timeoutMs = 30_000) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(check);
        reject(new Error(`${what}: not logged within ${timeoutMs} ms; the lines: ${JSON.stringify(lines).slice(0, 2000)}`));
      }, timeoutMs);
      const check = () => {
        if (!done(lines)) return;
        clearTimeout(timer);
        waiting.delete(check);
        resolve();
      };
      waiting.add(check);
      check();
    });
  return { lines, stream, until };
}
