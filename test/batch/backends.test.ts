import { writeFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { batchOptionsSchema, type BatchOptionsInput } from "../../src/batch/options.js";
import { runBatch } from "../../src/batch/run.js";
import { writeRidesPostgres, writeRidesTable } from "../../src/rides/sample-rides.js";
import { Registry } from "../../src/registry/registry.js";
import { loadPredictor } from "../../src/model/predictor.js";
import { sqlString, withDuckDB } from "../../src/duckdb/index.js";
import { writeSampleTrips } from "../../src/train/sample-data.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";
import { NO_POSTGRES, PG_URL, postgresReachable, TestSchemas } from "../registry/store/helpers.js";
import { isBadRide, makeRides, querySqlite, quietLogger, writeRidesSqlite } from "./helpers.js";

/**
 * The same rides scored from SQLite, PostgreSQL and Parquet must give the same predictions:
 * one runner, three kinds of source and sink.
 */
const rides = makeRides(700);
const good = rides.filter((ride) => !isBadRide(ride));
let registry: Registry;
let bundle: string;
let reference: Map<number, number>;
/** "id: reason" of every ride the SQLite run rejected. */
let referenceRejects: string[];

const base = (extra: Partial<BatchOptionsInput>) =>
  batchOptionsSchema.parse({
    model: bundle,
    idColumn: "ride_id",
    sinceColumn: "lpep_pickup_datetime",
    keepColumns: "PULocationID,DOLocationID",
    chunkSize: 128,
    ...extra,
  } as BatchOptionsInput);

beforeAll(async () => {
  bundle = await rideBundlePath();
  registry = await Registry.open({ dataDir: path.join(tempDir(), "registry") });
  const db = path.join(tempDir(), "rides.db");
  writeRidesSqlite(db, rides);
  await runBatch(
    base({ source: `sqlite:${db}`, table: "rides", sink: `sqlite:${db}`, sinkTable: "p" }),
    {
      registry,
      logger: quietLogger(),
    },
  );
  reference = new Map(
    querySqlite<{ ride_id: number; predicted_duration: number }>(
      db,
      "SELECT ride_id, predicted_duration FROM p",
    ).map((row) => [row.ride_id, row.predicted_duration]),
  );
  expect(reference.size).toBe(good.length);
  referenceRejects = querySqlite<{ id: string; reason: string }>(
    db,
    "SELECT id, reason FROM p_rejects ORDER BY CAST(id AS INTEGER)",
  ).map((row) => `${row.id}: ${row.reason}`);
  expect(referenceRejects).toHaveLength(rides.length - good.length);
});
afterAll(async () => {
  await registry?.close();
});

function expectSameAsReference(rows: Array<{ ride_id: number; predicted_duration: number }>): void {
  expect(rows.length).toBe(good.length);
  for (const row of rows)
    expect(row.predicted_duration).toBeCloseTo(reference.get(Number(row.ride_id))!, 9);
}

describe.skipIf(!(await postgresReachable()))("PostgreSQL → PostgreSQL", () => {
  const schemas = new TestSchemas();
  const schema = schemas.next();
  let client: pg.Client;
  beforeAll(async () => {
    client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`CREATE SCHEMA "${schema}"`);
    await client.query(`CREATE TABLE "${schema}".rides (ride_id BIGINT PRIMARY KEY, lpep_pickup_datetime TIMESTAMP,
      "PULocationID" INTEGER, "DOLocationID" INTEGER, trip_distance DOUBLE PRECISION, actual_duration DOUBLE PRECISION)`);
    await client.query(
      `INSERT INTO "${schema}".rides SELECT * FROM json_populate_recordset(NULL::"${schema}".rides, $1)`,
      [JSON.stringify(rides)],
    );
  });
  afterAll(async () => {
    await client?.end();
    await schemas.drop();
  });

  it("scores the table into a prediction table, the same as SQLite, and a rerun changes nothing", async () => {
    const options = base({
      source: PG_URL,
      table: `${schema}.rides`,
      sink: PG_URL,
      sinkTable: `${schema}.ride_predictions`,
    });
    const [first] = await runBatch(options, { registry, logger: quietLogger() });
    expect(first).toMatchObject({ rowsRead: 700, rowsScored: good.length });
    const select = `SELECT ride_id, predicted_duration, model_version FROM "${schema}".ride_predictions ORDER BY ride_id`;
    const rows = (await client.query<{ ride_id: string; predicted_duration: number }>(select)).rows;
    expectSameAsReference(
      rows.map((r) => ({ ride_id: Number(r.ride_id), predicted_duration: r.predicted_duration })),
    );
    const rejects = await client.query(
      `SELECT count(*)::int AS n FROM "${schema}".ride_predictions_rejects`,
    );
    expect(rejects.rows[0].n).toBe(700 - good.length);
    const types = await client.query<{ column_name: string; data_type: string }>(
      `SELECT column_name, data_type FROM information_schema.columns
       WHERE table_schema = $1 AND table_name = 'ride_predictions' ORDER BY ordinal_position`,
      [schema],
    );
    // An INTEGER column of the source stays an integer; computed numbers are double.
    expect(types.rows.find((c) => c.column_name === "PULocationID")?.data_type).toBe("bigint");
    expect(types.rows.find((c) => c.column_name === "predicted_duration")?.data_type).toBe(
      "double precision",
    );

    await runBatch(base({ ...options, fromStart: true }), { registry, logger: quietLogger() });
    expect((await client.query(select)).rows.length).toBe(good.length);
  });

  it("sample-data --postgres loads the sample months into a rides table the batch job reads", async () => {
    const dir = tempDir();
    const files = [path.join(dir, "green_tripdata_2021-01.parquet")];
    await writeSampleTrips({ path: files[0], seed: 3, year: 2021, month: 1, rows: 2_000 });
    const loaded = await writeRidesPostgres(files, PG_URL, `${schema}.sample_rides`);
    expect(loaded).toBe(2_000);
    // Same rows, ids and durations as the SQLite table the README example uses.
    const db = path.join(dir, "rides.db");
    await writeRidesTable(files, db);
    const sqliteRows = querySqlite<{ ride_id: number; actual_duration: number }>(
      db,
      "SELECT ride_id, actual_duration FROM rides ORDER BY ride_id",
    );
    const pgRows = (
      await client.query<{ ride_id: string; actual_duration: number }>(
        `SELECT ride_id, actual_duration FROM "${schema}".sample_rides ORDER BY ride_id`,
      )
    ).rows.map((r) => ({ ride_id: Number(r.ride_id), actual_duration: r.actual_duration }));
    expect(pgRows).toEqual(sqliteRows);
    const [stats] = await runBatch(
      base({
        source: PG_URL,
        table: `${schema}.sample_rides`,
        sink: PG_URL,
        sinkTable: `${schema}.sample_predictions`,
      }),
      { registry, logger: quietLogger() },
    );
    expect(stats.rowsRead).toBe(2_000);
    // Loading again replaces the table rather than adding to it.
    expect(await writeRidesPostgres(files, PG_URL, `${schema}.sample_rides`)).toBe(2_000);
    const count = await client.query(`SELECT count(*)::int AS n FROM "${schema}".sample_rides`);
    expect(count.rows[0].n).toBe(2_000);
  });
});
if (!(await postgresReachable())) console.warn(`batch PostgreSQL test ${NO_POSTGRES}`);

