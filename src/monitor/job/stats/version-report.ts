/**
 * Everything monitored about one model version: per column its kind, drift, missing values,
 * quantiles or new categories and histogram; the dataset's drift; the real error when the
 * actuals are known. All of it is computed in DuckDB over the window tables; what comes back
 * to JS is counts, extremes and sums (and a categorical column's counts per category).
 */
import type { DuckDBConnection } from "@duckdb/node-api";
import { UserError } from "../../../config/errors.js";
import { type Cell, datasetDrift, inferKind, INTEGER_CARDINALITY_LIMIT } from "../../drift.js";
import type {
  ActualsFrame,
  ColumnReport,
  FrameColumn,
  VersionReport,
  WindowFrame,
} from "../types.js";
import { categoricalStats } from "./categorical.js";
import { errorReport } from "./error-metrics.js";
import { numericalStats } from "./numerical.js";
import { columnSql, openSide, readRows, type Side } from "./sql.js";
import { missingCounts, summarize } from "./summary.js";

export const DEFAULT_PROBABILITIES: readonly number[] = [0.05, 0.25, 0.5, 0.75, 0.95];
/** The version a report names when it covers every row of the current window. */
export const ALL_VERSIONS = "all";

export interface VersionReportOptions {
  reference: WindowFrame;
  current: WindowFrame;
  /** The model version whose current rows are compared; null: all current rows. */
  version: string | null;
  actuals?: ActualsFrame;
  training?: { metric: string; rmse: number } | null;
  /** Dataset drift when at least this share of the columns drifts (Evidently: 0.5). */
  driftShare: number;
  /** The error regressed when rmse > training rmse × this factor. */
  rmseFactor: number;
  /** numpy-linear quantiles reported for numerical columns. */
  probabilities?: number[];
  /** Only actuals in the training target range count in the error (see ErrorReport). */
  targetRange?: { min: number; max: number; filter: string };
  /**
   * Kinds declared by the user (Evidently's column mapping: numerical_features,
   * categorical_features), over the inferred ones: zone ids are categories whatever their type.
   */
  kinds?: Readonly<Record<string, ColumnReport["kind"]>>;
}

function checkOptions(o: VersionReportOptions): readonly number[] {
  if (!(o.driftShare > 0 && o.driftShare <= 1))
    throw new UserError(`driftShare must be in (0, 1], got ${o.driftShare}`);
  if (!(o.rmseFactor > 0 && Number.isFinite(o.rmseFactor)))
    throw new UserError(`rmseFactor must be a positive number, got ${o.rmseFactor}`);
  const probabilities = o.probabilities ?? DEFAULT_PROBABILITIES;
  for (const p of probabilities)
    if (!(p >= 0 && p <= 1))
      throw new UserError(`quantile probabilities must lie in [0, 1], got ${p}`);
  return probabilities;
}

/** The monitored columns: the current window's, then any only the reference has. */
function monitoredColumns(reference: WindowFrame, current: WindowFrame): FrameColumn[] {
  const names = new Set(current.columns.map((c) => c.name));
  return [...current.columns, ...reference.columns.filter((c) => !names.has(c.name))];
}

/**
 * Evidently's kind (drift.ts `inferKind`) by the dtype and the reference's distinct values;
 * an integer column needs at most 11 of them to decide.
 */
async function columnKind(
  connection: DuckDBConnection,
  column: FrameColumn,
  reference: Side,
): Promise<ColumnReport["kind"]> {
  if (column.dtype !== "integer") return inferKind([], column.dtype);
  const sql = columnSql(reference, column.name);
  const rows = await readRows(
    connection,
    `SELECT DISTINCT ${sql.raw} AS v FROM ${reference.table}
     WHERE ${reference.filter} AND NOT ${sql.missing} LIMIT ${INTEGER_CARDINALITY_LIMIT + 1}`,
  );
  const values: Cell[] = rows.map((row) =>
    typeof row.v === "bigint" ? row.v.toString() : (row.v as Cell),
  );
  return inferKind(values, column.dtype);
}

function smallest(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.min(a, b);
}

function largest(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.max(a, b);
}

export async function computeVersionReport(
  connection: DuckDBConnection,
  o: VersionReportOptions,
): Promise<VersionReport> {
  const probabilities = checkOptions(o);
  const columns = monitoredColumns(o.reference, o.current);
  const names = columns.map((c) => c.name);
  const reference = await openSide(connection, o.reference.table, names, null);
  const current = await openSide(connection, o.current.table, names, o.version);
  const refSummary = await summarize(connection, reference, names);
  const curSummary = await summarize(connection, current, names);
  const reports: ColumnReport[] = [];
  for (const column of columns) {
    const kind = o.kinds?.[column.name] ?? (await columnKind(connection, column, reference));
    const base = {
      name: column.name,
      role: column.role,
      kind,
      missing: {
        reference: missingCounts(refSummary, column.name),
        current: missingCounts(curSummary, column.name),
      },
    };
    if (kind === "numerical") {
      const refCounts = refSummary.columns.get(column.name)!;
      const curCounts = curSummary.columns.get(column.name)!;
      const stats = await numericalStats(
        connection,
        column.name,
        {
          reference,
          current,
          referenceCount: refCounts.numbers,
          currentCount: curCounts.numbers,
          min: smallest(refCounts.min, curCounts.min),
          max: largest(refCounts.max, curCounts.max),
        },
        probabilities,
      );
      reports.push({
        ...base,
        drift: stats.drift,
        quantiles: { probabilities: [...probabilities], ...stats.quantiles },
        histogram: stats.histogram,
      });
    } else {
      const stats = await categoricalStats(connection, column.name, reference, current);
      reports.push({
        ...base,
        drift: stats.drift,
        newCategories: stats.newCategories,
        histogram: stats.histogram,
      });
    }
  }
  const report: VersionReport = {
    version: o.version ?? ALL_VERSIONS,
    rows: curSummary.rows,
    status: curSummary.rows === 0 ? "no_data" : "ok",
    columns: reports,
    dataset: datasetDrift(
      reports.map((r) => r.drift),
      o.driftShare,
    ),
  };
  if (o.actuals)
    report.error = await errorReport(connection, {
      current,
      prediction: o.current.columns.find((c) => c.role === "prediction")?.name,
      actuals: o.actuals,
      training: o.training ?? null,
      rmseFactor: o.rmseFactor,
      targetRange: o.targetRange,
    });
  return report;
}
