import { collectPredictions, startStreamProcess } from "./helpers/processes.js";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { openStreamSink, openStreamSource } from "../../src/stream/endpoints.js";
import { openRedisSource } from "../../src/stream/redis/index.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";
import { haveNats, haveRedis, privateNats, privateRedis } from "./private-brokers.js";

const BEFORE = 3000;
const AFTER = 1000;
const encoder = new TextEncoder();

const rides = (from: number, count: number) =>
  Array.from({ length: count }, (_, k) => {
    const i = from + k;
    const ride = {
      PULocationID: 1 + (i % 200),
      DOLocationID: 1 + ((i * 7) % 250),
      trip_distance: (i % 30) / 3,
    };
    return { data: encoder.encode(JSON.stringify({ ride, ride_id: i })) };
  });

const collect = collectPredictions;

/**
 * NATS: events whose delivery or ack got lost in the restart come back after the ack wait, 2 s
 * here instead of 30. Redis keeps the default 30 s takeover time: the source must find its own
 * lost deliveries by itself (a batch left waiting for XAUTOCLAIM would miss the deadline below).
 */
const sourceUrl = (url: string) => (url.startsWith("nats:") ? `${url}?ack_wait_ms=2000` : url);
/** Well under the Redis takeover time (30 s); runs take 2–5 s. */
const AFTER_RESTART_MS = 20_000;

const BROKERS = [
  ["NATS JetStream", haveNats, privateNats],
  ["Redis Streams", haveRedis, privateRedis],
] as const;

describe.each(BROKERS)("mldeploy stream across a %s restart", (_name, available, startBroker) => {
  it.skipIf(!available)(
    "goes on after the broker is restarted mid-stream: every event ends with a prediction",
    async () => {
      const broker = await startBroker();
      const bundle = await rideBundlePath();
      const input = await openStreamSink(broker.url("rides"));
      await input.open();
      // The checker's own deliveries can be lost in the restart too: short redelivery for it.
      const predictions = broker.url("predictions");
      const output = predictions.startsWith("redis:")
        ? openRedisSource(predictions, { group: "check", consumer: "check", claimIdleMs: 1000 })
        : await openStreamSource(`${predictions}?ack_wait_ms=1000`, {
            group: "check",
            consumer: "check",
          });
      await output.open();
      // Small batches, so the restart lands while most events still wait.
      const { child: consumer, exited } = startStreamProcess({
        model: bundle,
        source: sourceUrl(broker.url("rides")),
        sink: broker.url("predictions"),
        batchSize: 20,
        env: { MLDEPLOY_DATA_DIR: path.join(tempDir(), "registry") },
        stderr: "pipe",
      });
      let stderr = "";
      consumer.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
      const seen = new Map<number, number>();
      try {
        await input.publish(rides(0, BEFORE));
        await collect(output, seen, 200, 30_000);
        expect(seen.size, stderr).toBeGreaterThanOrEqual(200);

        await broker.restart();
        expect(consumer.exitCode, stderr).toBeNull();

        // The sink retries on its own across the restart; publish once it is back.
        await input.publish(rides(BEFORE, AFTER));
        await collect(output, seen, BEFORE + AFTER, AFTER_RESTART_MS);
        expect(consumer.exitCode, stderr).toBeNull();
        expect(seen.size, stderr).toBe(BEFORE + AFTER);
        for (let i = 0; i < BEFORE + AFTER; i++) expect(seen.has(i)).toBe(true);
      } finally {
        consumer.kill("SIGTERM");
        await exited;
        await output.close();
        await input.close();
        await broker.stop();
      }
    },
    120_000,
  );
});
