import { writeFileSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { materialize } from "../../src/batch/columns.js";
import { openBatchSink, openBatchSource } from "../../src/batch/endpoints.js";
import { FileBatchSink } from "../../src/batch/files/sink.js";
import { FileBatchSource } from "../../src/batch/files/source.js";
import { runBatchOnce, type BatchStats } from "../../src/batch/job.js";
import { loadPredictor } from "../../src/model/predictor.js";
import type { Predictor } from "../../src/model/types.js";
import { sqlString, withDuckDB } from "../../src/duckdb/index.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";
import { NO_POSTGRES, PG_URL, postgresReachable, TestSchemas } from "../registry/store/helpers.js";
import { quietLogger } from "./helpers.js";

/**
 * Numbers written as text are numbers only when written in decimal, on every batch path: CSV
 * through DuckDB (its type sniffing, the chunk pipeline and the scoring inside DuckDB) and text
 * columns of SQLite and PostgreSQL.
 */

const HAS_POSTGRES = await postgresReachable();
const schemas = new TestSchemas();
afterAll(() => schemas.drop());

/** trip_distance as written, and whether it is a decimal number. */
const DISTANCES: Array<[string, boolean]> = [
  ["0x10", false],
  ["0b101", false],
  ["010", false],
  ["+1", false],
  ["1.", false],
  ["2.5", true],
  ["1e1", true],
  ["0", true],
];

const ROWS = [
  ...DISTANCES.map(([distance], i) => ({
    ride_id: i + 1,
    PULocationID: 10 + i,
    DOLocationID: 20 + i,
    trip_distance: distance,
    actual: "12",
  })),
  // A good row whose actual value is hex text: scored, but it has no diff.
  { ride_id: 9, PULocationID: 30, DOLocationID: 40, trip_distance: "3", actual: "0x10" },
];
const valid = (ride: number) => ride === 9 || DISTANCES[ride - 1][1];

let predictor: Predictor;
beforeAll(async () => {
  predictor = await loadPredictor(await rideBundlePath(), { name: "ride-duration", version: "1" });
});
afterAll(() => predictor.close());

function csvFile(): string {
  const file = path.join(tempDir("mldeploy-decimal-csv-"), "rides.csv");
  const lines = ROWS.map(
    (r) => `${r.ride_id},${r.PULocationID},${r.DOLocationID},${r.trip_distance},${r.actual}`,
  );
  writeFileSync(
    file,
    ["ride_id,PULocationID,DOLocationID,trip_distance,actual", ...lines].join("\n"),
  );
  return file;
}

it("CSV: a column DuckDB would sniff as numbers keeps the text of non-decimal numbers", async () => {
  const file = path.join(tempDir("mldeploy-decimal-sniff-"), "odd.csv");
  // Every value here parses as a number for DuckDB: "hex" and "odd" would become BIGINT and
  // DOUBLE columns (16, 10, 1 and 1.0), "plain" is decimal and stays a number column.
  writeFileSync(file, "id,hex,odd,plain\n1,0x10,010,1.5\n2,5,+1,2\n3,7,1.,-3e2\n");
  const source = new FileBatchSource({ path: file });
  try {
    const values: Record<string, unknown[]> = { hex: [], odd: [], plain: [] };
    const ids: unknown[] = [];
    for await (const chunk of source.read({
      idColumn: "id",
      columns: ["hex", "odd", "plain"],
      chunkSize: 10,
    })) {
      ids.push(...chunk.ids);
      for (const name of Object.keys(values))
        values[name].push(...materialize(chunk.columns[name]));
    }
    expect(ids).toEqual([1, 2, 3]);
    expect(values.hex).toEqual(["0x10", "5", "7"]);
    expect(values.odd).toEqual(["010", "+1", "1."]);
    expect(values.plain).toEqual([1.5, 2, -300]);
  } finally {
    await source.close();
  }
});

interface Outcome {
  stats: BatchStats;
  rejects: Array<{ id: string; reason: string }>;
  predictions: Array<{ id: string; diff: number | null }>;
}

async function score(
  sourceUrl: string,
  table: string | undefined,
  sinkUrl: string,
  sinkTable: string | undefined,
  read: (sink: string) => Promise<Omit<Outcome, "stats">>,
): Promise<Outcome> {
  const source = await openBatchSource(sourceUrl, { table });
  const sink = await openBatchSink(sinkUrl, { table: sinkTable });
  let stats: BatchStats;
  try {
    stats = await runBatchOnce({
      jobId: "decimal",
      source,
      sink,
      predictor,
      idColumn: "ride_id",
      keepColumns: [],
      actualColumn: "actual",
      model: { name: "ride-duration", version: "1" },
      logger: quietLogger(),
    });
    if (sink instanceof FileBatchSink) await sink.finalize();
  } finally {
    await sink.close();
    await source.close();
  }
  return { stats, ...(await read(sinkUrl)) };
}

function expectDecimalOnly({ stats, rejects, predictions }: Outcome): void {
  const good = ROWS.filter((r) => valid(r.ride_id)).map((r) => String(r.ride_id));
  const bad = ROWS.filter((r) => !valid(r.ride_id));
  expect(predictions.map((p) => p.id).sort()).toEqual(good.sort());
  expect(rejects.map((r) => r.id).sort()).toEqual(bad.map((r) => String(r.ride_id)).sort());
  for (const reject of rejects) {
    const row = bad.find((r) => String(r.ride_id) === reject.id)!;
    expect(reject.reason).toContain(
      `field "trip_distance" must be a number, got "${row.trip_distance}"`,
    );
  }
  expect([stats.rowsScored, stats.rowsRejected]).toEqual([good.length, bad.length]);
  for (const p of predictions) {
    if (p.id === "9") expect(p.diff).toBeNull();
    else expect(Number.isFinite(p.diff)).toBe(true);
  }
}

async function sqliteOutcome(url: string): Promise<Omit<Outcome, "stats">> {
  const db = new Database(url.slice("sqlite:".length), { readonly: true });
  try {
    return {
      rejects: db.prepare("SELECT id, reason FROM preds_rejects").all() as Outcome["rejects"],
      predictions: (
        db.prepare("SELECT ride_id AS id, diff FROM preds").all() as Array<{
          id: number;
          diff: number | null;
        }>
      ).map((p) => ({ id: String(p.id), diff: p.diff })),
    };
  } finally {
    db.close();
  }
}

describe("every batch path takes decimal text only", () => {
  it("CSV scored inside DuckDB", async () => {
    const sink = path.join(tempDir("mldeploy-decimal-parquet-"), "preds.parquet");
    const outcome = await score(csvFile(), undefined, sink, undefined, async (target) => {
      const query = async (sql: string) =>
        withDuckDB(async (db) => (await db.runAndReadAll(sql)).getRowObjectsJson());
      const rejectsFile = target.replace(/\.parquet$/, ".rejects.parquet");
      return {
        rejects: (
          await query(`SELECT id, reason FROM read_parquet(${sqlString(rejectsFile)})`)
        ).map((r) => ({ id: String(r.id), reason: String(r.reason) })),
        predictions: (
          await query(`SELECT ride_id, diff FROM read_parquet(${sqlString(target)})`)
        ).map((r) => ({ id: String(r.ride_id), diff: r.diff === null ? null : Number(r.diff) })),
      };
    });
    expect(outcome.stats.inDuckDB).toBe(true);
    expectDecimalOnly(outcome);
  });

  it("CSV through the chunk pipeline", async () => {
    const sink = `sqlite:${path.join(tempDir("mldeploy-decimal-csv-sqlite-"), "preds.db")}`;
    const outcome = await score(csvFile(), undefined, sink, "preds", sqliteOutcome);
    expect(outcome.stats.inDuckDB).toBe(false);
    expectDecimalOnly(outcome);
  });

  it("SQLite TEXT columns", async () => {
    const file = path.join(tempDir("mldeploy-decimal-sqlite-"), "rides.db");
    const db = new Database(file);
    db.exec(`CREATE TABLE rides (ride_id INTEGER PRIMARY KEY, PULocationID INTEGER,
                                 DOLocationID INTEGER, trip_distance TEXT, actual TEXT)`);
    const insert = db.prepare("INSERT INTO rides VALUES (?, ?, ?, ?, ?)");
    for (const r of ROWS) {
      insert.run(r.ride_id, r.PULocationID, r.DOLocationID, r.trip_distance, r.actual);
    }
    db.close();
    expectDecimalOnly(
      await score(`sqlite:${file}`, "rides", `sqlite:${file}`, "preds", sqliteOutcome),
    );
  });

  it.skipIf(!HAS_POSTGRES)(
    `PostgreSQL text columns${HAS_POSTGRES ? "" : ` — ${NO_POSTGRES}`}`,
    async () => {
      const schema = schemas.next();
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      try {
        await client.query(`CREATE SCHEMA "${schema}";
          CREATE TABLE "${schema}".rides (ride_id INTEGER PRIMARY KEY, "PULocationID" INTEGER,
            "DOLocationID" INTEGER, trip_distance TEXT, actual TEXT)`);
        for (const r of ROWS) {
          await client.query(`INSERT INTO "${schema}".rides VALUES ($1, $2, $3, $4, $5)`, [
            r.ride_id,
            r.PULocationID,
            r.DOLocationID,
            r.trip_distance,
            r.actual,
          ]);
        }
        const outcome = await score(
          PG_URL,
          `${schema}.rides`,
          PG_URL,
          `${schema}.preds`,
          async () => ({
            rejects: (await client.query(`SELECT id, reason FROM "${schema}".preds_rejects`))
              .rows as Outcome["rejects"],
            predictions: (
              await client.query(`SELECT ride_id::text AS id, diff FROM "${schema}".preds`)
            ).rows as Outcome["predictions"],
          }),
        );
        expectDecimalOnly(outcome);
      } finally {
        await client.end();
      }
    },
  );
});
