import { cpSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPredictor } from "../../src/model/predictor.js";
import { applyFeatures } from "../../src/model/transform.js";
import { validateRecords } from "../../src/model/validate.js";
import { BundleError, InputValidationError, type Predictor } from "../../src/model/types.js";
import { RIDES_FEATURES, RIDES_INPUTS } from "../../src/rides/index.js";
import { predictLinear } from "../../src/train/linear.js";
import { loadTrips } from "../../src/train/load-trips.js";
import { RIDES_SPEC } from "../../src/rides/index.js";
import { rideModel } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";

let predictor: Predictor;
let trained: Awaited<ReturnType<typeof rideModel>>;

beforeAll(async () => {
  trained = await rideModel();
  predictor = await loadPredictor(trained.bundlePath);
});
afterAll(async () => {
  await predictor?.close();
});

function expectClose(actual: Float64Array, expected: Float64Array, relative: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    const scale = Math.max(1, Math.abs(expected[i]));
    if (Math.abs(actual[i] - expected[i]) > relative * scale) {
      throw new Error(`row ${i}: ${actual[i]} vs ${expected[i]}`);
    }
  }
}

describe("Predictor on a trained ride-duration bundle", () => {
  it("describes the request schema, output and version from the bundle", () => {
    expect(predictor.info.inputs).toEqual(RIDES_INPUTS);
    expect(predictor.info.output).toBe("duration");
    expect(predictor.info.version).toBe(trained.uuid);
    expect(predictor.info.name).toBe("ride-duration");
    expect(predictor.info.loadMs).toBeGreaterThan(0);
  });

  it("equals the trainer's in-memory model to 1e-5 on every validation ride, seen categories or not", async () => {
    const valid = await loadTrips(
      path.join(trained.dataDir, "green_tripdata_2021-02.parquet"),
      RIDES_SPEC,
    );
    const result = await predictor.predictColumns(valid.inputs);
    const features = applyFeatures(valid.inputs, RIDES_FEATURES);
    const expected = predictLinear(trained.model, features.PU_DO as string[], [
      features.trip_distance as Float64Array,
    ]);
    const seen = new Set(trained.model.categories);
    const unseen = (features.PU_DO as string[]).filter((c) => !seen.has(c)).length;
    expect(unseen).toBeGreaterThan(0); // the comparison covers the unseen-category path too
    expectClose(result.values as Float64Array, expected, 1e-5);
  });

  it("predicts records, and answers concurrent calls each with its own rows", async () => {
    const rides = Array.from({ length: 50 }, (_, i) => ({
      PULocationID: 1 + (i % 30),
      DOLocationID: 2 + i,
      trip_distance: i / 7,
    }));
    const one = await Promise.all(rides.map((ride) => predictor.predictRecords([ride])));
    const all = await predictor.predictRecords(rides);
    expect(one.map((r) => r.values[0])).toEqual(Array.from(all.values as Float64Array));
  });

  it("rejects invalid records with the field and row named", async () => {
    const call = predictor.predictRecords([
      { PULocationID: 10, DOLocationID: 50, trip_distance: 4 },
      { PULocationID: 10, DOLocationID: "50", trip_distance: 4 },
    ]);
    await expect(call).rejects.toBeInstanceOf(InputValidationError);
    await expect(call).rejects.toThrow('field "DOLocationID" (row 1): must be a number, got "50"');
  });

  it("returns nothing for an empty batch without calling onnxruntime", async () => {
    const { batch } = validateRecords([], RIDES_INPUTS);
    expect((await predictor.predictColumns(batch)).rows).toBe(0);
  });
});

describe("a bundle whose signature disagrees with its ONNX graph", () => {
  function editedCopy(edit: (mlmodel: string) => string): string {
    const dir = path.join(tempDir("mldeploy-edit-"), "model");
    cpSync(trained.bundlePath, dir, { recursive: true });
    const file = path.join(dir, "MLmodel");
    writeFileSync(file, edit(readFileSync(file, "utf8")));
    return dir;
  }

  it("names an input the graph does not have", async () => {
    const dir = editedCopy((t) => t.replaceAll("DOLocationID", "DOLocationID_X"));
    await expect(loadPredictor(dir)).rejects.toThrow(BundleError);
    await expect(loadPredictor(dir)).rejects.toThrow(
      /signature input "DOLocationID_X" is not an input of the ONNX graph/,
    );
  });

  it("names a type that differs from the graph's", async () => {
    const dir = editedCopy((t) =>
      t.replace(
        '"type": "double", "name": "trip_distance"',
        '"type": "float", "name": "trip_distance"',
      ),
    );
    await expect(loadPredictor(dir)).rejects.toThrow(
      /input "trip_distance" is float in the signature but float64 in the ONNX graph/,
    );
  });

  it("names an output the graph does not produce", async () => {
    const dir = editedCopy((t) => t.replaceAll("duration", "eta"));
    await expect(loadPredictor(dir)).rejects.toThrow(
      /output "eta" is not produced by the ONNX graph/,
    );
  });
});
