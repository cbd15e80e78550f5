import { cpSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import path from "node:path";
import { DOUBLE, type DuckDBConnection } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerModelFunctions } from "../../../src/batch/files/model-functions.js";
import { RemotePredictor } from "../../../src/batch/files/remote-predictor.js";
import { modelThreads } from "../../../src/batch/files/score-in-duckdb.js";
import { FileBatchSink } from "../../../src/batch/files/sink.js";
import { FileBatchSource } from "../../../src/batch/files/source.js";
import { runBatchOnce, type BatchJob, type BatchStats } from "../../../src/batch/job.js";
import { UserError } from "../../../src/config/errors.js";
import { loadPredictor, runPlanOf } from "../../../src/model/predictor.js";
import type { Predictor } from "../../../src/model/types.js";
import { sqlString, withDuckDB } from "../../../src/duckdb/index.js";
import { rideBundlePath } from "../../helpers/ride-bundle.js";
import { tempDir } from "../../helpers/temp.js";
import { isBadRide, makeRides, quietLogger, type Ride } from "../helpers.js";

let bundle: string;
let predictor: Predictor;

beforeAll(async () => {
  bundle = await rideBundlePath();
  predictor = await loadPredictor(bundle, { name: "ride-duration", version: "3" });
});
afterAll(async () => predictor.close());

async function writeRides(file: string, rides: Ride[], distanceType = "DOUBLE"): Promise<void> {
  const json = `${file}.json`;
  writeFileSync(json, JSON.stringify(rides));
  await withDuckDB((db) =>
    db.run(
      `COPY (SELECT ride_id, CAST(lpep_pickup_datetime AS TIMESTAMP) AS lpep_pickup_datetime,
                    "PULocationID", "DOLocationID",
                    CAST(trip_distance AS ${distanceType}) AS trip_distance, actual_duration
             FROM read_json(${sqlString(json)}) ORDER BY random())
       TO ${sqlString(file)} (FORMAT parquet)`,
    ),
  );
  rmSync(json);
}

interface Job {
  source: string;
  sink: string;
  jobId?: string;
  inDuckDB?: BatchJob["inDuckDB"];
  chunkSize?: number;
  sinceColumn?: string;
  partition?: BatchJob["partition"];
  fromStart?: boolean;
  shouldStop?: () => boolean;
  predictor?: Predictor;
}

/** One runBatchOnce from file to file; `finalize` merges the parts into the target. */
async function score(job: Job, finalize = true): Promise<BatchStats> {
  const source = new FileBatchSource({ path: job.source });
  const sink = new FileBatchSink({ path: job.sink });
  try {
    const stats = await runBatchOnce({
      jobId: job.jobId ?? "rides",
      source,
      sink,
      predictor: job.predictor ?? predictor,
      idColumn: "ride_id",
      sinceColumn: job.sinceColumn,
      keepColumns: ["lpep_pickup_datetime", "PULocationID", "DOLocationID"],
      actualColumn: "actual_duration",
      chunkSize: job.chunkSize,
      partition: job.partition,
      fromStart: job.fromStart,
      model: { name: "ride-duration", version: "3", runId: "run-1" },
      logger: quietLogger(),
      shouldStop: job.shouldStop,
      inDuckDB: job.inDuckDB,
    });
    if (finalize) await sink.finalize();
    return stats;
  } finally {
    await sink.close();
    await source.close();
  }
}

type Row = Record<string, unknown>;

async function readRows(file: string, orderBy = "ride_id"): Promise<Row[]> {
  return withDuckDB(async (db) =>
    (
      await db.runAndReadAll(
        `SELECT * EXCLUDE (scored_at) FROM read_parquet(${sqlString(file)}) ORDER BY ${orderBy}`,
      )
    ).getRowObjectsJson(),
  );
}

async function readRejects(file: string): Promise<Row[]> {
  return withDuckDB(async (db) =>
    (
      await db.runAndReadAll(
        `SELECT id, model_version, reason FROM read_parquet(${sqlString(file)}) ORDER BY CAST(id AS BIGINT)`,
      )
    ).getRowObjectsJson(),
  );
}

