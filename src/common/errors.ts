/**
 * An error caused by the user's input (configuration, command line, a file they named).
 * The CLI prints its message as one line and exits with code 2; anything else is an internal
 * failure (exit 1).
 */
export class UserError extends Error {
  override readonly name = 'UserError';
  constructor(message: string) {
    super(message);
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
