/** The prediction log: what serve and stream write, and what monitor reads. */
export {
  openPredictionLog,
  PredictionLog,
  type PredictionLogOptions,
  type PredictionLogSettings,
  type RowIds,
} from "./writer.js";
export {
  predictionLogFiles,
  predictionLogSql,
  readPredictionLog,
  type PredictionLogFiles,
  type PredictionLogQuery,
  type PredictionLogRows,
  type SkippedFile,
} from "./reader.js";
export { defaultPredictionLogDir, predictionLogSettingsShape } from "./options.js";
export {
  FIXED_COLUMNS,
  META,
  PREDICTION_LOG_FORMAT_VERSION,
  layoutFor,
  modelDirName,
  type LogMode,
} from "./schema.js";