describe("Parquet → Parquet", () => {
  it("scores files into one predictions file with the original job's columns, the same as SQLite", async () => {
    const dir = tempDir();
    const json = path.join(dir, "rides.json");
    writeFileSync(json, JSON.stringify(rides));
    const input = path.join(dir, "rides-2021-01.parquet");
    await withDuckDB(async (db) => {
      await db.run(
        `COPY (SELECT ride_id, CAST(lpep_pickup_datetime AS TIMESTAMP) AS lpep_pickup_datetime, PULocationID,
           DOLocationID, trip_distance, actual_duration FROM read_json(${sqlString(json)}))
         TO ${sqlString(input)} (FORMAT parquet)`,
      );
    });
    const output = path.join(dir, "predictions.parquet");
    const options = base({
      source: path.join(dir, "rides-*.parquet"),
      sink: output,
      keepColumns: "lpep_pickup_datetime,PULocationID,DOLocationID",
      actualColumn: "actual_duration",
    });
    const [stats] = await runBatch(options, { registry, logger: quietLogger() });
    expect(stats).toMatchObject({ rowsRead: 700, rowsScored: good.length });

    const rows = await withDuckDB(async (db) => {
      const reader = await db.runAndReadAll(
        `SELECT * FROM read_parquet(${sqlString(output)}) ORDER BY ride_id`,
      );
      return reader.getRowObjectsJson() as Array<Record<string, unknown>>;
    });
    expect(Object.keys(rows[0])).toEqual(
      expect.arrayContaining([
        "ride_id",
        "lpep_pickup_datetime",
        "PULocationID",
        "DOLocationID",
        "actual_duration",
        "predicted_duration",
        "diff",
        "model_version",
      ]),
    );
    expectSameAsReference(
      rows.map((r) => ({
        ride_id: Number(r.ride_id),
        predicted_duration: Number(r.predicted_duration),
      })),
    );

    // NULL and negative distances are rejected for the same reasons as from SQLite (a NULL read
    // into a typed column is "required", not a NaN).
    const rejects = await withDuckDB(async (db) => {
      const reader = await db.runAndReadAll(
        `SELECT id, reason FROM read_parquet(${sqlString(path.join(dir, "predictions.rejects.parquet"))})
         ORDER BY CAST(id AS INTEGER)`,
      );
      return reader.getRowObjectsJson().map((row) => `${String(row.id)}: ${String(row.reason)}`);
    });
    expect(rejects).toEqual(referenceRejects);
    expect(rejects.some((line) => line.includes("is required"))).toBe(true);

    // Rerunning from the start rewrites the same predictions: still one row per ride and version.
    await runBatch(base({ ...options, fromStart: true }), { registry, logger: quietLogger() });
    const count = await withDuckDB(async (db) =>
      Number(
        (
          await db.runAndReadAll(`SELECT count(*) AS n FROM read_parquet(${sqlString(output)})`)
        ).getRowObjectsJson()[0].n,
      ),
    );
    expect(count).toBe(good.length);
  });
});

