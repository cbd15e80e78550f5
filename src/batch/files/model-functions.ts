import {
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
import { doubleData, isInt64Type, type ColumnRef } from "./source.js";
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

/** What the functions saw, for the job's counts and logs. */
export interface FunctionTally {
  /** Rows the model predicted. */
  predicted: number;
}

/**
 * Registers on `connection`:
 * - mldeploy_predict(inputs…) → DOUBLE: the model's prediction, NULL for a row that fails the
 *   model's input schema (validated exactly as the chunk pipeline and the web service do);
 * - mldeploy_reject_reason(inputs…) → VARCHAR: why such a row is rejected, NULL for a valid one.
 * The inputs are the model's request columns in schema order, passed through modelArgument().
 */
export function registerModelFunctions(
  connection: DuckDBConnection,
  schema: ColumnSpec[],
  argumentTypes: DuckDBType[],
  model: RemotePredictor,
): FunctionTally {
  const tally: FunctionTally = { predicted: 0 };
  const validate = (input: DuckDBDataChunk, maxErrors: number): ValidationResult => {
    const readers: Record<string, (row: number) => unknown> = {};
    schema.forEach((spec, i) => {
      readers[spec.name] = reader(input.getColumnVector(i));
    });
    return validateColumnReaders(readers, input.rowCount, schema, {
      coerceStrings: true,
      maxErrors,
    });
  };
  connection.registerScalarFunction(
    DuckDBScalarFunction.create({
      name: PREDICT_FUNCTION,
      returnType: DOUBLE,
      parameterTypes: argumentTypes,
      // NULL inputs must reach validation (a missing field is a reject with its reason).
      specialHandling: true,
      mainFunction: (info, input, output) => {
        try {
          const validation = validate(input, 0);
          const values = model.predictSync(validation.batch);
          tally.predicted += values.length;
          const raw = doubleData(output);
          const kept = validation.rowIndex;
          for (let row = 0, k = 0; row < input.rowCount; row++) {
            if (k < kept.length && kept[k] === row) {
              if (raw) raw.items[row] = values[k];
              else output.setItem(row, values[k]);
              k++;
            } else {
              output.setItem(row, null);
            }
          }
          output.flush();
        } catch (error) {
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
          const reasons = rejectReasons(validate(input, Number.MAX_SAFE_INTEGER).errors);
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

/** Row values of an argument vector as validation expects them (NULL and NaN as null). */
function reader(vector: DuckDBVector): (row: number) => unknown {
  const raw = doubleData(vector);
  if (raw === undefined) return (row) => vector.getItem(row);
  const { items, valid } = raw;
  return (row) => {
    if (valid !== undefined && (valid[row >>> 5] & (1 << (row & 31))) === 0) return null;
    const value = items[row];
    return value === value ? value : null;
  };
}
