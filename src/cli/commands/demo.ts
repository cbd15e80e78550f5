import { existsSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { addLogFormatOption, logFormatFlag } from "../log-format-option.js";
import { createLogger } from "../../log/logger.js";
import { readBundle } from "../../model/bundle.js";
import {
  DEFAULT_DATA_DIR,
  DEFAULT_MONTHS,
  DEFAULT_SAMPLE_ROWS,
  writeSampleMonths,
} from "./sample-data.js";
import { resolveServeOptions, serveModel } from "./serve.js";
import { withRegistry } from "../registry-settings.js";
import { DEFAULT_MODEL_DIR, formatTrainResult, trainTracked } from "./train.js";

export function registerDemo(program: Command): void {
  const command = program
    .command("demo")
    .description(
      "End to end on the embedded defaults: sample data → train and register → batch scoring → web service",
    )
    .option(
      "--data <dir>",
      "where the sample Parquet files go (reused when present)",
      DEFAULT_DATA_DIR,
    )
    .option("--out <dir>", "model bundle directory", DEFAULT_MODEL_DIR)
    .option("--port <n>", "port to serve on (env MLDEPLOY_PORT)")
    .option("--no-serve", "stop after batch scoring");
  addLogFormatOption(command);
  command.action(
    async (flags: {
      data: string;
      out: string;
      port?: string;
      serve: boolean;
      logFormat?: string;
    }) => {
      const logFormat = logFormatFlag(flags);
      const logger = createLogger({ format: logFormat });
      const registryFlags = {};
      const [trainFile, validFile] = DEFAULT_MONTHS.map((m) =>
        path.resolve(flags.data, `green_tripdata_${m}.parquet`),
      );
      if (!existsSync(trainFile) || !existsSync(validFile)) {
        process.stderr.write(`1/5 writing sample data to ${path.resolve(flags.data)}\n`);
        await writeSampleMonths(
          {
            out: flags.data,
            months: DEFAULT_MONTHS.join(","),
            rows: String(DEFAULT_SAMPLE_ROWS),
            seed: "1",
          },
          logger,
        );
      } else {
        process.stderr.write(`1/5 reusing sample data in ${path.resolve(flags.data)}\n`);
      }
      process.stderr.write(
        "2/5 training the ride-duration model (run logged to experiment nyc-taxi, registered as ride-duration)\n",
      );
      const modelUri = "models:/ride-duration@production";
      const dbFile = path.resolve(flags.data, "..", "rides.db");
      await withRegistry(registryFlags, async (registry) => {
        const tracked = await trainTracked(
          registry,
          {
            train: trainFile,
            valid: validFile,
            alpha: "0",
            out: flags.out,
            experiment: "nyc-taxi",
            register: "ride-duration",
          },
          logger,
        );
        process.stderr.write(formatTrainResult(tracked.result));
        await registry.setAlias("ride-duration", "production", tracked.version!.version);
        process.stderr.write(`ride-duration@production -> version ${tracked.version!.version}\n`);

        process.stderr.write(`3/5 batch scoring the February rides in ${dbFile}\n`);
        const [{ writeRidesTable }, { runBatch }, { batchOptionsSchema }] = await Promise.all([
          import("../../rides/sample-rides.js"),
          import("../../batch/run.js"),
          import("../../batch/options.js"),
        ]);
        await writeRidesTable([validFile], dbFile);
        const [stats] = await runBatch(
          batchOptionsSchema.parse({
            model: modelUri,
            source: `sqlite:${dbFile}`,
            table: "rides",
            idColumn: "ride_id",
            sinceColumn: "lpep_pickup_datetime",
            keepColumns: "lpep_pickup_datetime,PULocationID,DOLocationID,trip_distance",
            actualColumn: "actual_duration",
            sink: `sqlite:${dbFile}`,
            sinkTable: "ride_predictions",
            fromStart: true,
          }),
          { registry, logger },
        );
        process.stderr.write(
          `scored ${stats.rowsScored} rides into table ride_predictions (${stats.rowsRejected} rejected)\n`,
        );

        process.stderr.write(
          "4/5 monitoring those predictions against the training data (drift per column, RMSE against the actual durations)\n",
        );
        const [{ runMonitor }, { monitorOptionsSchema }] = await Promise.all([
          import("../../monitor/job/run.js"),
          import("../../monitor/job/options.js"),
        ]);
        const [pass] = await runMonitor(
          monitorOptionsSchema.parse({
            model: modelUri,
            current: `sqlite:${dbFile}`,
            currentTable: "ride_predictions",
            // Zone ids are labels: tested as categories (Jensen–Shannon over their shares).
            categorical: "PULocationID,DOLocationID",
          }),
          { registry, logger },
        );
        const [report] = pass.result.versions;
        const drifted = report.columns.filter((c) => c.drift.status === "ok" && c.drift.drifted);
        process.stderr.write(
          `drifted columns: ${drifted.length === 0 ? "none" : drifted.map((c) => c.name).join(", ")}; ` +
            `RMSE ${report.error?.rmse?.toFixed(2) ?? "no data"} min ` +
            `(training ${report.error?.training?.rmse.toFixed(2) ?? "?"})\nreport: ${pass.reportUri}\n`,
        );
      });
      if (!flags.serve) return;

      process.stderr.write(`5/5 serving ${modelUri}\n`);
      const options = resolveServeOptions(modelUri, {
        port: flags.port,
        logFormat,
        // The demo logs its predictions (issue 21), so `mldeploy monitor` has data right
        // after it; MLDEPLOY_LOG_PREDICTIONS=false still turns it off.
        logPredictions: process.env.MLDEPLOY_LOG_PREDICTIONS ?? true,
      });
      const { url } = await serveModel(options, registryFlags);
      const local = url.replace("0.0.0.0", "127.0.0.1");
      const example = (await readBundle(flags.out)).mldeploy?.input_example?.[0] ?? {};
      process.stderr.write(
        `\nReady. Try it:\n\n` +
          `  curl -s -X POST ${local}/predict -H 'Content-Type: application/json' \\\n` +
          `    -d '${JSON.stringify(example)}'\n\n` +
          `Metrics: ${local}/metrics   Stop: Ctrl-C\n` +
          `Predictions are logged; check them for drift with:\n` +
          `  npx mldeploy monitor --model ${modelUri}\n`,
      );
    },
  );
}
