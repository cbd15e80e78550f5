import { z } from "zod";
import {
  MAX_MONITOR_NAME,
  MAX_MONITOR_RESULT_LIMIT,
  MAX_MONITOR_ROWS_PER_PUT,
} from "../store/monitor-result-rules.js";
import type {
  MonitorColumnSummary,
  MonitorResultRow,
  MonitorSummary,
  MonitorVersionSummary,
  MonitorWindowSummary,
} from "../store/types.js";
import { apiSchemas } from "./schemas.js";

/**
 * Request and response shapes of the monitoring results routes (see schemas.ts for the
 * conventions). They check types and bounds field by field, so a bad row is answered with a
 * 400 naming it (`rows.3.windowEnd`); the store checks the same rules again for its other
 * callers.
 */

function named<T extends z.ZodType>(id: string, schema: T): T {
  apiSchemas.add(schema, { id });
  return schema;
}

const ms = (what: string) =>
  z.number().int().min(0).describe(`${what}, milliseconds since the epoch`);
const nameField = (what: string) => z.string().min(1).max(MAX_MONITOR_NAME).describe(what);
const metricValue = z
  .number()
  .nullable()
  .describe('The value; null for "no data" (an empty window, no matched actuals)');

const rowFields = {
  model: nameField("The monitored model's name"),
  version: nameField("The model version that made the predictions"),
  windowStart: ms("Window start (inclusive)"),
  windowEnd: ms("Window end (exclusive)"),
  metric: nameField(
    "per column: drift_score, drifted (0|1), missing_share, new_category_share; per version: " +
      "dataset_drift (0|1), drift_share, rows, rmse, mae, bias, matched, training_rmse, regressed (0|1)",
  ),
  column: z
    .string()
    .max(MAX_MONITOR_NAME)
    .describe("The monitored column; empty for model-level metrics"),
  value: metricValue,
  runId: z
    .string()
    .regex(/^[0-9a-f]{32}$/, "must be a run id: 32 lowercase hex characters")
    .nullable()
    .describe("The monitoring run holding report.html; null when no run was recorded"),
};

export const monitorResultRowSchema: z.ZodType<MonitorResultRow> = named(
  "MonitorResultRow",
  z.strictObject(rowFields).refine((row) => row.windowEnd > row.windowStart, {
    message: "must be after windowStart",
    path: ["windowEnd"],
  }),
);

export const putMonitorResultsBody = named(
  "PutMonitorResults",
  z.strictObject({
    rows: z
      .array(monitorResultRowSchema)
      .max(MAX_MONITOR_ROWS_PER_PUT)
      .describe(
        "Inserted, or replacing the row of the same model, version, window, metric and column",
      ),
  }),
);

export const monitorResultListSchema = named(
  "MonitorResultList",
  z
    .array(monitorResultRowSchema)
    .describe("Newest window first, then version, metric and column by name"),
);

const epochQuery = (what: string) =>
  z.coerce.number().int().min(0).optional().describe(`${what}, milliseconds since the epoch`);

export const searchMonitorResultsQuery = z.strictObject({
  model: nameField("The monitored model's name"),
  version: nameField("Only this version").optional(),
  metric: z
    .union([nameField("metric"), z.array(nameField("metric"))])
    .transform((value) => (typeof value === "string" ? [value] : value))
    .optional()
    .describe("Only these metrics (repeat the parameter for several)"),
  column: z
    .string()
    .max(MAX_MONITOR_NAME)
    .optional()
    .describe("Only this column (empty: the model-level metrics)"),
  from: epochQuery("Only windows ending after this time"),
  to: epochQuery("Only windows starting before this time"),
  windowsPerVersion: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_MONITOR_RESULT_LIMIT)
    .optional()
    .describe("Only the rows of each version's newest this-many windows"),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_MONITOR_RESULT_LIMIT)
    .optional()
    .describe("At most this many rows (default 10,000)"),
});

export const monitorSummaryQuery = z.strictObject({
  model: nameField("The monitored model's name"),
  windows: z.coerce
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(100)
    .describe("Windows per version in the history (the newest; default 100)"),
});

const metricsMap = (what: string) => z.record(z.string(), metricValue).describe(what);

const windowSummaryFields = {
  windowStart: ms("Window start (inclusive)"),
  windowEnd: ms("Window end (exclusive)"),
  runId: z.string().nullable().describe("The monitoring run holding report.html, if any"),
  metrics: metricsMap("Model-level metric → value (dataset_drift, drift_share, rmse…)"),
};

const windowSummarySchema: z.ZodType<MonitorWindowSummary> = named(
  "MonitorWindowSummary",
  z.strictObject(windowSummaryFields),
);

const columnSummarySchema: z.ZodType<MonitorColumnSummary> = named(
  "MonitorColumnSummary",
  z.strictObject({
    column: z.string(),
    metrics: metricsMap("metric → value (drift_score, drifted, missing_share…)"),
  }),
);

const versionSummarySchema: z.ZodType<MonitorVersionSummary> = named(
  "MonitorVersionSummary",
  z.strictObject({
    version: z.string(),
    latest: z
      .strictObject({ ...windowSummaryFields, columns: z.array(columnSummarySchema) })
      .describe("The version's latest window, with its per-column rows"),
    windows: z
      .array(windowSummarySchema)
      .describe("The version's windows, oldest first, model-level metrics only"),
    truncated: z.boolean().describe("Older windows exist than `windows` holds"),
  }),
);

export const monitorSummarySchema: z.ZodType<MonitorSummary> = named(
  "MonitorSummary",
  z.strictObject({
    model: z.string(),
    versions: z
      .array(versionSummarySchema)
      .describe("Newest latest window first; empty when the model has no results yet"),
  }),
);
