/**
 * `npm run bench:batch [-- --rows 1000000 --chunk 50000 --repeat 3 --model both|linear|forest
 *  --postgres postgres://postgres@127.0.0.1:5432/test]`
 * (without --chunk, each path runs with the default chunk size of `mldeploy batch`)
 *
 * Scores `rows` generated rides PostgreSQL → PostgreSQL and Parquet → Parquet with the real
 * model, and in the same run the ceiling of each path: the same read, validation and write
 * with a constant prediction instead of onnxruntime. Ceiling and model take turns `repeat`
 * times and each is reported by its median: on 2 shared cores one run of a second can be
 * 30% off either way.
 *
 * `--model`: "linear" is the benchmark's own ride-duration bundle (model.ts); "forest" is the
 * MLflow variant's Pipeline(DictVectorizer, RandomForestRegressor(max_depth=20,
 * n_estimators=100)) imported once by `mldeploy import` (forest.ts), on the Parquet → Parquet
 * path only, against the target ≥ 200,000 rows/s; "both" (default) runs each, the forest taking
 * its turn after the linear model in every Parquet round, against the same ceiling.
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
import { sqlString, withDuckDB } from "../duckdb/index.js";
import { forestBundle } from "./forest.js";
import { benchModel } from "./model.js";
import { trainingPythonMissing } from "./original-service.js";

const { values: args } = parseArgs({
  options: {
    rows: { type: "string", default: "1000000" },
    repeat: { type: "string", default: "3" },
    chunk: { type: "string" },
    model: { type: "string", default: "both" },
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
if (!["both", "linear", "forest"].includes(args.model)) {
  console.error(`--model ${args.model}: expected both, linear or forest`);
  process.exit(2);
}
const LINEAR = args.model !== "forest";
const FOREST_TARGET = 200_000;
const FOREST_ROLE = "forest (RandomForest pipeline, imported)";

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
  /** The source → sink path, and whether this run is that path's ceiling. */
  path?: string;
  ceiling?: boolean;
}

async function main(): Promise<void> {
  const logger = createLogger({ level: "error" });
  const dir = await mkdtemp(path.join(os.tmpdir(), "mldeploy-bench-batch-"));
  let forest: Predictor | undefined;
  if (args.model !== "linear") {
    const missing = await trainingPythonMissing();
    if (missing !== undefined) console.log(`forest skipped: ${missing}`);
    else {
      const { bundle: imported, seconds } = await forestBundle(dir);
      console.log(`forest: imported the RandomForest pipeline in ${seconds.toFixed(1)} s`);
      forest = await loadPredictor(imported, { name: "ride-duration-forest", version: "bench" });
    }
  }
  if (!LINEAR && !forest) {
    await rm(dir, { recursive: true, force: true });
    return;
  }
  // The linear bundle, or the forest alone (its info serves the ceiling's constant predictor).
  const model =
    forest && !LINEAR
      ? forest
      : await loadPredictor(await benchModel(), { name: "ride-duration", version: "bench" });
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
    [pathName, role]: [string, string],
    predictor: Predictor,
    open: () => Promise<
      [Awaited<ReturnType<typeof openBatchSource>>, Awaited<ReturnType<typeof openBatchSink>>]
    >,
    reset: () => Promise<void>,
    inDuckDB?: BatchJob["inDuckDB"],
  ) => {
    const name = `${pathName}, ${role}`;
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
    results.push({
      name,
      seconds,
      rows: stats.rowsRead,
      path: pathName,
      ceiling: role.startsWith("ceiling"),
    });
    console.log(
      `${name}: ${(stats.rowsRead / seconds).toLocaleString("en-US", { maximumFractionDigits: 0 })} rows/s (${seconds.toFixed(2)} s; ` +
        // Every thread of the process: JavaScript, DuckDB's and the model workers'.
        `${((cpu.user + cpu.system) / 1e6).toFixed(2)} s of CPU` +
        (stats.inDuckDB ? "; scored inside DuckDB" : "") +
        ")",
    );
  };

  try {
    // The forest is measured on the Parquet path only.
    let postgres = LINEAR;
    if (postgres) {
      try {
        await preparePostgres(args.postgres);
      } catch (error) {
        postgres = false;
        console.log(
          `PostgreSQL at ${args.postgres} not usable (${(error as Error).message}); skipping it`,
        );
      }
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
      const PG = "PostgreSQL → PostgreSQL";
      for (let round = 0; round < REPEAT; round++) {
        await measure([PG, "ceiling (constant)"], constantPredictor(model), open, () =>
          dropPostgresSinks(args.postgres),
        );
        await measure([PG, "model"], model, open, () => dropPostgresSinks(args.postgres));
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
    const FILES = "Parquet → Parquet";
    for (let round = 0; round < REPEAT; round++) {
      await measure(
        [FILES, "ceiling (constant)"],
        constantPredictor(model),
        openFiles,
        async () => {},
        // File → file scores inside DuckDB with the model in workers: the constant goes there.
        { constant: 12.5 },
      );
      if (LINEAR) await measure([FILES, "model"], model, openFiles, async () => {});
      if (forest) {
        await measure([FILES, FOREST_ROLE], forest, openFiles, async () => {});
      }
    }
    duckdbAlone = await measureDuckDBAlone(input, path.join(dir, "duckdb-alone.parquet"));
  } finally {
    await model.close();
    if (forest && forest !== model) await forest.close();
    await rm(dir, { recursive: true, force: true });
  }

  console.log();
  const rate = (m: Measured) => m.rows / m.seconds;
  const rows = (value: number) => value.toLocaleString("en-US", { maximumFractionDigits: 0 });
  let forestRate: number | undefined;
  for (const pathName of [...new Set(results.map((m) => m.path))]) {
    const runs = results.filter((m) => m.path === pathName);
    const ceilings = runs.filter((m) => m.ceiling).map(rate);
    for (const name of [...new Set(runs.filter((m) => !m.ceiling).map((m) => m.name))]) {
      // Each round ran its ceiling then its models: the ratio of a round is to its own ceiling.
      const fulls = runs.filter((m) => m.name === name).map(rate);
      const ratios = fulls.map((full, round) => full / ceilings[round]);
      const spread =
        REPEAT > 1
          ? `; each round's ratio ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`
          : "";
      console.log(
        `${name}: ${rows(median(fulls))} rows/s, ` +
          `${(median(fulls) / median(ceilings)).toFixed(2)} of the ceiling (${rows(median(ceilings))} rows/s)` +
          (REPEAT > 1 ? ` (medians of ${REPEAT} rounds${spread})` : ""),
      );
      if (name.endsWith(FOREST_ROLE)) forestRate = median(fulls);
    }
  }
  if (duckdbAlone) {
    console.log(
      `${duckdbAlone.name}: ${(duckdbAlone.rows / duckdbAlone.seconds).toLocaleString("en-US", { maximumFractionDigits: 0 })} rows/s ` +
        "(an upper bound for any Parquet → Parquet path on this host: no JavaScript, no model, no per-chunk commits)",
    );
  }
  if (forestRate !== undefined) {
    console.log(
      `\ntargets:\n- forest pipeline Parquet → Parquet ≥ ${rows(FOREST_TARGET)} rows/s: ${rows(forestRate)} rows/s` +
        (REPEAT > 1 ? ` (median of ${REPEAT})` : "") +
        `, ${forestRate >= FOREST_TARGET ? "MET" : "NOT MET"}`,
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
