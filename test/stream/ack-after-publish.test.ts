import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log/logger.js";
import { loadPredictor } from "../../src/model/predictor.js";
import type { Predictor } from "../../src/model/types.js";
import { processBatch, runConsumer } from "../../src/stream/consumer.js";
import { ORIGINAL_FORMAT } from "../../src/stream/events.js";
import { openRedisSink, openRedisSource } from "../../src/stream/redis/index.js";
import type { StreamMessage, StreamSink, StreamSource } from "../../src/stream/types.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";

/**
 * The consumer's core promise, at-least-once: an input is acknowledged only after its
 * prediction was published and confirmed. A real Redis consumer group is the judge (XPENDING
 * counts what was read and not acknowledged); the sink is a real Redis sink behind a gate the
 * test holds open or makes fail, so the window between publish and ack is as long as the test
 * wants instead of the microseconds a kill -9 would have to hit.
 */

const REDIS = "redis://127.0.0.1:6379";
const EVENTS = 60;
const BATCH = 10;
const encoder = new TextEncoder();

let predictor: Predictor;
const redis = new Redis(REDIS);
const keys: string[] = [];
beforeAll(async () => {
  predictor = await loadPredictor(await rideBundlePath(), { version: "1" });
});
afterAll(async () => {
  await predictor?.close();
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

/** A fresh input stream with EVENTS ride events, its output stream, and their names. */
async function setup(): Promise<{ input: string; output: string }> {
  const suffix = randomBytes(4).toString("hex");
  const input = `ack_in_${suffix}`;
  const output = `ack_out_${suffix}`;
  keys.push(input, output);
  const producer = openRedisSink(`${REDIS}/${input}`);
  await producer.open();
  await producer.publish(
    Array.from({ length: EVENTS }, (_, i) => ({
      data: encoder.encode(
        JSON.stringify({
          ride: { PULocationID: 1 + i, DOLocationID: 2 + i, trip_distance: 1 + (i % 9) },
          ride_id: i,
        }),
      ),
    })),
  );
  await producer.close();
  return { input, output };
}

/** Entries of the group read by a consumer and not acknowledged, as Redis counts them. */
async function pendingCount(stream: string, group: string): Promise<number> {
  const [count] = (await redis.xpending(stream, group)) as [number, ...unknown[]];
  return Number(count);
}

/** A real source that also tells how many messages it handed out and how many ack() calls came. */
function recording(source: StreamSource): StreamSource & { handedOut: number; acks: number } {
  const wrapper = {
    description: source.description,
    handedOut: 0,
    acks: 0,
    open: () => source.open(),
    close: () => source.close(),
    async read(options: Parameters<StreamSource["read"]>[0]): Promise<StreamMessage[]> {
      const messages = await source.read(options);
      wrapper.handedOut += messages.length;
      return messages;
    },
    async ack(messages: StreamMessage[]): Promise<void> {
      wrapper.acks++;
      await source.ack(messages);
    },
  };
  return wrapper;
}

/** A real sink whose publish() waits for the test: held until release(), or failing. */
function gated(sink: StreamSink): StreamSink & {
  calls: number;
  called: Promise<void>;
  release(): void;
  fail(error: Error): void;
} {
  let opened!: () => void;
  const called = new Promise<void>((resolve) => (opened = resolve));
  let decide!: (outcome: Error | undefined) => void;
  const decided = new Promise<Error | undefined>((resolve) => (decide = resolve));
  const wrapper = {
    description: sink.description,
    calls: 0,
    called,
    release: () => decide(undefined),
    fail: (error: Error) => decide(error),
    open: () => sink.open(),
    close: () => sink.close(),
    async publish(messages: Array<{ data: Uint8Array; key?: string }>): Promise<void> {
      wrapper.calls++;
      opened();
      const error = await decided;
      if (error) throw error;
      await sink.publish(messages);
    },
  };
  return wrapper;
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

describe("a stream batch is acknowledged only after its predictions are published", () => {
  it("runConsumer: nothing is acknowledged while the publish is pending, all of it once it is confirmed", async () => {
    const { input, output } = await setup();
    const source = recording(openRedisSource(`${REDIS}/${input}`, { group: "g", consumer: "c" }));
    const sink = gated(openRedisSink(`${REDIS}/${output}`));
    await source.open();
    await sink.open();
    let stop = false;
    const running = runConsumer({
      source,
      sink,
      predictor,
      format: ORIGINAL_FORMAT,
      batchSize: BATCH,
      maxWaitMs: 20,
      logger: silentLogger(),
      shouldStop: () => stop,
    });
    try {
      await sink.called;
      // Let the pipeline go as far as it will: later batches are read and predicted too.
      await settle();
      expect(source.handedOut).toBeGreaterThanOrEqual(BATCH);
      expect(source.acks).toBe(0);
      expect(await pendingCount(input, "g")).toBe(source.handedOut);
      expect(await redis.xlen(output)).toBe(0);

      sink.release();
      const deadline = Date.now() + 10_000;
      while ((await redis.xlen(output)) < EVENTS && Date.now() < deadline) await settle();
      stop = true;
      const stats = await running;
      expect(stats.predicted).toBe(EVENTS);
      expect(await redis.xlen(output)).toBe(EVENTS);
      expect(await pendingCount(input, "g")).toBe(0);
    } finally {
      stop = true;
      sink.release();
      await running.catch(() => undefined);
      await source.close();
      await sink.close();
    }
  }, 20_000);

  it("runConsumer: a publish that fails acknowledges nothing and ends the loop with its error", async () => {
    const { input, output } = await setup();
    const source = recording(openRedisSource(`${REDIS}/${input}`, { group: "g", consumer: "c" }));
    const sink = gated(openRedisSink(`${REDIS}/${output}`));
    await source.open();
    await sink.open();
    const running = runConsumer({
      source,
      sink,
      predictor,
      format: ORIGINAL_FORMAT,
      batchSize: BATCH,
      maxWaitMs: 20,
      logger: silentLogger(),
      shouldStop: () => false,
    });
    try {
      await sink.called;
      await settle();
      sink.fail(new Error("broker refused the predictions"));
      await expect(running).rejects.toThrow("broker refused the predictions");
      expect(source.handedOut).toBeGreaterThanOrEqual(BATCH);
      expect(source.acks).toBe(0);
      // Every event read is still pending in the group: redelivered, not lost.
      expect(await pendingCount(input, "g")).toBe(source.handedOut);
      expect(await redis.xlen(output)).toBe(0);
    } finally {
      await source.close();
      await sink.close();
    }
  }, 20_000);

  it("processBatch (the Lambda path): no ack while the publish is pending or after it failed", async () => {
    const { input, output } = await setup();
    const source = recording(openRedisSource(`${REDIS}/${input}`, { group: "g", consumer: "c" }));
    await source.open();
    const messages = await source.read({ maxMessages: BATCH, maxWaitMs: 1000 });
    expect(messages).toHaveLength(BATCH);
    const options = { source, predictor, format: ORIGINAL_FORMAT, batchSize: BATCH };
    const common = { ...options, maxWaitMs: 20, logger: silentLogger() };
    try {
      const failing = gated(openRedisSink(`${REDIS}/${output}`));
      await failing.open();
      const failed = processBatch(messages, { ...common, sink: failing });
      await failing.called;
      await settle();
      expect(source.acks).toBe(0);
      failing.fail(new Error("no publish"));
      await expect(failed).rejects.toThrow("no publish");
      expect(source.acks).toBe(0);
      expect(await pendingCount(input, "g")).toBe(BATCH);
      await failing.close();

      const held = gated(openRedisSink(`${REDIS}/${output}`));
      await held.open();
      const done = processBatch(messages, { ...common, sink: held });
      await held.called;
      await settle();
      expect(source.acks).toBe(0);
      expect(await pendingCount(input, "g")).toBe(BATCH);
      held.release();
      await expect(done).resolves.toMatchObject({ received: BATCH, predicted: BATCH });
      expect(await pendingCount(input, "g")).toBe(0);
      expect(await redis.xlen(output)).toBe(BATCH);
      await held.close();
    } finally {
      await source.close();
    }
  });
});
