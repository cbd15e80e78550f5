import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { readBundle, saveBundle } from "../../src/model/bundle.js";
import { loadPredictor } from "../../src/model/predictor.js";
import { readFileSync } from "node:fs";
import { tempDir } from "../helpers/temp.js";

/**
 * fixtures/old-format-bundle was written by mldeploy before issue 19 (commit bee2681): its graph
 * takes PU_DO ("10_50") and trip_distance, and `mldeploy.features` derives them from the
 * request. Such bundles keep loading and predicting, and writing one again compiles the map
 * into the graph. The model: duration = w[PU_DO] + 2 · trip_distance + 7.25 with
 * w = {10_50: 3.5, 130_205: -1.25, 7_7: 0.5}, 0 for any other route.
 */
const FIXTURE = fileURLToPath(new URL("./fixtures/old-format-bundle", import.meta.url));

const rides = [
  { PULocationID: 10, DOLocationID: 50, trip_distance: 1 },
  { PULocationID: 130, DOLocationID: 205, trip_distance: 2.5 },
  { PULocationID: 7, DOLocationID: 7, trip_distance: 0 },
  { PULocationID: 1, DOLocationID: 2, trip_distance: 3 },
  { PULocationID: 50, DOLocationID: 10, trip_distance: 1 },
];
const expected = [12.75, 11, 7.75, 13.25, 9.25];

describe("a bundle written before features moved into the graph", () => {
  it("loads with its feature map and predicts from the request's columns", async () => {
    const bundle = await readBundle(FIXTURE);
    expect(bundle.mldeploy?.features).toEqual({
      PU_DO: { concat: [{ column: "PULocationID" }, "_", { column: "DOLocationID" }] },
      trip_distance: { column: "trip_distance" },
    });
    expect(bundle.signature?.inputs.map((c) => c.name)).toEqual(["PU_DO", "trip_distance"]);
    const predictor = await loadPredictor(FIXTURE);
    try {
      expect(predictor.info.inputs.map((c) => c.name)).toEqual([
        "PULocationID",
        "DOLocationID",
        "trip_distance",
      ]);
      expect(Array.from((await predictor.predictRecords(rides)).values as Float64Array)).toEqual(
        expected,
      );
    } finally {
      await predictor.close();
    }
  });

  it("saved again, becomes self-contained and predicts the same", async () => {
    const old = await readBundle(FIXTURE);
    const dir = path.join(tempDir("mldeploy-resave-"), "model");
    const saved = await saveBundle(dir, {
      onnx: readFileSync(old.onnxPath),
      signature: old.signature!,
      mldeploy: old.mldeploy,
      inputExample: old.mldeploy?.input_example ?? [],
    });
    expect(saved.selfContained).toBe(true);
    const predictor = await loadPredictor(dir);
    try {
      expect((await readBundle(dir)).signature?.inputs.map((c) => c.name)).toEqual([
        "PULocationID",
        "DOLocationID",
        "trip_distance",
      ]);
      expect(Array.from((await predictor.predictRecords(rides)).values as Float64Array)).toEqual(
        expected,
      );
    } finally {
      await predictor.close();
    }
  });
});
