/**
 * One scan per window for every column at once: rows, missing values, and the values each
 * kind of test keeps, so the per-column queries know their sample sizes beforehand.
 */
import type { DuckDBConnection } from "@duckdb/node-api";
import type { MissingCounts } from "../types.js";
import { columnSql, readRows, type Side, toNumber, toNumberOrNull } from "./sql.js";

export interface ColumnCounts {
  missing: number;
  /** Finite values (what a numerical test sees). */
  numbers: number;
  /** Non-missing values other than ±inf (what a categorical test sees). */
  categories: number;
  /** Smallest and largest finite value (null without one). */
  min: number | null;
  max: number | null;
}

export interface SideSummary {
  rows: number;
  columns: Map<string, ColumnCounts>;
}

export async function summarize(
  connection: DuckDBConnection,
  side: Side,
  names: readonly string[],
): Promise<SideSummary> {
  const aggregates = ["count(*) AS n"];
  names.forEach((name, i) => {
    const sql = columnSql(side, name);
    aggregates.push(
      `count(*) FILTER (WHERE ${sql.missing}) AS m${i}`,
      `count(*) FILTER (WHERE ${sql.usableNumber}) AS f${i}`,
      `count(*) FILTER (WHERE ${sql.usableCategory}) AS c${i}`,
      `min(${sql.number}) FILTER (WHERE ${sql.usableNumber}) AS lo${i}`,
      `max(${sql.number}) FILTER (WHERE ${sql.usableNumber}) AS hi${i}`,
    );
  });
  const [row] = await readRows(
    connection,
    `SELECT ${aggregates.join(", ")} FROM ${side.table} WHERE ${side.filter}`,
  );
  const columns = new Map<string, ColumnCounts>();
  names.forEach((name, i) =>
    columns.set(name, {
      missing: toNumber(row[`m${i}`]),
      numbers: toNumber(row[`f${i}`]),
      categories: toNumber(row[`c${i}`]),
      min: toNumberOrNull(row[`lo${i}`]),
      max: toNumberOrNull(row[`hi${i}`]),
    }),
  );
  return { rows: toNumber(row.n), columns };
}

/** drift.ts `missingShare` from the counts. */
export function missingCounts(summary: SideSummary, name: string): MissingCounts {
  const missing = summary.columns.get(name)?.missing ?? 0;
  const total = summary.rows;
  return { total, missing, share: total === 0 ? null : missing / total };
}
