import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../../src/config/errors.js";
import { writeSampleTrips } from "../../src/train/sample-data.js";
import { makeTempDir, parquet, query } from "./helpers.js";

/** The green-taxi schema as the TLC publishes it (the columns the loader and users rely on). */
const TLC_GREEN_SCHEMA: Array<[string, string]> = [
  ["VendorID", "BIGINT"],
  ["lpep_pickup_datetime", "TIMESTAMP"],
  ["lpep_dropoff_datetime", "TIMESTAMP"],
  ["store_and_fwd_flag", "VARCHAR"],
  ["RatecodeID", "DOUBLE"],
  ["PULocationID", "BIGINT"],
  ["DOLocationID", "BIGINT"],
  ["passenger_count", "DOUBLE"],
  ["trip_distance", "DOUBLE"],
  ["fare_amount", "DOUBLE"],
  ["extra", "DOUBLE"],
  ["mta_tax", "DOUBLE"],
  ["tip_amount", "DOUBLE"],
  ["tolls_amount", "DOUBLE"],
  ["ehail_fee", "DOUBLE"],
  ["improvement_surcharge", "DOUBLE"],
  ["total_amount", "DOUBLE"],
  ["payment_type", "DOUBLE"],
  ["trip_type", "DOUBLE"],
  ["congestion_surcharge", "DOUBLE"],
];

const ROWS = 20_000;
const DURATION = "(epoch_us(lpep_dropoff_datetime) - epoch_us(lpep_pickup_datetime)) / 60e6";

