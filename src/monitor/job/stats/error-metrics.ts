/**
 * Real error of one model version: its predictions in the current window joined by id with
 * the actual values that arrived later. One join in DuckDB; only the sums come back.
 */
import type { DuckDBConnection } from "@duckdb/node-api";
import { sqlIdentifier } from "../../../duckdb/index.js";
import type { ActualsFrame, ErrorReport } from "../types.js";
import { UserError } from "../../../config/errors.js";
import { columnSql, readRows, type Side, toNumber, toNumberOrNull } from "./sql.js";

export interface ErrorOptions {
  current: Side;
  /** The prediction column of the window, or undefined when the window has none. */
  prediction: string | undefined;
  actuals: ActualsFrame;
  training: { metric: string; rmse: number } | null;
  rmseFactor: number;
  /** Only actuals in this range count (the training target filter); the rest are counted apart. */
  targetRange?: { min: number; max: number; filter: string };
}

/**
 * RMSE, MAE and bias (mean of prediction − actual) over the predictions whose id has an
 * actual, both values finite. An id the actuals table lists more than once counts with its
 * smallest value, so a re-delivered actual does not weigh a prediction twice. Nothing matched:
 * the metrics are null ("no data") and nothing is flagged.
 */
export async function errorReport(
  connection: DuckDBConnection,
  o: ErrorOptions,
): Promise<ErrorReport> {
  const { current } = o;
  if (o.prediction !== undefined && !columnSql(current, o.prediction).numeric)
    throw new UserError(
      `actuals: the prediction column ${o.prediction} holds ${columnSql(current, o.prediction).type} values, not numbers; RMSE needs numbers`,
    );
  const actuals = sqlIdentifier(o.actuals.table);
  const range = o.targetRange;
  const inRange =
    range === undefined
      ? "true"
      : `(actual >= ${Number(range.min)} AND actual <= ${Number(range.max)})`;
  const [row] =
    o.prediction === undefined || !current.types.has(o.prediction)
      ? await readRows(
          connection,
          `SELECT count(*) AS predictions, 0 AS matched, 0 AS out_of_range, NULL AS rmse, NULL AS mae, NULL AS bias
           FROM ${current.table} WHERE ${current.filter}`,
        )
      : await readRows(
          connection,
          `WITH a0 AS (
             SELECT id, min(actual) AS actual FROM ${actuals}
             WHERE id IS NOT NULL AND isfinite(actual) GROUP BY id
           ), a AS (
             SELECT id, actual, ${inRange} AS in_range FROM a0
           ), p AS (
             SELECT w.prediction - a.actual AS d, a.in_range
             FROM (
               SELECT id, CAST(${sqlIdentifier(o.prediction)} AS DOUBLE) AS prediction
               FROM ${current.table} WHERE ${current.filter}
             ) AS w LEFT JOIN a ON w.id = a.id
           )
           SELECT count(*) AS predictions,
                  count(*) FILTER (WHERE isfinite(d) AND in_range) AS matched,
                  count(*) FILTER (WHERE isfinite(d) AND NOT in_range) AS out_of_range,
                  sqrt(avg(d * d) FILTER (WHERE isfinite(d) AND in_range)) AS rmse,
                  avg(abs(d)) FILTER (WHERE isfinite(d) AND in_range) AS mae,
                  avg(d) FILTER (WHERE isfinite(d) AND in_range) AS bias
           FROM p`,
        );
  const rmse = toNumberOrNull(row.rmse);
  const training = o.training ?? null;
  return {
    predictions: toNumber(row.predictions),
    matched: toNumber(row.matched),
    rmse,
    mae: toNumberOrNull(row.mae),
    bias: toNumberOrNull(row.bias),
    training,
    ...(range ? { targetRange: range, outOfRange: toNumber(row.out_of_range) } : {}),
    factor: o.rmseFactor,
    regressed: rmse === null || training === null ? null : rmse > training.rmse * o.rmseFactor,
  };
}
