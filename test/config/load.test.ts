import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ConfigError, envName, resolveConfig } from "../../src/config/load.js";
import { tempDir } from "../helpers/temp.js";

const schema = z.object({
  port: z.number().int().min(1).max(65535).default(9696),
  host: z.string().default("0.0.0.0"),
  verbose: z.boolean().default(false),
});

function dirWith(file: string, text: string): string {
  const dir = tempDir("mldeploy-config-");
  writeFileSync(path.join(dir, file), text);
  return dir;
}

describe("resolveConfig", () => {
  it("uses defaults when nothing is set", () => {
    const cwd = tempDir("mldeploy-config-");
    expect(resolveConfig(schema, { section: "serve", flags: {}, env: {}, cwd })).toEqual({
      port: 9696,
      host: "0.0.0.0",
      verbose: false,
    });
  });

  it("applies file < env < flags", () => {
    const cwd = dirWith(
      "mldeploy.config.yaml",
      "serve:\n  port: 8000\n  host: 127.0.0.1\n  verbose: true\n",
    );
    const fromFile = resolveConfig(schema, { section: "serve", flags: {}, env: {}, cwd });
    expect(fromFile).toEqual({ port: 8000, host: "127.0.0.1", verbose: true });
    const fromEnv = resolveConfig(schema, {
      section: "serve",
      flags: {},
      env: { MLDEPLOY_PORT: "8001", MLDEPLOY_VERBOSE: "no" },
      cwd,
    });
    expect(fromEnv).toMatchObject({ port: 8001, verbose: false });
    const fromFlag = resolveConfig(schema, {
      section: "serve",
      flags: { port: "8002" },
      env: { MLDEPLOY_PORT: "8001" },
      cwd,
    });
    expect(fromFlag.port).toBe(8002);
  });

  it("names the setting and its source when a value is bad", () => {
    const cwd = tempDir("mldeploy-config-");
    expect(() =>
      resolveConfig(schema, { section: "serve", flags: {}, env: { MLDEPLOY_PORT: "abc" }, cwd }),
    ).toThrow(/invalid setting "port" \(from MLDEPLOY_PORT\)/);
    expect(() =>
      resolveConfig(schema, { section: "serve", flags: { port: "70000" }, env: {}, cwd }),
    ).toThrow(/invalid setting "port" \(from --port\)/);
  });

  it("rejects unknown keys and unparsable files, naming the file", () => {
    const cwd = dirWith("mldeploy.config.json", JSON.stringify({ serve: { prot: 1 } }));
    expect(() => resolveConfig(schema, { section: "serve", flags: {}, env: {}, cwd })).toThrow(
      /unknown setting "serve.prot"/,
    );
    const broken = dirWith("mldeploy.config.yaml", "serve: [\n");
    expect(() =>
      resolveConfig(schema, { section: "serve", flags: {}, env: {}, cwd: broken }),
    ).toThrow(ConfigError);
    expect(() =>
      resolveConfig(schema, {
        section: "serve",
        flags: {},
        env: {},
        cwd: broken,
        configFile: "nope.yaml",
      }),
    ).toThrow(/nope.yaml does not exist/);
  });

  it("maps camelCase settings to MLDEPLOY_ variables", () => {
    expect(envName("maxBatchDelayMs")).toBe("MLDEPLOY_MAX_BATCH_DELAY_MS");
  });
});

describe("resolveConfig with required settings", () => {
  it("says how to give a missing required setting", () => {
    const cwd = tempDir("mldeploy-config-");
    const required = z.object({ model: z.string().min(1) });
    expect(() => resolveConfig(required, { section: "serve", flags: {}, env: {}, cwd })).toThrow(
      /setting "model" is required: .* MLDEPLOY_MODEL/,
    );
  });
});
