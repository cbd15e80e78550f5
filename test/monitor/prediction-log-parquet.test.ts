import path from "node:path";
import { describe, expect, it } from "vitest";
import { sqlString, withDuckDB } from "../../src/duckdb/index.js";
import { silentLogger } from "../../src/log/logger.js";
import type { ModelInfo } from "../../src/model/types.js";
import { readPredictionLog } from "../../src/monitor/prediction-log/reader.js";
import { PredictionLog } from "../../src/monitor/prediction-log/writer.js";
import { tempDir } from "../helpers/temp.js";

/** A model with a column of every type the log stores. */
const INFO = {
  name: "all-types",
  version: "7",
  inputs: [
    { name: "big", type: "long" },
    { name: "small", type: "integer" },
    { name: "real", type: "double" },
    { name: "single", type: "float" },
    { name: "text", type: "string" },
    { name: "flag", type: "boolean" },
  ],
  output: "label",
  outputType: "string",
} as unknown as ModelInfo;

const ROWS = 70; // booleans span several bytes of bits, with NULLs among them

function value(row: number) {
  return {
    big: row % 5 === 4 ? null : 2 ** 40 + row,
    small: row % 6 === 5 ? null : 3 - row,
    real: row % 7 === 6 ? null : row / 8,
    single: row % 9 === 8 ? null : row / 2,
    text: row % 4 === 3 ? null : `zone ${row}: "Ça va", ${"é".repeat(row % 3)}\n,`,
    flag: row % 8 === 7 ? null : row % 3 === 0,
    label: `class-${row % 3}`,
  };
}

describe("prediction log part files", () => {
  it("DuckDB reads every type, NULL and text the writer encodes, as written", async () => {
    const dir = tempDir("mldeploy-parquet-");
    const log = new PredictionLog({
      dir,
      mode: "stream",
      sample: 1,
      flushMs: 3_600_000,
      queueRows: 10_000,
      logger: silentLogger(),
    });
    const rows = Array.from({ length: ROWS }, (_, row) => value(row));
    const numbers = (name: "big" | "small" | "real" | "single") =>
      Float64Array.from(rows, (row) => row[name] ?? NaN);
    // Two batches: ids drawn by the log for the first, given (one missing) for the second.
    const half = ROWS / 2;
    for (const [from, ids] of [
      [0, undefined],
      [half, Array.from({ length: half }, (_, i) => (i === 3 ? undefined : `ride-${half + i}`))],
    ] as const) {
      const slice = rows.slice(from, from + half);
      log.record(
        INFO,
        {
          rows: half,
          columns: {
            big: numbers("big").subarray(from, from + half),
            small: numbers("small").subarray(from, from + half),
            real: numbers("real").subarray(from, from + half),
            single: numbers("single").subarray(from, from + half),
            // Missing texts and flags arrive as absent entries of the request's columns.
            text: slice.map((row) => row.text) as string[],
            flag: slice.map((row) => row.flag) as boolean[],
          },
        },
        slice.map((row) => row.label),
        ids,
      );
    }
    await log.flush();
    const { rows: read, skipped } = await readPredictionLog({ dir, model: INFO.name });
    expect(skipped).toEqual([]);
    expect(read).toHaveLength(ROWS);
    const byId = new Map(read.map((row) => [row.id, row]));
    const drawn = read.filter((row) => typeof row.id === "string" && !row.id.startsWith("ride-"));
    expect(drawn).toHaveLength(half);
    expect(new Set(drawn.map((row) => row.id)).size).toBe(half);
    for (let row = 0; row < ROWS; row++) {
      const got =
        row < half
          ? read.find(
              (each) =>
                each.big === rows[row].big &&
                each.small === rows[row].small &&
                each.text === rows[row].text &&
                each.real === rows[row].real,
            )
          : byId.get(row === half + 3 ? null : `ride-${row}`);
      expect(got, `row ${row}`).toMatchObject({
        model: INFO.name,
        version: "7",
        mode: "stream",
        ...rows[row],
      });
    }
    const types = await withDuckDB(async (connection) => {
      const result = await connection.runAndReadAll(
        `DESCRIBE SELECT * FROM read_parquet(${sqlString(path.join(dir, "*", "*", "*.parquet"))})`,
      );
      return result.getRowObjectsJS().map((row) => `${row.column_name} ${row.column_type}`);
    });
    expect(types).toEqual([
      "time TIMESTAMP",
      "model VARCHAR",
      "version VARCHAR",
      "mode VARCHAR",
      "id VARCHAR",
      "big BIGINT",
      "small INTEGER",
      "real DOUBLE",
      "single FLOAT",
      "text VARCHAR",
      "flag BOOLEAN",
      "label VARCHAR",
    ]);
    await log.close();
  });
});
