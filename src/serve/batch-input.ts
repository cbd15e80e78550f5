import type { ColumnarBatch, ColumnSpec } from "../model/types.js";
import {
  validateColumns,
  validateRecords,
  validateRowArrays,
  type ValidationResult,
} from "../model/validate.js";
import { badRequest, invalidInput, tooManyRows } from "./errors.js";

/** Limits every protocol applies before validating values. */
export interface InputLimits {
  maxRows: number;
}

// Enough detail to fix a request without building a huge error body for a huge bad request.
const MAX_ERRORS = 20;

export function checkRowCount(rows: number, limits: InputLimits): void {
  if (rows === 0) throw badRequest("request has no rows");
  if (rows > limits.maxRows) throw tooManyRows(rows, limits.maxRows);
}

/** Validated batch from row objects; throws a RequestError (422) naming the first bad field. */
export function batchFromRecords(
  records: ReadonlyArray<unknown>,
  schema: ColumnSpec[],
  limits: InputLimits,
  multiRow: boolean,
  coerceStrings = false,
): ColumnarBatch {
  checkRowCount(records.length, limits);
  return checked(
    validateRecords(records, schema, { maxErrors: MAX_ERRORS, coerceStrings }),
    multiRow,
  );
}

/** Validated batch from rows given as arrays (dataframe_split); a malformed row is a 400 naming it. */
export function batchFromRowArrays(
  rows: ReadonlyArray<unknown>,
  columns: string[],
  schema: ColumnSpec[],
  limits: InputLimits,
): ColumnarBatch {
  checkRowCount(rows.length, limits);
  const positions = schema.map((spec) => columns.indexOf(spec.name));
  return checked(
    validateRowArrays(rows, columns.length, positions, schema, { maxErrors: MAX_ERRORS }),
    true,
  );
}

/** The batch, or the request error: 400 for a malformed row, 422 naming the first bad field. */
function checked(result: ValidationResult, multiRow: boolean): ColumnarBatch {
  if (result.invalidRows > 0) {
    // A row of the wrong shape (not an object, a short list) is a malformed request, not a bad value.
    const first = result.errors[0];
    if (first && first.field === "") {
      throw badRequest(
        `row ${first.row} ${first.message}`,
        undefined,
        multiRow ? first.row : undefined,
      );
    }
    throw invalidInput(result.errors, result.invalidRows, multiRow);
  }
  return result.batch;
}

/** Validated batch from one array per column (dataframe_split, columnar inputs, V2 tensors, CSV). */
export function batchFromColumns(
  columns: Record<string, ArrayLike<unknown>>,
  rows: number,
  schema: ColumnSpec[],
  limits: InputLimits,
  coerceStrings = false,
): ColumnarBatch {
  checkRowCount(rows, limits);
  const result = validateColumns(columns, rows, schema, { maxErrors: MAX_ERRORS, coerceStrings });
  if (result.invalidRows > 0) throw invalidInput(result.errors, result.invalidRows, true);
  return result.batch;
}
