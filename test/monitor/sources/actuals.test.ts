import { writeFileSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../../../src/config/errors.js";
import {
  closeDuckDB,
  openDuckDB,
  sqlString,
  type DuckDBEngine,
} from "../../../src/duckdb/index.js";
import type { FrameColumn } from "../../../src/monitor/job/types.js";
import { loadActuals, loadFileWindow } from "../../../src/monitor/job/sources/index.js";
import { tempDir } from "../../helpers/temp.js";
import { PG_URL, postgresReachable, TestSchemas } from "../../registry/store/helpers.js";
import { queryRows, recordingLogger, tableTypes } from "./helpers.js";

let engine: DuckDBEngine;
let dir: string;

beforeAll(async () => {
  engine = await openDuckDB({ memoryLimit: "256MB" });
  dir = tempDir("mldeploy-actuals-");
});
afterAll(async () => {
  await closeDuckDB(Promise.resolve(engine));
});

async function actualsOf(table: string): Promise<Record<string, number>> {
  const rows = await queryRows(engine.connection, `SELECT id, actual FROM ${table}`);
  return Object.fromEntries(rows.map((r) => [String(r.id), Number(r.actual)]));
}

/** id 1..3 numbers, id 2 twice (the later 22 wins), id 4 text, id 5 empty, one row without id. */
const CSV = "ride_id,actual_duration\n1,10.5\n2,20\n3,30\nx4,abc\n5,\n2,22\n,7\n";

describe("loadActuals", () => {
  it("from a CSV file: the last value of a repeated id, text and missing values skipped and said", async () => {
    const file = path.join(dir, "actuals.csv");
    writeFileSync(file, CSV);
    const { logger, warnings } = recordingLogger();
    const frame = await loadActuals(
      { connection: engine.connection, logger },
      { table: "actuals", url: file, idColumn: "ride_id", valueColumn: "actual_duration" },
    );
    expect(frame.rows).toBe(3);
    expect(await actualsOf("actuals")).toEqual({ "1": 10.5, "2": 22, "3": 30 });
    expect(await tableTypes(engine.connection, "actuals")).toEqual({
      id: "VARCHAR",
      actual: "DOUBLE",
    });
    expect(frame.description).toContain("1 values that are not numbers skipped");
    expect(frame.description).toContain("1 repeated ids (the last value of each kept)");
    expect(frame.description).toContain("1 without a value");
    expect(frame.description).toContain("1 without an id skipped");
    expect(warnings.some((w) => w.includes("are not numbers"))).toBe(true);
    expect(warnings.some((w) => w.includes("repeat an id"))).toBe(true);
  });

  it("from a Parquet file, numeric ids as text", async () => {
    const file = path.join(dir, "actuals.parquet");
    await engine.connection.run(
      `COPY (SELECT range::BIGINT AS ride_id, range * 1.5 AS duration FROM range(1, 101)) TO ${sqlString(file)} (FORMAT parquet)`,
    );
    const frame = await loadActuals(
      { connection: engine.connection, logger: recordingLogger().logger },
      { table: "pq", url: file, idColumn: "ride_id", valueColumn: "duration" },
    );
    expect(frame.rows).toBe(100);
    expect((await actualsOf("pq"))["42"]).toBe(63);
  });

  it("from a SQLite table", async () => {
    const file = path.join(dir, "truth.db");
    const db = new Database(file);
    db.exec("CREATE TABLE truth (ride_id INTEGER, actual_duration REAL)");
    const insert = db.prepare("INSERT INTO truth VALUES (?, ?)");
    insert.run(1, 10.5);
    insert.run(2, 20);
    insert.run(3, "n/a");
    insert.run(2, 25);
    db.close();
    const frame = await loadActuals(
      { connection: engine.connection, logger: recordingLogger().logger },
      {
        table: "sqlite_actuals",
        url: `sqlite:${file}`,
        sourceTable: "truth",
        idColumn: "ride_id",
        valueColumn: "actual_duration",
      },
    );
    expect(await actualsOf("sqlite_actuals")).toEqual({ "1": 10.5, "2": 25 });
    expect(frame.description).toContain("1 values that are not numbers skipped");
  });

  it("names the setting at fault", async () => {
    const ctx = { connection: engine.connection, logger: recordingLogger().logger };
    const file = path.join(dir, "actuals.csv");
    writeFileSync(file, CSV);
    const base = { table: "bad", idColumn: "ride_id", valueColumn: "actual_duration" };
    await expect(loadActuals(ctx, { ...base, url: file, idColumn: "trip_id" })).rejects.toThrow(
      /--actuals-id-column trip_id: .* has no such column; it has: ride_id, actual_duration/,
    );
    await expect(loadActuals(ctx, { ...base, url: file, valueColumn: "truth" })).rejects.toThrow(
      /--actuals-column truth/,
    );
    await expect(loadActuals(ctx, { ...base, url: path.join(dir, "missing.csv") })).rejects.toThrow(
      /--actuals .*missing\.csv: no such file/,
    );
    const corrupt = path.join(dir, "torn.parquet");
    writeFileSync(corrupt, "PAR1 not really");
    await expect(loadActuals(ctx, { ...base, url: corrupt })).rejects.toThrow(
      /--actuals .*torn\.parquet: cannot read/,
    );
    await expect(loadActuals(ctx, { ...base, url: "s3://bucket/actuals.parquet" })).rejects.toThrow(
      /--actuals s3:\/\/bucket\/actuals.parquet: unsupported URL scheme "s3:\/\/"/,
    );
    await expect(
      loadActuals(ctx, { ...base, url: path.join(dir, "actuals.json") }),
    ).rejects.toThrow(UserError);
    await expect(
      loadActuals(ctx, { ...base, url: `sqlite:${path.join(dir, "truth.db")}` }),
    ).rejects.toThrow(/--actuals-table/);
    await expect(
      loadActuals(ctx, {
        ...base,
        url: `sqlite:${path.join(dir, "truth.db")}`,
        sourceTable: "nope",
      }),
    ).rejects.toThrow(/--actuals-table nope: no such table/);
  });
});

describe.skipIf(!(await postgresReachable()))("loadActuals on PostgreSQL", () => {
  const schemas = new TestSchemas();
  const schema = schemas.next();
  let client: pg.Client;
  beforeAll(async () => {
    client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`CREATE SCHEMA "${schema}"`);
    await client.query(`CREATE TABLE "${schema}".truth (ride_id TEXT, actual NUMERIC)`);
    await client.query(
      `INSERT INTO "${schema}".truth SELECT g::text, g * 0.25 FROM generate_series(1, 25000) AS g`,
    );
  });
  afterAll(async () => {
    await client?.end();
    await schemas.drop();
  });

  it("streams a table larger than one fetch into (id, actual)", async () => {
    const frame = await loadActuals(
      { connection: engine.connection, logger: recordingLogger().logger },
      {
        table: "pg_actuals",
        url: PG_URL,
        sourceTable: `${schema}.truth`,
        idColumn: "ride_id",
        valueColumn: "actual",
      },
    );
    expect(frame.rows).toBe(25000);
    const sum = await queryRows(engine.connection, "SELECT sum(actual) AS s FROM pg_actuals");
    expect(sum[0].s).toBe((25000 * 25001) / 2 / 4);
    await expect(
      loadActuals(
        { connection: engine.connection, logger: recordingLogger().logger },
        {
          table: "pg_bad",
          url: PG_URL,
          sourceTable: `${schema}.truth`,
          idColumn: "id",
          valueColumn: "actual",
        },
      ),
    ).rejects.toThrow(/--actuals-id-column id/);
  });
});

