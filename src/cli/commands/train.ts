import type { Command } from "commander";
import { UserError } from "../../config/errors.js";
import { addLogFormatOption, logFormatFlag } from "../log-format-option.js";
import { createLogger, type Logger } from "../../log/logger.js";
import type { TrainResult } from "../../train/train.js";
import { createProgress } from "../progress.js";
import { addRegistryConfigOptions, withRegistry } from "../registry-settings.js";
import type { Registry } from "../../registry/registry.js";
import type { ModelVersion } from "../../registry/store/types.js";

export const DEFAULT_MODEL_DIR = "./mldeploy-data/models/ride-duration";

export interface TrainFlags {
  train: string;
  valid: string;
  alpha: string;
  out: string;
  experiment?: string;
  register?: string;
  runName?: string;
}

export function registerTrain(program: Command): void {
  const command = program
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
    .option("--experiment <name>", "log a run (params, metrics, the model) to this experiment")
    .option("--register <model-name>", "register the model as a new version of this name")
    .option("--run-name <name>", "name of the logged run (default: generated)");
  addRegistryConfigOptions(command);
  addLogFormatOption(command);
  command
    .addHelpText(
      "after",
      `
Examples:
  mldeploy train --train ./mldeploy-data/data/green_tripdata_2021-01.parquet \\
                 --valid ./mldeploy-data/data/green_tripdata_2021-02.parquet --alpha 0
  mldeploy train --train … --valid … --experiment nyc-taxi --register ride-duration`,
    )
    .action(async (flags: TrainFlags & Record<string, unknown>) => {
      const logger = createLogger({ format: logFormatFlag(flags) });
      if (flags.experiment === undefined && flags.register === undefined) {
        process.stdout.write(formatTrainResult(await trainWithProgress(flags, logger)));
        return;
      }
      await withRegistry(flags, async (registry) => {
        const tracked = await trainTracked(registry, flags, logger);
        process.stdout.write(formatTrainResult(tracked.result));
        process.stdout.write(`run           ${tracked.runId} (experiment ${tracked.experiment})\n`);
        if (tracked.version) {
          process.stdout.write(
            `registered    ${tracked.version.name} version ${tracked.version.version}  ` +
              `(serve it: mldeploy serve models:/${tracked.version.name}/${tracked.version.version})\n`,
          );
        }
      });
    });
}

/**
 * Trains inside a tracked run: params and metrics logged, the bundle uploaded as the run's
 * `model` artifact and optionally registered. A failure marks the run FAILED.
 */
export async function trainTracked(
  registry: Registry,
  flags: TrainFlags,
  logger: Logger,
): Promise<{ result: TrainResult; runId: string; experiment: string; version?: ModelVersion }> {
  const experiment = flags.experiment ?? "Default";
  const run = await registry.startRun({ experiment, name: flags.runName });
  try {
    await run.logParams({ train: flags.train, valid: flags.valid, alpha: Number(flags.alpha) });
    const result = await trainWithProgress(flags, logger, run.id);
    const { train_rmse, valid_rmse, train_rows, valid_rows, categories } = result.metrics;
    await run.logMetrics({ train_rmse, valid_rmse, train_rows, valid_rows, categories });
    const version = await run.logModel(result.bundlePath, { register: flags.register });
    await run.end("FINISHED");
    return { result, runId: run.id, experiment, version };
  } catch (error) {
    await run.end("FAILED").catch(() => undefined);
    throw error;
  }
}

export async function trainWithProgress(
  flags: TrainFlags,
  logger: Logger,
  runId?: string,
): Promise<TrainResult> {
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
      runId,
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
