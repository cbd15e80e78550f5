import type { ModelInfo, PredictionBatch } from "../../model/types.js";
import { jsonNumberList, jsonPredictionList } from "../json-out.js";

/** The primary output's tensor datatype: FP64 numbers, a classifier's BYTES or INT64 labels. */
export function labelDatatype(info: ModelInfo): string {
  return info.outputType === "string" ? "BYTES" : info.outputType === "long" ? "INT64" : "FP64";
}

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
  const tensors = names.map((name) =>
    name === info.output
      ? `{"name":${JSON.stringify(name)},"datatype":"${labelDatatype(info)}","shape":[${result.rows}],"data":${jsonPredictionList(result.values)}}`
      : `{"name":${JSON.stringify(name)},"datatype":"FP64","shape":[${result.rows},${info.probabilities!.classes.length}],"data":${jsonNumberList(result.probabilities!)}}`,
  );
  return (
    `{"model_name":${JSON.stringify(info.name)},"model_version":${JSON.stringify(info.version)}` +
    (id !== undefined ? `,"id":${JSON.stringify(id)}` : "") +
    `,"outputs":[${tensors.join(",")}]}`
  );
}
