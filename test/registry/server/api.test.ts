import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryError } from "../../../src/registry/errors.js";
import { HttpStore } from "../../../src/registry/store/http-store.js";
import type { RegistryStore } from "../../../src/registry/store/types.js";
import { api, capturingLogger, outcome, startRegistry, type TestRegistry } from "./helpers.js";

const TOKEN = "correct-horse-battery-staple";

describe("registry API with a bearer token", () => {
  let registry: TestRegistry;

  beforeAll(async () => {
    registry = await startRegistry({ token: TOKEN });
  });
  afterAll(() => registry.close());

  it("answers /health without a token", async () => {
    const health = await api(registry.url, "GET", "/health");
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: "ok" });
  });

  it("refuses a request without a token with 401 UNAUTHORIZED", async () => {
    for (const route of ["/api/v1/experiments", "/api/v1/openapi.json", "/api/v1/no-such-route"]) {
      const answer = await api(registry.url, "GET", route);
      expect(answer.status, route).toBe(401);
      // RFC 7235: a 401 names the scheme the client must use, as serve's 401s do.
      expect(answer.headers.get("www-authenticate"), route).toBe('Bearer realm="mldeploy"');
      expect(answer.body).toEqual({
        error: { code: "UNAUTHORIZED", message: expect.stringContaining("Bearer") },
      });
    }
    const post = await api(registry.url, "POST", "/api/v1/models", { body: { name: "m" } });
    expect(post.status).toBe(401);
    expect(await registry.local.listRegisteredModels()).toEqual([]);
  });

  it("refuses a wrong token, or a token in another scheme, with 401", async () => {
    for (const authorization of [
      `Bearer ${TOKEN}x`,
      `Bearer ${TOKEN.slice(0, -1)}`,
      "Bearer ",
      `Basic ${TOKEN}`,
      TOKEN,
    ]) {
      const answer = await api(registry.url, "GET", "/api/v1/models", {
        headers: { authorization },
      });
      expect(answer.status, authorization).toBe(401);
      expect(answer.headers.get("www-authenticate"), authorization).toBe('Bearer realm="mldeploy"');
    }
  });

  it("accepts the right token (any case of 'Bearer')", async () => {
    expect((await api(registry.url, "GET", "/api/v1/models", { token: TOKEN })).status).toBe(200);
    const lower = await api(registry.url, "GET", "/api/v1/models", {
      headers: { authorization: `bearer ${TOKEN}` },
    });
    expect(lower.status).toBe(200);
  });

  it("makes HttpStore raise RegistryError UNAUTHORIZED without the right token", async () => {
    for (const token of [undefined, "wrong"]) {
      const store = new HttpStore({ url: registry.url, token });
      const error = await store.listExperiments().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RegistryError);
      expect((error as RegistryError).code).toBe("UNAUTHORIZED");
      expect((error as Error).message).toContain("MLDEPLOY_REGISTRY_TOKEN");
    }
    expect(await registry.client.listExperiments()).toEqual([]);
  });
});

