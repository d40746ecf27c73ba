/**
 * An error caused by the user's input (configuration, command line, a file they named).
 * The CLI prints its message as one line and exits with code 2; anything else is an internal
 * failure (exit 1).
 */
export class UserError extends Error {
  override readonly name = 'UserError';
  constructor(message: string) {
    super(oneLine(message));
  }
}

/** Control characters (a newline in a --set value, say) written as escapes: the message stays one line. */
export function oneLine(s: string): string {
  // eslint-disable-next-line no-control-regex -- the control characters are what this escapes
  return s.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, (c) =>
    c === '\n' ? '\\n' : c === '\r' ? '\\r' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}

/** The process exit code an error ends a run with: 2 bad input or configuration, 1 anything else. */
export function exitCodeOf(e: unknown): 2 | 1 {
  return isUserError(e) ? 2 : 1;
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** errno codes that mean "this output cannot go on" rather than a bug in the caller. */
const OUTPUT_ERRNO_TEXT: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only filesystem',
  EIO: 'I/O error',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a parent is not a directory',
  EISDIR: 'is a directory',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  EBADF: 'file descriptor no longer valid',
  ESTALE: 'stale file handle',
};

/**
 * A file output failed (full disk, permissions, I/O error). Carries the file and the errno code
 * so that whoever contains the failure (the plug-in host disables that output) can say which
 * file and why in one line, instead of a bare "ENOSPC" naming nothing.
 */
export class OutputError extends Error {
  override readonly name = 'OutputError';
  constructor(
    /** The file (or folder) the write was for. */
    readonly path: string,
    /** errno code, e.g. ENOSPC; "EUNKNOWN" when the cause carried none. */
    readonly code: string,
    /** What was being written and what step failed, e.g. "events.jsonl: write". */
    readonly what: string,
    options?: { cause?: unknown },
  ) {
    super(oneLine(`${what} ${path}: ${code} (${OUTPUT_ERRNO_TEXT[code] ?? 'failed'})`), options);
  }
}

/** Wraps a filesystem failure as an OutputError; an OutputError passes through unchanged. */
export function toOutputError(e: unknown, path: string, what: string): OutputError {
  if (e instanceof OutputError) return e;
  const code =
    typeof (e as NodeJS.ErrnoException | undefined)?.code === 'string'
      ? (e as NodeJS.ErrnoException).code!
      : 'EUNKNOWN';
  return new OutputError(path, code, what, { cause: e });
}

export function isOutputError(e: unknown): e is OutputError {
  return e instanceof OutputError;
}
