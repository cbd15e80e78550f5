import path from "node:path";
import { beforeAll, expect, it } from "vitest";
import { sqlString, withDuckDB } from "../../../src/duckdb/index.js";
import { runCli } from "../../helpers/cli.js";
import { rideBundlePath } from "../../helpers/ride-bundle.js";
import { tempDir } from "../../helpers/temp.js";

let bundle: string;
beforeAll(async () => {
  bundle = await rideBundlePath();
});

async function rows(sql: string): Promise<Array<Record<string, unknown>>> {
  return withDuckDB(async (db) => (await db.runAndReadAll(sql)).getRowObjectsJson());
}

it("--query over CSV files: filename and file_row_number number each file's rows from 0, in order", async () => {
  const dir = tempDir("mldeploy-csv-query-");
  // Two months of rides as CSV; `line` is each row's position in its file, so the test can
  // check file_row_number against it.
  for (const [month, count] of [
    ["01", 2500],
    ["02", 1700],
  ] as const) {
    await withDuckDB((db) =>
      db.run(
        `COPY (SELECT i AS line, 1 + i % 200 AS PULocationID, 1 + (i * 7) % 200 AS DOLocationID,
                      (i % 50) / 4 AS trip_distance
               FROM range(${count}) t(i))
         TO ${sqlString(path.join(dir, `rides-2021-${month}.csv`))} (FORMAT csv, HEADER true)`,
      ),
    );
  }
  const output = path.join(dir, "predictions.parquet");
  const result = await runCli([
    "batch",
    "--model",
    bundle,
    "--source",
    path.join(dir, "rides-2021-*.csv"),
    "--query",
    `SELECT regexp_extract(filename, '(\\d{4}-\\d{2})\\.csv', 1) || '_' || file_row_number AS ride_id,
            file_row_number, line, PULocationID, DOLocationID, trip_distance
     FROM source`,
    "--id-column",
    "ride_id",
    "--keep-columns",
    "file_row_number,line",
    "--sink",
    output,
  ]);
  expect(result.stderr).toBe("");
  expect(result.status).toBe(0);
  const scored = await rows(
    `SELECT ride_id, file_row_number, line FROM read_parquet(${sqlString(output)})`,
  );
  expect(scored).toHaveLength(4200);
  const mismatched = scored.filter(
    (row) =>
      String(row.file_row_number) !== String(row.line) ||
      !/^2021-0[12]_\d+$/.test(String(row.ride_id)),
  );
  expect(mismatched).toEqual([]);
  const ids = new Set(scored.map((row) => String(row.ride_id)));
  expect(ids.has("2021-01_0") && ids.has("2021-01_2499") && ids.has("2021-02_1699")).toBe(true);
  expect(ids.size).toBe(4200);
});
