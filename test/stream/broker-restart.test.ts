import { collectPredictions, rideEventLines, startStreamProcess } from "./helpers/processes.js";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { openStreamSink, openStreamSource } from "../../src/stream/endpoints.js";
import { openRedisSource } from "../../src/stream/redis/index.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";
import type { StreamSource } from "../../src/stream/types.js";
import { useKinesaliteEnv } from "../helpers/kinesalite.js";
import {
  haveKafkaMock,
  haveNats,
  haveRedis,
  privateKafkaMock,
  privateKinesalite,
  privateNats,
  privateRedis,
  type PrivateBroker,
} from "./private-brokers.js";

const BEFORE = 3000;
const AFTER = 1000;
const encoder = new TextEncoder();

/** Ride events with ids from … from + count - 1, as messages to publish. */
const rides = (from: number, count: number) =>
  rideEventLines(from, from + count)
    .split("\n")
    .map((line) => ({ data: encoder.encode(line) }));

const collect = collectPredictions;

/** Well under the Redis takeover time (30 s); runs take 2–5 s. */
const AFTER_RESTART_MS = 20_000;

interface BrokerCase {
  name: string;
  available: boolean;
  start: () => Promise<PrivateBroker>;
  /** The consumer's --source: how fast lost deliveries come back. */
  consumerSource: (url: string) => string;
  /** The test's reader of the predictions (its own deliveries can be lost in the restart too). */
  checker: (url: string) => Promise<StreamSource>;
}

const CASES: BrokerCase[] = [
  {
    name: "NATS JetStream",
    available: haveNats,
    start: privateNats,
    // Events whose delivery or ack got lost come back after the ack wait: 2 s here, not 30.
    consumerSource: (url) => `${url}?ack_wait_ms=2000`,
    checker: (url) =>
      openStreamSource(`${url}?ack_wait_ms=1000`, { group: "check", consumer: "check" }),
  },
  {
    name: "Redis Streams",
    available: haveRedis,
    start: privateRedis,
    // The default 30 s takeover time: the source must find its own lost deliveries by itself
    // (a batch left waiting for XAUTOCLAIM would miss AFTER_RESTART_MS).
    consumerSource: (url) => url,
    checker: async (url) =>
      openRedisSource(url, { group: "check", consumer: "check", claimIdleMs: 1000 }),
  },
  {
    name: "Kinesis (kinesalite)",
    available: true,
    start: async () => {
      useKinesaliteEnv();
      return privateKinesalite();
    },
    consumerSource: (url) => `${url}&lease_ms=2000&poll_ms=20`,
    checker: (url) =>
      openStreamSource(`${url}&poll_ms=20&checkpoints=sqlite:${path.join(tempDir(), "check.db")}`, {
        group: "check",
        consumer: "check",
      }),
  },
  {
    name: "Kafka (librdkafka mock cluster)",
    available: haveKafkaMock,
    start: () => privateKafkaMock(["rides", "predictions"]),
    consumerSource: (url) => url,
    checker: (url) => openStreamSource(url, { group: "check", consumer: "check" }),
  },
];

describe.each(CASES)("mldeploy stream across a $name restart", (broker) => {
  it.skipIf(!broker.available)(
    "goes on after the broker is restarted mid-stream: every event ends with a prediction",
    async () => {
      const server = await broker.start();
      const bundle = await rideBundlePath();
      const input = await openStreamSink(server.url("rides"));
      await input.open();
      const output = await broker.checker(server.url("predictions"));
      await output.open();
      // Small batches, so the restart lands while most events still wait.
      const {
        child: consumer,
        exited,
        stderr,
      } = startStreamProcess({
        model: bundle,
        source: broker.consumerSource(server.url("rides")),
        sink: server.url("predictions"),
        batchSize: 20,
        env: { MLDEPLOY_DATA_DIR: path.join(tempDir(), "registry") },
      });
      const seen = new Map<number, number>();
      try {
        await input.publish(rides(0, BEFORE));
        await collect(output, seen, 200, 30_000);
        expect(seen.size, stderr()).toBeGreaterThanOrEqual(200);

        await server.restart();
        expect(consumer.exitCode, stderr()).toBeNull();

        // The sink retries on its own across the restart; publish once it is back.
        await input.publish(rides(BEFORE, AFTER));
        await collect(output, seen, BEFORE + AFTER, AFTER_RESTART_MS);
        expect(consumer.exitCode, stderr()).toBeNull();
        expect(seen.size, stderr()).toBe(BEFORE + AFTER);
        for (let i = 0; i < BEFORE + AFTER; i++) expect(seen.has(i)).toBe(true);
      } finally {
        consumer.kill("SIGTERM");
        await exited;
        await output.close();
        await input.close();
        await server.stop();
      }
    },
    120_000,
  );
});
