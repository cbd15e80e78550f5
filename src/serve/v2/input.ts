import type { ColumnarBatch, ColumnSpec, ColumnType } from "../../model/types.js";
import { isPlainObject } from "../../model/validate.js";
import { batchFromColumns, checkRowCount, type InputLimits } from "../records-input.js";
import { clip, describeJson } from "../describe.js";
import { badRequest } from "../errors.js";

/** Open Inference Protocol tensor datatype of each column type (used in model metadata). */
export const v2Datatype: Record<ColumnType, string> = {
  long: "INT64",
  integer: "INT32",
  double: "FP64",
  float: "FP32",
  string: "BYTES",
  boolean: "BOOL",
};

/** What each numeric tensor datatype can hold, as Triton and KServe check it. */
interface NumericRange {
  min: number;
  max: number;
  integer: boolean;
  /** The range as written in the error (the INT64 and UINT64 bounds are not doubles). */
  text: string;
}
const int = (min: number, max: number, text = `${min} to ${max}`): NumericRange => ({
  min,
  max,
  integer: true,
  text,
});
const float = (max: number): NumericRange => ({
  min: -max,
  max,
  integer: false,
  text: `-${max} to ${max}`,
});
const NUMERIC_RANGES: Record<string, NumericRange> = {
  INT8: int(-128, 127),
  INT16: int(-32768, 32767),
  INT32: int(-2147483648, 2147483647),
  // 2 ** 63 does not fit; the next double below it (2 ** 63 - 1024) does.
  INT64: int(-(2 ** 63), 2 ** 63 - 1024, "-9223372036854775808 to 9223372036854775807"),
  UINT8: int(0, 255),
  UINT16: int(0, 65535),
  UINT32: int(0, 4294967295),
  UINT64: int(0, 2 ** 64 - 2048, "0 to 18446744073709551615"),
  // The largest finite half, single and double floats.
  FP16: float(65504),
  FP32: float(3.4028234663852886e38),
  FP64: float(Number.MAX_VALUE),
};
const NUMERIC_DATATYPES = new Set(Object.keys(NUMERIC_RANGES));

/** Datatypes a column accepts: any numeric tensor for a numeric column (values are range-checked). */
function accepts(type: ColumnType, datatype: string): boolean {
  if (type === "string") return datatype === "BYTES";
  if (type === "boolean") return datatype === "BOOL";
  return NUMERIC_DATATYPES.has(datatype);
}

export interface V2Request {
  id?: string;
  batch: ColumnarBatch;
  /**
   * The outputs the request names in "outputs", each once, in its order; undefined when it
   * names none, which asks for all of the model's outputs (Open Inference Protocol).
   */
  outputs?: string[];
}

/**
 * Reads an inference request: each model column is a named tensor of shape [n] or [n, 1]
 * (data flat or nested, row-major). Structure problems are 400s naming the tensor; value
 * problems are left to schema validation (422 naming the column and row).
 */
