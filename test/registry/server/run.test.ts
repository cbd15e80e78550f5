import { describe, expect, it } from "vitest";
import {
  parseRegistryServerOptions,
  registryServerOptionsSchema,
  runRegistryServer,
} from "../../../src/registry/server/run.js";
import type { RegistryStore } from "../../../src/registry/store/types.js";
import { api, capturingLogger } from "./helpers.js";

const store = { description: "sqlite:/tmp/test.db" } as RegistryStore;

describe("registry server options", () => {
  it("defaults to this machine only, port 5050, no token, the embedded SQLite store", () => {
    expect(parseRegistryServerOptions({})).toEqual({
      host: "127.0.0.1",
      port: 5050,
      dataDir: "./mldeploy-data",
      bodyLimitBytes: 32 * 1024 * 1024,
      allowedArtifactRoots: [],
      publicRead: false,
      logLevel: "info",
      logFormat: "auto",
    });
  });

  it("coerces text from the environment and names bad fields", () => {
    expect(parseRegistryServerOptions({ port: "6000", registryToken: "t" })).toMatchObject({
      port: 6000,
      registryToken: "t",
    });
    expect(() => parseRegistryServerOptions({ port: "70000", registryToken: "" })).toThrow(
      /port: .*; registryToken: /,
    );
    expect(() => parseRegistryServerOptions({ registryUrl: "http://other:5050" })).toThrow(
      /registryUrl: a registry server stores into SQLite or PostgreSQL/,
    );
    expect(() => parseRegistryServerOptions({ prot: 1 })).toThrow(/prot/);
  });

  it("describes every option for --help", () => {
    for (const [key, field] of Object.entries(registryServerOptionsSchema.shape)) {
      expect(field.description, key).toBeTruthy();
    }
  });
});

describe("runRegistryServer", () => {
  it("listens, reports a URL clients can use, and closes once", async () => {
    const { logger, lines } = capturingLogger();
    const running = await runRegistryServer({ store, host: "0.0.0.0", port: 0, logger });
    try {
      expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect((await api(running.url, "GET", "/health")).status).toBe(200);
      // Reachable from other machines and no token: the operator hears about it.
      expect(lines.some((line) => line.level === 40 && String(line.msg).includes("token"))).toBe(
        true,
      );
      expect(lines.some((line) => String(line.msg).includes(running.url))).toBe(true);
    } finally {
      await Promise.all([running.close(), running.close()]);
    }
    await expect(fetch(`${running.url}/health`)).rejects.toThrow();
  });

  it("refuses an empty token instead of running without auth", async () => {
    await expect(runRegistryServer({ store, port: 0, token: "" })).rejects.toThrow(/empty/);
  });
});
