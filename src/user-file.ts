// Reading a file a user named (a model config, a model file, a scaler, a CSV sample, an API keys
// file, a secret or certificate): it must be a regular file once symlinks are followed, and no
// larger than a limit for its kind. A FIFO, a device (/dev/zero), a directory or a file past the
// limit is refused with one message naming the file and the problem, before anything is read: a
// FIFO blocks its reader forever and /dev/zero never ends. The limits are documented where the
// README and docs describe each file.
import { isUtf8 } from 'node:buffer';
import { closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync, readSync, statSync, type Stats } from 'node:fs';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** The kinds of file read, each with its limit in bytes and its name in a message. */
export const FILE_LIMITS = {
  /** An ONNX model: protobuf's own limit on one message. */
  model: { bytes: 2 * GiB, what: 'a model file' },
  /** An XGBoost JSON model: what one JavaScript string holds (the file is parsed as text). */
  xgboost: { bytes: 512 * MiB, what: 'an XGBoost JSON model' },
  config: { bytes: 4 * MiB, what: 'a model config' },
  scaler: { bytes: 16 * MiB, what: 'a scaler file' },
  sample: { bytes: 64 * MiB, what: 'a CSV sample', hint: (file: string) => `give its first rows: head -n 10001 ${file} > sample.csv` },
  keys: { bytes: 4 * MiB, what: 'an API keys file' },
  secret: { bytes: 1 * MiB, what: 'a password, certificate or key file' },
} as const;

export type FileKind = keyof typeof FILE_LIMITS;

/** A file refused before it was read; `reason` is the message without the file's name ("is not a regular file (a FIFO)"). */
export class UserFileError extends Error {
  constructor(readonly file: string, readonly reason: string) {
    super(`${file} ${reason}`);
  }
}

/** For a path that is a symbolic link to nothing: what it points to, said. */
function danglingLink(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  try {
    return lstatSync(path).isSymbolicLink() ? `is a symbolic link to ${readlinkSync(path)}, which does not exist` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Why a file could not be read, in words that follow its name ("x.json does not exist"): Node's own
 * message ("ENOENT: no such file or directory, stat '/x.json'") names the system call, not the reason.
 */
export function unreadableReason(err: unknown): string {
  if (err instanceof UserFileError) return err.reason;
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT': return danglingLink((err as NodeJS.ErrnoException).path) ?? 'does not exist';
    case 'ENOTDIR': return 'does not exist (a part of its path is not a folder)';
    case 'EACCES':
    case 'EPERM': return permissionDenied('file');
    case 'EISDIR': return 'is a folder, not a file';
    case 'ELOOP': return 'is a loop of symbolic links';
    case 'ENAMETOOLONG': return 'cannot be read (its name is too long)';
    case undefined: return (err as Error).message;
    default: return `cannot be read (${code})`;
  }
}

/**
 * "cannot be read (permission denied) by modelserve's user (uid 1000): make it readable (…)": a file or
 * folder mounted from a host keeps the host's owner and mode, which the image's user often lacks.
 */
export function permissionDenied(what: 'file' | 'folder'): string {
  const uid = process.getuid?.();
  return `cannot be read (permission denied)${uid === undefined ? '' : ` by modelserve's user (uid ${uid})`}: make it readable (${what === 'folder' ? 'chmod -R a+rX' : 'chmod a+r'}, or chown)`;
}

/** 1536 → "1.5 KiB", 10737418240 → "10 GiB". */
export function formatSize(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let n = bytes;
  let u = 0;
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024;
    u += 1;
  }
  return `${u === 0 ? n : Number(n.toFixed(1))} ${units[u]}`;
}

function fileType(s: Stats): string {
  if (s.isDirectory()) return 'a directory';
  if (s.isFIFO()) return 'a FIFO';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isSocket()) return 'a socket';
  return 'not a file';
}

function refuseType(file: string, s: Stats): void {
  if (!s.isFile()) throw new UserFileError(file, `is not a regular file (${fileType(s)})`);
}

function tooLarge(file: string, kind: FileKind, size: number | undefined): UserFileError {
  const limit = FILE_LIMITS[kind];
  const hint = 'hint' in limit ? `; ${limit.hint(file)}` : '';
  return new UserFileError(file, `is too large (${size === undefined ? `over ${formatSize(limit.bytes)}` : formatSize(size)}; ${limit.what} may be up to ${formatSize(limit.bytes)}${hint})`);
}

/**
 * Opens a regular file for reading, without blocking on a FIFO; throws UserFileError for anything
 * else (and for a file over the kind's limit, when given), an errno error (ENOENT…) when it cannot
 * be opened. The caller closes the descriptor.
 */
