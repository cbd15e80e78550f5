import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log/logger.js";
import { loadPredictor } from "../../src/model/predictor.js";
import type { Predictor } from "../../src/model/types.js";
import { runConsumer } from "../../src/stream/consumer.js";
import { openStreamSink, openStreamSource } from "../../src/stream/endpoints.js";
import { encodePrediction, predictionEncoder, type EventFormat } from "../../src/stream/events.js";
import type { StreamSink, StreamSource } from "../../src/stream/types.js";
import { tempDir } from "../helpers/temp.js";
import { saveClassifierBundle, textLabel } from "../model/classifier-bundles.js";
import { adminJsm } from "./nats/helpers.js";

/**
 * A classifier in the stream: each prediction event carries the label as it is, a string for
 * text classes ({"prediction": {"trip_class": "long", "ride_id": 7}}).
 */

const FORMAT: EventFormat = {
  inputField: "ride",
  idField: "ride_id",
  predictionField: "trip_class",
  modelLabel: "ride_class_model",
};

const BROKERS = [
  ["NATS JetStream", (name: string) => `nats://127.0.0.1:4222/${name}`],
  ["Redis Streams", (name: string) => `redis://127.0.0.1:6379/${name}`],
] as const;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ride = (i: number) => ({
  PULocationID: 1 + ((i * 37) % 265),
  DOLocationID: 1 + ((i * 91) % 265),
  trip_distance: (i % 50) / 4,
});

let predictor: Predictor;
beforeAll(async () => {
  const bundle = await saveClassifierBundle(tempDir("mldeploy-stream-classifier-"), "string");
  predictor = await loadPredictor(bundle, { version: "5" });
});
afterAll(async () => {
  await predictor?.close();
});

describe("prediction events", () => {
  it("hold a text label as a JSON string, the fast encoder byte for byte as the plain one", () => {
    const fast = predictionEncoder(FORMAT, "5");
    for (const [label, id] of [
      ["long", 7],
      ['a "quoted" \\ label', "r-8"],
      ["", null],
    ] as const) {
      const plain = encodePrediction(label, id, FORMAT, "5");
      expect(decoder.decode(fast(label, id))).toBe(decoder.decode(plain));
      expect(JSON.parse(decoder.decode(plain))).toEqual({
        model: "ride_class_model",
        version: "5",
        prediction: { trip_class: label, ride_id: id },
      });
    }
  });
});

describe.each(BROKERS)("a classifier consumer over %s", (_name, url) => {
  const suffix = randomBytes(4).toString("hex");
  const names = { input: `class_rides_${suffix}`, output: `class_preds_${suffix}` };
  const opened: Array<{ close(): Promise<void> }> = [];
  const sink = async (name: string): Promise<StreamSink> => {
    const s = await openStreamSink(url(name));
    opened.push(s);
    await s.open();
    return s;
  };
  const source = async (name: string, group: string): Promise<StreamSource> => {
    const s = await openStreamSource(url(name), {
      group,
      consumer: `c-${randomBytes(3).toString("hex")}`,
    });
    opened.push(s);
    await s.open();
    return s;
  };
  afterAll(async () => {
    for (const s of opened.reverse()) await s.close().catch(() => undefined);
    const all = Object.values(names);
    if (url("x").startsWith("nats:")) {
      const jsm = await adminJsm();
      for (const name of all) await jsm.streams.delete(name).catch(() => undefined);
    } else {
      const redis = new Redis("redis://127.0.0.1:6379");
      await redis.del(...all);
      await redis.quit();
    }
  });

  it("publishes each ride's label as a string, with its id", async () => {
    const count = 120;
    const input = await sink(names.input);
    await input.publish(
      Array.from({ length: count }, (_, i) => ({
        data: encoder.encode(JSON.stringify({ ride: ride(i), ride_id: i })),
      })),
    );
    let handled = 0;
    const stats = await runConsumer({
      source: await source(names.input, "scorer"),
      sink: await sink(names.output),
      predictor,
      format: FORMAT,
      batchSize: 32,
      maxWaitMs: 20,
      logger: silentLogger(),
      shouldStop: () => handled >= count,
      onBatch: (batch) => (handled += batch.received),
    });
    expect(stats).toMatchObject({ received: count, predicted: count, deadLettered: 0 });

    const check = await source(names.output, "check");
    const events: Array<{ model: string; version: string; prediction: Record<string, unknown> }> =
      [];
    const deadline = Date.now() + 15_000;
    while (events.length < count && Date.now() < deadline) {
      const messages = await check.read({ maxMessages: 500, maxWaitMs: 200 });
      for (const m of messages) events.push(JSON.parse(decoder.decode(m.data)) as never);
      await check.ack(messages);
    }
    expect(events).toHaveLength(count);
    for (const event of events) {
      const id = event.prediction.ride_id as number;
      expect(event).toEqual({
        model: "ride_class_model",
        version: "5",
        prediction: { trip_class: textLabel(ride(id).trip_distance), ride_id: id },
      });
    }
    expect(new Set(events.map((e) => e.prediction.trip_class))).toEqual(new Set(["long", "short"]));
  });
});
