/**
 * The training side as library calls; each CLI verb is one call to these.
 */
export {
  writeSampleTrips as sampleData,
  writeSampleTrips,
  DEFAULT_SAMPLE_ROWS,
} from "./sample-data.js";
export type { SampleTripsOptions, SampleTripsResult } from "./sample-data.js";
export { trainModel as train, trainModel } from "./train.js";
export type { TrainOptions, TrainResult, TrainMetrics, TrainStage } from "./train.js";
export { loadTrips } from "./load-trips.js";
export type { LoadedTrips, LoadSpec, TripNaming } from "./load-trips.js";
export { fitCategoricalLinear, predictLinear, rmse } from "./linear.js";
export type { CategoricalLinearModel, FitCategoricalLinearOptions } from "./linear.js";
export { exportOnnx } from "./onnx-export.js";
export type { ExportOnnxOptions } from "./onnx-export.js";
export type { TrainingSpec, TargetSpec } from "./spec.js";
