// The output file of a command that writes one (convert, optimize).
import { statSync } from 'node:fs';

/**
 * Whether `output` names the file `input` is (the same device and inode: the same path spelt
 * otherwise, a symlink to it, a hard link), so that writing it would overwrite the input.
 */
export function isSameFile(input: string, output: string): boolean {
  try {
    const a = statSync(input);
    const b = statSync(output);
    return a.dev === b.dev && a.ino === b.ino;
  } catch {
    return false;
  }
}
