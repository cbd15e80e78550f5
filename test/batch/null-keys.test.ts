import { writeFileSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { materialize } from "../../src/batch/columns.js";
import { openBatchSink, openBatchSource } from "../../src/batch/endpoints.js";
import { FileBatchSink } from "../../src/batch/files/sink.js";
import { runBatchOnce, type BatchJob, type BatchStats } from "../../src/batch/job.js";
import { loadPredictor } from "../../src/model/predictor.js";
import type { Predictor } from "../../src/model/types.js";
import { sqlString, withDuckDB } from "../../src/duckdb/index.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";
import { NO_POSTGRES, PG_URL, postgresReachable, TestSchemas } from "../registry/store/helpers.js";
import { quietLogger } from "./helpers.js";

/**
 * Rows that read() cannot place in the keyset order (a NULL id or --since-column value), and a
 * model input used as the id, on every kind of source: SQLite, PostgreSQL, Parquet (scored
 * inside DuckDB) and CSV (the chunk pipeline), each into a sink of its own kind.
 */

const HAS_POSTGRES = await postgresReachable();
const schemas = new TestSchemas();
afterAll(() => schemas.drop());

let predictor: Predictor;
beforeAll(async () => {
  predictor = await loadPredictor(await rideBundlePath(), { name: "ride-duration", version: "7" });
});
afterAll(() => predictor.close());

interface Row {
  ride_id: number | null;
  /** Minutes after 2024-01-01, or null. */
  pickup: number | null;
  PULocationID: number;
  DOLocationID: number;
  trip_distance: number;
}

const pickupText = (minutes: number) =>
  new Date(Date.UTC(2024, 0, 1) + minutes * 60_000).toISOString().replace("T", " ").slice(0, 19);

/** 40 good rows (pickups 1…40 minutes), two without a pickup and two without an id. */
function rows(): Row[] {
  const out: Row[] = [];
  for (let i = 1; i <= 44; i++) {
    out.push({
      ride_id: i > 42 ? null : i,
      pickup: i === 41 || i === 42 ? null : i,
      PULocationID: i,
      DOLocationID: 1 + ((i * 7) % 200),
      trip_distance: i / 4,
    });
  }
  return out;
}

interface Reject {
  id: string;
  reason: string;
  row: string;
}

/** A source and a sink of one kind, and what the test needs to change and read them. */
interface Backend {
  source: string;
  table?: string;
  sink: string;
  sinkTable?: string;
  /** Writes (or rewrites) the source's rows. */
  write(rows: Row[]): Promise<void>;
  rejects(): Promise<Reject[]>;
  /** Ids and predictions in the sink. */
  predictions(id: string): Promise<Array<{ id: string; prediction: number }>>;
  inDuckDB?: BatchJob["inDuckDB"];
  close?(): Promise<void>;
}

function sqliteBackend(): Backend {
  const file = path.join(tempDir("mldeploy-null-keys-sqlite-"), "rides.db");
  const db = () => new Database(file);
  return {
    source: `sqlite:${file}`,
    table: "rides",
    sink: `sqlite:${file}`,
    sinkTable: "preds",
    write: async (rows) => {
      const conn = db();
      conn.exec(`DROP TABLE IF EXISTS rides;
        CREATE TABLE rides (ride_id INTEGER, pickup TEXT, PULocationID INTEGER,
                            DOLocationID INTEGER, trip_distance REAL)`);
      const insert = conn.prepare("INSERT INTO rides VALUES (?, ?, ?, ?, ?)");
      for (const r of rows) {
        insert.run(
          r.ride_id,
          r.pickup === null ? null : pickupText(r.pickup),
          r.PULocationID,
          r.DOLocationID,
          r.trip_distance,
        );
      }
      conn.close();
    },
    rejects: async () => {
      const conn = db();
      try {
        return conn
          .prepare("SELECT id, reason, row FROM preds_rejects ORDER BY id")
          .all() as Reject[];
      } finally {
        conn.close();
      }
    },
    predictions: async (id) => {
      const conn = db();
      try {
        return (
          conn
            .prepare(`SELECT "${id}" AS id, predicted_duration AS prediction FROM preds`)
            .all() as Array<{ id: number; prediction: number }>
        ).map((r) => ({ id: String(r.id), prediction: r.prediction }));
      } finally {
        conn.close();
      }
    },
  };
}

async function postgresBackend(): Promise<Backend> {
  const schema = schemas.next();
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`CREATE SCHEMA "${schema}"`);
  return {
    source: PG_URL,
    table: `${schema}.rides`,
    sink: PG_URL,
    sinkTable: `${schema}.preds`,
    write: async (rows) => {
      await client.query(`DROP TABLE IF EXISTS "${schema}".rides;
        CREATE TABLE "${schema}".rides (ride_id BIGINT, pickup TIMESTAMP, "PULocationID" INTEGER,
                                        "DOLocationID" INTEGER, trip_distance DOUBLE PRECISION)`);
      for (const r of rows) {
        await client.query(`INSERT INTO "${schema}".rides VALUES ($1, $2, $3, $4, $5)`, [
          r.ride_id,
          r.pickup === null ? null : pickupText(r.pickup),
          r.PULocationID,
          r.DOLocationID,
          r.trip_distance,
        ]);
      }
    },
    rejects: async () =>
      (await client.query(`SELECT id, reason, "row" FROM "${schema}".preds_rejects ORDER BY id`))
        .rows as Reject[],
    predictions: async (id) =>
      (
        await client.query(
          `SELECT "${id}"::text AS id, predicted_duration AS prediction FROM "${schema}".preds`,
        )
      ).rows as Array<{ id: string; prediction: number }>,
    close: () => client.end(),
  };
}