export function parseV2Request(
  body: unknown,
  schema: ColumnSpec[],
  /** The model's outputs (the primary one first). */
  modelOutputs: string | readonly string[],
  limits: InputLimits,
): V2Request {
  if (!isPlainObject(body))
    throw badRequest('the inference request must be a JSON object with an "inputs" list');
  const { id, inputs, outputs } = body;
  if (id !== undefined && typeof id !== "string") throw badRequest('"id" must be a string');
  if (!Array.isArray(inputs) || inputs.length === 0)
    throw badRequest('"inputs" must be a non-empty list of tensors');
  const requested =
    outputs === undefined
      ? undefined
      : requestedOutputs(outputs, typeof modelOutputs === "string" ? [modelOutputs] : modelOutputs);

  const specs = new Map(schema.map((spec) => [spec.name, spec]));
  const columns: Record<string, ArrayLike<unknown>> = {};
  const datatypes = new Map<string, string>();
  let rows: number | undefined;
  for (let i = 0; i < inputs.length; i++) {
    const tensor: unknown = inputs[i];
    if (!isPlainObject(tensor)) throw badRequest(`inputs[${i}] must be a tensor object`);
    const { name, datatype, shape, data } = tensor;
    if (typeof name !== "string") throw badRequest(`inputs[${i}].name must be a string`);
    const spec = specs.get(name);
    if (!spec)
      throw badRequest(
        `input "${clip(name)}" is not an input of this model (inputs: ${schema.map((s) => s.name).join(", ")})`,
        clip(name),
      );
    if (columns[name] !== undefined) throw badRequest(`input "${name}" is given twice`, name);
    if (typeof datatype !== "string")
      throw badRequest(`input "${name}": datatype must be a string`, name);
    if (!accepts(spec.type, datatype)) {
      throw badRequest(
        `input "${name}": datatype ${clip(datatype)} does not fit a ${spec.type} column (expected ${v2Datatype[spec.type]})`,
        name,
      );
    }
    const length = rowsOfShape(name, shape);
    if (rows !== undefined && length !== rows)
      throw badRequest(`input "${name}" has ${length} rows but other inputs have ${rows}`, name);
    if (rows === undefined) checkRowCount(length, limits);
    rows = length;
    const flat = flatten(name, data, length);
    if (flat.length !== length) {
      throw badRequest(
        `input "${name}": shape says ${length} elements but data has ${flat.length}`,
        name,
      );
    }
    columns[name] = flat;
    datatypes.set(name, datatype);
  }
  for (const spec of schema) {
    if (columns[spec.name] === undefined && spec.required !== false)
      throw badRequest(`input "${spec.name}" is missing`, spec.name);
  }
  // Values the column cannot take are a 422 naming the field; values the column takes but
  // the tensor's own datatype cannot hold (300 in UINT8) make a malformed tensor: a 400.
  const batch = batchFromColumns(columns, rows ?? 0, schema, limits);
  for (const [name, datatype] of datatypes) checkDatatype(name, datatype, columns[name]);
  // An empty list names no output: all of them, as when "outputs" is absent.
  return requested?.length ? { id, batch, outputs: requested } : { id, batch };
}

/** Every value of a tensor fits its datatype (range, and integers for the integer types). */
function checkDatatype(name: string, datatype: string, values: ArrayLike<unknown>): void {
  const range = NUMERIC_RANGES[datatype];
  const wanted = range ? "number" : datatype === "BOOL" ? "boolean" : "string";
  for (let row = 0; row < values.length; row++) {
    const value = values[row];
    // A missing value of an optional column.
    if (value === null || value === undefined) continue;
    if (typeof value !== wanted) {
      throw badRequest(
        `input "${name}": row ${row} holds ${describeJson(value)}, not a ${wanted} as ${datatype} requires`,
        name,
        row,
      );
    }
    if (range === undefined) continue;
    const n = value as number;
    if (n < range.min || n > range.max) {
      throw badRequest(
        `input "${name}": ${n} (row ${row}) is outside the range of ${datatype} (${range.text})`,
        name,
        row,
      );
    }
    if (range.integer && !Number.isInteger(n)) {
      throw badRequest(
        `input "${name}": ${n} (row ${row}) is not an integer, as ${datatype} requires`,
        name,
        row,
      );
    }
  }
}

function requestedOutputs(outputs: unknown, produced: readonly string[]): string[] {
  if (!Array.isArray(outputs)) throw badRequest('"outputs" must be a list');
  const names: string[] = [];
  for (const requested of outputs) {
    const name: unknown = isPlainObject(requested) ? requested.name : undefined;
    if (typeof name !== "string" || !produced.includes(name))
      throw badRequest(
        `output ${describeJson(name)} is not produced by this model (outputs: ${produced.join(", ")})`,
      );
    if (!names.includes(name)) names.push(name);
  }
  return names;
}

function rowsOfShape(name: string, shape: unknown): number {
  const valid =
    Array.isArray(shape) &&
    (shape.length === 1 || (shape.length === 2 && shape[1] === 1)) &&
    Number.isSafeInteger(shape[0]) &&
    (shape[0] as number) >= 0;
  if (!valid) {
    throw badRequest(
      `input "${name}": shape must be [n] or [n, 1] (one value per row), got ${describeJson(shape)}`,
      name,
    );
  }
  return (shape as number[])[0];
}

/** Row-major flattening of [n] or [n, 1] data; nested rows must hold exactly one element. */
function flatten(name: string, data: unknown, rows: number): unknown[] {
  if (!Array.isArray(data)) throw badRequest(`input "${name}": data must be a list`, name);
  if (data.length !== rows || !data.some(Array.isArray)) return data;
  return data.map((cell: unknown, row) => {
    if (!Array.isArray(cell)) return cell;
    if (cell.length !== 1)
      throw badRequest(
        `input "${name}": row ${row} has ${cell.length} elements, expected 1`,
        name,
        row,
      );
    return cell[0] as unknown;
  });
}
