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

/**
 * A server named by the user (a broker, a database) cannot be reached. Not a bug either: the
 * CLI prints its message as one line, naming the server, but exits with status 1, as the cause
 * may as well be an outage as a wrong address.
 */
export class UnreachableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "UnreachableError";
  }
}

/**
 * The machine refused to store what the user asked for: no space left on the device, a
 * read-only file system, permission denied, an I/O error. The message names the file or
 * directory and the cause. Neither a bug nor a mistake in the command: the CLI prints it as one
 * line and exits with status 1, as for a server that cannot be reached.
 */
export class StorageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StorageError";
  }
}
