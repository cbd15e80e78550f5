import type { ColumnarBatch, PredictionBatch, PredictOptions, Predictor } from "../model/types.js";
import { predictRecords } from "../model/validate.js";

/**
 * A Predictor that reports the rows of every onnxruntime call. It sits under the micro-batcher,
 * so the histogram shows the batch sizes the model actually runs, not the request sizes.
 */
export function observeBatches(inner: Predictor, observe: (rows: number) => void): Predictor {
  const predictColumns = (
    batch: ColumnarBatch,
    options?: PredictOptions,
  ): Promise<PredictionBatch> => {
    if (batch.rows > 0) observe(batch.rows);
    return inner.predictColumns(batch, options);
  };
  const observed: Predictor = {
    get info() {
      return inner.info;
    },
    predictColumns,
    predictRecords: (records, options) => predictRecords(observed, records, options),
    close: () => inner.close(),
  };
  return observed;
}
