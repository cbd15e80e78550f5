/**
 * Window tables for the statistics tests: the same rows go into a DuckDB table (as the
 * sources would load them) and stay in JS arrays for drift.ts's in-memory rules.
 */
import type { DuckDBAppender, DuckDBConnection } from "@duckdb/node-api";
import type { Cell, ColumnDtype } from "../../../src/monitor/drift.js";
import type { FrameColumn, WindowFrame } from "../../../src/monitor/job/types.js";

export interface TestColumn {
  name: string;
  dtype: ColumnDtype;
  role?: FrameColumn["role"];
  /** DuckDB type; default from the dtype (DOUBLE, BIGINT, VARCHAR, BOOLEAN). */
  sqlType?: string;
}

export interface TestWindow {
  table: string;
  columns: TestColumn[];
  /** Per row: the model version that predicted it (null for training rows). */
  versions: (string | null)[];
  ids?: (string | null)[];
  values: Record<string, Cell[]>;
}

const SQL_TYPES: Record<ColumnDtype, string> = {
  float: "DOUBLE",
  integer: "BIGINT",
  string: "VARCHAR",
  boolean: "BOOLEAN",
};

function appendCell(appender: DuckDBAppender, sqlType: string, value: Cell): void {
  if (value === null || value === undefined) appender.appendNull();
  else if (sqlType === "DOUBLE") appender.appendDouble(value as number);
  else if (sqlType === "BIGINT") appender.appendBigInt(BigInt(value as number));
  else if (sqlType === "INTEGER") appender.appendInteger(value as number);
  else if (sqlType === "BOOLEAN") appender.appendBoolean(value as boolean);
  else appender.appendVarchar(String(value));
}

/** Creates the window table and fills it; returns its WindowFrame. */
export async function loadWindow(
  connection: DuckDBConnection,
  w: TestWindow,
  kind: WindowFrame["kind"] = "log",
): Promise<WindowFrame> {
  const types = w.columns.map((c) => c.sqlType ?? SQL_TYPES[c.dtype]);
  await connection.run(
    `CREATE OR REPLACE TABLE ${w.table} (time TIMESTAMP, version VARCHAR, id VARCHAR, ${w.columns
      .map((c, i) => `"${c.name}" ${types[i]}`)
      .join(", ")})`,
  );
  const appender = await connection.createAppender(w.table);
  for (let row = 0; row < w.versions.length; row++) {
    appender.appendNull();
    appendCell(appender, "VARCHAR", w.versions[row]);
    appendCell(appender, "VARCHAR", w.ids?.[row] ?? null);
    w.columns.forEach((c, i) => appendCell(appender, types[i], w.values[c.name][row]));
    appender.endRow();
  }
  appender.flushSync();
  appender.closeSync();
  const versions = [...new Set(w.versions.filter((v): v is string => v !== null))].sort();
  return {
    table: w.table,
    rows: w.versions.length,
    columns: w.columns.map((c) => ({ name: c.name, role: c.role ?? "input", dtype: c.dtype })),
    description: `test window ${w.table}`,
    kind,
    skipped: [],
    versions,
  };
}

/** The values of `column` in the rows of `version` (null: all rows). */
export function valuesOf(w: TestWindow, column: string, version: string | null): Cell[] {
  const values = w.values[column];
  if (values === undefined) return [];
  return version === null ? values : values.filter((_, i) => w.versions[i] === version);
}

/** Sprinkles missing and infinite values over a column (every `every`-th row from `offset`). */
export function withGaps(
  values: Cell[],
  every: number,
  offset = 0,
  cells: Cell[] = [null],
): Cell[] {
  return values.map((v, i) =>
    i % every === offset ? cells[Math.floor(i / every) % cells.length] : v,
  );
}
