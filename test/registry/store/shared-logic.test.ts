import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  experimentArtifactLocation,
  normalizeArtifactLocation,
  runArtifactUri,
} from "../../../src/registry/store/artifact-location.js";
import { generateRunName, newId } from "../../../src/registry/store/ids.js";
import { foldLatest, replacesLatest } from "../../../src/registry/store/latest-metrics.js";

describe("ids and run names", () => {
  it("makes 32 lowercase hex ids, all different", () => {
    const ids = Array.from({ length: 100 }, newId);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(ids).size).toBe(100);
  });

  it("makes readable run names", () => {
    for (let i = 0; i < 50; i++) expect(generateRunName()).toMatch(/^[a-z]+-[a-z]+-\d{3}$/);
  });
});

describe("artifact locations", () => {
  it("joins plain paths with the OS separator and URIs with '/'", () => {
    expect(experimentArtifactLocation("/data/artifacts", "e1")).toBe(
      path.join("/data/artifacts", "e1"),
    );
    expect(experimentArtifactLocation("s3://bucket/prefix/", "e1")).toBe("s3://bucket/prefix/e1");
    expect(runArtifactUri("s3://bucket/prefix/e1", "r1")).toBe(
      "s3://bucket/prefix/e1/r1/artifacts",
    );
    expect(runArtifactUri("file:///data/e1", "r1")).toBe("file:///data/e1/r1/artifacts");
  });

  it("makes plain paths absolute and keeps URIs", () => {
    expect(normalizeArtifactLocation("rel")).toBe(path.resolve("rel"));
    expect(normalizeArtifactLocation("s3://b/k//")).toBe("s3://b/k");
    expect(() => normalizeArtifactLocation(" ")).toThrow(/artifact location/);
  });
});

describe("latest metric rule", () => {
  const point = (value: number, step: number, timestamp: number) => ({
    key: "m",
    value,
    step,
    timestamp,
  });

  it("prefers the higher step, then the later timestamp, then the later log", () => {
    expect(replacesLatest(point(0, 1, 0), undefined)).toBe(true);
    expect(replacesLatest(point(0, 2, 0), point(0, 1, 99))).toBe(true);
    expect(replacesLatest(point(0, 1, 99), point(0, 2, 0))).toBe(false);
    expect(replacesLatest(point(0, 1, 5), point(0, 1, 4))).toBe(true);
    expect(replacesLatest(point(0, 1, 4), point(0, 1, 5))).toBe(false);
    expect(replacesLatest(point(0, 1, 5), point(0, 1, 5))).toBe(true);
  });

  it("folds a batch and returns only the keys that changed", () => {
    const current = new Map([
      ["a", { ...point(1, 5, 0), key: "a" }],
      ["b", { ...point(1, 0, 0), key: "b" }],
    ]);
    const changed = foldLatest(current, [
      { ...point(2, 4, 9), key: "a" },
      { ...point(3, 1, 0), key: "b" },
      { ...point(4, 0, 0), key: "b" },
      { ...point(5, 0, 0), key: "c" },
    ]);
    expect([...changed.keys()].sort()).toEqual(["b", "c"]);
    expect(changed.get("b")?.value).toBe(3);
  });
});
