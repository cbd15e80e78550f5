import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../../src/config/errors.js";
import { columnDrift, datasetDrift, type ColumnKind } from "../../src/monitor/index.js";
import { runCli } from "../helpers/cli.js";
import { RIDES_SPEC } from "../../src/rides/index.js";
import { fitCategoricalLinear, loadTrips, predictLinear, rmse } from "../../src/train/index.js";
import { writeSampleTrips } from "../../src/train/sample-data.js";
import { makeTempDir, parquet, query } from "./helpers.js";

const ROWS = 20_000;

/**
 * md5 of every row (as text, sorted) of the 5,000 trips of seed 7, March 2021, written by the
 * generator before --shift existed: shift 0 must go on writing exactly these trips. A content
 * hash, not the file's bytes, so a DuckDB upgrade that changes the Parquet writer leaves it.
 */
const UNSHIFTED_CONTENT_MD5 = "f32e3fb12b7a3256e81c6433c2ce0df4";

const contentMd5 = async (file: string) => {
  const [row] = await query(
    `SELECT md5(string_agg(CAST(t AS VARCHAR), chr(10) ORDER BY CAST(t AS VARCHAR))) AS h FROM ${parquet(file)} t`,
  );
  return row.h;
};
const fileSha256 = async (file: string) =>
  createHash("sha256")
    .update(await readFile(file))
    .digest("hex");

