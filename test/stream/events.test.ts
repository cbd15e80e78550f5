import { describe, expect, it } from "vitest";
import {
  decodeEvent,
  encodeDeadLetter,
  encodePrediction,
  ORIGINAL_FORMAT,
} from "../../src/stream/events.js";

const bytes = (text: string) => new TextEncoder().encode(text);
const json = (data: Uint8Array) => JSON.parse(new TextDecoder().decode(data)) as unknown;

describe("stream event formats (the original Kinesis system's)", () => {
  it("reads the ride and its id from an event", () => {
    const event = {
      ride: { PULocationID: 130, DOLocationID: 205, trip_distance: 3.66 },
      ride_id: 156,
    };
    expect(decodeEvent(bytes(JSON.stringify(event)), ORIGINAL_FORMAT)).toEqual({
      ok: true,
      input: event.ride,
      id: 156,
    });
  });

  it("writes the original prediction event", () => {
    expect(json(encodePrediction(21.3, 156, ORIGINAL_FORMAT, "7"))).toEqual({
      model: "ride_duration_prediction_model",
      version: "7",
      prediction: { ride_duration: 21.3, ride_id: 156 },
    });
  });

  it("is configurable for other models: the whole event as input, no id", () => {
    const format = { inputField: "", idField: "", predictionField: "score", modelLabel: "churn" };
    expect(decodeEvent(bytes('{"a": 1}'), format)).toEqual({
      ok: true,
      input: { a: 1 },
      id: undefined,
    });
    expect(json(encodePrediction(0.5, undefined, format, "2"))).toEqual({
      model: "churn",
      version: "2",
      prediction: { score: 0.5 },
    });
  });

  it.each([
    ["not JSON", "{ride:", /not JSON/],
    ["not UTF-8", "\u0000", /./],
    ["a list", "[1]", /must be a JSON object/],
    ["no ride", '{"ride_id": 1}', /"ride" must be an object/],
  ])("describes a bad event (%s) instead of throwing", (_name, text, error) => {
    const decoded = decodeEvent(
      text === "\u0000" ? new Uint8Array([0xff, 0xfe]) : bytes(text),
      ORIGINAL_FORMAT,
    );
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.error).toMatch(error);
  });

  it("keeps the original payload in a dead letter, as text or base64", () => {
    const origin = { source: "nats:ride_events", position: "42" };
    expect(json(encodeDeadLetter(bytes("{ride:"), "event is not JSON", origin))).toMatchObject({
      error: "event is not JSON",
      source: "nats:ride_events",
      position: "42",
      payload: "{ride:",
      encoding: "utf8",
    });
    expect(json(encodeDeadLetter(new Uint8Array([0xff, 0xfe]), "bad", origin))).toMatchObject({
      payload: "//4=",
      encoding: "base64",
    });
  });
});
