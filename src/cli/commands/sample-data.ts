import path from "node:path";
import type { Command } from "commander";
import { UserError } from "../../config/errors.js";
import { addLogFormatOption, logFormatFlag } from "../log-format-option.js";
import { createLogger, type Logger } from "../../log/logger.js";
import { createProgress } from "../progress.js";
import { DEFAULT_SAMPLE_ROWS } from "../../train/sample-defaults.js";

export const DEFAULT_DATA_DIR = "./mldeploy-data/data";
export const DEFAULT_MONTHS = ["2021-01", "2021-02"];
export { DEFAULT_SAMPLE_ROWS };

export interface SampleDataFlags {
  logFormat?: string;
  out: string;
  months: string;
  rows: string;
  seed: string;
  shift?: string;
  sqlite?: string;
  postgres?: string;
  table?: string;
  events?: string;
  firstRideId?: string;
  requests?: string;
}

export function registerSampleData(program: Command): void {
  const command = program
    .command("sample-data")
    .description(
      "Write synthetic NYC green-taxi trips as Parquet in the real TLC schema (one file a month)",
    )
    .option("--out <dir>", "output directory", DEFAULT_DATA_DIR)
    .option(
      "--months <list>",
      "comma-separated YYYY-MM months, one file each",
      DEFAULT_MONTHS.join(","),
    )
    .option(
      "--rows <n>",
      "trips per month (a real green-taxi month has about 70,000)",
      String(DEFAULT_SAMPLE_ROWS),
    )
    .option("--seed <n>", "random seed; the same seed writes the same trips", "1")
    .option(
      "--shift <s>",
      "0-1: move the rides for a drift demo (other zones, unseen zone pairs, longer trips); 0 = unshifted",
      "0",
    )
    .option(
      "--sqlite <file>",
      "also load the trips into a SQLite table (--table) with ride_id and actual_duration, for `mldeploy batch`",
    )
    .option(
      "--postgres <url>",
      "also load them into a PostgreSQL table (--table), e.g. postgres://postgres@127.0.0.1/test",
    )
    .option(
      "--table <name>",
      "table for --sqlite / --postgres (schema.table on PostgreSQL)",
      "rides",
    )
    .option(
      "--events <file>",
      "also write them as ride events, one JSON line each, for `mldeploy produce --file`",
    )
    .option(
      "--requests <file>",
      "also write them as web-service requests (PULocationID, DOLocationID, trip_distance, ride_id), one JSON line each, for `mldeploy produce --to http://…/predict --file`",
    )
    .option(
      "--first-ride-id <n>",
      "ride_id of the first ride (pickup order) in --sqlite, --postgres and --events; months loaded apart need distinct ranges so that their actual durations join by id",
      "1",
    );
  addLogFormatOption(command);
  command
    .addHelpText(
      "after",
      "\nExamples:\n  mldeploy sample-data --out ./data --months 2021-01,2021-02 --rows 100000" +
        "\n  mldeploy sample-data --sqlite ./rides.db" +
        "\n  mldeploy sample-data --postgres postgres://postgres@127.0.0.1/test" +
        "\n  mldeploy sample-data --events ./rides.jsonl" +
        "\n  mldeploy sample-data --months 2021-03 --shift 0.5   # a drifted month",
    )
    .action(async (flags: SampleDataFlags) => {
      const files = await writeSampleMonths(flags, createLogger({ format: logFormatFlag(flags) }));
      for (const file of files) process.stdout.write(`${file}\n`);
      if (
        [flags.sqlite, flags.postgres, flags.events, flags.requests].every((f) => f === undefined)
      )
        return;
      const table = flags.table ?? "rides";
      const firstId = positiveInteger(flags.firstRideId ?? "1", "--first-ride-id");
      const { writeRideEvents, writeRideRequests, writeRidesPostgres, writeRidesTable } =
        await import("../../rides/sample-rides.js");
      if (flags.sqlite !== undefined) {
        const rows = await writeRidesTable(files, flags.sqlite, table, firstId);
        process.stdout.write(`${path.resolve(flags.sqlite)} (table ${table}, ${rows} rows)\n`);
      }
      if (flags.postgres !== undefined) {
        const rows = await writeRidesPostgres(files, flags.postgres, table, firstId);
        const { describeUrl } = await import("../../batch/sql/postgres-connection.js");
        process.stdout.write(`${describeUrl(flags.postgres)} (table ${table}, ${rows} rows)\n`);
      }
      if (flags.events !== undefined) {
        const events = await writeRideEvents(files, flags.events, firstId);
        process.stdout.write(`${path.resolve(flags.events)} (${events} ride events)\n`);
      }
      if (flags.requests !== undefined) {
        const requests = await writeRideRequests(files, flags.requests, firstId);
        process.stdout.write(`${path.resolve(flags.requests)} (${requests} requests)\n`);
      }
    });
}

/** Writes one Parquet file per month (`green_tripdata_YYYY-MM.parquet`, as TLC names them). */
export async function writeSampleMonths(flags: SampleDataFlags, logger: Logger): Promise<string[]> {
  const rows = positiveInteger(flags.rows, "--rows");
  const seed = positiveInteger(flags.seed, "--seed", 0);
  const shift = Number(flags.shift ?? "0");
  if (flags.shift?.trim() === "" || !(shift >= 0 && shift <= 1))
    throw new UserError(`--shift must be a number from 0 to 1, got "${flags.shift}"`);
  const months = flags.months.split(",").map((m) => m.trim());
  const { writeSampleTrips } = await import("../../train/sample-data.js");
  const files: string[] = [];
  for (const [index, month] of months.entries()) {
    const match = /^(\d{4})-(\d{2})$/.exec(month);
    if (!match || Number(match[2]) < 1 || Number(match[2]) > 12) {
      throw new UserError(`--months: "${month}" is not a YYYY-MM month`);
    }
    const file = path.resolve(flags.out, `green_tripdata_${month}.parquet`);
    const progress = createProgress(month, logger);
    try {
      // Each month gets its own seed so that months differ but stay reproducible.
      await writeSampleTrips({
        path: file,
        seed: seed + index,
        year: Number(match[1]),
        month: Number(match[2]),
        rows,
        shift,
        onProgress: (done, total) => progress.update(done, total),
      });
    } finally {
      progress.stop();
    }
    logger.info({ file, rows }, "sample data written");
    files.push(file);
  }
  return files;
}

export function positiveInteger(value: string, flag: string, min = 1): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min)
    throw new UserError(`${flag} must be an integer >= ${min}, got "${value}"`);
  return n;
}
