import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDuckDB, closeDuckDB, type DuckDBEngine } from "../../../src/duckdb/index.js";
import { loadPredictor } from "../../../src/model/predictor.js";
import type { ModelInfo, Predictor } from "../../../src/model/types.js";
import { loadLogWindow, monitoredColumns } from "../../../src/monitor/job/sources/index.js";
import { PredictionLog } from "../../../src/monitor/prediction-log/writer.js";
import { rideBundlePath } from "../../helpers/ride-bundle.js";
import { tempDir } from "../../helpers/temp.js";
import {
  queryRows,
  recordingLogger,
  tableTypes,
  writeLogPart,
  type LoggedRide,
} from "./helpers.js";

const MODEL = "ride-duration";
let engine: DuckDBEngine;
let predictor: Predictor;
let info: ModelInfo;
let dir: string;
let served: { ids: string[]; durations: Float64Array; start: number; end: number };
const torn: string[] = [];
const foreign: string[] = [];

/** Rides logged on 2026-01-01 10:xx by version 2 (40 rows) and version 10 (30 rows). */
function rides(count: number, first: number, minute0: number): LoggedRide[] {
  return Array.from({ length: count }, (_, i) => ({
    time: `2026-01-01 10:${String(minute0 + Math.floor(i / 10)).padStart(2, "0")}:${String(i % 60).padStart(2, "0")}`,
    id: String(first + i),
    PULocationID: 1 + (i % 7),
    DOLocationID: 10 + (i % 3),
    trip_distance: i % 13 === 0 ? null : 0.5 + i / 10,
    duration: 5 + i / 4,
  }));
}

beforeAll(async () => {
  engine = await openDuckDB({ memoryLimit: "256MB" });
  predictor = await loadPredictor(await rideBundlePath(), { name: MODEL, version: "7" });
  info = predictor.info;
  dir = tempDir("mldeploy-log-");
  const { logger } = recordingLogger();

  // The real writer, logging what a server predicted just now.
  const log = new PredictionLog({
    dir,
    mode: "serve",
    sample: 1,
    flushMs: 60_000,
    queueRows: 10_000,
    logger,
  });
  const start = Date.now();
  const n = 120;
  const batch = {
    rows: n,
    columns: {
      PULocationID: Float64Array.from({ length: n }, (_, i) => 1 + (i % 20)),
      DOLocationID: Float64Array.from({ length: n }, (_, i) => 30 + (i % 9)),
      trip_distance: Float64Array.from({ length: n }, (_, i) => 0.3 + i / 7),
    },
  };
  const { values } = await predictor.predictColumns(batch);
  const ids = Array.from({ length: n }, (_, i) => `ride-${i}`);
  log.record(info, batch, values, ids);
  await log.close();
  served = { ids, durations: values as Float64Array, start, end: Date.now() + 1 };

  // Older hours, in the log's format: two versions, a torn part and another model's file.
  const c = engine.connection;
  await writeLogPart(c, { dir, model: MODEL, version: "10", rows: rides(30, 1000, 0), seq: 1 });
  await writeLogPart(c, { dir, model: MODEL, version: "2", rows: rides(40, 2000, 30), seq: 2 });
  const other = await writeLogPart(c, {
    dir,
    model: MODEL,
    version: "1",
    footerModel: "fraud-score",
    rows: rides(5, 3000, 40),
    seq: 3,
  });
  foreign.push(other);
  const tmp = path.join(path.dirname(other), `10-test-${process.pid}-000004.parquet.tmp`);
  writeFileSync(tmp, "PAR1 torn by kill -9");
  torn.push(tmp);
});

afterAll(async () => {
  await predictor?.close();
  await closeDuckDB(Promise.resolve(engine));
});

