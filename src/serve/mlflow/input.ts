import type { Readable } from "node:stream";
import type { ColumnarBatch, ColumnSpec } from "../../model/types.js";
import { isPlainObject } from "../../model/validate.js";
import {
  BatchBuilder,
  batchFromColumns,
  batchFromRecords,
  batchFromRowArrays,
  type InputLimits,
} from "../records-input.js";
import { readCsv, type CsvLimits } from "./csv.js";
import { describeJson } from "../describe.js";
import { badRequest } from "../errors.js";

/** The four JSON input fields of MLflow's scoring protocol (MLflow 2.x and later). */
const FORMATS = ["dataframe_split", "dataframe_records", "instances", "inputs"] as const;

/**
 * Parses an MLflow /invocations JSON body into a validated batch. As MLflow does, exactly one
 * input field must be present; `params` is accepted and ignored (ONNX models take none).
 */
export function batchFromMlflowJson(
  body: unknown,
  schema: ColumnSpec[],
  limits: InputLimits,
): ColumnarBatch {
  if (!isPlainObject(body)) {
    const got = Array.isArray(body) ? "a list" : body === null ? "null" : typeof body;
    throw badRequest(
      `the body must be a JSON object with exactly one of the fields ${FORMATS.join(", ")}; got ${got}`,
    );
  }
  const present = FORMATS.filter((key) => body[key] !== undefined);
  if (present.length !== 1) {
    throw badRequest(
      `the body must have exactly one of the fields ${FORMATS.join(", ")}; got ${present.length ? present.join(", ") : `fields ${describeJson(Object.keys(body))}`}`,
    );
  }
  const format = present[0];
  const value = body[format];
  switch (format) {
    case "dataframe_split":
      return fromSplit(value, schema, limits);
    case "dataframe_records":
      if (!Array.isArray(value)) throw badRequest("dataframe_records must be a list of objects");
      return batchFromRecords(value, schema, limits, true);
    case "instances":
    case "inputs":
      return fromTensorInput(format, value, schema, limits);
  }
}

/** pandas "split" orient: `{columns: [...], data: [[...], ...], index?: [...]}`. */
function fromSplit(value: unknown, schema: ColumnSpec[], limits: InputLimits): ColumnarBatch {
  if (!isPlainObject(value))
    throw badRequest("dataframe_split must be an object with columns and data");
  const { columns, data } = value;
  if (!Array.isArray(columns) || !columns.every((c) => typeof c === "string")) {
    throw badRequest("dataframe_split.columns must be a list of column names");
  }
  if (!Array.isArray(data)) throw badRequest("dataframe_split.data must be a list of rows");
  return batchFromRowArrays(data, columns, schema, limits);
}

/**
 * TF-serving style `instances` / `inputs`: a list of row objects, or (columnar) an object of
 * equally long lists keyed by column name.
 */
function fromTensorInput(
  format: string,
  value: unknown,
  schema: ColumnSpec[],
  limits: InputLimits,
): ColumnarBatch {
  if (Array.isArray(value)) {
    if (value.length > 0 && !isPlainObject(value[0])) {
      throw badRequest(
        `${format} must hold objects keyed by column name (this model has named columns: ${schema.map((s) => s.name).join(", ")})`,
      );
    }
    return batchFromRecords(value, schema, limits, true);
  }
  if (!isPlainObject(value))
    throw badRequest(`${format} must be a list of row objects or an object of column lists`);
  let rows: number | undefined;
  const columns: Record<string, ArrayLike<unknown>> = {};
  for (const spec of schema) {
    const column = value[spec.name];
    if (column === undefined) continue;
    if (!Array.isArray(column))
      throw badRequest(`${format}.${spec.name} must be a list of values`, spec.name);
    if (rows !== undefined && column.length !== rows) {
      throw badRequest(
        `${format}.${spec.name} has ${column.length} values but other columns have ${rows}`,
        spec.name,
      );
    }
    rows = column.length;
    columns[spec.name] = column;
  }
  if (rows === undefined) {
    throw badRequest(
      `${format} has none of the model's columns (${schema.map((s) => s.name).join(", ")})`,
    );
  }
  return batchFromColumns(columns, rows, schema, limits);
}

/** CSV with a header row, as pandas.DataFrame.to_csv writes it; cells are coerced by column type. */
export async function batchFromMlflowCsv(
  body: Readable,
  schema: ColumnSpec[],
  limits: InputLimits & CsvLimits,
): Promise<ColumnarBatch> {
  const builder = new BatchBuilder(schema, limits, true);
  await readCsv(body, limits, {
    header: (names) => builder.header(names),
    row: (cells) => builder.add(cells),
    expect: (rows) => builder.expect(rows),
  });
  return builder.finish();
}
