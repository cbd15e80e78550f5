import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../../../src/config/errors.js";
import { openSqlSink, openSqlSource } from "../../../src/batch/sql/index.js";
import type {
  BatchSource,
  Checkpoint,
  ReadOptions,
  SinkWrite,
  SourceChunk,
} from "../../../src/batch/types.js";
import { byId, bySince, makeRides, type Ride } from "./fixtures.js";

/** One database for a contract run: the tests create their tables in it. */
export interface SqlBackend {
  url: string;
  /** A table name as the tests pass it to the source and sink (schema-qualified on PostgreSQL). */
  table(name: string): string;
  exec(sql: string): Promise<void>;
  query(sql: string): Promise<Record<string, unknown>[]>;
  insert(table: string, columns: string[], rows: unknown[][]): Promise<void>;
  /** SQL type of the rides' pickup column. */
  timestampType: string;
  /** Extra timestamp types to run the microsecond test on (e.g. timestamptz). */
  otherTimestampTypes: string[];
  /** pg parses timestamp columns to Date; SQLite returns the stored text. */
  datesAsDate: boolean;
  /**
   * Statements creating a trigger named `trigger` that makes every insert or update of
   * `jobId`'s row in the checkpoint table `table` raise; and the statements dropping it.
   */
  refuseCheckpoint(
    table: string,
    jobId: string,
    trigger: string,
  ): { create: string[]; drop: string[] };
  close(): Promise<void>;
}

const RIDES = makeRides(2000);
const RIDE_COLUMNS = [
  "ride_id",
  "lpep_pickup_datetime",
  "PULocationID",
  "DOLocationID",
  "trip_distance",
] as const;
const READ: Omit<ReadOptions, "chunkSize"> = {
  idColumn: "ride_id",
  columns: ["PULocationID", "DOLocationID", "trip_distance"],
};

async function readAll(
  source: BatchSource,
  options: ReadOptions,
): Promise<{ ids: number[]; chunks: SourceChunk[] }> {
  const chunks: SourceChunk[] = [];
  for await (const chunk of source.read(options)) chunks.push(chunk);
  return { ids: chunks.flatMap((chunk) => chunk.ids.map(Number)), chunks };
}

/** The checkpoint a job would store after `chunk`. */
function lastKey(chunk: SourceChunk): Checkpoint {
  const last = chunk.rows - 1;
  const since = chunk.since?.[last];
  return { id: chunk.ids[last], ...(since === undefined || since === null ? {} : { since }) };
}

async function userError(promise: Promise<unknown>, ...fragments: string[]): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, "expected a UserError").toBeInstanceOf(UserError);
  for (const fragment of fragments) expect((error as Error).message).toContain(fragment);
}

let uniqueTable = 0;

