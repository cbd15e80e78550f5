import type { ModelInfo, PredictionBatch } from "../../model/types.js";
import { jsonNumberList } from "../json-out.js";
import { outputTensors, type OutputTensor } from "./tensors.js";

export { labelDatatype } from "./tensors.js";

/**
 * The inference response: the tensors `names` asks for (the primary output, a classifier's
 * [N, C] FP64 probabilities), with the model's name and version and the request's id.
 */
export function v2InferResponse(
  info: ModelInfo,
  names: readonly string[],
  result: PredictionBatch,
  id: string | undefined,
): string {
  return v2ResponseJson(info, outputTensors(info, names, result), id);
}

/**
 * The response body around tensors already chosen. Those in `binarySizes` (binary tensor data
 * extension) carry `parameters.binary_data_size` instead of "data": their bytes follow the JSON.
 */
export function v2ResponseJson(
  info: ModelInfo,
  tensors: readonly OutputTensor[],
  id: string | undefined,
  binarySizes?: ReadonlyMap<string, number>,
): string {
  return (
    `{"model_name":${JSON.stringify(info.name)},"model_version":${JSON.stringify(info.version)}` +
    (id !== undefined ? `,"id":${JSON.stringify(id)}` : "") +
    `,"outputs":[${tensors.map((tensor) => jsonTensor(tensor, binarySizes?.get(tensor.name))).join(",")}]}`
  );
}

function jsonTensor(tensor: OutputTensor, binarySize: number | undefined): string {
  const head = `{"name":${JSON.stringify(tensor.name)},"datatype":"${tensor.datatype}","shape":[${tensor.shape.join(",")}]`;
  if (binarySize !== undefined) return `${head},"parameters":{"binary_data_size":${binarySize}}}`;
  const data = Array.isArray(tensor.data)
    ? JSON.stringify(tensor.data)
    : jsonNumberList(tensor.data as ArrayLike<number>);
  return `${head},"data":${data}}`;
}
