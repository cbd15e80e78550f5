/**
 * The real error of a version: predictions joined by id with actuals in DuckDB, checked
 * against the same sums computed by hand in JS.
 */
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { computeVersionReport } from "../../../src/monitor/job/stats/index.js";
import type { ActualsFrame, WindowFrame } from "../../../src/monitor/job/types.js";
import { normal } from "../random.js";
import { loadWindow, type TestWindow } from "./windows.js";

let instance: DuckDBInstance;
let connection: DuckDBConnection;

beforeAll(async () => {
  instance = await DuckDBInstance.create(":memory:");
  connection = await instance.connect();
});

afterAll(() => {
  connection.closeSync();
  instance.closeSync();
});

async function loadActuals(
  table: string,
  rows: [string | null, number | null][],
): Promise<ActualsFrame> {
  await connection.run(`CREATE OR REPLACE TABLE ${table} (id VARCHAR, actual DOUBLE)`);
  const appender = await connection.createAppender(table);
  for (const [id, actual] of rows) {
    if (id === null) appender.appendNull();
    else appender.appendVarchar(id);
    if (actual === null) appender.appendNull();
    else appender.appendDouble(actual);
    appender.endRow();
  }
  appender.flushSync();
  appender.closeSync();
  return { table, rows: rows.length, description: `test actuals ${table}` };
}

const n = 400;
const predictions = normal(81, n, 15, 5);
// Version 1 predicts rows 0, 2, 4…; version 2 the odd rows.
const window: TestWindow = {
  table: "cur_err",
  columns: [
    { name: "trip_distance", dtype: "float" },
    { name: "duration", dtype: "float", role: "prediction" },
  ],
  versions: predictions.map((_, i) => (i % 2 === 0 ? "1" : "2")),
  ids: predictions.map((_, i) => (i % 50 === 49 ? null : `ride-${i}`)),
  values: {
    trip_distance: normal(82, n, 3, 1),
    duration: predictions.map((p, i) => (i % 31 === 0 ? null : i % 37 === 0 ? Number.NaN : p)),
  },
};
const reference: TestWindow = {
  table: "ref_err",
  columns: window.columns,
  versions: new Array<null>(100).fill(null),
  values: { trip_distance: normal(83, 100, 3, 1), duration: normal(84, 100, 15, 5) },
};

/** Truth for three rows in four, a few duplicates (the smaller counts), NaN and unknown ids. */
function actualRows(): [string | null, number | null][] {
  const rows: [string | null, number | null][] = [];
  const truth = normal(85, n, 14, 5);
  for (let i = 0; i < n; i++) {
    if (i % 4 === 3) continue;
    rows.push([`ride-${i}`, i % 43 === 0 ? Number.NaN : truth[i]]);
    if (i % 10 === 0) rows.push([`ride-${i}`, truth[i] + 100]);
  }
  rows.push(["ride-unknown", 3], [null, 4]);
  return rows;
}

/** The same error by hand: one actual per id (its smallest finite value), finite pairs only. */
function expectedError(version: string, rows: [string | null, number | null][]) {
  const truth = new Map<string, number>();
  for (const [id, actual] of rows) {
    if (id === null || actual === null || !Number.isFinite(actual)) continue;
    truth.set(id, Math.min(actual, truth.get(id) ?? Number.POSITIVE_INFINITY));
  }
  const diffs: number[] = [];
  let count = 0;
  window.versions.forEach((v, i) => {
    if (v !== version) return;
    count++;
    const id = window.ids![i];
    const p = window.values.duration[i];
    const a = id === null ? undefined : truth.get(id);
    if (a !== undefined && typeof p === "number" && Number.isFinite(p)) diffs.push(p - a);
  });
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  return {
    predictions: count,
    matched: diffs.length,
    rmse: Math.sqrt(mean(diffs.map((d) => d * d))),
    mae: mean(diffs.map(Math.abs)),
    bias: mean(diffs),
  };
}

