/**
 * What every source shares: the connection and logger it works with, the window bounds, and
 * the one way a window table is built (normalized columns, optional repeatable sample,
 * versions, a description for people).
 */
import type { DuckDBConnection } from "@duckdb/node-api";
import { UserError } from "../../../config/errors.js";
import { firstLine, sqlIdentifier, sqlString } from "../../../duckdb/index.js";
import type { Logger } from "../../../log/logger.js";
import type { ColumnDtype } from "../../drift.js";
import type { FrameColumn } from "../types.js";

export interface SourceContext {
  connection: DuckDBConnection;
  logger: Logger;
}

/** Half-open window [from, to). */
export interface WindowBounds {
  from: Date;
  to: Date;
}

/** Seed of every reservoir sample: the same window gives the same sample on every pass. */
export const SAMPLE_SEED = 42;

const SQL_TYPES: Record<ColumnDtype, string> = {
  float: "DOUBLE",
  integer: "BIGINT",
  string: "VARCHAR",
  boolean: "BOOLEAN",
};

/** The DuckDB type a monitored column has in a window table. */
export function sqlTypeOf(dtype: ColumnDtype): string {
  return SQL_TYPES[dtype];
}

/** Window tables are named by the orchestrator; anything else is a bug, not a user mistake. */
export function checkTableName(table: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(table))
    throw new Error(`window table name ${JSON.stringify(table)} must be made of [a-z0-9_]`);
  return table;
}

/** Timestamps are UTC wall time in every window table; the session must not shift them. */
export async function useUtc(connection: DuckDBConnection): Promise<void> {
  await connection.run("SET TimeZone = 'UTC'");
}

/** A source column mapped into a window table: the SQL expression that reads it. */
export interface MappedColumn {
  column: FrameColumn;
  /** Expression over the source rows (a quoted column name, usually). */
  expr: string;
}

export interface WindowSelect {
  /** Expressions over the source rows; "NULL" when the source has none. */
  time: string;
  version: string;
  id: string;
  columns: MappedColumn[];
  /** FROM clause body: a table, a table function call, or a parenthesized SELECT. */
  from: string;
  /** Conditions on the source rows, ANDed. */
  where?: string[];
}

/** The normalized SELECT of a window: time, version, id, then the monitored columns typed. */
export function windowSql(select: WindowSelect): string {
  const columns = [
    `CAST(${select.time} AS TIMESTAMP) AS time`,
    `CAST(${select.version} AS VARCHAR) AS version`,
    `CAST(${select.id} AS VARCHAR) AS id`,
    ...select.columns.map(
      ({ column, expr }) =>
        `TRY_CAST(${expr} AS ${sqlTypeOf(column.dtype)}) AS ${sqlIdentifier(column.name)}`,
    ),
  ];
  const where = select.where?.length ? ` WHERE ${select.where.join(" AND ")}` : "";
  return `SELECT ${columns.join(", ")} FROM ${select.from}${where}`;
}

/** An empty window table with the normalized columns. */
export async function createEmptyWindow(
  connection: DuckDBConnection,
  table: string,
  columns: FrameColumn[],
): Promise<void> {
  const defs = [
    "time TIMESTAMP",
    "version VARCHAR",
    "id VARCHAR",
    ...columns.map((c) => `${sqlIdentifier(c.name)} ${sqlTypeOf(c.dtype)}`),
  ];
  await connection.run(`CREATE OR REPLACE TABLE ${sqlIdentifier(table)} (${defs.join(", ")})`);
}

export interface Materialized {
  rows: number;
  /** Rows the window had before sampling. */
  total: number;
  sampled: boolean;
}

/**
 * CREATE OR REPLACE TABLE `table` AS `sql`, as a reservoir sample of `maxRows` (seeded, so a
 * rerun draws the same rows) when the window holds more. Counting first reads only what the
 * filters need; rows never pass through JS.
 */