describe("registry API request validation", () => {
  let registry: TestRegistry;
  const post = (route: string, body: string | object, headers?: Record<string, string>) =>
    api(registry.url, "POST", `/api/v1${route}`, { body, headers });

  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(() => registry.close());

  function expectBadRequest(
    answer: { status: number; body: unknown },
    field: string,
    ...fragments: string[]
  ): void {
    expect(answer.status, JSON.stringify(answer.body)).toBe(400);
    const { error } = answer.body as { error: { code: string; message: string; field?: string } };
    expect(error.code).toBe("INVALID_VALUE");
    expect(error.field).toBe(field);
    for (const fragment of fragments) expect(error.message).toContain(fragment);
  }

  it("answers malformed JSON with 400", async () => {
    const answer = await post("/experiments", '{"name": "x",');
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({
      error: { code: "INVALID_VALUE", message: expect.stringContaining("body is not valid JSON") },
    });
  });

  it("names the missing, mistyped or unknown field", async () => {
    expectBadRequest(
      await post("/experiments", {}),
      "name",
      'body field "name"',
      "expected string",
    );
    expectBadRequest(
      await post("/experiments", { name: "x", tags: { team: 7 } }),
      "tags.team",
      'body field "tags.team"',
      "got 7",
    );
    expectBadRequest(
      await post("/experiments", { name: "x", artifactLocaton: "s3://b" }),
      "artifactLocaton",
      "unknown field",
    );
    expectBadRequest(await post("/experiments", [1, 2]), "body", "expected object");
    expectBadRequest(await post("/experiments", ""), "body", "expected object");

    const run = await registry.client.createRun({
      experimentId: (await registry.client.createExperiment("v")).id,
    });
    expectBadRequest(
      await post(`/runs/${run.id}/metrics`, { metrics: [{ key: "m", value: "1.5" }] }),
      "metrics.0.value",
      "expected number",
    );
    expectBadRequest(
      await post(`/runs/${run.id}/end`, { status: "DONE" }),
      "status",
      '"FINISHED"',
      'got "DONE"',
    );
    expectBadRequest(
      await api(registry.url, "GET", "/api/v1/runs?limit=many"),
      "limit",
      "query field",
    );
    expectBadRequest(
      await api(registry.url, "GET", "/api/v1/runs?status=DONE"),
      "status",
      'got "DONE"',
    );
    expectBadRequest(
      await api(registry.url, "GET", "/api/v1/models/m/versions/one"),
      "version",
      "path field",
    );
    expect(await registry.local.getMetricHistory(run.id, "m")).toEqual([]);
  });

  it("answers a body that is not JSON with 415", async () => {
    const answer = await post("/experiments", "name=x", {
      "content-type": "application/x-www-form-urlencoded",
    });
    expect(answer.status).toBe(415);
    expect(answer.body).toMatchObject({ error: { code: "INVALID_VALUE" } });
  });

  it("answers an unknown route with 404 in the API's error format", async () => {
    const answer = await api(registry.url, "GET", "/api/v1/nothing?x=1");
    expect(answer.status).toBe(404);
    expect(answer.body).toEqual({
      error: { code: "NOT_FOUND", message: "no route GET /api/v1/nothing" },
    });
  });

  it("maps store errors to statuses", async () => {
    const statusOf = async (method: string, route: string, body?: object) =>
      (await api(registry.url, method, `/api/v1${route}`, { body })).status;
    await registry.client.createRegisteredModel("taken");
    expect(await statusOf("GET", `/runs/${"0".repeat(32)}`)).toBe(404);
    expect(await statusOf("POST", "/models", { name: "taken" })).toBe(409);
    expect(await statusOf("POST", "/models", { name: "bad name" })).toBe(400);
    const run = await registry.client.createRun({
      experimentId: (await registry.client.createExperiment("s")).id,
    });
    expect(await statusOf("POST", `/runs/${run.id}/end`, { status: "FINISHED" })).toBe(200);
    expect(await statusOf("POST", `/runs/${run.id}/end`, { status: "FAILED" })).toBe(409);
    expect(await statusOf("POST", `/runs/${run.id}/tags`, { tags: { a: "b" } })).toBe(204);
    expect(await statusOf("POST", "/models/taken/versions", { source: "x" })).toBe(201);
  });
});

describe("registry API internal errors", () => {
  it("answers 500 with a generic message and logs the cause", async () => {
    const secret = "SQLITE_IOERR at /srv/secret/registry.db";
    const failing = new Proxy({} as RegistryStore, {
      get: (_target, property) =>
        property === "description"
          ? "failing"
          : async () => {
              throw new Error(secret);
            },
    });
    const { logger, lines } = capturingLogger();
    const registry = await startRegistry({ store: failing, logger });
    try {
      const answer = await api(registry.url, "GET", "/api/v1/experiments");
      expect(answer.status).toBe(500);
      expect(answer.body).toEqual({
        error: { code: "INTERNAL", message: expect.stringContaining("see its log") },
      });
      expect(JSON.stringify(answer.body)).not.toContain("secret");
      const logged = lines.find((line) => line.msg === "request failed");
      expect(JSON.stringify(logged)).toContain(secret);

      const error = await outcome(registry.client.listExperiments());
      expect(error).toMatchObject({ name: "UserError" });
      expect(error !== "ok" && error.message).toContain(registry.url);
    } finally {
      await registry.close();
    }
  });
});
