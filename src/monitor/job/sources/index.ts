/**
 * Where `mldeploy monitor` gets its windows: the prediction log, a batch sink, the training
 * data of the model version's run, a Parquet/CSV file, and actual values. Each loader
 * creates a DuckDB table in the monitor's connection (CREATE OR REPLACE) with the columns
 * time (UTC wall time), version, id and the monitored columns, and describes it.
 */
export type { SourceContext, WindowBounds } from "./context.js";
export { SAMPLE_SEED, sortVersions } from "./context.js";
export { monitoredColumns } from "./columns.js";
export { loadLogWindow, type LogWindowOptions } from "./log-window.js";
export { loadBatchWindow, type BatchWindowOptions } from "./batch-window.js";
export {
  loadTrainingReference,
  trainingMetric,
  trainingTargetRange,
  type TrainingFacts,
  type TrainingReferenceOptions,
} from "./training.js";
export { loadFileWindow, type FileWindowOptions } from "./file-window.js";
export { loadActuals, type ActualsOptions } from "./actuals.js";
