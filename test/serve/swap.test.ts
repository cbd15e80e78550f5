import { cpSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log/logger.js";
import { runServe, type RunningServe } from "../../src/serve/run.js";
import type { ResolvedModel } from "../../src/serve/one-process.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";
import { postJson, request, RIDES } from "./helpers/server.js";
import { seriesValue } from "../helpers/prometheus.js";

/**
 * Where a movable model URI points, as a registry alias would: the test moves it. Versions
 * are separate bundle directories; "broken" has an ONNX file that is not a model.
 */
let versions: Record<string, string>;
let pointsAt = "1";
const resolveModel = async (): Promise<ResolvedModel> => ({
  path: versions[pointsAt],
  name: "ride-duration",
  version: pointsAt,
  movable: true,
});

let server: RunningServe;
beforeAll(async () => {
  const bundle = await rideBundlePath();
  const dir = tempDir();
  versions = {
    "1": bundle,
    "2": path.join(dir, "v2"),
    "3": path.join(dir, "v3"),
    "4": path.join(dir, "v4"),
  };
  for (const v of ["2", "3", "4"]) cpSync(bundle, versions[v], { recursive: true });
  writeFileSync(path.join(versions["3"], "model.onnx"), "not an onnx model");
  server = await runServe(
    {
      model: "models:/ride-duration@production",
      host: "127.0.0.1",
      port: 0,
      workers: 1,
      pollIntervalMs: 50,
    },
    { resolveModel, handleSignals: false, logger: silentLogger() },
  );
});
afterAll(async () => {
  await server?.close();
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const servedVersion = async () =>
  ((await request(`${server.url}/v2/models/ride-duration`)).json as { versions: string[] })
    .versions[0];

describe("serving a movable model URI", () => {
  it("follows the alias under load without failing a request; a broken version is refused and the old one keeps serving", async () => {
    let stop = false;
    const seen: string[] = [];
    const failures: unknown[] = [];
    // Four clients send rides back to back while the alias moves.
    const clients = Array.from({ length: 4 }, async () => {
      while (!stop) {
        const answer = await postJson(`${server.url}/predict`, RIDES[1]);
        if (answer.status !== 200) failures.push(answer);
        else seen.push((answer.json as { model_version: string }).model_version);
      }
    });

    expect(await servedVersion()).toBe("1");
    // Clients must have been answered by each version before the alias moves on.
    const answeredBy =
      (version: string, count = 10) =>
      async () =>
        seen.filter((v) => v === version).length >= count;
    await waitFor(answeredBy("1"));
    pointsAt = "2";
    await waitFor(async () => (await servedVersion()) === "2");
    await waitFor(answeredBy("2"));
    pointsAt = "3";
    await waitFor(async () => {
      const metrics = (await request(`${server.url}/metrics`)).text;
      return seriesValue(metrics, "mldeploy_model_reloads_total", { result: "failure" }) === 1;
    });
    expect(await servedVersion()).toBe("2");
    pointsAt = "4";
    await waitFor(async () => (await servedVersion()) === "4");
    await waitFor(answeredBy("4"));
    stop = true;
    await Promise.all(clients);

    expect(failures).toEqual([]);
    expect(new Set(seen)).toEqual(new Set(["1", "2", "4"]));
    expect([seen[0], seen.at(-1)]).toEqual(["1", "4"]);

    const metrics = (await request(`${server.url}/metrics`)).text;
    expect(seriesValue(metrics, "mldeploy_model_reloads_total", { result: "success" })).toBe(2);
    expect(seriesValue(metrics, "mldeploy_model_load_seconds", { version: "4" })).toBeGreaterThan(
      0,
    );
    expect(seriesValue(metrics, "mldeploy_model_load_seconds", { version: "1" })).toBe(0);
  });
});
