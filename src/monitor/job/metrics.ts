import { Counter, Gauge, Pushgateway, Registry } from "prom-client";
import type { Logger } from "../../log/logger.js";
import type { MonitorResult } from "./types.js";

/** The Pushgateway `job` the passes are pushed under; each monitored model is its own group. */
export const MONITOR_PUSHGATEWAY_JOB = "mldeploy_monitor";

export interface MonitorMetrics {
  /** The monitor's metrics only: what is pushed to a Pushgateway. */
  readonly registry: Registry;
  /** The last pass's numbers replace the previous pass's (a version gone from the window disappears). */
  observe(result: MonitorResult): void;
  passEnded(status: "FINISHED" | "FAILED", durationMs: number): void;
}

/**
 * Prometheus metrics of `mldeploy monitor`, named as deploy/prometheus/mldeploy-rules.yml reads
 * them: mldeploy_drift_score{model,version,column}, mldeploy_dataset_drift{model,version},
 * mldeploy_model_rmse{model,version}, mldeploy_model_training_rmse{model,version}. A gauge is
 * absent (not 0, not NaN) when its window had no data: an alert must not fire on "no data".
 */
export function createMonitorMetrics(): MonitorMetrics {
  const registry = new Registry();
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Gauge({ name, help, labelNames, registers: [registry] });
  const driftScore = gauge(
    "mldeploy_drift_score",
    "Drift statistic of a column in the last window: a p-value (ks, chisquare, z: drift when below the threshold) or a distance (wasserstein, jensenshannon: drift when at or above it); see mldeploy_column_drifted",
    ["model", "version", "column", "method"],
  );
  const columnDrifted = gauge(
    "mldeploy_column_drifted",
    "1 when the column drifted in the last window (Evidently's default test and threshold), else 0",
    ["model", "version", "column"],
  );
  const datasetDrift = gauge(
    "mldeploy_dataset_drift",
    "1 when at least the drift share of the columns drifted in the last window, else 0",
    ["model", "version"],
  );
  const driftShare = gauge(
    "mldeploy_drifted_columns_share",
    "Share of the monitored columns that drifted in the last window",
    ["model", "version"],
  );
  const missingShare = gauge(
    "mldeploy_missing_values_share",
    "Share of missing values of a column in the last window",
    ["model", "version", "column"],
  );
  const newCategories = gauge(
    "mldeploy_new_category_share",
    "Share of a categorical column's values in the last window never seen in the reference",
    ["model", "version", "column"],
  );
  const windowRows = gauge(
    "mldeploy_monitor_window_rows",
    "Predictions of the version in the last window",
    ["model", "version"],
  );
  const rmse = gauge(
    "mldeploy_model_rmse",
    "RMSE of the version's predictions in the last window that have an actual value",
    ["model", "version"],
  );
  const mae = gauge("mldeploy_model_mae", "Mean absolute error in the last window", [
    "model",
    "version",
  ]);
  const bias = gauge(
    "mldeploy_model_bias",
    "Mean of prediction minus actual in the last window (positive: predicts too high)",
    ["model", "version"],
  );
  const trainingRmse = gauge(
    "mldeploy_model_training_rmse",
    "The version's RMSE at training (its run's valid_rmse, else train_rmse)",
    ["model", "version"],
  );
  const matched = gauge(
    "mldeploy_monitor_matched_rows",
    "Predictions of the last window joined with an actual value",
    ["model", "version"],
  );
  const lastPass = gauge(
    "mldeploy_monitor_last_success_timestamp_seconds",
    "When a monitoring pass last finished (Unix time)",
    ["model"],
  );
  const passes = new Counter({
    name: "mldeploy_monitor_runs_total",
    help: "Monitoring passes by status: FINISHED or FAILED",
    labelNames: ["status"],
    registers: [registry],
  });
  const perPass = [
    driftScore,
    columnDrifted,
    datasetDrift,
    driftShare,
    missingShare,
    newCategories,
    windowRows,
    rmse,
    mae,
    bias,
    trainingRmse,
    matched,
  ];
  const setIf = <L extends string>(
    target: Gauge<L>,
    labels: Partial<Record<L, string>>,
    value: number | null | undefined,
  ) => {
    if (value !== null && value !== undefined && Number.isFinite(value)) target.set(labels, value);
  };
  let model = "";
  return {
    registry,
    observe(result) {
      for (const metric of perPass) metric.reset();
      model = result.model;
      for (const report of result.versions) {
        const labels = { model: result.model, version: report.version };
        windowRows.set(labels, report.rows);
        if (report.dataset.status === "ok") {
          datasetDrift.set(labels, report.dataset.datasetDrift ? 1 : 0);
          driftShare.set(labels, report.dataset.share);
        }
        for (const column of report.columns) {
          const columnLabels = { ...labels, column: column.name };
          if (column.drift.status === "ok") {
            driftScore.set({ ...columnLabels, method: column.drift.method }, column.drift.score);
            columnDrifted.set(columnLabels, column.drift.drifted ? 1 : 0);
          }
          setIf(missingShare, columnLabels, column.missing.current.share);
          setIf(newCategories, columnLabels, column.newCategories?.share);
        }
        const error = report.error;
        if (error) {
          matched.set(labels, error.matched);
          setIf(rmse, labels, error.rmse);
          setIf(mae, labels, error.mae);
          setIf(bias, labels, error.bias);
          setIf(trainingRmse, labels, error.training?.rmse);
        }
      }
    },
    passEnded(status) {
      passes.inc({ status });
      if (status === "FINISHED" && model !== "") lastPass.set({ model }, Date.now() / 1000);
    },
  };
}

/**
 * Pushes a pass's metrics to a Prometheus Pushgateway into the group
 * `job="mldeploy_monitor"`, `model_uri=<the --model URI>` (a PUT: the group is replaced, so a
 * version gone from the window does not linger there). An unreachable gateway is a warning:
 * the pass is recorded in the registry anyway.
 */
export function monitorPusher(
  url: string,
  modelUri: string,
  registry: Registry,
  logger: Logger,
): { push(): Promise<void> } {
  const gateway = new Pushgateway(url, { timeout: 10_000 }, registry);
  // base64url in the URL (the gateway's `@base64` form): a URI holds slashes.
  const groupings = { "model_uri@base64": Buffer.from(modelUri).toString("base64url") };
  return {
    async push() {
      try {
        await gateway.push({ jobName: MONITOR_PUSHGATEWAY_JOB, groupings });
        logger.debug({ pushgateway: url }, "metrics pushed");
      } catch (error) {
        logger.warn(
          { pushgateway: url, err: error },
          `could not push metrics to ${url}: ${(error as Error).message}`,
        );
      }
    },
  };
}
