import { cpSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { readBundle } from "../../src/model/bundle.js";
import { loadPredictor } from "../../src/model/predictor.js";
import { mldeploySectionSchema } from "../../src/model/schema.js";
import { applyFeatures } from "../../src/model/transform.js";
import { validateRecords } from "../../src/model/validate.js";
import {
  RIDES_FEATURES,
  RIDES_INPUT_EXAMPLE,
  RIDES_INPUTS,
  RIDES_MAX_TRIP_MILES,
  RIDES_OUTPUT,
  RIDES_SPEC,
} from "../../src/rides/index.js";
import { runCli } from "../helpers/cli.js";
import { rideModel } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";

describe("rides domain", () => {
  it("is a valid mldeploy section", () => {
    const parsed = mldeploySectionSchema.safeParse({
      format_version: 1,
      inputs: RIDES_INPUTS,
      features: RIDES_FEATURES,
      output: RIDES_OUTPUT,
      input_example: RIDES_INPUT_EXAMPLE,
    });
    expect(parsed.success).toBe(true);
  });

  it("turns the input example into the model's features", () => {
    const { batch, errors } = validateRecords(RIDES_INPUT_EXAMPLE, RIDES_INPUTS);
    expect(errors).toEqual([]);
    const features = applyFeatures(batch, RIDES_FEATURES);
    expect(features.PU_DO).toEqual(["10_50"]);
    expect(Array.from(features.trip_distance as Float64Array)).toEqual([40]);
  });

  it("rejects a zone id below 1 and a negative distance", () => {
    const { errors } = validateRecords(
      [{ PULocationID: 0, DOLocationID: 5, trip_distance: -1 }],
      RIDES_INPUTS,
    );
    expect(errors.map((e) => e.field).sort()).toEqual(["PULocationID", "trip_distance"]);
  });

  it("keeps rides of 1 to 60 minutes", () => {
    expect([RIDES_SPEC.target.min, RIDES_SPEC.target.max]).toEqual([1, 60]);
    expect(RIDES_SPEC.modelName).toBe("ride-duration");
  });

  it("caps trip_distance at 1000 miles, naming the field", () => {
    expect(RIDES_MAX_TRIP_MILES).toBe(1000);
    const ride = { PULocationID: 10, DOLocationID: 50 };
    const { errors, rowIndex } = validateRecords(
      [
        { ...ride, trip_distance: 1000 },
        { ...ride, trip_distance: 1e300 },
        { ...ride, trip_distance: 1000.01 },
      ],
      RIDES_INPUTS,
    );
    expect(rowIndex).toEqual([0]);
    expect(errors).toEqual([
      { row: 1, field: "trip_distance", message: "must be <= 1000, got 1e+300" },
      { row: 2, field: "trip_distance", message: "must be <= 1000, got 1000.01" },
    ]);
  });
});

describe("a trained ride bundle", () => {
  it("carries the trip_distance range, and its predictor refuses 1e300 with the field named", async () => {
    const { bundlePath } = await rideModel();
    const bundle = await readBundle(bundlePath);
    expect(bundle.mldeploy?.inputs.find((c) => c.name === "trip_distance")).toEqual({
      name: "trip_distance",
      type: "double",
      minimum: 0,
      maximum: 1000,
    });
    const predictor = await loadPredictor(bundlePath);
    try {
      await expect(
        predictor.predictRecords([{ PULocationID: 10, DOLocationID: 50, trip_distance: 1e300 }]),
      ).rejects.toThrow('field "trip_distance": must be <= 1000, got 1e+300');
      const ok = await predictor.predictRecords([
        { PULocationID: 10, DOLocationID: 50, trip_distance: 999 },
      ]);
      expect(ok.rows).toBe(1);
    } finally {
      await predictor.close();
    }
  }, 120_000);

  it("shows the range in mldeploy info", async () => {
    const { bundlePath } = await rideModel();
    const result = await runCli(["info", bundlePath]);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/trip_distance\s+double\s+yes\s+0\.\.1000/);
    const json = JSON.parse((await runCli(["info", bundlePath, "--json"])).stdout) as {
      request_schema: unknown[];
    };
    expect(json.request_schema).toContainEqual({
      name: "trip_distance",
      type: "double",
      minimum: 0,
      maximum: 1000,
    });
  }, 60_000);

  it("written before the cap (no maximum in MLmodel) still loads and predicts", async () => {
    const { bundlePath } = await rideModel();
    const old = path.join(tempDir(), "old-ride-bundle");
    cpSync(bundlePath, old, { recursive: true });
    const mlmodel = path.join(old, "MLmodel");
    const document = parseYaml(readFileSync(mlmodel, "utf8")) as {
      mldeploy: { inputs: Array<{ name: string; maximum?: number }> };
    };
    const distance = document.mldeploy.inputs.find((c) => c.name === "trip_distance");
    expect(distance?.maximum).toBe(1000);
    delete distance!.maximum;
    writeFileSync(mlmodel, stringifyYaml(document));
    const predictor = await loadPredictor(old);
    try {
      expect(predictor.info.inputs.find((c) => c.name === "trip_distance")?.maximum).toBe(
        undefined,
      );
      const result = await predictor.predictRecords([
        { PULocationID: 10, DOLocationID: 50, trip_distance: 4 },
      ]);
      expect(Number.isFinite(result.values[0])).toBe(true);
    } finally {
      await predictor.close();
    }
  }, 120_000);
});