/** The SQL source and sink contract, run against each database. */
export function describeSqlContract(name: string, open: () => Promise<SqlBackend>): void {
  describe(`SQL source and sink: ${name}`, () => {
    let db: SqlBackend;
    let source: BatchSource;

    beforeAll(async () => {
      db = await open();
      const rides = db.table("rides");
      await db.exec(
        `CREATE TABLE ${rides} (ride_id BIGINT PRIMARY KEY, lpep_pickup_datetime ${db.timestampType}, ` +
          `"PULocationID" INTEGER, "DOLocationID" INTEGER, trip_distance DOUBLE PRECISION)`,
      );
      await db.exec(`CREATE INDEX rides_pickup ON ${rides} (lpep_pickup_datetime, ride_id)`);
      await db.insert(
        rides,
        [...RIDE_COLUMNS],
        RIDES.map((ride: Ride) => RIDE_COLUMNS.map((column) => ride[column])),
      );
      source = await openSqlSource(db.url, { table: rides });
    });

    afterAll(async () => {
      await source?.close();
      await db?.close();
    });

    describe("source", () => {
      it("reads every row once, in id order, in chunks of the given size", async () => {
        const { ids, chunks } = await readAll(source, { ...READ, chunkSize: 100 });
        expect(ids).toEqual(byId(RIDES));
        expect(chunks.map((chunk) => chunk.rows)).toEqual(Array(20).fill(100));
        const first = chunks[0];
        expect(first.since).toBeUndefined();
        expect(Object.keys(first.columns)).toEqual(READ.columns);
        const ride = RIDES.find((r) => r.ride_id === first.ids[0])!;
        expect((first.columns.PULocationID as unknown[])[0]).toBe(ride.PULocationID);
        expect((first.columns.trip_distance as unknown[])[0]).toBe(ride.trip_distance);
        // BIGINT ids come back as numbers (pg's default would be strings).
        expect(typeof first.ids[0]).toBe("number");
      });

      it("stops cleanly when the consumer stops early", async () => {
        const seen: number[] = [];
        for await (const chunk of source.read({ ...READ, chunkSize: 100 })) {
          seen.push(...chunk.ids.map(Number));
          if (seen.length >= 300) break;
        }
        expect(seen).toEqual(byId(RIDES).slice(0, 300));
        // The source is still usable after an abandoned read.
        expect(await source.count(READ)).toBe(RIDES.length);
      });

      it("resumes after a checkpoint with exactly the remaining rows", async () => {
        const { chunks } = await readAll(source, { ...READ, chunkSize: 100 });
        const after = lastKey(chunks[6]);
        const rest = await readAll(source, { ...READ, chunkSize: 100, after });
        expect(rest.ids).toEqual(byId(RIDES).slice(700));
        expect(await source.count({ ...READ, after })).toBe(1300);
      });

      it("orders by (since, id), splits ties across chunks and resumes exactly", async () => {
        const options = { ...READ, sinceColumn: "lpep_pickup_datetime", chunkSize: 7 };
        const { ids, chunks } = await readAll(source, options);
        expect(ids).toEqual(bySince(RIDES));
        // Rows with a NULL since column are not read.
        expect(ids.length).toBe(RIDES.filter((ride) => ride.micros !== null).length);
        const since = chunks.flatMap((chunk) => chunk.since ?? []);
        expect(since.every((value) => typeof value === "string")).toBe(true);
        expect(since.some((value) => /\.\d{6}$/.test(String(value)))).toBe(true);

        for (const at of [5, 100, 250]) {
          const rest = await readAll(source, { ...options, after: lastKey(chunks[at]) });
          expect(rest.ids).toEqual(bySince(RIDES).slice((at + 1) * 7));
        }
        expect(await source.count({ ...options, after: lastKey(chunks[100]) })).toBe(
          ids.length - 101 * 7,
        );
      });

      it("returns timestamp columns as the driver does", async () => {
        const { chunks } = await readAll(source, {
          ...READ,
          columns: ["lpep_pickup_datetime"],
          chunkSize: 2000,
        });
        const values = (chunks[0].columns.lpep_pickup_datetime as unknown[]).filter(
          (value) => value !== null,
        );
        for (const value of values) {
          if (db.datesAsDate) expect(value).toBeInstanceOf(Date);
          else expect(typeof value).toBe("string");
        }
      });

      it("resumes exactly between timestamps one microsecond apart", async () => {
        for (const type of [db.timestampType, ...db.otherTimestampTypes]) {
          const ticks = db.table(`ticks_${++uniqueTable}`);
          await db.exec(`CREATE TABLE ${ticks} (id BIGINT, at ${type})`);
          const at = (micro: string) => `2024-01-01 10:00:00.${micro}`;
          const rows = [
            [6, at("124000")],
            [2, at("123457")],
            [1, at("123456")],
            [4, at("123458")],
            [3, at("123457")],
            [5, at("123999")],
          ];
          await db.insert(ticks, ["id", "at"], rows);
          const tickSource = await openSqlSource(db.url, { table: ticks });
          try {
            const options = { idColumn: "id", sinceColumn: "at", columns: [], chunkSize: 1 };
            const { ids } = await readAll(tickSource, options);
            expect(ids, type).toEqual([1, 2, 3, 4, 5, 6]);
          } finally {
            await tickSource.close();
          }
        }
      });

      it("splits rows into partitions that cover each row exactly once", async () => {
        const seen: number[] = [];
        for (let index = 0; index < 4; index++) {
          const partition = { index, count: 4 };
          const { ids } = await readAll(source, { ...READ, partition, chunkSize: 300 });
          expect(ids.length).toBeGreaterThan(300);
          expect(ids).toEqual([...ids].sort((a, b) => a - b));
          expect(await source.count({ ...READ, partition })).toBe(ids.length);
          seen.push(...ids);
        }
        expect(seen.sort((a, b) => a - b)).toEqual(byId(RIDES));
      });

      it("reads a custom query as a subquery, with a trailing ';' or comment", async () => {
        const zones = db.table("zones");
        await db.exec(`CREATE TABLE ${zones} (zone_id INTEGER, name TEXT)`);
        await db.insert(
          zones,
          ["zone_id", "name"],
          Array.from({ length: 10 }, (_, i) => [i + 1, `zone ${i + 1}`]),
        );
        const join =
          `SELECT r.ride_id, r.trip_distance, z.name AS pickup_zone FROM ${db.table("rides")} r ` +
          `JOIN ${zones} z ON z.zone_id = r."PULocationID" WHERE r.trip_distance > 5`;
        const expected = RIDES.filter((ride) => (ride.trip_distance ?? 0) > 5);
        for (const query of [`${join};`, `${join} -- long trips only`]) {
          const custom = await openSqlSource(db.url, { query });
          try {
            const options = { idColumn: "ride_id", columns: ["pickup_zone"], chunkSize: 50 };
            const { ids, chunks } = await readAll(custom, options);
            expect(ids).toEqual(byId(expected));
            const ride = expected.find((r) => r.ride_id === chunks[0].ids[0])!;
            expect((chunks[0].columns.pickup_zone as unknown[])[0]).toBe(
              `zone ${ride.PULocationID}`,
            );
            expect(await custom.count(options)).toBe(expected.length);
          } finally {
            await custom.close();
          }
        }
      });

      it("refuses identifiers and queries that could inject SQL", async () => {
        await userError(openSqlSource(db.url, { table: "rides; drop table x" }), "--table");
        await userError(openSqlSource(db.url, { table: '"x"' }), "--table");
        await userError(openSqlSource(db.url, { table: "a.b.c" }), "--table");
        await userError(
          openSqlSource(db.url, { query: `SELECT * FROM ${db.table("rides")}; DROP TABLE x` }),
          "--query",
        );
        await userError(openSqlSource(db.url, { query: "DROP TABLE x" }), "--query");
        await userError(
          readAll(source, { ...READ, idColumn: "ride_id) > 0; --", chunkSize: 10 }),
          "--id-column",
        );
        await userError(
          readAll(source, { ...READ, sinceColumn: 'a"b', chunkSize: 10 }),
          "--since-column",
        );
        await userError(
          readAll(source, { ...READ, columns: ["trip_distance, 1"], chunkSize: 10 }),
          "--keep-columns",
        );
        await userError(openSqlSink(db.url, { table: "preds; drop table x" }), "--sink-table");
        // Nothing was dropped, and wrong names are reported as user errors.
        expect(await source.count(READ)).toBe(RIDES.length);
        await userError(
          openSqlSource(db.url, { table: db.table("no_such_table") }),
          "no_such_table",
        );
        await userError(readAll(source, { ...READ, columns: ["nope"], chunkSize: 10 }), "nope");
      });
    });

    describe("sink", () => {
      function chunk(
        ids: number[],
        values: number[],
        options: { version?: string; checkpoint?: Checkpoint; rejects?: SinkWrite["rejects"] } = {},
      ): SinkWrite {
        return {
          jobId: "rides->preds",
          predictions: {
            idColumn: "ride_id",
            predictionColumn: "predicted_duration",
            ids,
            predictions: Float64Array.from(values),
            extra: {
              PULocationID: ids.map((id) => id % 10),
              pickup: ids.map((id) => new Date(Date.UTC(2024, 0, 1, 0, 0, id))),
              note: ids.map(() => null),
            },
            modelName: "ride-duration",
            modelVersion: options.version ?? "1",
            runId: "run-1",
            scoredAt: "2024-05-01T12:00:00.000Z",
          },
          rejects: options.rejects ?? { ids: [], reasons: [], rows: [] },
          checkpoint: options.checkpoint ?? { id: ids[ids.length - 1] },
        };
      }

      async function predictions(table: string): Promise<Map<string, Record<string, unknown>>> {
        const rows = await db.query(`SELECT * FROM ${table}`);
        return new Map(rows.map((row) => [`${Number(row.ride_id)}@${row.model_version}`, row]));
      }

      it("creates its tables on the first write and upserts on (id, model_version)", async () => {
        const table = db.table(`preds_${++uniqueTable}`);
        const sink = await openSqlSink(db.url, { table });
        try {
          expect(await sink.prepare("rides->preds")).toBeUndefined();
          await sink.write(chunk([1, 2, 3], [10, 20, 30]));
          let rows = await predictions(table);
          expect(rows.size).toBe(3);
          const row = rows.get("2@1")!;
          expect(Object.keys(row)).toEqual([
            "ride_id",
            "PULocationID",
            "pickup",
            "note",
            "predicted_duration",
            "model_name",
            "model_version",
            "run_id",
            "scored_at",
          ]);
          expect(row.predicted_duration).toBe(20);
          expect(row.model_name).toBe("ride-duration");
          expect(row.run_id).toBe("run-1");
          expect(new Date(row.pickup as string).toISOString()).toBe("2024-01-01T00:00:02.000Z");
          expect(new Date(row.scored_at as string).toISOString()).toBe("2024-05-01T12:00:00.000Z");

          // The same chunk again, rescored: still one row per (id, version), new values.
          await sink.write(chunk([1, 2, 3], [11, 21, 31]));
          rows = await predictions(table);
          expect(rows.size).toBe(3);
          expect(rows.get("2@1")!.predicted_duration).toBe(21);

          // Another model version adds rows next to the first version's.
          await sink.write(chunk([2, 3, 4], [200, 300, 400], { version: "2" }));
          rows = await predictions(table);
          expect(rows.size).toBe(6);
          expect(rows.get("2@1")!.predicted_duration).toBe(21);
          expect(rows.get("2@2")!.predicted_duration).toBe(200);

          // A new sink (PostgreSQL tries a plain INSERT first): a conflict on the last row
          // of the chunk falls back to the upsert, with nothing of the first attempt left.
          const again = await openSqlSink(db.url, { table });
          try {
            await again.write(chunk([5, 6, 1], [50, 60, 12]));
          } finally {
            await again.close();
          }
          rows = await predictions(table);
          expect(rows.size).toBe(8);
          expect(rows.get("1@1")!.predicted_duration).toBe(12);
          expect(rows.get("6@1")!.predicted_duration).toBe(60);
        } finally {
          await sink.close();
        }
      });

      it("stores rejects with their reason and row, upserted on (id, model_version)", async () => {
        const table = db.table(`preds_${++uniqueTable}`);
        const sink = await openSqlSink(db.url, { table });
        try {
          const rejects = {
            ids: [7, 8],
            reasons: ['field "trip_distance" must be >= 0, got -1', "missing PULocationID"],
            rows: ['{"ride_id":7,"trip_distance":-1}', '{"ride_id":8}'],
          };
          // All rows rejected: no prediction table yet, rejects and checkpoint are stored.
          await sink.write({ ...chunk([], []), rejects, checkpoint: { id: 8 } });
          await sink.write({ ...chunk([9], [1]), rejects, checkpoint: { id: 9 } });
          const rows = await db.query(`SELECT * FROM ${table}_rejects ORDER BY id`);
          expect(rows).toHaveLength(2);
          expect(rows[0]).toMatchObject({
            id: "7",
            model_version: "1",
            reason: rejects.reasons[0],
          });
          expect(JSON.parse(rows[0].row as string)).toEqual({ ride_id: 7, trip_distance: -1 });
          expect(await sink.prepare("rides->preds")).toStrictEqual({ id: 9 });
        } finally {
          await sink.close();
        }
      });

      it("round-trips checkpoints with their types, and resets them", async () => {
        const table = db.table(`preds_${++uniqueTable}`);
        const sink = await openSqlSink(db.url, { table });
        try {
          const cases: Checkpoint[] = [
            { id: 42, since: "2024-01-01 10:00:00.123457" },
            { id: "42" },
            { id: "9007199254740993", since: 1.5 },
          ];
          for (const checkpoint of cases) {
            await sink.write(chunk([1], [1], { checkpoint }));
            expect(await sink.prepare("rides->preds")).toStrictEqual(checkpoint);
          }
          await sink.resetCheckpoint("rides->preds");
          expect(await sink.prepare("rides->preds")).toBeUndefined();
        } finally {
          await sink.close();
        }
        // Another sink on the same database sees the same checkpoint table.
        const again = await openSqlSink(db.url, { table });
        expect(await again.prepare("rides->preds")).toBeUndefined();
        await again.close();
      });

      it("leaves predictions and checkpoint unchanged when a write fails mid-way", async () => {
        const table = db.table(`preds_${++uniqueTable}`);
        const sink = await openSqlSink(db.url, { table });
        try {
          await sink.write(chunk([1, 2, 3], [10, 20, 30], { checkpoint: { id: 3 } }));
          // reason is NOT NULL: the rejects upsert fails after the predictions upsert ran.
          const broken = {
            ids: [4],
            reasons: [null as unknown as string],
            rows: ["{}"],
          };
          await expect(
            sink.write(chunk([1, 2, 3], [99, 99, 99], { checkpoint: { id: 4 }, rejects: broken })),
          ).rejects.toThrow();
          const rows = await predictions(table);
          expect([...rows.values()].map((row) => row.predicted_duration)).toEqual([10, 20, 30]);
          expect(await sink.prepare("rides->preds")).toStrictEqual({ id: 3 });
          expect(await db.query(`SELECT * FROM ${table}_rejects`)).toHaveLength(0);
          // The sink still works afterwards.
          await sink.write(chunk([4], [40], { checkpoint: { id: 4 } }));
          expect(await sink.prepare("rides->preds")).toStrictEqual({ id: 4 });
        } finally {
          await sink.close();
        }
      });

      it("rolls back the chunk's predictions and rejects when its checkpoint cannot be written", async () => {
        // The checkpoint commits in the chunk's own transaction: were it written in a second
        // one, this chunk's predictions and rejects would stay while its checkpoint did not,
        // and a rerun would redo rows already committed (or a crash would lose the position).
        const table = db.table(`preds_${++uniqueTable}`);
        const jobId = `refused-job-${uniqueTable}`;
        const checkpoints = db.table("mldeploy_batch_checkpoints");
        const sink = await openSqlSink(db.url, { table });
        const trigger = db.refuseCheckpoint(checkpoints, jobId, `refuse_checkpoint_${uniqueTable}`);
        try {
          await sink.write({ ...chunk([1, 2, 3], [10, 20, 30]), jobId });
          for (const sql of trigger.create) await db.exec(sql);
          const rejects = {
            ids: [5],
            reasons: ['field "trip_distance" must be >= 0, got -1'],
            rows: ['{"ride_id":5,"trip_distance":-1}'],
          };
          const refused = sink.write({
            ...chunk([2, 3, 4], [99, 99, 99], { checkpoint: { id: 5 }, rejects }),
            jobId,
          });
          await expect(refused).rejects.toThrow(/checkpoint refused/);
          const rows = await predictions(table);
          expect([...rows.keys()].sort()).toEqual(["1@1", "2@1", "3@1"]);
          expect([...rows.values()].map((row) => row.predicted_duration)).toEqual([10, 20, 30]);
          expect(await db.query(`SELECT * FROM ${table}_rejects`)).toHaveLength(0);
          expect(await sink.prepare(jobId)).toStrictEqual({ id: 3 });

          for (const sql of trigger.drop) await db.exec(sql);
          await sink.write({
            ...chunk([2, 3, 4], [99, 99, 99], { checkpoint: { id: 5 }, rejects }),
            jobId,
          });
          expect((await predictions(table)).size).toBe(4);
          expect(await db.query(`SELECT * FROM ${table}_rejects`)).toHaveLength(1);
          expect(await sink.prepare(jobId)).toStrictEqual({ id: 5 });
        } finally {
          for (const sql of trigger.drop) await db.exec(sql).catch(() => undefined);
          await sink.close();
        }
      });

      it("refuses an existing table that lacks a column, naming both", async () => {
        const table = db.table(`preds_${++uniqueTable}`);
        await db.exec(`CREATE TABLE ${table} (ride_id BIGINT, model_version TEXT)`);
        const sink = await openSqlSink(db.url, { table });
        try {
          await userError(sink.write(chunk([1], [1])), table, "PULocationID");
          const later = await openSqlSink(db.url, { table: db.table(`preds_${++uniqueTable}`) });
          await later.write(chunk([1], [1]));
          const extra = chunk([2], [2]);
          extra.predictions.extra.surprise = [1];
          await userError(later.write(extra), "surprise");
          await later.close();
        } finally {
          await sink.close();
        }
      });
    });
  });
}
