import type { ColumnarBatch, PredictionBatch, PredictOptions, Predictor } from "../model/types.js";
import { validateRecords } from "../model/validate.js";
import { InputValidationError } from "../model/types.js";

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
  return {
    get info() {
      return inner.info;
    },
    predictColumns,
    async predictRecords(records, options) {
      const { batch, errors } = validateRecords(records, inner.info.inputs);
      if (errors.length) throw new InputValidationError(errors);
      return predictColumns(batch, options);
    },
    close: () => inner.close(),
  };
}