async function columnTypes(file: string): Promise<Record<string, string>> {
  return withDuckDB(async (db) => {
    const described = await db.runAndReadAll(
      `DESCRIBE SELECT * FROM read_parquet(${sqlString(file)})`,
    );
    return Object.fromEntries(
      described
        .getRowObjectsJson()
        .map((row) => [String(row.column_name), String(row.column_type)]),
    );
  });
}

const rides = makeRides(2_000);
const good = rides.filter((ride) => !isBadRide(ride));
const rejectsOf = (file: string) => file.replace(/\.parquet$/, ".rejects.parquet");

describe("file → file scoring inside DuckDB", () => {
  it("writes what the chunk pipeline writes: predictions, columns, rejects and checkpoint", async () => {
    const dir = tempDir();
    const input = path.join(dir, "rides.parquet");
    await writeRides(input, rides);
    for (const sinceColumn of [undefined, "lpep_pickup_datetime"]) {
      const inside = path.join(dir, `inside-${sinceColumn ?? "id"}.parquet`);
      const pipeline = path.join(dir, `pipeline-${sinceColumn ?? "id"}.parquet`);
      const a = await score({ source: input, sink: inside, chunkSize: 300, sinceColumn });
      const b = await score({
        source: input,
        sink: pipeline,
        chunkSize: 300,
        sinceColumn,
        inDuckDB: "off",
      });
      expect(a.inDuckDB).toBe(true);
      expect(b.inDuckDB).toBe(false);
      expect(a).toMatchObject({
        rowsRead: 2_000,
        rowsScored: good.length,
        rowsRejected: 2_000 - good.length,
        chunks: 7,
        checkpoint: b.checkpoint,
      });

      const got = await readRows(inside);
      const want = await readRows(pipeline);
      expect(got.map((row) => row.ride_id)).toEqual(good.map((ride) => String(ride.ride_id)));
      expect(got.length).toBe(want.length);
      got.forEach((row, i) => {
        expect(Number(row.predicted_duration)).toBeCloseTo(Number(want[i].predicted_duration), 9);
        expect(Number(row.diff)).toBeCloseTo(Number(want[i].diff), 9);
        for (const column of [
          "lpep_pickup_datetime",
          "PULocationID",
          "DOLocationID",
          "model_name",
          "model_version",
          "run_id",
        ]) {
          expect(row[column]).toEqual(want[i][column]);
        }
        expect(Number(row.actual_duration)).toBe(Number(want[i].actual_duration));
      });
      const types = await columnTypes(inside);
      expect(types).toMatchObject({
        ride_id: "BIGINT",
        lpep_pickup_datetime: "TIMESTAMP",
        PULocationID: "BIGINT",
        predicted_duration: "DOUBLE",
        diff: "DOUBLE",
        scored_at: "TIMESTAMP WITH TIME ZONE",
      });

      const rejects = await readRejects(rejectsOf(inside));
      expect(rejects).toEqual(await readRejects(rejectsOf(pipeline)));
      expect(rejects.map((row) => row.reason)).toEqual(
        expect.arrayContaining(['field "trip_distance" is required']),
      );
    }
  });

  it("keeps the rejected row as read, as JSON", async () => {
    const dir = tempDir();
    const input = path.join(dir, "rides.parquet");
    await writeRides(input, rides.slice(0, 100));
    const output = path.join(dir, "predictions.parquet");
    await score({ source: input, sink: output });
    const [reject] = await withDuckDB(async (db) =>
      (
        await db.runAndReadAll(
          `SELECT "row" FROM read_parquet(${sqlString(rejectsOf(output))}) WHERE id = '89'`,
        )
      ).getRowObjectsJson(),
    );
    expect(JSON.parse(String(reject.row))).toMatchObject({
      ride_id: 89,
      PULocationID: rides[88].PULocationID,
      DOLocationID: rides[88].DOLocationID,
      trip_distance: -2,
      actual_duration: rides[88].actual_duration,
    });
  });

  it("writes a chunk where every row is rejected: all of them, once, with their reasons", async () => {
    const dir = tempDir();
    const input = path.join(dir, "rides.parquet");
    const bad = makeRides(5_000).map((ride) => ({ ...ride, trip_distance: -1 }));
    await writeRides(input, bad);
    const output = path.join(dir, "predictions.parquet");
    const stats = await score({ source: input, sink: output });
    expect(stats).toMatchObject({
      inDuckDB: true,
      rowsRead: 5_000,
      rowsScored: 0,
      rowsRejected: 5_000,
    });
    const rejects = await readRejects(rejectsOf(output));
    expect(rejects.map((row) => Number(row.id))).toEqual(bad.map((ride) => ride.ride_id));
    expect(new Set(rejects.map((row) => row.reason))).toEqual(
      new Set(['field "trip_distance" must be >= 0, got -1']),
    );
  });

  it("rejects a NaN as a NaN and a NULL as missing, as the chunk pipeline does", async () => {
    const dir = tempDir();
    const input = path.join(dir, "rides.parquet");
    // DuckDB casts the text 'nan' to a real DOUBLE NaN; JSON cannot carry one.
    const withNaN = makeRides(300).map((ride) =>
      ride.ride_id === 10 ? { ...ride, trip_distance: "nan" } : ride,
    );
    await writeRides(input, withNaN);
    const reasons = async (inDuckDB: BatchJob["inDuckDB"]) => {
      const output = path.join(dir, `predictions-${String(inDuckDB)}.parquet`);
      const stats = await score({ source: input, sink: output, inDuckDB });
      expect(stats.inDuckDB).toBe(inDuckDB !== "off");
      const rejects = await readRejects(rejectsOf(output));
      return Object.fromEntries(rejects.map((row) => [Number(row.id), row.reason]));
    };
    const expected = {
      10: 'field "trip_distance" must be a finite number, got NaN',
      89: 'field "trip_distance" must be >= 0, got -2',
      97: 'field "trip_distance" is required',
      178: 'field "trip_distance" must be >= 0, got -2',
      194: 'field "trip_distance" is required',
      267: 'field "trip_distance" must be >= 0, got -2',
      291: 'field "trip_distance" is required',
    };
    expect(await reasons(undefined)).toEqual(expected);
    expect(await reasons("off")).toEqual(expected);
  });

  it("publishes a lone part as the target without copying it, and merges once there are more", async () => {
    const dir = tempDir();
    await writeRides(path.join(dir, "rides-1.parquet"), rides.slice(0, 1_000));
    const output = path.join(dir, "predictions.parquet");
    const first = await score({ source: path.join(dir, "rides-*.parquet"), sink: output });
    expect(first.chunks).toBe(1);
    const parts = readdirSync(`${output}.parts`).filter((name) => name.startsWith("part-"));
    expect(parts).toHaveLength(1);
    expect(statSync(output).ino).toBe(statSync(path.join(`${output}.parts`, parts[0])).ino);

    // New rides arrive in another file: the next run scores only them, and the target becomes
    // the merge of both parts (a file of its own, the first part untouched).
    await writeRides(path.join(dir, "rides-2.parquet"), rides.slice(1_000));
    const second = await score({ source: path.join(dir, "rides-*.parquet"), sink: output });
    expect(second).toMatchObject({ rowsRead: 1_000, chunks: 1, inDuckDB: true });
    const merged = await readRows(output, "ride_id");
    expect(merged.map((row) => Number(row.ride_id))).toEqual(good.map((ride) => ride.ride_id));
    const unsorted = await withDuckDB(async (db) =>
      (
        await db.runAndReadAll(`SELECT ride_id FROM read_parquet(${sqlString(output)})`)
      ).getRowObjectsJson(),
    );
    // Concatenated in id order, not re-sorted: the parts were already.
    expect(unsorted.map((row) => Number(row.ride_id))).toEqual(good.map((ride) => ride.ride_id));
    expect(statSync(output).nlink).toBe(1);
    expect(await readRows(path.join(`${output}.parts`, parts[0]))).toHaveLength(
      rides.slice(0, 1_000).filter((ride) => !isBadRide(ride)).length,
    );
  });

  it("resumes after the last committed chunk when stopped, and equals a clean run", async () => {
    const dir = tempDir();
    const input = path.join(dir, "rides.parquet");
    await writeRides(input, rides);
    const clean = path.join(dir, "clean.parquet");
    await score({ source: input, sink: clean, chunkSize: 500 });

    const output = path.join(dir, "predictions.parquet");
    let chunks = 0;
    const stopped = await score(
      { source: input, sink: output, chunkSize: 500, shouldStop: () => ++chunks >= 2 },
      false,
    );
    expect(stopped).toMatchObject({ stopped: true, rowsRead: 1_000, chunks: 2 });
    // A crash while writing chunk 3 leaves a part that was never committed.
    const sink = new FileBatchSink({ path: output });
    writeFileSync(sink.partPath("part", "rides", 3), "not parquet");
    const resumed = await score({ source: input, sink: output, chunkSize: 500 });
    expect(resumed).toMatchObject({ rowsRead: 1_000, chunks: 2, stopped: false });
    expect(await readRows(output)).toEqual(await readRows(clean));
    expect(await readRejects(rejectsOf(output))).toEqual(await readRejects(rejectsOf(clean)));
  });

  it("covers every row exactly once with partitions sharing one target", async () => {
    const dir = tempDir();
    const input = path.join(dir, "rides.parquet");
    await writeRides(input, rides);
    const output = path.join(dir, "predictions.parquet");
    const counts: number[] = [];
    for (let index = 0; index < 3; index++) {
      const stats = await score(
        {
          source: input,
          sink: output,
          jobId: `rides[${index}/3]`,
          chunkSize: 400,
          partition: { index, count: 3 },
        },
        index === 2,
      );
      expect(stats.inDuckDB).toBe(true);
      counts.push(stats.rowsRead);
    }
    expect(counts.every((count) => count > 400)).toBe(true);
    expect(counts.reduce((a, b) => a + b)).toBe(2_000);
    const merged = await readRows(output);
    expect(merged.map((row) => Number(row.ride_id))).toEqual(good.map((ride) => ride.ride_id));
  });

  it("leaves a model input of another type (a date) to the chunk pipeline", async () => {
    const dir = tempDir();
    const input = path.join(dir, "rides.parquet");
    const dated = rides.slice(0, 50).map((ride) => ({ ...ride, trip_distance: "2021-01-01" }));
    await writeRides(input, dated, "DATE");
    const stats = await score({ source: input, sink: path.join(dir, "out.parquet") });
    expect(stats).toMatchObject({ inDuckDB: false, rowsRejected: 50 });
  });

  it("fails with one clear line when the worker cannot load the model", async () => {
    const dir = tempDir();
    const input = path.join(dir, "rides.parquet");
    await writeRides(input, rides.slice(0, 50));
    const copy = path.join(dir, "model");
    cpSync(bundle, copy, { recursive: true });
    const loaded = await loadPredictor(copy, { name: "ride-duration", version: "3" });
    // The workers open the bundle's file (a self-contained graph is run as it is; a rewritten
    // one, string inputs encoded, is dropped here to the same effect).
    const plan = runPlanOf(loaded);
    delete plan?.onnxBytes;
    try {
      for (const file of readdirSync(copy))
        if (file.endsWith(".onnx")) rmSync(path.join(copy, file));
      const failed = score({
        source: input,
        sink: path.join(dir, "out.parquet"),
        predictor: loaded,
      });
      await expect(failed).rejects.toThrow(UserError);
      await expect(failed).rejects.toThrow(/cannot load the model in a worker thread/);
    } finally {
      await loaded.close();
    }
  });
});

