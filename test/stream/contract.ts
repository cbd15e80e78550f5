/**
 * The stream transport contract (src/stream/types.ts) as one test suite that every transport
 * runs against its real broker: NATS (test/stream/nats/contract.test.ts), Redis
 * (test/stream/redis/contract.test.ts), Kafka (test/stream/kafka/contract.test.ts), and any
 * later one (Kinesis). A transport plugs in with a fixture:
 *
 *   describeTransportContract("NATS JetStream", {
 *     newStream: () => uniqueStream("contract"),
 *     source: (stream, settings) =>
 *       openNatsSource(streamUrl(stream, "?ack_wait_ms=1000"), settings),
 *     sink: (stream) => openNatsSink(streamUrl(stream)),
 *     redeliveryMs: 1000,
 *   });
 *
 * Fixture rules:
 * - newStream() returns a stream/topic name no other test uses (the fixture creates it if the
 *   transport cannot, and deletes it in cleanup()); each test calls it once.
 * - source()/sink() return NOT yet opened transports: the suite opens and closes them (close
 *   is called once after a test, possibly after the test closed it already or open failed).
 * - Unacked messages of a closed consumer must reach the next consumer of the group within
 *   `redeliveryMs`: set the transport's redelivery timeout low in source() (NATS ack_wait,
 *   Redis claim idle time) and give that value here. 0 for a broker that hands them over at
 *   once (Kafka: a consumer leaving the group releases its partitions).
 * - `settleMs`: how long a group needs after a member joined or left before its assignment is
 *   stable (Kafka rebalances). The sharing test waits that long before publishing.
 * - `storedCount(stream)`, optional: how many messages the broker holds for the stream, asked
 *   through a connection of its own; lets the durability test check right after publish().
 * - Messages go out with keys; a transport with partitions must keep one key in one partition.
 *   Order is checked per `partition` (messages without one count as a single partition).
 *
 * Every test bounds its waits, so a broken transport fails in seconds instead of hanging.
 */
import { randomBytes } from "node:crypto";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { StreamMessage, StreamSink, StreamSource } from "../../src/stream/types.js";

export interface TransportFixture {
  newStream(): string | Promise<string>;
  source(
    stream: string,
    settings: { group: string; consumer: string },
  ): StreamSource | Promise<StreamSource>;
  sink(stream: string): StreamSink | Promise<StreamSink>;
  /** Upper bound for an unacked message of a closed consumer to reach the next one (ms). */
  redeliveryMs: number;
  /** Time a group needs to be stable after a member joined or left (ms); default 0. */
  settleMs?: number;
  /**
   * How many group sessions (joins, rebalances) a source has been through, where the transport
   * has them: a change during a test means its uncommitted messages may be delivered again
   * (at-least-once around a rebalance), which the sharing test then allows.
   */
  groupSessions?(source: StreamSource): number;
  /** Messages the broker stores for the stream, through an independent connection. */
  storedCount?(stream: string): Promise<number>;
  /** After all tests of the file: delete streams, close admin connections. */
  cleanup?(): Promise<void>;
}

/** What the suite itself allows for messages in flight to arrive (on a 2-core shared box). */
const ARRIVAL_MS = 10_000;
const BATCH = 64;

interface Sent {
  id: string;
  key: string;
  data: Uint8Array;
}

/** Message bytes: JSON with non-ASCII text, then bytes that are not UTF-8, so re-encoding shows. */
function makeMessages(tag: string, count: number, keys: number): Sent[] {
  const encoder = new TextEncoder();
  return Array.from({ length: count }, (_, i) => {
    const text = encoder.encode(JSON.stringify({ ride_id: i, tag, note: "é✓" }));
    const data = new Uint8Array(text.length + 3);
    data.set(text);
    data.set([0x00, 0xff, 0x80], text.length);
    return { id: `${tag}-${i}`, key: `ride-${i % keys}`, data };
  });
}

