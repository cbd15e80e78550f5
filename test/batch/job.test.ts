import { cp, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { batchOptionsSchema, type BatchOptionsInput } from "../../src/batch/options.js";
import { runBatch } from "../../src/batch/run.js";
import { scheduleControl } from "../../src/schedule/schedule.js";
import { Registry } from "../../src/registry/registry.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";
import { postJson, startTestServer, type TestServer } from "../serve/helpers/server.js";
import { isBadRide, makeRides, querySqlite, quietLogger, writeRidesSqlite } from "./helpers.js";

interface PredictionRow {
  ride_id: number;
  predicted_duration: number;
  model_version: string;
  actual_duration: number;
  diff: number;
  lpep_pickup_datetime: string;
  scored_at: string;
}

let registry: Registry;
let bundle: string;
let dir: string;
beforeAll(async () => {
  bundle = await rideBundlePath();
  dir = tempDir();
  registry = await Registry.open({ dataDir: path.join(dir, "registry") });
});
afterAll(async () => {
  await registry?.close();
});

function options(db: string, extra: Partial<BatchOptionsInput> = {}) {
  return batchOptionsSchema.parse({
    model: bundle,
    source: `sqlite:${db}`,
    table: "rides",
    idColumn: "ride_id",
    sinceColumn: "lpep_pickup_datetime",
    keepColumns: "lpep_pickup_datetime,PULocationID,DOLocationID",
    actualColumn: "actual_duration",
    sink: `sqlite:${db}`,
    sinkTable: "ride_predictions",
    chunkSize: 100,
    ...extra,
  } satisfies BatchOptionsInput);
}

const run = (opts: ReturnType<typeof options>) =>
  runBatch(opts, { registry, logger: quietLogger() });
const predictions = (db: string) =>
  querySqlite<PredictionRow>(db, "SELECT * FROM ride_predictions ORDER BY ride_id, model_version");

describe("mldeploy batch on SQLite", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({}, { name: "ride-duration" });
  });
  afterAll(async () => {
    await server?.close();
  });

  it("scores every good row once, equal to the web service, rejects the bad ones with reasons, and is idempotent", async () => {
    const db = path.join(tempDir(), "rides.db");
    const rides = makeRides(1000);
    writeRidesSqlite(db, rides);
    const [stats] = await run(options(db));
    const bad = rides.filter(isBadRide);
    expect(stats).toMatchObject({
      rowsRead: 1000,
      rowsScored: 1000 - bad.length,
      rowsRejected: bad.length,
      chunks: 10,
    });

    const rows = predictions(db);
    expect(rows.map((r) => r.ride_id)).toEqual(
      rides.filter((r) => !isBadRide(r)).map((r) => r.ride_id),
    );
    const sample = rows.filter((_, i) => i % 50 === 0);
    const served = await postJson(
      `${server.url}/predict`,
      sample.map((row) => rides[row.ride_id - 1]),
    );
    expect((served.json as Array<{ duration: number }>).map((a) => a.duration)).toEqual(
      sample.map((r) => r.predicted_duration),
    );
    for (const row of sample)
      expect(row.diff).toBeCloseTo(row.actual_duration - row.predicted_duration, 9);
    // Zones stay integers (declared INTEGER in the source), durations floating point.
    expect(
      querySqlite<{ zone: string; duration: string }>(
        db,
        "SELECT typeof(PULocationID) AS zone, typeof(actual_duration) AS duration FROM ride_predictions LIMIT 1",
      ),
    ).toEqual([{ zone: "integer", duration: "real" }]);

    const rejects = querySqlite<{ id: string; reason: string; row: string }>(
      db,
      "SELECT * FROM ride_predictions_rejects ORDER BY CAST(id AS INTEGER)",
    );
    expect(rejects.map((r) => Number(r.id))).toEqual(bad.map((r) => r.ride_id));
    expect(rejects.find((r) => Number(r.id) === 97)?.reason).toMatch(/trip_distance.*required/);
    expect(rejects.find((r) => Number(r.id) === 89)?.reason).toMatch(/trip_distance.*>= 0/);
    // The row as read, under the source's column names (the id as ride_id, not "id").
    const first = bad[0];
    expect(JSON.parse(rejects[0].row)).toMatchObject({
      ride_id: first.ride_id,
      lpep_pickup_datetime: first.lpep_pickup_datetime,
      DOLocationID: first.DOLocationID,
    });

    // A second run finds nothing new; a full rescore upserts the same rows, never duplicates.
    const [again] = await run(options(db));
    expect(again.rowsRead).toBe(0);
    await run(options(db, { fromStart: true }));
    const withoutTime = (list: PredictionRow[]) => list.map(({ scored_at: _time, ...row }) => row);
    expect(withoutTime(predictions(db))).toEqual(withoutTime(rows));
  });

  it("records a failed run when the source cannot be opened, and the run id a bundle names", async () => {
    const missing = path.join(tempDir(), "nope.db");
    await expect(run(options(missing, { jobName: "missing-source" }))).rejects.toThrow(
      /no such file/,
    );
    const batch = await registry.store.findExperimentByName("batch");
    const runs = await registry.store.listRuns({ experimentId: batch!.id, limit: 1000 });
    expect(runs.find((r) => r.tags.job === "missing-source")?.status).toBe("FAILED");

    // A bundle given by path: the run id its MLmodel names goes into every prediction row.
    const named = path.join(tempDir(), "named-bundle");
    await cp(bundle, named, { recursive: true });
    const mlmodel = path.join(named, "MLmodel");
    const text = (await readFile(mlmodel, "utf8")).replace(/^run_id:.*\n/m, "");
    await writeFile(mlmodel, `${text}run_id: 0123456789abcdef\n`);
    const db = path.join(tempDir(), "rides.db");
    writeRidesSqlite(db, makeRides(50));
    await run(options(db, { model: named }));
    const runIds = querySqlite<{ run_id: string | null }>(
      db,
      "SELECT DISTINCT run_id FROM ride_predictions",
    );
    expect(runIds).toEqual([{ run_id: "0123456789abcdef" }]);
  });

  it("keeps the watermark column in a rejected row's JSON even when it is not a kept column", async () => {
    const db = path.join(tempDir(), "rides.db");
    const rides = makeRides(100);
    writeRidesSqlite(db, rides);
    await run(options(db, { keepColumns: "PULocationID" }));
    const bad = rides.filter(isBadRide)[0];
    const [reject] = querySqlite<{ row: string }>(
      db,
      `SELECT "row" FROM ride_predictions_rejects WHERE id = '${bad.ride_id}'`,
    );
    expect(JSON.parse(reject.row)).toMatchObject({
      ride_id: bad.ride_id,
      lpep_pickup_datetime: bad.lpep_pickup_datetime,
    });
  });

  it("scores only rows past the watermark on the next run", async () => {
    const db = path.join(tempDir(), "rides.db");
    writeRidesSqlite(db, makeRides(300));
    await run(options(db));
    writeRidesSqlite(db, makeRides(120, 301));
    const [second] = await run(options(db));
    expect(second.rowsRead).toBe(120);
    expect(new Set(predictions(db).map((r) => r.ride_id)).size).toBe(predictions(db).length);
  });

  it("partitions i/N cover every row exactly once", async () => {
    const db = path.join(tempDir(), "rides.db");
    const rides = makeRides(600);
    writeRidesSqlite(db, rides);
    const read = [];
    for (let i = 0; i < 3; i++)
      read.push((await run(options(db, { partition: `${i}/3` })))[0].rowsRead);
    expect(read.reduce((a, b) => a + b, 0)).toBe(600);
    expect(Math.min(...read)).toBeGreaterThan(100);
    const ids = predictions(db).map((r) => r.ride_id);
    expect(ids.length).toBe(new Set(ids).size);
    expect(ids.length).toBe(rides.filter((r) => !isBadRide(r)).length);
  });

  it("runs on a schedule without overlap and records each run in the registry", async () => {
    const db = path.join(tempDir(), "rides.db");
    writeRidesSqlite(db, makeRides(200));
    const control = scheduleControl();
    const started = Date.now();
    const pending = runBatch(options(db, { every: "300ms", jobName: "scheduled" }), {
      registry,
      logger: quietLogger(),
      control,
    });
    await new Promise((resolve) => setTimeout(resolve, 800));
    control.stop();
    const history = await pending;
    expect(history.length).toBeGreaterThanOrEqual(2);
    expect(history[0].rowsRead).toBe(200);
    expect(history.slice(1).every((s) => s.rowsRead === 0)).toBe(true);
    expect(Date.now() - started).toBeLessThan(5000);

    const experiment = await registry.store.findExperimentByName("batch");
    const runs = (await registry.store.listRuns({ experimentId: experiment!.id })).filter(
      (r) => r.tags.job === "scheduled",
    );
    expect(runs.length).toBe(history.length);
    expect(runs.every((r) => r.status === "FINISHED")).toBe(true);
    expect(runs.at(-1)!.latestMetrics).toMatchObject({ rows_read: 200, rows_rejected: 4 });
  });
});
