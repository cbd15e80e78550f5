import { copyFile, readdir, readFile, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { SinkWrite } from "../../../src/batch/types.js";
import { FileBatchSink, openFileSink } from "../../../src/batch/files/index.js";
import { NumericColumn, type ColumnData } from "../../../src/batch/columns.js";
import { sqlString, withDuckDB } from "../../../src/duckdb/index.js";
import { tempDir } from "../../helpers/temp.js";

const JOB = "rides→ride_predictions[0/1]";

/** Rows of a query over the written files, JSON-friendly. */
async function query(sql: string): Promise<Array<Record<string, unknown>>> {
  return withDuckDB(async (connection) => {
    const result = await connection.runAndReadAll(sql);
    return result.getRowObjectsJson() as Array<Record<string, unknown>>;
  });
}

type Form = "values" | "typed";

/** A column as a row-oriented source gives it, or as DuckDB sources do (typed, NaN for NULL). */
function column(
  form: Form,
  kind: "number" | "timestamp",
  values: Array<number | Date | null>,
): ColumnData {
  if (form === "values") return values;
  const numbers = values.map((v) =>
    v === null ? Number.NaN : v instanceof Date ? v.getTime() : v,
  );
  return new NumericColumn(kind, Float64Array.from(numbers));
}

/** Chunk `n` (0-based) of 100 rides: ids 100n+1 … 100n+100; ids ending in 7 are rejected. */
function chunk(
  n: number,
  version = "1",
  scoredAt = "2024-05-01T10:00:00.000Z",
  form: Form = "values",
): SinkWrite {
  const all = Array.from({ length: 100 }, (_, i) => 100 * n + i + 1);
  const scored = all.filter((id) => id % 10 !== 7);
  const rejected = all.filter((id) => id % 10 === 7);
  return {
    jobId: JOB,
    predictions: {
      idColumn: "ride_id",
      predictionColumn: "predicted_duration",
      ids: scored,
      predictions: Float64Array.from(scored, (id) => id / 10 + Number(version)),
      extra: {
        PULocationID: column(
          form,
          "number",
          scored.map((id) => id % 265),
        ),
        pickup: column(
          form,
          "timestamp",
          scored.map((id) => new Date(Date.UTC(2024, 0, 1) + id * 60_000)),
        ),
        // All null in chunk 0, numbers later: the merged column must still be DOUBLE.
        actual: column(
          form,
          "number",
          scored.map((id) => (n === 0 ? null : id / 3)),
        ),
      },
      modelName: "ride-duration",
      modelVersion: version,
      runId: "run-abc",
      scoredAt,
    },
    rejects: {
      ids: rejected,
      reasons: rejected.map(() => 'field "trip_distance" must be >= 0, got -1'),
      rows: rejected.map((id) => JSON.stringify({ ride_id: id, trip_distance: -1 })),
    },
    checkpoint: { id: all[all.length - 1] },
  };
}

describe("FileBatchSink", () => {
  it.each<Form>(["values", "typed"])(
    "writes chunks, merges them into one row per (id, version) and keeps rejects (columns as %s)",
    async (form) => {
      const dir = tempDir("mldeploy-files-sink-");
      const target = path.join(dir, "out", "predictions.parquet");
      const sink = new FileBatchSink({ path: target });
      expect(await sink.prepare(JOB)).toBeUndefined();
      for (let n = 0; n < 3; n++) await sink.write(chunk(n, "1", undefined, form));
      expect(await sink.prepare(JOB)).toEqual({ id: 300 });
      const result = await sink.finalize();
      await sink.close();
      expect(result).toEqual({
        path: target,
        rows: 270,
        rejectsPath: path.join(dir, "out", "predictions.rejects.parquet"),
        rejects: 30,
      });

      const schema = await query(`DESCRIBE SELECT * FROM read_parquet(${sqlString(target)})`);
      expect(schema.map((c) => [c.column_name, c.column_type])).toEqual([
        ["ride_id", "BIGINT"],
        ["PULocationID", "BIGINT"],
        ["pickup", "TIMESTAMP"],
        ["actual", "DOUBLE"],
        ["predicted_duration", "DOUBLE"],
        ["model_name", "VARCHAR"],
        ["model_version", "VARCHAR"],
        ["run_id", "VARCHAR"],
        ["scored_at", "TIMESTAMP WITH TIME ZONE"],
      ]);
      const rows = await query(
        `SELECT ride_id, PULocationID, CAST(pickup AS VARCHAR) AS pickup, actual, predicted_duration,
              model_name, model_version, run_id, epoch_ms(scored_at) AS scored_ms
       FROM read_parquet(${sqlString(target)})`,
      );
      expect(rows.map((r) => Number(r.ride_id))).toEqual(
        Array.from({ length: 300 }, (_, i) => i + 1).filter((id) => id % 10 !== 7),
      );
      expect(rows[0]).toEqual({
        ride_id: "1",
        PULocationID: "1",
        pickup: "2024-01-01 00:01:00",
        actual: null,
        predicted_duration: 1.1,
        model_name: "ride-duration",
        model_version: "1",
        run_id: "run-abc",
        scored_ms: String(Date.parse("2024-05-01T10:00:00Z")),
      });
      expect(rows[150].actual).toBeCloseTo(Number(rows[150].ride_id) / 3, 10);

      const rejects = await query(
        `SELECT * FROM read_parquet(${sqlString(result.rejectsPath!)}) ORDER BY CAST(id AS INT)`,
      );
      expect(rejects).toHaveLength(30);
      expect(rejects[0]).toMatchObject({
        id: "7",
        model_version: "1",
        reason: 'field "trip_distance" must be >= 0, got -1',
        row: '{"ride_id":7,"trip_distance":-1}',
      });
    },
  );

  it("is idempotent: rerunning chunks and rescoring with a new version upsert", async () => {
    const dir = tempDir("mldeploy-files-sink-");
    const target = path.join(dir, "predictions.parquet");
    const first = new FileBatchSink({ path: target });
    await first.prepare(JOB);
    for (let n = 0; n < 2; n++) await first.write(chunk(n));
    await first.finalize();
    await first.close();

    // A full rerun of the same chunks (--from-start), later, then a rescore with version 2.
    const second = new FileBatchSink({ path: target });
    expect(await second.prepare(JOB)).toEqual({ id: 200 });
    await second.resetCheckpoint(JOB);
    expect(await second.prepare(JOB)).toBeUndefined();
    for (let n = 0; n < 2; n++) await second.write(chunk(n, "1", "2024-05-02T10:00:00.000Z"));
    await second.write(chunk(1, "1", "2024-05-02T10:00:00.000Z")); // a retried chunk
    for (let n = 0; n < 2; n++) await second.write(chunk(n, "2", "2024-05-03T10:00:00.000Z"));
    const result = await second.finalize();
    await second.close();

    expect(result.rows).toBe(2 * 180);
    expect(result.rejects).toBe(2 * 20);
    const counts = await query(
      `SELECT model_version, count(*) AS n, count(DISTINCT ride_id) AS ids,
              max(epoch_ms(scored_at)) = min(epoch_ms(scored_at)) AS one_time,
              min(epoch_ms(scored_at)) AS scored_ms
       FROM read_parquet(${sqlString(target)}) GROUP BY ALL ORDER BY ALL`,
    );
    expect(counts).toEqual([
      {
        model_version: "1",
        n: "180",
        ids: "180",
        one_time: true,
        scored_ms: String(Date.parse("2024-05-02T10:00:00Z")),
      },
      {
        model_version: "2",
        n: "180",
        ids: "180",
        one_time: true,
        scored_ms: String(Date.parse("2024-05-03T10:00:00Z")),
      },
    ]);
  });

  it("after a crash between part and checkpoint, prepare() removes the part: no duplicates", async () => {
    const dir = tempDir("mldeploy-files-sink-");
    const target = path.join(dir, "predictions.parquet");
    const sink = new FileBatchSink({ path: target });
    await sink.prepare(JOB);
    await sink.write(chunk(0));
    await sink.write(chunk(1));
    // "kill -9" while writing chunk 2: its prediction part was renamed into place, its rejects
    // part was still a temp file, and the checkpoint never moved. A stray part of chunk 2 with
    // other predictions stands in for the first, a copy of the rejects for the second.
    const orphan = sink.partPath("part", JOB, 3);
    await copyFile(sink.partPath("part", JOB, 2), orphan);
    await copyFile(sink.partPath("rejects", JOB, 2), `${sink.partPath("rejects", JOB, 3)}.tmp`);
    await writeFile(path.join(sink.partsDir, "_job-unrelated.json.tmp"), "{}");
    await sink.close(); // no finalize: a crash does not merge

    const restarted = new FileBatchSink({ path: target });
    expect(await restarted.prepare(JOB)).toEqual({ id: 200 });
    expect(existsSync(orphan)).toBe(false);
    const left = (await readdir(restarted.partsDir)).sort();
    expect(left.filter((name) => name.includes(".tmp"))).toEqual(["_job-unrelated.json.tmp"]);
    await restarted.write(chunk(2));
    await restarted.write(chunk(3));
    const result = await restarted.finalize();
    await restarted.close();

    expect(result.rows).toBe(4 * 90);
    const [stats] = await query(
      `SELECT count(*) AS n, count(DISTINCT ride_id) AS ids, min(ride_id) AS lo, max(ride_id) AS hi
       FROM read_parquet(${sqlString(target)})`,
    );
    expect(stats).toEqual({ n: "360", ids: "360", lo: "1", hi: "400" });
  });

  it("leaves out parts another job has not committed yet, and writes CSV", async () => {
    const dir = tempDir("mldeploy-files-sink-");
    const target = path.join(dir, "predictions.csv");
    const sink = openFileSink(`csv:${target}`);
    expect(sink).toBeInstanceOf(FileBatchSink);
    await sink.prepare(JOB);
    await sink.write(chunk(0));
    // Another partition's worker has written a part but not yet its state file.
    const other = { ...chunk(1), jobId: "rides→ride_predictions[1/2]" };
    await sink.prepare(other.jobId);
    await copyFile(sink.partPath("part", JOB, 1), sink.partPath("part", other.jobId, 1));
    const result = await sink.finalize();
    await sink.close();
    expect(result.rows).toBe(90);
    expect(result.rejectsPath).toBe(path.join(dir, "predictions.rejects.csv"));
    const rows = await query(
      `SELECT * FROM read_csv(${sqlString(target)}, header = true) ORDER BY ride_id`,
    );
    expect(rows).toHaveLength(90);
    expect(rows[0]).toMatchObject({ ride_id: "1", predicted_duration: 1.1, model_version: "1" });
  });
});

it("sorts the merge by id whenever the parts are not one job's ascending ids", async () => {
  const dir = tempDir("mldeploy-files-sink-order-");
  const fileOrder = async (target: string) =>
    (await query(`SELECT ride_id FROM read_parquet(${sqlString(target)})`)).map((r) =>
      Number(r.ride_id),
    );
  const expected = Array.from({ length: 300 }, (_, i) => i + 1).filter((id) => id % 10 !== 7);

  // One job reading in another order than the ids (as with --since-column).
  const shuffled = path.join(dir, "shuffled.parquet");
  const one = new FileBatchSink({ path: shuffled });
  await one.prepare(JOB);
  for (const n of [2, 0, 1]) await one.write(chunk(n));
  expect((await one.finalize()).rows).toBe(270);
  await one.close();
  expect(await fileOrder(shuffled)).toEqual(expected);

  // Two jobs, each ascending, whose part names sort the higher ids first.
  const twoJobs = path.join(dir, "two-jobs.parquet");
  const two = new FileBatchSink({ path: twoJobs });
  for (const [job, chunks] of [
    ["a", [1, 2]],
    ["b", [0]],
  ] as const) {
    await two.prepare(job);
    for (const n of chunks) await two.write({ ...chunk(n), jobId: job });
  }
  expect((await two.finalize()).rows).toBe(270);
  await two.close();
  expect(await fileOrder(twoJobs)).toEqual(expected);

  // A state file written before the order was tracked: sorted, not trusted.
  const legacy = path.join(dir, "legacy.parquet");
  const old = new FileBatchSink({ path: legacy });
  await old.prepare(JOB);
  for (const n of [1, 2]) await old.write(chunk(n));
  await old.close();
  const state = (await readdir(`${legacy}.parts`)).find((name) => name.startsWith("_job-"))!;
  const statePath = path.join(`${legacy}.parts`, state);
  const { ascending, lastId, ...before } = JSON.parse(await readFile(statePath, "utf8")) as {
    ascending: boolean;
    lastId: number;
  };
  expect([ascending, lastId]).toEqual([true, 300]);
  await writeFile(statePath, JSON.stringify(before));
  const reopened = new FileBatchSink({ path: legacy });
  await reopened.prepare(JOB);
  await reopened.write(chunk(0));
  expect((await reopened.finalize()).rows).toBe(270);
  await reopened.close();
  expect(await fileOrder(legacy)).toEqual(expected);
});

it("stores numbers, timestamps and NULLs mixed in one column exactly (several DuckDB vectors)", async () => {
  const dir = tempDir("mldeploy-files-sink-nulls-");
  const target = path.join(dir, "out.parquet");
  const sink = new FileBatchSink({ path: target });
  const rows = 5000;
  const ids = Array.from({ length: rows }, (_, i) => i + 1);
  const at = (id: number) => new Date(Date.UTC(2024, 0, 1) + id * 1500);
  try {
    await sink.prepare(JOB);
    await sink.write({
      jobId: JOB,
      predictions: {
        idColumn: "ride_id",
        predictionColumn: "predicted_duration",
        ids,
        predictions: Float64Array.from(ids, (id) => id / 8),
        extra: {
          zone: ids.map((id) => (id % 7 === 3 ? null : id % 265)),
          distance: ids.map((id) => (id % 11 === 0 ? null : id / 4)),
          pickup: ids.map((id) => (id % 13 === 5 ? null : at(id))),
        },
        modelName: "m",
        modelVersion: "1",
        scoredAt: "2024-05-01T10:00:00.000Z",
      },
      rejects: { ids: [], reasons: [], rows: [] },
      checkpoint: { id: rows },
    });
    await sink.finalize();
  } finally {
    await sink.close();
  }
  const got = await query(
    `SELECT ride_id, zone, distance, epoch_ms(pickup) AS pickup, predicted_duration,
            typeof(zone) AS zone_type, typeof(pickup) AS pickup_type
     FROM read_parquet(${sqlString(target)}) ORDER BY ride_id`,
  );
  expect(got.length).toBe(rows);
  expect(new Set(got.map((r) => `${r.zone_type} ${r.pickup_type}`))).toEqual(
    new Set(["BIGINT TIMESTAMP"]),
  );
  got.forEach((row, i) => {
    const id = i + 1;
    expect(Number(row.ride_id)).toBe(id);
    expect(row.zone === null ? null : Number(row.zone)).toBe(id % 7 === 3 ? null : id % 265);
    expect(row.distance).toBe(id % 11 === 0 ? null : id / 4);
    expect(row.pickup === null ? null : Number(row.pickup)).toBe(
      id % 13 === 5 ? null : at(id).getTime(),
    );
    expect(row.predicted_duration).toBe(id / 8);
  });
});
