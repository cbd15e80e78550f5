import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { batchOptionsSchema, type BatchOptionsInput } from "../../../src/batch/options.js";
import { runBatch } from "../../../src/batch/run.js";
import { UserError } from "../../../src/config/errors.js";
import { closeDuckDB, openDuckDB, type DuckDBEngine } from "../../../src/duckdb/index.js";
import { loadPredictor } from "../../../src/model/predictor.js";
import type { ModelInfo } from "../../../src/model/types.js";
import { loadBatchWindow, monitoredColumns } from "../../../src/monitor/job/sources/index.js";
import { Registry } from "../../../src/registry/registry.js";
import {
  isBadRide,
  makeRides,
  querySqlite,
  quietLogger,
  writeRidesSqlite,
} from "../../batch/helpers.js";
import { writeRidesPostgres } from "../../batch/postgres-helpers.js";
import { rideBundlePath } from "../../helpers/ride-bundle.js";
import { tempDir } from "../../helpers/temp.js";
import { PG_URL, postgresReachable, TestSchemas } from "../../registry/store/helpers.js";
import { queryRows, recordingLogger, tableTypes } from "./helpers.js";

/**
 * The sinks of real `mldeploy batch` runs (runBatch), read back as monitoring windows: the
 * same rows, ids, predictions and actual values whichever sink holds them.
 */
const rides = makeRides(300);
const good = rides.filter((ride) => !isBadRide(ride));
let engine: DuckDBEngine;
let registry: Registry;
let bundle: string;
let info: ModelInfo;
let db: string;
let modelName: string;
let started: number;
/** ride_id → predicted_duration, as the SQLite sink holds them. */
let expected: Map<string, number>;

const options = (extra: Partial<BatchOptionsInput>) =>
  batchOptionsSchema.parse({
    model: bundle,
    idColumn: "ride_id",
    sinceColumn: "lpep_pickup_datetime",
    keepColumns: "PULocationID,DOLocationID",
    actualColumn: "actual_duration",
    chunkSize: 64,
    ...extra,
  } as BatchOptionsInput);

beforeAll(async () => {
  engine = await openDuckDB({ memoryLimit: "256MB" });
  bundle = await rideBundlePath();
  const predictor = await loadPredictor(bundle);
  info = predictor.info;
  await predictor.close();
  registry = await Registry.open({ dataDir: path.join(tempDir(), "registry") });
  db = path.join(tempDir(), "rides.db");
  writeRidesSqlite(db, rides);
  started = Date.now();
  await runBatch(
    options({
      source: `sqlite:${db}`,
      table: "rides",
      sink: `sqlite:${db}`,
      sinkTable: "ride_predictions",
    }),
    { registry, logger: quietLogger() },
  );
  const sink = querySqlite<{ ride_id: number; predicted_duration: number; model_name: string }>(
    db,
    "SELECT ride_id, predicted_duration, model_name FROM ride_predictions",
  );
  expect(sink).toHaveLength(good.length);
  modelName = sink[0].model_name;
  expected = new Map(sink.map((r) => [String(r.ride_id), r.predicted_duration]));
});

afterAll(async () => {
  await registry?.close();
  await closeDuckDB(Promise.resolve(engine));
});

const ctx = () => ({ connection: engine.connection, logger: recordingLogger().logger });
const window = () => ({ from: new Date(started - 1000), to: new Date(Date.now() + 1000) });

async function expectSink(table: string, actualsTable: string): Promise<void> {
  const rows = await queryRows(engine.connection, `SELECT * FROM ${table}`);
  expect(rows).toHaveLength(good.length);
  for (const row of rows) {
    expect(row.duration).toBe(expected.get(String(row.id)));
    const ride = rides[Number(row.id) - 1];
    expect(row.PULocationID).toBe(ride.PULocationID);
    expect(row.DOLocationID).toBe(ride.DOLocationID);
    expect(Date.parse(String(row.time))).toBeGreaterThanOrEqual(started - 1000);
  }
  const actuals = await queryRows(engine.connection, `SELECT * FROM ${actualsTable}`);
  expect(actuals).toHaveLength(good.length);
  for (const a of actuals) expect(a.actual).toBe(rides[Number(a.id) - 1].actual_duration);
  expect(await tableTypes(engine.connection, actualsTable)).toEqual({
    id: "VARCHAR",
    actual: "DOUBLE",
  });
}

