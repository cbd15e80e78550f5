import { spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import {
  MANIFEST_FILE,
  ModelCache,
  artifactStoreFor,
  cacheEntryName,
  closeArtifactStores,
  verifyLocalDirectory,
} from "../../../src/registry/artifacts/index.js";
import { ObjectArtifactStore } from "../../../src/registry/artifacts/base-store.js";
import { S3RVER_CREDENTIALS, startS3Server, type S3TestServer } from "../../helpers/s3-server.js";
import { tempDir } from "../../helpers/temp.js";
import { expectFiles, makeModelDir, s3Raw, useS3rverCredentials } from "./fixtures.js";

useS3rverCredentials();

let server: S3TestServer;
let counter = 0;
beforeAll(async () => {
  server = await startS3Server(["models"]);
});
afterAll(async () => {
  closeArtifactStores();
  await server.stop();
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** Counts directory downloads from any store. */
const spyDownloads = () => vi.spyOn(ObjectArtifactStore.prototype, "downloadDirectory");

/** A model uploaded to a fresh key on `s3`. */
async function uploadedModel(s3: S3TestServer = server, modelBytes = 256 * 1024) {
  const model = makeModelDir(modelBytes);
  const uri = `s3://models/registry/ride/${++counter}`;
  await artifactStoreFor(uri, { endpoint: s3.endpoint }).uploadDirectory(model.dir, uri);
  return { ...model, uri };
}

/** Names in the cache's download area (finished, abandoned or in progress). */
const downloads = (cacheDir: string) => readdirSync(path.join(cacheDir, ".entries"));

describe("ModelCache", () => {
  it("defaults to <dataDir>/cache/models", () => {
    expect(new ModelCache().dir).toBe(path.resolve("mldeploy-data/cache/models"));
    expect(new ModelCache({ dataDir: "/srv/data" }).dir).toBe("/srv/data/cache/models");
    expect(new ModelCache({ dir: "/srv/cache" }).dir).toBe("/srv/cache");
  });

  it("downloads once: a second fetch works with the S3 server stopped", async () => {
    const own = await startS3Server(["models"]);
    const { uri, files } = await uploadedModel(own);
    const cache = new ModelCache({
      dir: tempDir(),
      store: { endpoint: own.endpoint, maxAttempts: 1 },
    });

    const downloaded = spyDownloads();
    const first = await cache.fetch(uri, "ride@1");
    expectFiles(first, files);
    await verifyLocalDirectory(first, { hashes: true });
    expect(readdirSync(cache.dir).sort()).toEqual([".entries", cacheEntryName("ride@1")]);
    expect(downloaded).toHaveBeenCalledTimes(1);

    await own.stop();
    expect(await cache.fetch(uri, "ride@1")).toBe(first);
    expect(await cache.fetch(uri, "ride@1", { verifyHashes: true })).toBe(first);
    expect(downloaded).toHaveBeenCalledTimes(1);
    // A key not in the cache does need the server, which is gone: proof nothing was cached by accident.
    await expect(cache.fetch(uri, "ride@2")).rejects.toThrow(/cannot reach the S3 endpoint/);
  });

  it("re-downloads a corrupted or deleted cached copy", async () => {
    const { uri, files } = await uploadedModel();
    const cache = new ModelCache({ dir: tempDir(), store: { endpoint: server.endpoint } });
    const first = await cache.fetch(uri, "ride@1");

    truncateSync(path.join(first, "model.onnx"), 10);
    const second = await cache.fetch(uri, "ride@1");
    expect(second).not.toBe(first);
    expectFiles(second, files);
    expect(existsSync(first)).toBe(false); // the corrupt copy is gone
    expect(downloads(cache.dir)).toEqual([path.basename(second)]);

    // Same size, different bytes: only the full hash check notices.
    const bytes = readFileSync(path.join(second, "MLmodel"));
    bytes[0] ^= 1;
    writeFileSync(path.join(second, "MLmodel"), bytes);
    expect(await cache.fetch(uri, "ride@1")).toBe(second);
    const third = await cache.fetch(uri, "ride@1", { verifyHashes: true });
    expect(third).not.toBe(second);
    expectFiles(third, files);

    // A cached copy deleted behind the cache's back (a dangling link) is fetched again.
    rmSync(third, { recursive: true });
    expectFiles(await cache.fetch(uri, "ride@1"), files);
  });

  it("two caches fetching the same key at once end with one valid directory", async () => {
    const { uri, files } = await uploadedModel();
    const dir = tempDir();
    const options = { dir, store: { endpoint: server.endpoint } };
    const downloaded = spyDownloads();
    const [a, b] = await Promise.all([
      new ModelCache(options).fetch(uri, "ride@1"),
      new ModelCache(options).fetch(uri, "ride@1"),
    ]);
    // Both really downloaded (the race happened); the second to finish adopted the first's copy.
    expect(downloaded).toHaveBeenCalledTimes(2);
    expect(a).toBe(b);
    expectFiles(a, files);
    expect(downloads(dir)).toEqual([path.basename(a)]);
    expect(readdirSync(dir).sort()).toEqual([".entries", cacheEntryName("ride@1")]);
  });

  it("one cache fetching the same key twice at once downloads once", async () => {
    const { uri, files } = await uploadedModel();
    const cache = new ModelCache({ dir: tempDir(), store: { endpoint: server.endpoint } });
    const downloaded = spyDownloads();
    const [a, b] = await Promise.all([cache.fetch(uri, "ride@1"), cache.fetch(uri, "ride@1")]);
    expect(downloaded).toHaveBeenCalledTimes(1);
    expect(a).toBe(b);
    expectFiles(a, files);
  });

  it("two processes fetching the same key at once end with one valid directory", async () => {
    // A big file, so that the two downloads overlap.
    const { uri, files } = await uploadedModel(server, 5 * 1024 * 1024);
    const dir = tempDir();
    const module = pathToFileURL(path.resolve("dist/registry/artifacts/index.js")).href;
    const script = `
      const { ModelCache } = await import(${JSON.stringify(module)});
      const dir = await new ModelCache({ dir: process.env.CACHE_DIR }).fetch(process.env.SOURCE, "ride@1");
      process.stdout.write(dir);`;
    const run = () =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
          env: {
            ...process.env,
            ...S3RVER_CREDENTIALS,
            MLDEPLOY_S3_ENDPOINT: server.endpoint,
            CACHE_DIR: dir,
            SOURCE: uri,
          },
        });
        let out = "";
        let err = "";
        child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
        child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
        child.on("error", reject);
        child.on("close", (status) =>
          status === 0 ? resolve(out) : reject(new Error(`exit ${status}: ${err}`)),
        );
      });
    const [a, b] = await Promise.all([run(), run()]);
    expect(a).toBe(b);
    expectFiles(a, files);
    expect(downloads(dir)).toEqual([path.basename(a)]);
    expect(readdirSync(dir).sort()).toEqual([".entries", cacheEntryName("ride@1")]);
  });

  it("a failed download leaves nothing under the entry name", async () => {
    const { uri } = await uploadedModel();
    await s3Raw(server.endpoint).write(`${uri}/model.onnx`, Buffer.from("not the model"));
    const cache = new ModelCache({ dir: tempDir(), store: { endpoint: server.endpoint } });
    // Leftovers of a crashed download do not matter either.
    mkdirSync(path.join(cache.dir, ".entries", `${cacheEntryName("ride@1")}-crashed`), {
      recursive: true,
    });
    await expect(cache.fetch(uri, "ride@1")).rejects.toMatchObject({
      code: "ARTIFACT_CORRUPT",
      message: expect.stringContaining('"model.onnx"'),
    });
    expect(existsSync(path.join(cache.dir, cacheEntryName("ride@1")))).toBe(false);
    expect(downloads(cache.dir)).toEqual([`${cacheEntryName("ride@1")}-crashed`]);
  });

  it("returns local model directories in place, checking their manifest if they have one", async () => {
    const model = makeModelDir(4096);
    const cache = new ModelCache({ dir: path.join(tempDir(), "cache") });
    expect(await cache.fetch(model.dir, "local")).toBe(model.dir);
    expect(await cache.fetch(pathToFileURL(model.dir).href, "local")).toBe(model.dir);
    expect(existsSync(cache.dir)).toBe(false); // nothing copied

    const stored = path.join(tempDir(), "stored");
    await artifactStoreFor(stored).uploadDirectory(model.dir, stored);
    expect(await cache.fetch(stored, "local")).toBe(stored);
    truncateSync(path.join(stored, "model.onnx"), 1);
    await expect(cache.fetch(stored, "local")).rejects.toMatchObject({ code: "ARTIFACT_CORRUPT" });
    await expect(cache.fetch(path.join(stored, "nope"), "local")).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    await expect(cache.fetch(path.join(stored, MANIFEST_FILE), "x")).rejects.toMatchObject({
      code: "INVALID_VALUE",
    });
  });
});
