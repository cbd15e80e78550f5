import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildRegistryServer, registeredRoutes } from "../../../src/registry/server/app.js";
import { openApiPath } from "../../../src/registry/server/openapi.js";
import { ARTIFACT_ROUTES } from "../../../src/registry/server/artifact-routes.js";
import { API_ROUTES } from "../../../src/registry/server/routes.js";
import type { RegistryStore } from "../../../src/registry/store/types.js";
import { api, startRegistry, type TestRegistry } from "./helpers.js";

type Operation = {
  operationId: string;
  parameters?: { name: string; in: string }[];
  responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }>;
  requestBody?: unknown;
  security?: unknown[];
};
type Document = {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown> };
  security?: unknown[];
};

describe("OpenAPI document", () => {
  let registry: TestRegistry;
  let document: Document;

  beforeAll(async () => {
    registry = await startRegistry({ token: "t" });
    const answer = await api(registry.url, "GET", "/api/v1/openapi.json", { token: "t" });
    expect(answer.status).toBe(200);
    document = answer.body as Document;
  });
  afterAll(() => registry.close());

  it("is OpenAPI 3.1 with the bearer scheme required when the server has a token", () => {
    expect(document.openapi).toBe("3.1.0");
    expect(document.security).toEqual([{ bearerAuth: [] }]);
    expect(document.paths["/health"].get.security).toEqual([]);
  });

  it("describes exactly the routes Fastify registered", () => {
    const inFastify = registeredRoutes(registry.server.app)
      // Fastify adds a HEAD route for every GET by itself.
      .filter((route) => route.method !== "HEAD")
      .map((route) => `${route.method} ${openApiPath(route.url)}`)
      .sort();
    const inDocument = Object.entries(document.paths)
      .flatMap(([path, operations]) =>
        Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
      )
      .sort();
    expect(inDocument).toEqual(inFastify);
    // Every RegistryStore method has its operation (close and description excepted).
    expect(inFastify).toHaveLength(API_ROUTES.length + ARTIFACT_ROUTES.length + 2);
  });

  it("declares every path parameter and resolves every $ref", () => {
    const refs = JSON.stringify(document).match(/"\$ref":"[^"]+"/g) ?? [];
    for (const ref of refs) {
      const id = ref.slice('"$ref":"#/components/schemas/'.length, -1);
      expect(document.components.schemas, ref).toHaveProperty(id);
    }
    for (const [path, operations] of Object.entries(document.paths)) {
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      for (const operation of Object.values(operations)) {
        const declared = (operation.parameters ?? [])
          .filter((p) => p.in === "path")
          .map((p) => p.name)
          .sort();
        expect(declared, `${operation.operationId} ${path}`).toEqual(inPath);
      }
    }
    const ids = Object.values(document.paths).flatMap((ops) =>
      Object.values(ops).map((op) => op.operationId),
    );
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("documents response shapes that real answers match", async () => {
    const { client } = registry;
    const experiment = await client.createExperiment("doc");
    const run = await client.createRun({ experimentId: experiment.id });
    await client.logMetrics(run.id, [{ key: "m", value: 1 }]);
    await client.createModelVersion({ name: "m", source: "s3://b/k", runId: run.id });
    await client.setAlias("m", "prod", 1);
    const concrete: Record<string, string> = {
      "{id}": run.id,
      "{key}": "m",
      "{name}": "m",
      "{version}": "1",
      "{alias}": "prod",
    };
    let checked = 0;
    for (const route of API_ROUTES) {
      if (route.method !== "GET" || route.response === undefined) continue;
      // Reads the version's files (s3://b/k here is not real): deployments-api.test.ts checks it.
      if (route.operationId === "getInputExample") continue;
      let path = openApiPath(`/api/v1${route.path}`).replace(/\{\w+\}/g, (p) => concrete[p]);
      if (route.operationId === "getExperiment") path = `/api/v1/experiments/${experiment.id}`;
      if (route.operationId === "getExperimentKeys") {
        path = `/api/v1/experiments/${experiment.id}/keys`;
      }
      if (route.path.startsWith("/monitor-results/")) path += "?model=m";
      const answer = await api(registry.url, "GET", path, { token: "t" });
      expect(answer.status, path).toBe(200);
      // Strict: an undocumented field in an answer fails here.
      const parsed = route.response.safeParse(answer.body);
      expect(parsed.success, `${path}: ${parsed.error?.message}`).toBe(true);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(10);
  });

  it("leaves security out when the server has no token", async () => {
    const app = await buildRegistryServer({} as RegistryStore);
    try {
      const answer = await app.inject({ method: "GET", url: "/api/v1/openapi.json" });
      const doc = answer.json<Document>();
      expect(doc.security).toBeUndefined();
      expect(Object.keys(doc.paths["/api/v1/runs/{id}"].get.responses)).not.toContain("401");
    } finally {
      await app.close();
    }
  });
});
