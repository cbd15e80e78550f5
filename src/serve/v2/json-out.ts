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

/** The response body around tensors already chosen (the binary extension writes some apart). */
export function v2ResponseJson(
  info: ModelInfo,
  tensors: readonly OutputTensor[],
  id: string | undefined,
): string {
  return (
    `{"model_name":${JSON.stringify(info.name)},"model_version":${JSON.stringify(info.version)}` +
    (id !== undefined ? `,"id":${JSON.stringify(id)}` : "") +
    `,"outputs":[${tensors.map(jsonTensor).join(",")}]}`
  );
}

function jsonTensor(tensor: OutputTensor): string {
  const data = Array.isArray(tensor.data)
    ? JSON.stringify(tensor.data)
    : jsonNumberList(tensor.data as ArrayLike<number>);
  return `{"name":${JSON.stringify(tensor.name)},"datatype":"${tensor.datatype}","shape":[${tensor.shape.join(",")}],"data":${data}}`;
}
