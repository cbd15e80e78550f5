import { isPlainObject } from "../model/validate.js";

/**
 * Where the model's input sits in an event and how a prediction event looks. The defaults
 * are the original Kinesis/Lambda system's formats:
 *   in:  {"ride": {"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66}, "ride_id": 156}
 *   out: {"model": "ride_duration_prediction_model", "version": "<v>",
 *         "prediction": {"ride_duration": 21.3, "ride_id": 156}}
 */
export interface EventFormat {
  /** Field holding the model's input object; "" = the whole event is the input. */
  inputField: string;
  /** Field holding the event's id, copied into the prediction ("" = none). */
  idField: string;
  /** Name of the predicted value inside `prediction`. */
  predictionField: string;
  /** The `model` label of prediction events. */
  modelLabel: string;
}

export const ORIGINAL_FORMAT: EventFormat = {
  inputField: "ride",
  idField: "ride_id",
  predictionField: "ride_duration",
  modelLabel: "ride_duration_prediction_model",
};

export type Decoded =
  { ok: true; input: Record<string, unknown>; id: unknown } | { ok: false; error: string };

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Parses one event; a problem is described, never thrown (it becomes a dead letter). */
export function decodeEvent(data: Uint8Array, format: EventFormat): Decoded {
  let event: unknown;
  try {
    event = JSON.parse(decoder.decode(data));
  } catch (error) {
    return { ok: false, error: `event is not JSON: ${(error as Error).message}` };
  }
  if (!isPlainObject(event)) return { ok: false, error: "event must be a JSON object" };
  const input = format.inputField === "" ? event : event[format.inputField];
  if (!isPlainObject(input)) {
    return {
      ok: false,
      error: `event field "${format.inputField}" must be an object with the model's inputs`,
    };
  }
  return {
    ok: true,
    input,
    id: format.idField === "" ? undefined : (event[format.idField] ?? null),
  };
}

const encoder = new TextEncoder();

/**
 * The prediction event of one input event. `value` is a number, or a classifier's text label,
 * which stays a string (as MLflow's pyfunc gives it).
 */
export function encodePrediction(
  value: number | string,
  id: unknown,
  format: EventFormat,
  version: string,
): Uint8Array {
  const prediction: Record<string, unknown> = {
    [format.predictionField]: typeof value === "string" || Number.isFinite(value) ? value : null,
  };
  if (format.idField !== "") prediction[format.idField] = id;
  return encoder.encode(JSON.stringify({ model: format.modelLabel, version, prediction }));
}

/**
 * encodePrediction for a whole stream of predictions: the JSON around the value and the id
 * is the same for every event of a format and model version, so it is serialised once and
 * each prediction only adds its number and id. Byte for byte what encodePrediction writes.
 */
export function predictionEncoder(
  format: EventFormat,
  version: string,
): (value: number | string, id: unknown) => Uint8Array {
  // Same field twice: the id overwrites the value in encodePrediction; keep its exact output.
  if (format.idField === format.predictionField)
    return (value, id) => encodePrediction(value, id, format, version);
  const head =
    `{"model":${JSON.stringify(format.modelLabel)},"version":${JSON.stringify(version)},` +
    `"prediction":{${JSON.stringify(format.predictionField)}:`;
  const idKey = format.idField === "" ? "" : `,${JSON.stringify(format.idField)}:`;
  return (value, id) => {
    // JSON writes a finite number as Number#toString does; NaN and ±Infinity become null.
    let text =
      head +
      (typeof value === "string"
        ? JSON.stringify(value)
        : Number.isFinite(value)
          ? String(value)
          : "null");
    if (idKey !== "" && id !== undefined) text += idKey + JSON.stringify(id);
    return encoder.encode(text + "}}");
  };
}

/** A dead letter: why, where from, and the original payload (as text when it is UTF-8, else base64). */
export function encodeDeadLetter(
  data: Uint8Array,
  error: string,
  origin: { source: string; position: string; partition?: string },
): Uint8Array {
  let payload: string;
  let encoding: "utf8" | "base64" = "utf8";
  try {
    payload = decoder.decode(data);
  } catch {
    payload = Buffer.from(data).toString("base64");
    encoding = "base64";
  }
  return encoder.encode(
    JSON.stringify({ error, ...origin, payload, encoding, failedAt: new Date().toISOString() }),
  );
}
