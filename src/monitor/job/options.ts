import { z } from "zod";
import {
  columnListSetting,
  intSetting,
  logFormatSetting,
  logLevelSetting,
  metricsHostSetting,
  modelSetting,
} from "../../config/settings.js";
import { DEFAULT_DRIFT_SHARE } from "../drift.js";

const DURATION = /^\d+(ms|s|m|h|d)$/;
const DURATION_MESSAGE = "must be a number and a unit: 30s, 15m, 1h, 1d";

/** ISO-8601 time (a date alone means its midnight UTC). */
const instant = z
  .string()
  .min(1)
  .refine((value) => !Number.isNaN(Date.parse(value)), {
    message: "must be an ISO-8601 time, e.g. 2026-12-07T08:00:00Z or 2026-12-07",
  });

const columnList = columnListSetting();

const booleanSetting = () =>
  z.union([z.boolean(), z.enum(["true", "false"]).transform((v) => v === "true")]);

/** RMSE above the training RMSE by this factor is a regression (the Prometheus rule's default too). */
export const DEFAULT_RMSE_FACTOR = 1.2;
export const DEFAULT_WINDOW = "1d";

/**
 * Options of `mldeploy monitor`. The CLI merges flags > MLDEPLOY_* env > the config file's
 * `monitor:` section and validates with this schema.
 */
