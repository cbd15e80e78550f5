import type { ModelInfo } from "../../model/types.js";
import { v2Datatype } from "../v2/datatypes.js";
import { labelDatatype } from "../v2/tensors.js";
import type { ModelMetadataResponse } from "./messages.js";

/**
 * ModelMetadata: what GET /v2/models/{name} answers over REST (src/serve/v2/routes.ts), field
 * for field; test/serve/grpc checks that the two agree.
 */
export function modelMetadata(info: ModelInfo): ModelMetadataResponse {
  return {
    name: info.name,
    versions: [info.version],
    platform: "onnxruntime",
    inputs: info.inputs.map((spec) => ({
      name: spec.name,
      datatype: v2Datatype[spec.type],
      shape: [-1],
    })),
    outputs: [
      { name: info.output, datatype: labelDatatype(info), shape: [-1] },
      ...(info.probabilities
        ? [
            {
              name: info.probabilities.name,
              datatype: "FP64",
              shape: [-1, info.probabilities.classes.length],
            },
          ]
        : []),
    ],
  };
}
