import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  MANIFEST_FILE,
  S3ArtifactStore,
  artifactStoreFor,
  closeArtifactStores,
  joinArtifactUri,
  resolveS3Settings,
  type ArtifactStore,
} from "../../../src/registry/artifacts/index.js";
import { createS3Client } from "../../../src/registry/artifacts/s3-client.js";
import { startS3Server, type S3TestServer } from "../../helpers/s3-server.js";
import { tempDir } from "../../helpers/temp.js";
import {
  expectFiles,
  localRaw,
  makeModelDir,
  rejection,
  s3Raw,
  sha256,
  useS3rverCredentials,
  type RawAccess,
} from "./fixtures.js";

useS3rverCredentials();

let server: S3TestServer;
beforeAll(async () => {
  server = await startS3Server(["models"]);
});
afterAll(async () => {
  closeArtifactStores();
  await server.stop();
});

interface Backend {
  name: string;
  /** A fresh, empty destination root. */
  root(): string;
  store(root: string): ArtifactStore;
  raw(): RawAccess;
}

const BIG = 5 * 1024 * 1024 + 123;
const SMALL = 64 * 1024;

let counter = 0;
const backends: Backend[] = [
  {
    name: "local (plain path)",
    root: () => path.join(tempDir("mldeploy-store-"), "artifacts"),
    store: (root) => artifactStoreFor(root),
    raw: () => localRaw,
  },
  {
    name: "local (file:// URI)",
    root: () => pathToFileURL(path.join(tempDir("mldeploy-store-"), "art ifacts")).href,
    store: (root) => artifactStoreFor(root),
    raw: () => localRaw,
  },
  {
    name: "S3 (s3rver over HTTP)",
    root: () => `s3://models/runs/${++counter}/artifacts`,
    store: (root) => artifactStoreFor(root, { endpoint: server.endpoint }),
    raw: () => s3Raw(server.endpoint),
  },
];

