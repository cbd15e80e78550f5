import {
  InputValidationError,
  type Column,
  type ColumnarBatch,
  type ColumnSpec,
  type FieldError,
  type PredictionBatch,
  type PredictOptions,
  type Predictor,
} from "./types.js";

export interface ValidateOptions {
  /** Accept numbers and booleans written as strings (CSV cells, query strings). */
  coerceStrings?: boolean;
  /** Stop recording details after this many errors (invalid rows are still all counted). */
  maxErrors?: number;
}

/** Valid rows as a columnar batch, plus what was wrong with the others. */
export interface ValidationResult {
  batch: ColumnarBatch;
  /** For each batch row, its index in the input (so callers can map predictions back). */
  rowIndex: number[];
  errors: FieldError[];
  invalidRows: number;
}

type Checked = { ok: true; value: number | string | boolean } | { ok: false; message: string };

const NUMERIC = new Set(["long", "integer", "double", "float"]);

export function isNumericType(type: ColumnSpec["type"]): boolean {
  return NUMERIC.has(type);
}

/** Checks one value against its column spec; the message reads after the field name. */
export function checkValue(value: unknown, spec: ColumnSpec, coerceStrings = false): Checked {
  if (value === undefined || value === null || (coerceStrings && value === "")) {
    if (spec.required === false) return { ok: true, value: missingValue(spec) };
    return { ok: false, message: "is required" };
  }
  switch (spec.type) {
    case "long":
    case "integer":
    case "double":
    case "float":
      return checkNumber(value, spec, coerceStrings);
    case "string":
      if (typeof value === "string") return { ok: true, value };
      if (coerceStrings && (typeof value === "number" || typeof value === "boolean")) {
        return { ok: true, value: String(value) };
      }
      return { ok: false, message: `must be a string, got ${describe(value)}` };
    case "boolean":
      if (typeof value === "boolean") return { ok: true, value };
      if (coerceStrings && (value === "true" || value === "false"))
        return { ok: true, value: value === "true" };
      return { ok: false, message: `must be a boolean, got ${describe(value)}` };
  }
}

/**
 * Text taken as a number where coerceStrings is on: exactly what JSON reads as a number (RFC
 * 8259 section 6, JSON's whitespace allowed around it), so a value means the same in a CSV cell
 * or a SQL text column as in a JSON body. Decimal only: no hex, binary or octal ("0x10",
 * "0b101"), no leading zeros ("010", which some tools read as 8 and others as 10), no "+1",
 * "1." or ".5"; scientific notation ("1e5", "1.5E-3") is decimal and is accepted.
 */
export const DECIMAL_NUMBER =
  /^[ \t\n\r]*-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?[ \t\n\r]*$/;

/**
 * NaN and the infinities as databases and CSV writers spell them (PostgreSQL "NaN",
 * "-Infinity"; C and pandas "nan", "inf"): numbers, but none a model can use, so they get the
 * reason a NaN number gets rather than a type error.
 */
const NON_FINITE_TEXT = /^[ \t\n\r]*([+-]?)(nan|inf|infinity)[ \t\n\r]*$/i;

/** Largest finite float32: a larger "float" would reach the graph as Infinity. */
const FLOAT32_MAX = 3.4028234663852886e38;

