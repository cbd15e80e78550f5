import {
  json,
  predictionSchema,
  ref,
  type JsonObject,
  type OpenApiContext,
} from "../openapi-common.js";

/** The original /predict in the OpenAPI document. */
export function originalOpenApiPaths({ info, errors }: OpenApiContext): Record<string, JsonObject> {
  const output = { [info.output]: predictionSchema(info), model_version: { type: "string" } };
  const predictionRow = { type: "object", properties: output, required: Object.keys(output) };
  return {
    "/predict": {
      post: {
        operationId: "predict",
        summary: "The original service's endpoint: one ride, or a list of rides in order",
        requestBody: {
          required: true,
          content: json({ oneOf: [ref("Row"), { type: "array", items: ref("Row") }] }),
        },
        responses: {
          "200": {
            description: "One prediction per row",
            content: json({ oneOf: [predictionRow, { type: "array", items: predictionRow }] }),
          },
          ...errors,
        },
      },
    },
  };
}
