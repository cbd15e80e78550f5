/**
 * Which failures of a database connection say nothing about the work itself, so that the same
 * work may be attempted again: shared by every PostgreSQL client of mldeploy (batch sources
 * and sinks, the registry store). Whether a given piece of work may be attempted again (a
 * read; a transaction known to have rolled back) stays the caller's decision.
 */

// SQLSTATEs of a lost or refused connection: class 08 (connection exception, matched by its
// prefix), the server shutting down or crashed (57P01 terminated by an administrator, 57P02,
// 57P03 starting up), too many connections (53300).
const CONNECTION_STATES = new Set(["57P01", "57P02", "57P03", "53300"]);
// Transactions the server rolled back as a whole: 40001 serialization failure, 40P01 deadlock.
const ROLLED_BACK_STATES = new Set(["40001", "40P01"]);
// Node socket errors of a server restarting or a network blip.
const SOCKET_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTCONN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);
// pg's own errors for a connection that ended under it carry no code, only these messages.
const CONNECTION_MESSAGES =
  /Connection terminated|Client has encountered a connection error|not queryable|connection timeout|timeout exceeded when trying to connect/i;

export function errorCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const { code } = error as { code?: unknown };
  return typeof code === "string" ? code : undefined;
}

/** The connection was lost, refused or cut: nothing can be assumed of what it was doing. */
export function isConnectionFailure(error: unknown): boolean {
  const code = errorCode(error);
  if (code !== undefined) {
    return code.startsWith("08") || CONNECTION_STATES.has(code) || SOCKET_CODES.has(code);
  }
  return error instanceof Error && CONNECTION_MESSAGES.test(error.message);
}

/** The server rolled the transaction back as a whole after a race (serialization, deadlock). */
export function isRolledBackTransaction(error: unknown): boolean {
  return ROLLED_BACK_STATES.has(errorCode(error) ?? "");
}
