import { z } from "zod";
import { defineRoute, type ApiRoute } from "./route-spec.js";
import {
  deploymentIdParams,
  deploymentListSchema,
  heartbeatBody,
  inputExampleSchema,
  invocationAnswerSchema,
} from "./deployment-schemas.js";
import { readInputExample } from "./input-example.js";
import { invokeDeployment } from "./invoke-deployment.js";
import { apiSchemas, versionParams } from "./schemas.js";
import { SERVE_TOKEN_HEADER } from "./serve-token-header.js";

const invocationBody = z
  .record(z.string(), z.unknown())
  .describe("The JSON body for the deployment's POST /invocations (MLflow scoring protocol)");
apiSchemas.add(invocationBody, { id: "InvocationRequest" });

const invocationHeaders = z.object({
  [SERVE_TOKEN_HEADER]: z
    .string()
    .min(1)
    .max(4096)
    .optional()
    .describe(
      "The token the serve deployment was started with (--auth-token), sent to it as Authorization: Bearer; the registry neither keeps nor logs it",
    ),
});

/**
 * Running deployments' heartbeats, the input example of a version, and predictions sent
 * through the registry to a live serve deployment (the web UI's Deployments page and its
 * "try it" form).
 */
export const DEPLOYMENT_ROUTES: readonly ApiRoute[] = [
  defineRoute({
    method: "PUT",
    path: "/deployments/:id",
    operationId: "reportDeployment",
    summary:
      "A running serve, stream or scheduled batch process reports itself (a heartbeat: created or updated)",
    tag: "deployments",
    params: deploymentIdParams,
    body: heartbeatBody,
    status: 204,
    errors: [],
    handle: (store, { params, body }) => store.reportDeployment({ id: params.id, ...body }),
  }),
  defineRoute({
    method: "GET",
    path: "/deployments",
    operationId: "listDeployments",
    summary:
      "Live deployments (a beat within 3 intervals), with the version the alias they follow points at and whether they lag behind it",
    tag: "deployments",
    status: 200,
    response: deploymentListSchema,
    errors: [],
    handle: (store) => store.listDeployments(),
  }),
  defineRoute({
    method: "DELETE",
    path: "/deployments/:id",
    operationId: "removeDeployment",
    summary: "A deployment says goodbye at graceful shutdown (an unknown id is not an error)",
    tag: "deployments",
    params: deploymentIdParams,
    status: 204,
    errors: [],
    handle: (store, { params }) => store.removeDeployment(params.id),
  }),
  defineRoute({
    method: "POST",
    path: "/deployments/:id/invocations",
    operationId: "invokeDeployment",
    summary:
      "Send a prediction request to a live serve deployment's /invocations and get its answer, whatever its status (bounded: 1 MiB each way, 10 s)",
    tag: "deployments",
    params: deploymentIdParams,
    body: invocationBody,
    headers: invocationHeaders,
    status: 200,
    response: invocationAnswerSchema,
    errors: [404, 409],
    handle: (store, { params, body, headers }) =>
      invokeDeployment(store, params.id, body, headers[SERVE_TOKEN_HEADER]),
  }),
  defineRoute({
    method: "GET",
    path: "/models/:name/versions/:version/input-example",
    operationId: "getInputExample",
    summary:
      "The request body a version's bundle gives as example (serving_input_example.json), read from its source",
    tag: "models",
    params: versionParams,
    status: 200,
    response: inputExampleSchema,
    errors: [404, 422],
    handle: async (store, { params }) =>
      readInputExample(await store.getModelVersion(params.name, params.version)),
  }),
];
