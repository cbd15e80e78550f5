import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { startServeProcess, type ServeProcess } from "../helpers/serve-process.js";
import { tempDir } from "../helpers/temp.js";
import { postJson, request, RIDES } from "./helpers/server.js";
import { seriesValue } from "../helpers/prometheus.js";

let bundle: string;
beforeAll(async () => {
  bundle = await rideBundlePath();
});

describe("mldeploy serve as a process", () => {
  describe("cluster of 2 workers", () => {
    let server: ServeProcess;
    beforeAll(async () => {
      server = await startServeProcess([
        bundle,
        "--port",
        "0",
        "--host",
        "127.0.0.1",
        "--workers",
        "2",
        "--model-version",
        "11",
      ]);
    });
    afterAll(async () => {
      server?.kill("SIGKILL");
      await server?.exited;
    });

    it("serves from both workers and /metrics adds up what every worker counted", async () => {
      const requests = 60;
      // Fresh connections each time (no keep-alive), so node:cluster spreads them over workers.
      const answers = await Promise.all(
        Array.from({ length: requests }, () =>
          fetch(`${server.url}/predict`, {
            method: "POST",
            headers: { "content-type": "application/json", connection: "close" },
            body: JSON.stringify(RIDES[1]),
          }).then(async (r) => ({
            status: r.status,
            body: (await r.json()) as { duration: number; model_version: string },
          })),
        ),
      );
      expect(answers.every((a) => a.status === 200 && a.body.model_version === "11")).toBe(true);
      expect(new Set(answers.map((a) => a.body.duration)).size).toBe(1);

      const metrics = (await request(`${server.url}/metrics`)).text;
      const labels = { method: "POST", route: "/predict", status_code: "200" };
      expect(seriesValue(metrics, "mldeploy_http_requests_total", labels)).toBe(requests);
      expect(seriesValue(metrics, "mldeploy_predictions_total")).toBe(requests);
      expect(seriesValue(metrics, "mldeploy_serving_processes")).toBe(2);
      expect(
        seriesValue(metrics, "mldeploy_model_load_seconds", { version: "11" }),
      ).toBeGreaterThan(0);
    });
  });

  it("SIGTERM lets an in-flight request finish, then exits 0", async () => {
    // A long micro-batch delay keeps the request in flight while the signal arrives.
    const server = await startServeProcess([
      bundle,
      "--port",
      "0",
      "--host",
      "127.0.0.1",
      "--workers",
      "1",
      "--max-batch-delay-ms",
      "900",
    ]);
    const inFlight = postJson(`${server.url}/predict`, RIDES[0]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    server.kill("SIGTERM");
    const answer = await inFlight;
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ duration: expect.any(Number) });
    expect(await server.exited).toBe(0);
    expect(server.output()).toMatch(/draining in-flight requests/);
    await expect(fetch(`${server.url}/ping`)).rejects.toThrow();
  });

  it("SIGTERM drains every worker of a cluster", async () => {
    const server = await startServeProcess([
      bundle,
      "--port",
      "0",
      "--host",
      "127.0.0.1",
      "--workers",
      "2",
      "--max-batch-delay-ms",
      "900",
    ]);
    const inFlight = Promise.all([
      postJson(`${server.url}/predict`, RIDES[0]),
      postJson(`${server.url}/predict`, RIDES[2]),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    server.kill("SIGTERM");
    const answers = await inFlight;
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    expect(await server.exited).toBe(0);
  });

  it("takes settings from a config file, overridden by MLDEPLOY_* variables, overridden by flags", async () => {
    const dir = tempDir();
    writeFileSync(
      path.join(dir, "mldeploy.config.yaml"),
      `serve:\n  model: ${JSON.stringify(bundle)}\n  host: 127.0.0.1\n  port: 0\n  workers: 1\n  modelName: from-file\n  modelVersion: from-file\n`,
    );
    const server = await startServeProcess(["--model-version", "from-flag"], {
      cwd: dir,
      env: { MLDEPLOY_MODEL_NAME: "from-env", MLDEPLOY_MODEL_VERSION: "from-env" },
    });
    try {
      const metadata = await request(`${server.url}/v2/models/from-env`);
      expect(metadata.json).toMatchObject({ name: "from-env", versions: ["from-flag"] });
      const ready = await request(`${server.url}/v2/models/from-env/ready`);
      expect(ready.status).toBe(200);
    } finally {
      server.kill("SIGTERM");
      await server.exited;
    }
  });
});
