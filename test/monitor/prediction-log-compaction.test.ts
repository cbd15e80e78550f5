import { spawn } from "node:child_process";
import { copyFile, cp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { sqlString, withDuckDB } from "../../src/duckdb/index.js";
import { silentLogger } from "../../src/log/logger.js";
import { readPredictionLog } from "../../src/monitor/prediction-log/reader.js";
import type { PartFile, PartPublisher } from "../../src/monitor/prediction-log/publisher.js";
import { PredictionLog } from "../../src/monitor/prediction-log/writer.js";
import { tempDir } from "../helpers/temp.js";
import {
  HOUR,
  INFO,
  START,
  day,
  expectRows,
  host,
  names,
  recordRides,
  writeParts,
  writer,
} from "./prediction-log-compaction-helpers.js";

describe("prediction log compaction", () => {
  it("merges a process's parts of a finished hour into one file, keeping every row and type", async () => {
    const dir = tempDir("mldeploy-compact-");
    const clock = { now: START + 10 * 60_000 };
    const log = writer(dir, clock);
    await writeParts(log, "a", 12, 50);
    expect(await names(dir)).toHaveLength(12);
    // Within the hour nothing is merged.
    await log.compactFinishedHours();
    expect(await names(dir)).toHaveLength(12);
    // The next hour starts: the first flush after it merges the 08:00 parts.
    clock.now = START + HOUR + 1000;
    recordRides(log, "b", 0, 5);
    await log.flush();
    await log.compactFinishedHours();
    const merged = `${day}/08-${host}-${process.pid}.parquet`;
    expect(await names(dir)).toEqual([merged, `${day}/09-${host}-${process.pid}-000001.parquet`]);
    const read = await expectRows(dir, 605);
    expect(read.rows.find((row) => row.id === "a57")).toMatchObject({
      model: INFO.name,
      version: "3",
      mode: "serve",
      PULocationID: 58,
      trip_distance: 5.7,
      duration: 114,
    });
    const types = await withDuckDB(async (connection) => {
      const result = await connection.runAndReadAll(
        `DESCRIBE SELECT * FROM read_parquet(${sqlString(path.join(dir, merged))})`,
      );
      return result.getRowObjectsJS().map((row) => `${row.column_name} ${row.column_type}`);
    });
    expect(types).toEqual([
      "time TIMESTAMP",
      "model VARCHAR",
      "version VARCHAR",
      "mode VARCHAR",
      "id VARCHAR",
      "PULocationID BIGINT",
      "DOLocationID BIGINT",
      "trip_distance DOUBLE",
      "duration DOUBLE",
    ]);
    // A graceful stop merges the hour it was in too: one file per hour and process.
    await log.close();
    expect(await names(dir)).toEqual([merged, `${day}/09-${host}-${process.pid}.parquet`]);
    await expectRows(dir, 605);
  });

  it("a reader running during compaction always counts every row exactly once", async () => {
    const dir = tempDir("mldeploy-compact-");
    const clock = { now: START };
    // Merged parts stay until the next hour's pass deletes them: the reader meets every state
    // (parts only, parts and merged file, parts being deleted, merged file only).
    const log = writer(dir, clock, { compactGraceMs: 1 });
    const hours = 6;
    for (let hour = 0; hour < hours; hour++) {
      clock.now = START + hour * HOUR;
      await writeParts(log, `h${hour}-`, 15, 40);
    }
    const total = hours * 15 * 40;
    const counts: number[] = [];
    let done = false;
    const reader = (async () => {
      while (!done) counts.push((await readPredictionLog({ dir, model: INFO.name })).rows.length);
    })();
    // The hours end one after the other while the reader loops; each merge renames its file
    // into place; the next pass deletes its 15 parts. Between passes the reader reads again.
    for (let hour = 1; hour <= hours; hour++) {
      const before = counts.length;
      clock.now = START + hour * HOUR;
      await log.compactFinishedHours();
      while (counts.length <= before) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    done = true;
    await reader;
    await log.close();
    expect(await names(dir)).toHaveLength(hours);
    // close() deleted the last hour's parts at once (the stop does not wait for the grace).
    expect(counts.length).toBeGreaterThanOrEqual(hours);
    expect(new Set(counts)).toEqual(new Set([total]));
    await expectRows(dir, total);
  });

  it("every state a kill -9 can leave mid-compaction reads each row once", async () => {
    const dir = tempDir("mldeploy-compact-");
    const saved = tempDir("mldeploy-compact-parts-");
    const clock = { now: START };
    const log = writer(dir, clock);
    await writeParts(log, "k", 8, 25);
    await cp(path.join(dir, day), saved, { recursive: true });
    await log.close();
    const merged = path.join(dir, day, `08-${host}-${process.pid}.parquet`);
    const parts = (await readdir(saved)).sort();
    expect(parts).toHaveLength(8);
    const restore = (some: string[]) =>
      Promise.all(some.map((name) => copyFile(path.join(saved, name), path.join(dir, day, name))));
    // Killed after the rename, before any part was deleted: the merged file holds them all.
    await restore(parts);
    await expectRows(dir, 200);
    // Killed while deleting the parts.
    await Promise.all(parts.slice(3).map((name) => rm(path.join(dir, day, name))));
    await expectRows(dir, 200);
    // Killed while writing the merged file: the parts are whole, the torn file is skipped.
    const bytes = await readFile(merged);
    await rm(merged);
    await restore(parts);
    await writeFile(merged + ".tmp", bytes.subarray(0, bytes.length >> 1));
    const read = await expectRows(dir, 200);
    expect(read.skipped.map((each) => each.file)).toEqual([merged + ".tmp"]);
  });

  it("after a real kill -9 in the middle of compaction the log reads each row once", async () => {
    const dir = tempDir("mldeploy-compact-");
    const writerModule = path.resolve("dist/monitor/prediction-log/writer.js");
    // A process writes 30 parts of 08:00, then its clock passes the hour and it merges them
    // (keeping the parts for the grace period: killed after the merge, both are on disk).
    const script = `
      import { PredictionLog } from ${JSON.stringify(writerModule)};
      let now = ${START};
      const logger = { warn() {}, error() {}, info() {}, debug() {} };
      const log = new PredictionLog({ dir: process.argv[1], mode: "serve", sample: 1,
        flushMs: 3600000, queueRows: 100000, logger, now: () => now, compactGraceMs: 3600000 });
      const info = ${JSON.stringify(INFO)};
      for (let part = 0; part < 30; part++) {
        const rows = 100, ids = Array.from({ length: rows }, (_, i) => "p" + (part * rows + i));
        const column = () => Float64Array.from(ids, (_, i) => i + 1);
        log.record(info, { rows, columns: { PULocationID: column(), DOLocationID: column(),
          trip_distance: column() } }, column(), ids);
        await log.flush();
      }
      now += ${HOUR};
      process.stdout.write("compacting\\n");
      await log.compactFinishedHours();
      process.stdout.write("merged\\n");
      setInterval(() => {}, 1000);`;
    const outcomes: string[] = [];
    // Killed at once, a little later, and right after the merge (before its parts are gone).
    for (const delay of [0, 30, 120, 400, "merged"] as const) {
      await rm(dir, { recursive: true, force: true });
      const child = spawn(process.execPath, ["--input-type=module", "-e", script, dir], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      let output = "";
      const exited = new Promise((resolve) => child.once("exit", resolve));
      await new Promise<void>((resolve) =>
        child.stdout.on("data", (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes(delay === "merged" ? "merged" : "compacting")) resolve();
        }),
      );
      if (delay !== "merged") await new Promise((resolve) => setTimeout(resolve, delay));
      child.kill("SIGKILL");
      await exited;
      const files = await names(dir);
      outcomes.push(
        files.some((name) => name.endsWith(`-${child.pid}.parquet`))
          ? `merged, ${files.length - 1} parts still there`
          : `not merged, ${files.length} files`,
      );
      await expectRows(dir, 3000);
    }
    // The delays span before and after the rename (so both sides of the switch were read).
    expect(outcomes.at(-1)).toBe("merged, 30 parts still there");
    expect(
      outcomes.some((each) => each.startsWith("not merged")),
      outcomes.join("; "),
    ).toBe(true);
  }, 60_000);

  it("a restarted process with the same host and pid continues the part numbers of the hour", async () => {
    const dir = tempDir("mldeploy-compact-");
    const clock = { now: START + 60_000 };
    const first = writer(dir, clock);
    await writeParts(first, "first", 3, 10);
    await first.close();
    // Same host, same pid (a container restarted), same hour: its parts are new rows.
    const second = writer(dir, clock);
    await writeParts(second, "second", 2, 10);
    expect(await names(dir)).toEqual([
      `${day}/08-${host}-${process.pid}-000004.parquet`,
      `${day}/08-${host}-${process.pid}-000005.parquet`,
      `${day}/08-${host}-${process.pid}.parquet`,
    ]);
    await expectRows(dir, 50);
    await second.close();
    expect(await names(dir)).toEqual([`${day}/08-${host}-${process.pid}.parquet`]);
    await expectRows(dir, 50);
  });

  it("keeps merged parts for the grace period, for readers that listed them", async () => {
    const dir = tempDir("mldeploy-compact-");
    const clock = { now: START };
    const log = writer(dir, clock, { compactGraceMs: 60_000 });
    await writeParts(log, "g", 3, 10);
    clock.now = START + HOUR;
    await log.compactFinishedHours();
    expect(await names(dir)).toHaveLength(4);
    await expectRows(dir, 30);
    clock.now += 60_000;
    await log.compactFinishedHours();
    expect(await names(dir)).toEqual([`${day}/08-${host}-${process.pid}.parquet`]);
    await log.close();
    await expectRows(dir, 30);
  });

  it("hands each finished part to the publisher: removed when copied, kept and counted when not", async () => {
    const dir = tempDir("mldeploy-compact-");
    const remote = tempDir("mldeploy-compact-remote-");
    const registry = new Registry();
    const published: PartFile[] = [];
    const publisher: PartPublisher = {
      target: `file://${remote}`,
      async publish(part) {
        if (part.key.endsWith("-000003.parquet")) throw new Error("remote unreachable");
        const copy = path.join(remote, part.key);
        await cp(part.file, copy);
        published.push(part);
        return true;
      },
      async close() {},
    };
    const clock = { now: START };
    const log = new PredictionLog({
      dir,
      mode: "serve",
      sample: 1,
      flushMs: 3_600_000,
      queueRows: 1000,
      logger: silentLogger(),
      registry,
      publisher,
      now: () => clock.now,
    });
    await writeParts(log, "s", 3, 10);
    await log.close();
    expect(
      published.map(({ key, model, version, rows }) => ({ key, model, version, rows })),
    ).toEqual([
      {
        key: `${day}/08-${host}-${process.pid}-000001.parquet`,
        model: INFO.name,
        version: "3",
        rows: 10,
      },
      {
        key: `${day}/08-${host}-${process.pid}-000002.parquet`,
        model: INFO.name,
        version: "3",
        rows: 10,
      },
    ]);
    expect((await readPredictionLog({ dir: remote, model: INFO.name })).rows).toHaveLength(20);
    // The part that could not be copied stayed local (and was merged at the stop).
    await expectRows(dir, 10);
    const metrics = await registry.getSingleMetricAsString(
      "mldeploy_prediction_log_publish_failures_total",
    );
    expect(metrics).toContain(
      `mldeploy_prediction_log_publish_failures_total{model="${INFO.name}"} 1`,
    );
  });
});
