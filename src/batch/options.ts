import { z } from "zod";
import { importSettingsShape } from "../import/options.js";
import {
  columnListSetting,
  intSetting,
  logLevelSetting,
  logFormatSetting,
  metricsHostSetting,
  modelSetting,
} from "../config/settings.js";
import { heartbeatIntervalSetting } from "../registry/deployments/options.js";
import { DEFAULT_RETRY_ATTEMPTS, DEFAULT_RETRY_DELAY } from "./retry.js";

const DURATION = /^\d+(ms|s|m|h|d)$/;

const columnList = columnListSetting();

/**
 * Options of `mldeploy batch`. The CLI merges flags > MLDEPLOY_* env > the config file's
 * `batch:` section and validates with this schema.
 */
export const batchOptionsSchema = z
  .object({
    model: modelSetting(),
    ...importSettingsShape,
    source: z
      .string()
      .min(1)
      .describe(
        "Rows to score: sqlite:<file>, postgres://…, or Parquet/CSV files (a path or glob)",
      ),
    table: z.string().min(1).optional().describe("Source table (SQL sources; or use --query)"),
    query: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Source SELECT instead of a table; for files, a DuckDB SELECT over `source` (with filename and file_row_number columns)",
      ),
    idColumn: z
      .string()
      .min(1)
      .describe(
        "Unique row id in the source; predictions are keyed by it (rows where it is NULL are rejects)",
      ),
    sinceColumn: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Watermark column (e.g. a pickup time): each run scores only rows past the last one scored (rows where it is NULL are rejects)",
      ),
    keepColumns: columnList
      .default([])
      .describe("Source columns copied next to each prediction (comma-separated)"),
    actualColumn: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Source column with the true value: copied, and diff = actual - predicted is added",
      ),
    sink: z
      .string()
      .min(1)
      .describe("Where predictions go: sqlite:<file>, postgres://…, or a .parquet/.csv file"),
    sinkTable: z
      .string()
      .min(1)
      .optional()
      .describe("Prediction table (SQL sinks); rejects go to <table>_rejects"),
    chunkSize: intSetting(1, 10_000_000)
      .optional()
      .describe(
        "Rows read, predicted and written per transaction (default 50000; 1000000 from files to files, scored inside DuckDB)",
      ),
    partition: z
      .string()
      .regex(/^\d+\/\d+$/, "must look like i/N, e.g. 0/4")
      .optional()
      .describe(
        "Score only partition i of N (0-based) of the ids, e.g. 0/4, for N parallel workers",
      ),
    every: z
      .string()
      .regex(DURATION, "must be a number and a unit: 30s, 15m, 1h, 1d")
      .optional()
      .describe("Run again at this interval (30s, 15m, 1h, 1d); without --every/--cron: run once"),
    cron: z.string().min(1).optional().describe('Run on a cron schedule, e.g. "0 * * * *"'),
    retryAttempts: intSetting(0, 1000)
      .default(DEFAULT_RETRY_ATTEMPTS)
      .describe(
        `Retries of a run after a transient failure (connection lost, server restart, serialization failure), from the last committed chunk; counted since the last commit (default ${DEFAULT_RETRY_ATTEMPTS}, 0 = none)`,
      ),
    retryDelay: z
      .string()
      .regex(DURATION, "must be a number and a unit: 500ms, 1s, 1m")
      .default(DEFAULT_RETRY_DELAY)
      .describe(
        `Wait before the first retry, doubled for each next one up to 1m (default ${DEFAULT_RETRY_DELAY})`,
      ),
    fromStart: z.coerce
      .boolean()
      .default(false)
      .describe("Forget the checkpoint and score every row again (upserts: no duplicates)"),
    jobName: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Names the job's checkpoint and its runs; default <source table>-><sink table>[i/N]",
      ),
    heartbeatIntervalMs: heartbeatIntervalSetting().describe(
      "For a scheduled job (--every, --cron): how often it reports itself to the registry (job, schedule, model version, rows/s) for the Deployments page, when its model comes from the registry (models:/, runs:/); 0 = never",
    ),
    metricsHost: metricsHostSetting(),
    metricsPort: intSetting(0, 65535)
      .optional()
      .describe(
        "Serve Prometheus metrics on GET /metrics at this port while the job runs (0 = any free port; unset = none)",
      ),
    pushgateway: z
      .string()
      .regex(/^https?:\/\/[^/\s]+/, "must be an http:// or https:// URL")
      .optional()
      .describe(
        "Prometheus Pushgateway URL: push the job's metrics after every run (e.g. http://pushgateway:9091)",
      ),
    logLevel: logLevelSetting(),
    logFormat: logFormatSetting(),
  })
  .strict()
  .superRefine((options, ctx) => {
    if (options.every !== undefined && options.cron !== undefined) {
      ctx.addIssue({ code: "custom", path: ["cron"], message: "give --every or --cron, not both" });
    }
    if (options.table !== undefined && options.query !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["query"],
        message: "give --table or --query, not both",
      });
    }
    if (options.partition !== undefined) {
      const [index, count] = options.partition.split("/").map(Number);
      if (count < 1 || index >= count) {
        ctx.addIssue({
          code: "custom",
          path: ["partition"],
          message: `partition ${options.partition}: i must be below N`,
        });
      }
    }
  });

export type BatchOptions = z.output<typeof batchOptionsSchema>;
export type BatchOptionsInput = z.input<typeof batchOptionsSchema>;