export const monitorOptionsSchema = z
  .object({
    model: modelSetting(),
    current: z
      .string()
      .min(1)
      .default("log")
      .describe(
        "The predictions to check: `log` (the prediction log of serve and stream), or a batch job's sink: sqlite:<file>, postgres://…, a .parquet/.csv file",
      ),
    currentTable: z
      .string()
      .min(1)
      .optional()
      .describe("The batch sink's prediction table (SQL sinks), e.g. ride_predictions"),
    idColumn: z
      .string()
      .min(1)
      .default("ride_id")
      .describe("The batch sink's id column (the batch job's --id-column)"),
    logPredictionsDir: z
      .string()
      .min(1)
      .optional()
      .describe("Where the prediction log is; default <data-dir>/prediction-log"),
    logPredictionsTo: z
      .string()
      .regex(/^(s3|postgres|postgresql):\/\//, "must be an s3:// or postgres:// URL")
      .optional()
      .describe(
        "Read the prediction log from where serve/stream sent it (s3://bucket/prefix or postgres://…?table=…) instead of --log-predictions-dir",
      ),
    allVersions: booleanSetting()
      .default(false)
      .describe(
        "Check every version that predicted in the window, each against its own training data (default: only the version the --model URI names now)",
      ),
    window: z
      .string()
      .regex(DURATION, DURATION_MESSAGE)
      .default(DEFAULT_WINDOW)
      .describe("Length of the current window, ending at --window-end (15m, 1h, 1d, 7d)"),
    windowEnd: instant
      .optional()
      .describe("End of the current window (ISO-8601, exclusive); default now"),
    reference: z
      .string()
      .min(1)
      .default("training")
      .describe(
        "What the current window is compared with: `training` (the training data of the model version's run), `log` (a period of the prediction log: --reference-from/--reference-to), or a Parquet/CSV file, sqlite:<file> or postgres://… (with --reference-table)",
      ),
    referenceTable: z
      .string()
      .min(1)
      .optional()
      .describe("Table of a SQL --reference (a batch sink's prediction table)"),
    referenceFrom: instant.optional().describe("Start of the reference period of the log"),
    referenceTo: instant.optional().describe("End of the reference period of the log (exclusive)"),
    actuals: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Where the true values are: sqlite:<file>, postgres://… (with --actuals-table) or a Parquet/CSV file; a batch sink with an actual column needs none",
      ),
    actualsTable: z.string().min(1).optional().describe("Table of a SQL --actuals"),
    actualsIdColumn: z
      .string()
      .min(1)
      .default("ride_id")
      .describe("The id column of --actuals (joined with the logged id)"),
    actualsColumn: z
      .string()
      .min(1)
      .optional()
      .describe(
        "The true value's column of --actuals (default actual_<output>, e.g. actual_duration)",
      ),
    actualsRange: z
      .enum(["training", "all"])
      .default("training")
      .describe(
        "Which actual values count in RMSE, MAE and bias: `training` = those in the target range the model was trained on (the trainer's filter, e.g. 1 <= duration <= 60; the others are counted apart), as its training RMSE counted them; `all` = every one",
      ),
    categorical: columnList
      .default([])
      .describe(
        "Columns to test as categories whatever their type (Evidently's categorical_features), e.g. PULocationID,DOLocationID: zone ids are labels, not quantities",
      ),
    combine: z
      .union([z.string(), z.array(z.string())])
      .transform((value) => (Array.isArray(value) ? value : [value]))
      .pipe(
        z.array(
          z
            .string()
            .regex(
              /^[A-Za-z_][A-Za-z0-9_]*=[A-Za-z_][A-Za-z0-9_]*(,[A-Za-z_][A-Za-z0-9_]*)+$/,
              "must look like NAME=COLUMN,COLUMN[,…], e.g. PU_DO=PULocationID,DOLocationID",
            ),
        ),
      )
      .default([])
      .describe(
        'Also monitor a category made of several columns joined by "_" (repeatable), e.g. PU_DO=PULocationID,DOLocationID: its drift and its unseen combinations (zone pairs the model never saw)',
      ),
    numerical: columnList
      .default([])
      .describe(
        "Columns to test as numbers whatever their type (Evidently's numerical_features); others follow Evidently's rule (an integer column with at most 10 distinct values is categorical)",
      ),
    driftShare: z.coerce
      .number()
      .gt(0)
      .max(1)
      .default(DEFAULT_DRIFT_SHARE)
      .describe("The dataset drifts when at least this share of its columns does (Evidently: 0.5)"),
    rmseFactor: z.coerce
      .number()
      .min(1)
      .default(DEFAULT_RMSE_FACTOR)
      .describe("Flag a regression when the RMSE exceeds the training RMSE times this"),
    maxRows: intSetting(1_000, 1_000_000_000)
      .optional()
      .describe(
        "Sample each window down to this many rows (fixed seed) when it has more; default: every row",
      ),
    memoryLimit: z
      .string()
      .regex(/^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i, "must be a size, e.g. 512MB or 2GB")
      .default("1GB")
      .describe("Most memory DuckDB uses for the aggregation (beyond it, it spills to disk)"),
    out: z
      .string()
      .min(1)
      .optional()
      .describe("Also write the HTML report to this file (it is always stored with the run)"),
    dryRun: booleanSetting()
      .default(false)
      .describe(
        "Print only: record nothing in the registry (no results rows, no run in experiment `monitoring`)",
      ),
    every: z
      .string()
      .regex(DURATION, DURATION_MESSAGE)
      .optional()
      .describe("Run again at this interval (15m, 1h, 1d); without --every/--cron: run once"),
    cron: z.string().min(1).optional().describe('Run on a cron schedule, e.g. "5 * * * *"'),
    metricsHost: metricsHostSetting(),
    metricsPort: intSetting(0, 65535)
      .optional()
      .describe(
        "Serve the drift and error metrics on GET /metrics at this port (0 = any free port; unset = none)",
      ),
    pushgateway: z
      .string()
      .regex(/^https?:\/\/[^/\s]+/, "must be an http:// or https:// URL")
      .optional()
      .describe("Prometheus Pushgateway URL: push the metrics after every pass"),
    json: booleanSetting().default(false).describe("Print the result as JSON instead of a table"),
    logLevel: logLevelSetting(),
    logFormat: logFormatSetting(),
  })
  .strict()
  .superRefine((options, ctx) => {
    const both = options.categorical.filter((name) => options.numerical.includes(name));
    if (both.length > 0)
      ctx.addIssue({
        code: "custom",
        path: ["numerical"],
        message: `${both.join(", ")} cannot be both --categorical and --numerical`,
      });
    if (options.every !== undefined && options.cron !== undefined)
      ctx.addIssue({ code: "custom", path: ["cron"], message: "give --every or --cron, not both" });
    const period = options.referenceFrom !== undefined || options.referenceTo !== undefined;
    if (period && (options.referenceFrom === undefined || options.referenceTo === undefined))
      ctx.addIssue({
        code: "custom",
        path: [options.referenceFrom === undefined ? "referenceFrom" : "referenceTo"],
        message: "a reference period needs both --reference-from and --reference-to",
      });
    if (period && options.reference !== "training" && options.reference !== "log")
      ctx.addIssue({
        code: "custom",
        path: ["reference"],
        message: "--reference-from/--reference-to select a period of the prediction log",
      });
    if (
      options.referenceFrom !== undefined &&
      options.referenceTo !== undefined &&
      Date.parse(options.referenceFrom) >= Date.parse(options.referenceTo)
    )
      ctx.addIssue({
        code: "custom",
        path: ["referenceTo"],
        message: "must be after --reference-from",
      });
    if (options.reference === "log" && !period)
      ctx.addIssue({
        code: "custom",
        path: ["reference"],
        message: "--reference log needs --reference-from and --reference-to",
      });
  });

export type MonitorOptions = z.output<typeof monitorOptionsSchema>;
export type MonitorOptionsInput = z.input<typeof monitorOptionsSchema>;

/** How a reference option reads: where its rows come from. */
export type ReferenceSource =
  | { kind: "training" }
  | { kind: "log"; from: Date; to: Date }
  | { kind: "table"; url: string; table?: string }
  | { kind: "file"; path: string };

export function referenceSource(options: MonitorOptions): ReferenceSource {
  if (options.referenceFrom !== undefined && options.referenceTo !== undefined)
    return {
      kind: "log",
      from: new Date(options.referenceFrom),
      to: new Date(options.referenceTo),
    };
  if (options.reference === "training") return { kind: "training" };
  if (isSqlUrl(options.reference))
    return { kind: "table", url: options.reference, table: options.referenceTable };
  return { kind: "file", path: options.reference };
}

export function isSqlUrl(value: string): boolean {
  return /^(sqlite:|postgres:\/\/|postgresql:\/\/)/.test(value);
}
