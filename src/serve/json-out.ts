import type { PredictionValues } from "../model/types.js";

/**
 * Hand-built JSON for the prediction values every protocol answers with (each protocol's folder
 * writes its own envelope around them). Their shape is fixed per model, so the bytes around the
 * numbers are computed once; per request only the numbers are formatted. This beats a generic
 * serializer (and fast-json-stringify's anyOf for object-or-array) on the hot path.
 */

/** JSON text of a prediction value (onnxruntime may emit NaN/Infinity, which JSON cannot hold). */
export function jsonNumber(value: number): string {
  return Number.isFinite(value) ? String(value) : "null";
}

export function jsonNumberList(values: ArrayLike<number>): string {
  let text = "[";
  for (let i = 0; i < values.length; i++) {
    if (i > 0) text += ",";
    text += jsonNumber(values[i]);
  }
  return text + "]";
}

/** JSON text of a prediction: a number, or a classifier's text label. */
export function jsonPrediction(value: number | string): string {
  return typeof value === "string" ? JSON.stringify(value) : jsonNumber(value);
}

/** JSON list of predictions: numbers as jsonNumberList writes them, text labels as strings. */
export function jsonPredictionList(values: PredictionValues): string {
  return values instanceof Float64Array ? jsonNumberList(values) : JSON.stringify(values);
}