function fileBackend(format: "parquet" | "csv"): Backend {
  const dir = tempDir(`mldeploy-null-keys-${format}-`);
  const source = path.join(dir, `rides.${format}`);
  // CSV goes to a SQLite sink: the chunk pipeline; Parquet to Parquet: scored inside DuckDB.
  const sqliteSink = path.join(dir, "preds.db");
  const parquetSink = path.join(dir, "preds.parquet");
  const query = async (sql: string) =>
    withDuckDB(async (db) => (await db.runAndReadAll(sql)).getRowObjectsJson());
  return {
    source,
    sink: format === "csv" ? `sqlite:${sqliteSink}` : parquetSink,
    sinkTable: format === "csv" ? "preds" : undefined,
    write: async (rows) => {
      const json = path.join(dir, "rows.json");
      writeFileSync(json, JSON.stringify(rows));
      await query(
        `COPY (SELECT ride_id, TIMESTAMP '2024-01-01' + to_minutes(CAST(pickup AS BIGINT)) AS pickup,
                      "PULocationID", "DOLocationID", CAST(trip_distance AS DOUBLE) AS trip_distance
               FROM read_json(${sqlString(json)}) ORDER BY random())
         TO ${sqlString(source)} (FORMAT ${format}${format === "csv" ? ", HEADER true" : ""})`,
      );
    },
    rejects: async () => {
      if (format === "csv") {
        const db = new Database(sqliteSink, { readonly: true });
        try {
          return db
            .prepare("SELECT id, reason, row FROM preds_rejects ORDER BY id")
            .all() as Reject[];
        } finally {
          db.close();
        }
      }
      const sink = new FileBatchSink({ path: parquetSink });
      const merged = await sink.finalize();
      await sink.close();
      if (merged.rejectsPath === undefined) return [];
      return (await query(
        `SELECT id, reason, "row" FROM read_parquet(${sqlString(merged.rejectsPath)}) ORDER BY id`,
      )) as unknown as Reject[];
    },
    predictions: async (id) => {
      if (format === "csv") {
        const db = new Database(sqliteSink, { readonly: true });
        try {
          return (
            db
              .prepare(`SELECT "${id}" AS id, predicted_duration AS prediction FROM preds`)
              .all() as Array<{ id: number; prediction: number }>
          ).map((r) => ({ id: String(r.id), prediction: r.prediction }));
        } finally {
          db.close();
        }
      }
      const sink = new FileBatchSink({ path: parquetSink });
      await sink.finalize();
      await sink.close();
      return (
        await query(
          `SELECT CAST("${id}" AS VARCHAR) AS id, predicted_duration AS prediction
           FROM read_parquet(${sqlString(parquetSink)})`,
        )
      ).map((r) => ({ id: String(r.id), prediction: Number(r.prediction) }));
    },
  };
}

async function run(
  backend: Backend,
  job: { idColumn: string; sinceColumn?: string; jobId: string; chunkSize?: number },
): Promise<BatchStats> {
  const source = await openBatchSource(backend.source, { table: backend.table });
  const sink = await openBatchSink(backend.sink, { table: backend.sinkTable });
  try {
    const stats = await runBatchOnce({
      jobId: job.jobId,
      source,
      sink,
      predictor,
      idColumn: job.idColumn,
      sinceColumn: job.sinceColumn,
      keepColumns: [],
      chunkSize: job.chunkSize ?? 16,
      model: { name: "ride-duration", version: "7" },
      logger: quietLogger(),
      inDuckDB: backend.inDuckDB,
    });
    if (sink instanceof FileBatchSink) await sink.finalize();
    return stats;
  } finally {
    await sink.close();
    await source.close();
  }
}

const BACKENDS: Array<[string, () => Promise<Backend>, boolean]> = [
  ["SQLite", async () => sqliteBackend(), true],
  ["PostgreSQL", postgresBackend, HAS_POSTGRES],
  ["Parquet (scored inside DuckDB)", async () => fileBackend("parquet"), true],
  ["CSV (chunk pipeline)", async () => fileBackend("csv"), true],
];

