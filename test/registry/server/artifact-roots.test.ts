import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryError } from "../../../src/registry/errors.js";
import { parseRegistryServerOptions } from "../../../src/registry/server/run.js";
import { tempDir } from "../../helpers/temp.js";
import { api, startRegistry, type TestRegistry } from "./helpers.js";
import { startServerProcess } from "./server-process.js";

/**
 * A registry server accepts model version sources and experiment artifact locations under
 * its artifact roots only: its store's artifact root and the allowed ones. Every client reads
 * what these fields name, so one client must not be able to point the others at /etc.
 */

const base = tempDir("mldeploy-artifact-roots-");
const ROOT = path.join(base, "artifacts");
const SHARED = path.join(base, "shared");
const BUCKET_ROOT = "s3://models/prod";

function refusedLocations(): string[] {
  return [
    "/etc",
    "../../../../etc",
    "file:///etc/passwd",
    "runs:/../../etc/model",
    "runs:/0123456789abcdef0123456789abcdef/model",
    `${ROOT}/../../../etc`,
    `${pathToFileURL(ROOT).href}/../x`,
    `${pathToFileURL(ROOT).href}/%2e%2e/x`,
    `${ROOT}-evil/model`, // a sibling whose name starts like the root
    "model", // relative: would be resolved in the server's working directory
    "s3://other-bucket/model",
    "s3://models/production/model", // a prefix that starts like the allowed one
    "s3://models/prod/../secret",
    "s3://models",
    "http://example.com/model",
  ];
}

function acceptedLocations(): string[] {
  return [
    path.join(ROOT, "1", "run", "artifacts", "model"),
    pathToFileURL(path.join(ROOT, "x", "model")).href,
    path.join(SHARED, "ride-duration"),
    `${BUCKET_ROOT}/ride/1`,
  ];
}

describe("registry server artifact roots", () => {
  let registry: TestRegistry;

  beforeAll(async () => {
    registry = await startRegistry({
      artifactRoot: ROOT,
      allowedArtifactRoots: [SHARED, BUCKET_ROOT],
    });
  });
  afterAll(() => registry.close());

  it.each(refusedLocations())(
    "refuses the version source %s with 400 naming the field",
    async (source) => {
      const answer = await api(registry.url, "POST", "/api/v1/models/m/versions", {
        body: { source },
      });
      expect(answer.status, JSON.stringify(answer.body)).toBe(400);
      const { error } = answer.body as { error: { code: string; message: string; field: string } };
      expect(error).toMatchObject({ code: "INVALID_VALUE", field: "source" });
      expect(error.message).toContain('body field "source"');
      expect(error.message).toContain(ROOT);
      expect(await registry.local.listRegisteredModels()).toEqual([]);
    },
  );

  it.each(refusedLocations())("refuses the experiment artifact location %s", async (location) => {
    const answer = await api(registry.url, "POST", "/api/v1/experiments", {
      body: { name: "e", artifactLocation: location },
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(400);
    expect(answer.body).toMatchObject({
      error: { code: "INVALID_VALUE", field: "artifactLocation" },
    });
    expect(await registry.local.listExperiments()).toEqual([]);
  });

  it("accepts locations under its artifact root and the allowed roots", async () => {
    for (const [i, location] of acceptedLocations().entries()) {
      const version = await registry.client.createModelVersion({ name: "ok", source: location });
      expect(version.source).toBe(location);
      const experiment = await registry.client.createExperiment(`e${i}`, {
        artifactLocation: location,
      });
      expect(experiment.artifactLocation).toBe(location);
    }
    // Experiments and runs with the default location: under the root, so registrable.
    const experiment = await registry.client.createExperiment("default");
    const run = await registry.client.createRun({ experimentId: experiment.id });
    const version = await registry.client.createModelVersion({
      name: "ok",
      source: `${run.artifactUri}/model`,
      runId: run.id,
    });
    expect(version.runId).toBe(run.id);
  });

  it("gives an HttpStore caller a RegistryError naming the field", async () => {
    const error = await registry.client
      .createModelVersion({ name: "m", source: "/etc" })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryError);
    expect((error as RegistryError).code).toBe("INVALID_VALUE");
    expect((error as Error).message).toContain('"source"');
  });
});

describe("registry-server --allowed-artifact-roots", () => {
  it("reads a comma-separated list (flag or MLDEPLOY_ALLOWED_ARTIFACT_ROOTS) or a config list", () => {
    expect(
      parseRegistryServerOptions({ allowedArtifactRoots: " s3://a/b, /srv/models ," })
        .allowedArtifactRoots,
    ).toEqual(["s3://a/b", "/srv/models"]);
    expect(
      parseRegistryServerOptions({ allowedArtifactRoots: ["s3://a/b"] }).allowedArtifactRoots,
    ).toEqual(["s3://a/b"]);
  });

  it("the server process refuses sources outside its roots and accepts the allowed ones", async () => {
    const server = await startServerProcess([
      "--data-dir",
      path.join(base, "data"),
      "--artifact-root",
      ROOT,
      "--allowed-artifact-roots",
      `${BUCKET_ROOT},${SHARED}`,
    ]);
    try {
      const post = (source: string) =>
        api(server.url, "POST", "/api/v1/models/m/versions", { body: { source } });
      for (const source of [
        "/etc",
        "../../../../etc",
        "file:///etc/passwd",
        "runs:/../../etc/model",
      ]) {
        expect((await post(source)).status, source).toBe(400);
      }
      expect((await post(`${BUCKET_ROOT}/m/1`)).status).toBe(201);
      expect((await post(path.join(SHARED, "m"))).status).toBe(201);
      expect((await post(path.join(ROOT, "m"))).status).toBe(201);
      const logged = server.lines.find((line) => Array.isArray(line.artifactRoots));
      expect(logged?.artifactRoots).toEqual([ROOT, BUCKET_ROOT, SHARED]);
    } finally {
      server.child.kill("SIGTERM");
      await server.exited;
    }
  });
});
