import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { resolveConfig } from "../../../src/config/load.js";
import { parseServeOptions, serveOptionsSchema } from "../../../src/serve/options.js";
import { runCli } from "../../helpers/cli.js";
import { tempDir } from "../../helpers/temp.js";

/** --grpc-port: a serve setting like the others (flag > MLDEPLOY_GRPC_PORT > config file). */
describe("the grpcPort serve setting", () => {
  it("is off (0) by default and takes a port from a flag, the environment or the config file", () => {
    expect(parseServeOptions({ model: "m" }).grpcPort).toBe(0);
    const dir = tempDir();
    const file = path.join(dir, "mldeploy.config.yaml");
    writeFileSync(file, "serve:\n  model: m\n  grpcPort: 50051\n");
    const resolve = (env: NodeJS.ProcessEnv, flags: Record<string, unknown> = {}) =>
      resolveConfig(serveOptionsSchema, { section: "serve", flags, configFile: file, env })
        .grpcPort;
    expect(resolve({})).toBe(50051);
    expect(resolve({ MLDEPLOY_GRPC_PORT: "8001" })).toBe(8001);
    expect(resolve({ MLDEPLOY_GRPC_PORT: "8001" }, { grpcPort: "9001" })).toBe(9001);
  });

  it("refuses a port out of range, and the HTTP port, naming the field", () => {
    expect(() => parseServeOptions({ model: "m", grpcPort: 70000 })).toThrow(/grpcPort/);
    expect(() => parseServeOptions({ model: "m", port: 8000, grpcPort: 8000 })).toThrow(
      /grpcPort: 8000 is also port/,
    );
  });

  it("is listed by `mldeploy serve --help`", async () => {
    const help = await runCli(["serve", "--help"]);
    expect(help.stdout).toMatch(/--grpc-port <value>\s+TCP port of the KServe V2/);
  });
});
