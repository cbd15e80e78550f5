/**
 * Writing one chunk's part files from JS: each output column is staged in DuckDB vectors (see
 * staged-scan.ts) in a stage type, cast to its output type and COPY'd to a Parquet part.
 */
import {
  BOOLEAN,
  DOUBLE,
  VARCHAR,
  type DuckDBType,
  type DuckDBValue,
  type DuckDBVector,
} from "@duckdb/node-api";
import type { DuckDBEngine } from "../../duckdb/instance.js";
import { sqlIdentifier, sqlString } from "../../duckdb/sql.js";
import { doubleData } from "../../duckdb/vectors.js";
import { NumericColumn, valueAt } from "../columns.js";
import type { KeyValue, PredictionChunk, SinkWrite } from "../types.js";
import { syncFile } from "./commit-record.js";
import type { ColumnType, OutColumn, OutValues } from "./output-types.js";
import type { StagedScan, StagedColumn } from "./staged-scan.js";

/**
 * Parts are only read back by the merge (DuckDB), so they use Parquet's v2 encodings, which
 * DuckDB writes about a third faster; the merged file stays v1 for every other reader.
 */
export const PART_FORMAT = "FORMAT parquet, PARQUET_VERSION v2";

/** The sink's DuckDB, and the scan through which its COPYs read the chunks held in JS. */
export interface Engine extends DuckDBEngine {
  scan: StagedScan;
}

/**
 * Stage types: numbers, timestamps (epoch ms) and integers all go in as DOUBLE — filling a
 * Float64 vector is the cheapest way into DuckDB from JS, and exact for safe integers — and
 * are cast to the output type in the COPY's SELECT.
 */
function stageType(type: ColumnType): DuckDBType {
  return type === "VARCHAR" ? VARCHAR : type === "BOOLEAN" ? BOOLEAN : DOUBLE;
}

function toStage(type: ColumnType, value: unknown): DuckDBValue {
  if (value === null || value === undefined) return null;
  switch (type) {
    case "BIGINT":
    case "DOUBLE":
    case "TIMESTAMP":
      return value instanceof Date ? value.getTime() : (value as number);
    case "BOOLEAN":
      return value as boolean;
    case "VARCHAR":
      return typeof value === "string"
        ? value
        : value instanceof Date
          ? value.toISOString()
          : typeof value === "object"
            ? JSON.stringify(value)
            : String(value);
  }
}

function fromStage(type: ColumnType, ref: string): string {
  if (type === "BIGINT") return `CAST(${ref} AS BIGINT)`;
  if (type === "TIMESTAMP") return `epoch_ms(CAST(${ref} AS BIGINT))`;
  return ref;
}

/** The stage columns of a part: each output column in its stage type. */
function staged(columns: OutColumn[]): StagedColumn[] {
  return columns.map((column) => ({
    type: stageType(column.type),
    fill: (vector, start, count) => fillVector(vector, column, start, count),
  }));
}

/** Copies rows [start, start + count) of a column into a stage vector of `count` rows. */
function fillVector(vector: DuckDBVector, column: OutColumn, start: number, count: number): void {
  const { values, type } = column;
  // Numbers go straight into the vector's Float64Array; setItem() is kept for nulls (and for
  // a vector whose layout is not the expected one), as it maintains the validity mask.
  const raw = stageType(type) === DOUBLE ? doubleData(vector) : undefined;
  if (raw && values instanceof Float64Array) {
    raw.items.set(values.subarray(start, start + count));
  } else if (raw && values instanceof NumericColumn) {
    const numbers = values.values.subarray(start, start + count);
    raw.items.set(numbers);
    for (let r = 0; r < count; r++) if (Number.isNaN(numbers[r])) vector.setItem(r, null);
  } else if (raw && Array.isArray(values)) {
    const items = raw.items;
    for (let r = 0; r < count; r++) {
      const value: unknown = values[start + r];
      if (typeof value === "number") items[r] = value;
      else if (value instanceof Date) items[r] = value.getTime();
      else vector.setItem(r, toStage(type, value));
    }
  } else {
    for (let r = 0; r < count; r++) vector.setItem(r, toStage(type, outValue(values, start + r)));
  }
}

function outValue(values: OutValues, row: number): unknown {
  return values instanceof Float64Array ? values[row] : valueAt(values, row);
}

export async function writePredictionPart(
  { connection, scan }: Engine,
  chunk: PredictionChunk,
  columns: OutColumn[],
  file: string,
): Promise<void> {
  const select = columns.map((c, i) => `${fromStage(c.type, `c${i}`)} AS ${sqlIdentifier(c.name)}`);
  await scan.with(staged(columns), chunk.ids.length, (table) =>
    connection.run(
      `COPY (SELECT ${select.join(", ")},
              CAST($1 AS VARCHAR) AS model_name, CAST($2 AS VARCHAR) AS model_version,
              CAST($3 AS VARCHAR) AS run_id, CAST($4 AS TIMESTAMPTZ) AS scored_at
            FROM ${table}) TO ${sqlString(file)} (${PART_FORMAT})`,
      [chunk.modelName, chunk.modelVersion, chunk.runId ?? null, chunk.scoredAt],
    ),
  );
  await syncFile(file);
}

export async function writeRejectPart(
  { connection, scan }: Engine,
  chunk: SinkWrite,
  modelVersion: string,
  file: string,
): Promise<void> {
  const { ids, reasons, rows } = chunk.rejects;
  const columns: OutColumn[] = [
    { name: "id", values: ids.map((id: KeyValue) => String(id)), type: "VARCHAR" },
    { name: "reason", values: reasons, type: "VARCHAR" },
    { name: "row", values: rows, type: "VARCHAR" },
  ];
  await scan.with(staged(columns), ids.length, (table) =>
    connection.run(
      `COPY (SELECT c0 AS id, CAST($1 AS VARCHAR) AS model_version, c1 AS reason, c2 AS "row",
              CAST($2 AS TIMESTAMPTZ) AS rejected_at
            FROM ${table}) TO ${sqlString(file)} (${PART_FORMAT})`,
      [modelVersion, chunk.predictions.scoredAt],
    ),
  );
  await syncFile(file);
}
