import type { ModelInfo, PredictionBatch } from "../../model/types.js";
import { jsonNumber, jsonPrediction } from "../json-out.js";

type PredictionsWriter = (result: PredictionBatch) => string;

const writers = new WeakMap<ModelInfo, PredictionsWriter>();

/**
 * MLflow's scoring answer for an ONNX bundle, as `mlflow models serve` gives it: one object
 * per row keyed by the graph's output names, `{"predictions": [{"duration": 21.3}, …]}`.
 * `_OnnxModelWrapper.predict` (mlflow/onnx/__init__.py) turns the request's DataFrame into
 * a DataFrame of the graph's outputs, and `predictions_to_json`
 * (mlflow/pyfunc/scoring_server/__init__.py) writes it with `to_dict(orient="records")`.
 * A classifier's row holds its label and its probabilities as a list (one per class);
 * MLflow itself fails there (it flattens the [N, C] output to N·C values beside N labels and
 * pandas refuses columns of unequal length), so this is the row pandas would hold.
 */
export function mlflowPredictions(info: ModelInfo, result: PredictionBatch): string {
  let writer = writers.get(info);
  if (writer === undefined) {
    writer = predictionsWriter(info);
    writers.set(info, writer);
  }
  return writer(result);
}

/** Whether the answer needs the class probabilities from the model. */
export function wantsProbabilities(info: ModelInfo): boolean {
  return info.probabilities !== undefined;
}

function predictionsWriter(info: ModelInfo): PredictionsWriter {
  // The bytes around the values are the same in every answer of a model: built once.
  const head = `{${JSON.stringify(info.output)}:`;
  const probabilities = info.probabilities;
  const probabilitiesHead = probabilities ? `,${JSON.stringify(probabilities.name)}:[` : "";
  const width = probabilities?.classes.length ?? 0;
  return ({ values, probabilities: table }) => {
    let text = '{"predictions":[';
    for (let row = 0; row < values.length; row++) {
      if (row > 0) text += ",";
      text += head + jsonPrediction(values[row]);
      if (table !== undefined && width > 0) {
        text += probabilitiesHead;
        const start = row * width;
        for (let c = 0; c < width; c++) {
          if (c > 0) text += ",";
          text += jsonNumber(table[start + c]);
        }
        text += "]";
      }
      text += "}";
    }
    return text + "]}";
  };
}