export async function materialize(
  connection: DuckDBConnection,
  table: string,
  sql: string,
  maxRows: number | undefined,
  /** Names a user's file in the error when DuckDB cannot read it (e.g. "--reference x.csv"). */
  source?: string,
): Promise<Materialized> {
  if (source !== undefined) {
    try {
      return await materialize(connection, table, sql, maxRows);
    } catch (error) {
      throw new UserError(`${source}: cannot read (${firstLine(error)})`, { cause: error });
    }
  }
  const total = await countOf(connection, sql);
  const sampled = maxRows !== undefined && total > maxRows;
  const body = sampled
    ? `SELECT * FROM (${sql}) AS window_rows USING SAMPLE reservoir(${Math.floor(maxRows)} ROWS) REPEATABLE (${SAMPLE_SEED})`
    : sql;
  await connection.run(`CREATE OR REPLACE TABLE ${sqlIdentifier(table)} AS ${body}`);
  const rows = sampled ? await countOf(connection, `SELECT * FROM ${sqlIdentifier(table)}`) : total;
  return { rows, total, sampled };
}

export async function countOf(connection: DuckDBConnection, sql: string): Promise<number> {
  const reader = await connection.runAndReadAll(`SELECT count(*) FROM (${sql})`);
  return Number(reader.getRows()[0][0]);
}

/** Distinct non-NULL versions of a window table, numeric ones in numeric order. */
export async function versionsOf(connection: DuckDBConnection, table: string): Promise<string[]> {
  const reader = await connection.runAndReadAll(
    `SELECT DISTINCT version FROM ${sqlIdentifier(table)} WHERE version IS NOT NULL`,
  );
  return sortVersions(reader.getRows().map((row) => String(row[0])));
}

/** Versions "2" before "10"; non-numeric labels after the numbers, in code point order. */
export function sortVersions(versions: readonly string[]): string[] {
  const numeric = (v: string) => /^\d+$/.test(v);
  return [...versions].sort((a, b) => {
    if (numeric(a) && numeric(b)) return Number(a) - Number(b) || (a < b ? -1 : a > b ? 1 : 0);
    if (numeric(a) !== numeric(b)) return numeric(a) ? -1 : 1;
    return a < b ? -1 : a > b ? 1 : 0;
  });
}

/** Finds `name` among `available` as SQL does (case-insensitively), preferring an exact match. */
export function findColumn(available: readonly string[], name: string): string | undefined {
  return (
    available.find((c) => c === name) ??
    available.find((c) => c.toLowerCase() === name.toLowerCase())
  );
}

/** "2026-12-07 08:00–09:00 UTC", or both dates when the window spans days. */
export function describeWindow(window: WindowBounds | undefined): string {
  if (!window) return "all time";
  const from = window.from.toISOString();
  const to = window.to.toISOString();
  const day = (iso: string) => iso.slice(0, 10);
  const time = (iso: string) =>
    iso.slice(17, 23) === "00.000" ? iso.slice(11, 16) : iso.slice(11, 19);
  return day(from) === day(to)
    ? `${day(from)} ${time(from)}–${time(to)} UTC`
    : `${day(from)} ${time(from)} – ${day(to)} ${time(to)} UTC`;
}

export function count(n: number): string {
  return n.toLocaleString("en-US");
}

/** ", sampled 100,000 of 2,345,678 rows (seeded reservoir sample)" or ", 1,234 rows". */
export function describeRows(m: Materialized): string {
  return m.sampled
    ? `, sampled ${count(m.rows)} of ${count(m.total)} rows (reservoir, seed ${SAMPLE_SEED})`
    : `, ${count(m.rows)} rows`;
}

/** A TIMESTAMP literal (UTC wall time) of a Date, for comparisons with window time columns. */
export function timestampSql(date: Date): string {
  return `${sqlString(date.toISOString())}::TIMESTAMPTZ::TIMESTAMP`;
}
