import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Registry } from "../../../src/registry/registry.js";
import {
  deploymentListSchema,
  inputExampleSchema,
  invocationAnswerSchema,
} from "../../../src/registry/server/deployment-schemas.js";
import { runServe, type RunningServe } from "../../../src/serve/run.js";
import { rideBundlePath } from "../../helpers/ride-bundle.js";
import { tempDir } from "../../helpers/temp.js";
import { api, startRegistry, type TestRegistry } from "./helpers.js";

/**
 * The deployment routes over real sockets: heartbeats in and out, a version's input example
 * read from its files, and a prediction sent through the registry to a real serve.
 */
let registry: TestRegistry;
let serve: RunningServe;
let securedServe: RunningServe;
const TOKEN = "t0ken";
const SERVE_TOKEN = "serve-s3cret";

const beat = (over: Record<string, unknown> = {}) => ({
  mode: "serve",
  host: "box",
  pid: 1,
  endpoint: "http://127.0.0.1:9",
  modelUri: "models:/ride-duration@production",
  modelName: "ride-duration",
  modelVersion: "1",
  versionSince: 1,
  startedAt: 1,
  rate: 0,
  intervalMs: 60_000,
  ...over,
});
const ID = {
  serve: "1".repeat(32),
  stream: "2".repeat(32),
  gone: "3".repeat(32),
  secured: "4".repeat(32),
};
const call = (method: string, route: string, body?: object) =>
  api(registry.url, method, `/api/v1${route}`, { token: TOKEN, body });

beforeAll(async () => {
  const dataDir = tempDir();
  registry = await startRegistry({
    token: TOKEN,
    artifactRoot: path.join(dataDir, "artifacts"),
  });
  const local = await Registry.open({
    url: registry.url,
    token: TOKEN,
    dataDir,
  });
  const run = await local.startRun({ experiment: "rides" });
  await run.logModel(await rideBundlePath(), { register: "ride-duration" });
  await run.end();
  await local.store.createModelVersion({ name: "ride-duration", source: dataDir });
  await local.setAlias("ride-duration", "production", 1);
  await local.close();
  serve = await runServe(
    { model: await rideBundlePath(), port: 0, workers: 1, logLevel: "silent", metrics: false },
    { handleSignals: false },
  );
  securedServe = await runServe(
    {
      model: await rideBundlePath(),
      port: 0,
      workers: 1,
      logLevel: "silent",
      metrics: false,
      authToken: SERVE_TOKEN,
    },
    { handleSignals: false },
  );
}, 60_000);
afterAll(async () => {
  await securedServe?.close();
  await serve?.close();
  await registry?.close();
});

describe("deployment heartbeats over the API", () => {
  it("takes a heartbeat, lists it with the alias's version, and removes it", async () => {
    expect((await call("PUT", `/deployments/${ID.serve}`, beat())).status).toBe(204);
    const listed = await call("GET", "/deployments");
    expect(listed.status).toBe(200);
    expect(deploymentListSchema.safeParse(listed.body).success).toBe(true);
    expect(listed.body).toEqual([
      expect.objectContaining({
        id: ID.serve,
        modelVersion: "1",
        follows: "production",
        targetVersion: 1,
        lagging: false,
      }),
    ]);
    expect((await call("DELETE", `/deployments/${ID.serve}`)).status).toBe(204);
    expect((await call("GET", "/deployments")).body).toEqual([]);
  });

  it("refuses a heartbeat with a missing or bad field, naming it", async () => {
    const { mode: _mode, ...noMode } = beat();
    const missing = await call("PUT", `/deployments/${ID.serve}`, noMode);
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ error: { field: "mode" } });
    const badId = await call("PUT", "/deployments/xyz", beat());
    expect(badId.status).toBe(400);
    expect(JSON.stringify(badId.body)).toMatch(/deployment id/);
    const unauthorized = await api(registry.url, "GET", "/api/v1/deployments");
    expect(unauthorized.status).toBe(401);
  });
});

describe("input example", () => {
  it("reads serving_input_example.json from the version's files", async () => {
    const answer = await call("GET", "/models/ride-duration/versions/1/input-example");
    expect(answer.status).toBe(200);
    expect(inputExampleSchema.safeParse(answer.body).success).toBe(true);
    expect(answer.body).toMatchObject({
      file: "serving_input_example.json",
      example: { dataframe_split: { columns: expect.arrayContaining(["trip_distance"]) } },
    });
  });

  it("says which version has none", async () => {
    const answer = await call("GET", "/models/ride-duration/versions/2/input-example");
    expect(answer.status).toBe(404);
    expect(JSON.stringify(answer.body)).toMatch(
      /version 2 of model \\"ride-duration\\" has no serving_input_example.json/,
    );
    expect((await call("GET", "/models/ride-duration/versions/9/input-example")).status).toBe(404);
  });
});

