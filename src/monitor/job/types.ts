/**
 * The shapes `mldeploy monitor` passes between its parts: windows loaded into DuckDB
 * (monitor/job/sources), statistics computed on them (monitor/job/stats), the result of one
 * monitoring pass (what the registry table, the Prometheus metrics, the HTML report and the
 * UI show).
 *
 * The pipeline of one pass:
 *   sources  → a reference and a current WindowFrame (DuckDB tables, one row per prediction)
 *              and, when truth arrives, an ActualsFrame (id → actual value)
 *   stats    → per version of the current window: ColumnReport per monitored column,
 *              DatasetDrift, ErrorReport
 *   job      → MonitorResult → results table rows, metrics, report.html (a run in experiment
 *              `monitoring`)
 */
import type { ColumnDrift, ColumnDtype, ColumnKind, DatasetDrift } from "../drift.js";
import type { SkippedFile } from "../prediction-log/reader.js";

/** The experiment whose runs hold the monitoring reports (artifact `report.html`). */
export const MONITORING_EXPERIMENT = "monitoring";
/** The report's artifact path inside its run. */
export const REPORT_ARTIFACT = "report.html";
/** The result's JSON (the MonitorResult below) beside the report. */
export const RESULT_ARTIFACT = "result.json";
/** Version of the MonitorResult shape, written into result.json. */
export const MONITOR_RESULT_FORMAT = 1;

/** Half-open time window [from, to), ISO-8601 UTC strings. */
export interface TimeWindow {
  from: string;
  to: string;
}

/** A monitored column of a window table. */
export interface FrameColumn {
  /** The column's name in the DuckDB table (the model signature's name, e.g. trip_distance). */
  name: string;
  /** An input of the model, or its prediction (the model's output, e.g. duration). */
  role: "input" | "prediction";
  /** Storage type (decides Evidently's kind together with the reference's distinct values). */
  dtype: ColumnDtype;
}

/**
 * Rows of one window in a DuckDB table of the monitor's connection. Every window table has
 * the columns `time TIMESTAMP` (UTC wall time; NULL when unknown, e.g. training rows),
 * `version VARCHAR` (the model version that predicted the row; NULL for training rows),
 * `id VARCHAR` (NULL when unknown), then the `columns` below under their own names.
 */
export interface WindowFrame {
  /** DuckDB table name (unquoted identifier made of [a-z0-9_]). */
  table: string;
  rows: number;
  /** Monitored columns present in this window (inputs first, the prediction last). */
  columns: FrameColumn[];
  /** Where the rows came from, for people: "prediction log, 12 files, 2026-12-07 08:00–09:00 UTC". */
  description: string;
  kind: "training" | "log" | "batch";
  /** Part files the reader skipped (torn, other format, other model), with why. */
  skipped: SkippedFile[];
  /** Distinct versions present (sorted numerically when numeric); empty for training rows. */
  versions: string[];
}

/** Actual values (the truth, arriving later) in a DuckDB table `(id VARCHAR, actual DOUBLE)`. */
export interface ActualsFrame {
  table: string;
  rows: number;
  description: string;
}

/** Counts of a histogram; numerical: `edges.length === counts.length + 1`. */
export type Histogram =
  | {
      kind: "numerical";
      /** Shared bin edges (both windows on the same bins), from the union's range. */
      edges: number[];
      reference: number[];
      current: number[];
    }
  | {
      kind: "categorical";
      /** The most frequent categories of both windows (at most 20), as text. */
      categories: string[];
      reference: number[];
      current: number[];
      /** Rows in categories not listed. */
      otherReference: number;
      otherCurrent: number;
    };

export interface MissingCounts {
  total: number;
  missing: number;
  /** null when the window is empty. */
  share: number | null;
}

/** One monitored column of one model version in one window. */
export interface ColumnReport {
  name: string;
  role: FrameColumn["role"];
  kind: ColumnKind;
  drift: ColumnDrift;
  missing: { reference: MissingCounts; current: MissingCounts };
  /** Numerical columns: numpy-linear quantiles at `probabilities`; null side = no values. */
  quantiles?: {
    probabilities: number[];
    reference: number[] | null;
    current: number[] | null;
  };
  /** Categorical columns: current values never seen in the reference (unseen zone pairs…). */
  newCategories?: { count: number; newValues: number; distinctNew: number; share: number | null };
  histogram: Histogram;
}

/** Real error of one model version over the current window, when actuals are known. */
export interface ErrorReport {
  /** Predictions of this version in the window. */
  predictions: number;
  /** Of those, how many have an actual (joined by id). */
  matched: number;
  /** null when nothing matched ("no data"). */
  rmse: number | null;
  mae: number | null;
  /** mean(prediction − actual): positive = the model predicts too long. */
  bias: number | null;
  /** The version's training metric compared against (its run's valid_rmse, else train_rmse). */
  training: { metric: string; rmse: number } | null;
  /**
   * The target range the model was trained on (the trainer's filter, e.g. 1 ≤ duration ≤ 60):
   * actuals outside it are left out of the metrics, as they were left out of the training
   * RMSE, and counted in `outOfRange`. Absent when every actual counts.
   */
  targetRange?: { min: number; max: number; filter: string };
  /** Matched actuals left out because they fall outside `targetRange`. */
  outOfRange?: number;
  /** Flagged when rmse > training.rmse × factor. */
  factor: number;
  /** null when either side is unknown. */
  regressed: boolean | null;
}

/** Everything monitored about one model version in the current window. */
export interface VersionReport {
  version: string;
  /** Rows of this version in the current window. */
  rows: number;
  status: "ok" | "no_data";
  columns: ColumnReport[];
  dataset: DatasetDrift;
  /** Absent when no actuals source was given. */
  error?: ErrorReport;
}

/** One monitoring pass over one model. */
export interface MonitorResult {
  format: typeof MONITOR_RESULT_FORMAT;
  model: string;
  /** The URI as given (`models:/ride-duration@production`). */
  modelUri: string;
  generatedAt: string;
  window: TimeWindow;
  reference: { kind: WindowFrame["kind"]; description: string; rows: number; runId?: string };
  current: { kind: WindowFrame["kind"]; description: string; rows: number };
  actuals?: { description: string; rows: number };
  /** One per version present in the current window (or the one version asked for). */
  versions: VersionReport[];
  skipped: SkippedFile[];
  /** Settings that shaped the result (drift share, RMSE factor, quantile probabilities…). */
  settings: { driftShare: number; rmseFactor: number };
}

/** Rows of the registry's monitoring results table (defined by the registry, below monitor). */
export type { MonitorResultRow, MonitorResultQuery } from "../../registry/store/types.js";
