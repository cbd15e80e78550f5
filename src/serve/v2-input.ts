import type { ColumnarBatch, ColumnSpec, ColumnType } from "../model/types.js";
import { isPlainObject } from "../model/validate.js";
import { batchFromColumns, checkRowCount, type InputLimits } from "./batch-input.js";
import { badRequest } from "./errors.js";

/** Open Inference Protocol tensor datatype of each column type (used in model metadata). */
export const v2Datatype: Record<ColumnType, string> = {
  long: "INT64",
  integer: "INT32",
  double: "FP64",
  float: "FP32",
  string: "BYTES",
  boolean: "BOOL",
};

const NUMERIC_DATATYPES = new Set([
  "INT8",
  "INT16",
  "INT32",
  "INT64",
  "UINT8",
  "UINT16",
  "UINT32",
  "UINT64",
  "FP16",
  "FP32",
  "FP64",
]);

/** Datatypes a column accepts: any numeric tensor for a numeric column (values are range-checked). */
function accepts(type: ColumnType, datatype: string): boolean {
  if (type === "string") return datatype === "BYTES";
  if (type === "boolean") return datatype === "BOOL";
  return NUMERIC_DATATYPES.has(datatype);
}

export interface V2Request {
  id?: string;
  batch: ColumnarBatch;
}

/**
 * Reads an inference request: each model column is a named tensor of shape [n] or [n, 1]
 * (data flat or nested, row-major). Structure problems are 400s naming the tensor; value
 * problems are left to schema validation (422 naming the column and row).
 */
export function parseV2Request(
  body: unknown,
  schema: ColumnSpec[],
  output: string,
  limits: InputLimits,
): V2Request {
  if (!isPlainObject(body))
    throw badRequest('the inference request must be a JSON object with an "inputs" list');
  const { id, inputs, outputs } = body;
  if (id !== undefined && typeof id !== "string") throw badRequest('"id" must be a string');
  if (!Array.isArray(inputs) || inputs.length === 0)
    throw badRequest('"inputs" must be a non-empty list of tensors');
  if (outputs !== undefined) checkRequestedOutputs(outputs, output);

  const specs = new Map(schema.map((spec) => [spec.name, spec]));
  const columns: Record<string, ArrayLike<unknown>> = {};
  let rows: number | undefined;
  for (let i = 0; i < inputs.length; i++) {
    const tensor: unknown = inputs[i];
    if (!isPlainObject(tensor)) throw badRequest(`inputs[${i}] must be a tensor object`);
    const { name, datatype, shape, data } = tensor;
    if (typeof name !== "string") throw badRequest(`inputs[${i}].name must be a string`);
    const spec = specs.get(name);
    if (!spec)
      throw badRequest(
        `input "${name}" is not an input of this model (inputs: ${schema.map((s) => s.name).join(", ")})`,
        name,
      );
    if (columns[name] !== undefined) throw badRequest(`input "${name}" is given twice`, name);
    if (typeof datatype !== "string")
      throw badRequest(`input "${name}": datatype must be a string`, name);
    if (!accepts(spec.type, datatype)) {
      throw badRequest(
        `input "${name}": datatype ${datatype} does not fit a ${spec.type} column (expected ${v2Datatype[spec.type]})`,
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
  }
  for (const spec of schema) {
    if (columns[spec.name] === undefined && spec.required !== false)
      throw badRequest(`input "${spec.name}" is missing`, spec.name);
  }
  return { id, batch: batchFromColumns(columns, rows ?? 0, schema, limits) };
}

function checkRequestedOutputs(outputs: unknown, output: string): void {
  if (!Array.isArray(outputs)) throw badRequest('"outputs" must be a list');
  for (const requested of outputs) {
    const name: unknown = isPlainObject(requested) ? requested.name : undefined;
    if (name !== output)
      throw badRequest(
        `output ${JSON.stringify(name)} is not produced by this model (outputs: ${output})`,
      );
  }
}

function rowsOfShape(name: string, shape: unknown): number {
  const valid =
    Array.isArray(shape) &&
    (shape.length === 1 || (shape.length === 2 && shape[1] === 1)) &&
    Number.isSafeInteger(shape[0]) &&
    (shape[0] as number) >= 0;
  if (!valid) {
    throw badRequest(
      `input "${name}": shape must be [n] or [n, 1] (one value per row), got ${JSON.stringify(shape)}`,
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