describe.each(BACKENDS)("%s", (name, make, available) => {
  it.skipIf(!available)(
    `NULL ids and since values are rejects of every run, with the reason; a late fill-in${available ? "" : ` — ${NO_POSTGRES}`}`,
    async () => {
      const backend = await make();
      try {
        const data = rows();
        await backend.write(data);
        const job = { idColumn: "ride_id", sinceColumn: "pickup", jobId: `nulls-${name}` };

        const first = await run(backend, job);
        expect(first.inDuckDB).toBe(name.startsWith("Parquet"));
        expect(first.rowsScored).toBe(40);
        expect(first.rowsRejected).toBe(4);
        expect(first.rowsRead).toBe(44);
        const rejects = await backend.rejects();
        expect(rejects).toHaveLength(4);
        const since = rejects.filter((r) => r.id === "41" || r.id === "42");
        expect(since.map((r) => r.reason)).toEqual([
          expect.stringMatching(/^field "pickup" is NULL: it is the --since-column/),
          expect.stringMatching(/^field "pickup" is NULL: it is the --since-column/),
        ]);
        expect(JSON.parse(since[0].row)).toMatchObject({
          ride_id: 41,
          pickup: null,
          PULocationID: 41,
        });
        const noId = rejects.filter((r) => r.id.startsWith("null-id:"));
        expect(noId).toHaveLength(2);
        expect(noId[0].reason).toMatch(/^field "ride_id" is NULL: it is the --id-column/);
        expect(noId.map((r) => JSON.parse(r.row).PULocationID).sort()).toEqual([43, 44]);

        // Nothing new: the same rows are reported again, and stay one reject each.
        const second = await run(backend, job);
        expect([second.rowsScored, second.rowsRejected, second.rowsRead]).toEqual([0, 4, 4]);
        expect(await backend.rejects()).toHaveLength(4);

        // Late fill-ins: 41 after the watermark (40 minutes) is scored by the next run; 42
        // before it is not (the keyset has passed it): only --from-start scores it.
        data[40].pickup = 50;
        data[41].pickup = 20;
        await backend.write(data);
        const third = await run(backend, job);
        expect([third.rowsScored, third.rowsRejected]).toEqual([1, 2]);
        const scored = (await backend.predictions("ride_id")).map((p) => p.id);
        expect(scored).toContain("41");
        expect(scored).not.toContain("42");
      } finally {
        await backend.close?.();
      }
    },
  );

  it.skipIf(!available)("scores a model input that is also the --id-column", async () => {
    const backend = await make();
    try {
      // PULocationID is unique in these rows: it can be the id as well as an input.
      await backend.write(rows());
      const stats = await run(backend, { idColumn: "PULocationID", jobId: `id-input-${name}` });
      expect([stats.rowsScored, stats.rowsRejected]).toEqual([44, 0]);
      const got = await backend.predictions("PULocationID");
      const expected = await predictor.predictRecords(
        rows().map(({ PULocationID, DOLocationID, trip_distance }) => ({
          PULocationID,
          DOLocationID,
          trip_distance,
        })),
      );
      const byId = new Map(got.map((p) => [Number(p.id), Number(p.prediction)]));
      rows().forEach((row, i) => {
        expect(byId.get(row.PULocationID)).toBeCloseTo(expected.values[i] as number, 9);
      });
    } finally {
      await backend.close?.();
    }
  });
});

describe("readNullKeys", () => {
  /** 100 rows: ids 1…60 with a pickup every other row, 40 without an id. */
  function manyNulls(): Row[] {
    return Array.from({ length: 100 }, (_, i) => ({
      ride_id: i < 60 ? i + 1 : null,
      pickup: i % 2 === 0 ? i : null,
      PULocationID: i + 1,
      DOLocationID: 1,
      trip_distance: 1,
    }));
  }
  // NULL ids: 40; NULL pickups with an id: the 30 odd rows below 60.
  const EXPECTED = 70;

  async function nullKeyRows(
    backend: Backend,
    partition?: { index: number; count: number },
  ): Promise<number[]> {
    const source = await openBatchSource(backend.source, { table: backend.table });
    try {
      const seen: number[] = [];
      for await (const chunk of source.readNullKeys!({
        idColumn: "ride_id",
        sinceColumn: "pickup",
        columns: ["PULocationID"],
        chunkSize: 16,
        partition,
      })) {
        expect(chunk.rows).toBeLessThanOrEqual(16);
        for (let row = 0; row < chunk.rows; row++) {
          const id = chunk.ids[row];
          expect(id === null || chunk.since?.[row] === null).toBe(true);
          seen.push(Number(materialize(chunk.columns.PULocationID)[row]));
        }
      }
      return seen;
    } finally {
      await source.close();
    }
  }

  it.each([
    ["SQLite", sqliteBackend],
    ["Parquet", () => fileBackend("parquet")],
  ])(
    "%s: pages through every NULL-key row once; partitions split them exactly",
    async (_, make) => {
      const backend = make();
      await backend.write(manyNulls());
      const all = await nullKeyRows(backend);
      expect(all).toHaveLength(EXPECTED);
      expect(new Set(all).size).toBe(EXPECTED);
      const parts = await Promise.all(
        [0, 1, 2].map((index) => nullKeyRows(backend, { index, count: 3 })),
      );
      expect(parts.flat().sort((a, b) => a - b)).toEqual([...all].sort((a, b) => a - b));
      // Rows without an id all go to partition 0.
      expect(parts[1].some((pu) => pu > 60) || parts[2].some((pu) => pu > 60)).toBe(false);
    },
  );
});
