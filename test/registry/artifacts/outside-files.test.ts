/**
 * Nothing outside the directory is read or written, and nothing blocks: real symbolic links
 * (to /etc/passwd, /dev/zero, an outside directory, and inside the directory) and real FIFOs,
 * through the public APIs (Registry runs, the stores, the model cache).
 */
import { execFileSync } from "node:child_process";
import {
  closeSync,
  constants,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { open } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  MANIFEST_FILE,
  ModelCache,
  artifactStoreFor,
  cacheEntryName,
  closeArtifactStores,
} from "../../../src/registry/artifacts/index.js";
import { UnsafeFile, readAtMost } from "../../../src/registry/artifacts/safe-files.js";
import { UserError } from "../../../src/config/errors.js";
import { Registry } from "../../../src/registry/registry.js";
import { rideBundlePath } from "../../helpers/ride-bundle.js";
import { startS3Server, type S3TestServer } from "../../helpers/s3-server.js";
import { tempDir } from "../../helpers/temp.js";
import { makeModelDir, rejection, sha256, useS3rverCredentials } from "./fixtures.js";

useS3rverCredentials();

let server: S3TestServer;
beforeAll(async () => {
  server = await startS3Server(["models"]);
});
afterAll(async () => {
  closeArtifactStores();
  await server.stop();
});

function mkfifo(file: string): void {
  execFileSync("mkfifo", [file]);
}

/**
 * `promise`, which must settle within `ms`. If it does not and `fifo` is given (a read
 * blocked opening it, waiting for a writer that never comes), a writer is opened and closed
 * to let it go, so the test fails with "hung" instead of leaving a thread blocked for good.
 */
async function settlesWithin<T>(promise: Promise<T>, ms: number, fifo?: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hung for ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, hung]);
  } catch (error) {
    if (fifo !== undefined && error instanceof Error && error.message.startsWith("hung")) {
      promise.catch(() => undefined);
      try {
        closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        // No reader was waiting after all.
      }
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Every file under `dir` (relative paths), links and all, without following any. */
function tree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).sort();
}

describe("uploading a directory (Registry.logModel / logArtifacts)", () => {
  let registry: Registry;
  let bundle: string;
  beforeAll(async () => {
    bundle = await rideBundlePath();
    registry = await Registry.open({ dataDir: tempDir("mldeploy-outside-") });
  });
  afterAll(async () => {
    await registry?.close();
  });

  /** A copy of the real ride bundle, to add links to. */
  function bundleCopy(): string {
    const dir = path.join(tempDir("mldeploy-bundle-"), "model");
    cpSync(bundle, dir, { recursive: true });
    return dir;
  }

  it("refuses a bundle with a link to /etc/passwd, naming it, and registers nothing", async () => {
    const dir = bundleCopy();
    symlinkSync("/etc/passwd", path.join(dir, "notes.txt"));
    const run = await registry.startRun({ experiment: "outside-links" });

    const error = await rejection(run.logModel(dir, { register: "outside-links" }));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toContain(path.join(dir, "notes.txt"));
    expect(error.message).toContain("/etc/passwd, outside");

    // Nothing of it stored: no manifest, no copy of /etc/passwd, no version.
    const stored = path.join((await registry.store.getRun(run.id)).artifactUri, "model");
    expect(existsSync(path.join(stored, MANIFEST_FILE))).toBe(false);
    expect(existsSync(path.join(stored, "notes.txt"))).toBe(false);
    await expect(registry.store.getRegisteredModel("outside-links")).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
  });

  it("refuses a link out of a subdirectory, and one to /dev/zero", async () => {
    const run = await registry.startRun({ experiment: "outside-links" });
    const nested = bundleCopy();
    const outside = path.join(tempDir(), "secret.txt");
    writeFileSync(outside, "secret\n");
    mkdirSync(path.join(nested, "sub"));
    // Relative, climbing out through "..": resolved, not compared as text.
    symlinkSync(path.relative(path.join(nested, "sub"), outside), path.join(nested, "sub", "s"));
    await expect(run.logArtifacts(nested, "model")).rejects.toThrow(
      `${path.join(nested, "sub", "s")} is a symbolic link to ${outside}, outside`,
    );

    const zero = bundleCopy();
    symlinkSync("/dev/zero", path.join(zero, "zeros.bin"));
    await expect(run.logArtifacts(zero, "model")).rejects.toThrow(
      `${path.join(zero, "zeros.bin")} is a symbolic link to /dev/zero, outside`,
    );
  });

  it("refuses a FIFO in the directory or given alone, at once", async () => {
    const run = await registry.startRun({ experiment: "outside-links" });
    const dir = bundleCopy();
    const fifo = path.join(dir, "pipe");
    mkfifo(fifo);
    await expect(settlesWithin(run.logArtifacts(dir, "model"), 5000, fifo)).rejects.toThrow(
      `${fifo} is a FIFO (named pipe), not a regular file`,
    );
    await expect(settlesWithin(run.logArtifact(fifo, "pipe"), 5000, fifo)).rejects.toThrow(
      `cannot upload ${fifo}: it is a FIFO (named pipe), not a regular file`,
    );
  });

  it("uploads links to files inside the directory, with the linked bytes", async () => {
    const run = await registry.startRun({ experiment: "outside-links" });
    const dir = bundleCopy();
    mkdirSync(path.join(dir, "sub"));
    symlinkSync("../model.onnx", path.join(dir, "sub", "same.onnx"));
    const version = await run.logModel(dir, { register: "inside-links" });
    expect(version?.version).toBe(1);

    const stored = path.join((await registry.store.getRun(run.id)).artifactUri, "model");
    expect(lstatSync(path.join(stored, "sub", "same.onnx")).isFile()).toBe(true);
    expect(sha256(readFileSync(path.join(stored, "sub", "same.onnx")))).toBe(
      sha256(readFileSync(path.join(bundle, "model.onnx"))),
    );
    const local = await registry.resolveModel("models:/inside-links/1");
    expect(local.path).toBe(stored);
  });
});

