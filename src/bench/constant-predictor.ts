import type { ColumnarBatch, PredictionBatch, Predictor } from "../model/types.js";

/**
 * The ceiling of a benchmark: the model's info (input schema, version) with a constant answer
 * instead of onnxruntime, so the same path is measured without the model. close() closes the
 * model it wraps.
 */
export function constantPredictor(model: Predictor): Predictor {
  const answer = (rows: number): PredictionBatch => ({
    rows,
    values: new Float64Array(rows).fill(12.5),
  });
  return {
    info: model.info,
    predictColumns: async (batch: ColumnarBatch) => answer(batch.rows),
    predictRecords: async (records) => answer(records.length),
    close: () => model.close(),
  };
}
