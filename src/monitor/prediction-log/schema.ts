/**
 * The prediction log's file layout and Parquet schema, shared by the writer and the reader.
 *
 * A part file holds predictions of one model version, one hour and one process (one part per
 * flush, so an hour of one process is several parts, named <hh>-<host>-<pid>-<seq>); once the
 * hour is over the process (or, if it is gone, another: orphans.ts) merges its parts into one
 * file <hh>-<host>-<pid> (compaction.ts, which may hold several versions if the served version
 * changed within the hour):
 *   time TIMESTAMP (UTC), model VARCHAR, version VARCHAR, mode VARCHAR (serve|stream),
 *   id VARCHAR (ride_id when the input has one, else the request or event id),
 *   then one column per input column of the model's signature, in its type,
 *   then one column per output: the primary output (e.g. duration), then for a classifier
 *   one DOUBLE column per class, probability_<class>.
 * The Parquet key-value metadata says which format and model the file holds, so a reader can
 * skip an older format or another model's file by looking at the footer only.
 */
import type { ColumnSpec, ColumnType, ModelInfo } from "../../model/types.js";

/** Bumped when the columns above change meaning; readers skip other versions with a warning. */
export const PREDICTION_LOG_FORMAT_VERSION = 1;

/** Key-value metadata keys written in every file's footer. */
export const META = {
  format: "mldeploy.prediction_log.format",
  model: "mldeploy.prediction_log.model",
  version: "mldeploy.prediction_log.model_version",
  inputs: "mldeploy.prediction_log.inputs",
  outputs: "mldeploy.prediction_log.outputs",
  /** In a merged file: the highest part sequence number it holds (parts up to it are ignored). */
  mergedThrough: "mldeploy.prediction_log.merged_through",
} as const;

/** Columns every file has before the model's own. */
export const FIXED_COLUMNS = ["time", "model", "version", "mode", "id"] as const;

export type LogMode = "serve" | "stream";

/** A column of the model as the log stores it. */
export interface LoggedColumn {
  name: string;
  /** The Parquet (DuckDB) type of the column. */
  sqlType: "BIGINT" | "INTEGER" | "DOUBLE" | "FLOAT" | "VARCHAR" | "BOOLEAN";
  /** How the value is held in memory before the flush. */
  holds: "number" | "string" | "boolean";
}

const SQL_TYPES: Record<ColumnType, LoggedColumn["sqlType"]> = {
  long: "BIGINT",
  integer: "INTEGER",
  double: "DOUBLE",
  float: "FLOAT",
  string: "VARCHAR",
  boolean: "BOOLEAN",
};

function logged(spec: Pick<ColumnSpec, "name" | "type">): LoggedColumn {
  const sqlType = SQL_TYPES[spec.type];
  const holds = sqlType === "VARCHAR" ? "string" : sqlType === "BOOLEAN" ? "boolean" : "number";
  return { name: spec.name, sqlType, holds };
}

/**
 * The model's input columns and its outputs, as the log stores them: the primary output, then
 * a classifier's probability of each class (probabilityColumn), in the model's class order.
 */
export interface LogLayout {
  inputs: LoggedColumn[];
  outputs: LoggedColumn[];
}

/** The column a classifier's probability of class `label` is logged in. */
export function probabilityColumn(label: string | number): string {
  return `probability_${String(label)}`;
}

/**
 * The columns logged for a model, or an error naming a column that would collide with the
 * fixed ones (such a model is served, but not logged).
 */
export function layoutFor(info: ModelInfo): LogLayout {
  const inputs = info.inputs.map(logged);
  const outputType: ColumnType =
    info.outputType === "string" ? "string" : info.outputType === "long" ? "long" : "double";
  const outputs = [
    logged({ name: info.output, type: outputType }),
    ...(info.probabilities?.classes ?? []).map((label) =>
      logged({ name: probabilityColumn(label), type: "double" }),
    ),
  ];
  const taken = new Set<string>(FIXED_COLUMNS);
  for (const column of [...inputs, ...outputs]) {
    if (taken.has(column.name.toLowerCase()))
      throw new Error(
        `model ${info.name}: column "${column.name}" is also a column the prediction log writes itself (${FIXED_COLUMNS.join(", ")}), or appears twice`,
      );
    taken.add(column.name.toLowerCase());
  }
  return { inputs, outputs };
}

/** A model name as a directory name (registry names are already safe; bundle names may not be). */
export function modelDirName(model: string): string {
  return model.replace(/[^A-Za-z0-9._-]/g, "_");
}

/** Finished part files end so; a file being written (or torn by kill -9) ends with TEMP_SUFFIX. */
export const PART_SUFFIX = ".parquet";
export const TEMP_SUFFIX = ".parquet.tmp";

/** What a log file's name says: the hour, the writing process, and the part number if a part. */
export interface LogFileName {
  hour: string;
  /** <hh>-<host>-<pid>: the process's files of that hour. */
  key: string;
  /** The writing process: its host as hostField() spells it, and its pid. */
  host: string;
  pid: number;
  /** A part's sequence number; undefined for a merged file. */
  seq?: number;
}

/** A host name as the file names hold it: no "-", so that the fields of a name split on it. */
export function hostField(host: string): string {
  return host.replace(/[^A-Za-z0-9.]/g, "_");
}

/** <hh>-<host>-<pid>-<seq>.parquet */
export function partFileName(key: string, seq: number): string {
  return `${key}-${String(seq).padStart(6, "0")}${PART_SUFFIX}`;
}

/** <hh>-<host>-<pid>.parquet */
export function mergedFileName(key: string): string {
  return key + PART_SUFFIX;
}

/** The fields of a finished log file's name, or undefined for a name of another form. */
export function parseLogFileName(name: string): LogFileName | undefined {
  const match = /^((\d{2})-([A-Za-z0-9._]+)-(\d+))(?:-(\d+))?\.parquet$/.exec(name);
  if (!match) return undefined;
  return {
    key: match[1],
    hour: match[2],
    host: match[3],
    pid: Number(match[4]),
    seq: match[5] === undefined ? undefined : Number(match[5]),
  };
}

/**
 * What a temporary file's name says: whose key it belongs to and who writes it. The key's own
 * process writes <key>-<seq>.parquet.tmp (a part) and <key>.parquet.tmp (its merge); a process
 * merging an orphaned key (orphans.ts) writes <key>.adopt-<host>-<pid>-<hex>.parquet.tmp.
 */
export interface TempFileName {
  key: string;
  /** The process writing it: the key's own, or the adopting one. */
  host: string;
  pid: number;
  adopted: boolean;
}

export function parseTempFileName(name: string): TempFileName | undefined {
  const own = /^((?:\d{2})-([A-Za-z0-9._]+)-(\d+))(?:-\d+)?\.parquet\.tmp$/.exec(name);
  if (own) return { key: own[1], host: own[2], pid: Number(own[3]), adopted: false };
  const adopted =
    /^(\d{2}-[A-Za-z0-9._]+-\d+)\.adopt-([A-Za-z0-9._]+)-(\d+)-[0-9a-f]+\.parquet\.tmp$/.exec(name);
  if (adopted) return { key: adopted[1], host: adopted[2], pid: Number(adopted[3]), adopted: true };
  return undefined;
}

/** The temporary name under which `host`/`pid` merges another process's key (unique per call). */
export function adoptTempFileName(key: string, host: string, pid: number, hex: string): string {
  return `${key}.adopt-${host}-${pid}-${hex}${TEMP_SUFFIX}`;
}
