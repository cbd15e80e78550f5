import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RIDES, startTestServer, type TestServer } from "./helpers/server.js";

const TOKEN = "s3cret-token";

describe("serve --auth-token: bearer auth on a real socket", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ authToken: TOKEN });
  });
  afterAll(async () => {
    await server?.close();
  });

  const call = (path: string, init: { token?: string; body?: unknown } = {}) =>
    fetch(`${server.url}${path}`, {
      method: init.body === undefined ? "GET" : "POST",
      headers: {
        ...(init.token === undefined ? {} : { authorization: `Bearer ${init.token}` }),
        ...(init.body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });

  it("answers predictions only with the token", async () => {
    const without = await call("/predict", { body: RIDES[0] });
    expect(without.status).toBe(401);
    expect(without.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(await without.json()).toEqual({
      error: "this server requires a token: send Authorization: Bearer <token>",
    });
    const wrong = await call("/predict", { body: RIDES[0], token: "guess" });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toEqual({ error: "the bearer token was refused" });
    const right = await call("/predict", { body: RIDES[0], token: TOKEN });
    expect(right.status).toBe(200);
    expect(await right.json()).toMatchObject({ duration: expect.any(Number) });
  });

  it("answers 401 in each protocol's own error shape", async () => {
    const mlflow = await call("/invocations", { body: { dataframe_records: [RIDES[0]] } });
    expect(mlflow.status).toBe(401);
    expect(await mlflow.json()).toMatchObject({ error_code: "UNAUTHENTICATED" });
    const v2 = await call("/v2/models/ride-duration");
    expect(v2.status).toBe(401);
    expect(await v2.json()).toHaveProperty("error");
    // An unknown path is not told apart from a real one without the token.
    expect((await call("/no-such-route")).status).toBe(401);
  });

  it("leaves health checks and /metrics open for probes and scrapers", async () => {
    for (const path of ["/ping", "/health", "/v2/health/live", "/v2/health/ready", "/metrics"]) {
      expect((await call(path)).status, path).toBe(200);
    }
  });
});

describe("GET /openapi.json", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it("describes the routes with the served model's own request schema", async () => {
    const response = await fetch(`${server.url}/openapi.json`);
    expect(response.status).toBe(200);
    const document = (await response.json()) as {
      openapi: string;
      paths: Record<string, unknown>;
      components: { schemas: { Row: { properties: Record<string, unknown>; required: string[] } } };
      security?: unknown;
    };
    expect(document.openapi).toBe("3.1.0");
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining(["/predict", "/invocations", "/v2/models/{name}/infer", "/metrics"]),
    );
    const row = document.components.schemas.Row;
    expect(row.required.sort()).toEqual(["DOLocationID", "PULocationID", "trip_distance"]);
    expect(row.properties.trip_distance).toMatchObject({
      type: "number",
      minimum: 0,
      maximum: 1000,
    });
    // What the limits, timeouts and the concurrency limit answer is documented on every POST.
    const predict = document.paths["/predict"] as {
      post: { responses: Record<string, { headers?: Record<string, unknown> }> };
    };
    expect(Object.keys(predict.post.responses)).toEqual(
      expect.arrayContaining(["200", "400", "408", "413", "415", "422", "503"]),
    );
    expect(predict.post.responses["503"].headers).toHaveProperty("Retry-After");
    expect(row.properties.PULocationID).toMatchObject({ type: "integer" });
    expect(document.security).toBeUndefined();
  });
});
