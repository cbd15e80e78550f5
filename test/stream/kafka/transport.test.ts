import { afterEach, describe, expect, it } from "vitest";
import {
  openKafkaSink,
  openKafkaSource,
  type KafkaSink,
  type KafkaSource,
} from "../../../src/stream/kafka/index.js";
import type { StreamMessage } from "../../../src/stream/types.js";
import {
  KAFKA_BROKERS,
  MOCK_CLUSTER,
  NO_KAFKA,
  topicUrl,
  uniqueTopic,
  usedGroup,
} from "./helpers.js";

// Kafka protocol numbers: API keys and error codes.
const KAFKA_API_HEARTBEAT = 12;
const KAFKA_API_SYNC_GROUP = 14;
const KAFKA_REBALANCE_IN_PROGRESS = 27;
const KAFKA_INVALID_REQUEST = 42;

/** Kafka behaviour beyond the shared contract: backpressure, rebalances, positions. */

const opened: Array<KafkaSource | KafkaSink> = [];
afterEach(async () => {
  await Promise.allSettled(opened.splice(0).map((t) => t.close()));
});

async function sink(topic: string, partitions: number): Promise<KafkaSink> {
  const s = openKafkaSink(topicUrl(topic, partitions));
  opened.push(s);
  await s.open();
  return s;
}

async function source(
  topic: string,
  partitions: number,
  group: string,
  consumer: string,
  extra = "",
) {
  const s = openKafkaSource(topicUrl(topic, partitions, extra), {
    group: usedGroup(group),
    consumer,
  });
  opened.push(s);
  await s.open();
  return s;
}

const text = (m: StreamMessage): string => new TextDecoder().decode(m.data);
const encode = (s: string): Uint8Array => new TextEncoder().encode(s);

async function readN(src: KafkaSource, n: number, timeoutMs: number, ack: boolean) {
  const got: StreamMessage[] = [];
  const deadline = Date.now() + timeoutMs;
  while (got.length < n && Date.now() < deadline) {
    const batch = await src.read({ maxMessages: 100, maxWaitMs: 100 });
    got.push(...batch);
    if (ack && batch.length > 0) await src.ack(batch);
  }
  return got;
}