function close(actual: number | null, expected: number): void {
  expect(actual).not.toBeNull();
  expect(Math.abs(actual! - expected)).toBeLessThanOrEqual(1e-9 * Math.abs(expected));
}

async function frames(): Promise<{ ref: WindowFrame; cur: WindowFrame }> {
  return {
    ref: await loadWindow(connection, reference, "training"),
    cur: await loadWindow(connection, window),
  };
}

describe("error metrics (predictions joined with actuals by id)", () => {
  it("RMSE, MAE and bias per version; regression against the training RMSE × factor", async () => {
    const { ref, cur } = await frames();
    const rows = actualRows();
    const actuals = await loadActuals("actuals_err", rows);
    for (const version of ["1", "2"]) {
      const expected = expectedError(version, rows);
      expect(expected.matched).toBeGreaterThan(50);
      const training = { metric: "valid_rmse", rmse: expected.rmse / 1.1 };
      const report = await computeVersionReport(connection, {
        reference: ref,
        current: cur,
        version,
        actuals,
        training,
        driftShare: 0.5,
        rmseFactor: 1.2,
      });
      const error = report.error!;
      expect(error.predictions).toBe(expected.predictions);
      expect(error.matched).toBe(expected.matched);
      close(error.rmse, expected.rmse);
      close(error.mae, expected.mae);
      close(error.bias, expected.bias);
      expect(error.training).toEqual(training);
      expect(error.factor).toBe(1.2);
      // rmse = 1.1 × training: within the factor 1.2, beyond 1.05.
      expect(error.regressed).toBe(false);
      const strict = await computeVersionReport(connection, {
        reference: ref,
        current: cur,
        version,
        actuals,
        training,
        driftShare: 0.5,
        rmseFactor: 1.05,
      });
      expect(strict.error!.regressed).toBe(true);
    }
  });

  it("nothing matched or an empty window: null metrics, never NaN; unknown training: not flagged", async () => {
    const { ref, cur } = await frames();
    const actuals = await loadActuals("actuals_none", [["someone-else", 10]]);
    const unmatched = await computeVersionReport(connection, {
      reference: ref,
      current: cur,
      version: "1",
      actuals,
      training: { metric: "valid_rmse", rmse: 5 },
      driftShare: 0.5,
      rmseFactor: 1.2,
    });
    expect(unmatched.error).toEqual({
      predictions: 200,
      matched: 0,
      rmse: null,
      mae: null,
      bias: null,
      training: { metric: "valid_rmse", rmse: 5 },
      factor: 1.2,
      regressed: null,
    });
    const empty = await computeVersionReport(connection, {
      reference: ref,
      current: cur,
      version: "7",
      actuals: await loadActuals("actuals_all", actualRows()),
      driftShare: 0.5,
      rmseFactor: 1.2,
    });
    expect(empty.status).toBe("no_data");
    expect(empty.error).toMatchObject({
      predictions: 0,
      matched: 0,
      rmse: null,
      training: null,
      regressed: null,
    });
    const noActuals = await computeVersionReport(connection, {
      reference: ref,
      current: cur,
      version: "1",
      driftShare: 0.5,
      rmseFactor: 1.2,
    });
    expect(noActuals.error).toBeUndefined();
  });

  it("bad settings are named", async () => {
    const { ref, cur } = await frames();
    const base = { reference: ref, current: cur, version: "1", driftShare: 0.5, rmseFactor: 1.2 };
    await expect(computeVersionReport(connection, { ...base, driftShare: 0 })).rejects.toThrow(
      /driftShare/,
    );
    await expect(computeVersionReport(connection, { ...base, rmseFactor: -1 })).rejects.toThrow(
      /rmseFactor/,
    );
    await expect(
      computeVersionReport(connection, { ...base, probabilities: [0.5, 1.5] }),
    ).rejects.toThrow(/quantile probabilities/);
  });
});
