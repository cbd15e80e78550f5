import { json, type JsonObject, type OpenApiContext } from "../openapi-common.js";

/** The Open Inference Protocol's inference and model metadata routes in the OpenAPI document. */
export function v2OpenApiPaths({
  info,
  names,
  errors,
  secured,
}: OpenApiContext): Record<string, JsonObject> {
  const nameParameter = {
    name: "name",
    in: "path",
    required: true,
    schema: names.length === 1 ? { const: info.name } : { enum: names },
  };
  return {
    "/v2/models/{name}/infer": {
      post: {
        operationId: "v2Infer",
        summary: "Open Inference Protocol (KServe V2): one named 1-D tensor per input column",
        description:
          names.length === 1
            ? undefined
            : `Any served model (${names.join(", ")}); the inputs shown are those of "${info.name}", GET /v2/models/{name} lists another's.`,
        parameters: [nameParameter],
        requestBody: {
          required: true,
          content: json({
            type: "object",
            properties: {
              inputs: {
                type: "array",
                items: {
                  type: "object",
                  properties: {
                    name: { enum: info.inputs.map((spec) => spec.name) },
                    shape: { type: "array", items: { type: "integer" } },
                    datatype: { type: "string" },
                    data: { type: "array" },
                  },
                  required: ["name", "shape", "datatype", "data"],
                },
              },
            },
            required: ["inputs"],
          }),
        },
        responses: {
          "200": {
            description: info.probabilities
              ? `The label "${info.output}" (${info.outputType === "string" ? "BYTES" : info.outputType === "long" ? "INT64" : "FP64"}) and the class probabilities "${info.probabilities.name}" ([N, ${info.probabilities.classes.length}] FP64), or those named in "outputs"`
              : `The output "${info.output}" as FP64`,
          },
          "404": { description: "A model not served here" },
          ...errors,
        },
      },
    },
    "/v2/models/{name}": {
      get: {
        operationId: "v2ModelMetadata",
        summary: "The model's inputs and outputs",
        parameters: [nameParameter],
        responses: {
          "200": { description: "Model metadata" },
          "404": { description: "A model not served here" },
          ...secured,
        },
      },
    },
  };
}

/** The Open Inference Protocol's health checks (GET, open without a token). */
export const V2_HEALTH_PATHS = [
  ["/v2/health/live", "Liveness"],
  ["/v2/health/ready", "Readiness (503 while draining)"],
] as const;
