/**
 * The SQL pieces every statistic shares: which rows of a window table a side reads, how a
 * column's missing and usable values are recognised (drift.ts's rules: NULL and NaN are
 * missing, ±inf is dropped before any test), and reading small results back into JS.
 */
import type { DuckDBConnection } from "@duckdb/node-api";
import { sqlIdentifier, sqlString } from "../../../duckdb/index.js";

/** One window as the statistics read it: a table, the rows of it that count, its columns. */
export interface Side {
  table: string;
  /** SQL condition selecting the rows (the version filter of the current window, or TRUE). */
  filter: string;
  /** Column name → DuckDB type, for the monitored columns this window has. */
  types: Map<string, string>;
}

export async function openSide(
  connection: DuckDBConnection,
  table: string,
  columns: readonly string[],
  version: string | null,
): Promise<Side> {
  const rows = await readRows(
    connection,
    `SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ${sqlString(table)}`,
  );
  const all = new Map(rows.map((row) => [String(row.column_name), String(row.data_type)]));
  if (all.size === 0) throw new Error(`monitor statistics: no DuckDB table named ${table}`);
  const types = new Map<string, string>();
  for (const name of columns) {
    const type = all.get(name);
    if (type !== undefined) types.set(name, type);
  }
  const filter = version === null ? "TRUE" : `version = ${sqlString(version)}`;
  return { table: sqlIdentifier(table), filter, types };
}

const FLOATING = /^(FLOAT|DOUBLE|REAL|FLOAT4|FLOAT8)$/;
const NUMERIC =
  /^(FLOAT|DOUBLE|REAL|FLOAT4|FLOAT8|TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|DECIMAL.*)$/;

/** How a column's values are recognised in one window. */
export interface ColumnSql {
  /** The column as it is (NULL when this window lacks it). */
  raw: string;
  /** DuckDB type of the column in this window (undefined when it lacks it). */
  type: string | undefined;
  /** Whether the values are numbers (a numerical test can read them). */
  numeric: boolean;
  /** The value as a double (numerical columns; DuckDB groups -0 with 0, as a JS Map does). */
  number: string;
  /** NULL or NaN (drift.ts `isMissing`). */
  missing: string;
  /** A numerical value drift.ts keeps: finite (NaN, ±inf and NULL dropped). */
  usableNumber: string;
  /** A category drift.ts keeps (`usableCategories`): not missing, not ±inf. */
  usableCategory: string;
}

export function columnSql(side: Side, name: string): ColumnSql {
  const type = side.types.get(name);
  if (type === undefined)
    return {
      raw: "NULL",
      type,
      numeric: true,
      number: "CAST(NULL AS DOUBLE)",
      missing: "TRUE",
      usableNumber: "FALSE",
      usableCategory: "FALSE",
    };
  const column = sqlIdentifier(name);
  const number = `CAST(${column} AS DOUBLE)`;
  const floating = FLOATING.test(type);
  const numeric = NUMERIC.test(type);
  return {
    raw: column,
    type,
    numeric,
    number: numeric ? number : "CAST(NULL AS DOUBLE)",
    missing: floating ? `(${column} IS NULL OR isnan(${column}))` : `(${column} IS NULL)`,
    // isfinite(NULL) is NULL, which a WHERE or FILTER treats as false.
    usableNumber: numeric ? `isfinite(${number})` : "FALSE",
    usableCategory: floating ? `isfinite(${column})` : `(${column} IS NOT NULL)`,
  };
}

export type Row = Record<string, unknown>;

export async function readRows(connection: DuckDBConnection, sql: string): Promise<Row[]> {
  const t0 = Date.now();
  const reader = await connection.runAndReadAll(sql);
  if (process.env.PROFILE_STATS)
    console.error(`${Date.now() - t0} ms: ${sql.replace(/\s+/g, " ").slice(0, 200)}`);
  return reader.getRowObjectsJS() as Row[];
}

/** A count or sum read back from DuckDB (BIGINT and HUGEINT arrive as bigint). */
export function toNumber(value: unknown): number {
  if (typeof value === "bigint") return Number(value);
  if (typeof value === "number") return value;
  throw new Error(`monitor statistics: expected a number from DuckDB, got ${String(value)}`);
}

export function toNumberOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : toNumber(value);
}

/** A JS double as a DuckDB DOUBLE literal that parses back to the same double. */
export function doubleLiteral(value: number): string {
  if (!Number.isFinite(value)) throw new Error(`not a finite number: ${value}`);
  return `CAST(${sqlString(String(value))} AS DOUBLE)`;
}