describe("loadBatchWindow", () => {
  it("reads a SQLite prediction table: kept inputs, predictions, version, the actual column", async () => {
    const { frame, actuals } = await loadBatchWindow(ctx(), {
      table: "current",
      sink: `sqlite:${db}`,
      sinkTable: "ride_predictions",
      idColumn: "ride_id",
      model: modelName,
      output: info.output,
      window: window(),
      columns: monitoredColumns(info),
    });
    expect(frame).toMatchObject({ rows: good.length, kind: "batch", skipped: [] });
    expect(frame.versions).toHaveLength(1);
    // trip_distance was not in --keep-columns: absent, and said so.
    expect(frame.columns.map((c) => c.name)).toEqual(["PULocationID", "DOLocationID", "duration"]);
    expect(frame.description).toContain(
      "not kept by the batch job (--keep-columns): trip_distance",
    );
    expect(actuals).toMatchObject({ table: "current_actuals", rows: good.length });
    expect(await tableTypes(engine.connection, "current")).toEqual({
      time: "TIMESTAMP",
      version: "VARCHAR",
      id: "VARCHAR",
      PULocationID: "BIGINT",
      DOLocationID: "BIGINT",
      duration: "DOUBLE",
    });
    await expectSink("current", "current_actuals");
  });

  it("filters on the model and the scored_at window, and samples above maxRows", async () => {
    const base = {
      sink: `sqlite:${db}`,
      sinkTable: "ride_predictions",
      idColumn: "ride_id",
      output: info.output,
      columns: monitoredColumns(info),
    };
    const past = await loadBatchWindow(ctx(), {
      ...base,
      table: "past",
      model: modelName,
      window: { from: new Date("2020-01-01T00:00:00Z"), to: new Date(started - 60_000) },
    });
    expect(past.frame.rows).toBe(0);
    expect(past.actuals?.rows).toBe(0);
    const other = await loadBatchWindow(ctx(), { ...base, table: "other", model: "another-model" });
    expect(other.frame.rows).toBe(0);
    const sampled = await loadBatchWindow(ctx(), {
      ...base,
      table: "sampled",
      model: modelName,
      maxRows: 100,
    });
    expect(sampled.frame.rows).toBe(100);
    expect(sampled.frame.description).toContain(`sampled 100 of ${good.length} rows`);
    // The actuals cover the whole window, whatever rows the sample drew.
    expect(sampled.actuals?.rows).toBe(good.length);
  });

  it("reads the Parquet file a batch job wrote", async () => {
    const file = path.join(tempDir(), "predictions.parquet");
    await runBatch(options({ source: `sqlite:${db}`, table: "rides", sink: file }), {
      registry,
      logger: quietLogger(),
    });
    const { frame } = await loadBatchWindow(ctx(), {
      table: "from_file",
      sink: file,
      idColumn: "ride_id",
      model: modelName,
      output: info.output,
      window: window(),
      columns: monitoredColumns(info),
      actualsTable: "file_actuals",
    });
    expect(frame.rows).toBe(good.length);
    await expectSink("from_file", "file_actuals");
  });

  it("names the setting when the table or a column is not there", async () => {
    const base = {
      table: "bad",
      sink: `sqlite:${db}`,
      model: modelName,
      output: info.output,
      columns: monitoredColumns(info),
    };
    await expect(
      loadBatchWindow(ctx(), { ...base, sinkTable: "no_such_table", idColumn: "ride_id" }),
    ).rejects.toThrow(/--current-table no_such_table: .*no such table/);
    await expect(
      loadBatchWindow(ctx(), { ...base, sinkTable: "ride_predictions", idColumn: "trip_id" }),
    ).rejects.toThrow(/has no column trip_id \(the batch job's --id-column\)/);
    await expect(
      loadBatchWindow(ctx(), { ...base, sinkTable: "rides", idColumn: "ride_id" }),
    ).rejects.toThrow(UserError);
    await expect(
      loadBatchWindow(ctx(), { ...base, sink: "mysql://h/db", idColumn: "ride_id" }),
    ).rejects.toThrow(/--current mysql:\/\/h\/db: unsupported URL scheme/);
    await expect(
      loadBatchWindow(ctx(), {
        ...base,
        sink: path.join(tempDir(), "none.parquet"),
        idColumn: "ride_id",
      }),
    ).rejects.toThrow(/no such file/);
  });
});

describe.skipIf(!(await postgresReachable()))("loadBatchWindow on PostgreSQL", () => {
  const schemas = new TestSchemas();
  const schema = schemas.next();
  let client: pg.Client;
  beforeAll(async () => {
    client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`CREATE SCHEMA "${schema}"`);
    await writeRidesPostgres(client, `"${schema}".rides`, rides);
  });
  afterAll(async () => {
    await client?.end();
    await schemas.drop();
  });

  it("reads a PostgreSQL prediction table written by a batch run, as SQLite's", async () => {
    await runBatch(
      options({
        source: PG_URL,
        table: `${schema}.rides`,
        sink: PG_URL,
        sinkTable: `${schema}.ride_predictions`,
      }),
      { registry, logger: quietLogger() },
    );
    // Trust auth ignores the password; the description must not show it.
    const withPassword = new URL(PG_URL);
    withPassword.password = "s3cret";
    const { frame, actuals } = await loadBatchWindow(ctx(), {
      table: "pg_current",
      sink: withPassword.toString(),
      sinkTable: `${schema}.ride_predictions`,
      idColumn: "ride_id",
      model: modelName,
      output: info.output,
      window: window(),
      columns: monitoredColumns(info),
    });
    expect(frame.rows).toBe(good.length);
    expect(actuals?.rows).toBe(good.length);
    expect(frame.description).not.toContain("s3cret");
    expect(frame.description).toContain(`table ${schema}.ride_predictions`);
    await expectSink("pg_current", "pg_current_actuals");
    await expect(
      loadBatchWindow(ctx(), {
        table: "pg_bad",
        sink: PG_URL,
        sinkTable: `${schema}.missing`,
        idColumn: "ride_id",
        model: modelName,
        output: info.output,
        columns: monitoredColumns(info),
      }),
    ).rejects.toThrow(/--current-table .*missing.*does not exist/);
  });
});
