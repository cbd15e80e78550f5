import os from "node:os";
import { describe, expect, it } from "vitest";
import { parseServeOptions, serveOptionsSchema } from "../../src/serve/options.js";

describe("serveOptionsSchema", () => {
  it("fills defaults: the original service's port, this machine only, a worker per core, time and concurrency limits", () => {
    const options = parseServeOptions({ model: "./model" });
    expect(options).toMatchObject({
      model: "./model",
      host: "127.0.0.1",
      port: 9696,
      workers: os.availableParallelism(),
      logLevel: "info",
      metrics: true,
    });
    expect(options).toMatchObject({
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      maxConcurrentRequests: 128,
    });
    expect(options.maxBatchSize).toBeGreaterThan(1);
    expect(options.maxBatchDelayMs).toBeGreaterThanOrEqual(0);
  });

  it("coerces strings from MLDEPLOY_* environment variables", () => {
    const options = parseServeOptions({
      model: "m",
      port: "8080",
      workers: "3",
      maxBatchDelayMs: "0.5",
      metrics: "false",
    });
    expect(options).toMatchObject({ port: 8080, workers: 3, maxBatchDelayMs: 0.5, metrics: false });
  });

  it("names every bad field", () => {
    expect(() =>
      parseServeOptions({ model: "m", port: 70000, workers: 0, logLevel: "loud" }),
    ).toThrow(/port.*workers.*logLevel|port/);
    try {
      parseServeOptions({ model: "m", port: 70000, workers: 0, logLevel: "loud" });
    } catch (error) {
      const message = (error as Error).message;
      for (const field of ["port", "workers", "logLevel"]) expect(message).toContain(field);
    }
    expect(() => parseServeOptions({ port: 1 })).toThrow(/model/);
    expect(() => parseServeOptions({ model: "m", colour: "blue" })).toThrow(/colour|unrecognized/i);
  });

  it("documents every field", () => {
    for (const [name, field] of Object.entries(serveOptionsSchema.shape)) {
      expect(field.description, name).toBeTruthy();
    }
  });
});