describe("mldeploy_predict", () => {
  const rows = 5_000;
  /** Rides with every tenth distance negative (rejected); rowid = id. */
  const createRides = (db: DuckDBConnection) =>
    db.run(
      `CREATE TABLE rides AS
       SELECT range AS id, CAST(1 + range % 265 AS DOUBLE) AS pu,
              CAST(1 + range * 7 % 265 AS DOUBLE) AS dropoff,
              CAST(CASE WHEN range % 10 = 0 THEN -1 ELSE range % 20 END AS DOUBLE) AS distance
       FROM range(${rows})`,
    );
  const predictAll = (db: DuckDBConnection) =>
    db.runAndReadAll(
      `SELECT id, p FROM (SELECT id, mldeploy_predict(rowid, pu, dropoff, distance) AS p
                          FROM rides)
       WHERE p IS NOT NULL ORDER BY id`,
    );

  it.each([
    ["2 workers given its run plan (onnxruntime alone)", true, 2],
    ["1 worker given its bundle", false, 1],
  ])("predicts each row once, as the Predictor does, from %s", async (_, withPlan, threads) => {
    const model = await RemotePredictor.start(
      {
        bundle,
        plan: withPlan ? runPlanOf(predictor) : undefined,
        name: "ride-duration",
        version: "3",
      },
      threads,
    );
    try {
      await withDuckDB(async (db) => {
        await createRides(db);
        const tally = registerModelFunctions(
          db,
          predictor.info.inputs,
          [DOUBLE, DOUBLE, DOUBLE],
          model!,
        );
        const predicted = (await predictAll(db)).getRows();
        // A filter on the result must not call the function a second time (it is volatile):
        // each rejected row is recorded once.
        const rejected = tally.rejected.map(Number).sort((a, b) => a - b);
        const expectedRejects = Array.from({ length: rows / 10 }, (_, i) => i * 10);
        expect(rejected).toEqual(expectedRejects);
        expect(predicted.length).toBe(rows - expectedRejects.length);

        const ids = predicted.map((row) => Number(row[0]));
        const expected = await predictor.predictColumns({
          rows: ids.length,
          columns: {
            PULocationID: Float64Array.from(ids, (id) => 1 + (id % 265)),
            DOLocationID: Float64Array.from(ids, (id) => 1 + ((id * 7) % 265)),
            trip_distance: Float64Array.from(ids, (id) => id % 20),
          },
        });
        expect(predicted.map((row) => row[1])).toEqual(Array.from(expected.values as Float64Array));
      });
    } finally {
      await model?.close();
    }
  });

  it("fails the statement with the model's error, every time", async () => {
    const plan = runPlanOf(predictor)!;
    const broken = {
      ...plan,
      features: { ...plan.features, PULocationID: { column: "no_such_column" } },
    };
    const model = await RemotePredictor.start(
      { bundle, plan: broken, name: "ride-duration", version: "3" },
      2,
    );
    try {
      await withDuckDB(async (db) => {
        await createRides(db);
        registerModelFunctions(db, predictor.info.inputs, [DOUBLE, DOUBLE, DOUBLE], model!);
        for (let run = 0; run < 2; run++) {
          await expect(predictAll(db)).rejects.toThrow(/no_such_column/);
        }
      });
    } finally {
      await model?.close();
    }
  });

  it("hands answers back in the order of the batches, across workers and after a discard", async () => {
    const model = await RemotePredictor.start(
      { bundle, name: "ride-duration", version: "3", constant: 7 },
      2,
    );
    const batch = (rows: number) => ({
      rows,
      columns: {
        PULocationID: new Float64Array(rows),
        DOLocationID: new Float64Array(rows),
        trip_distance: new Float64Array(rows),
      },
    });
    try {
      for (const rows of [3, 5, 8]) model!.submit(batch(rows));
      expect([model!.take().length, model!.take().length, model!.take().length]).toEqual([3, 5, 8]);
      model!.submit(batch(1));
      model!.submit(batch(2));
      model!.discardAnswers();
      model!.submit(batch(4));
      expect(Array.from(model!.take() as Float64Array)).toEqual([7, 7, 7, 7]);
      expect(() => model!.take()).toThrow(/without a batch/);
    } finally {
      await model?.close();
    }
  });

  it("gives a model one worker per core (at most 4), and a large model one worker", async () => {
    const plan = runPlanOf(predictor)!;
    const cores = Math.min(4, availableParallelism());
    const model = { bundle, name: "ride-duration", version: "3" };
    expect(await modelThreads({ ...model, plan })).toBe(cores);
    const large = path.join(tempDir(), "large.onnx");
    writeFileSync(large, "");
    truncateSync(large, 65 * 1024 * 1024); // sparse: the size without the disk space
    expect(await modelThreads({ ...model, plan: { ...plan, onnxPath: large } })).toBe(1);
  });
});
