import type { ColumnarBatch, ColumnSpec, ModelInfo, PredictionBatch } from "../../model/types.js";
import { acceptsNumber } from "../../model/validate.js";
import { batchFromColumns, checkRowCount, type InputLimits } from "../records-input.js";
import { clip, describeJson } from "../describe.js";
import { badRequest } from "../errors.js";
import { checkDatatype, datatypeFits, v2Datatype } from "./datatypes.js";

/**
 * The inference request of the Open Inference Protocol once a front-end has read it, whatever
 * its wire form: a JSON body, JSON with the binary tensor extension, or a gRPC ModelInferRequest.
 * The front-ends check their own envelope; everything the protocol says about tensors is
 * checked once, here.
 */
export interface InputTensor {
  name: string;
  datatype: string;
  /** As sent: checked here to be [n] or [n, 1] (one value per row). */
  shape: unknown;
  /**
   * The elements, row-major and flat: JSON values (numbers, strings, booleans, null), or what
   * raw bytes decode to (see raw-tensor.ts).
   */
  data: ArrayLike<unknown>;
}

/** An output a request names, with its parameters (e.g. binary_data), each name once. */
export interface RequestedOutput {
  name: string;
  parameters?: Record<string, unknown>;
}

/** The response's tensors before a front-end writes them (JSON, binary extension, gRPC). */
export interface OutputTensor {
  name: string;
  datatype: "FP64" | "INT64" | "BYTES";
  shape: number[];
  /** Row-major elements: numbers for FP64 and INT64, strings for BYTES. */
  data: ArrayLike<number> | readonly string[];
}

