import { stat } from "node:fs/promises";
import type { DuckDBConnection } from "@duckdb/node-api";
import { UserError } from "../config/errors.js";
import { applyFeatures } from "../model/transform.js";
import type { Column, ColumnarBatch, ColumnSpec, FeatureExpr } from "../model/types.js";
import { sqlIdentifier, sqlString, withDuckDB } from "../duckdb/index.js";
import type { TargetSpec } from "./spec.js";

/** What the loader needs from a training spec. */
export interface LoadSpec {
  inputs: ColumnSpec[];
  features: Record<string, FeatureExpr>;
  target: Pick<TargetSpec, "min" | "max">;
}

export type TripNaming = "green" | "yellow" | "fhv";

export interface LoadedTrips {
  /** The path or glob as given. */
  source: string;
  format: "parquet" | "csv";
  /** Which TLC column naming the timestamps use (lpep_ / tpep_ / plain). */
  naming: TripNaming;
  rowsRead: number;
  /** Rows kept: no missing required input, target within [min, max]. */
  rows: number;
  droppedMissing: number;
  droppedTarget: number;
  /** Request columns of the kept rows. */
  inputs: ColumnarBatch;
  /** Model features derived from the inputs with the same transform the server applies. */
  features: Record<string, Column>;
  /** Duration in minutes. */
  target: Float64Array;
}

/** Timestamp column pairs of the TLC datasets, tried in order. */
const TIMESTAMP_PAIRS: Array<{ naming: TripNaming; pickup: string; dropoff: string }> = [
  { naming: "green", pickup: "lpep_pickup_datetime", dropoff: "lpep_dropoff_datetime" },
  { naming: "yellow", pickup: "tpep_pickup_datetime", dropoff: "tpep_dropoff_datetime" },
  { naming: "fhv", pickup: "pickup_datetime", dropoff: "dropoff_datetime" },
];

const TARGET = "__target";

/**
 * Reads TLC trip records (Parquet or CSV, one file or a glob) into columnar arrays: the
 * request columns named by the spec, the derived features, and the trip duration in minutes.
 * Duration and filters run in SQL so only kept rows cross into JS.
 */
export async function loadTrips(pathOrGlob: string, spec: LoadSpec): Promise<LoadedTrips> {
  await checkExists(pathOrGlob);
  return withDuckDB(async (connection) => {
    const trips = await prepareTrips(connection, pathOrGlob, spec);
    const { rows, values } = await readColumns(
      connection,
      trips.keptSql(spec.inputs.map((input) => input.name)),
      [...spec.inputs, { name: TARGET, type: "double" }],
    );

    const inputColumns: Record<string, Column> = {};
    spec.inputs.forEach((input, index) => {
      inputColumns[input.name] = values[index];
    });
    const inputs: ColumnarBatch = { rows, columns: inputColumns };
    return {
      source: pathOrGlob,
      format: trips.format,
      naming: trips.naming,
      rowsRead: trips.rowsRead,
      rows,
      droppedMissing: trips.droppedMissing,
      droppedTarget: trips.droppedTarget,
      inputs,
      features: applyFeatures(inputs, spec.features),
      target: values[values.length - 1] as Float64Array,
    };
  });
}

/** A training file read into a DuckDB table, with the trainer's filter as SQL. */
export interface PreparedTrips {
  format: "parquet" | "csv";
  naming: TripNaming;
  rowsRead: number;
  droppedMissing: number;
  droppedTarget: number;
  /** Rows the trainer keeps (no missing required input, target within [min, max]). */
  rows: number;
  /** SELECT of the kept rows: the named request columns (typed as the spec says), then the target. */
  keptSql(columns: readonly string[]): string;
  /**
   * SELECT of every row with its required inputs, whatever its target: the population of
   * requests the model could have been asked about (requests have no target to filter on).
   */
  completeSql(columns: readonly string[]): string;
}

/**
 * Reads a training file (Parquet or CSV, a path or a glob) into the table `table` of
 * `connection` (request columns and the target) and counts what the trainer's filter drops.
 * The trainer and `mldeploy monitor` (its training reference) both use this, so the reference
 * holds exactly the rows the model was fitted on.
 */
