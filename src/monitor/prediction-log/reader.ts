/**
 * Reading the prediction log back: the files of a model in a time window (parts, and the
 * merged file of each finished hour and process, see compaction.ts), checked one by one
 * (format version and model in the footer) so that a file of another schema, another model,
 * or torn by kill -9 is skipped with a warning naming it instead of failing the read.
 */
import { access, readdir } from "node:fs/promises";
import path from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { firstLine, sqlString, withDuckDB } from "../../duckdb/index.js";
import {
  META,
  PART_SUFFIX,
  PREDICTION_LOG_FORMAT_VERSION,
  TEMP_SUFFIX,
  modelDirName,
  parseLogFileName,
} from "./schema.js";
import { footerMetadata, mergedThrough } from "./compaction.js";

/** Where skipped files are reported: a pino logger fits. */
export interface WarningSink {
  warn(fields: object, message: string): void;
}

export interface PredictionLogQuery {
  /** The log's root directory (<data-dir>/prediction-log). */
  dir: string;
  /** The model name as it was served. */
  model: string;
  /** Window start (inclusive) and end (exclusive); absent = unbounded. */
  from?: Date;
  to?: Date;
  /** Where skipped files are reported (warn); they are also returned. */
  logger?: WarningSink;
}

export interface SkippedFile {
  file: string;
  reason: string;
}

export interface PredictionLogFiles {
  files: string[];
  skipped: SkippedFile[];
  /** The merged files among `files`, with the highest part each held when listed. */
  merged: Array<{ file: string; through: number }>;
}

/**
 * The readable files of `model` whose hour overlaps [from, to), and the files skipped (with
 * the reason, also logged as a warning). A process's parts of an hour that its merged file
 * already holds are left out (not skipped: their rows are read from the merged file), so a
 * row is counted once while compaction runs; a file deleted between the listing and its check
 * (compaction removing merged parts) makes the listing start again. A merged file can also be
 * replaced by one holding more parts (a process merging its hour again after a restart with the
 * same pid, or adopting a gone process's parts): check mergedFilesReplaced after reading.
 */
export async function predictionLogFiles(
  connection: DuckDBConnection,
  query: PredictionLogQuery,
): Promise<PredictionLogFiles> {
  for (let attempt = 1; ; attempt++) {
    const listed = await listOnce(connection, query);
    if (listed !== "changed") {
      for (const { file, reason } of listed.skipped)
        query.logger?.warn({ file, reason }, `prediction log: skipping ${file}: ${reason}`);
      return listed;
    }
    if (attempt >= LIST_ATTEMPTS) throw new Error(changingMessage(query.dir));
  }
}

/** How often a listing (or a read) is started again because files changed under it. */
export const LIST_ATTEMPTS = 10;

export function changingMessage(dir: string): string {
  return `prediction log ${dir}: files kept changing while they were read (${LIST_ATTEMPTS} attempts)`;
}

async function listOnce(
  connection: DuckDBConnection,
  query: PredictionLogQuery,
): Promise<PredictionLogFiles | "changed"> {
  const root = path.join(query.dir, modelDirName(query.model));
  const skipped: SkippedFile[] = [];
  const candidates: string[] = [];
  const days = await readdir(root).catch(() => [] as string[]);
  for (const day of days.sort()) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) continue;
    for (const name of (await readdir(path.join(root, day)).catch(() => [] as string[])).sort()) {
      const file = path.join(root, day, name);
      const hour = /^(\d{2})-/.exec(name)?.[1];
      if (hour === undefined) continue;
      const start = new Date(`${day}T${hour}:00:00Z`).getTime();
      if (query.from && start + 3_600_000 <= query.from.getTime()) continue;
      if (query.to && start >= query.to.getTime()) continue;
      if (name.endsWith(TEMP_SUFFIX))
        skipped.push({
          file,
          reason: "unfinished file (being written now, or left by a process that was killed)",
        });
      else if (name.endsWith(PART_SUFFIX)) candidates.push(file);
    }
  }
  const readable: Array<{ file: string; meta: Map<string, string> }> = [];
  for (const file of candidates) {
    const checked = await checkFile(connection, file, query.model);
    if (typeof checked !== "string") readable.push({ file, meta: checked });
    else if (!(await exists(file))) return "changed";
    else skipped.push({ file, reason: checked });
  }
  // The highest part each merged file holds, by folder and process-hour.
  const through = new Map<string, number>();
  const merged: PredictionLogFiles["merged"] = [];
  for (const { file, meta } of readable) {
    const parsed = parseLogFileName(path.basename(file));
    if (parsed && parsed.seq === undefined) {
      const held = Number(meta.get(META.mergedThrough) ?? 0);
      through.set(path.join(path.dirname(file), parsed.key), held);
      merged.push({ file, through: held });
    }
  }
  const files = readable
    .filter(({ file }) => {
      const parsed = parseLogFileName(path.basename(file));
      if (parsed?.seq === undefined) return true;
      const merged = through.get(path.join(path.dirname(file), parsed.key));
      return merged === undefined || parsed.seq > merged;
    })
    .map(({ file }) => file);
  return { files, skipped, merged };
}

