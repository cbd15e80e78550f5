/**
 * Settings of the prediction log, shared by `serve` and `stream` (flags, MLDEPLOY_* env and the
 * config file's section, as every other setting).
 */
import path from "node:path";
import { z } from "zod";
import { intSetting } from "../../config/settings.js";
import { parseSinkUrl } from "./sinks/url.js";

export const predictionLogSettingsShape = {
  logPredictions: z
    .union([z.boolean(), z.enum(["true", "false"]).transform((v) => v === "true")])
    .default(false)
    .describe(
      "Log every prediction (or --log-sample of them) to Parquet files under --log-predictions-dir, for `mldeploy monitor`",
    ),
  logPredictionsDir: z
    .string()
    .min(1)
    .optional()
    .describe("Where the prediction log goes; default <data-dir>/prediction-log"),
  logPredictionsTo: z
    .string()
    .min(1)
    .superRefine((value, context) => {
      try {
        parseSinkUrl(value, "");
      } catch (error) {
        context.addIssue({ code: "custom", message: (error as Error).message });
      }
    })
    .optional()
    .describe(
      "Also copy the prediction log to s3://bucket/prefix or postgres://user@host/db?table=prediction_log (parts are written locally first, copied, then removed locally; kept and retried while the target is down)",
    ),
  logSample: z.coerce
    .number()
    .min(0)
    .max(1)
    .default(1)
    .describe("Share of predictions logged, 0..1 (each row drawn at random)"),
  logFlushMs: intSetting(10, 3_600_000)
    .default(5000)
    .describe(
      "The prediction log is written at least this often: on kill -9 at most this long of predictions is lost",
    ),
  logQueueRows: intSetting(1, 10_000_000)
    .default(50_000)
    .describe(
      "Most predictions waiting to be written; beyond, new ones are not logged (counted in mldeploy_prediction_log_dropped_total), the requests are still answered",
    ),
};

/** The registry's default --data-dir, for a server started without the CLI's settings. */
export const DEFAULT_DATA_DIR = "./mldeploy-data";

/** The prediction log's directory when the settings name none: inside the data directory. */
export function defaultPredictionLogDir(dataDir: string): string {
  return path.join(dataDir, "prediction-log");
}
