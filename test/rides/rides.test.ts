import { describe, expect, it } from "vitest";
import { mldeploySectionSchema } from "../../src/model/schema.js";
import { applyFeatures } from "../../src/model/transform.js";
import { validateRecords } from "../../src/model/validate.js";
import {
  RIDES_FEATURES,
  RIDES_INPUT_EXAMPLE,
  RIDES_INPUTS,
  RIDES_OUTPUT,
  RIDES_SPEC,
} from "../../src/rides/index.js";

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
});