/**
 * Whether a merged file of `listed` was replaced, since it was listed, by one that holds more
 * parts: rows read in between may hold those parts twice (from the new merged file and from
 * the parts the listing kept), so read again. A merged file's mergedThrough only grows: the
 * same value after the read means the file read was the one listed (or one with its rows).
 */
export async function mergedFilesReplaced(
  connection: DuckDBConnection,
  listed: PredictionLogFiles,
): Promise<boolean> {
  for (const { file, through } of listed.merged) {
    const now = await mergedThrough(connection, file).catch(() => undefined);
    if (now !== through) return true;
  }
  return false;
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/** A part file's footer metadata, or why it cannot be read as this model's log of this format. */
async function checkFile(
  connection: DuckDBConnection,
  file: string,
  model: string,
): Promise<Map<string, string> | string> {
  let meta: Map<string, string>;
  try {
    meta = await footerMetadata(connection, file);
  } catch (error) {
    return `not a readable Parquet file (${firstLine(error)})`;
  }
  const format = meta.get(META.format);
  if (format === undefined) return "not a prediction log file (no format version in its metadata)";
  if (format !== String(PREDICTION_LOG_FORMAT_VERSION))
    return `prediction log format ${format}, this mldeploy reads format ${PREDICTION_LOG_FORMAT_VERSION}`;
  const owner = meta.get(META.model);
  if (owner !== model) return `holds predictions of model ${owner ?? "(none)"}, not ${model}`;
  return meta;
}

/**
 * SQL selecting the logged rows of `files` in [from, to): columns by name across files
 * (a model version with another column set still reads, missing columns are NULL).
 */
export function predictionLogSql(files: string[], from?: Date, to?: Date): string {
  const list = files.map(sqlString).join(", ");
  const where = [
    from && `time >= ${sqlString(from.toISOString())}::TIMESTAMPTZ::TIMESTAMP`,
    to && `time < ${sqlString(to.toISOString())}::TIMESTAMPTZ::TIMESTAMP`,
  ].filter(Boolean);
  return `SELECT * FROM read_parquet([${list}], union_by_name = true)${where.length > 0 ? ` WHERE ${where.join(" AND ")}` : ""}`;
}

export interface PredictionLogRows extends PredictionLogFiles {
  /** One object per logged prediction, in time order (time as a JS Date). */
  rows: Array<Record<string, unknown>>;
}

/**
 * Reads a model's logged predictions in [from, to) into memory (for small windows and tests;
 * `monitor` aggregates with predictionLogFiles + predictionLogSql in its own DuckDB).
 */
export async function readPredictionLog(query: PredictionLogQuery): Promise<PredictionLogRows> {
  return withDuckDB(async (connection) => {
    // Timestamps are stored as UTC wall time; the session must not shift them.
    await connection.run("SET TimeZone = 'UTC'");
    for (let attempt = 1; ; attempt++) {
      const listed = await predictionLogFiles(connection, query);
      if (listed.files.length === 0) return { ...listed, rows: [] };
      try {
        const rows = await readRows(connection, listed.files, query);
        if (!(await mergedFilesReplaced(connection, listed))) return { ...listed, rows };
        if (attempt >= LIST_ATTEMPTS) throw new Error(changingMessage(query.dir));
      } catch (error) {
        // Compaction deleted a listed part after its merged file was renamed into place: the
        // rows are in the merged file, which the next listing reads instead.
        const gone = await Promise.all(listed.files.map(exists));
        if (attempt >= LIST_ATTEMPTS || gone.every(Boolean)) throw error;
      }
    }
  });
}

async function readRows(
  connection: DuckDBConnection,
  files: string[],
  query: PredictionLogQuery,
): Promise<Array<Record<string, unknown>>> {
  const reader = await connection.runAndReadAll(
    `SELECT * REPLACE (epoch_ms(time) AS time) FROM (${predictionLogSql(files, query.from, query.to)}) ORDER BY time, id`,
  );
  return reader.getRowObjectsJS().map((row) => {
    const out: Record<string, unknown> = {};
    // Integer columns come back as bigint; ids and counts that fit a double read as numbers.
    for (const [key, value] of Object.entries(row))
      out[key] =
        typeof value === "bigint" && Number.isSafeInteger(Number(value)) ? Number(value) : value;
    out.time = new Date(Number(row.time));
    return out;
  });
}
