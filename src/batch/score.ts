import {
  noPredictions,
  type FieldError,
  type PredictionValues,
  type Predictor,
} from "../model/types.js";
import { validateColumnReaders } from "../model/validate.js";
import { NumericColumn, nullColumn, pickRows, valueAt, type ColumnData } from "./columns.js";
import { DECIMAL_TEXT } from "./decimal.js";
import type { PredictionChunk, RejectChunk, SourceChunk } from "./types.js";

export interface ScoreSettings {
  idColumn: string;
  /** The watermark column, read apart from the other columns; kept in rejected rows' JSON. */
  sinceColumn?: string;
  predictionColumn: string;
  keepColumns: string[];
  actualColumn?: string;
  modelName: string;
  modelVersion: string;
  runId?: string;
}

export interface ScoredChunk {
  predictions: PredictionChunk;
  rejects: RejectChunk;
}

/**
 * Validates a chunk against the model's request schema, predicts the valid rows in one call
 * and collects the others as rejects with their reasons. Database drivers return NUMERIC and
 * BIGINT as strings, so numeric text is accepted as numbers here (as for CSV).
 */
export async function scoreChunk(
  chunk: SourceChunk,
  predictor: Predictor,
  settings: ScoreSettings,
): Promise<ScoredChunk> {
  const schema = predictor.info.inputs;
  const readers: Record<string, (row: number) => unknown> = {};
  for (const spec of schema) {
    const column = chunk.columns[spec.name];
    if (column !== undefined) readers[spec.name] = reader(column);
  }
  const validation = validateColumnReaders(readers, chunk.rows, schema, {
    coerceStrings: true,
    maxErrors: Number.MAX_SAFE_INTEGER,
  });
  const values =
    validation.batch.rows > 0
      ? (await predictor.predictColumns(validation.batch)).values
      : noPredictions(predictor.info);

  const kept = validation.rowIndex;
  const extra: Record<string, ColumnData> = {};
  for (const name of settings.keepColumns) extra[name] = pick(chunk.columns[name], kept);
  if (settings.actualColumn !== undefined) {
    const actual = pick(chunk.columns[settings.actualColumn], kept);
    extra[settings.actualColumn] = actual;
    extra.diff = difference(actual, values);
  }

  return {
    predictions: {
      idColumn: settings.idColumn,
      predictionColumn: settings.predictionColumn,
      ids: kept.map((row) => chunk.ids[row]),
      predictions: values,
      extra,
      integers: chunk.integers,
      modelName: settings.modelName,
      modelVersion: settings.modelVersion,
      runId: settings.runId,
      scoredAt: new Date().toISOString(),
    },
    rejects: collectRejects(chunk, validation.errors, settings),
  };
}

function reader(column: ColumnData): (row: number) => unknown {
  if (!(column instanceof NumericColumn)) return (row) => column[row];
  if (column.kind === "timestamp") return (row) => column.at(row);
  const values = column.values;
  // NaN is how a NumericColumn stores NULL: validation must see a missing value, not a NaN.
  return (row) => {
    const value = values[row];
    return value === value ? value : null;
  };
}

function pick(column: ColumnData | undefined, rows: number[]): ColumnData {
  return column === undefined ? nullColumn(rows.length) : pickRows(column, rows);
}

/**
 * actual - predicted, NULL where the actual value is missing or not a number, and for text
 * labels (a classifier's), which have no difference.
 */
function difference(actual: ColumnData, predicted: PredictionValues): NumericColumn {
  if (!(predicted instanceof Float64Array)) return nullColumn(predicted.length);
  const diff = new Float64Array(predicted.length);
  if (actual instanceof NumericColumn && actual.kind === "number") {
    const values = actual.values;
    for (let i = 0; i < diff.length; i++) {
      diff[i] = Number.isFinite(values[i]) ? values[i] - predicted[i] : Number.NaN;
    }
  } else {
    for (let i = 0; i < diff.length; i++) {
      const value = valueAt(actual, i);
      // Text counts as a number only when written in decimal, as for the model's inputs.
      const number =
        typeof value === "string" ? (DECIMAL_TEXT.test(value) ? Number(value) : Number.NaN) : value;
      diff[i] =
        typeof number === "number" && Number.isFinite(number) ? number - predicted[i] : Number.NaN;
    }
  }
  return new NumericColumn("number", diff);
}

/** Each rejected row's reason, as the rejects table gives it (several joined by "; "). */
export function rejectReasons(errors: FieldError[]): Map<number, string> {
  const reasons = new Map<number, string[]>();
  for (const error of errors) {
    const text = error.field ? `field "${error.field}" ${error.message}` : error.message;
    const list = reasons.get(error.row);
    if (list) list.push(text);
    else reasons.set(error.row, [text]);
  }
  return new Map([...reasons].map(([row, list]) => [row, list.join("; ")]));
}

function collectRejects(
  chunk: SourceChunk,
  errors: FieldError[],
  settings: Pick<ScoreSettings, "idColumn" | "sinceColumn">,
): RejectChunk {
  const reasons = rejectReasons(errors);
  const rows = [...reasons.keys()].sort((a, b) => a - b);
  return {
    ids: rows.map((row) => chunk.ids[row]),
    reasons: rows.map((row) => reasons.get(row)!),
    rows: rows.map((row) => JSON.stringify(rowObject(chunk, row, settings))),
  };
}

/** The row as read, under the source's own column names. */
function rowObject(
  chunk: SourceChunk,
  row: number,
  { idColumn, sinceColumn }: Pick<ScoreSettings, "idColumn" | "sinceColumn">,
): Record<string, unknown> {
  const object: Record<string, unknown> = { [idColumn]: chunk.ids[row] };
  if (sinceColumn !== undefined && chunk.since !== undefined)
    object[sinceColumn] = chunk.since[row];
  for (const [name, column] of Object.entries(chunk.columns)) object[name] = valueAt(column, row);
  return object;
}
