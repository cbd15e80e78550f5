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
import { badRequest, RequestError } from "../errors.js";

/** The four JSON input fields of MLflow's scoring protocol (MLflow 2.x and later). */
const FORMATS = ["dataframe_split", "dataframe_records", "instances", "inputs"] as const;

/**
 * Parses an MLflow /invocations JSON body into a validated batch. As MLflow does
 * (mlflow/pyfunc/scoring_server/__init__.py, `_split_data_and_params`): exactly one input
 * field must be present, other top-level keys are ignored (`params` too: ONNX models take
 * none). Numbers written as text ("10", "4.5") are read as numbers, as MLflow's cast of the
 * columns to the signature's types reads them; text that is no decimal number is refused.
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
      return batchFromRecords(value, schema, limits, true, true);
    case "instances":
    case "inputs":
      return fromTensorInput(format, value, schema, limits);
  }
}

// The keys pandas' "split" orient may have: MLflow refuses any other (mlflow/utils/proto_json_utils.py,
// dataframe_from_parsed_json).
const SPLIT_KEYS = new Set(["columns", "data", "index"]);

/**
 * pandas "split" orient: `{columns?: [...], data: [[...], ...], index?: [...]}`, checked as
 * MLflow checks it: `data` required, no other keys than these three (a 400), `index` ignored.
 * Without `columns` pandas numbers the columns 0, 1, …, and MLflow's schema enforcement then
 * finds every named input missing (400 INVALID_PARAMETER_VALUE).
 */
function fromSplit(value: unknown, schema: ColumnSpec[], limits: InputLimits): ColumnarBatch {
  if (!isPlainObject(value)) {
    const got = Array.isArray(value) ? "a list" : value === null ? "null" : typeof value;
    throw badRequest(`dataframe_split must be an object with columns and data; got ${got}`);
  }
  const keys = Object.keys(value);
  const unknown = keys.filter((key) => !SPLIT_KEYS.has(key));
  if (value.data === undefined || unknown.length > 0) {
    throw badRequest(
      `dataframe_split must have a "data" field and may have "columns" and "index"; got ${describeJson(keys)}`,
    );
  }
  const { columns, data } = value;
  if (!Array.isArray(data)) throw badRequest("dataframe_split.data must be a list of rows");
  if (columns === undefined || columns === null) {
    throw new RequestError(
      422,
      `dataframe_split has no "columns": the model's inputs ${schema.map((s) => s.name).join(", ")} are missing (name them in "columns")`,
    );
  }
  if (!Array.isArray(columns) || !columns.every((c) => typeof c === "string")) {
    throw badRequest("dataframe_split.columns must be a list of column names");
  }
  return batchFromRowArrays(data, columns, schema, limits, true);
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
    return batchFromRecords(value, schema, limits, true, true);
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
  return batchFromColumns(columns, rows, schema, limits, true);
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
