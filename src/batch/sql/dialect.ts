/**
 * What differs between SQLite and PostgreSQL in the SQL that the source and sink build: bind
 * parameter syntax, the partition hash, and column types. Everything else (keyset filters,
 * upsert clauses, DDL layout) is written once against this interface.
 */

/** Logical type of a sink column, mapped to a SQL type per dialect. */
export type ColumnKind = "bigint" | "double" | "text" | "timestamp" | "boolean";

export interface SqlDialect {
  readonly name: "sqlite" | "postgres";
  /** The SQL for the n-th (1-based) bind parameter. */
  param(n: number): string;
  /**
   * A boolean expression true when the row whose id is `id` falls in partition `index` of
   * `count` (both SQL expressions, usually parameters).
   */
  partition(id: string, count: string, index: string): string;
  readonly types: Readonly<Record<ColumnKind, string>>;
}

/** Name of the scalar function the SQLite source registers on its connection. */
export const SQLITE_PARTITION_FUNCTION = "mldeploy_partition";

export const sqliteDialect: SqlDialect = {
  name: "sqlite",
  // Plain `?`: parameters are bound in the order they appear, which Params guarantees.
  param: () => "?",
  partition: (id, count, index) => `${SQLITE_PARTITION_FUNCTION}(${id}, ${count}) = ${index}`,
  // SQLite has type affinities, not types: timestamps are ISO 8601 text, booleans 0/1.
  types: {
    bigint: "INTEGER",
    double: "REAL",
    text: "TEXT",
    timestamp: "TEXT",
    boolean: "INTEGER",
  },
};

export const postgresDialect: SqlDialect = {
  name: "postgres",
  param: (n) => `$${n}`,
  // hashtext is int4; abs() of its minimum overflows in int4, hence the bigint cast first.
  partition: (id, count, index) => `mod(abs(hashtext(${id}::text)::bigint), ${count}) = ${index}`,
  types: {
    bigint: "BIGINT",
    double: "DOUBLE PRECISION",
    text: "TEXT",
    timestamp: "TIMESTAMPTZ",
    boolean: "BOOLEAN",
  },
};

/**
 * Collects bind values while SQL text is built, so placeholders and values cannot get out of
 * step: `add` returns the placeholder for the value it appends.
 */
export class Params {
  readonly values: unknown[] = [];

  constructor(private readonly dialect: SqlDialect) {}

  add(value: unknown): string {
    this.values.push(value);
    return this.dialect.param(this.values.length);
  }
}
