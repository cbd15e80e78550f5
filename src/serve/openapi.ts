import type { ModelInfo } from "../model/types.js";
import { VERSION } from "../version.js";
import { MLFLOW_HEALTH_PATHS, mlflowOpenApiPaths, mlflowVersionPath } from "./mlflow/openapi.js";
import { rowSchema, type JsonObject, type OpenApiContext } from "./openapi-common.js";
import { originalOpenApiPaths } from "./original/openapi.js";
import { V2_HEALTH_PATHS, v2OpenApiPaths } from "./v2/openapi.js";

/*
 * The OpenAPI document of the prediction server, assembled from each protocol's part
 * (original/, mlflow/, v2/openapi.ts) and the routes every server has.
 */

export const SERVE_OPENAPI_PATH = "/openapi.json";

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
  const secured = auth ? { 401: { description: "Missing or refused bearer token" } } : {};
  const errors = { ...ERRORS, ...secured };
  const open = auth ? { security: [] } : {};
  const context: OpenApiContext = { info, names, errors, secured };
  const paths: Record<string, JsonObject> = {
    ...originalOpenApiPaths(context),
    ...mlflowOpenApiPaths(context),
    ...v2OpenApiPaths(context),
    ...mlflowVersionPath(context),
    [SERVE_OPENAPI_PATH]: {
      get: {
        operationId: "openApiDocument",
        summary: "This document",
        responses: { "200": { description: "OpenAPI 3.1 document" }, ...secured },
      },
    },
  };
  for (const [path, summary] of [
    ...MLFLOW_HEALTH_PATHS,
    ...V2_HEALTH_PATHS,
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
