import { existsSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeArtifactStores } from "../../src/registry/artifacts/open.js";
import { RegistryError } from "../../src/registry/errors.js";
import { isMovable, parseModelUri } from "../../src/registry/model-uri.js";
import { Registry } from "../../src/registry/registry.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { S3RVER_CREDENTIALS, startS3Server, type S3TestServer } from "../helpers/s3-server.js";
import { tempDir } from "../helpers/temp.js";

describe("parseModelUri", () => {
  it.each([
    [
      "models:/ride-duration@production",
      { kind: "alias", name: "ride-duration", alias: "production" },
      true,
    ],
    ["models:/ride-duration/3", { kind: "version", name: "ride-duration", version: 3 }, false],
    ["models:/ride-duration/latest", { kind: "latest", name: "ride-duration" }, true],
    [
      "runs:/0123456789abcdef0123456789abcdef/model",
      { kind: "run", runId: "0123456789abcdef0123456789abcdef", path: "model" },
      false,
    ],
    ["s3://bucket/models/m1", { kind: "artifact", uri: "s3://bucket/models/m1" }, false],
    ["./models/m1", { kind: "artifact", uri: "./models/m1" }, false],
  ])("%s", (uri, parsed, movable) => {
    expect(parseModelUri(uri)).toEqual(parsed);
    expect(isMovable(parseModelUri(uri))).toBe(movable);
  });

  it.each([
    ["models:/ride-duration", /names no version or alias/],
    ["models:/ride-duration/v3", /"v3" where a version number belongs/],
    ["models:/ride-duration@", /needs a name and an alias/],
    ["models:/../etc@x", /model name/],
    ["runs:/not-a-run/model", /where a run id belongs/],
    ["runs:/0123456789abcdef0123456789abcdef", /names no artifact path/],
    ["ftp://host/model", /unsupported scheme "ftp:"/],
  ])("refuses %s", (uri, message) => {
    expect(() => parseModelUri(uri)).toThrow(RegistryError);
    expect(() => parseModelUri(uri)).toThrow(message);
  });
});

async function trackedVersions(registry: Registry, bundle: string, count: number) {
  const versions = [];
  for (let i = 0; i < count; i++) {
    const run = await registry.startRun({ experiment: "nyc-taxi" });
    await run.logParams({ alpha: i });
    for (let step = 0; step < 3; step++) await run.logMetric("rmse", 10 - step - i, step);
    versions.push((await run.logModel(bundle, { register: "ride-duration" }))!);
    await run.end();
  }
  return versions;
}

describe("Registry with the embedded defaults (SQLite, local artifacts)", () => {
  let registry: Registry;
  let bundle: string;
  beforeAll(async () => {
    bundle = await rideBundlePath();
    registry = await Registry.open({ dataDir: tempDir() });
  });
  afterAll(async () => {
    await registry?.close();
  });

  it("logs runs, registers versions and resolves every kind of model URI to a bundle", async () => {
    const [v1, v2] = await trackedVersions(registry, bundle, 2);
    expect([v1.version, v2.version]).toEqual([1, 2]);
    expect(JSON.parse(v1.signature!)).toMatchObject({ inputs: expect.any(Array) });
    const run = await registry.store.getRun(v1.runId!);
    expect(run).toMatchObject({
      status: "FINISHED",
      params: { alpha: "0" },
      latestMetrics: { rmse: 8 },
    });
    expect((await registry.store.getMetricHistory(run.id, "rmse")).map((p) => p.step)).toEqual([
      0, 1, 2,
    ]);

    await registry.setAlias("ride-duration", "production", 1);
    const byAlias = await registry.resolveModel("models:/ride-duration@production");
    expect(byAlias).toMatchObject({ name: "ride-duration", version: "1", movable: true });
    expect(existsSync(path.join(byAlias.path, "MLmodel"))).toBe(true);
    expect(await registry.resolveModel("models:/ride-duration/latest")).toMatchObject({
      version: "2",
      movable: true,
    });
    expect(await registry.resolveModel("models:/ride-duration/2")).toMatchObject({
      version: "2",
      movable: false,
    });
    const byRun = await registry.resolveModel(`runs:/${v2.runId}/model`);
    expect(existsSync(path.join(byRun.path, "model.onnx"))).toBe(true);

    await registry.setAlias("ride-duration", "production", 2);
    expect((await registry.resolveModel("models:/ride-duration@production")).version).toBe("2");
  });

  it("names what is missing", async () => {
    await expect(registry.resolveModel("models:/ride-duration@staging")).rejects.toThrow(/staging/);
    await expect(registry.resolveModel("models:/no-such-model/1")).rejects.toThrow(/no-such-model/);
    await expect(registry.resolveModel("models:/ride-duration/99")).rejects.toThrow(/99/);
    await expect(registry.setAlias("ride-duration", "production", 42)).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    await expect(
      registry.resolveModel("runs:/0123456789abcdef0123456789abcdef/model"),
    ).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
  });

  it("tags the version a run registers", async () => {
    const run = await registry.startRun({ experiment: "tagged" });
    const version = await run.logModel(bundle, {
      register: "tagged-model",
      tags: { validated: "true" },
    });
    await run.end();
    expect(version?.tags).toEqual({ validated: "true" });
    expect((await registry.store.getModelVersion("tagged-model", 1)).tags).toEqual({
      validated: "true",
    });
  });
});

describe("Registry with artifacts in S3 (s3rver through the AWS SDK)", () => {
  let s3: S3TestServer;
  let registry: Registry;
  let dataDir: string;
  beforeAll(async () => {
    Object.assign(process.env, S3RVER_CREDENTIALS);
    s3 = await startS3Server(["mlflow"]);
    dataDir = tempDir();
    registry = await Registry.open({
      dataDir,
      artifactRoot: "s3://mlflow/experiments",
      s3: { endpoint: s3.endpoint },
    });
  });
  afterAll(async () => {
    await registry?.close();
    await s3?.stop();
    closeArtifactStores();
  });

  it("uploads the model to S3, downloads it once into the cache keyed by version, then serves from disk", async () => {
    const [version] = await trackedVersions(registry, await rideBundlePath(), 1);
    expect(version.source).toMatch(
      /^s3:\/\/mlflow\/experiments\/[0-9a-f]{32}\/[0-9a-f]{32}\/artifacts\/model$/,
    );
    await registry.setAlias("ride-duration", "production", version.version);
    const first = await registry.resolveModel("models:/ride-duration@production");
    expect(first.path.startsWith(path.resolve(dataDir, "cache"))).toBe(true);
    expect(existsSync(path.join(first.path, "model.onnx"))).toBe(true);

    // With S3 gone, the cached copy still resolves: a restart does not download again.
    await s3.stop();
    const again = await registry.resolveModel("models:/ride-duration@production");
    expect(again.path).toBe(first.path);
  });
});
