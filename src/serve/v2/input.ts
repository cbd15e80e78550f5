import type { ColumnarBatch, ColumnSpec } from "../../model/types.js";
import { isPlainObject } from "../../model/validate.js";
import type { InputLimits } from "../records-input.js";
import { describeJson } from "../describe.js";
import { badRequest } from "../errors.js";
import { BinaryInputs, binaryDataSize, booleanParameter } from "./binary.js";
import {
  batchFromTensors,
  checkRequestedOutputs,
  rowsOfShape,
  type InputTensor,
  type RequestedOutput,
} from "./tensors.js";

export { v2Datatype } from "./datatypes.js";

export interface V2Request {
  id?: string;
  batch: ColumnarBatch;
  /**
   * The outputs the request names in "outputs", each once, in its order; undefined when it
   * names none, which asks for all of the model's outputs (Open Inference Protocol).
   */
  outputs?: string[];
  /**
   * The outputs to answer as raw bytes after the JSON (binary tensor data extension): those
   * whose `binary_data` is true, or all but those whose `binary_data` is false when the
   * request's `binary_data_output` is true.
   */
  binaryOutputs: ReadonlySet<string>;
}

const NO_BYTES = new Uint8Array(0);

/**
 * Reads an inference request: each model column is a named tensor of shape [n] or [n, 1], its
 * elements in "data" (flat or nested, row-major) or, with the binary tensor data extension, as
 * `parameters.binary_data_size` raw bytes of `binary` (the body after the JSON), in input
 * order. Optional fields sent as null count as absent, as the peers' pydantic models
 * (MLServer mlserver/types/dataplane.py, KServe protocol/rest/v2_datamodels.py) read them.
 * Structure problems are 400s naming the tensor; value problems are left to schema validation
 * (422 naming the column and row).
 */
export function parseV2Request(
  body: unknown,
  schema: ColumnSpec[],
  /** The model's outputs (the primary one first). */
  modelOutputs: string | readonly string[],
  limits: InputLimits,
  binary: Uint8Array = NO_BYTES,
): V2Request {
  if (!isPlainObject(body))
    throw badRequest('the inference request must be a JSON object with an "inputs" list');
  const id = optional(body.id);
  const outputs = optional(body.outputs);
  const parameters = parametersOf("", body.parameters);
  const { inputs } = body;
  if (id !== undefined && typeof id !== "string") throw badRequest('"id" must be a string');
  if (!Array.isArray(inputs) || inputs.length === 0)
    throw badRequest('"inputs" must be a non-empty list of tensors');
  const allBinary = booleanParameter("", parameters, "binary_data_output") ?? false;
  const produced = typeof modelOutputs === "string" ? [modelOutputs] : modelOutputs;
  const requested =
    outputs === undefined ? [] : checkRequestedOutputs(jsonRequestedOutputs(outputs), produced);
  const bytes = new BinaryInputs(binary);
  const tensors = inputs.map((tensor: unknown, i) => jsonTensor(tensor, i, bytes));
  bytes.finish();
  const batch = batchFromTensors(tensors, schema, limits);
  // An empty list names no output: all of them, as when "outputs" is absent.
  const names = requested.length ? requested.map((output) => output.name) : produced;
  const binaryOutputs = new Set(
    names.filter((name) => {
      const output = requested.find((each) => each.name === name);
      const where = `output "${name}": `;
      return booleanParameter(where, output?.parameters, "binary_data") ?? allBinary;
    }),
  );
  return requested.length
    ? { id, batch, outputs: requested.map((output) => output.name), binaryOutputs }
    : { id, batch, binaryOutputs };
}

/** A field the protocol marks optional: null is absent. */
function optional(value: unknown): unknown {
  return value === null ? undefined : value;
}

/** A "parameters" object (absent or null: none); anything else is a 400. */
function parametersOf(where: string, value: unknown): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) throw badRequest(`${where}parameters must be an object`);
  return value;
}

/**
 * One tensor object as an InputTensor: "data" (nested [n, 1] data flattened), or raw bytes
 * when its parameters give binary_data_size. Triton's ValidateInputContentType refuses a
 * tensor with both or neither.
 */
function jsonTensor(tensor: unknown, i: number, bytes: BinaryInputs): InputTensor {
  if (!isPlainObject(tensor)) throw badRequest(`inputs[${i}] must be a tensor object`);
  const { name, datatype, shape } = tensor;
  const data = optional(tensor.data);
  if (typeof name !== "string") throw badRequest(`inputs[${i}].name must be a string`);
  if (typeof datatype !== "string")
    throw badRequest(`input "${name}": datatype must be a string`, name);
  const size = binaryDataSize(name, parametersOf(`input "${name}": `, tensor.parameters));
  if (size !== undefined) {
    if (data !== undefined)
      throw badRequest(
        `input "${name}": give its elements either in "data" or as binary data (parameters.binary_data_size), not both`,
        name,
      );
    const rows = rowsOfShape(name, shape);
    return { name, datatype, shape, data: bytes.take(name, datatype, rows, size) };
  }
  if (!Array.isArray(data)) throw badRequest(`input "${name}": data must be a list`, name);
  // A shape the protocol refuses is reported before the data is looked at.
  const rows = rowsOfShape(name, shape);
  return { name, datatype, shape, data: flatten(name, data, rows) };
}

function jsonRequestedOutputs(outputs: unknown): RequestedOutput[] {
  if (!Array.isArray(outputs)) throw badRequest('"outputs" must be a list');
  return outputs.map((requested: unknown) => {
    const name: unknown = isPlainObject(requested) ? requested.name : undefined;
    const parameters = isPlainObject(requested)
      ? parametersOf(`output ${describeJson(name)}: `, requested.parameters)
      : undefined;
    // A name that is not a string can never be one of the model's outputs.
    return { name: name as string, ...(parameters ? { parameters } : {}) };
  });
}

/** Row-major flattening of [n] or [n, 1] data; nested rows must hold exactly one element. */
function flatten(name: string, data: unknown[], rows: number): unknown[] {
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
