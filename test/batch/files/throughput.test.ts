import path from "node:path";
import { performance } from "node:perf_hooks";
import { expect, it } from "vitest";
import { FileBatchSink, FileBatchSource } from "../../../src/batch/files/index.js";
import type { SourceChunk } from "../../../src/batch/types.js";
import { sqlString, withDuckDB } from "../../../src/duckdb/index.js";
import { tempDir } from "../../helpers/temp.js";

const ROWS = 1_000_000;
const CHUNK = 100_000;

/** Measured, printed, not asserted: timings depend on the machine. */
it("reads and writes 1,000,000 rows Parquet → Parquet (throughput printed)", async () => {
  const dir = tempDir("mldeploy-files-throughput-");
  const input = path.join(dir, "rides.parquet");
  const target = path.join(dir, "predictions.parquet");
  await withDuckDB(async (connection) => {
    await connection.run(
      `COPY (SELECT i + 1 AS ride_id,
                    TIMESTAMP '2024-01-01' + to_seconds(i) AS pickup,
                    CAST(1 + i % 265 AS BIGINT) AS PULocationID,
                    CAST(1 + (i * 7) % 265 AS BIGINT) AS DOLocationID,
                    (i % 1000) / 100.0 AS trip_distance
             FROM range(${ROWS}) t(i) ORDER BY hash(i))
       TO ${sqlString(input)} (FORMAT parquet)`,
    );
  });

  const source = new FileBatchSource({ path: input });
  const sink = new FileBatchSink({ path: target });
  const job = "throughput";
  let readMs = 0;
  let writeMs = 0;
  let rows = 0;
  const start = performance.now();
  try {
    await sink.prepare(job);
    const reading = source.read({
      idColumn: "ride_id",
      columns: ["pickup", "PULocationID", "DOLocationID", "trip_distance"],
      chunkSize: CHUNK,
    });
    const iterator = reading[Symbol.asyncIterator]();
    for (;;) {
      let t = performance.now();
      const next = await iterator.next();
      readMs += performance.now() - t;
      if (next.done) break;
      const chunk: SourceChunk = next.value;
      const distance = chunk.columns.trip_distance as number[];
      const predictions = Float64Array.from(distance, (d) => 2 + 3 * d);
      t = performance.now();
      await sink.write({
        jobId: job,
        predictions: {
          idColumn: "ride_id",
          predictionColumn: "predicted_duration",
          ids: chunk.ids,
          predictions,
          extra: { pickup: chunk.columns.pickup, PULocationID: chunk.columns.PULocationID },
          modelName: "ride-duration",
          modelVersion: "1",
          scoredAt: new Date().toISOString(),
        },
        rejects: { ids: [], reasons: [], rows: [] },
        checkpoint: { id: chunk.ids[chunk.rows - 1] },
      });
      writeMs += performance.now() - t;
      rows += chunk.rows;
    }
    const loopMs = performance.now() - start;
    const t = performance.now();
    const result = await sink.finalize();
    const finalizeMs = performance.now() - t;
    const rate = (ms: number) => `${Math.round((rows / ms) * 1000).toLocaleString("en")} rows/s`;
    console.log(
      [
        `file batch throughput, ${rows.toLocaleString("en")} rows in ${CHUNK.toLocaleString("en")}-row chunks:`,
        `  read():      ${readMs.toFixed(0)} ms (${rate(readMs)})`,
        `  write():     ${writeMs.toFixed(0)} ms (${rate(writeMs)})`,
        `  read+write:  ${loopMs.toFixed(0)} ms (${rate(loopMs)})`,
        `  finalize():  ${finalizeMs.toFixed(0)} ms`,
        `  end to end:  ${(loopMs + finalizeMs).toFixed(0)} ms (${rate(loopMs + finalizeMs)})`,
      ].join("\n"),
    );
    expect(rows).toBe(ROWS);
    expect(result.rows).toBe(ROWS);
  } finally {
    await sink.close();
    await source.close();
  }
});
