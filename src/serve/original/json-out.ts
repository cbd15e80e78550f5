import type { ModelInfo, PredictionValues } from "../../model/types.js";
import { jsonPrediction } from "../json-out.js";

export type PredictionObjectWriter = ReturnType<typeof predictionObjectWriter>;

const writers = new WeakMap<ModelInfo, PredictionObjectWriter>();

/** The writer of a served model's /predict answers, built once per loaded model. */
export function writerFor(info: ModelInfo): PredictionObjectWriter {
  let writer = writers.get(info);
  if (writer === undefined) {
    writer = predictionObjectWriter(info.output, info.version);
    writers.set(info, writer);
  }
  return writer;
}

/** Serializer for `{"<output>": value, "model_version": "<version>"}` objects and lists of them. */
export function predictionObjectWriter(
  output: string,
  version: string,
): {
  one(value: number | string): string;
  many(values: PredictionValues): string;
} {
  const head = `{${JSON.stringify(output)}:`;
  const tail = `,"model_version":${JSON.stringify(version)}}`;
  return {
    one: (value) => head + jsonPrediction(value) + tail,
    many(values) {
      let text = "[";
      for (let i = 0; i < values.length; i++) {
        if (i > 0) text += ",";
        text += head + jsonPrediction(values[i]) + tail;
      }
      return text + "]";
    },
  };
}
