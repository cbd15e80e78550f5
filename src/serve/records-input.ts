/**
 * Request rows into a validated columnar batch, whatever the protocol: records (objects by
 * column name), row arrays and columns, with the row limit and the 400/422 errors every
 * protocol shares. (Not batch mode: that is src/batch/.)
 */
import type { Column, ColumnarBatch, ColumnSpec, FieldError } from "../model/types.js";
import {
  checkValue,
  isNumericType,
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
  coerceStrings = false,
): ColumnarBatch {
  checkRowCount(rows.length, limits);
  const positions = schema.map((spec) => columns.indexOf(spec.name));
  return checked(
    validateRowArrays(rows, columns.length, positions, schema, {
      maxErrors: MAX_ERRORS,
      coerceStrings,
    }),
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

/**
 * A validated batch built row by row as a body streams in (CSV), with the answers
 * batchFromColumns gives: row-major errors, the first MAX_ERRORS kept, every invalid row
 * counted. Values go straight into one buffer per column, so memory holds the request's
 * numbers (8 bytes each) and little else; once a row is invalid they are dropped, since the
 * request is answered 422 anyway.
 */
export class BatchBuilder {
  private positions: number[] = [];
  private rows = 0;
  private columns: ColumnBuffer[] | undefined;
  private readonly errors: FieldError[] = [];
  private invalidRows = 0;

  constructor(
    private readonly schema: ColumnSpec[],
    private readonly limits: InputLimits,
    private readonly coerceStrings: boolean,
  ) {
    this.columns = schema.map((spec) => new ColumnBuffer(isNumericType(spec.type)));
  }

  /** The request's column names: schema columns it lacks are "required" in every row. */
  header(names: string[]): void {
    this.positions = this.schema.map((spec) => names.indexOf(spec.name));
  }

  /** How many rows are likely to come: numeric columns are then sized once, not grown. */
  expect(rows: number): void {
    for (const column of this.columns ?? []) column.reserve(Math.min(rows, this.limits.maxRows));
  }

  /** One row: its cells in header order. */
  add(cells: ReadonlyArray<unknown>): void {
    const row = this.rows++;
    let valid = true;
    for (let c = 0; c < this.schema.length; c++) {
      const spec = this.schema[c];
      const position = this.positions[c];
      const checked = checkValue(
        position < 0 ? undefined : cells[position],
        spec,
        this.coerceStrings,
      );
      if (checked.ok) this.columns?.[c].push(checked.value);
      else {
        valid = false;
        if (this.errors.length < MAX_ERRORS)
          this.errors.push({ row, field: spec.name, message: checked.message });
      }
    }
    if (!valid) {
      this.invalidRows++;
      this.columns = undefined;
    }
  }

  /** The batch, or the request error as batchFromColumns gives it. */
  finish(): ColumnarBatch {
    checkRowCount(this.rows, this.limits);
    if (this.invalidRows > 0 || this.columns === undefined)
      throw invalidInput(this.errors, this.invalidRows, true);
    const columns: Record<string, Column> = {};
    for (const [c, spec] of this.schema.entries()) columns[spec.name] = this.columns[c].done();
    return { rows: this.rows, columns };
  }
}

/** A growing column: numbers in a Float64Array (8 bytes a value), strings and booleans in a list. */
class ColumnBuffer {
  private numbers = new Float64Array(0);
  private readonly values: Array<string | boolean> = [];
  private length = 0;

  constructor(private readonly numeric: boolean) {}

  reserve(capacity: number): void {
    if (!this.numeric || capacity <= this.numbers.length) return;
    const larger = new Float64Array(capacity);
    larger.set(this.numbers.subarray(0, this.length));
    this.numbers = larger;
  }

  push(value: number | string | boolean): void {
    if (!this.numeric) {
      this.values.push(value as string | boolean);
      return;
    }
    // 1.5x rather than 2x: the numbers of a request may take more memory than its body.
    if (this.length === this.numbers.length)
      this.reserve(Math.max(1024, Math.ceil(this.length * 1.5)));
    this.numbers[this.length++] = value as number;
  }

  done(): Column {
    return this.numeric ? this.numbers.subarray(0, this.length) : (this.values as Column);
  }
}