describe("loadLogWindow", () => {
  it("reads what the writer logged: typed columns, ids, predictions, the version", async () => {
    const { logger } = recordingLogger();
    const frame = await loadLogWindow(
      { connection: engine.connection, logger },
      {
        table: "current",
        dir,
        model: MODEL,
        window: { from: new Date(served.start - 1), to: new Date(served.end) },
        columns: monitoredColumns(info),
      },
    );
    expect(frame).toMatchObject({ table: "current", rows: 120, kind: "log", versions: ["7"] });
    expect(frame.columns.map((c) => `${c.name}:${c.role}:${c.dtype}`)).toEqual([
      "PULocationID:input:integer",
      "DOLocationID:input:integer",
      "trip_distance:input:float",
      "duration:prediction:float",
    ]);
    expect(await tableTypes(engine.connection, "current")).toEqual({
      time: "TIMESTAMP",
      version: "VARCHAR",
      id: "VARCHAR",
      PULocationID: "BIGINT",
      DOLocationID: "BIGINT",
      trip_distance: "DOUBLE",
      duration: "DOUBLE",
    });
    const rows = await queryRows(engine.connection, "SELECT * FROM current");
    const byId = new Map(rows.map((r) => [String(r.id), r]));
    served.ids.forEach((id, i) => {
      const row = byId.get(id)!;
      expect(row.duration).toBe(served.durations[i]);
      expect(row.PULocationID).toBe(1 + (i % 20));
      // UTC wall time, within the window the test logged in.
      const time = Date.parse(`${String(row.time)}`);
      expect(time).toBeGreaterThanOrEqual(served.start - 1000);
      expect(time).toBeLessThanOrEqual(served.end + 1000);
    });
    expect(frame.description).toContain("1 files");
  });

  it("windows by time, skips torn and foreign files with a warning, sorts versions numerically", async () => {
    const { logger, warnings } = recordingLogger();
    const frame = await loadLogWindow(
      { connection: engine.connection, logger },
      {
        table: "old",
        dir,
        model: MODEL,
        window: { from: new Date("2026-01-01T10:00:00Z"), to: new Date("2026-01-01T10:33:00Z") },
        columns: monitoredColumns(info),
      },
    );
    // Version 10: all 30 rows (10:00–10:02); version 2: minutes 30, 31, 32 → 30 of its 40.
    expect(frame.rows).toBe(60);
    expect(frame.versions).toEqual(["2", "10"]);
    expect(frame.skipped.map((s) => s.file).sort()).toEqual([...foreign, ...torn].sort());
    expect(frame.skipped.find((s) => s.file === foreign[0])?.reason).toContain("fraud-score");
    expect(warnings.some((w) => w.includes(torn[0]))).toBe(true);
    expect(frame.description).toMatch(
      /2026-01-01 10:00–10:33 UTC: 2 files, 60 rows, 2 files skipped/,
    );
    const counts = await queryRows(
      engine.connection,
      "SELECT version, count(*) AS n, count(trip_distance) AS d FROM old GROUP BY version ORDER BY version",
    );
    expect(counts).toEqual([
      { version: "10", n: 30, d: 27 },
      { version: "2", n: 30, d: 27 },
    ]);
  });

  it("keeps one version when asked", async () => {
    const { logger } = recordingLogger();
    const frame = await loadLogWindow(
      { connection: engine.connection, logger },
      { table: "v2", dir, model: MODEL, version: "2", columns: monitoredColumns(info) },
    );
    expect(frame.rows).toBe(40);
    expect(frame.versions).toEqual(["2"]);
    expect(frame.description).toContain("version 2");
  });

  it("an empty window is a table of 0 rows, not an error", async () => {
    const { logger } = recordingLogger();
    const frame = await loadLogWindow(
      { connection: engine.connection, logger },
      {
        table: "empty",
        dir,
        model: MODEL,
        window: { from: new Date("2025-01-01T00:00:00Z"), to: new Date("2025-01-02T00:00:00Z") },
        columns: monitoredColumns(info),
      },
    );
    expect(frame).toMatchObject({ rows: 0, versions: [], skipped: [] });
    expect(frame.columns).toHaveLength(4);
    expect(frame.description).toContain("no files");
    expect(await tableTypes(engine.connection, "empty")).toMatchObject({
      time: "TIMESTAMP",
      duration: "DOUBLE",
    });
    const unknown = await loadLogWindow(
      { connection: engine.connection, logger },
      { table: "nothing", dir, model: "never-served", columns: monitoredColumns(info) },
    );
    expect(unknown.rows).toBe(0);
  });

  it("samples above maxRows with a fixed seed: the same rows on every pass", async () => {
    const { logger } = recordingLogger();
    const load = (table: string) =>
      loadLogWindow(
        { connection: engine.connection, logger },
        { table, dir, model: MODEL, columns: monitoredColumns(info), maxRows: 50 },
      );
    const a = await load("sample_a");
    const b = await load("sample_b");
    expect(a.rows).toBe(50);
    expect(b.rows).toBe(50);
    expect(a.description).toContain("sampled 50 of 190 rows");
    const ids = async (table: string) =>
      (await queryRows(engine.connection, `SELECT id FROM ${table} ORDER BY id`)).map((r) => r.id);
    expect(await ids("sample_a")).toEqual(await ids("sample_b"));
    const all = await loadLogWindow(
      { connection: engine.connection, logger },
      { table: "all_rows", dir, model: MODEL, columns: monitoredColumns(info), maxRows: 1000 },
    );
    expect(all.rows).toBe(190);
    expect(all.description).not.toContain("sampled");
  });
});
