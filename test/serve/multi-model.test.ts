import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log/logger.js";
import { loadPredictor } from "../../src/model/predictor.js";
import { runServe } from "../../src/serve/run.js";
import type { ResolvedModel } from "../../src/serve/one-process.js";
import { writeSampleTrips } from "../../src/train/sample-data.js";
import { trainModel } from "../../src/train/train.js";
import { runCli } from "../helpers/cli.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { startServeProcess } from "../helpers/serve-process.js";
import { tempDir } from "../helpers/temp.js";
import { seriesValue } from "../helpers/prometheus.js";
import { postJson, request, RIDES } from "./helpers/server.js";

/** Two different ride-duration models (trained on different months), and what each predicts. */
let bundleA: string;
let bundleB: string;
let expectedA: number[];
let expectedB: number[];

async function predictionsOf(bundle: string): Promise<number[]> {
  const predictor = await loadPredictor(bundle);
  try {
    return Array.from((await predictor.predictRecords(RIDES)).values as Float64Array);
  } finally {
    await predictor.close();
  }
}

beforeAll(async () => {
  bundleA = await rideBundlePath();
  const dir = tempDir("mldeploy-multi-model-");
  const train = await writeSampleTrips({
    path: path.join(dir, "train.parquet"),
    seed: 7,
    year: 2022,
    month: 3,
    rows: 5_000,
  });
  const valid = await writeSampleTrips({
    path: path.join(dir, "valid.parquet"),
    seed: 8,
    year: 2022,
    month: 4,
    rows: 2_000,
  });
  bundleB = (
    await trainModel({
      trainPath: train.path,
      validPath: valid.path,
      outDir: path.join(dir, "ride-duration-2022"),
    })
  ).bundlePath;
  [expectedA, expectedB] = await Promise.all([predictionsOf(bundleA), predictionsOf(bundleB)]);
  // Otherwise the test could not tell which model answered.
  expect(expectedA).not.toEqual(expectedB);
});

/** The V2 request for RIDES, one 1-D tensor per column. */
const v2Body = {
  inputs: [
    { name: "PULocationID", shape: [RIDES.length], datatype: "INT64" },
    { name: "DOLocationID", shape: [RIDES.length], datatype: "INT64" },
    { name: "trip_distance", shape: [RIDES.length], datatype: "FP64" },
  ].map((input) => ({
    ...input,
    data: RIDES.map((ride) => ride[input.name as keyof typeof ride]),
  })),
};

const v2Predictions = async (url: string, name: string) => {
  const answer = await postJson(`${url}/v2/models/${name}/infer`, v2Body);
  expect(answer.status, JSON.stringify(answer.json)).toBe(200);
  const body = answer.json as { model_name: string; outputs: Array<{ data: number[] }> };
  expect(body.model_name).toBe(name);
  return body.outputs[0].data;
};

