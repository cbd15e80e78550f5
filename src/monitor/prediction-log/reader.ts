/**
 * Reading the prediction log back: the part files of a model in a time window, checked one
 * by one (format version and model in the footer) so that a file of another schema, another
 * model, or torn by kill -9 is skipped with a warning naming it instead of failing the read.
 */
import { readdir } from "node:fs/promises";
import path from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { firstLine, sqlString, withDuckDB } from "../../duckdb/index.js";
import {
  META,
  PART_SUFFIX,
  PREDICTION_LOG_FORMAT_VERSION,
  TEMP_SUFFIX,
  modelDirName,
} from "./schema.js";

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
}

/**
 * The readable part files of `model` whose hour overlaps [from, to), and the files skipped
 * (with the reason, also logged as a warning).
 */
export async function predictionLogFiles(
  connection: DuckDBConnection,
  query: PredictionLogQuery,
): Promise<PredictionLogFiles> {
  const root = path.join(query.dir, modelDirName(query.model));
  const skipped: SkippedFile[] = [];
  const skip = (file: string, reason: string) => {
    skipped.push({ file, reason });
    query.logger?.warn({ file, reason }, `prediction log: skipping ${file}: ${reason}`);
  };
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
        skip(
          file,
          "unfinished part file (being written now, or left by a process that was killed)",
        );
      else if (name.endsWith(PART_SUFFIX)) candidates.push(file);
    }
  }
  const files: string[] = [];
  for (const file of candidates) {
    const problem = await checkFile(connection, file, query.model);
    if (problem) skip(file, problem);
    else files.push(file);
  }
  return { files, skipped };
}

/** Why a part file cannot be read as this model's log of this format, or undefined if it can. */
async function checkFile(
  connection: DuckDBConnection,
  file: string,
  model: string,
): Promise<string | undefined> {
  let meta: Map<string, string>;
  try {
    const reader = await connection.runAndReadAll(
      `SELECT decode(key) AS key, decode(value) AS value FROM parquet_kv_metadata(${sqlString(file)})`,
    );
    meta = new Map(
      reader.getRowObjects().map((row) => [String(row.key), String(row.value)] as const),
    );
  } catch (error) {
    return `not a readable Parquet file (${firstLine(error)})`;
  }
  const format = meta.get(META.format);
  if (format === undefined) return "not a prediction log file (no format version in its metadata)";
  if (format !== String(PREDICTION_LOG_FORMAT_VERSION))
    return `prediction log format ${format}, this mldeploy reads format ${PREDICTION_LOG_FORMAT_VERSION}`;
  const owner = meta.get(META.model);
  if (owner !== model) return `holds predictions of model ${owner ?? "(none)"}, not ${model}`;
  return undefined;
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
    const listed = await predictionLogFiles(connection, query);
    if (listed.files.length === 0) return { ...listed, rows: [] };
    const reader = await connection.runAndReadAll(
      `SELECT * REPLACE (epoch_ms(time) AS time) FROM (${predictionLogSql(listed.files, query.from, query.to)}) ORDER BY time, id`,
    );
    const rows = reader.getRowObjectsJS().map((row) => {
      const out: Record<string, unknown> = {};
      // Integer columns come back as bigint; ids and counts that fit a double read as numbers.
      for (const [key, value] of Object.entries(row))
        out[key] =
          typeof value === "bigint" && Number.isSafeInteger(Number(value)) ? Number(value) : value;
      out.time = new Date(Number(row.time));
      return out;
    });
    return { ...listed, rows };
  });
}
