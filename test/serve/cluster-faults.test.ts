import { execFileSync } from "node:child_process";
import { cpSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseArtifactUri } from "../../src/registry/artifacts/uri.js";
import { Registry } from "../../src/registry/registry.js";
import { runCli } from "../helpers/cli.js";
import { seriesValue } from "../helpers/prometheus.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { startServeProcess, type ServeProcess } from "../helpers/serve-process.js";
import { tempDir } from "../helpers/temp.js";
import { request, RIDES } from "./helpers/server.js";

/**
 * A real registry (SQLite in a temp dir) whose alias the test moves, served by `mldeploy serve
 * --workers 2` as a real process: version 1 is good, 2 cannot load (its model.onnx is not a
 * model), 3 has had its files deleted, 4 is good.
 */
let dataDir: string;
let registry: Registry;
let bundle: string;
let broken: string;
beforeAll(async () => {
  bundle = await rideBundlePath();
  dataDir = path.join(tempDir("mldeploy-cluster-faults-"), "registry");
  broken = path.join(tempDir(), "broken");
  cpSync(bundle, broken, { recursive: true });
  writeFileSync(path.join(broken, "model.onnx"), "not an onnx model");
  registry = await Registry.open({ dataDir });
  const run = await registry.startRun({ experiment: "cluster-faults" });
  await run.logModel(bundle, { register: "ride-duration" });
  await run.logModel(broken, { register: "ride-duration", artifactPath: "broken" });
  const missing = await run.logModel(bundle, { register: "ride-duration", artifactPath: "gone" });
  await run.logModel(bundle, { register: "ride-duration", artifactPath: "good-again" });
  await run.end();
  const location = parseArtifactUri(missing!.source);
  if (location.kind !== "local") throw new Error("expected a local artifact store");
  rmSync(location.path, { recursive: true, force: true });
  await registry.setAlias("ride-duration", "production", 1);
});
afterAll(async () => {
  await registry?.close();
});

const workerPids = (server: ServeProcess): number[] => {
  try {
    return execFileSync("pgrep", ["-P", String(server.child.pid)], { encoding: "utf8" })
      .trim()
      .split("\n")
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
};

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** `count` rides on fresh connections (spread over the workers): the versions that answered. */
async function versionsServing(url: string, count = 20): Promise<string[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      try {
        const response = await fetch(`${url}/predict`, {
          method: "POST",
          headers: { "content-type": "application/json", connection: "close" },
          body: JSON.stringify(RIDES[1]),
          signal: AbortSignal.timeout(10_000),
        });
        const body = (await response.json()) as { model_version?: string };
        return response.status === 200 ? String(body.model_version) : `status ${response.status}`;
      } catch (error) {
        return `failed: ${(error as Error).message}`;
      }
    }),
  );
}

const metricsOf = async (url: string) => (await request(`${url}/metrics`)).text;
const reloads = (text: string, result: string) =>
  seriesValue(text, "mldeploy_model_reloads_total", { result });

describe("serve --workers 2 from a registry alias", () => {
  it("restarts a killed worker on the version its siblings serve, not on a broken one the alias moved to, and counts a version with missing files as a failed reload", async () => {
    const server = await startServeProcess(
      [
        "models:/ride-duration@production",
        "--port",
        "0",
        "--workers",
        "2",
        "--poll-interval-ms",
        "100",
      ],
      { env: { MLDEPLOY_DATA_DIR: dataDir } },
    );
    try {
      expect(new Set(await versionsServing(server.url))).toEqual(new Set(["1"]));

      // The alias moves to a version that cannot load: both workers refuse it, 1 serves on.
      await registry.setAlias("ride-duration", "production", 2);
      await waitFor(
        "both workers failed to load version 2",
        async () => reloads(await metricsOf(server.url), "failure") >= 2,
      );
      const [killed, ...others] = workerPids(server);
      expect(others).toHaveLength(1);
      process.kill(killed, "SIGKILL");
      // A connection the primary hands to the worker as it dies is lost with it (kill -9):
      // the check starts once the primary saw the exit.
      await waitFor("the primary saw the worker die", async () =>
        /"worker died"/.test(server.output()),
      );

      // The service answers throughout, and the restarted worker serves version 1.
      const during = await versionsServing(server.url, 40);
      expect(during.filter((v) => v !== "1")).toEqual([]);
      await waitFor("a second worker serves again", async () => {
        const pids = workerPids(server);
        return (
          pids.length === 2 &&
          !pids.includes(killed) &&
          seriesValue(await metricsOf(server.url), "mldeploy_serving_processes") === 2
        );
      });
      // Long enough for a worker started on version 2 to have died over and over.
      await new Promise((resolve) => setTimeout(resolve, 2000));
      expect(workerPids(server)).toHaveLength(2);
      expect(new Set(await versionsServing(server.url, 40))).toEqual(new Set(["1"]));
      expect(server.output()).not.toMatch(/workers keep dying/);

      // A version whose files are gone: a failed reload, logged once, not a warning per poll.
      const before = reloads(await metricsOf(server.url), "failure");
      await registry.setAlias("ride-duration", "production", 3);
      await waitFor(
        "version 3 counted as a failed reload",
        async () => reloads(await metricsOf(server.url), "failure") > before,
      );
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(
        server.output().match(/could not load version 3 of models:\/ride-duration@production/g),
      ).toHaveLength(1);
      expect(server.output()).not.toMatch(/could not check where/);
      expect(new Set(await versionsServing(server.url))).toEqual(new Set(["1"]));

      // And a good version after all that is served by every worker.
      await registry.setAlias("ride-duration", "production", 4);
      await waitFor("version 4 served everywhere", async () =>
        (await versionsServing(server.url)).every((v) => v === "4"),
      );
      expect(reloads(await metricsOf(server.url), "success")).toBe(2);
      expect(server.child.exitCode).toBeNull();
    } finally {
      server.kill("SIGTERM");
      await server.exited;
    }
  }, 180_000);

  it("a model that cannot load prints one line, not a stack per worker", async () => {
    const result = await runCli(["serve", broken, "--port", "0", "--workers", "2"], {
      env: { MLDEPLOY_LOG_LEVEL: "info" },
    });
    expect(result.status).toBe(2);
    expect(result.stdout).not.toMatch(/stack|"err"/);
    expect(result.stderr).toMatch(/^mldeploy: error: model bundle .*cannot load model\.onnx.*\n$/);
  });
});