function hex(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("hex");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function describeTransportContract(
  name: string,
  fixture: TransportFixture,
  /** Why the suite cannot run here (no broker configured); undefined = run it. */
  skipReason?: string,
): void {
  const settleMs = fixture.settleMs ?? 0;
  const redeliveryMs = fixture.redeliveryMs;
  const testTimeout = 30_000 + 3 * redeliveryMs + 4 * settleMs;
  const opened: Array<StreamSource | StreamSink> = [];
  const ids = new Map<string, string>();
  const title = skipReason
    ? `${name} transport contract — ${skipReason}`
    : `${name} transport contract`;

  const group = (label: string): string => `${label}-${randomBytes(3).toString("hex")}`;

  async function openSource(stream: string, groupName: string, consumer: string) {
    const source = await fixture.source(stream, { group: groupName, consumer });
    opened.push(source);
    await source.open();
    return source;
  }

  async function openSink(stream: string): Promise<StreamSink> {
    const sink = await fixture.sink(stream);
    opened.push(sink);
    await sink.open();
    return sink;
  }

  /** Publishes in batches of 50, remembering each payload's id to recognise it on arrival. */
  async function publish(sink: StreamSink, messages: Sent[]): Promise<void> {
    for (const m of messages) ids.set(hex(m.data), m.id);
    for (let i = 0; i < messages.length; i += 50) {
      await sink.publish(messages.slice(i, i + 50).map(({ data, key }) => ({ data, key })));
    }
  }

  const idOf = (m: StreamMessage): string => ids.get(hex(m.data)) ?? `unknown:${hex(m.data)}`;
  const seqOf = (m: StreamMessage): number => Number(idOf(m).split("-").at(-1));

  /** Reads (acking each batch if asked) until `count` messages arrived or `timeoutMs` passed. */
  async function readUntil(
    source: StreamSource,
    count: number,
    timeoutMs: number,
    ack: boolean,
  ): Promise<StreamMessage[]> {
    const got: StreamMessage[] = [];
    const deadline = Date.now() + timeoutMs;
    while (got.length < count && Date.now() < deadline) {
      const batch = await source.read({ maxMessages: BATCH, maxWaitMs: 100 });
      expect(batch.length).toBeLessThanOrEqual(BATCH);
      got.push(...batch);
      if (ack && batch.length > 0) await source.ack(batch);
    }
    return got;
  }

  /** Reads for the whole window (acking as it goes): everything that arrives in it. */
  async function readFor(source: StreamSource, windowMs: number): Promise<StreamMessage[]> {
    const got: StreamMessage[] = [];
    const deadline = Date.now() + windowMs;
    while (Date.now() < deadline) {
      const left = Math.max(1, Math.min(200, deadline - Date.now()));
      const batch = await source.read({ maxMessages: BATCH, maxWaitMs: left });
      got.push(...batch);
      if (batch.length > 0) await source.ack(batch);
    }
    return got;
  }

  describe.skipIf(skipReason !== undefined)(title, { timeout: testTimeout }, () => {
    afterEach(async () => {
      await Promise.allSettled(opened.splice(0).map((t) => t.close()));
    });

    afterAll(async () => {
      await fixture.cleanup?.();
    });

    it("delivers every published message once, in order per partition, bytes intact", async () => {
      const stream = await fixture.newStream();
      const sent = makeMessages("order", 200, 7);
      await publish(await openSink(stream), sent);

      const source = await openSource(stream, group("order"), "c1");
      const got = await readUntil(source, sent.length, ARRIVAL_MS, true);
      expect(got.map(idOf).sort()).toEqual(sent.map((m) => m.id).sort());

      const byPartition = new Map<string, StreamMessage[]>();
      const keyPartitions = new Map<string, Set<string>>();
      for (const m of got) {
        const partition = m.partition ?? "";
        byPartition.set(partition, [...(byPartition.get(partition) ?? []), m]);
        const key = sent[seqOf(m)].key;
        keyPartitions.set(key, (keyPartitions.get(key) ?? new Set()).add(partition));
      }
      for (const [partition, list] of byPartition) {
        const seqs = list.map(seqOf);
        expect(seqs, `order in partition "${partition}"`).toEqual([...seqs].sort((a, b) => a - b));
        const positions = new Set(list.map((m) => m.position));
        expect(positions.size, `positions unique in partition "${partition}"`).toBe(list.length);
      }
      for (const [key, partitions] of keyPartitions) {
        expect([...partitions], `partitions of key ${key}`).toHaveLength(1);
      }
      expect(got.filter((m) => m.deliveries !== undefined && m.deliveries !== 1)).toEqual([]);
      // All acked: nothing further, not even a redelivery after the redelivery timeout.
      expect(await readFor(source, redeliveryMs + 500)).toEqual([]);
    });

    it("does not redeliver acked messages to the group's next consumer", async () => {
      const stream = await fixture.newStream();
      const sink = await openSink(stream);
      const g = group("acked");
      await publish(sink, makeMessages("acked", 10, 3));
      const first = await openSource(stream, g, "first");
      expect(await readUntil(first, 10, ARRIVAL_MS, true)).toHaveLength(10);
      await first.close();

      // One new message, so the next consumer is seen to work while the acked ones stay away.
      await publish(sink, makeMessages("later", 1, 1));
      const next = await openSource(stream, g, "next");
      const seen = await readFor(next, redeliveryMs + settleMs + 2_000);
      expect(seen.map(idOf)).toEqual(["later-0"]);
    });

    it("redelivers unacked messages of a closed consumer to the group's next one", async () => {
      const stream = await fixture.newStream();
      const g = group("unacked");
      const sent = makeMessages("unacked", 10, 3);
      await publish(await openSink(stream), sent);
      const first = await openSource(stream, g, "first");
      const read = await readUntil(first, 10, ARRIVAL_MS, false);
      expect(read).toHaveLength(10);
      await first.ack(read.slice(0, 4));
      await first.close();

      const next = await openSource(stream, g, "next");
      const again = await readUntil(next, 6, redeliveryMs + settleMs + ARRIVAL_MS, true);
      expect(again.map(idOf).sort()).toEqual(read.slice(4).map(idOf).sort());
      expect(again.filter((m) => m.deliveries !== undefined && m.deliveries < 2)).toEqual([]);
      // The 4 acked before the close never come back.
      expect(await readFor(next, redeliveryMs + 500)).toEqual([]);
    });

    it("shares a group's messages between two consumers, each message to exactly one", async () => {
      const stream = await fixture.newStream();
      const sink = await openSink(stream);
      const g = group("share");
      const consumers = [await openSource(stream, g, "a"), await openSource(stream, g, "b")];
      await sleep(settleMs); // steady state: both are members with their share assigned
      const sessions = () => consumers.map((c) => fixture.groupSessions?.(c) ?? 0).join();
      const steady = sessions();
      const sent = makeMessages("share", 200, 20);
      await publish(sink, sent);

      const seen: string[][] = [[], []];
      const total = (): number => seen[0].length + seen[1].length;
      const drain = async (i: number): Promise<void> => {
        const deadline = Date.now() + ARRIVAL_MS;
        while (total() < sent.length && Date.now() < deadline) {
          const batch = await consumers[i].read({ maxMessages: 10, maxWaitMs: 100 });
          seen[i].push(...batch.map(idOf));
          if (batch.length > 0) await consumers[i].ack(batch);
          await sleep(1); // let the other consumer have its turn
        }
      };
      await Promise.all([drain(0), drain(1)]);
      // Late duplicates (a redelivery of something acked) would show up in this window.
      const late = await Promise.all(consumers.map((c) => readFor(c, redeliveryMs + 500)));
      const all = [...seen[0], ...seen[1], ...late.flat().map(idOf)];
      // A group that rebalanced after all (a busy machine: a join the broker refused, redone)
      // may deliver again what it had not committed: every message, duplicates allowed.
      const delivered = sessions() === steady ? all : [...new Set(all)];
      expect(delivered.sort()).toEqual(sent.map((m) => m.id).sort());
      expect(seen[0].length).toBeGreaterThan(0);
      expect(seen[1].length).toBeGreaterThan(0);
    });

    it("gives another group all messages, independently of the first", async () => {
      const stream = await fixture.newStream();
      const sent = makeMessages("groups", 20, 5);
      await publish(await openSink(stream), sent);
      const one = await openSource(stream, group("one"), "c");
      expect((await readUntil(one, 20, ARRIVAL_MS, true)).map(idOf).sort()).toEqual(
        sent.map((m) => m.id).sort(),
      );
      const two = await openSource(stream, group("two"), "c");
      expect((await readUntil(two, 20, ARRIVAL_MS, true)).map(idOf).sort()).toEqual(
        sent.map((m) => m.id).sort(),
      );
      // The second group's acks do not feed the first anything again, and vice versa.
      const [oneLate, twoLate] = await Promise.all([readFor(one, 300), readFor(two, 300)]);
      expect([...oneLate, ...twoLate]).toEqual([]);
    });

    it.each([50, 500])(
      "returns [] within about maxWaitMs = %i when nothing is there",
      async (ms) => {
        const stream = await fixture.newStream();
        const source = await openSource(stream, group("empty"), "c");
        for (let i = 0; i < 2; i++) {
          // The second read must not wait for whatever the first one left running (a long pull).
          const started = performance.now();
          expect(await source.read({ maxMessages: 10, maxWaitMs: ms })).toEqual([]);
          const elapsed = performance.now() - started;
          expect(elapsed).toBeGreaterThanOrEqual(ms - 5);
          expect(elapsed).toBeLessThan(ms + 250);
        }
      },
    );

    it("returns as soon as maxMessages are there, well before maxWaitMs", async () => {
      const stream = await fixture.newStream();
      const source = await openSource(stream, group("full"), "c");
      await publish(await openSink(stream), makeMessages("full", 3, 1));
      const started = performance.now();
      const got = await source.read({ maxMessages: 3, maxWaitMs: 5_000 });
      expect(got.map(idOf)).toEqual(["full-0", "full-1", "full-2"]);
      expect(performance.now() - started).toBeLessThan(2_000);
      await source.ack(got);
    });

    it("resolves publish() only once the broker has the messages", async () => {
      const stream = await fixture.newStream();
      const sink = await openSink(stream);
      await sink.publish([]);
      const sent = makeMessages("durable", 25, 5);
      await publish(sink, sent);
      if (fixture.storedCount) {
        // Asked right after publish resolved, through another connection: no waiting.
        expect(await fixture.storedCount(stream)).toBe(25);
      }
      await sink.close();
      // A fresh group on a fresh connection, after the sink is gone, still reads them all.
      const source = await openSource(stream, group("durable"), "c");
      const got = await readUntil(source, 25, ARRIVAL_MS, true);
      expect(got.map(idOf).sort()).toEqual(sent.map((m) => m.id).sort());
    });

    it("reports lag: unacked messages before the acks, 0 after", async (ctx) => {
      const stream = await fixture.newStream();
      const sent = makeMessages("lag", 10, 3);
      await publish(await openSink(stream), sent);
      const source = await openSource(stream, group("lag"), "c");
      if (!source.lag) ctx.skip(`${name} does not implement the optional lag()`);
      const lag = async (): Promise<number | undefined> => (await source.lag?.())?.messages;

      /** Polls lag() until it equals `want` (brokers update their counters asynchronously). */
      const settlesAt = async (want: number): Promise<number | undefined> => {
        const deadline = Date.now() + 5_000 + settleMs;
        let last = await lag();
        while (last !== want && Date.now() < deadline) {
          await sleep(100);
          last = await lag();
        }
        return last;
      };
      expect(await settlesAt(10)).toBe(10);
      const read = await readUntil(source, 10, ARRIVAL_MS, false);
      expect(read).toHaveLength(10);
      // Read but not acked: still behind.
      expect(await settlesAt(10)).toBe(10);
      await source.ack(read);
      expect(await settlesAt(0)).toBe(0);
    });
  });
}