describe.each(["in process", "2 cluster workers"])("serving several models (%s)", (mode) => {
  let server: { url: string; close(): Promise<unknown> };
  beforeAll(async () => {
    if (mode === "in process") {
      server = await runServe(
        { model: bundleA, models: `b2022=${bundleB}`, host: "127.0.0.1", port: 0, workers: 1 },
        { handleSignals: false, logger: silentLogger() },
      );
    } else {
      // Workers run the compiled worker script: the CLI, as users start it.
      const started = await startServeProcess([
        bundleA,
        "--models",
        `b2022=${bundleB}`,
        "--port",
        "0",
        "--host",
        "127.0.0.1",
        "--workers",
        "2",
      ]);
      server = {
        url: started.url,
        close: async () => {
          started.kill("SIGTERM");
          await started.exited;
        },
      };
    }
  });
  afterAll(async () => {
    await server?.close();
  });

  it("answers each model on its own V2 routes, and the default one on /predict", async () => {
    const nameA = path.basename(bundleA);
    const [fromA, fromB] = await Promise.all([
      v2Predictions(server.url, nameA),
      v2Predictions(server.url, "b2022"),
    ]);
    expect(fromA.map((v) => v.toFixed(9))).toEqual(expectedA.map((v) => v.toFixed(9)));
    expect(fromB.map((v) => v.toFixed(9))).toEqual(expectedB.map((v) => v.toFixed(9)));

    const predicted = await postJson(`${server.url}/predict`, RIDES);
    const durations = (predicted.json as Array<{ duration: number }>).map((row) => row.duration);
    expect(durations.map((v) => v.toFixed(9))).toEqual(expectedA.map((v) => v.toFixed(9)));

    const metadata = await request(`${server.url}/v2/models/b2022`);
    expect(metadata.status).toBe(200);
    expect((metadata.json as { name: string }).name).toBe("b2022");

    const missing = await request(`${server.url}/v2/models/nope`);
    expect(missing.status).toBe(404);
    expect((missing.json as { error: string }).error).toContain(`serves "${nameA}", "b2022"`);

    const metadataA = (await request(`${server.url}/v2/models/${nameA}`)).json as { name: string };
    expect(metadataA.name).toBe(nameA);

    const openapi = (await request(`${server.url}/openapi.json`)).json as {
      paths: Record<string, { post?: { parameters?: Array<{ schema: unknown }> } }>;
    };
    expect(openapi.paths["/v2/models/{name}/infer"].post?.parameters?.[0].schema).toEqual({
      enum: [nameA, "b2022"],
    });

    // Counted per model (summed over workers): A answered V2 and /predict, b2022 V2 only.
    const metrics = (await request(`${server.url}/metrics`)).text;
    const predictedBy = (model: string) =>
      seriesValue(metrics, "mldeploy_predictions_total", { model });
    expect([predictedBy(nameA), predictedBy("b2022")]).toEqual([2 * RIDES.length, RIDES.length]);
    expect(seriesValue(metrics, "mldeploy_batch_size_rows_sum", { model: "b2022" })).toBe(
      RIDES.length,
    );
  });
});

describe("several models", () => {
  it("follows each one's alias on its own: moving one leaves the other serving", async () => {
    let pointsAt = { a: bundleA, b: bundleA };
    const resolveModel = async (uri: string): Promise<ResolvedModel> => {
      const which = uri.endsWith("@a") ? "a" : "b";
      const at = pointsAt[which];
      return {
        path: at,
        name: `ride-${which}`,
        version: at === bundleA ? "1" : "2",
        movable: true,
      };
    };
    const server = await runServe(
      {
        model: "models:/ride-a@a",
        models: ["models:/ride-b@b"],
        host: "127.0.0.1",
        port: 0,
        workers: 1,
        pollIntervalMs: 50,
      },
      { resolveModel, handleSignals: false, logger: silentLogger() },
    );
    try {
      expect(await v2Predictions(server.url, "ride-b")).toEqual(expectedA);
      pointsAt = { ...pointsAt, b: bundleB };
      const deadline = Date.now() + 10_000;
      while ((await v2Predictions(server.url, "ride-b"))[0] !== expectedB[0]) {
        if (Date.now() > deadline) throw new Error("ride-b never switched to the moved alias");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(await v2Predictions(server.url, "ride-b")).toEqual(expectedB);
      expect(await v2Predictions(server.url, "ride-a")).toEqual(expectedA);
      for (const [name, version] of [
        ["ride-a", "1"],
        ["ride-b", "2"],
      ]) {
        const metadata = await request(`${server.url}/v2/models/${name}`);
        expect(metadata.json).toMatchObject({ name, versions: [version] });
      }
    } finally {
      await server.close();
    }
  });

  it.each(["1", "2"])(
    "refuses two models under one name in one line, through the CLI (workers: %s)",
    async (workers) => {
      const result = await runCli(["serve", bundleA, "--models", bundleA, "--port", "0"], {
        env: { MLDEPLOY_WORKERS: workers },
      });
      expect(result.status).toBe(2);
      // In cluster mode the worker's reason reaches the primary, which prints it alone.
      expect(result.stderr).toBe(
        `mldeploy: error: two models would be served as "${path.basename(bundleA)}": name one of them in --models (name=URI)\n`,
      );
    },
  );
});