describe.each(backends)("$name store", (backend) => {
  /** A model directory uploaded to a fresh root. */
  async function uploaded(modelBytes = SMALL) {
    const model = makeModelDir(modelBytes);
    const root = backend.root();
    const store = backend.store(root);
    const manifest = await store.uploadDirectory(model.dir, root);
    return { ...model, root, store, manifest };
  }

  it("round-trips a directory with nested files and a 5 MB binary, with a manifest", async () => {
    const { files, root, store, manifest } = await uploaded(BIG);
    expect(files["model.onnx"].length).toBeGreaterThan(5_000_000);

    expect(Object.keys(manifest.files)).toEqual(Object.keys(files).sort());
    for (const [key, bytes] of Object.entries(files)) {
      expect(manifest.files[key]).toEqual({ sha256: sha256(bytes), size: bytes.length });
    }
    const stored = JSON.parse(
      (await backend.raw().read(joinArtifactUri(root, MANIFEST_FILE))).toString(),
    );
    expect(stored).toEqual({ format: 1, files: manifest.files });
    const storedModel = await backend.raw().read(joinArtifactUri(root, "model.onnx"));
    expect(sha256(storedModel)).toBe(sha256(files["model.onnx"]));

    const out = path.join(tempDir(), "out");
    expect(await store.downloadDirectory(root, out)).toEqual(manifest);
    expectFiles(out, files);
    expect(JSON.parse(readFileSync(path.join(out, MANIFEST_FILE), "utf8"))).toEqual(stored);
    // No temporary ".partial-" files are left behind.
    expect(
      readdirSync(out, { recursive: true }).filter((f) => String(f).includes(".partial")),
    ).toEqual([]);
  });

  it("lists, checks existence, and moves single files", async () => {
    const { files, root, store } = await uploaded();
    const listed = await store.list(root);
    expect(listed.map((e) => e.path)).toEqual([MANIFEST_FILE, ...Object.keys(files)].sort());
    expect(listed.find((e) => e.path === "model.onnx")?.size).toBe(files["model.onnx"].length);
    expect(await store.list(joinArtifactUri(root, "sub"))).toEqual([
      { path: "deeper/notes.txt", size: 7 },
      { path: "empty.bin", size: 0 },
    ]);
    expect(await store.list(joinArtifactUri(root, "nothing-here"))).toEqual([]);
    expect(await store.exists(root)).toBe(true);
    expect(await store.exists(joinArtifactUri(root, "sub"))).toBe(true);
    expect(await store.exists(joinArtifactUri(root, "MLmodel"))).toBe(true);
    expect(await store.exists(joinArtifactUri(root, "nope"))).toBe(false);

    const single = path.join(tempDir(), "single.txt");
    writeFileSync(single, "one file\n");
    const dest = joinArtifactUri(root, "extra/single.txt");
    const digest = await store.uploadFile(single, dest);
    expect(digest).toEqual({ sha256: sha256(Buffer.from("one file\n")), size: 9 });
    const back = path.join(tempDir(), "back.txt");
    expect(await store.downloadFile(dest, back, digest)).toEqual(digest);
    expect(readFileSync(back, "utf8")).toBe("one file\n");
    await expect(store.downloadFile(joinArtifactUri(root, "nope"), back)).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
  });

  const tampering: [string, (raw: RawAccess, uri: string) => Promise<void>, RegExp][] = [
    [
      "a flipped byte",
      async (raw, uri) => {
        const bytes = await raw.read(uri);
        bytes[1000] ^= 0xff;
        await raw.write(uri, bytes);
      },
      /SHA-256/,
    ],
    ["a deleted file", (raw, uri) => raw.remove(uri), /missing/],
    [
      "a truncated file",
      async (raw, uri) => raw.write(uri, (await raw.read(uri)).subarray(0, 4096)),
      /4096 bytes/,
    ],
    [
      "a longer file",
      async (raw, uri) => raw.write(uri, Buffer.concat([await raw.read(uri), Buffer.from("x")])),
      /larger than/,
    ],
  ];

  it.each(tampering)("reports %s as ARTIFACT_CORRUPT naming the file", async (_, tamper, why) => {
    const { root, store } = await uploaded();
    await tamper(backend.raw(), joinArtifactUri(root, "model.onnx"));
    const out = path.join(tempDir(), "out");
    const error = await rejection(store.downloadDirectory(root, out));
    expect(error).toMatchObject({ name: "RegistryError", code: "ARTIFACT_CORRUPT" });
    expect(error.message).toContain('"model.onnx"');
    expect(error.message).toMatch(why);
    // The bad file never appears under its real name.
    expect(existsSync(path.join(out, "model.onnx"))).toBe(false);
    expect(existsSync(path.join(out, MANIFEST_FILE))).toBe(false);
  });

  it("says clearly when the manifest is missing (an unfinished upload) or nothing is there", async () => {
    const { root, store } = await uploaded();
    await backend.raw().remove(joinArtifactUri(root, MANIFEST_FILE));
    const error = await rejection(store.downloadDirectory(root, tempDir()));
    expect(error).toMatchObject({ code: "ARTIFACT_CORRUPT" });
    expect(error.message).toContain(`has no ${MANIFEST_FILE}`);
    expect(error.message).toContain("did not finish");

    const empty = backend.root();
    await expect(store.downloadDirectory(empty, tempDir())).rejects.toMatchObject({
      code: "NOT_FOUND",
      message: expect.stringContaining("no artifacts at"),
    });
  });

  it("refuses a crafted manifest entry that would escape the download directory", async () => {
    const { root, store, manifest } = await uploaded();
    const evil = Buffer.from("pwned\n");
    const crafted = {
      ...manifest,
      files: { ...manifest.files, "../evil": { sha256: sha256(evil), size: evil.length } },
    };
    await backend
      .raw()
      .write(joinArtifactUri(root, MANIFEST_FILE), Buffer.from(JSON.stringify(crafted)));
    const parent = tempDir();
    const out = path.join(parent, "out");
    const error = await rejection(store.downloadDirectory(root, out));
    expect(error).toMatchObject({ code: "ARTIFACT_CORRUPT" });
    expect(error.message).toContain('"../evil"');
    expect(readdirSync(parent)).toEqual([]);
  });

  it("refuses unsafe destination keys before writing anything", async () => {
    const model = makeModelDir(SMALL);
    // Legal in a Linux file name, a separator on Windows: refused as a key.
    writeFileSync(path.join(model.dir, "sub", "a\\..\\b.txt"), "x");
    const root = backend.root();
    const store = backend.store(root);
    const error = await rejection(store.uploadDirectory(model.dir, root));
    expect(error).toMatchObject({ code: "INVALID_VALUE" });
    expect(error.message).toContain(JSON.stringify("sub/a\\..\\b.txt"));
    expect(() => joinArtifactUri(root, "../x")).toThrow(/path traversal/);
    // URIs (unlike a user's plain path) may not contain ".." at all.
    if (root.includes("://")) {
      const file = path.join(model.dir, "MLmodel");
      await expect(store.uploadFile(file, `${root}/../x`)).rejects.toMatchObject({
        code: "INVALID_VALUE",
      });
    }
    expect(await store.exists(root)).toBe(false);
  });

  it("overwrites an earlier upload, retracting the old manifest first", async () => {
    const { dir, root, store } = await uploaded();
    writeFileSync(path.join(dir, "MLmodel"), "changed\n");
    const second = await store.uploadDirectory(dir, root);
    expect(second.files.MLmodel).toEqual({ sha256: sha256(Buffer.from("changed\n")), size: 8 });
    const out = tempDir();
    await store.downloadDirectory(root, out);
    expect(readFileSync(path.join(out, "MLmodel"), "utf8")).toBe("changed\n");
    // Uploading a downloaded copy (it contains a manifest) does not upload the manifest as a file.
    const again = await store.uploadDirectory(out, backend.root());
    expect(again.files[MANIFEST_FILE]).toBeUndefined();
  });
});

describe("S3 listing", () => {
  it("follows continuation tokens across pages", async () => {
    const model = makeModelDir(SMALL);
    const root = `s3://models/paged/${++counter}`;
    await artifactStoreFor(root, { endpoint: server.endpoint }).uploadDirectory(model.dir, root);
    const client = createS3Client(resolveS3Settings({ endpoint: server.endpoint }));
    const paged = new S3ArtifactStore(client, server.endpoint, { listPageSize: 2 });
    try {
      const listed = await paged.list(root);
      expect(listed.map((e) => e.path)).toEqual(
        [MANIFEST_FILE, ...Object.keys(model.files)].sort(),
      );
    } finally {
      client.destroy();
    }
  });
});
