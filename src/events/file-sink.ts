// Prediction events appended to a JSON Lines file (one event per line), rotated by size: past
// maxBytes the file becomes FILE.1 (FILE.1 becomes FILE.2, ... up to `keep` old files) and a new
// FILE starts. A line is never split across two files.
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { BoundedSink, type BoundedSinkOptions } from './sink.js';

export interface FileSinkOptions extends BoundedSinkOptions {
  path: string;
  /** Rotate when the file would grow past this many bytes (default 100 MB). */
  maxBytes?: number;
  /** Rotated files kept (default 5). */
  keep?: number;
}

export class FileSink extends BoundedSink {
  readonly kind = 'file';
  readonly target: string;
  private readonly path: string;
  private readonly maxBytes: number;
  private readonly keep: number;
  private handle: FileHandle | undefined;
  private size = 0;

  constructor(options: FileSinkOptions) {
    super(options);
    this.path = options.path;
    this.target = options.path;
    this.maxBytes = options.maxBytes ?? 100 * 1024 * 1024;
    this.keep = Math.max(1, options.keep ?? 5);
  }

  private async openFile(): Promise<FileHandle> {
    if (this.handle) {
      // Deleted or moved away (by hand, by logrotate): events would go on into a file no one sees.
      const [opened, atPath] = await Promise.all([this.handle.stat(), stat(this.path).catch(() => undefined)]);
      if (atPath !== undefined && atPath.ino === opened.ino && atPath.dev === opened.dev) {
        this.size = opened.size; // truncated in place meanwhile (logrotate's copytruncate)
        return this.handle;
      }
      await this.handle.close().catch(() => undefined);
      this.handle = undefined;
    }
    this.handle = await open(this.path, 'a');
    this.size = (await this.handle.stat()).size;
    return this.handle;
  }

  /** Appends whole lines; a failed write (a full disk) is cut back to the last whole line, so the retry does not glue onto a torn one. */
  private async append(handle: FileHandle, text: string, bytes: number): Promise<void> {
    try {
      await handle.appendFile(text);
    } catch (err) {
      await handle.truncate(this.size).catch(() => undefined);
      throw err;
    }
    this.size += bytes;
  }

  private async rotate(): Promise<void> {
    await this.handle?.close();
    this.handle = undefined;
    await rm(`${this.path}.${this.keep}`, { force: true });
    for (let i = this.keep - 1; i >= 1; i--) await rename(`${this.path}.${i}`, `${this.path}.${i + 1}`).catch(() => undefined);
    await rename(this.path, `${this.path}.1`);
  }

  protected async deliver(events: string[]): Promise<void> {
    let handle = await this.openFile();
    // Lines go to the current file until the next one would pass the limit, then the file rotates
    // (a line longer than the limit gets a file of its own).
    let chunk = '';
    let chunkBytes = 0;
    let chunkEvents = 0;
    for (const event of events) {
      const line = `${event}\n`;
      const bytes = Buffer.byteLength(line);
      if (this.size + chunkBytes > 0 && this.size + chunkBytes + bytes > this.maxBytes) {
        if (chunk !== '') {
          await this.append(handle, chunk, chunkBytes);
          // Written: a rotation failing next (a full disk, FILE.N a folder) does not write these lines again.
          this.acknowledged(chunkEvents);
          chunk = '';
          chunkBytes = 0;
          chunkEvents = 0;
        }
        await this.rotate();
        handle = await this.openFile();
      }
      chunk += line;
      chunkBytes += bytes;
      chunkEvents++;
    }
    if (chunk !== '') await this.append(handle, chunk, chunkBytes);
  }

  protected override async release(): Promise<void> {
    await this.handle?.close().catch(() => undefined);
    this.handle = undefined;
  }
}
