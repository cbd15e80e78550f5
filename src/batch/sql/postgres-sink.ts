import type pg from "pg";
import { Params, postgresDialect } from "./dialect.js";
import { displayName, qualified, quote, type TableName } from "./identifiers.js";
import { describeUrl, endPool, openPool, postgresError, sqlState } from "./postgres-connection.js";
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

/** Element type OIDs of the arrays sent in binary. */
const ELEMENT_OID = {
  bigint: 20,
  "double precision": 701,
  "timestamp with time zone": 1184,
} as const;
type BinaryType = keyof typeof ELEMENT_OID;

/** Milliseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC). */
const PG_EPOCH_MS = 946_684_800_000;
const TWO_32 = 4_294_967_296;

/** Microseconds since 2000-01-01 UTC, or NaN when not a Date or not exact as a double. */
function micros(value: unknown): number {
  if (!(value instanceof Date)) return NaN;
  const us = (value.getTime() - PG_EPOCH_MS) * 1000;
  return Number.isSafeInteger(us) ? us : NaN;
}

/** The number each element is sent as (NaN: not sendable in binary), null for NULL. */
function elementNumber(element: BinaryType, value: unknown): number | null {
  if (value === null || value === undefined) return null;
  switch (element) {
    case "double precision":
      // Any double, NaN included, is a float8; the check is for other kinds of value.
      return typeof value === "number" ? value : NaN;
    case "bigint":
      return Number.isSafeInteger(value) ? (value as number) : NaN;
    default:
      return micros(value);
  }
}

/**
 * A column's values as a PostgreSQL binary array (what array_recv reads), for BIGINT, DOUBLE
 * PRECISION and TIMESTAMPTZ columns whose values are all numbers (safe integers for BIGINT),
 * or valid Dates, or null. pg sends a Buffer parameter in binary format, and `$n::type[]` makes
 * the server read it as that array type: no text to format here nor to parse there. Anything
 * else returns undefined and goes as text, as pg formats it.
 *
 * Same values as the text path: float8 bits are sent as they are; a Date is its instant in
 * microseconds (pg's text has milliseconds and the offset, the same instant).
 */
export function binaryArray(type: string, values: readonly unknown[]): Buffer | undefined {
  if (!Object.hasOwn(ELEMENT_OID, type)) return undefined;
  const element = type as BinaryType;
  const n = values.length;
  const numbers = new Float64Array(n);
  let nulls = 0;
  for (let i = 0; i < n; i++) {
    const value = elementNumber(element, values[i]);
    if (value === null) {
      nulls++;
      numbers[i] = NaN;
    } else if (
      Number.isNaN(value) &&
      (element !== "double precision" || typeof values[i] !== "number")
    ) {
      return undefined;
    } else numbers[i] = value;
  }
  const header = n === 0 ? 12 : 20;
  const buffer = Buffer.allocUnsafe(header + n * 4 + (n - nulls) * 8);
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  view.setInt32(0, n === 0 ? 0 : 1); // dimensions
  view.setInt32(4, nulls > 0 ? 1 : 0); // has nulls
  view.setInt32(8, ELEMENT_OID[element]);
  if (n === 0) return buffer;
  view.setInt32(12, n); // length
  view.setInt32(16, 1); // lower bound
  let at = header;
  const isFloat = element === "double precision";
  for (let i = 0; i < n; i++) {
    const value = numbers[i];
    if (nulls > 0 && (values[i] === null || values[i] === undefined)) {
      view.setInt32(at, -1);
      at += 4;
    } else if (isFloat) {
      view.setInt32(at, 8);
      view.setFloat64(at + 4, value);
      at += 12;
    } else {
      // Two's complement int64 from a safe integer: high word (signed), low word (unsigned).
      const high = Math.floor(value / TWO_32);
      view.setInt32(at, 8);
      view.setInt32(at + 4, high);
      view.setUint32(at + 8, value - high * TWO_32);
      at += 12;
    }
  }
  return buffer;
}

/**
 * An array of strings, numbers, booleans and nulls as the text literal pg would make of it
 * (each element quoted and escaped), built in one pass; undefined for other elements (Dates,
 * objects), which pg formats itself.
 */
