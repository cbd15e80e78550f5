import { writeFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileBatchSink } from "../../src/batch/files/sink.js";
import { FileBatchSource } from "../../src/batch/files/source.js";
import { runBatchOnce, type BatchJob } from "../../src/batch/job.js";
import { batchOptionsSchema, type BatchOptionsInput } from "../../src/batch/options.js";
import { runBatch } from "../../src/batch/run.js";
import { loadPredictor } from "../../src/model/predictor.js";
import type { Predictor } from "../../src/model/types.js";
import { Registry } from "../../src/registry/registry.js";
import { sqlString, withDuckDB } from "../../src/duckdb/index.js";
import { tempDir } from "../helpers/temp.js";
import { intLabel, saveClassifierBundle, textLabel } from "../model/classifier-bundles.js";
import { NO_POSTGRES, PG_URL, postgresReachable, TestSchemas } from "../registry/store/helpers.js";
import { isBadRide, makeRides, querySqlite, quietLogger, writeRidesSqlite } from "./helpers.js";

/**
 * A classifier's text labels land in a TEXT (VARCHAR) prediction column in every sink, its
 * integer labels in the numeric one as a regressor's numbers do; reruns stay idempotent.
 */

const rides = makeRides(500);
const good = rides.filter((ride) => !isBadRide(ride));
const distanceOf = new Map(rides.map((ride) => [ride.ride_id, Number(ride.trip_distance)]));
const dir = tempDir("mldeploy-batch-classifier-");
let registry: Registry;
let textBundle: string;
let intBundle: string;

beforeAll(async () => {
  textBundle = await saveClassifierBundle(dir, "string");
  intBundle = await saveClassifierBundle(dir, "int64");
  registry = await Registry.open({ dataDir: path.join(dir, "registry") });
});
afterAll(async () => {
  await registry?.close();
});

const options = (extra: Partial<BatchOptionsInput>) =>
  batchOptionsSchema.parse({
    model: textBundle,
    idColumn: "ride_id",
    sinceColumn: "lpep_pickup_datetime",
    keepColumns: "PULocationID",
    actualColumn: "actual_duration",
    chunkSize: 128,
    ...extra,
  } as BatchOptionsInput);

/** Every good ride's label as the classifier gives it, and no other row. */
function expectLabels(
  rows: Array<{ ride_id: unknown; label: unknown }>,
  label: (distance: number) => string | number = textLabel,
): void {
  expect(rows).toHaveLength(good.length);
  for (const row of rows) {
    expect(row.label).toBe(label(distanceOf.get(Number(row.ride_id))!));
  }
  // Both classes occur, so a constant answer would not pass.
  expect(new Set(rows.map((row) => row.label)).size).toBe(2);
}

describe("SQLite → SQLite", () => {
  it("writes text labels into a TEXT column; a rerun from the start adds nothing", async () => {
    const db = path.join(tempDir(), "rides.db");
    writeRidesSqlite(db, rides);
    const run = (fromStart = false) =>
      runBatch(
        options({
          source: `sqlite:${db}`,
          table: "rides",
          sink: `sqlite:${db}`,
          sinkTable: "p",
          fromStart,
        }),
        { registry, logger: quietLogger() },
      );
    const [stats] = await run();
    expect(stats).toMatchObject({ rowsRead: rides.length, rowsScored: good.length });
    const declared = querySqlite<{ name: string; type: string }>(db, "PRAGMA table_info(p)");
    expect(declared.find((c) => c.name === "predicted_trip_class")?.type).toBe("TEXT");
    const select =
      "SELECT ride_id, predicted_trip_class AS label, typeof(predicted_trip_class) AS stored, diff FROM p";
    const rows = querySqlite<{ ride_id: number; label: string; stored: string; diff: unknown }>(
      db,
      select,
    );
    expectLabels(rows);
    expect(new Set(rows.map((row) => row.stored))).toEqual(new Set(["text"]));
    // A label has no difference from the actual duration.
    expect(rows.every((row) => row.diff === null)).toBe(true);

    const [again] = await run();
    expect(again.rowsRead).toBe(0);
    await run(true);
    expect(querySqlite(db, select)).toHaveLength(good.length);
  });

  it("writes integer labels as numbers", async () => {
    const db = path.join(tempDir(), "rides.db");
    writeRidesSqlite(db, rides);
    await runBatch(
      options({
        model: intBundle,
        source: `sqlite:${db}`,
        table: "rides",
        sink: `sqlite:${db}`,
        sinkTable: "p",
      }),
      { registry, logger: quietLogger() },
    );
    const rows = querySqlite<{ ride_id: number; label: number }>(
      db,
      "SELECT ride_id, predicted_trip_class AS label FROM p",
    );
    expectLabels(rows, intLabel);
  });

  it("refuses to put text labels into a regressor's numeric prediction column, naming it", async () => {
    const db = path.join(tempDir(), "rides.db");
    writeRidesSqlite(db, rides);
    const sink = { source: `sqlite:${db}`, table: "rides", sink: `sqlite:${db}`, sinkTable: "p" };
    await runBatch(options({ ...sink, model: intBundle }), { registry, logger: quietLogger() });
    await expect(
      runBatch(options({ ...sink, fromStart: true }), { registry, logger: quietLogger() }),
    ).rejects.toThrow(/column predicted_trip_class is REAL, but this model predicts text labels/);
  });
});

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

  it("writes text labels into a text column; a rerun from the start adds nothing", async () => {
    const run = (fromStart = false) =>
      runBatch(
        options({
          source: PG_URL,
          table: `${schema}.rides`,
          sink: PG_URL,
          sinkTable: `${schema}.ride_classes`,
          fromStart,
        }),
        { registry, logger: quietLogger() },
      );
    const [stats] = await run();
    expect(stats).toMatchObject({ rowsRead: rides.length, rowsScored: good.length });
    const types = await client.query<{ column_name: string; data_type: string }>(
      `SELECT column_name, data_type FROM information_schema.columns
       WHERE table_schema = $1 AND table_name = 'ride_classes'`,
      [schema],
    );
    expect(types.rows.find((c) => c.column_name === "predicted_trip_class")?.data_type).toBe(
      "text",
    );
    const select = `SELECT ride_id, predicted_trip_class AS label, diff FROM "${schema}".ride_classes`;
    const rows = (await client.query<{ ride_id: string; label: string; diff: unknown }>(select))
      .rows;
    expectLabels(rows);
    expect(rows.every((row) => row.diff === null)).toBe(true);
    await run(true);
    expect((await client.query(select)).rows).toHaveLength(good.length);
  });
});
if (!(await postgresReachable())) console.warn(`batch classifier PostgreSQL test ${NO_POSTGRES}`);

