import {
  json,
  predictionSchema,
  ref,
  type JsonObject,
  type OpenApiContext,
} from "../openapi-common.js";

/** MLflow's scoring route /invocations in the OpenAPI document. */
export function mlflowOpenApiPaths({ info, errors }: OpenApiContext): Record<string, JsonObject> {
  return {
    "/invocations": {
      post: {
        operationId: "invocations",
        summary:
          "MLflow scoring protocol: dataframe_split, dataframe_records, instances or inputs (JSON), or text/csv",
        requestBody: {
          required: true,
          content: {
            ...json({
              oneOf: [
                {
                  type: "object",
                  properties: {
                    dataframe_split: {
                      type: "object",
                      properties: {
                        columns: { type: "array", items: { type: "string" } },
                        data: { type: "array", items: { type: "array" } },
                      },
                      required: ["columns", "data"],
                    },
                  },
                  required: ["dataframe_split"],
                },
                {
                  type: "object",
                  properties: { dataframe_records: { type: "array", items: ref("Row") } },
                  required: ["dataframe_records"],
                },
                {
                  type: "object",
                  properties: { instances: { type: "array", items: ref("Row") } },
                  required: ["instances"],
                },
                {
                  type: "object",
                  properties: { inputs: {} },
                  required: ["inputs"],
                },
              ],
            }),
            "text/csv": { schema: { type: "string" } },
          },
        },
        responses: {
          "200": {
            description:
              "One object per row keyed by the model's output names, as `mlflow models serve` answers for an ONNX model",
            content: json({
              type: "object",
              properties: { predictions: { type: "array", items: predictionRecord(info) } },
            }),
          },
          ...errors,
        },
      },
    },
  };
}

/** One row's answer: the model's output, and a classifier's probabilities (one per class). */
function predictionRecord(info: OpenApiContext["info"]): JsonObject {
  const properties: Record<string, JsonObject> = { [info.output]: predictionSchema(info) };
  if (info.probabilities) {
    const width = info.probabilities.classes.length;
    properties[info.probabilities.name] = {
      type: "array",
      items: { type: "number" },
      minItems: width,
      maxItems: width,
    };
  }
  return { type: "object", properties, required: Object.keys(properties) };
}

/** MLflow's /version in the OpenAPI document (after the other protocols' prediction routes). */
export function mlflowVersionPath({ secured }: OpenApiContext): Record<string, JsonObject> {
  return {
    "/version": {
      get: {
        operationId: "version",
        summary:
          "The MLflow version whose scoring server this one answers as, as bare text (MLflow's /version); the models are described by /v2/models/{name}",
        responses: { "200": { description: "OK" }, ...secured },
      },
    },
  };
}

/** MLflow's health checks (GET, open without a token). */
export const MLFLOW_HEALTH_PATHS = [
  ["/ping", "MLflow health check"],
  ["/health", "Health check"],
] as const;