function checkNumber(value: unknown, spec: ColumnSpec, coerceStrings: boolean): Checked {
  let n: number;
  if (typeof value === "number") n = value;
  else if (coerceStrings && typeof value === "string") {
    const parsed = parseNumberText(value);
    if (parsed === undefined)
      return { ok: false, message: `must be a number, got ${describe(value)}` };
    n = parsed;
    // A decimal too large for a double ("1e400") is named as written, not as Infinity.
    if (!Number.isFinite(n) && DECIMAL_NUMBER.test(value))
      return { ok: false, message: `must be a finite number, got ${describe(value)}` };
  } else return { ok: false, message: `must be a number, got ${describe(value)}` };
  // The same words for NaN whatever carried it (a JS number, "NaN" text, a database's NaN).
  if (!Number.isFinite(n)) return { ok: false, message: `must be a finite number, got ${n}` };
  const integral = spec.type === "long" || spec.type === "integer";
  if (integral && !Number.isInteger(n))
    return { ok: false, message: `must be an integer, got ${n}` };
  if (spec.type === "integer" && (n < -2147483648 || n > 2147483647)) {
    return { ok: false, message: `must fit in 32 bits, got ${n}` };
  }
  if (integral && !Number.isSafeInteger(n))
    return { ok: false, message: `must be a safe integer, got ${n}` };
  if (spec.type === "float" && Math.abs(n) > FLOAT32_MAX)
    return { ok: false, message: `must fit in a 32-bit float, got ${n}` };
  if (spec.minimum !== undefined && n < spec.minimum) {
    return { ok: false, message: `must be >= ${spec.minimum}, got ${n}` };
  }
  if (spec.maximum !== undefined && n > spec.maximum) {
    return { ok: false, message: `must be <= ${spec.maximum}, got ${n}` };
  }
  return { ok: true, value: n };
}

/**
 * The number a text stands for under DECIMAL_NUMBER, NaN or ±Infinity for NON_FINITE_TEXT,
 * undefined for any other text.
 */
export function parseNumberText(text: string): number | undefined {
  if (DECIMAL_NUMBER.test(text)) return Number(text);
  const special = NON_FINITE_TEXT.exec(text);
  if (!special) return undefined;
  if (special[2].toLowerCase() === "nan") return Number.NaN;
  return special[1] === "-" ? -Infinity : Infinity;
}

function missingValue(spec: ColumnSpec): number | string | boolean {
  if (isNumericType(spec.type)) return Number.NaN;
  return spec.type === "boolean" ? false : "";
}

function describe(value: unknown): string {
  if (typeof value === "string")
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return String(value);
}

function newColumn(spec: ColumnSpec, rows: number): Column {
  if (isNumericType(spec.type)) return new Float64Array(rows);
  return spec.type === "boolean" ? new Array<boolean>(rows) : new Array<string>(rows);
}

/**
 * Validates row-oriented input (objects keyed by column name). Extra keys are ignored, as the
 * original service ignored them (callers often send ids along with the features).
 */
export function validateRecords(
  records: ReadonlyArray<unknown>,
  schema: ColumnSpec[],
  options: ValidateOptions = {},
): ValidationResult {
  return validate(
    records.length,
    schema,
    options,
    (row, name) => {
      const record = records[row];
      return isPlainObject(record) ? record[name] : undefined;
    },
    (row) =>
      isPlainObject(records[row])
        ? undefined
        : `must be a JSON object, got ${describe(records[row])}`,
  );
}

/**
 * Validates rows given as arrays (pandas "split" orient: `data: [[10, 50, 40.0], …]`), where
 * `positions[c]` is the index of schema column c in each row (-1 when the request lacks it).
 * Reading cells in place avoids building one array per column first.
 */
export function validateRowArrays(
  rows: ReadonlyArray<unknown>,
  width: number,
  positions: number[],
  schema: ColumnSpec[],
  options: ValidateOptions = {},
): ValidationResult {
  return validate(
    rows.length,
    schema,
    options,
    (row, _name, c) => (positions[c] < 0 ? undefined : (rows[row] as unknown[])[positions[c]]),
    (row) => {
      const cells = rows[row];
      if (Array.isArray(cells) && cells.length === width) return undefined;
      const got = Array.isArray(cells) ? `${cells.length} values` : describe(cells);
      return `must be a list of ${width} values (one per column), got ${got}`;
    },
  );
}

/** Validates column-oriented input (one array per column, as in dataframe_split or V2 tensors). */
export function validateColumns(
  columns: Record<string, ArrayLike<unknown>>,
  rows: number,
  schema: ColumnSpec[],
  options: ValidateOptions = {},
): ValidationResult {
  const sources = schema.map((spec) => columns[spec.name]);
  return validate(rows, schema, options, (row, _name, c) => sources[c]?.[row]);
}

/**
 * Validates columns given as readers (`read(row)` gives a column's value, undefined or null when
 * missing), for columns whose storage is not one value per row (e.g. NaN standing for NULL).
 */