describe.skipIf(!KAFKA_BROKERS)(
  KAFKA_BROKERS ? "Kafka transport" : `Kafka transport — ${NO_KAFKA}`,
  { timeout: 60_000 },
  () => {
    it("numbers positions by offset and partitions by number", async () => {
      const topic = await uniqueTopic("positions", 1);
      await (
        await sink(topic, 1)
      ).publish(["a", "b", "c"].map((s) => ({ data: encode(s), key: "k" })));
      const src = await source(topic, 1, "positions", "c");
      const got = await readN(src, 3, 10_000, true);
      expect(got.map((m) => [m.partition, m.position, text(m)])).toEqual([
        ["0", "0", "a"],
        ["0", "1", "b"],
        ["0", "2", "c"],
      ]);
      expect(got.every((m) => m.deliveries === undefined)).toBe(true);
    });

    it("one group name on two topics: each consumer gets only its own topic's messages", async () => {
      // `--group` defaults to "mldeploy" for every deployment, and a Kafka group spans topics.
      const topics = [await uniqueTopic("shared_a", 2), await uniqueTopic("shared_b", 2)];
      const sent = topics.map((topic) => Array.from({ length: 10 }, (_, i) => `${topic}:${i}`));
      for (const [i, topic] of topics.entries()) {
        await (
          await sink(topic, 2)
        ).publish(sent[i].map((s, k) => ({ data: encode(s), key: `ride-${k}` })));
      }
      const a = await source(topics[0], 2, "shared", "a");
      const b = await source(topics[1], 2, "shared", "b");
      // Reading both at once: each waits for the group's rebalances to settle.
      const [gotA, gotB] = await Promise.all([
        readN(a, 10, 20_000, true),
        readN(b, 10, 20_000, true),
      ]);
      expect(gotA.map(text).sort()).toEqual([...sent[0]].sort());
      expect(gotB.map(text).sort()).toEqual([...sent[1]].sort());
    });

    it("keeps at most maxInFlight messages fetched or unacked, and resumes after acks", async () => {
      const topic = await uniqueTopic("inflight", 1);
      const sent = Array.from({ length: 20 }, (_, i) => `m${i}`);
      await (await sink(topic, 1)).publish(sent.map((s) => ({ data: encode(s), key: "k" })));
      const src = await source(topic, 1, "inflight", "c", "&maxInFlight=5");

      const first = await src.read({ maxMessages: 100, maxWaitMs: 2_000 });
      expect(first.map(text)).toEqual(sent.slice(0, 5));
      // Nothing more while those 5 are unacked, however long we wait.
      expect(await src.read({ maxMessages: 100, maxWaitMs: 1_500 })).toEqual([]);
      await src.ack(first);
      const rest = await readN(src, 15, 15_000, true);
      expect([...first, ...rest].map(text)).toEqual(sent);
      expect((await src.lag())?.messages).toBe(0);
    });

    it("commits nothing for messages read before a rebalance; they are read again", async () => {
      const topic = await uniqueTopic("rebalance", 2);
      const sent = Array.from({ length: 20 }, (_, i) => `r${i}`);
      // 20 keys over 2 partitions: both partitions get some.
      await (
        await sink(topic, 2)
      ).publish(sent.map((s, i) => ({ data: encode(s), key: `ride-${i}` })));
      const a = await source(topic, 2, "rebalance", "a");
      const before = await readN(a, 20, 10_000, false);
      expect(before).toHaveLength(20);
      expect(new Set(before.map((m) => m.partition)).size).toBe(2);

      // b joins: the group rebalances, a keeps one partition and b gets the other.
      const b = await source(topic, 2, "rebalance", "b");
      await new Promise((r) => setTimeout(r, 2_000));
      // a's acks come late, from the old assignment: they must not commit anything.
      await a.ack(before);
      expect((await a.lag())?.messages).toBe(20);

      const seen = new Map<string, string[]>([
        ["a", []],
        ["b", []],
      ]);
      const deadline = Date.now() + 15_000;
      const drain = async (name: string, src: KafkaSource) => {
        while (seen.get("a")!.length + seen.get("b")!.length < 20 && Date.now() < deadline) {
          const batch = await src.read({ maxMessages: 10, maxWaitMs: 100 });
          seen.get(name)!.push(...batch.map(text));
          await src.ack(batch);
        }
      };
      await Promise.all([drain("a", a), drain("b", b)]);
      expect([...seen.get("a")!, ...seen.get("b")!].sort()).toEqual([...sent].sort());
      expect(seen.get("a")!.length).toBeGreaterThan(0);
      expect(seen.get("b")!.length).toBeGreaterThan(0);
      expect((await a.lag())?.messages).toBe(0);
    });

    it.skipIf(!MOCK_CLUSTER)(
      "joins again when the coordinator refuses a rebalance mid-run, and loses nothing",
      async () => {
        const topic = await uniqueTopic("refused", 1);
        const sent = Array.from({ length: 30 }, (_, i) => `f${i}`);
        const out = await sink(topic, 1);
        await out.publish(sent.slice(0, 10).map((s) => ({ data: encode(s) })));
        const src = await source(topic, 1, "refused", "a");
        const first = await readN(src, 10, 10_000, true);
        expect(first.map(text)).toEqual(sent.slice(0, 10));

        // The next heartbeat says the group rebalances, and the SyncGroup of the rejoin is
        // refused as librdkafka's mock refuses one racing a member's join or leave: kafkajs
        // gives up on the consumer (a non-retriable crash) and the source joins again.
        const mock = MOCK_CLUSTER!;
        await mock.failRequests(KAFKA_API_SYNC_GROUP, 1, KAFKA_INVALID_REQUEST);
        await mock.failRequests(KAFKA_API_HEARTBEAT, 1, KAFKA_REBALANCE_IN_PROGRESS);
        await out.publish(sent.slice(10).map((s) => ({ data: encode(s) })));
        const rest = await readN(src, 20, 20_000, true);
        expect(rest.map(text)).toEqual(sent.slice(10));
        expect((await src.lag())?.messages).toBe(0);
      },
    );
  },
);
