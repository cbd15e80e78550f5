/**
 * A categorical column's drift, new categories and histogram from its value counts: one
 * GROUP BY over both windows (a category per row, however many rows the windows hold), then
 * drift.ts's own tests on the counts.
 */
import type { DuckDBConnection } from "@duckdb/node-api";
import { type ColumnDrift, categoryCountsDrift } from "../../drift.js";
import type { ColumnReport, Histogram } from "../types.js";
import { columnSql, readRows, type Side, toNumber } from "./sql.js";

/** Categories a histogram lists; the rest are summed as "other". */
export const HISTOGRAM_CATEGORIES = 20;

export interface CategoricalStats {
  drift: ColumnDrift;
  newCategories: NonNullable<ColumnReport["newCategories"]>;
  histogram: Extract<Histogram, { kind: "categorical" }>;
}

interface CategoryCounts {
  labels: string[];
  reference: number[];
  current: number[];
}

function label(value: unknown): string {
  return typeof value === "bigint" ? value.toString() : String(value);
}

async function countCategories(
  connection: DuckDBConnection,
  name: string,
  reference: Side,
  current: Side,
): Promise<CategoryCounts> {
  const ref = columnSql(reference, name);
  const cur = columnSql(current, name);
  const rows = await readRows(
    connection,
    `SELECT k, count(*) FILTER (WHERE s = 0) AS r, count(*) FILTER (WHERE s = 1) AS c FROM (
       SELECT ${ref.raw} AS k, 0 AS s FROM ${reference.table} WHERE ${reference.filter} AND ${ref.usableCategory}
       UNION ALL
       SELECT ${cur.raw} AS k, 1 AS s FROM ${current.table} WHERE ${current.filter} AND ${cur.usableCategory}
     ) GROUP BY k ORDER BY k`,
  );
  return {
    labels: rows.map((row) => label(row.k)),
    reference: rows.map((row) => toNumber(row.r)),
    current: rows.map((row) => toNumber(row.c)),
  };
}

export async function categoricalStats(
  connection: DuckDBConnection,
  name: string,
  reference: Side,
  current: Side,
): Promise<CategoricalStats> {
  const counts = await countCategories(connection, name, reference, current);
  return {
    drift: categoryCountsDrift(counts.reference, counts.current, "categorical"),
    newCategories: newCategories(counts),
    histogram: histogram(counts),
  };
}

/** drift.ts `newCategoryShare` from the counts: current values whose category the reference lacks. */
function newCategories(counts: CategoryCounts): CategoricalStats["newCategories"] {
  let count = 0;
  let newValues = 0;
  let distinctNew = 0;
  counts.current.forEach((n, i) => {
    count += n;
    if (n > 0 && counts.reference[i] === 0) {
      newValues += n;
      distinctNew++;
    }
  });
  return { count, newValues, distinctNew, share: count === 0 ? null : newValues / count };
}

/**
 * The categories most frequent in either window, ranked by the sum of their shares in both
 * (so a large current window does not drown the reference), ties by label.
 */
function histogram(counts: CategoryCounts): CategoricalStats["histogram"] {
  const sum = (values: number[]) => values.reduce((s, n) => s + n, 0);
  const totalRef = sum(counts.reference);
  const totalCur = sum(counts.current);
  const share = counts.labels.map(
    (_, i) =>
      (totalRef > 0 ? counts.reference[i] / totalRef : 0) +
      (totalCur > 0 ? counts.current[i] / totalCur : 0),
  );
  const top = counts.labels
    .map((_, i) => i)
    .sort(
      (a, b) =>
        share[b] - share[a] ||
        (counts.labels[a] < counts.labels[b] ? -1 : counts.labels[a] > counts.labels[b] ? 1 : 0),
    )
    .slice(0, HISTOGRAM_CATEGORIES);
  const reference = top.map((i) => counts.reference[i]);
  const current = top.map((i) => counts.current[i]);
  return {
    kind: "categorical",
    categories: top.map((i) => counts.labels[i]),
    reference,
    current,
    otherReference: totalRef - sum(reference),
    otherCurrent: totalCur - sum(current),
  };
}
