import type pg from "pg";
import { Params, postgresDialect } from "./dialect.js";
import { displayName, qualified, quote, type TableName } from "./identifiers.js";
import { describeUrl, endPool, openPool, postgresError } from "./postgres-connection.js";
import {
  onConflict,
  sinkTable,
  SqlSink,
  type SinkDriver,
  type SinkTransaction,
  type Upsert,
} from "./sql-sink.js";

/** Any constant: serializes CREATE TABLE IF NOT EXISTS of concurrent workers. */
const DDL_LOCK = "mldeploy batch sink DDL";

/**
 * One INSERT … SELECT FROM unnest(…) per upsert: one array parameter per column whatever the
 * row count, so no 65,535-parameter limit and one statement to parse. Arrays and constants
 * are cast to the column's type as it exists in the table.
 */
export function unnestUpsert(upsert: Upsert): { sql: string; values: unknown[] } {
  const params = new Params(postgresDialect);
  const arrays: string[] = [];
  const select = upsert.columns.map((column) => {
    if ("all" in column) return `${params.add(column.all)}::${column.type}`;
    arrays.push(`${params.add(column.each)}::${column.type}[]`);
    return `u.c${arrays.length - 1}`;
  });
  const names = upsert.columns.map((column) => column.name);
  const from =
    arrays.length === 0
      ? ""
      : ` FROM unnest(${arrays.join(", ")}) AS u(${arrays.map((_, i) => `c${i}`).join(", ")})`;
  return {
    sql:
      `INSERT INTO ${qualified(upsert.table)} (${names.map(quote).join(", ")}) ` +
      `SELECT ${select.join(", ")}${from} ${onConflict(upsert.key, names)}`,
    values: params.values,
  };
}

class PostgresSinkDriver implements SinkDriver {
  readonly dialect = postgresDialect;

  constructor(
    private readonly pool: pg.Pool,
    private readonly description: string,
  ) {}

  async create(statements: readonly string[]): Promise<void> {
    // Concurrent CREATE TABLE IF NOT EXISTS of the same table can fail on the catalog's unique
    // index (partitioned workers starting together); a transaction-scoped lock serializes them.
    await this.inTransaction(async (client) => {
      await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [DDL_LOCK]);
      for (const sql of statements) await client.query(sql);
    });
  }

  async columns(table: TableName): Promise<Map<string, string> | undefined> {
    // to_regclass resolves the name as INSERT will (search_path when unqualified); format_type
    // gives the type as SQL text for the casts of unnestUpsert.
    const rows = await this.rows(
      `SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
       WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`,
      [qualified(table)],
    );
    return rows.length === 0
      ? undefined
      : new Map(rows.map((row) => [String(row[0]), String(row[1])]));
  }

  async rows(sql: string, values: readonly unknown[]): Promise<unknown[][]> {
    try {
      return (await this.pool.query({ text: sql, values: [...values], rowMode: "array" })).rows;
    } catch (error) {
      throw postgresError(error, this.description);
    }
  }

  async run(sql: string, values: readonly unknown[]): Promise<void> {
    await this.rows(sql, values);
  }

  transaction(fn: (tx: SinkTransaction) => Promise<void>): Promise<void> {
    return this.inTransaction((client) =>
      fn({
        upsert: async (upsert) => {
          const { sql, values } = unnestUpsert(upsert);
          await client.query(sql, values);
        },
      }),
    );
  }

  close(): Promise<void> {
    return endPool(this.pool);
  }

  private async inTransaction(fn: (client: pg.PoolClient) => Promise<void>): Promise<void> {
    const client = await this.pool.connect();
    let broken = false;
    try {
      await client.query("BEGIN");
      await fn(client);
      await client.query("COMMIT");
    } catch (error) {
      // A connection that cannot even roll back is discarded rather than reused.
      await client.query("ROLLBACK").catch(() => (broken = true));
      throw postgresError(error, this.description);
    } finally {
      client.release(broken);
    }
  }
}

/** Connects to PostgreSQL as a sink writing to `table` (optionally `schema.table`). */
export async function openPostgresSink(url: string, table: string): Promise<SqlSink> {
  const name = sinkTable(table);
  const description = `${describeUrl(url)} (table ${displayName(name)})`;
  const pool = await openPool(url, description);
  return new SqlSink(new PostgresSinkDriver(pool, description), name, description);
}
