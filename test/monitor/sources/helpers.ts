import { mkdirSync } from "node:fs";
import path from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { sqlIdentifier, sqlString } from "../../../src/duckdb/index.js";
import { createLogger } from "../../../src/log/logger.js";
import { META, modelDirName } from "../../../src/monitor/prediction-log/schema.js";

/** A logger whose warnings the test can read. */
export function recordingLogger(): {
  logger: ReturnType<typeof createLogger>;
  warnings: string[];
} {
  const warnings: string[] = [];
  const logger = createLogger({ level: "silent" });
  logger.warn = ((fields: unknown, message?: string) => {
    warnings.push(typeof fields === "string" ? fields : String(message));
  }) as typeof logger.warn;
  return { logger, warnings };
}

export interface LoggedRide {
  time: string;
  id: string;
  PULocationID: number;
  DOLocationID: number;
  trip_distance: number | null;
  duration: number;
}

/**
 * One part file in the prediction log's format (schema.ts), written with DuckDB as the
 * writer does, at <dir>/<model>/<day>/<hh>-test-<pid>-<seq>.parquet.
 */
export async function writeLogPart(
  connection: DuckDBConnection,
  o: {
    dir: string;
    model: string;
    version: string;
    rows: LoggedRide[];
    seq: number;
    /** The model named in the footer (default: o.model). */
    footerModel?: string;
    format?: number;
  },
): Promise<string> {
  const hour = o.rows[0].time;
  const folder = path.join(o.dir, modelDirName(o.model), hour.slice(0, 10));
  mkdirSync(folder, { recursive: true });
  const file = path.join(
    folder,
    `${hour.slice(11, 13)}-test-${process.pid}-${String(o.seq).padStart(6, "0")}.parquet`,
  );
  const values = o.rows
    .map(
      (r) =>
        `(${sqlString(r.time)}::TIMESTAMP, ${sqlString(o.model)}, ${sqlString(o.version)}, 'serve', ${sqlString(r.id)}, ` +
        `${r.PULocationID}::BIGINT, ${r.DOLocationID}::BIGINT, ${r.trip_distance ?? "NULL"}::DOUBLE, ${r.duration}::DOUBLE)`,
    )
    .join(", ");
  const kv = {
    [META.format]: String(o.format ?? 1),
    [META.model]: o.footerModel ?? o.model,
    [META.version]: o.version,
  };
  const metadata = Object.entries(kv)
    .map(([key, value]) => `${sqlIdentifier(key)}: ${sqlString(value)}`)
    .join(", ");
  await connection.run(
    `COPY (SELECT * FROM (VALUES ${values}) AS t(time, model, version, mode, id, "PULocationID", "DOLocationID", trip_distance, duration))
     TO ${sqlString(file)} (FORMAT parquet, KV_METADATA {${metadata}})`,
  );
  return file;
}

/** Rows of a DuckDB query as plain objects (bigints as numbers, timestamps as ISO text). */
export async function queryRows(
  connection: DuckDBConnection,
  sql: string,
): Promise<Array<Record<string, unknown>>> {
  const reader = await connection.runAndReadAll(sql);
  return reader.getRowObjectsJS().map((row) => {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(row))
      out[key] =
        typeof value === "bigint"
          ? Number(value)
          : value instanceof Date
            ? value.toISOString()
            : value;
    return out;
  });
}

/** column name → DuckDB type of a table. */
export async function tableTypes(
  connection: DuckDBConnection,
  table: string,
): Promise<Record<string, string>> {
  const rows = await queryRows(connection, `DESCRIBE ${sqlIdentifier(table)}`);
  return Object.fromEntries(rows.map((r) => [String(r.column_name), String(r.column_type)]));
}
