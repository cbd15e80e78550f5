import { describe, expect, it } from "vitest";
import type { ModelVersion } from "../../src/registry/store/types.js";
import { runCli } from "../helpers/cli.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";

describe("mldeploy models register --tag / models tag", () => {
  it("registers with tags, sets and deletes them, and names a malformed pair", async () => {
    const env = { MLDEPLOY_DATA_DIR: tempDir("mldeploy-tags-cli-") };
    const cli = async (args: string[]) => {
      const result = await runCli(args, { env });
      expect(result.status, result.stderr).toBe(0);
      return JSON.parse(result.stdout) as ModelVersion;
    };
    const bundle = await rideBundlePath();
    const registered = await cli([
      "models",
      "register",
      "ride-duration",
      bundle,
      "--tag",
      "validated=true",
      "--tag",
      "note=a=b",
      "--json",
    ]);
    expect(registered.tags).toEqual({ note: "a=b", validated: "true" });

    const tagged = await cli(["models", "tag", "ride-duration", "1", "owner=rides", "--json"]);
    expect(tagged.tags).toEqual({ note: "a=b", owner: "rides", validated: "true" });
    const untagged = await cli([
      "models",
      "tag",
      "ride-duration",
      "1",
      "--delete",
      "note",
      "--delete",
      "validated",
      "--json",
    ]);
    expect(untagged.tags).toEqual({ owner: "rides" });

    const table = await runCli(["models", "versions", "ride-duration"], { env });
    expect(table.stdout).toContain("owner=rides");

    const malformed = await runCli(["models", "tag", "ride-duration", "1", "owner"], { env });
    expect(malformed.status).not.toBe(0);
    expect(malformed.stderr).toContain('a tag is key=value, got "owner"');
    const missing = await runCli(["models", "tag", "ride-duration", "7", "a=b"], { env });
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toContain("has no version 7");
  });
});
