import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";

import {
  cacheEntryName,
  joinArtifactUri,
  localPathUnder,
  parseArtifactUri,
  parseManifest,
} from "../../../src/registry/artifacts/index.js";
import { RegistryError } from "../../../src/registry/errors.js";
import { thrown } from "./fixtures.js";

const SHA = "a".repeat(64);

describe("parseArtifactUri", () => {
  it("parses plain paths, file URIs and S3 URIs", () => {
    expect(parseArtifactUri("models/x")).toEqual({
      kind: "local",
      path: path.resolve("models/x"),
    });
    // A user's relative path is resolved as the shell would.
    expect(parseArtifactUri("../models/x")).toEqual({
      kind: "local",
      path: path.resolve("../models/x"),
    });
    expect(parseArtifactUri("./models/x")).toEqual({
      kind: "local",
      path: path.resolve("models/x"),
    });
    expect(parseArtifactUri("file:///srv/models/my%20model")).toEqual({
      kind: "local",
      path: "/srv/models/my model",
    });
    expect(parseArtifactUri("s3://bucket/models/x/")).toEqual({
      kind: "s3",
      bucket: "bucket",
      key: "models/x",
    });
    expect(parseArtifactUri("S3://my.bucket-1")).toEqual({
      kind: "s3",
      bucket: "my.bucket-1",
      key: "",
    });
  });

  it.each([
    ["s3://bucket/../../etc/passwd", "../../etc/passwd"],
    ["s3://bucket/a/../b", "a/../b"],
    ["s3://bucket/a/./b", "a/./b"],
    ["s3://bucket//etc/passwd", "/etc/passwd"],
    ["s3://bucket/a\\b", "a\\\\b"],
    ["s3://bucket/a\0b", "NUL"],
    ["file:///srv/../etc/passwd", "file:///srv/../etc/passwd"],
    ["file:///srv/%2e%2E/etc", "%2e%2E"],
    ["file://otherhost/srv/x", "otherhost"],
    ["s3://Bad_Bucket/x", "Bad_Bucket"],
    ["gs://bucket/x", "gs://bucket/x"],
    ["", "empty"],
  ])("refuses %j as INVALID_VALUE naming the bad part", (uri, named) => {
    const error = thrown(() => parseArtifactUri(uri));
    expect(error).toBeInstanceOf(RegistryError);
    expect(error).toMatchObject({ code: "INVALID_VALUE" });
    expect(error.message).toContain(named);
  });
});

describe("joinArtifactUri", () => {
  it("joins keys in the root's own style", () => {
    expect(joinArtifactUri("s3://bk1/runs/7", "model/model.onnx")).toBe(
      "s3://bk1/runs/7/model/model.onnx",
    );
    expect(joinArtifactUri("s3://bk1", "a.txt")).toBe("s3://bk1/a.txt");
    expect(joinArtifactUri("/srv/art", "a/b.txt")).toBe("/srv/art/a/b.txt");
    expect(joinArtifactUri("file:///srv/art", "a b.txt")).toBe(
      pathToFileURL("/srv/art/a b.txt").href,
    );
  });

  it.each(["../x", "a/../../x", "/etc/passwd", "a\\..\\x", "a//b", "./a", "a/.", "", "a\0b"])(
    "refuses the key %j (path traversal) with INVALID_VALUE naming it",
    (key) => {
      for (const root of ["s3://bk1/runs", "/srv/art"]) {
        const error = thrown(() => joinArtifactUri(root, key));
        expect(error).toMatchObject({ code: "INVALID_VALUE" });
        if (key !== "" && !key.includes("\0")) expect(error.message).toContain(JSON.stringify(key));
      }
      expect(() => localPathUnder("/srv/art", key)).toThrow(RegistryError);
    },
  );

  it("keeps dot-dot-like but harmless names", () => {
    expect(localPathUnder("/srv/art", "..hidden/x...")).toBe("/srv/art/..hidden/x...");
  });
});

describe("parseManifest", () => {
  const manifest = (files: Record<string, unknown>) => JSON.stringify({ format: 1, files });

  it("accepts a manifest and sorts its entries", () => {
    const parsed = parseManifest(
      manifest({ "b/c": { sha256: SHA, size: 2 }, a: { sha256: SHA, size: 0 } }),
      "m",
    );
    expect(Object.keys(parsed.files)).toEqual(["a", "b/c"]);
  });

  it.each([
    ["../evil", manifest({ "../evil": { sha256: SHA, size: 1 } })],
    ["/etc/passwd", manifest({ "/etc/passwd": { sha256: SHA, size: 1 } })],
    ["a\\\\..\\\\evil", manifest({ "a\\..\\evil": { sha256: SHA, size: 1 } })],
    ['"a" as both', manifest({ a: { sha256: SHA, size: 1 }, "a/b": { sha256: SHA, size: 1 } })],
    ["x", manifest({ x: { sha256: "nothex", size: 1 } })],
    ["x", manifest({ x: { sha256: SHA, size: -1 } })],
    ["not valid JSON", "{"],
    ["not an mldeploy manifest", JSON.stringify({ files: {} })],
  ])("refuses a manifest with %s as ARTIFACT_CORRUPT", (named, text) => {
    const error = thrown(() => parseManifest(text, "s3://b/m"));
    expect(error).toMatchObject({ code: "ARTIFACT_CORRUPT" });
    expect(error.message).toContain(named);
  });
});

describe("cacheEntryName", () => {
  it("makes safe, distinct directory names", () => {
    const names = ["ride/3", "ride_3", "../../etc", ".hidden", "ride@3"].map(cacheEntryName);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]*$/);
    expect(cacheEntryName("ride/3")).toBe(cacheEntryName("ride/3"));
    expect(cacheEntryName("ride/3")).toMatch(/^ride_3-[0-9a-f]{16}$/);
  });
});
