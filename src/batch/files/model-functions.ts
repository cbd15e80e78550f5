import {
  BIGINT,
  BOOLEAN,
  DOUBLE,
  DuckDBScalarFunction,
  VARCHAR,
  type DuckDBConnection,
  type DuckDBDataChunk,
  type DuckDBType,
  type DuckDBVector,
} from "@duckdb/node-api";
import type { ColumnSpec } from "../../model/types.js";
import { validateColumnReaders, type ValidationResult } from "../../model/validate.js";
import { rejectReasons } from "../score.js";
import { doubleData, isInt64Type } from "../../duckdb/vectors.js";
import type { ColumnRef } from "./source.js";
import type { RemotePredictor } from "./remote-predictor.js";

/** The SQL names of the functions registered by registerModelFunctions(). */
export const PREDICT_FUNCTION = "mldeploy_predict";
export const REJECT_REASON_FUNCTION = "mldeploy_reject_reason";

interface Argument {
  /** The argument as passed to the functions, over a column reference. */
  sql(ref: string): string;
  type: DuckDBType;
}

/**
 * How a model input column travels into the functions: numbers as DOUBLE (the form validation
 * gets from the chunk reader too), text and booleans as they are. Undefined for other types
 * (timestamps, lists…), which the chunk pipeline scores instead.
 */
export function modelArgument(column: ColumnRef): Argument | undefined {
  if (isInt64Type(column.type) || /^(FLOAT|DOUBLE|DECIMAL.*)$/.test(column.type))
    return { sql: (ref) => `CAST(${ref} AS DOUBLE)`, type: DOUBLE };
  if (column.type === "VARCHAR") return { sql: (ref) => ref, type: VARCHAR };
  if (column.type === "BOOLEAN") return { sql: (ref) => ref, type: BOOLEAN };
  return undefined;
}

/** What the predict function saw; the caller empties it between statements. */
export interface FunctionTally {
  /** The row numbers (its first argument) of the rows it rejected, in no particular order. */
  rejected: number[];
}

/**
 * Registers on `connection`:
 * - mldeploy_predict(row, inputs…) → DOUBLE (VARCHAR for a classifier's text labels, `text`):
 *   the model's prediction, NULL for a row that fails
 *   the model's input schema (validated exactly as the chunk pipeline and the web service do).
 *   `row` (BIGINT) names the row: a rejected one is recorded in the tally, so that the rejects
 *   can be found again without predicting twice. Recording is a side effect, so the function
 *   is declared volatile: the optimizer may not copy a call into a filter, nor drop one;
 * - mldeploy_reject_reason(inputs…) → VARCHAR: why such a row is rejected, NULL for a valid one.
 * The inputs are the model's request columns in schema order, passed through modelArgument().
 */
export function registerModelFunctions(
  connection: DuckDBConnection,
  schema: ColumnSpec[],
  argumentTypes: DuckDBType[],
  model: RemotePredictor,
  text = false,
): FunctionTally {
  const tally: FunctionTally = { rejected: [] };
  /** Validates `count` rows from `offset` of the inputs, which start at column `first`. */
  const validate = (
    input: DuckDBDataChunk,
    first: number,
    offset: number,
    count: number,
    maxErrors: number,
  ): ValidationResult => {
    const readers: Record<string, (row: number) => unknown> = {};
    schema.forEach((spec, i) => {
      readers[spec.name] = reader(input.getColumnVector(first + i), offset);
    });
    return validateColumnReaders(readers, count, schema, { coerceStrings: true, maxErrors });
  };
  connection.registerScalarFunction(
    DuckDBScalarFunction.create({
      name: PREDICT_FUNCTION,
      returnType: text ? VARCHAR : DOUBLE,
      parameterTypes: [BIGINT, ...argumentTypes],
      // NULL inputs must reach validation (a missing field is a reject with its reason).
      specialHandling: true,
      volatile: true,
      mainFunction: (info, input, output) => {
        try {
          // DuckDB waits on this function, so its time is the job's. The vector goes to the
          // model in one slice per worker thread, predicted in parallel: this thread validates
          // the next slice meanwhile, then writes the answers as they come back.
          const rows = input.rowCount;
          const size = Math.ceil(rows / model.threads);
          const slices: Array<{ offset: number; kept: number[] }> = [];
          for (let offset = 0; offset < rows; offset += size) {
            const validation = validate(input, 1, offset, Math.min(size, rows - offset), 0);
            model.submit(validation.batch);
            slices.push({ offset, kept: validation.rowIndex });
          }
          const raw = text ? undefined : doubleData(output);
          const rowNumbers = input.getColumnVector(0);
          for (const { offset, kept } of slices) {
            const values = model.take();
            const end = Math.min(offset + size, rows);
            for (let row = offset, k = 0; row < end; row++) {
              if (k < kept.length && kept[k] === row - offset) {
                if (raw) raw.items[row] = values[k] as number;
                else output.setItem(row, values[k]);
                k++;
              } else {
                output.setItem(row, null);
                tally.rejected.push(Number(rowNumbers.getItem(row)));
              }
            }
          }
          output.flush();
        } catch (error) {
          model.discardAnswers();
          info.setError((error as Error).message);
        }
      },
    }),
  );
  connection.registerScalarFunction(
    DuckDBScalarFunction.create({
      name: REJECT_REASON_FUNCTION,
      returnType: VARCHAR,
      parameterTypes: argumentTypes,
      specialHandling: true,
      mainFunction: (info, input, output) => {
        try {
          const reasons = rejectReasons(
            validate(input, 0, 0, input.rowCount, Number.MAX_SAFE_INTEGER).errors,
          );
          for (let row = 0; row < input.rowCount; row++) {
            output.setItem(row, reasons.get(row) ?? null);
          }
          output.flush();
        } catch (error) {
          info.setError((error as Error).message);
        }
      },
    }),
  );
  return tally;
}

/**
 * Values of an argument vector from row `offset` on, as validation expects them: NULL (by the
 * validity mask) as null, a real NaN as NaN, so it is rejected as "not a finite number" rather
 * than as missing, as every other source reports it.
 */
function reader(vector: DuckDBVector, offset: number): (row: number) => unknown {
  const raw = doubleData(vector);
  if (raw === undefined) return (slice) => vector.getItem(offset + slice);
  const { items, valid } = raw;
  return (slice) => {
    const row = offset + slice;
    if (valid !== undefined && (valid[row >>> 5] & (1 << (row & 31))) === 0) return null;
    return items[row];
  };
}
