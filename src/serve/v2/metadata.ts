import type { ModelInfo } from "../../model/types.js";
import { VERSION } from "../../version.js";
import { BINARY_EXTENSION } from "./binary.js";
import { v2Datatype } from "./datatypes.js";
import { labelDatatype } from "./tensors.js";

/**
 * The platform of an ONNX model run by ONNX Runtime, as the Open Inference Protocol lists it
 * (specification/protocol/inference_rest.md, "Platforms": "onnx_onnxv1 : A ONNX model encoded
 * for ONNX Runtime"). Triton reports its ONNX Runtime backend's models as "onnxruntime_onnx"
 * instead; the spec's name is the one every V2 client can look up.
 */
export const ONNX_PLATFORM = "onnx_onnxv1";

/** The extensions this server supports, by the names Triton lists them under. */
export const V2_EXTENSIONS: readonly string[] = [BINARY_EXTENSION];

/** GET /v2: `$metadata_server_response`. */
export function serverMetadata() {
  return { name: "mldeploy", version: VERSION, extensions: [...V2_EXTENSIONS] };
}

export interface MetadataTensor {
  name: string;
  datatype: string;
  shape: number[];
}

/** GET /v2/models/{name}: `$metadata_model_response`, one [-1] tensor per request column. */
export function modelMetadata(info: ModelInfo): {
  name: string;
  versions: string[];
  platform: string;
  inputs: MetadataTensor[];
  outputs: MetadataTensor[];
} {
  return {
    name: info.name,
    versions: [info.version],
    platform: ONNX_PLATFORM,
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