/** Rows of a tensor of shape [n] or [n, 1]; 400 naming the tensor for any other shape. */
export function rowsOfShape(name: string, shape: unknown): number {
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

/**
 * The validated batch of the request's tensors: each model column one named tensor of shape
 * [n] or [n, 1]. Structure problems (unknown or repeated input, a datatype the column cannot
 * take, shapes that disagree, too few or too many elements, a value the datatype cannot hold)
 * are 400s naming the tensor; values the column refuses are 422s naming the column and row.
 */
export function batchFromTensors(
  tensors: readonly InputTensor[],
  schema: ColumnSpec[],
  limits: InputLimits,
): ColumnarBatch {
  if (tensors.length === 0) throw badRequest('"inputs" must be a non-empty list of tensors');
  const specs = new Map(schema.map((spec) => [spec.name, spec]));
  const columns: Record<string, ArrayLike<unknown>> = {};
  const datatypes = new Map<string, string>();
  let rows: number | undefined;
  for (const tensor of tensors) {
    const { name, datatype } = tensor;
    const spec = specs.get(name);
    if (!spec)
      throw badRequest(
        `input "${clip(name)}" is not an input of this model (inputs: ${schema.map((s) => s.name).join(", ")})`,
        clip(name),
      );
    if (columns[name] !== undefined) throw badRequest(`input "${name}" is given twice`, name);
    if (!datatypeFits(spec.type, datatype)) {
      throw badRequest(
        `input "${name}": datatype ${clip(datatype)} does not fit a ${spec.type} column (expected ${v2Datatype[spec.type]})`,
        name,
      );
    }
    const length = rowsOfShape(name, tensor.shape);
    if (rows !== undefined && length !== rows)
      throw badRequest(`input "${name}" has ${length} rows but other inputs have ${rows}`, name);
    if (rows === undefined) checkRowCount(length, limits);
    rows = length;
    if (tensor.data.length !== length) {
      throw badRequest(
        `input "${name}": shape says ${length} elements but data has ${tensor.data.length}`,
        name,
      );
    }
    columns[name] = tensor.data;
    datatypes.set(name, datatype);
  }
  for (const spec of schema) {
    if (columns[spec.name] === undefined && spec.required !== false)
      throw badRequest(`input "${spec.name}" is missing`, spec.name);
  }
  // Values the column cannot take are a 422 naming the field; values the column takes but
  // the tensor's own datatype cannot hold (300 in UINT8) make a malformed tensor: a 400.
  const batch =
    validNumberColumns(columns, rows ?? 0, schema) ??
    batchFromColumns(columns, rows ?? 0, schema, limits);
  for (const [name, datatype] of datatypes) checkDatatype(name, datatype, columns[name]);
  return batch;
}

/**
 * The batch as it is when every column is numeric, came as raw bytes (a typed array) and holds
 * only values the column takes: one tight loop per column instead of validation per value
 * (the binary extension's and gRPC raw contents' fast path). Undefined otherwise, and then
 * batchFromColumns validates, and words the errors, as for any request.
 */
function validNumberColumns(
  columns: Record<string, ArrayLike<unknown>>,
  rows: number,
  schema: ColumnSpec[],
): ColumnarBatch | undefined {
  const valid: Record<string, Float64Array> = {};
  for (const spec of schema) {
    const data = columns[spec.name];
    const accepts = acceptsNumber(spec);
    if (accepts === undefined || !isNumberArray(data)) return undefined;
    const values = data instanceof Float64Array ? data : Float64Array.from(data);
    if (!acceptsAll(values, accepts)) return undefined;
    valid[spec.name] = values;
  }
  return { rows, columns: valid };
}

/**
 * Whether a column's test accepts every value, asking it about three values only: what a
 * column accepts is an interval of finite numbers (of integers, for integer columns), so it
 * accepts them all when it accepts the smallest, the largest and any one non-integer, and there
 * is no NaN. One call-free pass over the values.
 */
function acceptsAll(values: Float64Array, accepts: (n: number) => boolean): boolean {
  if (values.length === 0) return true;
  let min = Infinity;
  let max = -Infinity;
  let nan = false;
  let fraction: number | undefined;
  for (let i = 0; i < values.length; i++) {
    const n = values[i];
    if (n < min) min = n;
    if (n > max) max = n;
    if (n !== Math.floor(n)) {
      if (n !== n) nan = true;
      else fraction = n;
    }
  }
  return !nan && accepts(min) && accepts(max) && (fraction === undefined || accepts(fraction));
}

type NumberArray =
  | Float64Array
  | Float32Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array;

function isNumberArray(data: ArrayLike<unknown> | undefined): data is NumberArray {
  return (
    data instanceof Float64Array ||
    data instanceof Float32Array ||
    data instanceof Int32Array ||
    data instanceof Uint32Array ||
    data instanceof Int16Array ||
    data instanceof Uint16Array ||
    data instanceof Int8Array ||
    data instanceof Uint8Array
  );
}

/** The model's outputs, the primary one first. */
export function modelOutputs(info: ModelInfo): string[] {
  return info.probabilities ? [info.output, info.probabilities.name] : [info.output];
}

/**
 * The outputs a request names, each once in its order, checked against the model's; an
 * empty list means all of them, as an absent "outputs" does.
 */
export function checkRequestedOutputs(
  requested: readonly RequestedOutput[],
  produced: readonly string[],
): RequestedOutput[] {
  const seen = new Map<string, RequestedOutput>();
  for (const output of requested) {
    if (!produced.includes(output.name))
      throw badRequest(
        `output ${describeJson(output.name)} is not produced by this model (outputs: ${produced.join(", ")})`,
      );
    if (!seen.has(output.name)) seen.set(output.name, output);
  }
  return [...seen.values()];
}

/** The primary output's tensor datatype: FP64 numbers, a classifier's BYTES or INT64 labels. */
export function labelDatatype(info: ModelInfo): OutputTensor["datatype"] {
  return info.outputType === "string" ? "BYTES" : info.outputType === "long" ? "INT64" : "FP64";
}

/**
 * The response tensors `names` asks for: the primary output ([N]) and a classifier's
 * probabilities ([N, C] FP64).
 */
export function outputTensors(
  info: ModelInfo,
  names: readonly string[],
  result: PredictionBatch,
): OutputTensor[] {
  return names.map((name) =>
    name === info.output
      ? {
          name,
          datatype: labelDatatype(info),
          shape: [result.rows],
          data: result.values,
        }
      : {
          name,
          datatype: "FP64",
          shape: [result.rows, info.probabilities!.classes.length],
          data: result.probabilities!,
        },
  );
}