describe("reading a local store", () => {
  async function stored() {
    const model = makeModelDir(4096);
    const root = path.join(tempDir("mldeploy-store-"), "artifacts");
    const store = artifactStoreFor(root);
    await store.uploadDirectory(model.dir, root);
    return { ...model, root, store };
  }

  it("refuses a FIFO in place of a stored file instead of hanging on it", async () => {
    const { root, store } = await stored();
    const fifo = path.join(root, "model.onnx");
    rmSync(fifo);
    mkfifo(fifo);
    const target = tempDir("mldeploy-download-");

    const whole = await rejection(settlesWithin(store.downloadDirectory(root, target), 5000, fifo));
    expect(whole).toMatchObject({ code: "ARTIFACT_CORRUPT" });
    expect(whole.message).toBe(`artifact file ${fifo} is a FIFO (named pipe), not a regular file`);

    const single = await rejection(
      settlesWithin(store.downloadFile(fifo, path.join(target, "one.onnx")), 5000, fifo),
    );
    expect(single).toMatchObject({ code: "ARTIFACT_CORRUPT" });
    expect(existsSync(path.join(target, "one.onnx"))).toBe(false);
  });

  it("refuses a manifest linked to /dev/zero at once, without reading it", async () => {
    const { root, store } = await stored();
    const manifest = path.join(root, MANIFEST_FILE);
    rmSync(manifest);
    symlinkSync("/dev/zero", manifest);
    const before = process.memoryUsage().rss;
    const started = Date.now();

    const error = await rejection(settlesWithin(store.readManifest(root), 5000));
    expect(error).toMatchObject({ code: "ARTIFACT_CORRUPT" });
    expect(error.message).toContain(`${manifest} resolves to /dev/zero, outside`);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
  });

  it("refuses a stored file linked outside the store, even with the right content", async () => {
    const { root, store, dir } = await stored();
    // A copy of the real file outside: size and hash match, only its place is wrong.
    const outside = path.join(tempDir(), "model.onnx");
    cpSync(path.join(dir, "model.onnx"), outside);
    rmSync(path.join(root, "model.onnx"));
    symlinkSync(outside, path.join(root, "model.onnx"));

    const error = await rejection(store.downloadDirectory(root, tempDir()));
    expect(error).toMatchObject({ code: "ARTIFACT_CORRUPT" });
    expect(error.message).toContain(`${path.join(root, "model.onnx")} resolves to ${outside}`);

    // The same directory used in place (a local model source) is checked the same way.
    const cache = new ModelCache({ dir: path.join(tempDir(), "cache") });
    await expect(cache.fetch(root, "x", { verifyHashes: true })).rejects.toMatchObject({
      code: "ARTIFACT_CORRUPT",
      message: expect.stringContaining(`"model.onnx" in ${root} resolves to ${outside}`),
    });
  });

  it("refuses to write through a link to a directory planted in the store", async () => {
    const { root, store, dir } = await stored();
    const outside = tempDir("mldeploy-victim-");
    rmSync(path.join(root, "sub"), { recursive: true });
    symlinkSync(outside, path.join(root, "sub"));

    await expect(store.uploadDirectory(dir, root)).rejects.toMatchObject({
      code: "INVALID_VALUE",
      message: expect.stringContaining(`leads to ${outside}, outside ${root}`),
    });
    expect(tree(outside)).toEqual([]);
  });
});

