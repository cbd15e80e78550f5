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
  const [row] =
    o.prediction === undefined || !current.types.has(o.prediction)
      ? await readRows(
          connection,
          `SELECT count(*) AS predictions, 0 AS matched, NULL AS rmse, NULL AS mae, NULL AS bias
           FROM ${current.table} WHERE ${current.filter}`,
        )
      : await readRows(
          connection,
          `WITH a AS (
             SELECT id, min(actual) AS actual FROM ${actuals}
             WHERE id IS NOT NULL AND isfinite(actual) GROUP BY id
           ), p AS (
             SELECT w.prediction - a.actual AS d
             FROM (
               SELECT id, CAST(${sqlIdentifier(o.prediction)} AS DOUBLE) AS prediction
               FROM ${current.table} WHERE ${current.filter}
             ) AS w LEFT JOIN a ON w.id = a.id
           )
           SELECT count(*) AS predictions,
                  count(*) FILTER (WHERE isfinite(d)) AS matched,
                  sqrt(avg(d * d) FILTER (WHERE isfinite(d))) AS rmse,
                  avg(abs(d)) FILTER (WHERE isfinite(d)) AS mae,
                  avg(d) FILTER (WHERE isfinite(d)) AS bias
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
    factor: o.rmseFactor,
    regressed: rmse === null || training === null ? null : rmse > training.rmse * o.rmseFactor,
  };
}
