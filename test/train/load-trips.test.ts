import { mkdir } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../../src/config/errors.js";
import { RIDES_SPEC } from "../../src/rides/index.js";
import { sqlString, withDuckDB } from "../../src/duckdb/index.js";
import { loadTrips } from "../../src/train/load-trips.js";
import { writeSampleTrips } from "../../src/train/sample-data.js";
import { makeTempDir, parquet, query } from "./helpers.js";

const ROWS = 8_000;

/** Runs statements on a scratch DuckDB (to derive test files from the sample). */
async function sql(...statements: string[]): Promise<void> {
  await withDuckDB(async (connection) => {
    for (const statement of statements) await connection.run(statement);
  });
}

describe("loadTrips", () => {
  let cleanup: (() => Promise<void>) | undefined;
  let dir: string;
  let green: string;

  beforeAll(async () => {
    const temp = await makeTempDir("load");
    cleanup = temp.cleanup;
    dir = temp.dir;
    green = path.join(dir, "green.parquet");
    await writeSampleTrips({ path: green, seed: 5, year: 2021, month: 2, rows: ROWS });
  });

  afterAll(async () => {
    await cleanup?.();
  });

  it("reads green trips, keeps 1–60 minute rides and builds PU_DO", async () => {
    const trips = await loadTrips(green, RIDES_SPEC);
    // Independent count and total of the kept durations, computed with another SQL function.
    const [expected] = await query(`
      SELECT count(*) AS n, sum(d) AS total FROM (
        SELECT date_diff('second', lpep_pickup_datetime, lpep_dropoff_datetime) / 60.0 AS d FROM ${parquet(green)})
      WHERE d >= 1 AND d <= 60`);
    expect(trips.naming).toBe("green");
    expect(trips.format).toBe("parquet");
    expect(trips.rowsRead).toBe(ROWS);
    expect(trips.rows).toBe(Number(expected.n));
    expect(trips.rows).toBeLessThan(ROWS);
    expect(trips.droppedTarget).toBe(ROWS - trips.rows);
    expect(trips.target.reduce((a, b) => a + b, 0)).toBeCloseTo(Number(expected.total), 6);
    expect(Math.min(...trips.target)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...trips.target)).toBeLessThanOrEqual(60);

    const pu = trips.inputs.columns.PULocationID as Float64Array;
    const dO = trips.inputs.columns.DOLocationID as Float64Array;
    const puDo = trips.features.PU_DO as string[];
    expect(puDo).toHaveLength(trips.rows);
    for (let i = 0; i < trips.rows; i += 97) expect(puDo[i]).toBe(`${pu[i]}_${dO[i]}`);
    expect(puDo.every((v) => /^\d+_\d+$/.test(v))).toBe(true);
    expect(trips.features.trip_distance).toBeInstanceOf(Float64Array);
  });

  it("detects yellow (tpep_) naming and reads CSV the same way", async () => {
    const yellow = path.join(dir, "yellow.parquet");
    const csv = path.join(dir, "yellow.csv");
    const rename = `SELECT * RENAME (lpep_pickup_datetime AS tpep_pickup_datetime, lpep_dropoff_datetime AS tpep_dropoff_datetime) FROM ${parquet(green)}`;
    await sql(
      `COPY (${rename}) TO ${sqlString(yellow)} (FORMAT parquet)`,
      `COPY (${rename}) TO ${sqlString(csv)} (FORMAT csv, HEADER true)`,
    );
    const reference = await loadTrips(green, RIDES_SPEC);
    for (const file of [yellow, csv]) {
      const trips = await loadTrips(file, RIDES_SPEC);
      expect(trips.naming).toBe("yellow");
      expect(trips.format).toBe(file.endsWith(".csv") ? "csv" : "parquet");
      expect(trips.rows).toBe(reference.rows);
      expect(Array.from(trips.target)).toEqual(Array.from(reference.target));
      expect(trips.features.PU_DO).toEqual(reference.features.PU_DO);
    }
  });

  it("reads a glob of files, even under a path with a quote in it", async () => {
    const quoted = path.join(dir, "it's here");
    await mkdir(quoted);
    await writeSampleTrips({
      path: path.join(quoted, "part-1.parquet"),
      seed: 1,
      year: 2021,
      month: 3,
      rows: 1000,
    });
    await writeSampleTrips({
      path: path.join(quoted, "part-2.parquet"),
      seed: 2,
      year: 2021,
      month: 3,
      rows: 500,
    });
    const trips = await loadTrips(path.join(quoted, "part-*.parquet"), RIDES_SPEC);
    expect(trips.rowsRead).toBe(1500);
    const single = await loadTrips(path.join(quoted, "part-1.parquet"), RIDES_SPEC);
    expect(single.rowsRead).toBe(1000);
  });

  it("drops rows with a missing pickup zone, dropoff zone or distance", async () => {
    const holes = path.join(dir, "holes.parquet");
    await sql(
      `CREATE TABLE t AS SELECT * FROM ${parquet(green)}`,
      `UPDATE t SET PULocationID = NULL WHERE VendorID = 1 AND passenger_count = 1`,
      `UPDATE t SET trip_distance = NULL WHERE VendorID = 1 AND passenger_count = 2`,
      `COPY t TO ${sqlString(holes)} (FORMAT parquet)`,
    );
    const [expected] = await query(
      `SELECT count(*) AS n FROM ${parquet(green)} WHERE VendorID = 1 AND passenger_count IN (1, 2)`,
    );
    expect(Number(expected.n)).toBeGreaterThan(0);
    const trips = await loadTrips(holes, RIDES_SPEC);
    expect(trips.droppedMissing).toBe(Number(expected.n));
    expect(trips.rows + trips.droppedMissing + trips.droppedTarget).toBe(ROWS);
    expect(Array.from(trips.inputs.columns.PULocationID as Float64Array).some(Number.isNaN)).toBe(
      false,
    );
    expect(Array.from(trips.features.trip_distance as Float64Array).some(Number.isNaN)).toBe(false);
  });

  it("names the file when it does not exist, or no files match a glob", async () => {
    const missing = path.join(dir, "nope.parquet");
    await expect(loadTrips(missing, RIDES_SPEC)).rejects.toThrow(UserError);
    await expect(loadTrips(missing, RIDES_SPEC)).rejects.toThrow(`${missing}: file does not exist`);
    const glob = path.join(dir, "none-*.parquet");
    await expect(loadTrips(glob, RIDES_SPEC)).rejects.toThrow(glob);
  });

  it("names the file and the column when a required column is missing", async () => {
    const noDistance = path.join(dir, "no-distance.parquet");
    const noTimes = path.join(dir, "no-times.parquet");
    await sql(
      `COPY (SELECT * EXCLUDE (trip_distance) FROM ${parquet(green)}) TO ${sqlString(noDistance)} (FORMAT parquet)`,
      `COPY (SELECT * EXCLUDE (lpep_dropoff_datetime) FROM ${parquet(green)}) TO ${sqlString(noTimes)} (FORMAT parquet)`,
    );
    await expect(loadTrips(noDistance, RIDES_SPEC)).rejects.toThrow(
      new RegExp(`${escape(noDistance)}: required column "trip_distance" is missing`),
    );
    await expect(loadTrips(noTimes, RIDES_SPEC)).rejects.toThrow(
      new RegExp(`${escape(noTimes)}: no pickup/dropoff time columns`),
    );
  });

  it("names the file when it is not Parquet", async () => {
    const bogus = path.join(dir, "bogus.parquet");
    await sql(`COPY (SELECT 1 AS x) TO ${sqlString(bogus)} (FORMAT csv)`);
    await expect(loadTrips(bogus, RIDES_SPEC)).rejects.toThrow(
      new RegExp(`^${escape(bogus)}: cannot read`),
    );
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
