/**
 * `npm run bench:batch [-- --rows 1000000 --chunk 50000 --repeat 3 --postgres postgres://postgres@127.0.0.1:5432/test]`
 * (without --chunk, each path runs with the default chunk size of `mldeploy batch`)
 *
 * Scores `rows` generated rides PostgreSQL → PostgreSQL and Parquet → Parquet with the real
 * model, and in the same run the ceiling of each path: the same read, validation and write
 * with a constant prediction instead of onnxruntime. Ceiling and model take turns `repeat`
 * times and each is reported by its median: on 2 shared cores one run of a second can be
 * 30% off either way.
 */
import os from "node:os";
import path from "node:path";
import { mkdtemp, rm } from "node:fs/promises";
import { parseArgs } from "node:util";
import pg from "pg";
import { openBatchSink, openBatchSource } from "../batch/endpoints.js";
import {
  DEFAULT_CHUNK_SIZE,
  IN_DUCKDB_CHUNK_SIZE,
  runBatchOnce,
  type BatchJob,
} from "../batch/job.js";
import { createLogger } from "../log/logger.js";
import { loadPredictor } from "../model/predictor.js";
import type { Predictor } from "../model/types.js";
import { constantPredictor } from "./constant-predictor.js";
import { sqlString, withDuckDB } from "../train/duckdb.js";
import { benchModel } from "./model.js";

const { values: args } = parseArgs({
  options: {
    rows: { type: "string", default: "1000000" },
    repeat: { type: "string", default: "3" },
    chunk: { type: "string" },
    postgres: {
      type: "string",
      default: process.env.MLDEPLOY_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test",
    },
  },
});
const ROWS = Number(args.rows);
const REPEAT = Math.max(1, Math.floor(Number(args.repeat)) || 1);
// Default: each path's own default chunk size, as `mldeploy batch` uses.
const CHUNK = args.chunk === undefined ? undefined : Number(args.chunk);
const SCHEMA = "mldeploy_bench_batch";

// The generated rides: TLC-like columns, ~1% of them with an invalid distance (rejected).
const RIDE_COLUMNS = (n: string) => `
  ${n} AS ride_id,
  TIMESTAMP '2021-01-01' + ${n} * INTERVAL '2 seconds' AS lpep_pickup_datetime,
  CAST(1 + (${n} * 37) % 265 AS INTEGER) AS "PULocationID",
  CAST(1 + (${n} * 91) % 265 AS INTEGER) AS "DOLocationID",
  CASE WHEN ${n} % 101 = 0 THEN -1.0 ELSE ((${n} * 13) % 200) / 10.0 END AS trip_distance,
  CAST(5 + ${n} % 40 AS DOUBLE PRECISION) AS actual_duration`;

