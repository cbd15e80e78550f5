/**
 * The little the lease store needs from SQL: single statements (each lease operation is one
 * atomic conditional UPDATE or INSERT, so no transactions), written once in the SQL SQLite and
 * PostgreSQL share, with `?` placeholders (renumbered to `$n` for PostgreSQL).
 */
export type SqlValue = string | number | null;

export interface LeaseDatabase {
  /** For logs: `sqlite:/abs/file.db` or the PostgreSQL URL without its password. */
  readonly description: string;
  /** The table, schema-qualified when a schema was asked for. */
  readonly table: string;
  /**
   * SQL for "now" in epoch milliseconds, evaluated by the database: lease expiry is compared on
   * ONE clock (the server's), so consumers on hosts with skewed clocks still agree on it.
   */
  readonly nowMs: string;
  /** Runs one statement; rows for SELECT and for UPDATE … RETURNING, else []. */
  query<T extends object>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** Runs one statement; resolves to the number of rows changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
  close(): Promise<void>;
}

/** Columns of the lease table (one row per stream, group and shard). */
export const CREATE_TABLE = (table: string): string => `CREATE TABLE IF NOT EXISTS ${table} (
  stream_key TEXT NOT NULL,
  group_name TEXT NOT NULL,
  shard_id TEXT NOT NULL,
  parent_ids TEXT NOT NULL,
  owner TEXT,
  lease_counter BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  checkpoint TEXT,
  finished INTEGER NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (stream_key, group_name, shard_id)
)`;

export const TABLE_NAME = "mldeploy_kinesis_leases";
