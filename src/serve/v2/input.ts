import type { ColumnarBatch, ColumnSpec } from "../../model/types.js";
import { isPlainObject } from "../../model/validate.js";
import type { InputLimits } from "../records-input.js";
import { badRequest } from "../errors.js";
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
}

/**
 * Reads a JSON inference request: each model column is a named tensor of shape [n] or [n, 1]
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
      : checkRequestedOutputs(
          jsonRequestedOutputs(outputs),
          typeof modelOutputs === "string" ? [modelOutputs] : modelOutputs,
        ).map((output) => output.name);
  const tensors = inputs.map((tensor: unknown, i) => jsonTensor(tensor, i));
  const batch = batchFromTensors(tensors, schema, limits);
  // An empty list names no output: all of them, as when "outputs" is absent.
  return requested?.length ? { id, batch, outputs: requested } : { id, batch };
}

/** One JSON tensor object as an InputTensor (nested [n, 1] data flattened). */
function jsonTensor(tensor: unknown, i: number): InputTensor {
  if (!isPlainObject(tensor)) throw badRequest(`inputs[${i}] must be a tensor object`);
  const { name, datatype, shape, data } = tensor;
  if (typeof name !== "string") throw badRequest(`inputs[${i}].name must be a string`);
  if (typeof datatype !== "string")
    throw badRequest(`input "${name}": datatype must be a string`, name);
  if (!Array.isArray(data)) throw badRequest(`input "${name}": data must be a list`, name);
  // A shape the protocol refuses is reported before the data is looked at.
  const rows = rowsOfShape(name, shape);
  return { name, datatype, shape, data: flatten(name, data, rows) };
}

function jsonRequestedOutputs(outputs: unknown): RequestedOutput[] {
  if (!Array.isArray(outputs)) throw badRequest('"outputs" must be a list');
  return outputs.map((requested: unknown) => {
    const name: unknown = isPlainObject(requested) ? requested.name : undefined;
    const parameters = isPlainObject(requested) ? requested.parameters : undefined;
    // A name that is not a string can never be one of the model's outputs.
    return {
      name: name as string,
      ...(isPlainObject(parameters) ? { parameters } : {}),
    };
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
