import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeArtifactStores } from "../../src/registry/artifacts/open.js";
import { Registry } from "../../src/registry/registry.js";
import { runCli } from "../helpers/cli.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { S3RVER_CREDENTIALS, startS3Server, type S3TestServer } from "../helpers/s3-server.js";
import { startServeProcess, type ServeProcess } from "../helpers/serve-process.js";
import { tempDir } from "../helpers/temp.js";
import { postJson } from "../serve/helpers/server.js";

/**
 * The walk-through as processes: versions registered (artifacts in S3), the alias
 * moved with the CLI, `mldeploy serve models:/ride-duration@production` following it.
 */
let s3: S3TestServer;
let env: NodeJS.ProcessEnv;
let server: ServeProcess | undefined;

beforeAll(async () => {
  s3 = await startS3Server(["models"]);
  env = {
    ...S3RVER_CREDENTIALS,
    MLDEPLOY_DATA_DIR: tempDir(),
    MLDEPLOY_ARTIFACT_ROOT: "s3://models/mldeploy",
    MLDEPLOY_S3_ENDPOINT: s3.endpoint,
  };
  Object.assign(process.env, S3RVER_CREDENTIALS);
  const registry = await Registry.open({
    dataDir: env.MLDEPLOY_DATA_DIR,
    artifactRoot: env.MLDEPLOY_ARTIFACT_ROOT,
    s3: { endpoint: s3.endpoint },
  });
  const bundle = await rideBundlePath();
  for (let i = 0; i < 3; i++) {
    const run = await registry.startRun({ experiment: "nyc-taxi" });
    await run.logMetric("valid_rmse", 5 - i);
    await run.logModel(bundle, { register: "ride-duration" });
    await run.end();
  }
  await registry.close();
  closeArtifactStores();
});
afterAll(async () => {
  server?.kill("SIGKILL");
  await server?.exited;
  await s3?.stop();
});

const cli = async (args: string[]) => {
  const result = await runCli(args, { env });
  return {
    ...result,
    json:
      result.status === 0 && args.includes("--json")
        ? (JSON.parse(result.stdout) as unknown)
        : undefined,
  };
};

describe("registry CLI", () => {
  it("lists runs and versions, moves aliases, and names what is missing", async () => {
    const runs = await cli(["runs", "list", "--experiment", "nyc-taxi", "--json"]);
    expect(runs.json).toHaveLength(3);
    const table = await cli(["runs", "list", "--experiment", "nyc-taxi"]);
    expect(table.stdout).toMatch(/^RUN_ID\s+NAME\s+STATUS/);
    expect(table.stdout).toMatch(/FINISHED/);

    expect((await cli(["models", "alias", "ride-duration", "production", "1"])).stdout).toMatch(
      /production -> version 1/,
    );
    const versions = await cli(["models", "versions", "ride-duration", "--json"]);
    expect(
      (versions.json as Array<{ version: number; aliases: string[] }>).map((v) => [
        v.version,
        v.aliases,
      ]),
    ).toEqual([
      [1, ["production"]],
      [2, []],
      [3, []],
    ]);

    const missing = await cli(["models", "alias", "ride-duration", "production", "9"]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/^mldeploy: error: .*version 9/);
    const unknown = await cli(["runs", "list", "--experiment", "nope"]);
    expect(unknown.stderr).toMatch(/^mldeploy: error: no experiment named "nope"/);
  });
});

describe("mldeploy serve models:/ride-duration@production", () => {
  it("follows the alias twice under load across 2 workers; no request fails, each names its version", async () => {
    await cli(["models", "alias", "ride-duration", "production", "1"]);
    server = await startServeProcess(
      [
        "models:/ride-duration@production",
        "--port",
        "0",
        "--host",
        "127.0.0.1",
        "--workers",
        "2",
        "--poll-interval-ms",
        "100",
      ],
      { env },
    );
    const seen: string[] = [];
    const failures: unknown[] = [];
    let stop = false;
    const clients = Array.from({ length: 4 }, async () => {
      while (!stop) {
        const answer = await postJson(`${server!.url}/predict`, {
          PULocationID: 130,
          DOLocationID: 205,
          trip_distance: 3.66,
        });
        if (answer.status === 200)
          seen.push((answer.json as { model_version: string }).model_version);
        else failures.push(answer);
      }
    });
    const waitForVersion = async (version: string) => {
      const deadline = Date.now() + 20_000;
      while (seen.at(-1) !== version || seen.slice(-20).some((v) => v !== version)) {
        if (Date.now() > deadline)
          throw new Error(`never served version ${version}; last: ${seen.slice(-5).join(",")}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };

    await waitForVersion("1");
    await cli(["models", "alias", "ride-duration", "production", "3"]);
    await waitForVersion("3");
    await cli(["models", "alias", "ride-duration", "production", "2"]);
    await waitForVersion("2");
    stop = true;
    await Promise.all(clients);

    expect(failures).toEqual([]);
    expect(new Set(seen)).toEqual(new Set(["1", "2", "3"]));
  });
});
