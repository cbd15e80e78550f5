import { spawn } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Deployment } from "../../src/registry/store/types.js";
import { Registry } from "../../src/registry/registry.js";
import { writeRidesSqlite, makeRides, sqliteBatchArgs } from "../batch/helpers.js";
import { CLI, runCli } from "../helpers/cli.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { startServeProcess, type ServeProcess } from "../helpers/serve-process.js";
import { tempDir } from "../helpers/temp.js";
import { startRegistry, type TestRegistry } from "../registry/server/helpers.js";
import { postJson } from "../serve/helpers/server.js";
import { rideEventLines, startStreamProcess } from "../stream/helpers/processes.js";
import { streamUrl, uniqueStream } from "../stream/nats/helpers.js";

/**
 * Real `mldeploy serve`, `stream` and scheduled `batch` processes (the built CLI) reporting to
 * a real registry server: they appear in GET /api/v1/deployments with the version they run,
 * follow the alias there, and leave at graceful shutdown.
 */
let registry: TestRegistry;
let env: NodeJS.ProcessEnv;
let serve: ServeProcess | undefined;

beforeAll(async () => {
  const dataDir = tempDir();
  registry = await startRegistry({ artifactRoot: path.join(dataDir, "artifacts") });
  const local = await Registry.open({ url: registry.url, dataDir });
  const bundle = await rideBundlePath();
  for (let i = 0; i < 2; i++) {
    const run = await local.startRun({ experiment: "rides" });
    await run.logModel(bundle, { register: "ride-duration" });
    await run.end();
  }
  await local.setAlias("ride-duration", "production", 1);
  await local.close();
  env = {
    MLDEPLOY_REGISTRY_URL: registry.url,
    MLDEPLOY_DATA_DIR: path.join(tempDir(), "client"),
  };
}, 60_000);
afterAll(async () => {
  serve?.kill("SIGKILL");
  await registry?.close();
});

const list = () => registry.client.listDeployments();

/** Polls the listing until `pick` finds what is expected (or fails after 20 s, with the last listing). */
async function waitFor(
  what: string,
  pick: (deployments: Deployment[]) => Deployment | boolean | undefined,
): Promise<Deployment | undefined> {
  const deadline = Date.now() + 20_000;
  let last: Deployment[] = [];
  for (;;) {
    last = await list();
    // Whatever the moment, the lag shown matches what the deployment runs and the alias.
    for (const each of last) {
      expect(each.lagging).toBe(
        each.targetVersion !== null && each.modelVersion !== String(each.targetVersion),
      );
    }
    const found = pick(last);
    if (found) return found === true ? undefined : found;
    if (Date.now() > deadline) {
      throw new Error(`never saw ${what}; last listing: ${JSON.stringify(last, null, 2)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("mldeploy serve models:/ride-duration@production reports itself", () => {
  it("appears with version 1, shows version 2 once the alias moved, and leaves at SIGTERM", async () => {
    serve = await startServeProcess(
      [
        "models:/ride-duration@production",
        "--port",
        "0",
        "--workers",
        "2",
        "--poll-interval-ms",
        "300",
        "--heartbeat-interval-ms",
        "1000",
      ],
      { env },
    );
    const first = await waitFor("the serve deployment", (all) =>
      all.find((d) => d.mode === "serve" && d.endpoint === serve!.url),
    );
    expect(first).toMatchObject({
      modelUri: "models:/ride-duration@production",
      modelName: "ride-duration",
      modelVersion: "1",
      follows: "production",
      targetVersion: 1,
      lagging: false,
      pid: serve.child.pid,
    });

    // Requests across both workers show up as one service's rate.
    let sending = true;
    const load = (async () => {
      while (sending) {
        await postJson(`${serve!.url}/predict`, {
          PULocationID: 10,
          DOLocationID: 50,
          trip_distance: 4,
        });
      }
    })();
    await waitFor("a rate above 0", (all) => all.find((d) => d.id === first!.id && d.rate > 0));
    sending = false;
    await load;

    await registry.client.setAlias("ride-duration", "production", 2);
    const moved = await waitFor("version 2 running", (all) =>
      all.find((d) => d.id === first!.id && d.modelVersion === "2"),
    );
    expect(moved).toMatchObject({ targetVersion: 2, lagging: false });
    expect(moved!.versionSince).toBeGreaterThan(first!.versionSince);

    serve.kill("SIGTERM");
    expect(await serve.exited).toBe(0);
    // Gone at once (removed at shutdown), not 3 intervals later.
    expect((await list()).some((d) => d.id === first!.id)).toBe(false);
    serve = undefined;
  });
});

describe("mldeploy stream reports itself", () => {
  it("appears with its source, group and version, counts events, and leaves at SIGTERM", async () => {
    const source = streamUrl(uniqueStream("rides"));
    const sink = streamUrl(uniqueStream("preds"));
    await registry.client.setAlias("ride-duration", "production", 1);
    const consumer = startStreamProcess({
      model: "models:/ride-duration@production",
      source,
      sink,
      batchSize: 50,
      env: { ...env, MLDEPLOY_HEARTBEAT_INTERVAL_MS: "500" },
    });
    try {
      const shown = await waitFor("the stream deployment", (all) =>
        all.find((d) => d.mode === "stream" && d.pid === consumer.child.pid),
      );
      expect(shown).toMatchObject({ modelVersion: "1", follows: "production", lagging: false });
      expect(shown!.endpoint).toMatch(/group scorers/);
      const produced = await runCli(["produce", "--to", source], {
        env,
        input: rideEventLines(0, 2000),
      });
      expect(produced.status, produced.stderr).toBe(0);
      await waitFor("events per second", (all) =>
        all.find((d) => d.id === shown!.id && d.rate > 0),
      );
      consumer.child.kill("SIGTERM");
      expect(await consumer.exited).toBe(0);
      expect((await list()).some((d) => d.id === shown!.id)).toBe(false);
    } finally {
      consumer.child.kill("SIGKILL");
    }
  });
});

describe("scheduled mldeploy batch reports itself", () => {
  it("appears with its job and schedule and the version its run used, and leaves at SIGTERM", async () => {
    const db = path.join(tempDir(), "rides.db");
    writeRidesSqlite(db, makeRides(300));
    const child = spawn(
      process.execPath,
      [
        CLI,
        ...sqliteBatchArgs("models:/ride-duration@production", db),
        "--job-name",
        "rides-hourly",
        "--every",
        "1h",
        "--heartbeat-interval-ms",
        "500",
      ],
      { env: { ...process.env, ...env, MLDEPLOY_LOG_LEVEL: "warn" }, stdio: "ignore" },
    );
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    try {
      const shown = await waitFor("the batch deployment with its version", (all) =>
        all.find((d) => d.mode === "batch" && d.pid === child.pid && d.modelVersion === "1"),
      );
      expect(shown).toMatchObject({
        endpoint: "job rides-hourly, every 1h",
        modelName: "ride-duration",
        follows: "production",
      });
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect((await list()).some((d) => d.id === shown!.id)).toBe(false);
    } finally {
      child.kill("SIGKILL");
    }
  });
});
