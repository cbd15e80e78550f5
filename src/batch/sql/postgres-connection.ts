import pg from "pg";
import { UserError } from "../../config/errors.js";
import { describePostgres } from "../../registry/store/postgres-store.js";

/** The URL without password or query parameters, for descriptions and errors. */
export function describeUrl(url: string): string {
  return describePostgres(url, undefined);
}

/** SQLSTATE of a pg error, if any. */
export function sqlState(error: unknown): string | undefined {
  return typeof error === "object" &&
    error !== null &&
    "code" in error &&
    typeof error.code === "string"
    ? error.code
    : undefined;
}

/**
 * Class 42 (syntax error, undefined table or column, permission denied) and 3F000 (no such
 * schema) come from the user's names or query: report them as UserErrors.
 */
export function postgresError(error: unknown, description: string): unknown {
  const state = sqlState(error);
  if (state !== undefined && (state.startsWith("42") || state === "3F000")) {
    const message = error instanceof Error ? error.message : String(error);
    return new UserError(`${description}: ${message}`, { cause: error });
  }
  return error;
}

/**
 * A small pool: a source or sink runs one statement at a time (count() may overlap a read).
 * Connects once so a wrong host or database fails at open, as a UserError.
 */
export async function openPool(url: string, description: string): Promise<pg.Pool> {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  // An idle connection dropped by the server must not crash the process; the next query
  // reports the failure itself.
  pool.on("error", () => undefined);
  // pg-pool hands a new client out with no 'error' listener until the borrower adds one: a
  // backend terminated right after connecting (its FATAL in the same packet as "ready") was
  // an uncaught exception there. The failure still reaches the borrower through its query.
  pool.on("connect", (client) => client.on("error", () => undefined));
  try {
    const client = await pool.connect();
    client.release();
  } catch (error) {
    await pool.end();
    const message = error instanceof Error ? error.message : String(error);
    throw new UserError(`cannot connect to ${description}: ${message}`, { cause: error });
  }
  return pool;
}

/** Ends a pool once (pg refuses a second end()). */
export async function endPool(pool: pg.Pool): Promise<void> {
  if (!pool.ended) await pool.end();
}
