import { spawn, type ChildProcess } from "node:child_process";
import { access, mkdir, readdir, rename, rm, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { afterEach, describe, expect, it } from "vitest";
import { withDuckDB } from "../../src/duckdb/index.js";
import { silentLogger } from "../../src/log/logger.js";
import { ReplacedWhileMerging, compactHour } from "../../src/monitor/prediction-log/compaction.js";
import {
  mergedFilesReplaced,
  predictionLogFiles,
  predictionLogSql,
} from "../../src/monitor/prediction-log/reader.js";
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
  writeParts,
  writer,
} from "./prediction-log-compaction-helpers.js";

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
});

/** A pid no process has now: that of a child that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await new Promise((resolve) => child.once("exit", resolve));
  return child.pid!;
}

/** A child that sleeps until it is killed. */
function sleeper(): ChildProcess {
  const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], {
    stdio: "ignore",
  });
  children.push(child);
  return child;
}

async function killed(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

/**
 * Parts of `key` (<hh>-<host>-<pid>) in the day folder of `dir`, numbered from `firstSeq`, as
 * that process would have left them: written by a writer (that merges nothing) in hour `hh`,
 * then named after the key (a part's footer does not name its process).
 */
async function partsOf(
  dir: string,
  key: string,
  prefix: string,
  parts: number,
  rows: number,
  firstSeq = 1,
): Promise<string[]> {
  const scratch = tempDir("mldeploy-orphan-scratch-");
  const clock = { now: START + (Number(key.slice(0, 2)) - 8) * HOUR + 60_000 };
  const log = new PredictionLog({
    dir: scratch,
    mode: "serve",
    sample: 1,
    flushMs: HOUR,
    queueRows: 1_000_000,
    logger: silentLogger(),
    now: () => clock.now,
    compact: false,
  });
  await writeParts(log, prefix, parts, rows);
  await log.close();
  const from = path.join(scratch, day);
  await mkdir(path.join(dir, day), { recursive: true });
  const moved: string[] = [];
  for (const name of (await readdir(from)).sort()) {
    const seq = Number(/-(\d+)\.parquet$/.exec(name)![1]) + firstSeq - 1;
    const file = path.join(dir, day, `${key}-${String(seq).padStart(6, "0")}.parquet`);
    await rename(path.join(from, name), file);
    moved.push(file);
  }
  return moved;
}

/** Sets the modification time of the files of `key` (the writer's clock is not the real one). */
async function touch(dir: string, key: string, at: number): Promise<void> {
  for (const name of await readdir(path.join(dir, day)))
    if (name.startsWith(`${key}-`) || name.startsWith(`${key}.`))
      await utimes(path.join(dir, day, name), new Date(at), new Date(at));
}

/** The rows the log holds, as `monitor` counts them (a listed part deleted meanwhile: again). */
async function countRows(connection: DuckDBConnection, dir: string): Promise<number> {
  for (;;) {
    const listed = await predictionLogFiles(connection, { dir, model: INFO.name });
    if (listed.files.length === 0) return 0;
    let rows: number;
    try {
      rows = await countOf(connection, listed.files);
    } catch (error) {
      // A listed part deleted after its merged file was renamed into place: list again.
      if ((await Promise.all(listed.files.map(exists))).every(Boolean)) throw error;
      continue;
    }
    // A merged file replaced meanwhile by one holding more parts: some rows were read twice.
    if (!(await mergedFilesReplaced(connection, listed))) return rows;
  }
}

async function countOf(connection: DuckDBConnection, files: string[]): Promise<number> {
  const result = await connection.runAndReadAll(
    `SELECT count(*)::INTEGER AS n FROM (${predictionLogSql(files)})`,
  );
  return Number(result.getRowObjects()[0].n);
}

function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/** Runs one writer's first pass (which looks for orphans) at `now`, then stops it. */
async function passAt(dir: string, now: number): Promise<PredictionLog> {
  const log = writer(dir, { now });
  await log.compactFinishedHours();
  await log.close();
  return log;
}

describe("prediction log: parts of processes that are gone", () => {
  it("a new writer merges the parts a process killed with kill -9 left on this host", async () => {
    const dir = tempDir("mldeploy-orphans-");
    const writerModule = path.resolve("dist/monitor/prediction-log/writer.js");
    const script = `
      import { PredictionLog } from ${JSON.stringify(writerModule)};
      const logger = { warn() {}, error() {}, info() {}, debug() {} };
      const log = new PredictionLog({ dir: process.argv[1], mode: "serve", sample: 1,
        flushMs: 3600000, queueRows: 100000, logger, now: () => ${START + 10 * 60_000} });
      const info = ${JSON.stringify(INFO)};
      for (let part = 0; part < 6; part++) {
        const rows = 40, ids = Array.from({ length: rows }, (_, i) => "k" + (part * rows + i));
        const column = () => Float64Array.from(ids, (_, i) => part * rows + i + 1);
        log.record(info, { rows, columns: { PULocationID: column(), DOLocationID: column(),
          trip_distance: column() } }, column(), ids);
        await log.flush();
      }
      process.stdout.write("written\\n");
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script, dir], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.push(child);
    await new Promise<void>((resolve) =>
      child.stdout!.on("data", (chunk: Buffer) => {
        if (chunk.toString().includes("written")) resolve();
      }),
    );
    await killed(child);
    const key = `08-${host}-${child.pid}`;
    // It was killed while writing a seventh part: a torn file the reader skips.
    const torn = path.join(dir, day, `${key}-000007.parquet.tmp`);
    await writeFile(torn, "PAR1 torn");
    const before = await expectRows(dir, 240);
    expect(before.skipped.map((each) => each.file)).toEqual([torn]);
    expect(await names(dir)).toHaveLength(7);

    // Within the hour a new process leaves them: a pid may come back in the current hour.
    const clock = { now: START + 50 * 60_000 };
    const early = writer(dir, clock, { compactGraceMs: 60_000 });
    await early.compactFinishedHours();
    await early.close();
    expect(await names(dir)).toHaveLength(7);

    clock.now = START + HOUR + 60_000;
    const log = writer(dir, clock, { compactGraceMs: 60_000 });
    await log.compactFinishedHours();
    expect(log.totals.adopted).toBe(1);
    const files = await names(dir);
    // Merged under the dead process's own key; its parts wait out the grace period.
    expect(files).toContain(`${day}/${key}.parquet`);
    expect(files.filter((name) => /-\d{6}\.parquet$/.test(name))).toHaveLength(6);
    expect(files.some((name) => name.endsWith(".tmp"))).toBe(false);
    const merged = await expectRows(dir, 240);
    expect(merged.skipped).toEqual([]);
    expect(merged.rows).toEqual(before.rows);

    clock.now += 60_000;
    await log.compactFinishedHours();
    expect(await names(dir)).toEqual([`${day}/${key}.parquet`]);
    expect((await expectRows(dir, 240)).rows).toEqual(before.rows);
    await log.close();
  }, 60_000);

  it("leaves the parts of live processes alone: another on this host, and its own pid", async () => {
    const dir = tempDir("mldeploy-orphans-");
    // This process's own parts of 08:00, by a writer that has not merged them yet.
    const own = writer(dir, { now: START + 60_000 });
    await writeParts(own, "own", 3, 10);
    const alive = sleeper();
    const dead = await deadPid();
    await partsOf(dir, `08-${host}-${alive.pid}`, "alive", 4, 10);
    await partsOf(dir, `08-${host}-${dead}`, "dead", 5, 10);
    const total = 30 + 40 + 50;
    const ownParts = (await names(dir)).filter((name) => name.includes(`-${process.pid}-`));
    const aliveParts = (await names(dir)).filter((name) => name.includes(`-${alive.pid}-`));
    expect(ownParts).toHaveLength(3);
    expect(aliveParts).toHaveLength(4);

    const clock = { now: START + HOUR + 60_000 };
    const log = writer(dir, clock);
    await log.compactFinishedHours();
    expect(log.totals.adopted).toBe(1);
    expect(await names(dir)).toEqual(
      [...ownParts, ...aliveParts, `${day}/08-${host}-${dead}.parquet`].sort(),
    );
    await expectRows(dir, total);

    // Once that process is gone, the next hour's pass merges its parts too.
    await killed(alive);
    clock.now += 30 * 60_000;
    await log.compactFinishedHours();
    expect(log.totals.adopted).toBe(1);
    clock.now = START + 2 * HOUR + 60_000;
    await log.compactFinishedHours();
    expect(log.totals.adopted).toBe(2);
    expect(await names(dir)).toEqual(
      [
        ...ownParts,
        `${day}/08-${host}-${alive.pid}.parquet`,
        `${day}/08-${host}-${dead}.parquet`,
      ].sort(),
    );
    await expectRows(dir, total);
    await log.close();
    await own.close();
    expect((await names(dir)).filter((name) => /-\d{6}\.parquet$/.test(name))).toEqual([]);
    await expectRows(dir, total);
  });

  it("adopts another host's parts only when its hour ended two hours ago and they lie untouched", async () => {
    const dir = tempDir("mldeploy-orphans-");
    const idle = "08-other_host.example-4242";
    const late = "08-other_host.example-4343";
    await partsOf(dir, idle, "idle", 3, 10);
    await partsOf(dir, late, "late", 2, 10);
    await touch(dir, idle, START + 40 * 60_000);
    // Its last part was written at 09:50 by the other host's clock.
    await touch(dir, late, START + 110 * 60_000);
    const partsLeft = async (key: string) =>
      (await names(dir)).filter((name) => name.startsWith(`${day}/${key}-`)).length;

    expect((await passAt(dir, START + 3 * HOUR - 60_000)).totals.adopted).toBe(0);
    expect(await partsLeft(idle)).toBe(3);
    expect((await passAt(dir, START + 3 * HOUR + 60_000)).totals.adopted).toBe(1);
    expect(await partsLeft(idle)).toBe(0);
    expect(await partsLeft(late)).toBe(2);
    await expectRows(dir, 50);
    expect((await passAt(dir, START + 3 * HOUR + 51 * 60_000)).totals.adopted).toBe(1);
    expect(await names(dir)).toEqual([`${day}/${idle}.parquet`, `${day}/${late}.parquet`]);
    await expectRows(dir, 50);
  });

  it("two writers adopting the same orphans at once: every row counted exactly once", async () => {
    const dead = await deadPid();
    const hours = ["00", "01", "02", "03", "04", "05", "06", "07"];
    let races = 0;
    for (let round = 0; round < 3; round++) {
      const dir = tempDir("mldeploy-orphans-");
      // Eight hours of a gone process; in two of them it had merged some parts already and
      // then (restarted with the same pid) written more.
      let total = 0;
      for (const hh of hours) {
        const key = `${hh}-${host}-${dead}`;
        if (hh === "03" || hh === "06") {
          const first = await partsOf(dir, key, `${hh}a`, 3, 20);
          await withDuckDB((connection) => compactHour(connection, path.join(dir, day), key));
          await Promise.all(first.map((file) => rm(file)));
          await partsOf(dir, key, `${hh}b`, 6, 20, 4);
          total += 180;
        } else {
          await partsOf(dir, key, hh, 8, 20);
          total += 160;
        }
      }
      const counts: number[] = [];
      let done = false;
      const reader = withDuckDB(async (connection) => {
        while (!done) counts.push(await countRows(connection, dir));
      });
      // Reads go on while both adopt (each read lists and checks every file: a few per pass).
      while (counts.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      // One deletes what it merged at once, the other after a grace period.
      const clock = { now: START + HOUR };
      const first = writer(dir, clock);
      const second = writer(dir, clock, { compactGraceMs: 1 });
      await Promise.all([first.compactFinishedHours(), second.compactFinishedHours()]);
      done = true;
      await reader;
      const adopted = first.totals.adopted + second.totals.adopted;
      expect(adopted).toBeGreaterThanOrEqual(hours.length);
      races += adopted - hours.length;
      expect(new Set(counts)).toEqual(new Set([total]));
      clock.now += 1000;
      await Promise.all([first.close(), second.close()]);
      expect(await names(dir)).toEqual(hours.map((hh) => `${day}/${hh}-${host}-${dead}.parquet`));
      await expectRows(dir, total);
    }
    // Both merged some key and renamed their merged files into place (the order is random).
    expect(races).toBeGreaterThan(0);
  }, 120_000);

  describe("an adopter that loses the race writes nothing", () => {
    /** A gone process's key with a merged file (parts 1-3) and two parts after it. */
    async function mergedAndFresh(dir: string): Promise<{ folder: string; key: string }> {
      const key = `08-${host}-${await deadPid()}`;
      const folder = path.join(dir, day);
      const first = await partsOf(dir, key, "m", 3, 10);
      await withDuckDB((connection) => compactHour(connection, folder, key));
      await Promise.all(first.map((file) => rm(file)));
      await partsOf(dir, key, "f", 2, 10, 4);
      return { folder, key };
    }

    /**
     * `connection`, but running `before` ahead of the merge's row count of its inputs: after it
     * listed them and read the merged file's mergedThrough, before it reads the rows.
     */
    function interleaved(connection: DuckDBConnection, before: () => Promise<void>) {
      return new Proxy(connection, {
        get(target, property) {
          const value: unknown = Reflect.get(target, property, target);
          if (typeof value !== "function") return value;
          const method = value as (...args: unknown[]) => unknown;
          if (property !== "runAndReadAll") return method.bind(target);
          return async (sql: string) => {
            if (sql.includes("parquet_file_metadata(")) await before();
            return method.call(target, sql);
          };
        },
      });
    }

    it("when another merged file was renamed into place while it read the old one", async () => {
      const dir = tempDir("mldeploy-orphans-");
      const { folder, key } = await mergedAndFresh(dir);
      await expectRows(dir, 50);
      await withDuckDB(async (other) => {
        await withDuckDB(async (connection) => {
          const racing = interleaved(connection, async () => {
            const won = await compactHour(other, folder, key, path.join(folder, "other.tmp"));
            expect(won.rows).toBe(50);
          });
          await expect(
            compactHour(racing, folder, key, path.join(folder, "loser.tmp")),
          ).rejects.toBeInstanceOf(ReplacedWhileMerging);
        });
      });
      expect(await names(dir)).toEqual([
        `${day}/${key}-000004.parquet`,
        `${day}/${key}-000005.parquet`,
        `${day}/${key}.parquet`,
      ]);
      await expectRows(dir, 50);
    });

    it("a reader that listed the merged file it replaced reads again", async () => {
      const dir = tempDir("mldeploy-orphans-");
      const { folder, key } = await mergedAndFresh(dir);
      await withDuckDB(async (connection) => {
        const listed = await predictionLogFiles(connection, { dir, model: INFO.name });
        expect(listed.merged.map((each) => each.through)).toEqual([3]);
        expect(await mergedFilesReplaced(connection, listed)).toBe(false);
        await compactHour(connection, folder, key, path.join(folder, "adopter.tmp"));
        // The listing keeps parts 4-5, which the merged file now also holds.
        expect(await countOf(connection, listed.files)).toBe(70);
        expect(await mergedFilesReplaced(connection, listed)).toBe(true);
      });
      await expectRows(dir, 50);
    });
  });
});
