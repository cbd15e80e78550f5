import { existsSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { createLogger } from "../../log/logger.js";
import { readBundle } from "../../model/bundle.js";
import {
  DEFAULT_DATA_DIR,
  DEFAULT_MONTHS,
  DEFAULT_SAMPLE_ROWS,
  writeSampleMonths,
} from "./sample-data.js";
import { resolveServeOptions, serveModel } from "./serve.js";
import { DEFAULT_MODEL_DIR, formatTrainResult, trainWithProgress } from "./train.js";

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description(
      "End to end on the embedded defaults: sample data → train → model bundle → web service",
    )
    .option(
      "--data <dir>",
      "where the sample Parquet files go (reused when present)",
      DEFAULT_DATA_DIR,
    )
    .option("--out <dir>", "model bundle directory", DEFAULT_MODEL_DIR)
    .option("--port <n>", "port to serve on (env MLDEPLOY_PORT)")
    .option("--no-serve", "stop after training")
    .action(async (flags: { data: string; out: string; port?: string; serve: boolean }) => {
      const logger = createLogger();
      const [trainFile, validFile] = DEFAULT_MONTHS.map((m) =>
        path.resolve(flags.data, `green_tripdata_${m}.parquet`),
      );
      if (!existsSync(trainFile) || !existsSync(validFile)) {
        process.stderr.write(`1/3 writing sample data to ${path.resolve(flags.data)}\n`);
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
        process.stderr.write(`1/3 reusing sample data in ${path.resolve(flags.data)}\n`);
      }
      process.stderr.write("2/3 training the ride-duration model\n");
      const result = await trainWithProgress(
        { train: trainFile, valid: validFile, alpha: "0", out: flags.out },
        logger,
      );
      process.stderr.write(formatTrainResult(result));
      if (!flags.serve) return;

      process.stderr.write("3/3 serving it\n");
      const options = resolveServeOptions(result.bundlePath, { port: flags.port });
      const { url } = await serveModel(options);
      const local = url.replace("0.0.0.0", "127.0.0.1");
      const example = (await readBundle(result.bundlePath)).mldeploy?.input_example?.[0] ?? {};
      process.stderr.write(
        `\nReady. Try it:\n\n` +
          `  curl -s -X POST ${local}/predict -H 'Content-Type: application/json' \\\n` +
          `    -d '${JSON.stringify(example)}'\n\n` +
          `Metrics: ${local}/metrics   Stop: Ctrl-C\n`,
      );
    });
}
