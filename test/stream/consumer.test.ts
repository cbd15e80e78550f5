import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log/logger.js";
import { loadPredictor } from "../../src/model/predictor.js";
import type { Predictor } from "../../src/model/types.js";
import { serveMetrics } from "../../src/metrics/http.js";
import { createStreamMetrics } from "../../src/stream/metrics.js";
import { runConsumer } from "../../src/stream/consumer.js";
import { openStreamSink, openStreamSource } from "../../src/stream/endpoints.js";
import { ORIGINAL_FORMAT } from "../../src/stream/events.js";
import { streamOptionsSchema } from "../../src/stream/options.js";
import { runStream } from "../../src/stream/run.js";
import { Registry } from "../../src/registry/registry.js";
import { tempDir } from "../helpers/temp.js";
import type { StreamSink, StreamSource } from "../../src/stream/types.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { seriesValue } from "../helpers/prometheus.js";
import { adminJsm } from "./nats/helpers.js";

const BROKERS = [
  ["NATS JetStream", (name: string) => `nats://127.0.0.1:4222/${name}`],
  ["Redis Streams", (name: string) => `redis://127.0.0.1:6379/${name}`],
] as const;

const encoder = new TextEncoder();
const ride = (i: number) => ({
  PULocationID: 1 + ((i * 37) % 265),
  DOLocationID: 1 + ((i * 91) % 265),
  trip_distance: (i % 50) / 5,
});

let predictor: Predictor;
beforeAll(async () => {
  predictor = await loadPredictor(await rideBundlePath(), { version: "3" });
});
afterAll(async () => {
  await predictor?.close();
});

async function readAll(source: StreamSource, count: number): Promise<unknown[]> {
  const out: unknown[] = [];
  const deadline = Date.now() + 15_000;
  while (out.length < count && Date.now() < deadline) {
    const messages = await source.read({ maxMessages: 500, maxWaitMs: 200 });
    for (const m of messages) out.push(JSON.parse(new TextDecoder().decode(m.data)));
    await source.ack(messages);
  }
  return out;
}