async function preparePostgres(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE; CREATE SCHEMA ${SCHEMA}`);
    await client.query(
      `CREATE TABLE ${SCHEMA}.rides AS SELECT ${RIDE_COLUMNS("g")} FROM generate_series(1, ${ROWS}) AS g`,
    );
    await client.query(
      `ALTER TABLE ${SCHEMA}.rides ADD PRIMARY KEY (ride_id); ANALYZE ${SCHEMA}.rides`,
    );
  } finally {
    await client.end();
  }
}

async function dropPostgresSinks(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const table of ["predictions", "predictions_rejects", "mldeploy_batch_checkpoints"]) {
      await client.query(`DROP TABLE IF EXISTS ${SCHEMA}.${table}`);
    }
  } finally {
    await client.end();
  }
}

async function prepareParquet(dir: string): Promise<string> {
  const file = path.join(dir, "rides.parquet");
  await withDuckDB(async (db) => {
    await db.run(
      `COPY (SELECT ${RIDE_COLUMNS("range")} FROM range(1, ${ROWS + 1})) TO ${sqlString(file)} (FORMAT parquet)`,
    );
  });
  return file;
}

interface Measured {
  name: string;
  seconds: number;
  rows: number;
}

async function main(): Promise<void> {
  const logger = createLogger({ level: "error" });
  const bundle = await benchModel();
  const model = await loadPredictor(bundle, { name: "ride-duration", version: "bench" });
  const dir = await mkdtemp(path.join(os.tmpdir(), "mldeploy-bench-batch-"));
  console.log(
    `mldeploy batch benchmark: ${ROWS.toLocaleString("en-US")} rides, chunks of ` +
      (CHUNK === undefined
        ? `${DEFAULT_CHUNK_SIZE.toLocaleString("en-US")} (databases) and ${IN_DUCKDB_CHUNK_SIZE.toLocaleString("en-US")} (files, scored inside DuckDB), `
        : `${CHUNK.toLocaleString("en-US")}, `) +
      `${os.cpus().length} cores, Node ${process.version}\n`,
  );
  const results: Measured[] = [];
  let duckdbAlone: Measured | undefined;
  const measure = async (
    name: string,
    predictor: Predictor,
    open: () => Promise<
      [Awaited<ReturnType<typeof openBatchSource>>, Awaited<ReturnType<typeof openBatchSink>>]
    >,
    reset: () => Promise<void>,
    inDuckDB?: BatchJob["inDuckDB"],
  ) => {
    await reset();
    const [source, sink] = await open();
    // Earlier runs' garbage is not this run's cost (node runs with --expose-gc only if asked).
    (globalThis as { gc?: () => void }).gc?.();
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    const stats = await runBatchOnce({
      jobId: name,
      source,
      sink,
      predictor,
      idColumn: "ride_id",
      keepColumns: ["lpep_pickup_datetime", "PULocationID", "DOLocationID"],
      actualColumn: "actual_duration",
      chunkSize: CHUNK,
      model: { name: "ride-duration", version: "bench" },
      logger,
      inDuckDB,
    });
    if ("finalize" in sink && typeof sink.finalize === "function")
      await (sink.finalize as () => Promise<unknown>)();
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    await sink.close();
    await source.close();
    results.push({ name, seconds, rows: stats.rowsRead });
    console.log(
      `${name}: ${(stats.rowsRead / seconds).toLocaleString("en-US", { maximumFractionDigits: 0 })} rows/s (${seconds.toFixed(2)} s; ` +
        // Every thread of the process: JavaScript, DuckDB's and the model workers'.
        `${((cpu.user + cpu.system) / 1e6).toFixed(2)} s of CPU)`,
    );
  };

  try {
    let postgres = true;
    try {
      await preparePostgres(args.postgres);
    } catch (error) {
      postgres = false;
      console.log(
        `PostgreSQL at ${args.postgres} not usable (${(error as Error).message}); skipping it`,
      );
    }
    if (postgres) {
      const open = async () =>
        [
          await openBatchSource(args.postgres, { table: `${SCHEMA}.rides` }),
          await openBatchSink(args.postgres, { table: `${SCHEMA}.predictions` }),
        ] as [
          Awaited<ReturnType<typeof openBatchSource>>,
          Awaited<ReturnType<typeof openBatchSink>>,
        ];
      for (let round = 0; round < REPEAT; round++) {
        await measure(
          "PostgreSQL → PostgreSQL, ceiling (constant)",
          constantPredictor(model),
          open,
          () => dropPostgresSinks(args.postgres),
        );
        await measure("PostgreSQL → PostgreSQL, model", model, open, () =>
          dropPostgresSinks(args.postgres),
        );
      }
    }
    const input = await prepareParquet(dir);
    let n = 0;
    const openFiles = async () => {
      const out = path.join(dir, `predictions-${++n}.parquet`);
      return [await openBatchSource(input, {}), await openBatchSink(out, {})] as [
        Awaited<ReturnType<typeof openBatchSource>>,
        Awaited<ReturnType<typeof openBatchSink>>,
      ];
    };
    for (let round = 0; round < REPEAT; round++) {
      await measure(
        "Parquet → Parquet, ceiling (constant)",
        constantPredictor(model),
        openFiles,
        async () => {},
        // File → file scores inside DuckDB with the model in workers: the constant goes there.
        { constant: 12.5 },
      );
      await measure("Parquet → Parquet, model", model, openFiles, async () => {});
    }
    duckdbAlone = await measureDuckDBAlone(input, path.join(dir, "duckdb-alone.parquet"));
  } finally {
    await model.close();
    await rm(dir, { recursive: true, force: true });
  }

  console.log();
  const rate = (m: Measured) => m.rows / m.seconds;
  const rows = (value: number) => value.toLocaleString("en-US", { maximumFractionDigits: 0 });
  for (let i = 0; i + 1 < results.length; i += 2 * REPEAT) {
    const ceilings = results.filter((m) => m.name === results[i].name).map(rate);
    const fulls = results.filter((m) => m.name === results[i + 1].name).map(rate);
    const ratios = fulls.map((full, round) => full / ceilings[round]);
    const spread =
      REPEAT > 1
        ? `; each round's ratio ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`
        : "";
    console.log(
      `${results[i + 1].name}: ${rows(median(fulls))} rows/s, ` +
        `${(median(fulls) / median(ceilings)).toFixed(2)} of the ceiling (${rows(median(ceilings))} rows/s)` +
        (REPEAT > 1 ? ` (medians of ${REPEAT} rounds${spread})` : ""),
    );
  }
  if (duckdbAlone) {
    console.log(
      `${duckdbAlone.name}: ${(duckdbAlone.rows / duckdbAlone.seconds).toLocaleString("en-US", { maximumFractionDigits: 0 })} rows/s ` +
        "(an upper bound for any Parquet → Parquet path on this host: no JavaScript, no model, no per-chunk commits)",
    );
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * The same columns Parquet → Parquet in one DuckDB COPY with a constant prediction, for scale:
 * what this host's DuckDB does with nothing of mldeploy around it.
 */
async function measureDuckDBAlone(input: string, output: string): Promise<Measured> {
  return withDuckDB(async (db) => {
    const started = performance.now();
    const result = await db.run(
      `COPY (SELECT ride_id, lpep_pickup_datetime, "PULocationID", "DOLocationID", actual_duration,
                    0.0 AS predicted_duration, actual_duration AS diff,
                    'ride-duration' AS model_name, 'bench' AS model_version, 'bench' AS run_id,
                    now() AS scored_at
             FROM read_parquet(${sqlString(input)})) TO ${sqlString(output)} (FORMAT parquet)`,
    );
    const seconds = (performance.now() - started) / 1000;
    const measured = { name: "DuckDB alone, one COPY", seconds, rows: Number(result.rowsChanged) };
    console.log(
      `${measured.name}: ${(measured.rows / seconds).toLocaleString("en-US", { maximumFractionDigits: 0 })} rows/s (${seconds.toFixed(2)} s)`,
    );
    return measured;
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
