import { readdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { expect } from "vitest";
import { silentLogger } from "../../src/log/logger.js";
import type { ModelInfo } from "../../src/model/types.js";
import { readPredictionLog } from "../../src/monitor/prediction-log/reader.js";
import { PredictionLog } from "../../src/monitor/prediction-log/writer.js";

export const HOUR = 3_600_000;
/** 2026-12-07 08:00 UTC: the tests' clock starts in this hour. */
export const START = Date.UTC(2026, 11, 7, 8, 0, 0);

export const INFO = {
  name: "ride-duration",
  version: "3",
  inputs: [
    { name: "PULocationID", type: "long" },
    { name: "DOLocationID", type: "long" },
    { name: "trip_distance", type: "double" },
  ],
  output: "duration",
  outputType: "double",
} as unknown as ModelInfo;

/** This host as the log's file names spell it. */
export const host = os.hostname().replace(/[^A-Za-z0-9.]/g, "_");
/** The day folder of START, relative to the log's directory. */
export const day = "ride-duration/2026-12-07";

/** A writer on a clock the test moves; parts are deleted at once after a merge unless said. */
export function writer(
  dir: string,
  clock: { now: number },
  extra: { compactGraceMs?: number } = {},
): PredictionLog {
  return new PredictionLog({
    dir,
    mode: "serve",
    sample: 1,
    flushMs: 3_600_000,
    queueRows: 1_000_000,
    logger: silentLogger(),
    now: () => clock.now,
    compactGraceMs: extra.compactGraceMs ?? 0,
  });
}

/** Records `rows` rides with ids `<prefix><n>`. */
export function recordRides(log: PredictionLog, prefix: string, from: number, rows: number): void {
  const ids = Array.from({ length: rows }, (_, i) => `${prefix}${from + i}`);
  log.record(
    INFO,
    {
      rows,
      columns: {
        PULocationID: Float64Array.from(ids, (_, i) => 1 + ((from + i) % 200)),
        DOLocationID: Float64Array.from(ids, (_, i) => 1 + (((from + i) * 7) % 200)),
        trip_distance: Float64Array.from(ids, (_, i) => (from + i) / 10),
      },
    },
    Float64Array.from(ids, (_, i) => (from + i) * 2),
    ids,
  );
}

/** Writes `parts` parts of `rows` rows each in the clock's hour. */
export async function writeParts(log: PredictionLog, prefix: string, parts: number, rows: number) {
  for (let part = 0; part < parts; part++) {
    recordRides(log, prefix, part * rows, rows);
    await log.flush();
  }
}

/** Every file under `dir`, relative to it, sorted. */
export async function names(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (folder: string) => {
    for (const entry of await readdir(folder, { withFileTypes: true }).catch(() => [])) {
      const full = path.join(folder, entry.name);
      if (entry.isDirectory()) await walk(full);
      else found.push(path.relative(dir, full));
    }
  };
  await walk(dir);
  return found.sort();
}

/** Reads the log back: `count` rows, each id once. */
export async function expectRows(dir: string, count: number) {
  const read = await readPredictionLog({ dir, model: INFO.name });
  expect(read.rows).toHaveLength(count);
  expect(new Set(read.rows.map((row) => row.id)).size).toBe(count);
  return read;
}