export async function prepareTrips(
  connection: DuckDBConnection,
  pathOrGlob: string,
  spec: Pick<LoadSpec, "inputs" | "target">,
  table = "trips",
): Promise<PreparedTrips> {
  const format = /\.(csv|tsv)(\.gz|\.zst)?$/i.test(pathOrGlob) ? "csv" : "parquet";
  const reader =
    format === "csv"
      ? `read_csv_auto(${sqlString(pathOrGlob)}, header = true)`
      : `read_parquet(${sqlString(pathOrGlob)})`;
  const columns = await describeSource(connection, reader, pathOrGlob);
  const find = (name: string): string | undefined =>
    columns.find((c) => c.toLowerCase() === name.toLowerCase());
  const pair = TIMESTAMP_PAIRS.find((p) => find(p.pickup) && find(p.dropoff));
  if (!pair) {
    throw new UserError(
      `${pathOrGlob}: no pickup/dropoff time columns (expected lpep_pickup_datetime/lpep_dropoff_datetime, ` +
        `tpep_pickup_datetime/tpep_dropoff_datetime or pickup_datetime/dropoff_datetime); it has: ${columns.join(", ")}`,
    );
  }
  const projections = spec.inputs.map((input) => {
    const column = find(input.name);
    if (!column) {
      throw new UserError(
        `${pathOrGlob}: required column "${input.name}" is missing; it has: ${columns.join(", ")}`,
      );
    }
    return `TRY_CAST(${sqlIdentifier(column)} AS ${sqlType(input)}) AS ${sqlIdentifier(input.name)}`;
  });
  const pickup = `CAST(${sqlIdentifier(find(pair.pickup) ?? pair.pickup)} AS TIMESTAMP)`;
  const dropoff = `CAST(${sqlIdentifier(find(pair.dropoff) ?? pair.dropoff)} AS TIMESTAMP)`;
  // Microsecond epochs keep the difference exact (an interval's epoch() would be too, but
  // this reads the same for TIMESTAMP, TIMESTAMP_NS and parsed CSV strings).
  projections.push(`(epoch_us(${dropoff}) - epoch_us(${pickup})) / 60000000.0 AS ${TARGET}`);

  const target = sqlIdentifier(table);
  try {
    await connection.run(
      `CREATE OR REPLACE TEMP TABLE ${target} AS SELECT ${projections.join(", ")} FROM ${reader}`,
    );
  } catch (error) {
    throw new UserError(`${pathOrGlob}: ${firstLine(error)}`, { cause: error });
  }

  const required = spec.inputs.filter((input) => input.required !== false);
  const complete = required.length
    ? required.map((input) => `${sqlIdentifier(input.name)} IS NOT NULL`).join(" AND ")
    : "TRUE";
  const inRange = `${TARGET} BETWEEN ${Number(spec.target.min)} AND ${Number(spec.target.max)}`;
  const counts = await connection.runAndReadAll(
    `SELECT count(*), count(*) FILTER (WHERE NOT (${complete})), count(*) FILTER (WHERE (${complete}) AND NOT coalesce(${inRange}, false)) FROM ${target}`,
  );
  const [rowsRead, droppedMissing, droppedTarget] = counts.getRows()[0].map((v) => Number(v));
  return {
    format,
    naming: pair.naming,
    rowsRead,
    droppedMissing,
    droppedTarget,
    rows: rowsRead - droppedMissing - droppedTarget,
    keptSql: (names) =>
      `SELECT ${[...names, TARGET].map(sqlIdentifier).join(", ")} FROM ${target} WHERE ${complete} AND ${inRange}`,
    completeSql: (names) =>
      `SELECT ${names.map(sqlIdentifier).join(", ")} FROM ${target} WHERE ${complete}`,
  };
}

async function checkExists(pathOrGlob: string): Promise<void> {
  // Globs and URLs are left to DuckDB, whose error is then wrapped with the pattern.
  if (/[*?[{]/.test(pathOrGlob) || pathOrGlob.includes("://")) return;
  const info = await stat(pathOrGlob).catch(() => undefined);
  if (!info) throw new UserError(`${pathOrGlob}: file does not exist`);
  if (!info.isFile()) throw new UserError(`${pathOrGlob}: is not a file`);
}

async function describeSource(
  connection: DuckDBConnection,
  reader: string,
  source: string,
): Promise<string[]> {
  try {
    const result = await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${reader}`);
    return result.getRowObjectsJson().map((row) => String(row.column_name));
  } catch (error) {
    throw new UserError(`${source}: cannot read (${firstLine(error)})`, { cause: error });
  }
}

function sqlType(spec: ColumnSpec): string {
  switch (spec.type) {
    case "long":
    case "integer":
      return "BIGINT";
    case "double":
    case "float":
      return "DOUBLE";
    case "string":
      return "VARCHAR";
    case "boolean":
      return "BOOLEAN";
  }
}

/**
 * Streams a query into one array per column. Integers travel as DOUBLE (exact below 2^53)
 * because the feature transform and the ONNX graph take numbers as float64 anyway.
 */
async function readColumns(
  connection: DuckDBConnection,
  sql: string,
  specs: ColumnSpec[],
): Promise<{ rows: number; values: Column[] }> {
  const numeric = specs.map((s) => s.type !== "string" && s.type !== "boolean");
  const casts = specs.map((s, i) =>
    numeric[i] ? `CAST(${sqlIdentifier(s.name)} AS DOUBLE)` : sqlIdentifier(s.name),
  );
  const result = await connection.stream(`SELECT ${casts.join(", ")} FROM (${sql})`);
  const parts: Array<Array<Float64Array | Array<string | boolean>>> = specs.map(() => []);
  let rows = 0;
  for (;;) {
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    const count = chunk.rowCount;
    specs.forEach((spec, c) => {
      const vector = chunk.getColumnVector(c);
      if (numeric[c]) {
        const out = new Float64Array(count);
        for (let r = 0; r < count; r++) out[r] = Number(vector.getItem(r) ?? Number.NaN);
        parts[c].push(out);
      } else {
        const out: Array<string | boolean> = new Array(count);
        for (let r = 0; r < count; r++) {
          const item = vector.getItem(r);
          out[r] = spec.type === "boolean" ? item === true : item == null ? "" : String(item);
        }
        parts[c].push(out);
      }
    });
    rows += count;
  }
  const values = specs.map((spec, c): Column => {
    if (numeric[c]) {
      const out = new Float64Array(rows);
      let offset = 0;
      for (const part of parts[c] as Float64Array[]) {
        out.set(part, offset);
        offset += part.length;
      }
      return out;
    }
    const flat = (parts[c] as Array<Array<string | boolean>>).flat();
    return spec.type === "boolean" ? (flat as boolean[]) : (flat as string[]);
  });
  return { rows, values };
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0];
}
