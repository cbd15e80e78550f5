/**
 * A mistake the user can fix (bad flag, missing file, malformed input). The CLI prints its
 * message as one line and exits with status 2; any other error is a bug and shows its stack.
 */
export class UserError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "UserError";
  }
}