describe("raw TLC Parquet files → predictions file (the original batch job)", () => {
  it("derives ride_id and the actual duration with --query, and writes the original job's columns", async () => {
    const dir = tempDir();
    for (const [month, seed] of [
      [1, 1],
      [2, 2],
    ] as const) {
      await writeSampleTrips({
        path: path.join(dir, `green_tripdata_2021-0${month}.parquet`),
        seed,
        year: 2021,
        month,
        rows: 3000,
      });
    }
    const output = path.join(dir, "predictions.parquet");
    const options = batchOptionsSchema.parse({
      model: bundle,
      source: path.join(dir, "green_tripdata_2021-*.parquet"),
      // The original job's id: "<year>/<month>_<row>"; its actual duration in minutes.
      query: `SELECT replace(regexp_extract(filename, '(\\d{4}-\\d{2})\\.parquet', 1), '-', '/') || '_' || file_row_number AS ride_id,
                     lpep_pickup_datetime, PULocationID, DOLocationID, trip_distance,
                     epoch(lpep_dropoff_datetime - lpep_pickup_datetime) / 60 AS actual_duration
              FROM source`,
      idColumn: "ride_id",
      keepColumns: "lpep_pickup_datetime,PULocationID,DOLocationID,trip_distance",
      actualColumn: "actual_duration",
      sink: output,
      chunkSize: 1000,
    } satisfies BatchOptionsInput);
    const [stats] = await runBatch(options, { registry, logger: quietLogger() });
    expect(stats.rowsRead).toBe(6000);

    const rows = await withDuckDB(async (db) =>
      (
        await db.runAndReadAll(`SELECT * FROM read_parquet(${sqlString(output)}) ORDER BY ride_id`)
      ).getRowObjectsJson(),
    );
    expect(rows.length).toBe(stats.rowsScored);
    expect(String(rows[0].ride_id)).toMatch(/^2021\/0[12]_\d+$/);
    const predictor = await loadPredictor(bundle);
    try {
      const sample = rows.slice(0, 20);
      const expected = await predictor.predictRecords(
        sample.map((r) => ({
          PULocationID: Number(r.PULocationID),
          DOLocationID: Number(r.DOLocationID),
          trip_distance: Number(r.trip_distance),
        })),
      );
      sample.forEach((row, i) => {
        expect(Number(row.predicted_duration)).toBeCloseTo(expected.values[i] as number, 9);
        expect(Number(row.diff)).toBeCloseTo(
          Number(row.actual_duration) - Number(row.predicted_duration),
          9,
        );
      });
    } finally {
      await predictor.close();
    }
  });
});
