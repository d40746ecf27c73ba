import { accessSync, constants, lstatSync, realpathSync, statSync } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';

/**
 * Kernel pseudo-filesystems: nothing there is an output, and some calls on them never return
 * (a recursive mkdir under /proc spins on EEXIST/ENOENT and ignores SIGTERM), so a path there
 * is refused before anything touches it.
 */
const PSEUDO_ROOTS = ['/proc', '/sys'];

function under(p: string, root: string): boolean {
  return p === root || p.startsWith(root + sep);
}

/** The deepest part of `p` that exists, resolved through symlinks (lexically resolved first). */
function deepestExisting(p: string): { path: string; real: string } | undefined {
  let cur = resolve(p);
  for (;;) {
    try {
      lstatSync(cur);
      return { path: cur, real: realpathSync(cur) };
    } catch {
      const up = dirname(cur);
      if (up === cur) return undefined;
      cur = up;
    }
  }
}

/**
 * Why `path` cannot be written as a file (kind "file") or used as a folder to create files in
 * (kind "dir"), or undefined when it can. Creates nothing: it finds the deepest existing part,
 * which must be a writable folder (or, for a file that exists, a writable file, a FIFO or a
 * character device such as /dev/null).
 */
export function outputPathProblem(path: string, kind: 'file' | 'dir'): string | undefined {
  if (path.includes('\0')) return 'contains a NUL byte';
  const abs = resolve(path);
  for (const r of PSEUDO_ROOTS) if (under(abs, r)) return `is under ${r}, a kernel pseudo-filesystem`;
  const found = deepestExisting(abs);
  if (!found) return 'no part of it exists';
  if (kind === 'file' && found.path === abs) {
    // An existing pipe or device (/dev/null, /dev/stdout) is a fine sink for poses, even
    // where its link resolves into /proc/self/fd.
    try {
      const t = statSync(abs);
      if (t.isFIFO() || t.isCharacterDevice() || t.isSocket())
        return accessProblem(abs, constants.W_OK, 'not writable');
    } catch {
      // a dangling link: judged below like any other path
    }
  }
  for (const r of PSEUDO_ROOTS)
    if (under(found.real, r)) return `resolves (through ${found.path}) to ${found.real}, under ${r}`;
  let st;
  try {
    st = statSync(found.real);
  } catch (e) {
    return `${found.path}: cannot stat (${(e as NodeJS.ErrnoException).code ?? String(e)})`;
  }
  if (found.path === abs) {
    if (kind === 'dir' && !st.isDirectory()) return 'exists and is not a folder';
    if (kind === 'file') {
      if (st.isDirectory()) return 'is a folder';
      if (!st.isFile() && !st.isFIFO() && !st.isCharacterDevice()) return 'exists and is not a regular file';
      return accessProblem(found.real, constants.W_OK, 'not writable');
    }
    return accessProblem(found.real, constants.W_OK | constants.X_OK, 'folder not writable');
  }
  if (!st.isDirectory()) return `${found.path} exists and is not a folder, so nothing can be created below it`;
  return accessProblem(found.real, constants.W_OK | constants.X_OK, `cannot create it: ${found.path} is not writable`);
}

/** Why `path` cannot be read as a folder of input files, or undefined. */
export function inputDirProblem(path: string): string | undefined {
  if (path.includes('\0')) return 'contains a NUL byte';
  const abs = resolve(path);
  for (const r of PSEUDO_ROOTS) if (under(abs, r)) return `is under ${r}, a kernel pseudo-filesystem`;
  let st;
  try {
    st = statSync(abs);
  } catch (e) {
    return `cannot open (${(e as NodeJS.ErrnoException).code ?? String(e)})`;
  }
  if (!st.isDirectory()) return 'is not a folder';
  return accessProblem(abs, constants.R_OK | constants.X_OK, 'not readable');
}

function accessProblem(p: string, mode: number, what: string): string | undefined {
  try {
    accessSync(p, mode);
    return undefined;
  } catch (e) {
    return `${what} (${(e as NodeJS.ErrnoException).code ?? String(e)})`;
  }
}