export function validateColumnReaders(
  readers: Record<string, ((row: number) => unknown) | undefined>,
  rows: number,
  schema: ColumnSpec[],
  options: ValidateOptions = {},
): ValidationResult {
  const sources = schema.map((spec) => readers[spec.name]);
  return validate(rows, schema, options, (row, _name, c) => sources[c]?.(row));
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function validate(
  rows: number,
  schema: ColumnSpec[],
  options: ValidateOptions,
  get: (row: number, name: string, columnIndex: number) => unknown,
  rowProblem?: (row: number) => string | undefined,
): ValidationResult {
  const maxErrors = options.maxErrors ?? 100;
  const coerce = options.coerceStrings ?? false;
  const columns: Column[] = schema.map((spec) => newColumn(spec, rows));
  const fastNumber = schema.map(acceptsNumber);
  const rowIndex: number[] = [];
  const errors: FieldError[] = [];
  let invalidRows = 0;
  let kept = 0;
  for (let row = 0; row < rows; row++) {
    const problem = rowProblem?.(row);
    if (problem !== undefined) {
      invalidRows++;
      if (errors.length < maxErrors) errors.push({ row, field: "", message: problem });
      continue;
    }
    let rowValid = true;
    for (let c = 0; c < schema.length; c++) {
      const spec = schema[c];
      const value = get(row, spec.name, c);
      // The common case (a plain in-range number) skips checkValue's result object: this loop
      // runs once per value of every request.
      const fast = fastNumber[c];
      if (fast !== undefined && typeof value === "number" && fast(value)) {
        (columns[c] as Float64Array)[kept] = value;
        continue;
      }
      const checked = checkValue(value, spec, coerce);
      if (checked.ok) {
        (columns[c] as unknown as Array<number | string | boolean>)[kept] = checked.value;
      } else {
        rowValid = false;
        if (errors.length < maxErrors)
          errors.push({ row, field: spec.name, message: checked.message });
      }
    }
    if (rowValid) {
      rowIndex.push(row);
      kept++;
    } else {
      invalidRows++;
    }
  }
  const batchColumns: Record<string, Column> = {};
  schema.forEach((spec, c) => {
    batchColumns[spec.name] = truncate(columns[c], kept);
  });
  return { batch: { rows: kept, columns: batchColumns }, rowIndex, errors, invalidRows };
}

/** For numeric columns, a test that a number is valid as it is (checkValue gives the reason otherwise). */
export function acceptsNumber(spec: ColumnSpec): ((n: number) => boolean) | undefined {
  if (!isNumericType(spec.type)) return undefined;
  const min = spec.minimum ?? -Infinity;
  const max = spec.maximum ?? Infinity;
  if (spec.type === "double") return (n) => n >= min && n <= max && n - n === 0;
  if (spec.type === "float") {
    const lo = Math.max(min, -FLOAT32_MAX);
    const hi = Math.min(max, FLOAT32_MAX);
    return (n) => n >= lo && n <= hi;
  }
  const lo = Math.max(min, spec.type === "integer" ? -2147483648 : Number.MIN_SAFE_INTEGER);
  const hi = Math.min(max, spec.type === "integer" ? 2147483647 : Number.MAX_SAFE_INTEGER);
  return (n) => n >= lo && n <= hi && Number.isInteger(n);
}

function truncate(column: Column, length: number): Column {
  if (column.length === length) return column;
  return column instanceof Float64Array ? column.subarray(0, length) : column.slice(0, length);
}

/**
 * Predictor.predictRecords for every predictor: validates the records against the model's
 * inputs (throwing InputValidationError), then predicts the columns through `predictor`.
 */
export async function predictRecords(
  predictor: Pick<Predictor, "info" | "predictColumns">,
  records: ReadonlyArray<Record<string, unknown>>,
  options?: PredictOptions,
): Promise<PredictionBatch> {
  const { batch, errors } = validateRecords(records, predictor.info.inputs);
  if (errors.length) throw new InputValidationError(errors);
  return predictor.predictColumns(batch, options);
}
