import { z } from "zod";
import { VERSION } from "../../version.js";
import { isReadOnly } from "./auth.js";
import type { ApiRoute } from "./route-spec.js";
import { apiSchemas } from "./schemas.js";
import { API_PREFIX } from "../wire.js";

type JsonObject = Record<string, unknown>;

export const HEALTH_PATH = "/health";
export const OPENAPI_PATH = `${API_PREFIX}/openapi.json`;

const COMPONENT = "#/components/schemas/";
const ref = (id: string) => ({ $ref: `${COMPONENT}${id}` });

const STATUS_TEXT: Record<number, string> = {
  200: "OK",
  201: "Created",
  204: "No content",
  400: "Malformed request (the message names the field) or a name or value the registry refuses",
  401: "Missing or wrong bearer token",
  404: "No such experiment, run, model, version, alias or artifact file",
  409: "Already exists, or not allowed in the entity's current state",
  422: "A stored artifact is broken or cannot be read safely (the message says why)",
  500: "The server failed; details are in its log",
};

/** The id a registered schema carries in the document (schemas are registered in schemas.ts). */
function schemaRef(schema: z.ZodType): JsonObject {
  const meta = apiSchemas.get(schema);
  if (meta === undefined) throw new Error("API schema is not registered in apiSchemas");
  return ref(meta.id);
}

function jsonContent(schema: JsonObject): JsonObject {
  return { "application/json": { schema } };
}

/** Path, query or header schema → OpenAPI parameter objects, one per property. */
function parameters(
  schema: z.ZodType | undefined,
  where: "path" | "query" | "header",
): JsonObject[] {
  if (schema === undefined) return [];
  const json = z.toJSONSchema(schema, { io: "input" }) as {
    properties?: Record<string, JsonObject>;
    required?: string[];
  };
  return Object.entries(json.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name,
      in: where,
      required: where === "path" || (json.required ?? []).includes(name),
      ...(description === undefined ? {} : { description }),
      schema: rest,
    };
  });
}

function errorResponses(statuses: number[]): JsonObject {
  const out: JsonObject = {};
  for (const status of [...new Set(statuses)].sort((a, b) => a - b)) {
    out[String(status)] = {
      description: STATUS_TEXT[status] ?? "Error",
      content: jsonContent(ref("Error")),
    };
  }
  return out;
}

// Anonymous or bearer: OpenAPI's way of saying a token is optional (an empty requirement).
const OPTIONAL_TOKEN = [{}, { bearerAuth: [] }];

function operation(route: ApiRoute, auth: boolean, publicRead: boolean): JsonObject {
  const success = route.produces
    ? {
        description: "The file's bytes",
        content: { [route.produces]: { schema: { type: "string", format: "binary" } } },
      }
    : route.status === 204 || route.response === undefined
      ? { description: STATUS_TEXT[204] }
      : { description: STATUS_TEXT[route.status], content: jsonContent(schemaRef(route.response)) };
  const errors = [400, ...(auth ? [401] : []), ...route.errors, 500];
  return {
    operationId: route.operationId,
    summary: route.summary,
    tags: [route.tag],
    ...(auth && publicRead && isReadOnly(route.method, route.path)
      ? { security: OPTIONAL_TOKEN }
      : {}),
    parameters: [
      ...parameters(route.params, "path"),
      ...parameters(route.query, "query"),
      ...parameters(route.headers, "header"),
    ],
    ...(route.body === undefined
      ? {}
      : { requestBody: { required: true, content: jsonContent(schemaRef(route.body)) } }),
    responses: { [String(route.status)]: success, ...errorResponses(errors) },
  };
}

/** `/runs/:id` (Fastify) → `/api/v1/runs/{id}` (OpenAPI). */
export function openApiPath(fastifyPath: string): string {
  return fastifyPath.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}

function components(): Record<string, JsonObject> {
  const { schemas } = z.toJSONSchema(apiSchemas, { uri: (id) => `${COMPONENT}${id}` });
  const out: Record<string, JsonObject> = {};
  for (const [id, schema] of Object.entries(schemas)) {
    // Each component is converted as a standalone document; inside OpenAPI they are not.
    const { $schema: _schema, $id: _id, ...rest } = schema as JsonObject;
    out[id] = rest;
  }
  return out;
}

/**
 * The OpenAPI 3.1 document of the registry API, generated from the route table and the zod
 * schemas the routes validate with. `auth`: whether the server demands a bearer token;
 * `publicRead`: whether reads (GET) are answered without one (a wrong one is still a 401).
 */
export function buildOpenApiDocument(
  routes: readonly ApiRoute[],
  auth: boolean,
  options: { publicRead?: boolean } = {},
): JsonObject {
  const publicRead = options.publicRead === true;
  const paths: Record<string, Record<string, JsonObject>> = {};
  const add = (path: string, method: string, op: JsonObject) => {
    paths[path] ??= {};
    paths[path][method.toLowerCase()] = op;
  };

  for (const route of routes) {
    add(
      openApiPath(`${API_PREFIX}${route.path}`),
      route.method,
      operation(route, auth, publicRead),
    );
  }
  add(HEALTH_PATH, "GET", {
    operationId: "health",
    summary: "Liveness: the process answers (no token needed)",
    tags: ["meta"],
    security: [],
    responses: { "200": { description: "OK", content: jsonContent(ref("Health")) } },
  });
  add(OPENAPI_PATH, "GET", {
    operationId: "openApiDocument",
    summary: "This document",
    tags: ["meta"],
    ...(auth && publicRead ? { security: OPTIONAL_TOKEN } : {}),
    responses: {
      "200": { description: "OpenAPI 3.1 document", content: jsonContent({ type: "object" }) },
      ...errorResponses(auth ? [401] : []),
    },
  });

  return {
    openapi: "3.1.0",
    info: {
      title: "mldeploy registry",
      version: VERSION,
      description:
        "Experiments, runs, metrics and the model registry of mldeploy, shared over HTTP. " +
        'Errors answer { "error": { "code", "message" } } with the codes of RegistryError.',
    },
    ...(auth
      ? {
          security: [{ bearerAuth: [] }],
        }
      : {}),
    tags: [
      { name: "experiments" },
      { name: "runs" },
      { name: "models", description: "Registered models, versions and aliases" },
      { name: "artifacts", description: "Files of runs and model versions" },
      { name: "deployments", description: "Running serve, stream and batch processes" },
      { name: "monitoring", description: "Drift and error statistics of mldeploy monitor" },
      { name: "meta" },
    ],
    paths,
    components: {
      schemas: components(),
      securitySchemes: {
        bearerAuth: {
          type: "http",
          scheme: "bearer",
          description: "The token the server was started with (MLDEPLOY_REGISTRY_TOKEN)",
        },
      },
    },
  };
}