export function textArray(values: readonly unknown[]): string | undefined {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value === null || value === undefined) parts[i] = "NULL";
    else if (typeof value === "string") {
      parts[i] =
        `"${value.includes("\\") || value.includes('"') ? value.replace(/[\\"]/g, "\\$&") : value}"`;
    } else if (typeof value === "number" || typeof value === "boolean")
      parts[i] = `"${String(value)}"`;
    else return undefined;
  }
  return `{${parts.join(",")}}`;
}

/** The bind value of a column's array: binary when possible, else text, else pg's own formatting. */
function arrayParameter(type: string, values: readonly unknown[]): unknown {
  return binaryArray(type, values) ?? textArray(values) ?? values;
}

/**
 * One INSERT … SELECT unnest(…), unnest(…), … per upsert: one array parameter per column
 * whatever the row count, so no 65,535-parameter limit and one statement to parse. The
 * unnests are in the select list (a ProjectSet, which streams the arrays in step) rather than
 * `FROM unnest(a, b, …)` (a function scan that materializes every row first: several times
 * slower on the server). Arrays and constants are cast to the column's type as it exists in
 * the table. Without `conflict`, a plain INSERT (the fresh-rows fast path of the driver).
 */
export function unnestUpsert(upsert: Upsert, conflict = true): { sql: string; values: unknown[] } {
  const params = new Params(postgresDialect);
  const select = upsert.columns.map((column) =>
    "all" in column
      ? `${params.add(column.all)}::${column.type}`
      : `unnest(${params.add(arrayParameter(column.type, column.each))}::${column.type}[])`,
  );
  const names = upsert.columns.map((column) => column.name);
  return {
    sql:
      `INSERT INTO ${qualified(upsert.table)} (${names.map(quote).join(", ")}) ` +
      `SELECT ${select.join(", ")}${conflict ? ` ${onConflict(upsert.key, names)}` : ""}`,
    values: params.values,
  };
}

/** SQLSTATE unique_violation. */
const UNIQUE_VIOLATION = "23505";

class PostgresSinkDriver implements SinkDriver {
  readonly dialect = postgresDialect;
  /** Tables where a plain INSERT met existing rows: upserted directly. */
  private readonly conflicting = new Set<string>();

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
    return this.inTransaction((client) => fn({ upsert: (upsert) => this.upsert(client, upsert) }));
  }

  /**
   * ON CONFLICT DO UPDATE costs the server about twice a plain INSERT (a speculative insertion
   * per row). Rows scored for the first time (a new table, new rows, a new model version) have
   * no conflict, so a multi-row upsert first tries a plain INSERT inside a savepoint; on a
   * unique violation it rolls back to the savepoint and upserts, and that table is upserted
   * directly from then on (a rescore of rows already there). Same rows either way.
   */
  private async upsert(client: pg.PoolClient, upsert: Upsert): Promise<void> {
    const table = qualified(upsert.table);
    if (upsert.rows > 1 && !this.conflicting.has(table)) {
      const { sql, values } = unnestUpsert(upsert, false);
      // Not released: COMMIT does that, one round trip less per table.
      await client.query("SAVEPOINT mldeploy_insert");
      try {
        await client.query(sql, values);
        return;
      } catch (error) {
        if (sqlState(error) !== UNIQUE_VIOLATION) throw error;
        await client.query("ROLLBACK TO SAVEPOINT mldeploy_insert");
        this.conflicting.add(table);
      }
    }
    const { sql, values } = unnestUpsert(upsert);
    await client.query(sql, values);
  }

  close(): Promise<void> {
    return endPool(this.pool);
  }

  private async inTransaction(fn: (client: pg.PoolClient) => Promise<void>): Promise<void> {
    const client = await this.pool.connect();
    // A checked-out client has no listener from the pool: a connection terminated while the
    // transaction is idle between statements (or ending after a failed one) would emit an
    // unhandled 'error' and kill the process. The next statement reports the failure instead.
    let lost: Error | undefined;
    const onError = (error: Error) => (lost ??= error);
    client.on("error", onError);
    let broken = false;
    try {
      await client.query("BEGIN");
      await fn(client);
      await client.query("COMMIT");
    } catch (error) {
      // A connection that cannot even roll back is discarded rather than reused.
      if (lost !== undefined) broken = true;
      else await client.query("ROLLBACK").catch(() => (broken = true));
      throw postgresError(error, this.description);
    } finally {
      broken ||= lost !== undefined;
      // Still listening once released if broken: the connection may yet emit its end.
      if (!broken) client.off("error", onError);
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
