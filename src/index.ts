/**
 * mldeploy as a library: every CLI verb is one of these calls.
 *
 *   import { trainModel, loadPredictor, runServe, runBatch, runStream } from "mldeploy";
 */
export { UserError } from "./config/errors.js";
export { ConfigError, resolveConfig } from "./config/load.js";
export { createLogger, silentLogger, type Logger } from "./log/logger.js";
export {
  readBundle,
  saveBundle,
  type Bundle,
  type SaveBundleOptions,
  type Signature,
} from "./model/bundle.js";
export { loadPredictor, type LoadPredictorOptions } from "./model/predictor.js";
export { applyFeatures } from "./model/transform.js";
export { validateColumns, validateRecords, type ValidationResult } from "./model/validate.js";
export * from "./model/types.js";
export { MicroBatcher } from "./model/micro-batcher.js";
export {
  ModelHolder,
  /** The name ModelHolder had before (stream's slot). */
  ModelHolder as PredictorSlot,
} from "./model/model-holder.js";
export { runServe, type RunningServe } from "./serve/run.js";
export { buildServer } from "./serve/server.js";
export { serveOptionsSchema, type ServeOptions, type ServeOptionsInput } from "./serve/options.js";
export {
  writeSampleTrips,
  trainModel,
  loadTrips,
  fitCategoricalLinear,
  predictLinear,
  exportOnnx,
  type TrainOptions,
  type TrainResult,
  type CategoricalLinearModel,
} from "./train/index.js";
export * as rides from "./rides/index.js";
export {
  Registry,
  ActiveRun,
  registryOptionsFromEnv,
  type RegistryOptions,
  type LocalModel,
} from "./registry/registry.js";
export { parseModelUri, type ModelUri } from "./registry/model-uri.js";
export { RegistryError, type RegistryErrorCode } from "./registry/errors.js";
export type * from "./registry/store/types.js";
export { openStore } from "./registry/store/open-store.js";
export { HttpStore } from "./registry/store/http-store.js";
export { runRegistryServer, buildRegistryServer } from "./registry/server/index.js";
export { artifactStoreFor, ModelCache, type ArtifactStore } from "./registry/artifacts/index.js";
export { runBatch, defaultJobName, type RunBatchDeps } from "./batch/run.js";
export { runBatchOnce, type BatchJob, type BatchStats } from "./batch/job.js";
export { batchOptionsSchema, type BatchOptions, type BatchOptionsInput } from "./batch/options.js";
export { openBatchSink, openBatchSource } from "./batch/endpoints.js";
export type {
  BatchSink,
  BatchSource,
  Checkpoint,
  KeyValue,
  Partition,
  PredictionChunk,
  ReadOptions,
  RejectChunk,
  SinkWrite,
  SourceChunk,
} from "./batch/types.js";
export { runStream, type RunStreamDeps } from "./stream/run.js";
export {
  runConsumer,
  processBatch,
  type BatchReport,
  type ConsumerOptions,
  type ConsumerStats,
} from "./stream/consumer.js";
export { streamOptionsSchema, type StreamOptions } from "./stream/options.js";
export { openStreamSink, openStreamSource } from "./stream/endpoints.js";
export type {
  ReadBatchOptions,
  SourceSettings,
  StreamLag,
  StreamMessage,
  StreamSink,
  StreamSource,
} from "./stream/types.js";
export { VERSION } from "./version.js";
export {
  importToBundle,
  type ImportBundleOptions,
  type ImportBundleResult,
} from "./import/import-bundle.js";
export { servableBundle, importCacheDir, type ServableOptions } from "./import/servable.js";
export { detectSource, type ModelSource, type SourceFormat } from "./import/source.js";
export { importModel, type ImportProvenance } from "./import/convert.js";
export { parseFeatureDeclaration, compileFeature } from "./import/feature-expr.js";
export { ImportError, type ConvertedModel } from "./import/types.js";
export * as monitor from "./monitor/index.js";