describe("loadFileWindow", () => {
  const columns: FrameColumn[] = [
    { name: "PULocationID", role: "input", dtype: "integer" },
    { name: "DOLocationID", role: "input", dtype: "integer" },
    { name: "trip_distance", role: "input", dtype: "float" },
    { name: "duration", role: "prediction", dtype: "float" },
  ];

  it("reads the input columns it has; a missing prediction column is absent", async () => {
    const file = path.join(dir, "reference.parquet");
    await engine.connection.run(
      `COPY (SELECT (range % 7 + 1)::INTEGER AS PULocationID, (range % 5 + 1)::INTEGER AS DOLocationID, range / 10 AS trip_distance
             FROM range(500)) TO ${sqlString(file)} (FORMAT parquet)`,
    );
    const frame = await loadFileWindow(
      { connection: engine.connection, logger: recordingLogger().logger },
      { table: "file_ref", path: file, columns, maxRows: 200 },
    );
    expect(frame.rows).toBe(200);
    expect(frame.columns.map((c) => c.name)).toEqual([
      "PULocationID",
      "DOLocationID",
      "trip_distance",
    ]);
    expect(frame.description).toContain("not in the file: duration");
    expect(frame.description).toContain("sampled 200 of 500 rows");
    expect(await tableTypes(engine.connection, "file_ref")).toEqual({
      time: "TIMESTAMP",
      version: "VARCHAR",
      id: "VARCHAR",
      PULocationID: "BIGINT",
      DOLocationID: "BIGINT",
      trip_distance: "DOUBLE",
    });
  });

  it("refuses a file without any input column, naming it", async () => {
    const file = path.join(dir, "other.csv");
    writeFileSync(file, "a,b\n1,2\n");
    await expect(
      loadFileWindow(
        { connection: engine.connection, logger: recordingLogger().logger },
        { table: "other", path: file, columns },
      ),
    ).rejects.toThrow(/--reference .*other\.csv has none of the model's input columns/);
  });
});
