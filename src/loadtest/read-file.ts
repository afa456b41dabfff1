// Files the load tester reads (--body, compare's results): Node's own messages ("EISDIR: illegal
// operation on a directory, read") name neither the file nor the option, so each failure is said
// in words by the caller, which names both.
import { readFileSync } from 'node:fs';

/**
 * The file's text, or an Error whose message is `${prefix}: <why>`: 'no such file', `folder` for a
 * folder, else 'cannot be read (<code>)'. A leading byte-order mark (Notepad, PowerShell's
 * Out-File) is dropped: JSON.parse refuses it.
 */
export function readTextOrSay(file: string, prefix: string, folder: string): string {
  try {
    return readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`${prefix}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? folder : `cannot be read (${code ?? (err as Error).message})`}`, { cause: err });
  }
}
