import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { UserError } from "../../src/config/errors.js";
import { readBundle } from "../../src/model/bundle.js";
import { loadPredictor } from "../../src/model/predictor.js";
import { RIDES_SPEC } from "../../src/rides/index.js";
import { sampleData, train, type TrainResult } from "../../src/train/index.js";
import { predictLinear } from "../../src/train/linear.js";
import { loadTrips } from "../../src/train/load-trips.js";
import { makeTempDir } from "./helpers.js";

describe("trainModel (mldeploy train)", () => {
  let cleanup: (() => Promise<void>) | undefined;
  let dir: string;
  let trainFile: string;
  let validFile: string;
  let result: TrainResult;
  const stages: string[] = [];

  beforeAll(async () => {
    const temp = await makeTempDir("train");
    cleanup = temp.cleanup;
    dir = temp.dir;
    trainFile = path.join(dir, "green_tripdata_2021-01.parquet");
    validFile = path.join(dir, "green_tripdata_2021-02.parquet");
    await sampleData({ path: trainFile, seed: 9, year: 2021, month: 1, rows: 20_000 });
    await sampleData({ path: validFile, seed: 9, year: 2021, month: 2, rows: 10_000 });
    result = await train({
      trainPath: trainFile,
      validPath: validFile,
      outDir: path.join(dir, "model"),
      onProgress: (_done, _total, stage) => stages.push(stage),
    });
  });

  afterAll(async () => {
    await cleanup?.();
  });

  it("reports metrics that beat predicting the mean", async () => {
    const valid = await loadTrips(validFile, RIDES_SPEC);
    const mean = valid.target.reduce((a, b) => a + b, 0) / valid.rows;
    const std = Math.sqrt(valid.target.reduce((a, b) => a + (b - mean) ** 2, 0) / valid.rows);
    expect(result.metrics.valid_rows).toBe(valid.rows);
    expect(result.metrics.train_rows).toBeGreaterThan(19_000);
    expect(result.metrics.categories).toBe(result.model.categories.length);
    expect(result.metrics.train_rmse).toBeLessThan(result.metrics.valid_rmse);
    expect(result.metrics.valid_rmse).toBeLessThan(0.7 * std);
    expect(stages).toEqual(["load-train", "load-valid", "fit", "export", "save", "done"]);
  });

  it("writes an MLflow-layout bundle that the model layer reads back", async () => {
    const bundle = await readBundle(result.bundlePath);
    expect(bundle.uuid).toBe(result.uuid);
    // Self-contained: the graph takes the request's columns and builds PU_DO itself.
    expect(bundle.signature?.inputs.map((c) => [c.name, c.type])).toEqual([
      ["PULocationID", "long"],
      ["DOLocationID", "long"],
      ["trip_distance", "double"],
    ]);
    expect(bundle.signature?.outputs.map((c) => [c.name, c.type])).toEqual([
      ["duration", "double"],
    ]);
    expect(bundle.mldeploy?.inputs).toEqual(RIDES_SPEC.inputs);
    expect(bundle.mldeploy?.features).toBeUndefined();
    expect(bundle.mldeploy?.output).toBe("duration");
    const training = bundle.mldeploy?.training ?? {};
    expect(training.metrics).toEqual(result.metrics);
    expect(training.filter).toBe("1 <= duration <= 60");

    const mlmodel = parseYaml(
      await readFile(path.join(result.bundlePath, "MLmodel"), "utf8"),
    ) as Record<string, unknown>;
    expect(mlmodel.flavors).toHaveProperty("onnx");
    expect(mlmodel.flavors).toHaveProperty("python_function.loader_module", "mlflow.onnx");
  });

  it("serves the same predictions as the fitted model, unseen routes included", async () => {
    const predictor = await loadPredictor(result.bundlePath);
    try {
      const rides = [
        { PULocationID: 10, DOLocationID: 50, trip_distance: 40 },
        { PULocationID: 264, DOLocationID: 1, trip_distance: 3.5 },
        ...result.model.categories.slice(0, 20).map((pair, i) => {
          const [pu, dO] = pair.split("_").map(Number);
          return { PULocationID: pu, DOLocationID: dO, trip_distance: i / 2 };
        }),
      ];
      const served = await predictor.predictRecords(rides);
      const expected = predictLinear(
        result.model,
        rides.map((r) => `${r.PULocationID}_${r.DOLocationID}`),
        [Float64Array.from(rides, (r) => r.trip_distance)],
      );
      served.values.forEach((value, i) => expect(value).toBeCloseTo(expected[i], 9));
    } finally {
      await predictor.close();
    }
  });

  it("fails with a UserError naming a missing training file", async () => {
    const missing = path.join(dir, "missing.parquet");
    const attempt = train({
      trainPath: missing,
      validPath: validFile,
      outDir: path.join(dir, "never"),
    });
    await expect(attempt).rejects.toThrow(UserError);
    await expect(
      train({ trainPath: missing, validPath: validFile, outDir: path.join(dir, "never") }),
    ).rejects.toThrow(missing);
  });

  it("records ridge training in the bundle", async () => {
    const ridge = await train({
      trainPath: trainFile,
      validPath: validFile,
      alpha: 1,
      outDir: path.join(dir, "ridge"),
    });
    const bundle = await readBundle(ridge.bundlePath);
    expect(bundle.mldeploy?.training?.alpha).toBe(1);
    expect(String(bundle.mldeploy?.training?.model)).toMatch(/^Ridge\(alpha=1\)/);
    expect(ridge.uuid).not.toBe(result.uuid);
  });
});
