/**
 * The types of the file sink's output columns: what a chunk's values call for, how types seen
 * in different chunks (and jobs) combine, and the names the predictions file may not repeat.
 */
import { UserError } from "../../config/errors.js";
import type { PredictionValues } from "../../model/types.js";
import { NumericColumn, type ColumnData } from "../columns.js";
import type { PredictionChunk } from "../types.js";

/** Column types of the output files, as in the contract (Date → TIMESTAMP, UTC). */
export type ColumnType = "BIGINT" | "DOUBLE" | "VARCHAR" | "BOOLEAN" | "TIMESTAMP";

const META_COLUMNS = ["model_name", "model_version", "run_id", "scored_at"];

/**
 * Refuses prediction columns (id, extra columns, prediction) whose names meet each other or the
 * metadata columns; names compare as DuckDB does, ignoring case.
 */
export function checkPredictionNames(names: string[]): void {
  const taken = new Set<string>();
  for (const name of [...names, ...META_COLUMNS]) {
    if (taken.has(name.toLowerCase())) {
      throw new UserError(
        `column "${name}" appears twice in the predictions (rename an extra column)`,
      );
    }
    taken.add(name.toLowerCase());
  }
}

/** Values on their way to a part: a source column, or the predictions (numbers or text labels). */
export type OutValues = ColumnData | PredictionValues;

/** The type a column's values call for; undefined when all are null. */
export function inferType(values: OutValues): ColumnType | undefined {
  if (values instanceof Float64Array) return "DOUBLE";
  if (values instanceof NumericColumn) return inferNumericType(values);
  let type: ColumnType | undefined;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value === null || value === undefined) continue;
    let next: ColumnType;
    if (typeof value === "number")
      next = type !== "DOUBLE" && Number.isSafeInteger(value) ? "BIGINT" : "DOUBLE";
    else if (typeof value === "boolean") next = "BOOLEAN";
    else if (value instanceof Date) next = "TIMESTAMP";
    else next = "VARCHAR";
    if (next === type) continue;
    type = mergeType(type, next);
    if (type === "VARCHAR") break;
  }
  return type;
}

function inferNumericType(column: NumericColumn): ColumnType | undefined {
  let type: ColumnType | undefined;
  for (const value of column.values) {
    if (Number.isNaN(value)) continue;
    if (column.kind === "timestamp") return "TIMESTAMP";
    if (!Number.isSafeInteger(value)) return "DOUBLE";
    type = "BIGINT";
  }
  return type;
}

/** Integers widen to doubles; any other mix falls back to text, which holds every value. */
export function mergeType(
  a: ColumnType | undefined,
  b: ColumnType | undefined,
): ColumnType | undefined {
  if (!a || a === b) return b ?? a;
  if (!b) return a;
  const numbers = new Set<ColumnType>(["BIGINT", "DOUBLE"]);
  if (numbers.has(a) && numbers.has(b)) return "DOUBLE";
  return "VARCHAR";
}

/** The types that several jobs' records give the same columns. */
export function mergeStateTypes(
  states: Array<{ types: Record<string, ColumnType> }>,
): Record<string, ColumnType> {
  const out: Record<string, ColumnType> = {};
  for (const state of states) {
    for (const [name, type] of Object.entries(state.types)) {
      out[name] = mergeType(out[name], type) ?? type;
    }
  }
  return out;
}

export interface OutColumn {
  name: string;
  values: OutValues;
  type: ColumnType;
}

/**
 * The prediction file's data columns, typed by the values seen so far; updates `types` (the
 * job's record). A column with only nulls so far is written as VARCHAR and retyped at merge.
 */
export function predictionColumns(
  chunk: PredictionChunk,
  types: Record<string, ColumnType>,
): OutColumn[] {
  checkPredictionNames([chunk.idColumn, ...Object.keys(chunk.extra), chunk.predictionColumn]);
  const columns: Array<{ name: string; values: OutValues }> = [
    { name: chunk.idColumn, values: chunk.ids },
    ...Object.entries(chunk.extra).map(([name, values]) => ({ name, values })),
    { name: chunk.predictionColumn, values: chunk.predictions },
  ];
  return columns.map(({ name, values }) => {
    const type =
      name === chunk.predictionColumn
        ? predictionType(chunk, types[name])
        : mergeType(types[name], inferType(values));
    if (type) types[name] = type;
    return { name, values, type: type ?? "VARCHAR" };
  });
}

/**
 * DOUBLE for numbers, VARCHAR for a classifier's text labels. A chunk without predictions
 * (rejects only) keeps the type recorded so far: its empty column says nothing of the model.
 */
function predictionType(chunk: PredictionChunk, recorded: ColumnType | undefined): ColumnType {
  if (chunk.ids.length === 0 && recorded !== undefined) return recorded;
  return chunk.predictions instanceof Float64Array ? "DOUBLE" : "VARCHAR";
}