describe("try it: POST /deployments/{id}/invocations", () => {
  it("sends the example to the serve deployment and answers with its prediction", async () => {
    await call("PUT", `/deployments/${ID.serve}`, beat({ endpoint: serve.url }));
    const example = (
      (await call("GET", "/models/ride-duration/versions/1/input-example")).body as {
        example: object;
      }
    ).example;
    const answer = await call("POST", `/deployments/${ID.serve}/invocations`, example);
    expect(answer.status).toBe(200);
    const checked = invocationAnswerSchema.safeParse(answer.body);
    expect(checked.success, `${checked.error?.message} ${JSON.stringify(answer.body)}`).toBe(true);
    const { status, body } = answer.body as { status: number; body: { predictions: unknown[] } };
    expect(status).toBe(200);
    expect(body.predictions.length).toBeGreaterThan(0);
    expect(body.predictions[0]).toEqual({ duration: expect.any(Number) });
  });

  it("passes on the serve's error naming the field", async () => {
    const answer = await call("POST", `/deployments/${ID.serve}/invocations`, {
      dataframe_split: {
        columns: ["PULocationID", "DOLocationID", "trip_distance"],
        data: [[1, 2, "far"]],
      },
    });
    expect(answer.status).toBe(200);
    const { status, body } = answer.body as { status: number; body: unknown };
    expect(status).toBe(400);
    expect(JSON.stringify(body)).toMatch(/trip_distance/);
  });

  it("calls only live serve deployments, and says when one cannot be reached", async () => {
    expect((await call("POST", `/deployments/${ID.gone}/invocations`, {})).status).toBe(404);
    await call(
      "PUT",
      `/deployments/${ID.stream}`,
      beat({ mode: "stream", endpoint: "nats://127.0.0.1:4222/rides (group g)" }),
    );
    const stream = await call("POST", `/deployments/${ID.stream}/invocations`, {});
    expect(stream.status).toBe(409);
    expect(JSON.stringify(stream.body)).toMatch(/stream process/);

    await call("PUT", `/deployments/${ID.gone}`, beat({ endpoint: "http://127.0.0.1:9" }));
    const gone = await call("POST", `/deployments/${ID.gone}/invocations`, { inputs: [] });
    expect(gone.status).toBe(200);
    expect(gone.body).toMatchObject({ status: null, error: expect.stringMatching(/cannot reach/) });
  });

  it("passes the serve's own token on from x-mldeploy-serve-token, never echoing it", async () => {
    await call("PUT", `/deployments/${ID.secured}`, beat({ endpoint: securedServe.url }));
    const request = {
      dataframe_split: {
        columns: ["PULocationID", "DOLocationID", "trip_distance"],
        data: [[10, 50, 3.2]],
      },
    };
    const route = `/api/v1/deployments/${ID.secured}/invocations`;
    const send = (headers: Record<string, string>) =>
      fetch(`${registry.url}${route}`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${TOKEN}`,
          "content-type": "application/json",
          ...headers,
        },
        body: JSON.stringify(request),
      });

    const without = (await (await send({})).json()) as { status: number };
    expect(without.status).toBe(401);
    const wrong = (await (await send({ "x-mldeploy-serve-token": "nope" })).json()) as {
      status: number;
    };
    expect(wrong.status).toBe(401);
    const right = await send({ "x-mldeploy-serve-token": SERVE_TOKEN });
    expect(right.status).toBe(200);
    const answer = (await right.json()) as { status: number; body: { predictions: unknown[] } };
    expect(answer.status).toBe(200);
    expect(answer.body.predictions[0]).toEqual({ duration: expect.any(Number) });

    // A bad value is refused naming the header, without repeating it (it may be a secret).
    const secret = `${SERVE_TOKEN}-${"x".repeat(5000)}`;
    const tooLong = await send({ "x-mldeploy-serve-token": secret });
    expect(tooLong.status).toBe(400);
    const text = await tooLong.text();
    expect(JSON.parse(text)).toMatchObject({
      error: {
        field: "x-mldeploy-serve-token",
        message: expect.stringMatching(/header field "x-mldeploy-serve-token"/),
      },
    });
    expect(text).not.toContain(SERVE_TOKEN);
  });

  it("documents the header in the OpenAPI document", async () => {
    const document = (await call("GET", "/openapi.json")).body as {
      paths: Record<string, Record<string, { parameters?: Array<{ name: string; in: string }> }>>;
    };
    const operation = document.paths["/api/v1/deployments/{id}/invocations"].post;
    expect(operation.parameters).toContainEqual(
      expect.objectContaining({ name: "x-mldeploy-serve-token", in: "header" }),
    );
  });
});
