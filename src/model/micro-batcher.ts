import {
  noPredictions,
  slicePredictions,
  type Column,
  type ColumnarBatch,
  type PredictionBatch,
  type PredictOptions,
  type Predictor,
} from "./types.js";
import { predictRecords } from "./validate.js";

export interface MicroBatcherOptions {
  /** Most rows in one coalesced call; a call at least this large runs alone, unsplit. */
  maxBatchSize: number;
  /**
   * How long the first queued call waits for company. 0 disables batching (calls pass straight
   * through); values in (0, 1) flush at the end of the current event-loop turn (setImmediate),
   * which gathers the requests parsed together without the >= 1 ms floor of a timer.
   */
  maxDelayMs: number;
}

interface Pending {
  batch: ColumnarBatch;
  options?: PredictOptions;
  resolve: (result: PredictionBatch) => void;
  reject: (error: unknown) => void;
}

/**
 * Wraps a Predictor so that concurrent predictColumns calls share one onnxruntime call, in the
 * manner of Triton's dynamic batcher: the per-call cost (tensor setup, native transition, the
 * setImmediate hop inside onnxruntime-node) is paid once per batch instead of once per request.
 */
export class MicroBatcher implements Predictor {
  private queue: Pending[] = [];
  private queuedRows = 0;
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  /** Calls into the inner predictor still going (coalesced runs and pass-through calls). */
  private readonly running = new Set<Promise<void>>();
  readonly enabled: boolean;

  constructor(
    private readonly inner: Predictor,
    private readonly options: MicroBatcherOptions,
  ) {
    if (!(options.maxBatchSize >= 1)) throw new RangeError("maxBatchSize must be at least 1");
    if (!(options.maxDelayMs >= 0)) throw new RangeError("maxDelayMs must be 0 or more");
    this.enabled = options.maxDelayMs > 0 && options.maxBatchSize > 1;
  }

  get info() {
    return this.inner.info;
  }

  async predictRecords(
    records: ReadonlyArray<Record<string, unknown>>,
    options?: PredictOptions,
  ): Promise<PredictionBatch> {
    return predictRecords(this, records, options);
  }

  predictColumns(batch: ColumnarBatch, options?: PredictOptions): Promise<PredictionBatch> {
    if (!this.enabled || batch.rows >= this.options.maxBatchSize)
      return this.passThrough(batch, options);
    if (batch.rows === 0) {
      const probabilities = options?.probabilities && this.info.probabilities;
      return Promise.resolve({
        rows: 0,
        values: noPredictions(this.info),
        ...(probabilities ? { probabilities: new Float64Array(0) } : {}),
      });
    }
    if (this.queuedRows + batch.rows > this.options.maxBatchSize) this.flush();
    const result = new Promise<PredictionBatch>((resolve, reject) => {
      this.queue.push({ batch, options, resolve, reject });
    });
    this.queuedRows += batch.rows;
    if (this.queuedRows >= this.options.maxBatchSize) this.flush();
    else if (this.timer === undefined) this.schedule();
    return result;
  }

  /** A call that runs alone, still tracked so that drain() (before a model swap) waits for it. */
  private passThrough(batch: ColumnarBatch, options?: PredictOptions): Promise<PredictionBatch> {
    const result = this.inner.predictColumns(batch, options);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.running.add(settled);
    void settled.then(() => this.running.delete(settled));
    return result;
  }

  /**
   * Runs whatever is queued now, without waiting out the delay, and waits for every call in
   * progress: after it, the inner predictor is idle and can be closed.
   */
  async drain(): Promise<void> {
    this.flush();
    while (this.running.size > 0) await Promise.all(this.running);
  }

  async close(): Promise<void> {
    await this.drain();
    await this.inner.close();
  }

  private schedule(): void {
    const fire = () => {
      this.timer = undefined;
      this.flush();
    };
    this.timer =
      this.options.maxDelayMs < 1 ? setImmediate(fire) : setTimeout(fire, this.options.maxDelayMs);
  }

  private flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer as NodeJS.Timeout);
      clearImmediate(this.timer as NodeJS.Immediate);
      this.timer = undefined;
    }
    const calls = this.queue;
    if (calls.length === 0) return;
    this.queue = [];
    this.queuedRows = 0;
    const run = this.run(calls).finally(() => this.running.delete(run));
    this.running.add(run);
  }

  private async run(calls: Pending[]): Promise<void> {
    if (calls.length === 1) {
      await this.runAlone(calls[0]);
      return;
    }
    // The probabilities are computed for all when one call asks for them; only it gets them.
    const probabilities = calls.some((call) => call.options?.probabilities === true);
    let combined: PredictionBatch;
    try {
      combined = await this.inner.predictColumns(
        concatBatches(calls.map((c) => c.batch)),
        probabilities ? { probabilities } : undefined,
      );
    } catch {
      // One bad call must not fail its neighbours: rerun each alone so the error reaches only
      // the callers whose rows cause it (inputs are validated before queueing, so this is rare).
      await Promise.all(calls.map((call) => this.runAlone(call)));
      return;
    }
    const table = combined.probabilities;
    const width = table && combined.rows > 0 ? table.length / combined.rows : 0;
    let offset = 0;
    for (const call of calls) {
      const rows = call.batch.rows;
      const values = slicePredictions(combined.values, offset, offset + rows);
      call.resolve(
        table && call.options?.probabilities
          ? {
              rows,
              values,
              probabilities: table.subarray(offset * width, (offset + rows) * width),
            }
          : { rows, values },
      );
      offset += rows;
    }
  }

  private async runAlone(call: Pending): Promise<void> {
    try {
      call.resolve(await this.inner.predictColumns(call.batch, call.options));
    } catch (error) {
      call.reject(error);
    }
  }
}

/** Concatenates batches with the same columns, row order preserved. */
export function concatBatches(batches: ColumnarBatch[]): ColumnarBatch {
  let rows = 0;
  for (const batch of batches) rows += batch.rows;
  const columns: Record<string, Column> = {};
  for (const name of Object.keys(batches[0].columns)) {
    const first = batches[0].columns[name];
    if (first instanceof Float64Array) {
      const merged = new Float64Array(rows);
      let offset = 0;
      for (const batch of batches) {
        merged.set(numericColumn(batch, name), offset);
        offset += batch.rows;
      }
      columns[name] = merged;
    } else {
      const merged: Array<string | boolean> = [];
      for (const batch of batches) {
        const column = batch.columns[name];
        if (column === undefined || column instanceof Float64Array)
          throw new Error(`column "${name}" differs between batches`);
        for (let i = 0; i < batch.rows; i++) merged.push(column[i]);
      }
      columns[name] = merged as Column;
    }
  }
  return { rows, columns };
}

function numericColumn(batch: ColumnarBatch, name: string): Float64Array {
  const column = batch.columns[name];
  if (!(column instanceof Float64Array))
    throw new Error(`column "${name}" differs between batches`);
  return column.length === batch.rows ? column : column.subarray(0, batch.rows);
}
