import type { Command } from "commander";
import { UserError } from "../../config/errors.js";
import { createLogger, type Logger } from "../../log/logger.js";
import type { TrainResult } from "../../train/train.js";
import { createProgress } from "../progress.js";

export const DEFAULT_MODEL_DIR = "./mldeploy-data/models/ride-duration";

export interface TrainFlags {
  train: string;
  valid: string;
  alpha: string;
  out: string;
}

export function registerTrain(program: Command): void {
  program
    .command("train")
    .description(
      "Train the ride-duration model (PU_DO + trip_distance, linear) and save an ONNX model bundle",
    )
    .requiredOption(
      "--train <file>",
      "training trips: TLC Parquet or CSV file, or a glob (green or yellow)",
    )
    .requiredOption("--valid <file>", "validation trips (e.g. the following month)")
    .option("--alpha <n>", "L2 regularisation strength (0 = ordinary least squares)", "0")
    .option("--out <dir>", "bundle directory to write", DEFAULT_MODEL_DIR)
    .addHelpText(
      "after",
      `
Example:
  mldeploy train --train ./mldeploy-data/data/green_tripdata_2021-01.parquet \\
                 --valid ./mldeploy-data/data/green_tripdata_2021-02.parquet --alpha 0`,
    )
    .action(async (flags: TrainFlags) => {
      const result = await trainWithProgress(flags, createLogger());
      process.stdout.write(formatTrainResult(result));
    });
}

export async function trainWithProgress(flags: TrainFlags, logger: Logger): Promise<TrainResult> {
  const alpha = Number(flags.alpha);
  if (!Number.isFinite(alpha) || alpha < 0)
    throw new UserError(`--alpha must be a number >= 0, got "${flags.alpha}"`);
  const { trainModel } = await import("../../train/train.js");
  const progress = createProgress("train", logger);
  try {
    return await trainModel({
      trainPath: flags.train,
      validPath: flags.valid,
      alpha,
      outDir: flags.out,
      logger,
      onProgress: (done, total) => progress.update(done, total),
    });
  } finally {
    progress.stop();
  }
}

export function formatTrainResult(result: TrainResult): string {
  const m = result.metrics;
  return (
    `model bundle  ${result.bundlePath}\n` +
    `train RMSE    ${m.train_rmse.toFixed(4)} min  (${m.train_rows.toLocaleString("en-US")} rides)\n` +
    `valid RMSE    ${m.valid_rmse.toFixed(4)} min  (${m.valid_rows.toLocaleString("en-US")} rides)\n` +
    `categories    ${m.categories.toLocaleString("en-US")} PU_DO pairs\n`
  );
}