describe("downloading into a directory that holds links", () => {
  it("does not write through a link to a directory or a link under the manifest's name", async () => {
    const model = makeModelDir(4096);
    const root = `s3://models/outside/${Date.now()}`;
    const store = artifactStoreFor(root, { endpoint: server.endpoint });
    await store.uploadDirectory(model.dir, root);

    const outside = tempDir("mldeploy-victim-");
    const target = tempDir("mldeploy-target-");
    symlinkSync(outside, path.join(target, "sub"));
    await expect(store.downloadDirectory(root, target)).rejects.toThrow(
      `${path.join(target, "sub")} leads to ${outside}, outside`,
    );
    expect(tree(outside)).toEqual([]);

    const victim = path.join(outside, "victim.txt");
    writeFileSync(victim, "keep me\n");
    const clean = tempDir("mldeploy-target-");
    symlinkSync(victim, path.join(clean, MANIFEST_FILE));
    await store.downloadDirectory(root, clean);
    expect(readFileSync(victim, "utf8")).toBe("keep me\n");
    expect(lstatSync(path.join(clean, MANIFEST_FILE)).isFile()).toBe(true);
  });
});

describe("the model cache", () => {
  let counter = 0;
  async function uploadedModel() {
    const model = makeModelDir(4096);
    const uri = `s3://models/cache-outside/${Date.now()}-${++counter}`;
    await artifactStoreFor(uri, { endpoint: server.endpoint }).uploadDirectory(model.dir, uri);
    return { ...model, uri };
  }

  it("does not follow an entry link out of .entries, and leaves its target alone", async () => {
    const { uri } = await uploadedModel();
    const cache = new ModelCache({
      dir: path.join(tempDir(), "cache"),
      store: { endpoint: server.endpoint },
    });
    // A valid-looking copy outside the cache, linked under the entry's name.
    const outside = path.join(tempDir("mldeploy-victim-"), "copy");
    await artifactStoreFor(uri, { endpoint: server.endpoint }).downloadDirectory(uri, outside);
    mkdirSync(cache.dir, { recursive: true });
    const entry = path.join(cache.dir, cacheEntryName("ride@1"));
    symlinkSync(outside, entry);
    const before = tree(outside);

    const got = await cache.fetch(uri, "ride@1");
    expect(path.dirname(got)).toBe(path.join(cache.dir, ".entries"));
    expect(lstatSync(entry).isSymbolicLink()).toBe(true);
    expect(path.resolve(cache.dir, readlinkSync(entry))).toBe(got);
    expect(tree(outside)).toEqual(before);
  });

  it("refuses a .entries that is a link, writing nothing where it leads", async () => {
    const { uri } = await uploadedModel();
    const cache = new ModelCache({
      dir: path.join(tempDir(), "cache"),
      store: { endpoint: server.endpoint },
    });
    const outside = tempDir("mldeploy-victim-");
    mkdirSync(cache.dir, { recursive: true });
    symlinkSync(outside, path.join(cache.dir, ".entries"));

    await expect(cache.fetch(uri, "ride@2")).rejects.toMatchObject({
      code: "INVALID_VALUE",
      message: expect.stringContaining(`${path.join(cache.dir, ".entries")} is a symbolic link`),
    });
    expect(tree(outside)).toEqual([]);
  });
});

describe("readAtMost", () => {
  it("counts the bytes it reads, not the size stat reports (0 for /dev/zero)", async () => {
    const handle = await open("/dev/zero", "r");
    try {
      const error = await rejection(readAtMost(handle, "/dev/zero", 1000));
      expect(error).toBeInstanceOf(UnsafeFile);
      expect(error.message).toBe("/dev/zero is larger than 1000 bytes");
    } finally {
      await handle.close();
    }
  });
});
