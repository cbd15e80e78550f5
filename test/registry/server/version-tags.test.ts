import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, startRegistry, type TestRegistry } from "./helpers.js";

const TOKEN = "version-tags-token";

/** Model version tags over the raw JSON API, as curl or a Python client would use them. */
describe("registry API: model version tags", () => {
  let registry: TestRegistry;
  const call = (method: string, route: string, body?: object) =>
    api(registry.url, method, `/api/v1${route}`, { body, token: TOKEN });

  beforeAll(async () => {
    registry = await startRegistry({ token: TOKEN });
  });
  afterAll(() => registry.close());

  it("registers a version with tags and shows them in every version answer", async () => {
    const created = await call("POST", "/models/ride-duration/versions", {
      source: "/models/a",
      tags: { validated: "true" },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ version: 1, tags: { validated: "true" } });
    const listed = await call("GET", "/models/ride-duration/versions");
    expect((listed.body as { tags: unknown }[]).map((v) => v.tags)).toEqual([
      { validated: "true" },
    ]);
  });

  it("sets tags with POST …/versions/{version}/tags (204) and deletes one by its encoded key", async () => {
    const set = await call("POST", "/models/ride-duration/versions/1/tags", {
      tags: { "team/owner": "rides", validated: "false" },
    });
    expect(set.status).toBe(204);
    expect(set.body).toBeUndefined();
    const got = await call("GET", "/models/ride-duration/versions/1");
    expect((got.body as { tags: unknown }).tags).toEqual({
      "team/owner": "rides",
      validated: "false",
    });

    const deleted = await call("DELETE", "/models/ride-duration/versions/1/tags/team%2Fowner");
    expect(deleted.status).toBe(204);
    expect((await registry.local.getModelVersion("ride-duration", 1)).tags).toEqual({
      validated: "false",
    });
    const again = await call("DELETE", "/models/ride-duration/versions/1/tags/team%2Fowner");
    expect(again.status).toBe(404);
    expect(again.body).toMatchObject({ error: { code: "NOT_FOUND" } });
  });

  it("answers 404 for an unknown version or model, 400 naming a bad field, 401 without token", async () => {
    const unknown = await call("POST", "/models/ride-duration/versions/9/tags", { tags: {} });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({
      error: { code: "NOT_FOUND", message: 'registered model "ride-duration" has no version 9' },
    });
    expect((await call("POST", "/models/ghost/versions/1/tags", { tags: {} })).status).toBe(404);

    const misspelt = await call("POST", "/models/ride-duration/versions/1/tags", {
      tags: {},
      tag: {},
    });
    expect(misspelt.status).toBe(400);
    expect(misspelt.body).toMatchObject({ error: { code: "INVALID_VALUE", field: "tag" } });
    const notText = await call("POST", "/models/ride-duration/versions/1/tags", {
      tags: { n: 1 },
    });
    expect(notText.status).toBe(400);
    expect(notText.body).toMatchObject({ error: { field: "tags.n" } });
    const badKey = await call("POST", "/models/ride-duration/versions/1/tags", {
      tags: { "a b!": "x" },
    });
    expect(badKey.status).toBe(400);
    expect(badKey.body).toMatchObject({ error: { code: "INVALID_NAME" } });

    const anonymous = await api(
      registry.url,
      "POST",
      "/api/v1/models/ride-duration/versions/1/tags",
      {
        body: { tags: { x: "y" } },
      },
    );
    expect(anonymous.status).toBe(401);
    expect((await registry.local.getModelVersion("ride-duration", 1)).tags).toEqual({
      validated: "false",
    });
  });
});
