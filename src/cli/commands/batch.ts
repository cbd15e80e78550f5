import type { Command } from "commander";
import { UserError } from "../../config/errors.js";
import { resolveConfig } from "../../config/load.js";
import { createLogger } from "../../log/logger.js";
import { batchOptionsSchema, type BatchOptions } from "../../batch/options.js";
import { printTable } from "../output.js";
import { createProgress } from "../progress.js";
import { addRegistryOptions, withRegistry } from "../registry-settings.js";
import { addSchemaOptions, pickSchemaFlags } from "../schema-options.js";

export function registerBatch(program: Command): void {
  const command = program
    .command("batch")
    .description(
      "Score rows from a database or Parquet/CSV files and write the predictions back, once or on a schedule",
    )
    .option(
      "--config <file>",
      "config file with a `batch:` section (default ./mldeploy.config.yaml if present)",
    )
    // `batch merge --sink x` and `batch history --data-dir x`: options after a subcommand's
    // name are that subcommand's, not batch's (which has --sink and --data-dir too).
    .enablePositionalOptions();
  addSchemaOptions(command, batchOptionsSchema);
  addRegistryOptions(command);
  command.addHelpText(
    "after",
    `
Predictions are upserted on (id, model_version) with model name, version, run id and scoring
time; rows with a missing or invalid feature go to <sink-table>_rejects with the reason. A
checkpoint stored with the sink makes every run incremental and a crashed run resumable.
A transient failure (connection lost, server restart, serialization failure) is retried from
the last committed chunk (--retry-attempts, --retry-delay); a run that still fails is recorded
FAILED with the rows it committed, and a scheduled job runs again at its next slot.

Examples:
  mldeploy batch --model models:/ride-duration@production \\
    --source postgres://localhost/test --table rides --id-column ride_id \\
    --since-column lpep_pickup_datetime \\
    --sink postgres://localhost/test --sink-table ride_predictions --every 1h
  mldeploy batch --model ./mldeploy-data/models/ride-duration \\
    --source sqlite:./rides.db --table rides --id-column ride_id \\
    --sink sqlite:./rides.db --sink-table ride_predictions
  mldeploy batch --model models:/ride-duration@production \\
    --source './data/rides-*.parquet' --id-column ride_id --sink ./predictions.parquet
  # raw TLC files have no ride id: --query shapes them first (see the README)
  mldeploy batch --model models:/ride-duration@production \\
    --source './data/green_tripdata_2021-*.parquet' \\
    --query "SELECT filename || ':' || file_row_number AS ride_id, * FROM source" \\
    --id-column ride_id --sink ./predictions.parquet
  # a one-shot job (cron, Kubernetes Job) reports each run to a Prometheus Pushgateway
  mldeploy batch --model models:/ride-duration@production --source sqlite:./rides.db \\
    --table rides --id-column ride_id --sink sqlite:./rides.db --sink-table ride_predictions \\
    --pushgateway http://pushgateway:9091
  mldeploy batch history`,
  );
  command.action(async (flags: Record<string, unknown>) => {
    const options: BatchOptions = resolveConfig(batchOptionsSchema, {
      section: "batch",
      flags: pickSchemaFlags(batchOptionsSchema, flags),
      configFile: typeof flags.config === "string" ? flags.config : undefined,
    });
    const logger = createLogger({ level: options.logLevel, format: options.logFormat });
    // The handlers go in before the job's modules load (a second or more on a busy machine):
    // a SIGTERM that comes while it starts stops it cleanly, not by the signal's default action.
    const { scheduleControl } = await import("../../schedule/schedule.js");
    const control = scheduleControl();
    const onSignal = (signal: NodeJS.Signals) => {
      if (control.isStopped()) process.exit(1);
      logger.info({ signal }, "stopping after the chunk in progress");
      control.stop();
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    const { runBatch } = await import("../../batch/run.js");
    const progress = createProgress("batch", logger);
    try {
      await withRegistry(flags, (registry) =>
        runBatch(options, {
          registry,
          logger,
          control,
          onProgress: (done, total) => progress.update(done, total),
        }),
      );
    } finally {
      progress.stop();
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
    }
  });

  command
    .command("merge")
    .description(
      "Merge the committed parts of a Parquet/CSV sink into its file (after partitioned workers finish)",
    )
    .requiredOption("--sink <file>", "the .parquet or .csv sink the workers wrote")
    .action(async (flags: { sink: string }) => {
      const { openFileSink } = await import("../../batch/files/index.js");
      const sink = openFileSink(flags.sink);
      try {
        const merged = await sink.finalize();
        if (merged.rows === 0 && merged.rejects === 0) {
          throw new UserError(
            `${flags.sink}: no committed parts in ${sink.partsDir} (nothing to merge; did the workers write to this --sink?)`,
          );
        }
        process.stdout.write(
          `${merged.path}: ${merged.rows} predictions` +
            (merged.rejectsPath ? `; ${merged.rejectsPath}: ${merged.rejects} rejects` : "") +
            "\n",
        );
      } finally {
        await sink.close();
      }
    });

  const history = command
    .command("history")
    .description(
      "Runs of batch jobs: status, rows read, scored, rejected (committed, also by a FAILED run), duration, model version, why a run failed",
    )
    .option("--job <name>", "only this job")
    .option("--limit <n>", "at most this many runs", "20")
    .option("--json", "print JSON instead of a table");
  addRegistryOptions(history);
  history.action(
    async (flags: Record<string, unknown> & { job?: string; limit: string; json?: boolean }) => {
      await withRegistry(flags, async (registry) => {
        const { batchRuns, REASON_TAG } = await import("../../batch/history.js");
        // A run whose process died (kill -9) shows as KILLED, "process gone", not RUNNING.
        const runs = await batchRuns(registry, { job: flags.job, limit: Number(flags.limit) });
        if (flags.json) {
          process.stdout.write(JSON.stringify(runs, null, 2) + "\n");
          return;
        }
        printTable(
          runs.map((run) => ({
            started: new Date(run.startTime).toISOString().replace(/\.\d+Z$/, "Z"),
            job: run.tags.job ?? "",
            status: run.status,
            model_version: run.tags.model_version ?? "",
            read: run.latestMetrics.rows_read ?? "",
            scored: run.latestMetrics.rows_scored ?? "",
            rejected: run.latestMetrics.rows_rejected ?? "",
            seconds:
              run.latestMetrics.duration_s !== undefined
                ? run.latestMetrics.duration_s.toFixed(1)
                : "",
            run_id: run.id,
            reason: (run.tags[REASON_TAG] ?? "").slice(0, 80),
          })),
        );
      });
    },
  );
}
