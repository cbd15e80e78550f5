import type { ColumnSpec, FeatureExpr } from "../model/types.js";

/**
 * The reference use case (NYC taxi ride duration) as data. The generic layers (train, model,
 * serve, batch, stream) read these values; none of them mentions rides by name, so another
 * model only needs another module like this one.
 */

export const RIDES_MODEL_NAME = "ride-duration";

/** Name of the ONNX output and of the field returned to callers. */
export const RIDES_OUTPUT = "duration";

/**
 * Longest trip_distance (miles) a ride can have. The TLC lets a driver drive at most 12 hours in
 * 24, under 800 miles even at highway speed all the way, so no metered ride goes past 1000; the
 * trip records do hold meter errors far beyond it (six-digit distances), and a value such as
 * 1e300 is a client's mistake that the model would turn into an absurd duration.
 */
export const RIDES_MAX_TRIP_MILES = 1000;

/** What a caller sends for one ride (the request schema), with the values that make sense. */
export const RIDES_INPUTS: ColumnSpec[] = [
  { name: "PULocationID", type: "long", minimum: 1 },
  { name: "DOLocationID", type: "long", minimum: 1 },
  { name: "trip_distance", type: "double", minimum: 0, maximum: RIDES_MAX_TRIP_MILES },
];

/**
 * Model inputs derived from the request. Pairing pickup and dropoff zones into one category
 * lets a linear model learn a per-route offset, which distance alone cannot express.
 */
export const RIDES_FEATURES: Record<string, FeatureExpr> = {
  PU_DO: { concat: [{ column: "PULocationID" }, "_", { column: "DOLocationID" }] },
  trip_distance: { column: "trip_distance" },
};

/**
 * Target: minutes from pickup to dropoff. Rides outside [min, max] are mostly meter errors
 * (zero-length trips, meters left running for hours) and would dominate a squared loss.
 */
export const RIDES_TARGET = {
  name: "duration",
  unit: "minutes",
  definition: "dropoff_datetime - pickup_datetime, in minutes",
  min: 1,
  max: 60,
} as const;

export const RIDES_INPUT_EXAMPLE: Record<string, unknown>[] = [
  { PULocationID: 10, DOLocationID: 50, trip_distance: 40 },
];

/** Everything a trainer needs to know about the domain, in one value. */
export const RIDES_SPEC = {
  modelName: RIDES_MODEL_NAME,
  output: RIDES_OUTPUT,
  inputs: RIDES_INPUTS,
  features: RIDES_FEATURES,
  target: RIDES_TARGET,
  inputExample: RIDES_INPUT_EXAMPLE,
};
