import pg from "pg";
import { UserError } from "../../../config/errors.js";
import { CREATE_TABLE, TABLE_NAME, type LeaseDatabase, type SqlValue } from "./database.js";

/** Far above any lease statement's time (single-row updates), well under the 60 s of retries. */
export const QUERY_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 10_000;

// Lower-case only, as the registry's: unquoted names fold to lower case in PostgreSQL.
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** `?` placeholders to `$1, $2…` (the statements contain no literal "?"). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/**
 * The lease table in PostgreSQL (`postgres://…[?schema=name]`): for consumers on several
 * hosts. The table (and schema) are created if missing.
 */
export async function openPostgresLeases(url: string): Promise<LeaseDatabase> {
  let connectionString = url;
  let schema: string | undefined;
  let description = "postgres (unparsable connection string)";
  try {
    const parsed = new URL(url);
    schema = parsed.searchParams.get("schema") ?? undefined;
    parsed.searchParams.delete("schema");
    connectionString = parsed.toString();
    parsed.password = "";
    description = parsed.toString() + (schema === undefined ? "" : `?schema=${schema}`);
  } catch {
    // Not every libpq connection string is a WHATWG URL: pass it to pg unchanged.
  }
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    throw new UserError(
      `invalid PostgreSQL schema name "${schema}" for Kinesis checkpoints: use lower-case letters, digits and "_"`,
    );
  }
  const table = schema === undefined ? TABLE_NAME : `"${schema}".${TABLE_NAME}`;
  const pool = new pg.Pool({
    connectionString,
    max: 4,
    // A connection that goes silent (lost network path, a server host that rebooted: no FIN,
    // no RST) would hold a checkpoint write, and with it the consumer's acks, for good. These
    // deadlines turn it into an error, which the source retries over a new connection (the
    // pool drops a client whose query failed).
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    keepAlive: true,
  });
  // An idle pooled connection dying (server restart) must not crash the process: the next
  // statement gets a fresh connection or reports the failure itself.
  pool.on("error", () => undefined);
  // A new client has no 'error' listener until its borrower adds one: a backend terminated
  // right after connecting would be an uncaught exception there.
  pool.on("connect", (client) => client.on("error", () => undefined));
  try {
    // Two consumers starting together both try to create: IF NOT EXISTS is not race-free in
    // PostgreSQL (a unique violation on its catalog), so serialize on an advisory lock.
    const client = await pool.connect();
    try {
      await client.query("SELECT pg_advisory_lock(hashtext('mldeploy_kinesis_leases'))");
      if (schema !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await client.query(CREATE_TABLE(table));
    } finally {
      await client
        .query("SELECT pg_advisory_unlock(hashtext('mldeploy_kinesis_leases'))")
        .catch(() => undefined);
      client.release();
    }
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new Error(`cannot open the Kinesis checkpoint store ${description}: ${String(err)}`, {
      cause: err,
    });
  }
  return {
    description,
    table,
    nowMs: "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint",
    query: async <T extends object>(sql: string, params: readonly SqlValue[] = []) =>
      (await pool.query(numbered(sql), [...params])).rows as T[],
    run: async (sql: string, params: readonly SqlValue[] = []) =>
      (await pool.query(numbered(sql), [...params])).rowCount ?? 0,
    close: async () => {
      if (!pool.ended) await pool.end();
    },
  };
}
