import { collectPredictions, rideEventLines, startStreamProcess } from "./helpers/processes.js";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStreamSource } from "../../src/stream/endpoints.js";
import type { StreamSource } from "../../src/stream/types.js";
import { runCli } from "../helpers/cli.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";
import { streamUrl, uniqueStream } from "./nats/helpers.js";
import { KAFKA_BROKERS, NO_KAFKA, topicUrl, uniqueTopic } from "./kafka/helpers.js";

const EVENTS = 4000;

type StreamName = "rides" | "preds" | "rides2" | "preds2";

/** A transport the process tests run on: where each stream lives, and how a consumer reads it. */
interface Transport {
  name: string;
  /** Why the transport's tests are skipped, when they are. */
  skip?: string;
  /** URLs of the four streams, fresh for this file. */
  streams(): Promise<Record<StreamName, string>>;
  /** The consumers' --source for a stream URL. */
  consumerSource(url: string): string;
}

const TRANSPORTS: Transport[] = [
  {
    name: "NATS JetStream",
    streams: async () => ({
      // Streams named once per file and deleted after it (helpers' afterAll).
      rides: streamUrl(uniqueStream("rides")),
      preds: streamUrl(uniqueStream("preds")),
      rides2: streamUrl(uniqueStream("rides2")),
      preds2: streamUrl(uniqueStream("preds2")),
    }),
    // A killed consumer's unacked batch comes back after 2 s, not 30.
    consumerSource: (url) => `${url}?ack_wait_ms=2000`,
  },
  {
    name: "Kafka",
    skip: KAFKA_BROKERS ? undefined : NO_KAFKA,
    // 4 partitions, so that two consumers of the group share them.
    streams: async () => ({
      rides: topicUrl(await uniqueTopic("rides", 4), 4),
      preds: topicUrl(await uniqueTopic("preds", 4), 4),
      rides2: topicUrl(await uniqueTopic("rides2", 4), 4),
      preds2: topicUrl(await uniqueTopic("preds2", 4), 4),
    }),
    // A killed consumer's partitions move on after the session timeout (6 s in topicUrl).
    consumerSource: (url) => url,
  },
];

/** JSON lines of `count` ride events, ids 0 … count - 1. */
const rides = (count: number) => rideEventLines(0, count);

describe.each(TRANSPORTS)("mldeploy stream as processes ($name)", (transport) => {
  let url: Record<StreamName, string>;
  let bundle: string;
  let env: NodeJS.ProcessEnv;
  let output: StreamSource;
  const predicted = new Map<number, number>();

  beforeAll(async () => {
    if (transport.skip) return;
    url = await transport.streams();
    bundle = await rideBundlePath();
    env = { MLDEPLOY_DATA_DIR: path.join(tempDir(), "registry") };
    output = await openStreamSource(url.preds, { group: "check", consumer: "check" });
    await output.open();
  });
  afterAll(async () => {
    await output?.close();
  });

  /** Reads predictions until `count` distinct rides have one (or the time is up). */
  const collect = (
    count: number,
    timeoutMs = 30_000,
    from: StreamSource = output,
    into: Map<number, number> = predicted,
  ) => collectPredictions(from, into, count, timeoutMs);

  const startConsumer = (input: StreamName = "rides", out: StreamName = "preds") =>
    startStreamProcess({
      model: bundle,
      source: transport.consumerSource(url[input]),
      sink: url[out],
      batchSize: 100,
      env,
    });

  it.skipIf(transport.skip !== undefined)(
    "loses nothing when a consumer is killed with -9: another in the group finishes the work",
    async () => {
      const produced = await runCli(["produce", "--to", url.rides], { env, input: rides(EVENTS) });
      expect(produced.status, produced.stderr).toBe(0);
      expect(produced.stderr).toMatch(new RegExp(`published ${EVENTS} events`));

      const first = startConsumer();
      await collect(500);
      first.child.kill("SIGKILL");
      await first.exited;
      expect(predicted.size).toBeLessThan(EVENTS);

      // Two consumers in the same group share the rest; the killed one's unacknowledged batch
      // comes back after the ack wait and is predicted again (duplicates only from that window).
      const second = startConsumer();
      const third = startConsumer();
      try {
        await collect(EVENTS, 60_000);
      } finally {
        second.child.kill("SIGTERM");
        third.child.kill("SIGTERM");
      }
      expect(await second.exited, second.stderr()).toBe(0);
      expect(await third.exited, third.stderr()).toBe(0);
      expect(predicted.size).toBe(EVENTS);
      const duplicates = [...predicted.values()].filter((n) => n > 1).length;
      expect(duplicates).toBeLessThanOrEqual(1000);
    },
  );

  it.skipIf(transport.skip !== undefined)(
    "SIGTERM finishes and acknowledges the batch in progress: the next consumer adds no duplicate",
    async () => {
      const produced = await runCli(["produce", "--to", url.rides2], { env, input: rides(3000) });
      expect(produced.status, produced.stderr).toBe(0);
      // Its own group: Kafka groups span topics, and a member reading another topic would share it.
      const out = await openStreamSource(url.preds2, { group: "check2", consumer: "check2" });
      await out.open();
      const seen = new Map<number, number>();
      try {
        const first = startConsumer("rides2", "preds2");
        await collect(300, 30_000, out, seen);
        first.child.kill("SIGTERM");
        expect(await first.exited, first.stderr()).toBe(0);
        const second = startConsumer("rides2", "preds2");
        try {
          await collect(3000, 60_000, out, seen);
        } finally {
          second.child.kill("SIGTERM");
        }
        expect(await second.exited, second.stderr()).toBe(0);
        expect(seen.size).toBe(3000);
        expect([...seen.values()].every((n) => n === 1)).toBe(true);
      } finally {
        await out.close();
      }
    },
  );
});
