import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBatchSink, openBatchSource } from "../../src/batch/endpoints.js";
import { runBatchOnce, type BatchJob } from "../../src/batch/job.js";
import type { BatchSink, SinkWrite } from "../../src/batch/types.js";
import { loadPredictor } from "../../src/model/predictor.js";
import type { Predictor } from "../../src/model/types.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";
import { makeRides, querySqlite, quietLogger, writeRidesSqlite } from "./helpers.js";

/** A real SQLite sink whose n-th write fails, as a full disk or a dropped connection would. */
function failingOnWrite(sink: BatchSink, failing: number): BatchSink & { writes: number } {
  const wrapped = {
    description: sink.description,
    writes: 0,
    prepare: (jobId: string) => sink.prepare(jobId),
    write: async (chunk: SinkWrite) => {
      wrapped.writes++;
      if (wrapped.writes === failing) {
        // Fails at once, while the job goes on scoring the next chunk: the failure must not
        // surface as an unhandled rejection before the job awaits this write.
        throw new Error("disk full");
      }
      await sink.write(chunk);
    },
    resetCheckpoint: (jobId: string) => sink.resetCheckpoint(jobId),
    close: () => sink.close(),
  };
  return wrapped;
}

let predictor: Predictor;
beforeAll(async () => {
  predictor = await loadPredictor(await rideBundlePath(), { name: "ride-duration", version: "1" });
});
afterAll(async () => {
  await predictor?.close();
});

describe("the batch job pipeline (read, score and write overlap)", () => {
  async function job(db: string, sink: BatchSink): Promise<BatchJob> {
    return {
      jobId: "pipeline",
      source: await openBatchSource(`sqlite:${db}`, { table: "rides" }),
      sink,
      predictor,
      idColumn: "ride_id",
      keepColumns: [],
      chunkSize: 100,
      model: { name: "ride-duration", version: "1" },
      logger: quietLogger(),
    };
  }

  it("fails with the sink's error, keeps the chunks committed before it, and a rerun completes the rest once", async () => {
    const db = path.join(tempDir(), "rides.db");
    const rides = makeRides(1000).map((ride) => ({ ...ride, trip_distance: 2 }));
    writeRidesSqlite(db, rides);
    const sink = failingOnWrite(await openBatchSink(`sqlite:${db}`, { table: "preds" }), 3);
    const first = await job(db, sink);
    await expect(runBatchOnce(first)).rejects.toThrow("disk full");
    await first.source.close();
    await sink.close();
    const committed = querySqlite<{ ride_id: number }>(db, "SELECT ride_id FROM preds");
    // Chunks 1 and 2 were committed; the failing 3rd and anything after it were not.
    expect(committed.map((row) => row.ride_id).sort((a, b) => a - b)).toEqual(
      rides.slice(0, 200).map((ride) => ride.ride_id),
    );

    const retry = await job(db, await openBatchSink(`sqlite:${db}`, { table: "preds" }));
    const stats = await runBatchOnce(retry);
    await retry.source.close();
    await retry.sink.close();
    expect(stats.rowsRead).toBe(800);
    const all = querySqlite<{ ride_id: number; n: number }>(
      db,
      "SELECT ride_id, count(*) AS n FROM preds GROUP BY ride_id ORDER BY ride_id",
    );
    expect(all.map((row) => row.ride_id)).toEqual(rides.map((ride) => ride.ride_id));
    expect(all.every((row) => row.n === 1)).toBe(true);
  });

  it("on a stop request, commits the chunk being written and reports where it stopped", async () => {
    const db = path.join(tempDir(), "rides.db");
    writeRidesSqlite(
      db,
      makeRides(1000).map((ride) => ({ ...ride, trip_distance: 2 })),
    );
    const sink = await openBatchSink(`sqlite:${db}`, { table: "preds" });
    const stopping = await job(db, sink);
    let scored = 0;
    const stats = await runBatchOnce({
      ...stopping,
      shouldStop: () => ++scored >= 4,
    });
    await stopping.source.close();
    await sink.close();
    expect(stats).toMatchObject({ stopped: true, rowsRead: 400, chunks: 4 });
    expect(stats.checkpoint?.id).toBe(400);
    expect(querySqlite<{ n: number }>(db, "SELECT count(*) AS n FROM preds")[0].n).toBe(400);
  });
});
