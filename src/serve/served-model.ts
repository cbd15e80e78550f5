import type { ServeMetrics } from "./metrics.js";
import { MicroBatcher, type MicroBatcherOptions } from "../model/micro-batcher.js";
import type { ModelHolder } from "../model/model-holder.js";
import type { ModelInfo, Predictor } from "../model/types.js";
import { observeBatches } from "./instrument.js";

/** One loaded model as the routes use it: its info and its batched predictor. */
export interface ServedModel {
  readonly info: ModelInfo;
  /** Micro-batched and instrumented. */
  readonly predictor: Predictor;
  /** Runs what is queued, waits for calls in progress, then releases the model. */
  close(): Promise<void>;
}

/**
 * Where a server keeps each model it answers with (see ModelHolder). Routes read `current`
 * once per request, so a request runs start to end on one model; a replaced model is closed
 * only after its micro-batcher ran its last call.
 */
export type ServedModelHolder = ModelHolder<ServedModel>;

/**
 * Wraps a loaded model for serving (instrumented, then micro-batched) and records it as loaded
 * in the metrics; `replacing` is the model it takes over from, on a swap.
 */
export function serveModel(
  raw: Predictor,
  batching: MicroBatcherOptions,
  metrics: ServeMetrics | undefined,
  replacing?: ModelInfo,
): ServedModel {
  const inner = metrics
    ? observeBatches(raw, (rows) => metrics.observeBatch(raw.info.name, rows))
    : raw;
  const batcher = new MicroBatcher(inner, batching);
  metrics?.setModelLoaded(raw.info.name, raw.info.version, raw.info.loadMs / 1000, replacing);
  return {
    info: raw.info,
    predictor: batcher,
    async close() {
      await batcher.drain();
      await raw.close();
    },
  };
}