describe("writeSampleTrips shift", () => {
  let cleanup: (() => Promise<void>) | undefined;
  let dir: string;
  const month = (name: string) => path.join(dir, `${name}.parquet`);

  beforeAll(async () => {
    const temp = await makeTempDir("shift");
    cleanup = temp.cleanup;
    dir = temp.dir;
    // January trains; February comes unshifted and shifted, same seed.
    await writeSampleTrips({ path: month("jan"), seed: 1, year: 2021, month: 1, rows: ROWS });
    for (const [name, shift] of [
      ["feb", 0],
      ["feb-quarter", 0.25],
      ["feb-shifted", 0.6],
    ] as const) {
      await writeSampleTrips({
        path: month(name),
        seed: 2,
        year: 2021,
        month: 2,
        rows: ROWS,
        shift,
      });
    }
  });

  afterAll(async () => {
    await cleanup?.();
  });

  it("shift 0 writes the trips written before the option existed, byte for byte as no shift", async () => {
    const zero = month("zero");
    const none = month("none");
    await writeSampleTrips({ path: zero, seed: 7, year: 2021, month: 3, rows: 5000, shift: 0 });
    await writeSampleTrips({ path: none, seed: 7, year: 2021, month: 3, rows: 5000 });
    expect(await fileSha256(zero)).toBe(await fileSha256(none));
    expect(await contentMd5(zero)).toBe(UNSHIFTED_CONTENT_MD5);
  });

  it("is deterministic for a seed and shift", async () => {
    const again = month("again");
    await writeSampleTrips({ path: again, seed: 2, year: 2021, month: 2, rows: ROWS, shift: 0.6 });
    expect(await fileSha256(again)).toBe(await fileSha256(month("feb-shifted")));
  });

  it("moves distances up and zone pairs away from those of the training month, more with a larger shift", async () => {
    const stats = async (name: string) => {
      const [row] = await query(`
        WITH seen AS (SELECT DISTINCT PULocationID || '_' || DOLocationID AS pair FROM ${parquet(month("jan"))})
        SELECT avg(trip_distance) AS distance,
               avg(CASE WHEN PULocationID || '_' || DOLocationID IN (SELECT pair FROM seen) THEN 0 ELSE 1 END) AS unseen,
               max(greatest(PULocationID, DOLocationID)) AS max_zone,
               min(least(PULocationID, DOLocationID)) AS min_zone
        FROM ${parquet(month(name))}`);
      return {
        distance: Number(row.distance),
        unseen: Number(row.unseen),
        zones: [Number(row.min_zone), Number(row.max_zone)],
      };
    };
    const [plain, quarter, shifted] = await Promise.all(
      ["feb", "feb-quarter", "feb-shifted"].map(stats),
    );
    expect(quarter.distance).toBeGreaterThan(plain.distance * 1.2);
    expect(shifted.distance).toBeGreaterThan(quarter.distance * 1.1);
    expect(quarter.unseen).toBeGreaterThan(plain.unseen + 0.1);
    expect(shifted.unseen).toBeGreaterThan(quarter.unseen + 0.1);
    // Still the same city: every zone a real TLC zone id.
    expect(shifted.zones[0]).toBeGreaterThanOrEqual(1);
    expect(shifted.zones[1]).toBeLessThanOrEqual(265);
  });

  it("drift tests (Evidently's defaults) flag the shifted month and not the unshifted one", async () => {
    const columns: Array<[string, ColumnKind]> = [
      ["PULocationID", "categorical"],
      ["DOLocationID", "categorical"],
      ["trip_distance", "numerical"],
    ];
    const read = (name: string) =>
      query(
        `SELECT CAST(PULocationID AS VARCHAR) AS PULocationID, CAST(DOLocationID AS VARCHAR) AS DOLocationID, trip_distance FROM ${parquet(month(name))}`,
      );
    const reference = await read("jan");
    const drift = async (name: string) => {
      const current = await read(name);
      return datasetDrift(
        columns.map(([column, kind]) =>
          columnDrift(
            reference.map((row) => row[column] as string | number),
            current.map((row) => row[column] as string | number),
            { kind },
          ),
        ),
      );
    };
    expect(await drift("feb")).toMatchObject({
      status: "ok",
      driftedColumns: 0,
      datasetDrift: false,
    });
    expect(await drift("feb-quarter")).toMatchObject({ driftedColumns: 3, datasetDrift: true });
    expect(await drift("feb-shifted")).toMatchObject({ driftedColumns: 3, datasetDrift: true });
  });

  it("a model trained on an unshifted month errs more on the shifted one", async () => {
    const load = (name: string) => loadTrips(month(name), RIDES_SPEC);
    const [train, plain, shifted] = await Promise.all(["jan", "feb", "feb-shifted"].map(load));
    const model = fitCategoricalLinear({
      categoricalFeature: "PU_DO",
      categorical: train.features.PU_DO as string[],
      numericFeatures: ["trip_distance"],
      numeric: [train.features.trip_distance as Float64Array],
      target: train.target,
    });
    const score = (data: typeof train) =>
      rmse(
        data.target,
        predictLinear(model, data.features.PU_DO as string[], [
          data.features.trip_distance as Float64Array,
        ]),
      );
    expect(score(shifted)).toBeGreaterThan(score(plain) * 1.2);
  });

  it("refuses a shift outside 0–1, naming it", async () => {
    for (const shift of [-0.1, 1.5, Number.NaN]) {
      await expect(
        writeSampleTrips({ path: month("bad"), seed: 1, year: 2021, month: 1, rows: 10, shift }),
      ).rejects.toThrow(new UserError(`shift must be a number from 0 to 1, got ${shift}`));
    }
  });

  it("mldeploy sample-data --shift writes the shifted month and refuses a bad value", async () => {
    const out = path.join(dir, "cli");
    const args = ["sample-data", "--out", out, "--months", "2021-02", "--rows", "500"];
    const plain = await runCli([...args, "--seed", "2"]);
    expect(plain.status, plain.stderr).toBe(0);
    const file = path.join(out, "green_tripdata_2021-02.parquet");
    const plainSha = await fileSha256(file);
    const shifted = await runCli([...args, "--seed", "2", "--shift", "0.6"]);
    expect(shifted.status, shifted.stderr).toBe(0);
    expect(await fileSha256(file)).not.toBe(plainSha);
    const bad = await runCli([...args, "--shift", "2"]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe('mldeploy: error: --shift must be a number from 0 to 1, got "2"\n');
  });
});
