// The output file of a command that writes one (convert, optimize).
import { closeSync, fstatSync, openSync, statSync, unlinkSync, writeFileSync } from 'node:fs';

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

/**
 * Writes `bytes` to `output`; when that fails (a directory, no space, no permission) prints
 * `modelserve <command>: cannot write <output>: <reason>`, removes what was written of a regular
 * file (a cut-off model is no model, and serve would refuse it later, far from this message) and
 * returns false.
 */
export function writeOutput(command: string, output: string, bytes: Uint8Array): boolean {
  try {
    const fd = openSync(output, 'w');
    try {
      writeFileSync(fd, bytes);
    } catch (err) {
      // Opened, then cut off (no space left): the part written goes (a file that could not be opened is left alone).
      try {
        if (fstatSync(fd).isFile()) unlinkSync(output);
      } catch {
        // It cannot be removed either: the message says the write failed.
      }
      throw err;
    } finally {
      closeSync(fd);
    }
    return true;
  } catch (err) {
    // Node's message ends with the system call and the path ("EISDIR: illegal operation on a
    // directory, open 'dir/'"): the path is said once, first.
    const e = err as NodeJS.ErrnoException;
    const reason = e.syscall ? e.message.replace(new RegExp(`, ${e.syscall}(?: '.*')?$`), '') : e.message;
    console.error(`modelserve ${command}: cannot write ${output}: ${reason}`);
    return false;
  }
}
