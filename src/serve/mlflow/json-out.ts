import type { PredictionValues } from "../../model/types.js";
import { jsonPredictionList } from "../json-out.js";

/** MLflow's scoring answer: `{"predictions": [...]}`, one value per row. */
export function mlflowPredictions(values: PredictionValues): string {
  return `{"predictions":${jsonPredictionList(values)}}`;
}
