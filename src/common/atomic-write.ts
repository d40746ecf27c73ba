import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { toOutputError } from './errors.js';
import { failpoint, failpointsArmed } from './failpoints.js';

let tempCounter = 0;

/**
 * Writes a whole file so that readers only ever see the old or the new content:
 * temp file in the same directory, fsync, rename, then fsync the directory so the rename
 * survives a power cut (technicians pull these files after crashes).
 *
 * Any failure (ENOSPC, EACCES, EIO…) leaves the previous file as it was, removes the temp file
 * and throws one OutputError naming `path`; `what` says which output it was for.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, what = 'file'): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${tempCounter++}.tmp`);
  let step = 'create folder';
  let fd: number | undefined;
  try {
    mkdirSync(dir, { recursive: true });
    step = 'open';
    fd = openSync(tmp, 'w', 0o644);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    step = 'write';
    if (failpointsArmed()) failpoint(`artifact.${basename(path)}`);
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    step = 'fsync';
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    step = 'rename';
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        /* the write error is the one to report */
      }
    }
    if (step !== 'create folder') {
      try {
        unlinkSync(tmp);
      } catch {
        /* never created, or already gone */
      }
    }
    throw toOutputError(e, path, `${what} ${step}`);
  }
  fsyncDir(dir);
}

export function writeJsonAtomic(path: string, value: unknown, what = 'file'): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n', what);
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
