import type { ColumnSpec, ColumnType, ModelInfo } from "../model/types.js";
import { VERSION } from "../version.js";

type JsonObject = Record<string, unknown>;

export const SERVE_OPENAPI_PATH = "/openapi.json";

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });
const json = (schema: JsonObject) => ({ "application/json": { schema } });

const JSON_TYPES: Record<ColumnType, JsonObject> = {
  long: { type: "integer", format: "int64" },
  integer: { type: "integer", format: "int32" },
  double: { type: "number", format: "double" },
  float: { type: "number", format: "float" },
  string: { type: "string" },
  boolean: { type: "boolean" },
};

/** One request row as a JSON Schema object, from the model's request schema. */
function rowSchema(inputs: ColumnSpec[]): JsonObject {
  const properties: Record<string, JsonObject> = {};
  for (const spec of inputs) {
    properties[spec.name] = {
      ...JSON_TYPES[spec.type],
      ...(spec.minimum === undefined ? {} : { minimum: spec.minimum }),
      ...(spec.maximum === undefined ? {} : { maximum: spec.maximum }),
    };
  }
  return {
    type: "object",
    properties,
    required: inputs.filter((spec) => spec.required !== false).map((spec) => spec.name),
  };
}

/** Client errors of every route: status → description (the body names the field). */
const ERRORS: Record<string, { description: string; headers?: Record<string, unknown> }> = {
  "400": {
    description:
      "Not a request of this protocol, or a body that is not what its Content-Encoding says (the message says why)",
  },
  "408": { description: "Headers or body not received within the server's timeouts" },
  "413": {
    description:
      "Body (decoded size, for a gzip or deflate body) or row count above the server's limits",
  },
  "415": {
    description:
      "A content type the endpoint does not read, or a Content-Encoding other than gzip, x-gzip, deflate",
  },
  "422": { description: "A value breaks the model's input schema (the field is named)" },
  "503": {
    description:
      "Over the server's concurrency limit, or shutting down: send the request again (after Retry-After)",
    headers: {
      "Retry-After": {
        description: "Seconds to wait before retrying (sent when over the concurrency limit)",
        schema: { type: "integer" },
      },
    },
  },
};

/**
 * The OpenAPI 3.1 document of the prediction server, for the default model it serves now: the
 * request row schema is that model's own (names, types, bounds), so a client generator or the
 * Swagger UI shows what to send. `names` are every served model's (V2 routes take any).
 */
export function serveOpenApiDocument(
  info: ModelInfo,
  auth: boolean,
  names: string[] = [info.name],
): JsonObject {
  const nameParameter = {
    name: "name",
    in: "path",
    required: true,
    schema: names.length === 1 ? { const: info.name } : { enum: names },
  };
  const secured = auth ? { 401: { description: "Missing or refused bearer token" } } : {};
  const errors = { ...ERRORS, ...secured };
  const open = auth ? { security: [] } : {};
  // A classifier with text labels answers strings (as MLflow's sklearn flavor), others numbers.
  const prediction = { type: info.outputType === "string" ? "string" : "number" };
  const output = { [info.output]: prediction, model_version: { type: "string" } };
  const predictionRow = { type: "object", properties: output, required: Object.keys(output) };
  const paths: Record<string, JsonObject> = {
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
            description: "One prediction per row",
            content: json({
              type: "object",
              properties: { predictions: { type: "array", items: prediction } },
            }),
          },
          ...errors,
        },
      },
    },
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
    "/version": {
      get: {
        operationId: "version",
        summary: "The served model's name and version",
        responses: { "200": { description: "OK" }, ...secured },
      },
    },
    [SERVE_OPENAPI_PATH]: {
      get: {
        operationId: "openApiDocument",
        summary: "This document",
        responses: { "200": { description: "OpenAPI 3.1 document" }, ...secured },
      },
    },
  };
  for (const [path, summary] of [
    ["/ping", "MLflow health check"],
    ["/health", "Health check"],
    ["/v2/health/live", "Liveness"],
    ["/v2/health/ready", "Readiness (503 while draining)"],
    ["/metrics", "Prometheus metrics"],
  ] as const) {
    paths[path] = { get: { summary, ...open, responses: { "200": { description: "OK" } } } };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: `mldeploy: ${info.name}`,
      version: VERSION,
      description: `Predictions of model "${info.name}" version ${info.version} (output "${info.output}").`,
    },
    ...(auth ? { security: [{ bearerAuth: [] }] } : {}),
    paths,
    components: {
      schemas: { Row: rowSchema(info.inputs) },
      ...(auth
        ? {
            securitySchemes: {
              bearerAuth: {
                type: "http",
                scheme: "bearer",
                description: "The token the server was started with (MLDEPLOY_AUTH_TOKEN)",
              },
            },
          }
        : {}),
    },
  };
}
