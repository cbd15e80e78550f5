import { randomBytes } from "node:crypto";
import { copyFile, rm } from "node:fs/promises";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  listLocalParts,
  materializeLogWindow,
  openPartPublisher,
} from "../../src/monitor/prediction-log/sinks/index.js";
import { PredictionLog } from "../../src/monitor/prediction-log/writer.js";
import { NO_POSTGRES, PG_URL, postgresReachable } from "../registry/store/helpers.js";
import { tempDir } from "../helpers/temp.js";
import {
  BATCHES,
  MODEL,
  TOTAL_ROWS,
  eventually,
  modelInfo,
  partsIn,
  quietLogger,
  recordBatches,
  relay,
  rowsOf,
  writtenLog,
} from "./prediction-log-sinks-helpers.js";

const SCHEMA = `sinks_${randomBytes(4).toString("hex")}`;
let reachable = false;
let admin: pg.Client;

beforeAll(async () => {
  reachable = await postgresReachable();
  if (!reachable) return;
  admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
});

afterAll(async () => {
  if (!reachable) return;
  await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await admin.end();
});

/** A fresh table name in the test's schema, and its sink URL (through `base` if given). */
function table(base = PG_URL): { name: string; url: string } {
  const name = `${SCHEMA}.log_${randomBytes(3).toString("hex")}`;
  const url = new URL(base);
  url.searchParams.set("table", name);
  return { name, url: url.toString() };
}

async function count(name: string): Promise<{ rows: number; ids: number; parts: number }> {
  const result = await admin.query<{ rows: string; ids: string; parts: string }>(
    `SELECT (SELECT count(*) FROM ${name}) AS rows, (SELECT count(DISTINCT id) FROM ${name}) AS ids,
            (SELECT count(*) FROM ${name}_parts) AS parts`,
  );
  const row = result.rows[0];
  return { rows: Number(row.rows), ids: Number(row.ids), parts: Number(row.parts) };
}

