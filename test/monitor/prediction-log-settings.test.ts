import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { resolveConfig } from "../../src/config/load.js";
import { serveOptionsSchema } from "../../src/serve/options.js";
import { streamOptionsSchema } from "../../src/stream/options.js";
import { tempDir } from "../helpers/temp.js";

const MODES = [
  { section: "serve", schema: serveOptionsSchema, required: { model: "models:/m@production" } },
  {
    section: "stream",
    schema: streamOptionsSchema,
    required: { model: "models:/m@production", source: "nats://x/a", sink: "nats://x/b" },
  },
] as const;

interface LogSettings {
  logPredictions: boolean;
  logPredictionsDir?: string;
  logSample: number;
  logFlushMs: number;
  logQueueRows: number;
}

describe.each(MODES)("$section prediction log settings", ({ section, schema, required }) => {
  const resolve = (flags: Record<string, unknown>, env: NodeJS.ProcessEnv, cwd: string) =>
    resolveConfig(schema, {
      section,
      flags: { ...required, ...flags },
      env,
      cwd,
    }) as unknown as LogSettings;

  it("is off by default, with its defaults", () => {
    expect(resolve({}, {}, tempDir())).toMatchObject({
      logPredictions: false,
      logSample: 1,
      logFlushMs: 5000,
      logQueueRows: 50_000,
    });
    expect(resolve({}, {}, tempDir()).logPredictionsDir).toBeUndefined();
  });

  it("reads the config file < MLDEPLOY_* < flags", () => {
    const cwd = tempDir();
    writeFileSync(
      path.join(cwd, "mldeploy.config.yaml"),
      `${section}:\n  logPredictions: true\n  logSample: 0.5\n  logFlushMs: 1000\n  logPredictionsDir: /data/log\n`,
    );
    expect(resolve({}, {}, cwd)).toMatchObject({
      logPredictions: true,
      logSample: 0.5,
      logFlushMs: 1000,
      logPredictionsDir: "/data/log",
    });
    const env = { MLDEPLOY_LOG_SAMPLE: "0.25", MLDEPLOY_LOG_PREDICTIONS: "false" };
    expect(resolve({}, env, cwd)).toMatchObject({ logPredictions: false, logSample: 0.25 });
    expect(
      resolve({ logSample: "0.1", logPredictions: true, logQueueRows: "100" }, env, cwd),
    ).toMatchObject({ logPredictions: true, logSample: 0.1, logQueueRows: 100 });
  });

  it("names the setting when the value is bad", () => {
    expect(() => resolve({ logSample: "2" }, {}, tempDir())).toThrow(/logSample/);
    expect(() => resolve({ logQueueRows: "0" }, {}, tempDir())).toThrow(/logQueueRows/);
  });
});
