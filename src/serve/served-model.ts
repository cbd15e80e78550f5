import type { ServeMetrics } from "./metrics.js";
import { MicroBatcher, type MicroBatcherOptions } from "../model/micro-batcher.js";
import type { ModelInfo, Predictor } from "../model/types.js";
import { observeBatches } from "./instrument.js";
import { predictionObjectWriter } from "./json-out.js";

/** One loaded model as the routes use it: batched predictor plus answers precomputed from its info. */
export interface ServedModel {
  readonly info: ModelInfo;
  /** Micro-batched and instrumented. */
  readonly predictor: Predictor;
  readonly writer: ReturnType<typeof predictionObjectWriter>;
}

/**
 * The model a server answers with, replaceable while it serves (an alias moved in the
 * registry). Routes read `current` once per request, so a request runs start to end on one
 * model; the old model is closed only after its last call returned.
 */
export class ModelSlot {
  private served: ServedModel;
  private batcher: MicroBatcher;
  private raw: Predictor;

  constructor(
    first: Predictor,
    private readonly batching: MicroBatcherOptions,
    private readonly metrics: ServeMetrics | undefined,
  ) {
    this.raw = first;
    this.batcher = this.wrap(first);
    this.served = this.describe(first, this.batcher);
    metrics?.setModelLoaded(first.info.name, first.info.version, first.info.loadMs / 1000);
  }

  get current(): ServedModel {
    return this.served;
  }

  /** Serves `next` from now on; resolves once the previous model finished its calls and is closed. */
  async swap(next: Predictor): Promise<void> {
    const previous = { raw: this.raw, batcher: this.batcher, info: this.served.info };
    this.raw = next;
    this.batcher = this.wrap(next);
    this.served = this.describe(next, this.batcher);
    this.metrics?.setModelLoaded(
      next.info.name,
      next.info.version,
      next.info.loadMs / 1000,
      previous.info,
    );
    await previous.batcher.drain();
    await previous.raw.close();
  }

  /** Runs what is queued and waits for calls in progress (the caller closes the predictor). */
  drain(): Promise<void> {
    return this.batcher.drain();
  }

  /** Drains, then releases the current model. */
  async close(): Promise<void> {
    await this.batcher.drain();
    await this.raw.close();
  }

  private wrap(predictor: Predictor): MicroBatcher {
    const metrics = this.metrics;
    const inner = metrics
      ? observeBatches(predictor, (rows) => metrics.observeBatch(predictor.info.name, rows))
      : predictor;
    return new MicroBatcher(inner, this.batching);
  }

  private describe(raw: Predictor, batcher: MicroBatcher): ServedModel {
    return {
      info: raw.info,
      predictor: batcher,
      writer: predictionObjectWriter(raw.info.output, raw.info.version),
    };
  }
}
