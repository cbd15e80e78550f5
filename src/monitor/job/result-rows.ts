import type { MonitorResult, MonitorResultRow } from "./types.js";

const flag = (value: boolean | null | undefined): number | null =>
  value === null || value === undefined ? null : value ? 1 : 0;

/**
 * The registry table's rows of one pass (see MonitorResultRow for the metric names): per
 * version, its model-level numbers (column ''), then per column its drift and data quality.
 * "No data" is a row with a null value, so a window without predictions is visible as such.
 */
export function resultRows(result: MonitorResult, runId: string | null): MonitorResultRow[] {
  const windowStart = Date.parse(result.window.from);
  const windowEnd = Date.parse(result.window.to);
  const rows: MonitorResultRow[] = [];
  for (const report of result.versions) {
    const add = (metric: string, value: number | null, column = "") =>
      rows.push({
        model: result.model,
        version: report.version,
        windowStart,
        windowEnd,
        metric,
        column,
        value: value !== null && Number.isFinite(value) ? value : null,
        runId,
      });
    add("rows", report.rows);
    const dataset = report.dataset;
    add("dataset_drift", dataset.status === "ok" ? flag(dataset.datasetDrift) : null);
    add("drift_share", dataset.status === "ok" ? dataset.share : null);
    const error = report.error;
    if (error) {
      add("matched", error.matched);
      if (error.outOfRange !== undefined) add("out_of_range", error.outOfRange);
      add("rmse", error.rmse);
      add("mae", error.mae);
      add("bias", error.bias);
      add("training_rmse", error.training?.rmse ?? null);
      add("regressed", flag(error.regressed));
    }
    for (const column of report.columns) {
      const drift = column.drift;
      add("drift_score", drift.status === "ok" ? drift.score : null, column.name);
      add("drifted", drift.status === "ok" ? flag(drift.drifted) : null, column.name);
      add("missing_share", column.missing.current.share, column.name);
      if (column.newCategories) add("new_category_share", column.newCategories.share, column.name);
    }
  }
  return rows;
}