describe.each(BROKERS)("consumer loop over %s", (_name, url) => {
  const suffix = randomBytes(4).toString("hex");
  const names = {
    input: `rides_${suffix}`,
    output: `preds_${suffix}`,
    dead: `dead_${suffix}`,
    backlog: `backlog_${suffix}`,
    backlogOut: `backlog_preds_${suffix}`,
  };
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
    // Leave nothing behind on the shared brokers.
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

  it("predicts every good event in the original format, dead-letters the bad ones with the reason and payload, and acknowledges all", async () => {
    const input = await sink(names.input);
    const events = Array.from({ length: 300 }, (_, i) =>
      JSON.stringify({ ride: ride(i), ride_id: i }),
    );
    events[10] = "{not json";
    events[20] = JSON.stringify({ ride: { PULocationID: 1, DOLocationID: 2 }, ride_id: 20 });
    events[30] = JSON.stringify({ ride: { ...ride(30), trip_distance: -1 }, ride_id: 30 });
    await input.publish(events.map((e) => ({ data: encoder.encode(e) })));

    const consumerSource = await source(names.input, "scorer");
    let handled = 0;
    const metrics = createStreamMetrics();
    const served = await serveMetrics(metrics.registry, 0, "127.0.0.1");
    opened.push(served);
    const stats = await runConsumer({
      source: consumerSource,
      sink: await sink(names.output),
      deadLetter: await sink(names.dead),
      predictor,
      format: ORIGINAL_FORMAT,
      batchSize: 64,
      maxWaitMs: 20,
      logger: silentLogger(),
      shouldStop: () => handled >= 300,
      onBatch: (batch) => {
        handled += batch.received;
        metrics.observeBatch(batch);
      },
    });
    expect(stats).toMatchObject({ received: 300, predicted: 297, deadLettered: 3 });
    const scraped = await (await fetch(served.url)).text();
    expect(seriesValue(scraped, "mldeploy_stream_events_received_total")).toBe(300);
    expect(seriesValue(scraped, "mldeploy_stream_events_total", { outcome: "predicted" })).toBe(
      297,
    );
    expect(seriesValue(scraped, "mldeploy_stream_events_total", { outcome: "dead_lettered" })).toBe(
      3,
    );
    expect(seriesValue(scraped, "mldeploy_stream_batch_seconds_count")).toBe(stats.batches);

    const predictions = (await readAll(await source(names.output, "check"), 297)) as Array<{
      model: string;
      version: string;
      prediction: { ride_duration: number; ride_id: number };
    }>;
    expect(predictions).toHaveLength(297);
    expect(predictions[0]).toMatchObject({ model: "ride_duration_prediction_model", version: "3" });
    const ids = predictions.map((p) => p.prediction.ride_id);
    expect(new Set(ids).size).toBe(297);
    const sample = predictions.slice(0, 25);
    const expected = await predictor.predictRecords(sample.map((p) => ride(p.prediction.ride_id)));
    sample.forEach((p, i) =>
      expect(p.prediction.ride_duration).toBeCloseTo(expected.values[i] as number, 9),
    );

    const dead = (await readAll(await source(names.dead, "check"), 3)) as Array<{
      error: string;
      payload: string;
    }>;
    expect(dead.map((d) => d.payload).sort()).toEqual([events[10], events[20], events[30]].sort());
    expect(dead.map((d) => d.error).join("\n")).toMatch(
      /not JSON[\s\S]*trip_distance|trip_distance[\s\S]*not JSON/,
    );

    // Everything was acknowledged: the group has nothing left.
    expect(await consumerSource.read({ maxMessages: 10, maxWaitMs: 100 })).toEqual([]);
  });
  it("mldeploy stream reports the group's lag in /metrics: above 0 while a backlog waits, 0 once it is done", async () => {
    const events = 3000;
    const input = await sink(names.backlog);
    await input.publish(
      Array.from({ length: events }, (_, i) => ({
        data: encoder.encode(JSON.stringify({ ride: ride(i), ride_id: i })),
      })),
    );
    // The metrics URL (any free port) is only told in the log.
    let metricsUrl: ((url: string) => void) | undefined;
    const announced = new Promise<string>((resolve) => (metricsUrl = resolve));
    const log = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split("\n").filter(Boolean)) {
          const entry = JSON.parse(line) as { metrics?: string };
          if (entry.metrics) metricsUrl?.(entry.metrics);
        }
        done();
      },
    });
    const registry = await Registry.open({ dataDir: tempDir() });
    let stop = false;
    const running = runStream(
      streamOptionsSchema.parse({
        model: await rideBundlePath(),
        source: url(names.backlog),
        sink: url(names.backlogOut),
        group: "lagging",
        // Small batches, so the backlog lasts long enough to be seen.
        batchSize: 5,
        maxWaitMs: 5,
        metricsPort: 0,
      }),
      { registry, logger: pino({ level: "info" }, log), shouldStop: () => stop, lagIntervalMs: 50 },
    );
    try {
      const scrape = async () => (await fetch(await announced)).text();
      const lagOf = (text: string) => ({
        exported: text.includes("mldeploy_stream_lag_messages "),
        messages: seriesValue(text, "mldeploy_stream_lag_messages"),
        seconds: seriesValue(text, "mldeploy_stream_lag_seconds"),
        received: seriesValue(text, "mldeploy_stream_events_received_total"),
      });
      let first = lagOf(await scrape());
      for (let i = 0; !first.exported && i < 200; i++) {
        await new Promise((r) => setTimeout(r, 10));
        first = lagOf(await scrape());
      }
      // While events are still waiting, the broker's count of them is exported.
      expect(first.received).toBeLessThan(events);
      expect(first.messages).toBeGreaterThan(0);
      expect(first.messages).toBeLessThanOrEqual(events);
      expect(first.seconds).toBeGreaterThan(0);

      let last = first;
      const deadline = Date.now() + 20_000;
      while (!(last.received >= events && last.messages === 0) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        last = lagOf(await scrape());
      }
      expect(last).toMatchObject({ received: events, messages: 0, seconds: 0 });
    } finally {
      stop = true;
      await running;
      await registry.close();
    }
  });
});
