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
          (names.length === 1
            ? ""
            : `Any served model (${names.join(", ")}); the inputs shown are those of "${info.name}", GET /v2/models/{name} lists another's. `) +
          "Triton's binary tensor data extension: with the header Inference-Header-Content-Length, the body is that many bytes of JSON, then the raw little-endian bytes of each input whose parameters give binary_data_size, in input order; outputs come as raw bytes after the JSON (Content-Type application/octet-stream, the JSON's length in Inference-Header-Content-Length) when the request's parameters.binary_data_output or an output's parameters.binary_data is true.",
        parameters: [
          nameParameter,
          {
            name: "Inference-Header-Content-Length",
            in: "header",
            required: false,
            description: "Bytes of JSON at the start of the body; raw tensor bytes follow",
            schema: { type: "integer", minimum: 0 },
          },
        ],
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
                    parameters: {
                      type: ["object", "null"],
                      properties: { binary_data_size: { type: "integer", minimum: 0 } },
                    },
                  },
                  required: ["name", "shape", "datatype"],
                },
              },
              outputs: {
                type: ["array", "null"],
                items: {
                  type: "object",
                  properties: {
                    name: { type: "string" },
                    parameters: {
                      type: ["object", "null"],
                      properties: { binary_data: { type: "boolean" } },
                    },
                  },
                  required: ["name"],
                },
              },
              id: { type: ["string", "null"] },
              parameters: {
                type: ["object", "null"],
                properties: { binary_data_output: { type: "boolean" } },
              },
            },
            required: ["inputs"],
          }),
          "application/octet-stream": {
            schema: { type: "string", format: "binary" },
          },
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
