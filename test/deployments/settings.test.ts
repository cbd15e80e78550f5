import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { batchOptionsSchema } from "../../src/batch/options.js";
import { resolveConfig } from "../../src/config/load.js";
import { serveOptionsSchema } from "../../src/serve/options.js";
import { streamOptionsSchema } from "../../src/stream/options.js";
import { tempDir } from "../helpers/temp.js";

/** heartbeatIntervalMs: one setting, read like every other by serve, stream and batch. */
const MODES = [
  {
    section: "serve",
    schema: serveOptionsSchema,
    required: { model: "models:/m@production" },
  },
  {
    section: "stream",
    schema: streamOptionsSchema,
    required: { model: "models:/m@production", source: "nats://x/a", sink: "nats://x/b" },
  },
  {
    section: "batch",
    schema: batchOptionsSchema,
    required: {
      model: "models:/m@production",
      source: "sqlite:r.db",
      table: "rides",
      sink: "sqlite:r.db",
      idColumn: "ride_id",
    },
  },
] as const;

describe.each(MODES)("$section heartbeatIntervalMs", ({ section, schema, required }) => {
  const resolve = (flags: Record<string, unknown>, env: NodeJS.ProcessEnv, cwd: string) =>
    resolveConfig(schema, { section, flags: { ...required, ...flags }, env, cwd }) as {
      heartbeatIntervalMs: number;
    };

  it("defaults to 10 s; config file < MLDEPLOY_HEARTBEAT_INTERVAL_MS < flag; 0 turns it off", () => {
    const bare = tempDir();
    expect(resolve({}, {}, bare).heartbeatIntervalMs).toBe(10_000);
    const cwd = tempDir();
    writeFileSync(
      path.join(cwd, "mldeploy.config.yaml"),
      `${section}:\n  heartbeatIntervalMs: 30000\n`,
    );
    expect(resolve({}, {}, cwd).heartbeatIntervalMs).toBe(30_000);
    expect(resolve({}, { MLDEPLOY_HEARTBEAT_INTERVAL_MS: "0" }, cwd).heartbeatIntervalMs).toBe(0);
    expect(
      resolve({ heartbeatIntervalMs: "2500" }, { MLDEPLOY_HEARTBEAT_INTERVAL_MS: "0" }, cwd)
        .heartbeatIntervalMs,
    ).toBe(2500);
  });

  it("names the setting when the value is bad", () => {
    expect(() => resolve({ heartbeatIntervalMs: "-1" }, {}, tempDir())).toThrow(
      /heartbeatIntervalMs/,
    );
  });
});