describe("Parquet → Parquet", () => {
  let predictor: Predictor;
  let input: string;
  beforeAll(async () => {
    predictor = await loadPredictor(textBundle, { name: "ride-class", version: "1" });
    const json = path.join(dir, "rides.json");
    writeFileSync(json, JSON.stringify(rides));
    input = path.join(dir, "rides.parquet");
    await withDuckDB((db) =>
      db.run(
        `COPY (SELECT ride_id, PULocationID, DOLocationID, trip_distance, actual_duration
               FROM read_json(${sqlString(json)}))
         TO ${sqlString(input)} (FORMAT parquet)`,
      ),
    );
  });
  afterAll(async () => predictor?.close());

  async function score(output: string, inDuckDB?: BatchJob["inDuckDB"]) {
    const source = new FileBatchSource({ path: input });
    const sink = new FileBatchSink({ path: output });
    try {
      const stats = await runBatchOnce({
        jobId: "rides",
        source,
        sink,
        predictor,
        idColumn: "ride_id",
        keepColumns: ["PULocationID"],
        actualColumn: "actual_duration",
        chunkSize: 128,
        model: { name: "ride-class", version: "1" },
        logger: quietLogger(),
        inDuckDB,
      });
      await sink.finalize();
      return stats;
    } finally {
      await sink.close();
      await source.close();
    }
  }

  async function read(output: string) {
    return withDuckDB(async (db) => {
      const types = (
        await db.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${sqlString(output)})`)
      ).getRowObjectsJson();
      const rows = (
        await db.runAndReadAll(
          `SELECT ride_id, predicted_trip_class AS label, diff FROM read_parquet(${sqlString(output)})`,
        )
      ).getRowObjectsJson() as Array<{ ride_id: unknown; label: unknown; diff: unknown }>;
      const type = types.find((t) => t.column_name === "predicted_trip_class")?.column_type;
      return { type, rows };
    });
  }

  for (const [mode, inDuckDB] of [
    ["inside DuckDB (the model as a VARCHAR function)", undefined],
    ["through the chunk pipeline", "off"],
  ] as const) {
    it(`writes text labels as VARCHAR ${mode}`, async () => {
      const output = path.join(tempDir(), "classes.parquet");
      const stats = await score(output, inDuckDB);
      expect(stats).toMatchObject({
        rowsRead: rides.length,
        rowsScored: good.length,
        inDuckDB: inDuckDB === undefined,
      });
      const { type, rows } = await read(output);
      expect(type).toBe("VARCHAR");
      expectLabels(rows);
      expect(rows.every((row) => row.diff === null)).toBe(true);
      // Scored again from the start: the merged file still holds one row per ride.
      await score(output, inDuckDB);
      expect((await read(output)).rows).toHaveLength(good.length);
    });
  }
});