describe("prediction log parts into a PostgreSQL table", () => {
  it("inserts each part once, with the union of the versions' columns, and exports a window back as the same rows", async (context) => {
    if (!reachable) context.skip(NO_POSTGRES);
    const { dir, reference } = await writtenLog();
    const parts = await partsIn(dir);
    const target = table();
    // A part sent again after its COMMIT went through (the answer lost): a copy of the file.
    const again = `${parts[1].file}.again`;
    await copyFile(parts[1].file, again);
    const publisher = openPartPublisher(target.url, {
      dir,
      logger: quietLogger(),
      catchUpOnStart: false,
    });
    try {
      for (const part of parts) expect(await publisher.publish(part)).toBe(true);
    } finally {
      await publisher.close();
    }
    // Sent again by another process (or after a restart), which knows nothing of the first.
    const retry = openPartPublisher(target.url, {
      dir,
      logger: quietLogger(),
      catchUpOnStart: false,
    });
    try {
      expect(await retry.publish({ ...parts[1], file: again })).toBe(true);
    } finally {
      await retry.close();
    }
    expect(await count(target.name)).toEqual({
      rows: TOTAL_ROWS,
      ids: TOTAL_ROWS,
      parts: parts.length,
    });
    const columns = await admin.query<{ column_name: string; data_type: string }>(
      `SELECT column_name, data_type FROM information_schema.columns
        WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
      target.name.split("."),
    );
    expect(columns.rows.map((row) => `${row.column_name} ${row.data_type}`)).toEqual([
      "time timestamp with time zone",
      "model text",
      "version text",
      "mode text",
      "id text",
      "PULocationID bigint",
      "DOLocationID bigint",
      "trip_distance double precision",
      "vendor text",
      "duration double precision",
      "passengers integer",
      "tip_ratio real",
    ]);
    // Version 1 rows have no value for the columns version 2 brought.
    const v1 = await admin.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${target.name} WHERE version = '1' AND passengers IS NULL`,
    );
    expect(Number(v1.rows[0].n)).toBe(65);

    const all = tempDir("mldeploy-sinks-window-");
    const whole = await materializeLogWindow(target.url, { model: MODEL }, all, quietLogger());
    expect(whole.rows).toBe(TOTAL_ROWS);
    expect(await rowsOf(all)).toEqual(await rowsOf(reference));

    const from = new Date("2026-11-30T09:30:00Z");
    const to = new Date("2026-11-30T11:00:00Z");
    const some = tempDir("mldeploy-sinks-window-");
    const window = await materializeLogWindow(
      target.url,
      { model: MODEL, from, to, version: "2" },
      some,
      quietLogger(),
    );
    expect(window).toMatchObject({ rows: 30 + 1234, files: 2 });
    const expected = (await rowsOf(reference, from, to)).filter((row) => row.version === "2");
    expect(expected).toHaveLength(1264);
    expect(await rowsOf(some)).toEqual(expected);
  });

  it("keeps parts locally while PostgreSQL is down, counts the failures, and catches up when it is back", async (context) => {
    if (!reachable) context.skip(NO_POSTGRES);
    const server = new URL(PG_URL);
    const proxy = await relay({ host: server.hostname, port: Number(server.port || 5432) });
    const via = new URL(PG_URL);
    via.host = `127.0.0.1:${proxy.port}`;
    const target = table(via.toString());
    const { dir, reference } = await writtenLog();
    const parts = await partsIn(dir);
    const publisher = openPartPublisher(target.url, {
      dir,
      logger: quietLogger(),
      catchUpOnStart: false,
      settleMs: 1000,
      retryMs: 200,
    });
    try {
      // Up for the first part: the connection is pooled, then the server goes away.
      expect(await publisher.publish(parts[0])).toBe(true);
      await rm(parts[0].file);
      await proxy.stop();
      await expect(publisher.publish(parts[1])).rejects.toThrow(
        /could not copy prediction log part .* to postgres:/,
      );
      expect(publisher.stats.failed).toBe(1);
      const round = await publisher.catchUp({ all: true });
      expect(round).toMatchObject({ published: 0, left: parts.length - 1 });
      expect(await listLocalParts(dir)).toHaveLength(parts.length - 1);

      await proxy.start();
      expect(await publisher.publish(parts[2])).toBe(true);
      await rm(parts[2].file);
      await eventually(async () => (await listLocalParts(dir)).length === 0, "catch-up");
      expect(publisher.stats).toMatchObject({ published: 2, caughtUp: 2 });
    } finally {
      await proxy.start();
      await publisher.close();
      await proxy.stop();
    }
    expect(await count(target.name)).toEqual({
      rows: TOTAL_ROWS,
      ids: TOTAL_ROWS,
      parts: parts.length,
    });
    const back = tempDir("mldeploy-sinks-window-");
    const direct = new URL(PG_URL);
    direct.searchParams.set("table", target.name);
    await materializeLogWindow(direct.toString(), { model: MODEL }, back, quietLogger());
    expect(await rowsOf(back)).toEqual(await rowsOf(reference));
  });

  it("the writer with a publisher: every logged row reaches the table once, none stays local", async (context) => {
    if (!reachable) context.skip(NO_POSTGRES);
    const dir = tempDir("mldeploy-sinks-log-");
    const target = table();
    const publisher = openPartPublisher(target.url, {
      dir,
      logger: quietLogger(),
      catchUpOnStart: false,
    });
    const log = new PredictionLog({
      dir,
      mode: "stream",
      sample: 1,
      flushMs: 3_600_000,
      queueRows: 100_000,
      logger: quietLogger(),
      publisher,
    });
    try {
      await recordBatches(log, BATCHES);
      // close() waits for the writer's own copies, then closes its publisher.
      await log.close();
    } finally {
      await publisher.close();
    }
    // A copy that failed on a busy machine leaves its part local, never lost: the next start's
    // catch-up takes it, and a part already in is not inserted twice.
    const restart = openPartPublisher(target.url, {
      dir,
      logger: quietLogger(),
      catchUpOnStart: false,
    });
    try {
      await restart.catchUp({ all: true });
    } finally {
      await restart.close();
    }
    expect(await listLocalParts(dir)).toEqual([]);
    expect(await count(target.name)).toEqual({
      rows: TOTAL_ROWS,
      ids: TOTAL_ROWS,
      parts: BATCHES.length,
    });
  });

  it("a part whose column the table holds in another type stays local, named in a warning, and does not hold up the others", async (context) => {
    if (!reachable) context.skip(NO_POSTGRES);
    const target = table();
    const { dir } = await writtenLog(BATCHES.slice(2, 4)); // version 2: passengers integer
    const [first] = await partsIn(dir);
    // Another model logs "passengers" as text into the same table.
    const other = new PredictionLog({
      dir,
      mode: "serve",
      sample: 1,
      flushMs: 3_600_000,
      queueRows: 1000,
      logger: quietLogger(),
      compact: false,
    });
    other.record(
      {
        ...modelInfo("1"),
        name: "aa-other",
        inputs: [{ name: "passengers", type: "string" }],
      },
      { rows: 2, columns: { passengers: ["two", "three"] } },
      Float64Array.from([1, 2]),
      ["a", "b"],
    );
    await other.close();
    const warnings: string[] = [];
    const logger = quietLogger();
    logger.warn = ((_: unknown, message: string) =>
      warnings.push(message)) as unknown as typeof logger.warn;
    const publisher = openPartPublisher(target.url, { dir, logger, catchUpOnStart: false });
    try {
      expect(await publisher.publish(first)).toBe(true);
      await rm(first.file);
      // aa-other's part comes first, and cannot go in; the second ride part still does.
      const round = await publisher.catchUp({ all: true });
      expect(round).toMatchObject({ published: 1, left: 0 });
      expect(publisher.stats.unpublishable).toBe(1);
      expect(warnings.join("\n")).toMatch(
        /aa-other\/.*cannot be copied to postgres:.*column "passengers" is integer in the table, the part holds text/,
      );
      // Not tried again by the next round.
      expect(await publisher.catchUp({ all: true })).toMatchObject({ published: 0, left: 0 });
    } finally {
      await publisher.close();
    }
    const left = await listLocalParts(dir);
    expect(left.map((part) => part.key.split("/")[0])).toEqual(["aa-other"]);
    expect(await count(target.name)).toMatchObject({ rows: 30 + 1234, parts: 2 });
  });

  it("refuses a table name that is not a plain identifier, naming the setting", () => {
    expect(() =>
      openPartPublisher("postgres://u@h/db?table=x;drop", { dir: "/tmp", logger: quietLogger() }),
    ).toThrow(/logPredictionsTo: table "x;drop" is not a plain SQL table name/);
  });
});