export function openRegularFile(file: string, kind?: FileKind): { fd: number; size: number } {
  refuseType(file, statSync(file)); // stat follows symlinks and does not open: a FIFO is not waited on
  const fd = openSync(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  try {
    const s = fstatSync(fd); // what was opened, should the path have changed since
    refuseType(file, s);
    if (kind !== undefined && s.size > FILE_LIMITS[kind].bytes) throw tooLarge(file, kind, s.size);
    return { fd, size: s.size };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** A user-given file's bytes: a regular file no larger than its kind's limit (reading stops past it, should it grow). */
export function readUserFile(file: string, kind: FileKind): Buffer {
  const limit = FILE_LIMITS[kind].bytes;
  const { fd, size } = openRegularFile(file, kind);
  try {
    let buffer = Buffer.allocUnsafeSlow(size); // its own memory, as readFileSync gives
    let total = 0;
    const probe = Buffer.allocUnsafe(64 * 1024);
    // Read to the end rather than to the size fstat gave: the file may grow, and some (in /proc) report 0.
    for (;;) {
      if (total < buffer.length) {
        const n = readSync(fd, buffer, total, Math.min(buffer.length - total, GiB), null);
        if (n === 0) break;
        total += n;
        continue;
      }
      const n = readSync(fd, probe, 0, probe.length, null);
      if (n === 0) break;
      if (total + n > limit) throw tooLarge(file, kind, undefined);
      const grown = Buffer.allocUnsafeSlow(Math.min(Math.max(2 * (total + n), probe.length), limit));
      buffer.copy(grown, 0, 0, total);
      probe.copy(grown, total, 0, n);
      buffer = grown;
      total += n;
    }
    return buffer.subarray(0, total);
  } finally {
    closeSync(fd);
  }
}

/** A user-given file as UTF-8 text (see readUserFile). */
export function readUserText(file: string, kind: FileKind): string {
  return readUserFile(file, kind).toString('utf8');
}

/**
 * Why a text file's bytes are not UTF-8, in words that follow its name; undefined for UTF-8. UTF-16 (Windows editors'
 * "Unicode", PowerShell's `>`) is named: with its byte order mark it is no UTF-8, and without one its NULs would be.
 */
export function notUtf8Reason(bytes: Uint8Array): string | undefined {
  const [a, b, c, d] = bytes;
  const bom = (a === 0xff && b === 0xfe) || (a === 0xfe && b === 0xff);
  // ASCII text as UTF-16 without a mark: a NUL beside every character.
  const nuls = bytes.length >= 4 && ((a !== 0 && b === 0 && c !== 0 && d === 0) || (a === 0 && b !== 0 && c === 0 && d !== 0));
  if (bom || nuls) return 'is not UTF-8 text (it looks like UTF-16: save it as UTF-8)';
  if (isUtf8(bytes)) return undefined;
  // A NUL or another control character other than blank space within its start: no text in any encoding (a model given as the file?).
  const head = bytes.subarray(0, 512);
  if (head.some((byte) => byte === 0x7f || (byte < 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0c && byte !== 0x0d))) return 'is not a text file: it holds binary data (is it the right file?)';
  return 'is not UTF-8 text (save it as UTF-8)';
}

/** The text without a leading UTF-8 byte order mark (JSON.parse refuses one; editors on Windows write it). */
export function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Said instead of the text JSON.parse quotes where API clients read a reason. */
export const JSON_QUOTE_WITHHELD = "the text it stopped at is quoted in the server's log and by modelserve check, not here";

/**
 * Why a user's file is not JSON, from JSON.parse's SyntaxError: `message` for the operator (V8 quotes up to ~20
 * characters of the text it stopped at, kept, non-printable characters as ?), `forClients` without any of the file's
 * text: a config may name any file the server can read (a keys file), and its problems reach every API client. Only
 * V8's "… in JSON at position N" and end-of-input forms are passed on (as a line and column); any other wording is withheld.
 */
export function jsonSyntaxReason(err: SyntaxError, text: string): { message: string; forClients: string } {
  const message = err.message.replace(/[^\x20-\x7e]+/g, '?');
  const at = /^([A-Za-z ,'{}[\]:-]*) in JSON at position (\d+)$/.exec(message);
  if (at) {
    const before = text.slice(0, Number(at[2]));
    return { message, forClients: `${at[1]} at line ${before.split('\n').length}, column ${before.length - before.lastIndexOf('\n')}` };
  }
  if (message === 'Unexpected end of JSON input') return { message, forClients: message };
  return { message, forClients: `${/^Unexpected token\b/.test(message) ? 'Unexpected token' : 'not valid JSON'} (${JSON_QUOTE_WITHHELD})` };
}