describe("writeSampleTrips", () => {
  let cleanup: (() => Promise<void>) | undefined;
  let dir: string;
  let file: string;
  const progress: Array<[number, number]> = [];

  beforeAll(async () => {
    const temp = await makeTempDir("sample");
    cleanup = temp.cleanup;
    dir = temp.dir;
    file = path.join(dir, "nested", "green_tripdata_2021-01.parquet");
    const result = await writeSampleTrips({
      path: file,
      seed: 42,
      year: 2021,
      month: 1,
      rows: ROWS,
      onProgress: (done, total) => progress.push([done, total]),
    });
    expect(result).toEqual({ path: file, rows: ROWS });
  });

  afterAll(async () => {
    await cleanup?.();
  });

  it("writes the TLC green-taxi columns with the TLC types", async () => {
    const columns = await query(`DESCRIBE SELECT * FROM ${parquet(file)}`);
    expect(columns.map((c) => [c.column_name, c.column_type])).toEqual(TLC_GREEN_SCHEMA);
  });

  it("is byte-identical for the same seed and differs for another seed", async () => {
    const again = path.join(dir, "again.parquet");
    const other = path.join(dir, "other.parquet");
    await writeSampleTrips({ path: again, seed: 42, year: 2021, month: 1, rows: ROWS });
    await writeSampleTrips({ path: other, seed: 43, year: 2021, month: 1, rows: ROWS });
    const hash = async (f: string) =>
      createHash("sha256")
        .update(await readFile(f))
        .digest("hex");
    expect(await hash(again)).toBe(await hash(file));
    expect(await hash(other)).not.toBe(await hash(file));
  });

  it("has the requested rows, all inside the month, with valid zones", async () => {
    const [stats] = await query(`
      SELECT count(*) AS n,
             min(lpep_pickup_datetime) >= TIMESTAMP '2021-01-01' AS after_start,
             max(lpep_pickup_datetime) < TIMESTAMP '2021-02-01' AS before_end,
             min(least(PULocationID, DOLocationID)) AS min_zone,
             max(greatest(PULocationID, DOLocationID)) AS max_zone,
             count(DISTINCT PULocationID || '_' || DOLocationID) AS pairs
      FROM ${parquet(file)}`);
    expect(Number(stats.n)).toBe(ROWS);
    expect(stats.after_start).toBe(true);
    expect(stats.before_end).toBe(true);
    expect(Number(stats.min_zone)).toBeGreaterThanOrEqual(1);
    expect(Number(stats.max_zone)).toBeLessThanOrEqual(265);
    // Skewed popularity still leaves thousands of routes, as in the real data.
    expect(Number(stats.pairs)).toBeGreaterThan(3000);
  });

  it("has 2–5 % duration outliers on both sides of the 1–60 minute window", async () => {
    const [stats] = await query(`
      SELECT avg(CASE WHEN ${DURATION} < 1 THEN 1 ELSE 0 END) AS short,
             avg(CASE WHEN ${DURATION} > 60 THEN 1 ELSE 0 END) AS long,
             max(${DURATION}) AS longest,
             median(${DURATION}) AS median
      FROM ${parquet(file)}`);
    const outliers = Number(stats.short) + Number(stats.long);
    expect(outliers).toBeGreaterThan(0.02);
    expect(outliers).toBeLessThan(0.05);
    expect(Number(stats.short)).toBeGreaterThan(0.005);
    expect(Number(stats.long)).toBeGreaterThan(0.005);
    expect(Number(stats.longest)).toBeGreaterThan(120);
    expect(Number(stats.median)).toBeGreaterThan(5);
    expect(Number(stats.median)).toBeLessThan(25);
  });

  it("makes duration depend on distance and on the route, and fares on distance", async () => {
    const [stats] = await query(`
      WITH t AS (SELECT *, ${DURATION} AS minutes, PULocationID || '_' || DOLocationID AS route
                 FROM ${parquet(file)} WHERE ${DURATION} BETWEEN 1 AND 60)
      SELECT corr(minutes, trip_distance) AS duration_distance,
             corr(fare_amount, trip_distance) FILTER (WHERE RatecodeID = 1) AS fare_distance,
             (SELECT regr_r2(minutes / nullif(trip_distance, 0), route_pace)
                FROM (SELECT minutes, trip_distance,
                             avg(minutes / nullif(trip_distance, 0)) OVER (PARTITION BY route) AS route_pace,
                             count(*) OVER (PARTITION BY route) AS n
                      FROM t WHERE trip_distance > 0.5) WHERE n >= 20) AS route_r2
      FROM t`);
    expect(Number(stats.duration_distance)).toBeGreaterThan(0.6);
    expect(Number(stats.fare_distance)).toBeGreaterThan(0.9);
    // Minutes per mile cluster by route: the pickup/dropoff pair carries signal.
    expect(Number(stats.route_r2)).toBeGreaterThan(0.1);
  });

  it("leaves nulls where the TLC data has them", async () => {
    const [stats] = await query(`
      SELECT count(ehail_fee) AS ehail,
             avg(CASE WHEN payment_type IS NULL THEN 1 ELSE 0 END) AS payment_null,
             count(*) FILTER (WHERE payment_type IS NULL AND (RatecodeID IS NOT NULL OR store_and_fwd_flag IS NOT NULL
                                    OR passenger_count IS NOT NULL OR trip_type IS NOT NULL)) AS partial,
             count(*) FILTER (WHERE PULocationID IS NULL OR DOLocationID IS NULL OR trip_distance IS NULL) AS required_nulls
      FROM ${parquet(file)}`);
    expect(Number(stats.ehail)).toBe(0);
    expect(Number(stats.payment_null)).toBeGreaterThan(0.02);
    expect(Number(stats.payment_null)).toBeLessThan(0.12);
    expect(Number(stats.partial)).toBe(0);
    expect(Number(stats.required_nulls)).toBe(0);
  });

  it("reports progress up to the total", () => {
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toEqual([ROWS, ROWS]);
    for (let i = 1; i < progress.length; i++)
      expect(progress[i][0]).toBeGreaterThan(progress[i - 1][0]);
  });

  it("rejects a bad month or row count with a UserError", async () => {
    await expect(
      writeSampleTrips({ path: path.join(dir, "x.parquet"), seed: 1, year: 2021, month: 13 }),
    ).rejects.toThrow(UserError);
    await expect(
      writeSampleTrips({
        path: path.join(dir, "x.parquet"),
        seed: 1,
        year: 2021,
        month: 1,
        rows: 0,
      }),
    ).rejects.toThrow(/rows must be a positive integer/);
  });
});
